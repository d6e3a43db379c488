"""One dreamer per model, weights, layers and precision, built once per process: a queue, a sheet of
cells or a test session loads each network once."""
from __future__ import annotations

import contextlib
import os
import sys
from pathlib import Path
from typing import Any

from ..settings import Settings
from .backend import activate, resolve_backend
from .catalog import resolve_layers, resolve_weights

_DREAMERS: dict[tuple, Any] = {}


def load_dreamer(settings: Settings):
    """The model and its compiled step loop for these settings (built on first use)."""
    key = (settings.model, resolve_weights(settings.model, settings.weights),
           resolve_layers(settings.model, settings.layers),
           settings.xla, settings.seed if settings.weights == "random" else None, settings.precision, settings.guide,
           resolve_backend(settings.backend), settings.lap_norm)
    if key not in _DREAMERS:
        activate(settings.backend)
        with _native_logs_hidden():
            from .dreamer import Dreamer
            from .models import load_feature_model

            layers = key[2]
            features = load_feature_model(settings.model, settings.weights, layers, seed=settings.seed,
                                          precision=settings.precision)
        guide = _guide_picture(Path(settings.guide)) if settings.guide else None  # checked by build_settings
        _DREAMERS[key] = Dreamer(features, layers, xla=settings.xla, guide=guide, lap_norm=settings.lap_norm)
    return _DREAMERS[key]


def _guide_picture(path: Path):
    from ..io.images import read_image

    return read_image(path).rgb


@contextlib.contextmanager
def _native_logs_hidden():
    """TensorFlow's C++ start-up messages (no GPU found, oneDNN notes) bypass Python's logging and
    TF_CPP_MIN_LOG_LEVEL; hide them from users unless DREAMVID_DEBUG is set. Python errors still show."""
    if os.environ.get("DREAMVID_DEBUG"):
        yield
        return
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with open(os.devnull, "w") as devnull:
            os.dup2(devnull.fileno(), 2)
            try:
                yield
            finally:
                os.dup2(saved, 2)
    finally:
        os.close(saved)


def model_file_layers(model: str, backend: str | None = None) -> dict[str, int]:
    """Layers of a Keras model file with 4-D outputs (feature maps), and their channels."""
    activate(backend)
    from .models import load_model_file

    base = load_model_file(Path(model))
    return {layer.name: layer.output.shape[-1] for layer in base.layers if len(layer.output.shape) == 4}
