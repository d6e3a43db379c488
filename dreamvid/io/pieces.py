"""A segment's share of a video, for a machine that cannot read the file: its packets, cut losslessly from
the source at a keyframe (a stream copy, no decode, no re-encode), in a file that decodes to exactly the
frames a read of the source gives. Compressed packets are a few percent of raw frames (a 500-frame
segment of a 720p H.264 clip: 9 MB against 1.4 GB of raw frames).

The driver: `PieceCutter(info).cut(first, end)` once per segment (the source's packets are listed once).
The worker: `open_pieces(source, pieces, data)` writes what it was sent to a temporary folder, and gives
each chain a FrameSource over its piece (`PieceSource`) that the chain cannot tell from the source.

How a piece is cut (see proto-ray/cut.py, checked on B-frames, open GOPs, HEVC, VFR, rotation, edit
lists, 10-bit, MPEG-TS, VP9):
- It starts at the last keyframe at or before the segment's first frame (where the source's own read
  starts decoding) and holds every packet, in decode order, up to the last one a frame of the segment
  needs. With B-frames a frame's packet can come after packets of later frames, and an open GOP's
  leading pictures come after their keyframe: a contiguous decode-order range covers both.
- Those leading pictures (shown before the keyframe, decoded after it, referencing the GOP before) are
  dropped: the frames from the keyframe on never reference them, and the source's seeking read drops
  them too.
- Every packet of the piece is checked (size and checksum) against the source's. A piece that cannot be
  cut so, and a source whose timestamps cannot find a keyframe again (an AVI without them), is sent as
  the whole file instead: slower, never other frames."""
from __future__ import annotations

import bisect
import contextlib
import os
import tempfile
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Callable, Iterator

import numpy as np

from ..errors import DreamvidError
from ..imageops import to_float
from .decode import probe_video, read_frames
from .ffmpeg import ffmpeg_exe, ffmpeg_path, run_ffmpeg
from .probe import PacketRow, VideoInfo, list_packets
from .sources import VideoSource, deep

# The piece's container, by the source's demuxer: the source's own family, so that what decoding depends
# on survives the copy. mp4 keeps the display matrix (rotation), the edit list (packets flagged discard,
# which Matroska would turn into frames) and the time base; Matroska keeps its colour tags and VFR timing.
PIECE_FORMATS = {"mov,mp4,m4a,3gp,3g2,mj2": ("mp4", ".mp4"), "matroska,webm": ("matroska", ".mkv"),
                 "mpegts": ("mpegts", ".ts")}
OTHER_FORMAT = ("matroska", ".mkv")

# What a piece's picture must share with its source's, or its pixels would differ.
PICTURE_FIELDS = ("width", "height", "rotation", "sar", "colour")


class PieceMismatch(DreamvidError):
    """A piece that would not give the source's frames (its packets or its picture differ)."""


@dataclass(frozen=True)
class Piece:
    """What a worker needs to know of the bytes it is sent: the source frames they hold, [first, end),
    and how to find them (piece frame `skip` is source frame `first`)."""

    first: int
    end: int
    skip: int
    suffix: str  # the piece file's name ending, which tells ffmpeg its container
    whole: bool = False  # the source file itself (first = 0, end = the source's frame count)

    def covers(self, first: int, end: int) -> bool:
        return self.first <= first and end <= self.end


@dataclass(frozen=True)
class PacketTable:
    """The video stream's packets in decode order, and where each frame's packet is."""

    rows: tuple[PacketRow, ...]
    position: tuple[int, ...]  # position[frame] = the index in `rows` of that frame's packet

    @classmethod
    def read(cls, path: Path) -> "PacketTable":
        """Frames as the probe counts them: the packets not flagged discard, by presentation time."""
        _, rows, _ = list_packets(path)
        frames = [index for index, row in enumerate(rows) if not row.discard and row.pts is not None]
        return cls(tuple(rows), tuple(sorted(frames, key=lambda index: rows[index].pts)))


