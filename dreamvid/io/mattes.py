"""Mattes (--mask): a picture, a folder or pattern of numbered frames, or a video, aligned frame by frame
with the input, read as one grey plane per frame: 1 (white) where the dream shows, 0 (black) where the
source stays as it is, grey in between. Knows nothing of dreams: planes in, at the size asked for."""
from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

import numpy as np

from ..errors import UserError
from ..imageops import luma, resize, to_float
from .decode import probe_video, read_frames
from .images import ImageDecodeError, inspect_image, read_image
from .listing import list_sequence
from .probe import VIDEO_SUFFIXES, VideoInfo

# Values within this of black or white are taken as black or white, and the grey between is stretched to
# fill 0..1: a matte that went through a lossy codec (black decoded as 1 or 2 levels) still keeps the
# source exactly where it is black.
SNAP = 2 / 255
SAMPLE = 1 << 20  # bytes of a matte video hashed at its start, middle and end (as a source video's are)


@dataclass(frozen=True)
class Matte:
    """An opened matte: its size as displayed, and its frames (`frame_count` None: one picture for every
    frame). `invert` swaps white and black (--mask-invert)."""

    path: Path
    width: int
    height: int
    frame_count: int | None
    frames: tuple[Path, ...] = field(default=(), repr=False)  # a sequence's pictures, in order
    info: VideoInfo | None = field(default=None, repr=False)  # a video's probe
    invert: bool = False

    @property
    def kind(self) -> str:
        return "still" if self.frame_count is None else "video" if self.info is not None else "sequence"

    def read(self, start: int, end: int, size: tuple[int, int]) -> Iterator[np.ndarray]:
        """The planes of input frames [start, end), each float32 (height, width) = `size`."""
        if self.frame_count is None:
            plane = self._plane(read_image(self.path), size)
            for _ in range(start, end):
                yield plane
        elif self.info is not None:
            for frame in read_frames(self.path, start, end, info=self.info):
                yield self._fit(luma(to_float(frame)), size)
        else:
            for path in self.frames[start:end]:
                yield self._plane(read_image(path), size)

    def frame(self, index: int, size: tuple[int, int]) -> np.ndarray:
        """The plane of input frame `index` (a still matte's for every index)."""
        return next(self.read(0, 1, size) if self.frame_count is None else self.read(index, index + 1, size))

    def _plane(self, picture, size: tuple[int, int]) -> np.ndarray:
        """A picture's grey; where it has alpha, transparent counts as black."""
        grey = luma(np.nan_to_num(np.clip(picture.rgb, 0.0, 1.0)))
        if picture.alpha is not None:
            grey = grey * np.clip(np.nan_to_num(picture.alpha), 0.0, 1.0)
        return self._fit(grey, size)

    def _fit(self, grey: np.ndarray, size: tuple[int, int]) -> np.ndarray:
        plane = np.clip((grey - SNAP) / (1.0 - 2 * SNAP), 0.0, 1.0).astype(np.float32)
        if self.invert:
            plane = 1.0 - plane
        return np.clip(resize(plane, *size), 0.0, 1.0)  # area when shrinking: a hard edge becomes a soft one


def open_matte(path: str | Path | None, invert: bool = False) -> Matte | None:
    """The matte at `path` (None: no matte), its headers read; a missing or unreadable one is a UserError."""
    if path is None:
        return None
    path = Path(path)
    try:
        if "%" in path.name or path.is_dir():
            frames = list_sequence(path, lambda _: None)  # every header: all frames must have one size
            first = inspect_image(frames[0])
            return Matte(path, first.width, first.height, len(frames), frames, invert=invert)
        if not path.exists():
            raise UserError(f"matte not found: {path}")
        if path.suffix.lower() in VIDEO_SUFFIXES:
            info = probe_video(path)
            return Matte(path, info.width, info.height, info.frame_count, info=info, invert=invert)
        info = inspect_image(path)
        return Matte(path, info.width, info.height, None, invert=invert)
    except UserError as error:
        raise UserError(f"--mask: {error}") from None


def check_matte(path: str | Path) -> None:
    """Before any framework loads: the matte is there and readable (a still is decoded whole)."""
    matte = open_matte(path)
    if matte.kind == "still":
        try:
            read_image(matte.path)
        except ImageDecodeError as error:
            raise UserError(f"--mask: {error}") from None


def matte_identity(path: str | Path) -> str:
    """What a render's fingerprint knows a matte by, from its content: every byte of a still or of a
    sequence's frames (with their names, in order); a video's length and three sampled blocks, as a source
    video is known. A matte replaced under the same name is thus not resumed into."""
    matte = open_matte(path)
    digest = hashlib.sha256()
    if matte.info is not None:
        length = matte.path.stat().st_size
        digest.update(str(length).encode())
        with open(matte.path, "rb") as file:
            for offset in sorted({0, max(0, length // 2 - SAMPLE // 2), max(0, length - SAMPLE)}):
                file.seek(offset)
                digest.update(file.read(SAMPLE))
    else:
        for frame in matte.frames or (matte.path,):
            digest.update(frame.name.encode() + b"\0")
            digest.update(frame.read_bytes())
    return digest.hexdigest()[:16]
