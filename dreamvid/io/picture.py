"""A still as dreamvid holds it, and what its header says: plain values, shared by every picture reader."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np


@dataclass(frozen=True)
class ImageInfo:
    path: Path
    width: int  # as displayed: an EXIF orientation that turns the picture swaps width and height
    height: int
    frames: int = 1  # an animated GIF, WebP or PNG, or a multi-page TIFF, has more than one
    display_size: tuple[int, int] | None = None  # an EXR's display window, where it differs from its data


@dataclass
class Picture:
    """A decoded still, turned upright: RGB float32 (in [0, 1] for integer samples; a float picture
    keeps its own values, which may lie outside), the alpha plane if any, the sample type to write
    back (uint8, uint16, float16 for a half EXR, float32), the colour mode to write back: RGB, L (grey:
    the luma of the dream) or CMYK, and what its format must get back (`meta`: an ICC profile, a HEIF's
    bit depth, an EXR's header)."""

    rgb: np.ndarray
    alpha: np.ndarray | None
    dtype: np.dtype
    mode: str = "RGB"
    meta: dict = field(default_factory=dict)
