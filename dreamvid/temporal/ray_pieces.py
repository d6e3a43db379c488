"""No shared folder needed: a worker that cannot read the source (not at its path, or another file there)
is sent what its segments need, their packets cut from the source (io/pieces.py), never raw frames.

The pieces go through Ray's object store as top-level arguments of the dream call, so Ray hands the worker
their bytes. They are cut when a call starts and dropped when it ends: at most one call's pieces per
worker are in the store, whatever the length of the film. A source sent whole (no keyframes to cut at)
is put once and shared by every call of the job."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..io.pieces import FileStamp, Piece, PieceCutter
from ..io.sources import FrameSource, VideoSource
from .chain import ResumePoint
from .plan import Segment


def source_stamps(source: FrameSource) -> tuple[FileStamp, ...]:
    """What a node must see to read the source itself: a video's file, or a sequence's first and last
    frames (a copy of the folder elsewhere passes only with the same sizes and times)."""
    if isinstance(source, VideoSource):
        return (FileStamp.of(source.path),)
    frames = getattr(source, "frames", ())
    return tuple(FileStamp.of(path) for path in dict.fromkeys([frames[0], frames[-1]])) if frames else \
        (FileStamp.of(source.path),)


def sees_source(stamps: tuple[FileStamp, ...]) -> bool:
    """Whether this node reads the driver's source at its path."""
    return all(stamp.matches() for stamp in stamps)


@dataclass
class Shipped:
    """What a job sent to workers that could not read its source: pieces, their bytes, the raw frames they
    stand for (uint8 RGB at the source's size), and the most pieces in the object store at once."""

    pieces: int = 0
    bytes: int = 0
    raw_bytes: int = 0
    most_in_flight: int = 0
    whole_file: str | None = None  # why the source was sent whole, when it was


class PieceShipper:
    """The driver's side, one per job: for a call to a worker that cannot read the source, the pieces of
    the call's segments and the refs of their bytes (which the caller keeps until the call ends)."""

    def __init__(self, source: FrameSource):
        self.source = source
        self.shipped = Shipped()
        self._cutter = PieceCutter(source.info) if isinstance(source, VideoSource) else None
        self._whole: Any = None  # the ref of the whole file, put once
        self._in_flight = 0

    @property
    def can_ship(self) -> bool:
        """Only a video's packets can be cut and sent (a sequence's stills must be at their path)."""
        return self._cutter is not None

    def pieces_for(self, work: list[tuple[Segment, ResumePoint | None]]) -> tuple[tuple[Piece, ...], list]:
        """The pieces of `work`'s segments, each from where its chain reads (its resume point's frame, which
        restores the chain, or its first frame) to its end; one whole file serves them all."""
        import ray

        pieces, refs = [], []
        for segment, resume in work:
            first = resume.index if resume is not None else segment.first
            piece, data = self._cutter.cut(first, segment.end)
            self.shipped.raw_bytes += (segment.end - first) * self.source.width * self.source.height * 3
            if piece.whole:
                if piece in pieces:
                    continue
                if self._whole is None:
                    self._whole = ray.put(Path(self.source.path).read_bytes())
                    self.shipped.whole_file = self._cutter.mismatch or "no keyframes to cut at"
                    self.shipped.bytes += Path(self.source.path).stat().st_size
                refs.append(self._whole)
            else:
                refs.append(ray.put(data))
                self.shipped.bytes += len(data)
            pieces.append(piece)
            self.shipped.pieces += 1
        self._in_flight += len(refs)
        self.shipped.most_in_flight = max(self.shipped.most_in_flight, self._in_flight)
        return tuple(pieces), refs

    def call_ended(self, refs: list) -> None:
        """A call's pieces are no longer needed (the caller drops their refs)."""
        self._in_flight -= len(refs)
