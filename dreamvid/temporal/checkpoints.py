"""Checkpoints: the format in which finished frames wait on the driver's disk until the output is
assembled. A frame is done once it is here; every chain's frames are kept lossless, so a resumed
chain goes on from exactly the pixels an uninterrupted run would have carried."""
from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from ..atomic import writing
from ..imageops import to_float
from .chain import ResumePoint
from .plan import Segment
from .workfolder import WorkFolder

# Bytes of a lossless checkpoint per raw byte of a dreamed frame (PNG; 0.74 measured on the bundled clip).
CHECKPOINT_RATIO = 0.8


def piece_name(index: int, warm: bool = False) -> str:
    return f"{'warm' if warm else 'frame'}_{index:06d}.png"


def load_piece(path: Path) -> np.ndarray:
    """A checkpoint's pixels as stored (uint8 or uint16 RGB)."""
    data = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if data is None:
        raise OSError(f"cannot read checkpoint {path}")
    return np.ascontiguousarray(data[..., ::-1])


def save_piece(path: Path, pixels: np.ndarray) -> None:
    """Lossless, atomic: a piece on disk is always complete."""
    with writing(path) as temporary:
        if not cv2.imwrite(str(temporary), np.ascontiguousarray(pixels[..., ::-1])):
            raise OSError(f"cannot write checkpoint {temporary}")


class CheckpointStore:
    """The finished frames of a render's segments in its work folder, one lossless image each."""

    def __init__(self, work: WorkFolder, segments: tuple[Segment, ...], crossfade: dict[int, float]):
        self.work, self.segments, self._weights = work, segments, crossfade

    @staticmethod
    def _pieces(segment: Segment) -> list[tuple[int, str]]:
        return [(i, piece_name(i, warm=i < segment.start)) for i in range(segment.first, segment.end)]

    def _first_missing(self, segment: Segment) -> int:
        pieces = self._pieces(segment)
        return next((k for k, (_, name) in enumerate(pieces) if not self.work.has(name)), len(pieces))

    def complete(self, segment: Segment) -> bool:
        return self._first_missing(segment) == len(segment)

    def resume_point(self, segment: Segment) -> ResumePoint | None:
        """The last frame of the segment's unbroken run of finished frames (None: start from scratch)."""
        missing = self._first_missing(segment)
        if not missing:
            return None
        index, name = self._pieces(segment)[missing - 1]
        return ResumePoint(index, load_piece(self.work.piece(name)))

    def frames_done(self, segment: Segment) -> int:
        """Kept frames that a resumed chain will not dream again."""
        return sum(1 for index, _ in self._pieces(segment)[:self._first_missing(segment)] if index >= segment.start)

    def save(self, segment: Segment, index: int, pixels: np.ndarray) -> None:
        save_piece(self.work.piece(piece_name(index, warm=index < segment.start)), pixels)

    def ready(self, index: int) -> bool:
        """Whether output frame `index` can be assembled (both chains of a cross-fade are there)."""
        return self.work.has(piece_name(index)) and (
            index not in self._weights or self.work.has(piece_name(index, warm=True)))

    def final_frame(self, index: int) -> np.ndarray:
        """Output frame `index` as float RGB, cross-faded where two segments overlap."""
        frame = to_float(load_piece(self.work.piece(piece_name(index))))
        if index in self._weights:
            weight = self._weights[index]
            warm = to_float(load_piece(self.work.piece(piece_name(index, warm=True))))
            frame = (1 - weight) * frame + weight * warm
        return frame

    def bytes_needed(self, frames: int, size: tuple[int, int], dtype: np.dtype) -> int:
        """Disk the checkpoints of `frames` more frames take, about."""
        return int(frames * size[0] * size[1] * 3 * np.dtype(dtype).itemsize * CHECKPOINT_RATIO)
