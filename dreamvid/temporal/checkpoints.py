"""Checkpoints: the format in which finished frames wait on the driver's disk until the output is
assembled. A frame is done once it is here: as a lossless piece, or (a video) in an encoded chunk.
The last frame of every unfinished chain stays lossless, so a resumed chain goes on from exactly the
pixels an uninterrupted run would have carried."""
from __future__ import annotations

import bisect
import os
import threading
from pathlib import Path

import cv2
import numpy as np

from ..atomic import writing
from ..imageops import to_float
from ..io.images import png_text, write_samples
from .chain import Reference, ResumePoint
from ..journal.names import chunk_name, parse_chunk, piece_name
from .chunks import plan_chunks
from .plan import Segment
from ..journal.workfolder import WorkFolder

# Bytes of a lossless checkpoint per raw byte of a dreamed frame (PNG; 0.74 measured on the bundled clip).
CHECKPOINT_RATIO = 0.8


# The tEXt key under which a piece keeps its chain's state (the hold's reference, dreamvid/hold.py), written
# "HxW:v,v;HxW:v,v" (per octave shape, each layer's strength).
REFERENCE_KEY = "dreamvid-reference"


def load_piece(path: Path) -> np.ndarray:
    """A checkpoint's pixels as stored (uint8 or uint16 RGB)."""
    data = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if data is None:
        raise OSError(f"cannot read checkpoint {path}")
    return np.ascontiguousarray(data[..., ::-1])


def load_reference(path: Path) -> Reference | None:
    """The chain's strength reference that a piece was saved with (None: none, or unreadable)."""
    try:
        reference = {}
        for part in png_text(path)[REFERENCE_KEY].split(";"):
            shape, values = part.split(":")
            height, width = shape.split("x")
            reference[(int(height), int(width))] = tuple(float(value) for value in values.split(","))
        return reference
    except (KeyError, ValueError):
        return None


def save_piece(path: Path, pixels: np.ndarray, reference: Reference | None = None) -> None:
    """Lossless, atomic: a piece on disk is always complete, with its chain's reference (in full: repr of
    a float reads back as the same float, so a resumed chain holds its strength exactly as before)."""
    text = None if not reference else {REFERENCE_KEY: ";".join(
        f"{height}x{width}:" + ",".join(repr(float(value)) for value in values)
        for (height, width), values in reference.items())}
    with writing(path) as temporary:
        # a full disk: OSError, no libpng line
        write_samples(temporary, np.ascontiguousarray(pixels[..., ::-1]), text=text)


