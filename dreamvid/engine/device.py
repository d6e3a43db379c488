"""The device a dreamer runs on, as the numerics framework sees it: whether there is an accelerator,
how much of its memory is free, which errors mean it ran out, and how a cluster worker is set up."""
from __future__ import annotations

import os
import subprocess

from ..memory import available_memory


def has_accelerator() -> bool:
    import tensorflow as tf

    return bool(tf.config.list_physical_devices("GPU"))


# Frames dreamed together on an accelerator; on a CPU one (batching gains nothing there).
GPU_BATCH = 4


def default_batch(accelerator: bool | None = None) -> int:
    """The batch for a device with (or without) an accelerator; None: this process's device."""
    return GPU_BATCH if (has_accelerator() if accelerator is None else accelerator) else 1


def free_memory() -> int:
    """Free bytes on the GPU that TensorFlow dreams on (its first), else the machine's available memory."""
    if has_accelerator():
        try:
            out = subprocess.run(free_memory_query(os.environ.get("CUDA_VISIBLE_DEVICES")),
                                 capture_output=True, text=True, timeout=10).stdout
            return int(out.split()[0]) * 2**20
        except (OSError, ValueError, IndexError, subprocess.SubprocessError):
            return 8 * 2**30  # a conservative guess for a current accelerator
    return available_memory()


def free_memory_query(visible: str | None) -> list[str]:
    """The nvidia-smi command for the free MiB of TensorFlow's first GPU: the first entry of
    CUDA_VISIBLE_DEVICES (an index or a UUID, as nvidia-smi --id takes both), else GPU 0. Without
    --id, nvidia-smi lists every GPU from 0, whatever CUDA_VISIBLE_DEVICES hides."""
    first = (visible or "").split(",")[0].strip() or "0"
    return ["nvidia-smi", f"--id={first}", "--query-gpu=memory.free", "--format=csv,noheader,nounits"]


def is_out_of_memory(error: BaseException) -> bool:
    """Whether `error` means the accelerator or the machine ran out of memory, told without importing a
    framework (a cluster driver has none loaded)."""
    return isinstance(error, MemoryError) or type(error).__name__ in ("ResourceExhaustedError",)


def configure_worker(cpus: int) -> None:
    """A cluster worker's share of the machine: the framework and OpenCV use the CPUs it was given, and
    GPU memory grows as needed (several workers may share a device)."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import cv2
    import tensorflow as tf

    tf.config.threading.set_intra_op_parallelism_threads(cpus)
    tf.config.threading.set_inter_op_parallelism_threads(min(2, cpus))
    for gpu in tf.config.list_physical_devices("GPU"):
        tf.config.experimental.set_memory_growth(gpu, True)
    cv2.setNumThreads(cpus)
