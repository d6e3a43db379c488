"""Folders of pictures and numbered sequences: natural order, hidden files left out, a pattern such as
shot/frame_%04d.png, and every frame's header checked (a frame of another size is an error naming it; a
gap in the numbering a warning naming the missing frames)."""
from __future__ import annotations

import re
from pathlib import Path
from typing import Callable

from ..errors import UserError
from .images import IMAGE_SUFFIXES, inspect_image


def natural_key(path: Path | str) -> list:
    """Sort key so that frame2 comes before frame10."""
    return [int(part) if part.isdigit() else part.lower() for part in re.split(r"(\d+)", Path(path).name)]


def list_images(folder: Path) -> list[Path]:
    """The images of a folder (not recursive), in natural order; an empty folder is a UserError. Hidden
    files are not images of the folder: macOS leaves `._IMG_0001.jpg` (its metadata, not a picture)
    beside every file it copies onto a USB stick or a network share."""
    if not folder.is_dir():
        raise UserError(f"not a folder: {folder}")
    images = sorted((p for p in folder.iterdir()
                     if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES and not p.name.startswith(".")),
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
