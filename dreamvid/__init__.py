"""dreamvid: batch DeepDream for videos, image sequences and stills.

    import dreamvid
    dreamed = dreamvid.dream(image, model="vgg16-hed", steps=20)
    dreamvid.render("clip.mp4", layers=["mixed5"])

Importing dreamvid loads neither TensorFlow nor a model; the first dream does."""
from .api import dream, render
from .errors import DreamvidError, UserError

__all__ = ["dream", "render", "DreamvidError", "UserError"]