class CheckpointStore:
    """The finished frames of a render's segments in its work folder: lossless images (pieces) and,
    for a video, chunks that hold the final frames [a, b) encoded. A frame is done once its piece is
    here or a chunk covers it. A piece covered by a chunk is deleted, except the last piece of an
    unfinished segment: its chain, and a resume, go on from exactly those pixels.

    Pieces of a segment are saved in frame order (a chain's finished frames form an unbroken run), so
    what is on disk says where every chain goes on. The names on disk are read once and then kept in
    memory; `save` (a writer thread) and `add_chunk` (the assembly thread) may run at the same time."""

    def __init__(self, work: WorkFolder, segments: tuple[Segment, ...], crossfade: dict[int, float]):
        self.work, self.segments, self._weights = work, segments, crossfade
        self._lock = threading.Lock()
        names = set(os.listdir(work.path))
        for name in names:  # what a kill left half-written
            if name.startswith(".") and ".partial" in name:
                work.piece(name).unlink(missing_ok=True)
        self._pieces = {name for name in names if name.endswith(".png") and not name.startswith(".")}
        self._chunks = {chunk for name in names if (chunk := parse_chunk(name))}
        self._covered = {index for a, b in self._chunks for index in range(a, b)}
        # First frame of each segment that is not done: its chain goes on from the frame before.
        self._next = {segment.index: segment.first + self._first_missing(segment) for segment in segments}
        self._warm_owner = {index: segment for segment in segments for index in range(segment.first, segment.start)}
        self._starts = [segment.start for segment in segments]
        for a, b in self._chunks:  # a kill between a chunk and the deletion of its pieces
            self._drop_pieces(a, b)

    @staticmethod
    def _piece(segment: Segment, index: int) -> str:
        return piece_name(index, warm=index < segment.start)

    def _done(self, segment: Segment, index: int) -> bool:
        return self._piece(segment, index) in self._pieces or index in self._covered

    def _first_missing(self, segment: Segment) -> int:
        return next((k for k, index in enumerate(range(segment.first, segment.end))
                     if not self._done(segment, index)), len(segment))

    def complete(self, segment: Segment) -> bool:
        return self._next[segment.index] == segment.end

    def resume_point(self, segment: Segment) -> ResumePoint | None:
        """The last frame of the segment's unbroken run of finished frames (None: start from scratch)."""
        index = self._next[segment.index] - 1
        if index < segment.first:
            return None
        name = self._piece(segment, index)
        with self._lock:
            missing = name not in self._pieces
        if missing:  # only if someone deleted it: the chain starts over, the chunks stay
            self._next[segment.index] = segment.first
            return None
        path = self.work.piece(name)
        return ResumePoint(index, load_piece(path), load_reference(path))

    def frames_done(self, segment: Segment) -> int:
        """Kept frames that a resumed chain will not dream again."""
        return max(0, self._next[segment.index] - segment.start)

    def save(self, segment: Segment, index: int, pixels: np.ndarray,
             reference: Reference | None = None) -> None:
        name = self._piece(segment, index)
        save_piece(self.work.piece(name), pixels, reference)
        with self._lock:
            self._pieces.add(name)
            self._next[segment.index] = index + 1
            # The piece before is no longer where the chain goes on from; its chunk may already hold it.
            for earlier in (index - 1, index) if index + 1 == segment.end else (index - 1,):
                if earlier >= segment.first:
                    self._prune(segment, earlier)

    def _prune(self, segment: Segment, index: int) -> None:
        """Delete a piece that a chunk holds, unless its chain goes on from it."""
        name = self._piece(segment, index)
        if index in self._covered and name in self._pieces and not (
                index == self._next[segment.index] - 1 and index + 1 < segment.end):
            self.work.piece(name).unlink(missing_ok=True)
            self._pieces.discard(name)

    def ready(self, index: int) -> bool:
        """Whether output frame `index` can be assembled (both chains of a cross-fade are there)."""
        with self._lock:
            return piece_name(index) in self._pieces and (
                index not in self._weights or piece_name(index, warm=True) in self._pieces)

    def final_frame(self, index: int) -> np.ndarray:
        """Output frame `index` as float RGB, cross-faded where two segments overlap."""
        frame = to_float(load_piece(self.work.piece(piece_name(index))))
        if index in self._weights:
            weight = self._weights[index]
            warm = to_float(load_piece(self.work.piece(piece_name(index, warm=True))))
            frame = (1 - weight) * frame + weight * warm
        return frame

    def chunk_grid(self, length: int) -> tuple[tuple[int, int], ...]:
        """The render's chunks: `length` frames each, decided once (a resume keeps the plan's length)."""
        if "chunk" not in self.work.plan:
            self.work.update_plan(chunk=length)
        return plan_chunks(self.segments, self.work.plan["chunk"])

    def chunk_path(self, a: int, b: int, suffix: str) -> Path:
        return self.work.piece(chunk_name(a, b, suffix))

    def has_chunk(self, a: int, b: int) -> bool:
        with self._lock:
            return (a, b) in self._chunks

    def add_chunk(self, a: int, b: int) -> None:
        """Take note of chunk [a, b), now complete on disk, and delete the pieces it holds."""
        with self._lock:
            self._chunks.add((a, b))
            self._covered.update(range(a, b))
            self._drop_pieces(a, b)

    def _drop_pieces(self, a: int, b: int) -> None:
        for index in range(a, b):
            self._prune(self.segments[bisect.bisect_right(self._starts, index) - 1], index)
            if index in self._warm_owner:
                self._prune(self._warm_owner[index], index)

    def bytes_needed(self, frames: int, size: tuple[int, int], dtype: np.dtype) -> int:
        """Disk the lossless checkpoints of `frames` more frames take, about."""
        return int(frames * size[0] * size[1] * 3 * np.dtype(dtype).itemsize * CHECKPOINT_RATIO)
