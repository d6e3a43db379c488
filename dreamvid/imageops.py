"""Pure numpy/OpenCV helpers shared by stills and video: value ranges, sizes and resizing."""
from __future__ import annotations

import math

import cv2
import numpy as np


def processing_size(height: int, width: int, max_side: int | None) -> tuple[int, int]:
    """The (height, width) to dream at: the input size, shrunk so its longer side is at most max_side."""
    if not max_side or max(height, width) <= max_side:
        return height, width
    scale = max_side / max(height, width)
    return max(1, round(height * scale)), max(1, round(width * scale))


def octave_shapes(height: int, width: int, octaves: int, scale: float, min_side: int) -> list[tuple[int, int]]:
    """Sizes of the octaves, smallest first, each `scale` apart, ending at the image's own size.

    Octaves smaller than the network can see are dropped; an image that is itself too small is
    dreamed at a single size upscaled to `min_side` (the caller scales the result back)."""
    shapes = [(round(height / scale**i), round(width / scale**i)) for i in reversed(range(octaves))]
    shapes = [shape for shape in shapes if min(shape) >= min_side]
    if not shapes:
        factor = min_side / min(height, width)
        shapes = [(math.ceil(height * factor), math.ceil(width * factor))]
    return shapes


def resize(image: np.ndarray, height: int, width: int) -> np.ndarray:
    """Area filter when shrinking (no aliasing), bilinear when growing."""
    if image.shape[:2] == (height, width):
        return image
    shrinking = height * width < image.shape[0] * image.shape[1]
    return cv2.resize(image, (width, height), interpolation=cv2.INTER_AREA if shrinking else cv2.INTER_LINEAR)


def to_float(image: np.ndarray) -> np.ndarray:
    """uint8 or uint16 -> float32 in [0, 1]."""
    if image.dtype == np.uint8:
        return image.astype(np.float32) / 255.0
    if image.dtype == np.uint16:
        return image.astype(np.float32) / 65535.0
    return image.astype(np.float32)


def from_float(image: np.ndarray, dtype: np.dtype) -> np.ndarray:
    """float in [0, 1] -> uint8/uint16 (rounded, clipped)."""
    top = {np.dtype(np.uint8): 255.0, np.dtype(np.uint16): 65535.0}.get(np.dtype(dtype))
    if top is None:
        return np.clip(image, 0.0, 1.0).astype(dtype)
    return np.clip(np.rint(image * top), 0, top).astype(dtype)


def apply_delta(full: np.ndarray, small_source: np.ndarray, small_dream: np.ndarray) -> np.ndarray:
    """Put a dream made at processing size onto the full-size frame: only what dreaming *added* is
    upscaled, so the source keeps its own full-resolution detail."""
    height, width = full.shape[:2]
    delta = resize(small_dream - small_source, height, width)
    return np.clip(full + delta, 0.0, 1.0)