@dataclass(frozen=True)
class FileStamp:
    """A file as the driver sees it: a node reads the same file at that path when the size and modification
    time agree (a stale copy or an unrelated file of the same name would give other frames)."""

    path: str
    size: int
    mtime_ns: int

    @classmethod
    def of(cls, path: Path | str) -> "FileStamp":
        stat = os.stat(path)
        return cls(str(Path(path).absolute()), stat.st_size, stat.st_mtime_ns)

    def matches(self) -> bool:
        """Whether this machine's file at `path` is the driver's."""
        try:
            stat = os.stat(self.path)
        except OSError:
            return False
        return stat.st_size == self.size and stat.st_mtime_ns == self.mtime_ns


class PieceCutter:
    """The driver's side: cuts the pieces of one source, listing its packets once (a demux: a few hundredths of
    a second for a minute of HD). Falls back to the whole file for good when a piece cannot be cut."""

    def __init__(self, info: VideoInfo):
        self.info = info
        self._table: PacketTable | None = None
        self.whole_file = not info.keyframes  # no keyframe can be found again by its timestamp
        self.mismatch: str | None = None  # why pieces gave way to the whole file

    def cut(self, first: int, end: int) -> tuple[Piece, bytes | None]:
        """The piece holding source frames [first, end), and its bytes; None for the whole file (the caller
        sends `info.path`'s bytes, once)."""
        if not self.whole_file:
            try:
                if self._table is None:
                    self._table = PacketTable.read(self.info.path)
                return cut_piece(self.info, self._table, first, end)
            except PieceMismatch as error:
                self.whole_file, self.mismatch = True, str(error)
        return Piece(0, self.info.frame_count, 0, self.info.path.suffix, whole=True), None


def needed_packets(info: VideoInfo, table: PacketTable, first: int, end: int) -> tuple[int, int, int]:
    """(keyframe, first packet, last packet): the decode-order range that frames [first, end) need, from the
    last keyframe at or before `first` (frame 0 when that is the start of the file)."""
    if not 0 <= first < end <= min(info.frame_count, len(table.position)):
        raise PieceMismatch(f"{info.path}: frames [{first}, {end}) are not all in its packets")
    at = bisect.bisect_right(info.keyframes, first)
    key = info.keyframes[at - 1] if at else 0
    start = table.position[key] if key else 0
    last = max(table.position[frame] for frame in range(key, end))
    if any(table.position[frame] < start for frame in range(key, end)):
        raise PieceMismatch(f"{info.path}: a frame after keyframe {key} is decoded before it")
    return key, start, last


def cut_piece(info: VideoInfo, table: PacketTable, first: int, end: int) -> tuple[Piece, bytes]:
    """Cut the packets that frames [first, end) need into a file of their own (see the module's docstring)."""
    key, start, last = needed_packets(info, table, first, end)
    frame_of = {position: frame for frame, position in enumerate(table.position)}
    # Leading pictures of an open GOP: after the keyframe in decode order, before it on screen. Packets
    # flagged discard (edit lists) have no frame and stay, as they are, when cutting from the start.
    keep = [position for position in range(start, last + 1) if not (key and frame_of.get(position, key) < key)]
    if key:
        # Halfway between the frame before the keyframe and the keyframe. ffmpeg may seek to an earlier
        # keyframe (it does with B-frames in mp4); -copypriorss 0 makes the copy start at the first keyframe
        # shown at or after this time, i.e. ours. Timestamps then count from this time, so the leading
        # pictures are exactly the packets with negative ones: the noise filter drops them, and only them.
        # -frames:v counts the packets that reach the muxer, after the filter.
        seek = ["-ss", f"{(info.times[key - 1] + info.times[key]) / 2:.6f}"]
        copy = ["-copypriorss", "0"] + (["-bsf:v", "noise=drop=lt(pts\\,0)"] if len(keep) < last + 1 - start else [])
    else:
        seek, copy = [], []
    container, suffix = PIECE_FORMATS.get(info.demuxer, OTHER_FORMAT)
    with tempfile.TemporaryDirectory(prefix="dreamvid-cut-") as folder:
        out = Path(folder) / f"piece{suffix}"
        result = run_ffmpeg([ffmpeg_exe(), "-hide_banner", "-nostdin", "-v", "error", *seek,
                             "-i", ffmpeg_path(info.path), "-map", "0:v:0", "-c", "copy", *copy,
                             "-frames:v", str(len(keep)), "-f", container, str(out)], info.path, 600)
        if result.returncode != 0 or not out.exists():
            raise PieceMismatch(f"{info.path}: ffmpeg could not cut frames [{first}, {end}) into {container}: "
                                f"{result.stderr.strip()[-300:]}")
        _, got, _ = list_packets(out)
        want = [table.rows[position] for position in keep]
        if [(row.size, row.crc) for row in got] != [(row.size, row.crc) for row in want]:
            raise PieceMismatch(f"{info.path}: the piece for frames [{first}, {end}) holds other packets than "
                                f"the source's {start}..{last} ({len(got)} against {len(want)})")
        data = out.read_bytes()
    skip = sum(1 for position in keep if frame_of.get(position, first) < first)
    return Piece(first, end, skip, suffix), data


