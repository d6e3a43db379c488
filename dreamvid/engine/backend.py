"""Which Keras backend dreams: --backend, else $KERAS_BACKEND, else TensorFlow. Keras reads its backend
once, when it is first imported, so a process dreams on one backend; it is chosen (and checked to be
installed, without importing it) before anything loads."""
from __future__ import annotations

import importlib.util
import os
import sys

from ..errors import UserError
from ..settings import BACKENDS

# The package each backend needs, and the extra that installs it.
_PACKAGES = {"tensorflow": ("tensorflow", "dreamvid"), "jax": ("jax", "dreamvid[jax]"),
             "torch": ("torch", "dreamvid[torch]")}


def resolve_backend(name: str | None) -> str:
    """The backend a render dreams on, installed; a UserError names the remedy."""
    chosen = name or os.environ.get("KERAS_BACKEND") or "tensorflow"
    if chosen not in BACKENDS:
        raise UserError(f"KERAS_BACKEND={chosen} is not a backend dreamvid dreams on: choose {', '.join(BACKENDS)}")
    package, extra = _PACKAGES[chosen]
    if importlib.util.find_spec(package) is None or importlib.util.find_spec("keras") is None:
        missing = package if importlib.util.find_spec(package) is None else "keras"
        raise UserError(f"--backend {chosen} needs {missing}, which is not installed: pip install '{extra}'")
    return chosen


def activate(name: str | None) -> str:
    """Make `name` (resolved) the backend Keras loads with; Keras already loaded on another is an error."""
    chosen = resolve_backend(name)
    if "keras" in sys.modules:
        import keras

        if keras.backend.backend() != chosen:
            raise UserError(f"this process dreams on {keras.backend.backend()} already: --backend {chosen} needs a "
                            f"process of its own")
        return chosen
    os.environ["KERAS_BACKEND"] = chosen
    if chosen == "tensorflow":
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    elif chosen == "torch":
        # OpenMP threads that spin while waiting made each step 10-20x slower on a machine whose cores
        # other processes use too (measured: 2.0-4.3 s against 0.18-0.31 s per 320x180 step, 2 cores)
        os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    from .device import configure

    configure(chosen)
    return chosen
