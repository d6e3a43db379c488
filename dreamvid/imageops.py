"""Pure numpy/OpenCV helpers shared by stills and video: value ranges, sizes, resizing, mattes and the zoom's
transform."""
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


def output_size(width: int, height: int, max_side: int | None) -> tuple[int, int]:
    """(height, width) to dream and write a clip at; shrunk sizes are rounded to even numbers for H.264."""
    small_h, small_w = processing_size(height, width, max_side)
    if (small_h, small_w) != (height, width):
        small_h, small_w = max(2, small_h // 2 * 2), max(2, small_w // 2 * 2)
    return small_h, small_w


# OpenCV's DIS optical flow raises or crashes under this many pixels on a side for many sizes (a wide frame
# 8 to 15 pixels high and 48 to 128 or 320 wide and more, for example), so such strips are kept from it.
MIN_FLOW_SIDE = 16


def flow_fits(height: int, width: int) -> bool:
    """Whether OpenCV's DIS optical flow surely takes frames of this size."""
    return min(height, width) >= MIN_FLOW_SIDE


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


def apply_delta(full: np.ndarray, small_source: np.ndarray, small_dream: np.ndarray,
                clip: bool = True, matte: np.ndarray | None = None) -> np.ndarray:
    """Put a dream made at processing size onto the full-size frame: only what dreaming *added* is
    upscaled, so the source keeps its own full-resolution detail. Without `clip`, values of a float
    picture outside [0, 1] survive (they were dreamed clipped; only the change is added). A `matte`
    (H x W in [0, 1], at full size) scales the change pixel by pixel: where it is 0 the picture is the
    source's, exactly."""
    height, width = full.shape[:2]
    result = resize(small_dream - small_source, height, width)
    if matte is not None:
        result *= matte[..., None]
    result += full
    return np.clip(result, 0.0, 1.0, out=result) if clip else result


def matted(source: np.ndarray, dreamed: np.ndarray, matte: np.ndarray) -> np.ndarray:
    """source + matte x (dream - source): white dreams, black is the source, grey blends."""
    return source + matte[..., None] * (dreamed - source)


# Below this, a matte lets too little of the dream through for it to be read back from the stored frame:
# dividing by the matte multiplies the frame's rounding (half a level) by up to 1 / MIN_RECOVERABLE.
MIN_RECOVERABLE = 0.125


def unmatted(source: np.ndarray, stored: np.ndarray, matte: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The dream before the matte, read back from a stored frame (`matted`'s inverse), and where it could be
    (1; 0 where the matte was darker than MIN_RECOVERABLE: there the dream is taken as nothing). A carried
    chain goes on from this, so a grey matte weakens what is shown, not the dream carried from frame to frame."""
    known = matte >= MIN_RECOVERABLE
    gain = np.where(known, 1.0 / np.maximum(matte, MIN_RECOVERABLE), 0.0).astype(np.float32)
    return source + (stored - source) * gain[..., None], known.astype(np.float32)


def upright(image: np.ndarray, orientation: int) -> np.ndarray:
    """Turn stored pixels (H x W [x C]) the way an EXIF orientation (1..8) says they are seen; the
    same transforms as Pillow's ImageOps.exif_transpose. Returns a view."""
    turns = {
        2: lambda a: a[:, ::-1],                     # mirrored
        3: lambda a: a[::-1, ::-1],                  # 180 degrees
        4: lambda a: a[::-1],                        # mirrored upside down
        5: lambda a: a.swapaxes(0, 1),               # transposed
        6: lambda a: np.rot90(a, -1),                # 90 degrees clockwise (a phone held upright)
        7: lambda a: a[::-1, ::-1].swapaxes(0, 1),   # transversed
        8: lambda a: np.rot90(a, 1),                 # 90 degrees counter-clockwise
    }
    return turns[orientation](image) if orientation in turns else image


def luma(rgb: np.ndarray) -> np.ndarray:
    """Grey from RGB with the BT.601 weights Pillow and OpenCV use, so a grey picture written back
    from its dream looks as the dream would in grey."""
    return rgb @ np.array([0.299, 0.587, 0.114], rgb.dtype)


def cmyk_to_rgb(cmyk: np.ndarray) -> np.ndarray:
    """CMYK in [0, 1] -> RGB as Pillow converts it, R = (1 - C)(1 - K); no colour management."""
    return (1.0 - cmyk[..., :3]) * (1.0 - cmyk[..., 3:])


def rgb_to_cmyk(rgb: np.ndarray) -> np.ndarray:
    """The inverse of cmyk_to_rgb with as much black as possible (K = 1 - max(R, G, B)), so a CMYK
    picture read and written unchanged keeps its colours and dark areas stay in the black ink."""
    rgb = np.clip(rgb, 0.0, 1.0)
    brightest = rgb.max(axis=-1, keepdims=True)
    colour = (brightest - rgb) / np.maximum(brightest, 1e-6)
    return np.concatenate([colour, 1.0 - brightest], axis=-1)


def motion_matrix(height: int, width: int, zoom: float = 1.0, rotate: float = 0.0, translate_x: float = 0.0,
                  translate_y: float = 0.0) -> np.ndarray:
    """The 2x3 affine map of one step of a zoom: scale by `zoom` and turn by `rotate` degrees
    (counter-clockwise) about the picture's centre, then move by (translate_x, translate_y) pixels (right, down)."""
    matrix = cv2.getRotationMatrix2D(((width - 1) / 2, (height - 1) / 2), rotate, zoom)
    matrix[:, 2] += (translate_x, translate_y)
    return matrix


def feedback_transform(image: np.ndarray, zoom: float = 1.0, rotate: float = 0.0, translate_x: float = 0.0,
                       translate_y: float = 0.0) -> np.ndarray:
    """One step of the zoom on a float picture; the border is filled by reflection, so no black edge
    creeps in from the sides when zooming out or moving."""
    height, width = image.shape[:2]
    matrix = motion_matrix(height, width, zoom, rotate, translate_x, translate_y)
    return cv2.warpAffine(image, matrix, (width, height), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