@dataclass(frozen=True)
class PieceSource:
    """Frames [piece.first, piece.end) of `source`, decoded from a piece file: a chain reads it as it would
    read the source (the same size, frame count, rate and sample type), and gets the same pixels."""

    source: VideoSource  # the driver's, whose info describes the whole clip
    piece: Piece
    file: Path

    path = property(lambda self: self.source.path)
    width = property(lambda self: self.source.width)
    height = property(lambda self: self.source.height)
    frame_count = property(lambda self: self.source.frame_count)
    fps = property(lambda self: self.source.fps)
    dtype = property(lambda self: self.source.dtype)
    has_audio = property(lambda self: self.source.has_audio)
    info = property(lambda self: self.source.info)

    def read(self, start: int, end: int) -> Iterator[np.ndarray]:
        if not self.piece.covers(start, end):
            raise ValueError(f"frames [{start}, {end}) are not in the piece [{self.piece.first}, {self.piece.end})")
        info = self._piece_info()
        skip = self.piece.skip + start - self.piece.first
        for frame in read_frames(self.file, skip, skip + end - start, info=info, **deep(self.dtype)):
            yield to_float(frame)

    def alpha(self, index: int) -> None:
        return None

    def _piece_info(self) -> VideoInfo:
        """The piece's own description; refused unless its picture is the source's."""
        whole = self.source.info
        if self.piece.whole:
            return replace(whole, path=self.file)
        info = probe_video(self.file)
        for name in PICTURE_FIELDS:
            if getattr(info, name) != getattr(whole, name):
                raise PieceMismatch(f"the piece of {whole.path} for frames [{self.piece.first}, {self.piece.end}) "
                                    f"has {name} {getattr(info, name)}, the source {getattr(whole, name)}")
        if info.frame_count < self.piece.skip + self.piece.end - self.piece.first:
            raise PieceMismatch(f"the piece of {whole.path} for frames [{self.piece.first}, {self.piece.end}) "
                                f"holds {info.frame_count} frames, {self.piece.skip} + "
                                f"{self.piece.end - self.piece.first} needed")
        return info


@contextlib.contextmanager
def open_pieces(source: VideoSource, pieces: tuple[Piece, ...], data: tuple[bytes, ...]
                ) -> Iterator[Callable[[int, int], PieceSource]]:
    """The worker's side: the pieces it was sent as files (removed afterwards), and for frames [first, end)
    the PieceSource of the piece that covers them."""
    with tempfile.TemporaryDirectory(prefix="dreamvid-pieces-") as folder:
        files = []
        for number, (piece, blob) in enumerate(zip(pieces, data, strict=True)):
            files.append(Path(folder) / f"piece{number}{piece.suffix}")
            files[-1].write_bytes(blob)

        def piece_for(first: int, end: int) -> PieceSource:
            for piece, file in zip(pieces, files):
                if piece.covers(first, end):
                    return PieceSource(source, piece, file)
            raise ValueError(f"no piece was sent for frames [{first}, {end}) of {source.path}")

        yield piece_for
