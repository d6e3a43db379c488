"""The device a dreamer runs on, as its backend sees it: whether there is an accelerator, how much of its
memory is free, which errors mean it ran out, and how a process or cluster worker is set up for it."""
from __future__ import annotations

import os
import subprocess

from ..memory import available_memory

# Frames dreamed together on an accelerator; on a CPU one (batching gains nothing there).
GPU_BATCH = 4


def _backend() -> str:
    import keras

    return keras.backend.backend()


def has_accelerator(backend: str | None = None) -> bool:
    backend = backend or _backend()
    if backend == "jax":
        import jax

        return jax.default_backend() != "cpu"
    if backend == "torch":
        import torch

        return torch.cuda.is_available() or torch.backends.mps.is_available()
    import tensorflow as tf

    return bool(tf.config.list_physical_devices("GPU"))


def default_batch(accelerator: bool | None = None) -> int:
    """The batch for a device with (or without) an accelerator; None: this process's device."""
    return GPU_BATCH if (has_accelerator() if accelerator is None else accelerator) else 1


def free_memory(backend: str | None = None) -> int:
    """Free bytes where the dreamer computes: its accelerator's, as its backend sees it (JAX reserves most
    of the GPU at its first operation, so the driver's figure would be wrong there), else the machine's."""
    backend = backend or _backend()
    if not has_accelerator(backend):
        return available_memory()
    if backend == "jax":
        import jax

        stats = jax.devices()[0].memory_stats() or {}
        if "bytes_limit" in stats:
            return int(stats["bytes_limit"] - stats.get("bytes_in_use", 0))
    elif backend == "torch":
        import torch

        if torch.cuda.is_available():
            free, _ = torch.cuda.mem_get_info()
            return int(free + torch.cuda.memory_reserved() - torch.cuda.memory_allocated())
        if hasattr(torch.mps, "recommended_max_memory"):
            return int(torch.mps.recommended_max_memory() - torch.mps.current_allocated_memory())
    return _nvidia_free()


def _nvidia_free() -> int:
    try:
        out = subprocess.run(free_memory_query(os.environ.get("CUDA_VISIBLE_DEVICES")),
                             capture_output=True, text=True, timeout=10).stdout
        return int(out.split()[0]) * 2**20
    except (OSError, ValueError, IndexError, subprocess.SubprocessError):
        return 8 * 2**30  # a conservative guess for a current accelerator


def free_memory_query(visible: str | None) -> list[str]:
    """The nvidia-smi command for the free MiB of the first visible GPU: the first entry of
    CUDA_VISIBLE_DEVICES (an index or a UUID, as nvidia-smi --id takes both), else GPU 0. Without
    --id, nvidia-smi lists every GPU from 0, whatever CUDA_VISIBLE_DEVICES hides."""
    first = (visible or "").split(",")[0].strip() or "0"
    return ["nvidia-smi", f"--id={first}", "--query-gpu=memory.free", "--format=csv,noheader,nounits"]


def is_out_of_memory(error: BaseException) -> bool:
    """Whether `error` means the accelerator or the machine ran out of memory, on any backend, told
    without importing a framework (a cluster driver has none loaded): TensorFlow's ResourceExhaustedError,
    PyTorch's OutOfMemoryError, JAX's XlaRuntimeError saying RESOURCE_EXHAUSTED, numpy's MemoryError."""
    if isinstance(error, MemoryError):
        return True
    name, message = type(error).__name__, str(error)
    if name in ("ResourceExhaustedError", "OutOfMemoryError"):
        return True
    if name in ("XlaRuntimeError", "JaxRuntimeError"):
        return "RESOURCE_EXHAUSTED" in message
    # PyTorch on the CPU and on Apple's GPU raises a plain RuntimeError
    return isinstance(error, RuntimeError) and ("can't allocate memory" in message or "out of memory" in message)


def configure(backend: str) -> None:
    """Set-up a backend needs before its first operation: JAX's persistent compilation cache in the
    user's cache folder, so compiled step loops survive the process."""
    if backend == "jax":
        import jax

        folder = os.path.join(os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "dreamvid", "jax")
        jax.config.update("jax_compilation_cache_dir", folder)
        jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
        jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)


def configure_worker(cpus: int, backend: str | None = None) -> None:
    """A cluster worker's share of the machine: the framework and OpenCV use the CPUs it was given, and
    GPU memory is taken as needed, not up front (several workers may share a device). Before the
    framework's first import."""
    import cv2

    cv2.setNumThreads(cpus)
    backend = backend or os.environ.get("KERAS_BACKEND") or "tensorflow"
    if backend == "jax":
        os.environ.setdefault("XLA_PYTHON_CLIENT_PREALLOCATE", "false")
        os.environ.setdefault("XLA_FLAGS", f"--xla_cpu_multi_thread_eigen=true intra_op_parallelism_threads={cpus}")
    elif backend == "torch":
        import torch

        torch.set_num_threads(cpus)
    else:
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
        import tensorflow as tf

        tf.config.threading.set_intra_op_parallelism_threads(cpus)
        tf.config.threading.set_inter_op_parallelism_threads(min(2, cpus))
        for gpu in tf.config.list_physical_devices("GPU"):
            tf.config.experimental.set_memory_growth(gpu, True)
