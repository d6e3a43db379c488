"""dreamvid: batch DeepDream for videos, image sequences and stills.

    import dreamvid
    dreamed = dreamvid.dream(image, model="vgg16-hed", steps=20)
    dreamvid.render("clip.mp4", layers=["mixed5"])

Importing dreamvid loads neither TensorFlow nor a model; the first dream does. The API itself loads on
first use, so that the command (entry.py) starts in a few milliseconds and can take a Ctrl-C cleanly."""
from .errors import DreamvidError, UserError

__all__ = ["dream", "render", "render_zoom", "DreamvidError", "UserError"]


def __getattr__(name: str):
    if name in ("dream", "render", "render_zoom"):
        from . import api

        return getattr(api, name)
    raise AttributeError(f"module 'dreamvid' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), "dream", "render", "render_zoom"])
