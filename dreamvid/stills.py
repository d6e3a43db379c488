"""Still images and folders of them: natural order, fast header checks, and reading/writing that keeps
bit depth and alpha. Writes go to a temporary name and are renamed when complete."""
from __future__ import annotations

import contextlib
import os
import re
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from PIL import Image, UnidentifiedImageError

from .errors import UserError

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp"}


def natural_key(path: Path | str) -> list:
    """Sort key so that frame2 comes before frame10."""
    return [int(part) if part.isdigit() else part.lower() for part in re.split(r"(\d+)", Path(path).name)]


def list_images(folder: Path) -> list[Path]:
    """The images of a folder (not recursive), in natural order; an empty folder is a UserError."""
    if not folder.is_dir():
        raise UserError(f"not a folder: {folder}")
    images = sorted((p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES),
                    key=natural_key)
    if not images:
        raise UserError(f"no images in folder {folder} (looked for {', '.join(sorted(IMAGE_SUFFIXES))})")
    return images


@dataclass(frozen=True)
class ImageInfo:
    path: Path
    width: int
    height: int


def inspect_image(path: Path) -> ImageInfo:
    """Read only the header (fast), so a folder of thousands of frames is checked in a second."""
    if not path.exists():
        raise UserError(f"input not found: {path}")
    if path.stat().st_size == 0:
        raise UserError(f"empty file: {path}")
    try:
        with Image.open(path) as image:
            width, height = image.size
    except (UnidentifiedImageError, OSError) as error:
        raise UserError(f"not a readable image: {path} ({error.__class__.__name__})") from None
    return ImageInfo(path, width, height)


@dataclass
class Picture:
    """A decoded still: RGB float32 in [0, 1], the alpha plane if any, and the sample type to write back."""

    rgb: np.ndarray
    alpha: np.ndarray | None
    dtype: np.dtype


def read_image(path: Path) -> Picture:
    """Decode grayscale, RGB(A), 8 or 16 bit; grayscale becomes RGB (the dream is in colour)."""
    data = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if data is None:
        raise UserError(f"cannot decode image: {path}")
    dtype = data.dtype if data.dtype in (np.uint8, np.uint16) else np.dtype(np.uint8)
    top = 65535.0 if data.dtype == np.uint16 else 255.0
    if data.dtype not in (np.uint8, np.uint16):
        data = cv2.normalize(data, None, 0, 255, cv2.NORM_MINMAX).astype(np.uint8)
    data = data.astype(np.float32) / top
    alpha = None
    if data.ndim == 2:
        rgb = np.repeat(data[..., None], 3, axis=2)
    elif data.shape[2] == 4:
        rgb, alpha = data[..., 2::-1], data[..., 3]
    elif data.shape[2] == 2:  # gray + alpha
        rgb, alpha = np.repeat(data[..., :1], 3, axis=2), data[..., 1]
    else:
        rgb = data[..., 2::-1]
    return Picture(np.ascontiguousarray(rgb), alpha, np.dtype(dtype))


def write_image(path: Path, picture: Picture) -> None:
    """Write atomically (temporary file, then rename), keeping alpha and bit depth where the format can."""
    top = 65535.0 if picture.dtype == np.uint16 else 255.0
    planes = picture.rgb[..., ::-1]
    if picture.alpha is not None:
        planes = np.dstack([planes, picture.alpha])
    data = np.clip(np.rint(planes * top), 0, top).astype(picture.dtype)
    if path.suffix.lower() in (".jpg", ".jpeg") and data.shape[2] == 4:
        data = data[..., :3]
    if path.suffix.lower() in (".jpg", ".jpeg", ".webp", ".bmp") and data.dtype == np.uint16:
        data = (data // 257).astype(np.uint8)
    temporary = path.with_name(f".{path.stem}.partial{path.suffix}")
    params = [cv2.IMWRITE_JPEG_QUALITY, 95] if path.suffix.lower() in (".jpg", ".jpeg") else []
    if not cv2.imwrite(str(temporary), data, params):
        with contextlib.suppress(OSError):  # e.g. the parent is a file: there is nothing to remove
            temporary.unlink(missing_ok=True)
        raise UserError(f"cannot write image {path}")
    os.replace(temporary, path)
