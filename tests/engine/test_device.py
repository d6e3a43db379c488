"""Devices: the free memory of the GPU TensorFlow sees first."""
import pytest


@pytest.mark.parametrize("visible, asked", [(None, "0"), ("", "0"), ("3", "3"), ("3,1", "3"), (" 2 , 0", "2"),
                                            ("GPU-8932f937-d72c-4106-c12f-20bd9faed9f6,1",
                                             "GPU-8932f937-d72c-4106-c12f-20bd9faed9f6")])
def test_free_memory_asks_for_the_gpu_tensorflow_sees_first(visible, asked):
    from dreamvid.engine.device import free_memory_query

    assert free_memory_query(visible) == ["nvidia-smi", f"--id={asked}", "--query-gpu=memory.free",
                                          "--format=csv,noheader,nounits"]


def test_free_memory_is_read_from_the_first_visible_gpu(monkeypatch):
    """With CUDA_VISIBLE_DEVICES=3, nvidia-smi (which sees every GPU) was asked for all and GPU 0's
    free memory was taken: the tile was sized for another card."""
    import subprocess
    from types import SimpleNamespace

    import dreamvid.engine.device as engine

    free_mib = ["80000", "70000", "60000", "1234"]  # GPUs 0 to 3, as nvidia-smi sees them (all of them)

    def nvidia_smi(args, **kwargs):
        ids = [arg.removeprefix("--id=") for arg in args if arg.startswith("--id=")]
        return SimpleNamespace(stdout="\n".join([free_mib[int(ids[0])]] if ids else free_mib) + "\n")

    monkeypatch.setattr(engine, "has_accelerator", lambda backend=None: True)
    monkeypatch.setattr(subprocess, "run", nvidia_smi)
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "3")
    assert engine.free_memory("tensorflow") == 1234 * 2**20
    monkeypatch.setattr(subprocess, "run", lambda *args, **kwargs: SimpleNamespace(stdout="No devices were found\n"))
    assert engine.free_memory("tensorflow") == 8 * 2**30  # an id nvidia-smi does not know: the conservative guess
