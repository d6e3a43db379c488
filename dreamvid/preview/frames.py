"""The picture a sheet dreams: the frame `--at` names in a video, sequence or folder (default the middle
one), or a still."""
from __future__ import annotations

import bisect
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from ..errors import UserError
from ..imageops import to_float
from ..io.decode import probe_video, read_frames
from ..io.images import ImageDecodeError, inspect_image, read_image
from ..io.listing import list_images, list_sequence
from ..job import Kind
from ..jobs import input_kind
from ..memory import check_memory
from .plan import PREVIEW_SIDE


def parse_at(text: str) -> tuple[float, bool]:
    """`--at 120` (a frame) or `--at 12.5s` (a time) -> (value, in seconds?)."""
    text = str(text).strip()
    seconds = text.endswith("s")
    try:
        value = float(text[:-1]) if seconds else int(text)
    except ValueError:
        raise UserError(f"--at must be a frame number or a time such as 12.5s (got '{text}')") from None
    if not math.isfinite(value) or value < 0:
        raise UserError(f"--at must be a frame number or a time, not negative (got '{text}')")
    return value, seconds


def frame_index(at: str | None, count: int, fps: float, times: Sequence[float] = ()) -> int:
    """The frame `--at` names in a clip of `count` frames (default: the middle one). A time picks the
    frame shown at that moment: the last one starting at or before it."""
    if at is None:
        return count // 2
    value, seconds = parse_at(at)
    if seconds:
        starts = [t - times[0] for t in times] if times else [i / fps for i in range(count)]
        if value >= starts[-1] + 1 / fps:
            raise UserError(f"--at {at} is past the end of the clip ({count} frames, {starts[-1] + 1 / fps:.2f}s)")
        return max(0, bisect.bisect_right(starts, value + 1e-9) - 1)
    if value >= count:
        raise UserError(f"--at {at} is outside the clip, which has {count} frames (0..{count - 1})")
    return int(value)


@dataclass(frozen=True)
class Frame:
    """The picture a sheet dreams, RGB float in [0, 1], and where it came from."""

    rgb: np.ndarray
    source: Path | None
    index: int | None  # in its video or sequence
    fps: float = 25.0  # its clip's rate, at which schedules in seconds are read
    has_audio: bool = False


def read_frame(source: Path, at: str | None = None, sequence: bool = False, fps: float = 25.0,
               warn: Callable[[str], None] = lambda _: None) -> Frame:
    """One frame of a video, sequence or folder (the one at `at`, default the middle one), or a still."""
    kind = input_kind(source, sequence)
    if kind in (Kind.SEQUENCE, Kind.STILLS):
        frames = list_sequence(source, warn) if kind is Kind.SEQUENCE else tuple(list_images(source))
        index = frame_index(at, len(frames), fps)
        path = frames[index]
    elif kind is Kind.VIDEO:
        info = probe_video(source)
        index = frame_index(at, info.frame_count, float(info.fps), info.times)
        rgb = to_float(next(iter(read_frames(source, index, index + 1, info=info))))
        return Frame(rgb, source, index, float(info.fps), info.has_audio)
    else:
        if at is not None:
            raise UserError(f"--at picks a frame of a video or sequence, and {source} is a still")
        index, path = None, source
    check_memory(inspect_image(path), PREVIEW_SIDE)  # the picture is decoded whole, then shrunk
    try:
        rgb = read_image(path).rgb
    except ImageDecodeError as error:
        raise UserError(str(error)) from None
    return Frame(np.nan_to_num(np.clip(rgb, 0.0, 1.0)), source, index, fps)
