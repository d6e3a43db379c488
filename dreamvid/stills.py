"""Still images and folders of them: natural order, fast header checks, and reading/writing that keeps
bit depth and alpha. Writes go to a temporary name and are renamed when complete."""
from __future__ import annotations

import contextlib
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import cv2
import numpy as np
from PIL import Image, UnidentifiedImageError

from .atomic import partial_name
from .errors import DreamvidError, UserError

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp"}


class ImageDecodeError(DreamvidError):
    """An image whose header was fine fails to decode (planning checks headers only, to stay fast)."""


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


def list_sequence(source: Path, warn: Callable[[str], None]) -> tuple[Path, ...]:
    """The frames of a numbered sequence, a folder (natural order) or a pattern such as
    shot/frame_%04d.png. Every header is checked: a frame of another size, or an unreadable one,
    is an error naming it; a gap in the numbering is a warning naming the missing frames."""
    if "%" in source.name:
        if not source.parent.is_dir():
            raise UserError(f"folder not found: {source.parent}")
        regex = _pattern_regex(source.name)
        numbered = sorted((int(match[1]), path) for path in source.parent.iterdir()
                          if (match := regex.fullmatch(path.name)))
        if not numbered:
            raise UserError(f"no frames match {source}")
        frames = [path for _, path in numbered]
        numbers: list[int | None] = [number for number, _ in numbered]
    else:
        frames = list_images(source)
        numbers = [_frame_number(path) for path in frames]
    missing = _missing(numbers)
    if missing:
        warn(f"{source}: {len(missing)} frame(s) missing from the numbering: {_ranges(missing)}")
    first = inspect_image(frames[0])
    for frame in frames[1:]:
        info = inspect_image(frame)
        if (info.width, info.height) != (first.width, first.height):
            raise UserError(f"{frame} is {info.width}x{info.height} but the sequence is {first.width}x{first.height}")
    return tuple(frames)


def _pattern_regex(pattern: str) -> re.Pattern:
    """frame_%04d.png -> frame_(\\d{4,})\\.png"""
    parts = re.split(r"%0?(\d*)d", pattern)
    if len(parts) != 3:
        raise UserError(f"bad frame pattern {pattern}: use one number field, e.g. frame_%04d.png")
    digits = f"\\d{{{parts[1]},}}" if parts[1] else "\\d+"
    return re.compile(re.escape(parts[0]) + f"({digits})" + re.escape(parts[2]))


def _frame_number(path: Path) -> int | None:
    numbers = re.findall(r"\d+", path.stem)
    return int(numbers[-1]) if numbers else None


def _missing(numbers: list[int | None]) -> list[int]:
    if not numbers or None in numbers:
        return []
    present = set(numbers)
    return [n for n in range(min(present), max(present) + 1) if n not in present]


def _ranges(numbers: list[int], shown: int = 8) -> str:
    """[3, 4, 5, 9] -> '3-5, 9'"""
    runs: list[list[int]] = []
    for number in numbers:
        if runs and number == runs[-1][-1] + 1:
            runs[-1].append(number)
        else:
            runs.append([number])
    text = ", ".join(f"{run[0]}-{run[-1]}" if len(run) > 1 else str(run[0]) for run in runs[:shown])
    return text + (", ..." if len(runs) > shown else "")


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
        raise ImageDecodeError(f"cannot decode image {path} (truncated or damaged?)")
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
    temporary = partial_name(path)
    params = [cv2.IMWRITE_JPEG_QUALITY, 95] if path.suffix.lower() in (".jpg", ".jpeg") else []
    if not cv2.imwrite(str(temporary), data, params):
        with contextlib.suppress(OSError):  # e.g. the parent is a file: there is nothing to remove
            temporary.unlink(missing_ok=True)
        raise UserError(f"cannot write image {path}")
    os.replace(temporary, path)
