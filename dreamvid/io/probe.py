"""What a video file holds, read without decoding it: ffmpeg's description (streams, size, sample aspect
ratio, rotation, colour tags) and a demux-only pass that counts the frames and reads each frame's
timestamp and which are keyframes (the header's count is only an estimate in Matroska and WebM)."""
from __future__ import annotations

import math
import re
import subprocess
from dataclasses import dataclass, field, replace
from fractions import Fraction
from pathlib import Path

import cv2
import numpy as np

from ..errors import UserError
from .colour import MATRICES, PRIMARIES, TRANSFERS, Colour
from .ffmpeg import describe, ffmpeg_exe, ffmpeg_path, run_ffmpeg


# Containers dreamvid writes (H.264 with AAC or copied audio); other inputs default to NAME_dream.mp4.
VIDEO_OUTPUTS = (".mp4", ".mov", ".mkv", ".m4v")


# Containers read as video (whatever the bundled ffmpeg decodes; its packet scan tells a damaged one).
VIDEO_SUFFIXES = {".mp4", ".mov", ".mkv", ".avi", ".webm", ".m4v", ".mpg", ".mpeg", ".wmv", ".flv", ".ts",
                  ".mts", ".m2ts", ".mxf", ".3gp", ".ogv", ".vob"}


@dataclass(frozen=True)
class VideoInfo:
    path: Path
    width: int  # as displayed: square pixels, after rotation
    height: int
    fps: Fraction  # nominal; a variable-rate clip's frames follow `times`
    frame_count: int  # frames that the stream holds (counted, not the header's estimate)
    rotation: int  # clockwise degrees (0/90/180/270) to turn the stored picture for display
    has_audio: bool
    times: tuple[float, ...] = field(default=(), repr=False)  # each frame's start, in seconds, as -ss counts
    end_time: float | None = None  # when the last frame ends
    sar: Fraction = Fraction(1)  # sample aspect ratio of the stored picture
    colour: Colour = Colour()
    # Frames (indices into `times`) whose packets are keyframes, where decoding can start; empty when the
    # timestamps are not trusted to find them again, so every read decodes from the first frame.
    keyframes: tuple[int, ...] = field(default=(), repr=False)
    demuxer: str = ""  # ffmpeg's name for the container's reader, e.g. "matroska,webm"
    # What ffmpeg said of a truncated or damaged file (None: it reads to the end). Such a file describes only
    # the frames that decode from its start (frame_count of them), of the `promised` ones its header names.
    damage: str | None = None
    promised: int | None = None

    def damage_message(self) -> str:
        """The refusal of a damaged file: how much of it decodes, and the --frames range that renders that."""
        of = f" of {self.promised}" if self.promised and self.promised > self.frame_count else ""
        readable = (f"{self.frame_count}{of} frames decode; --frames 0:{self.frame_count} renders them"
                    if self.frame_count else "no frame decodes")
        return f"video is truncated or corrupt: {self.path} ({self.damage}): {readable}"

    @property
    def duration(self) -> float:
        if self.times and self.end_time is not None:
            return self.end_time - self.times[0]
        return float(self.frame_count / self.fps)

    @property
    def variable_rate(self) -> bool:
        """Whether frames are off the nominal rate's grid by more than a quarter frame anywhere."""
        if len(self.times) < 2:
            return False
        grid = np.arange(len(self.times)) / float(self.fps)
        return bool(np.abs(np.asarray(self.times) - self.times[0] - grid).max() > 0.25 / float(self.fps))

    def span(self, start: int, end: int) -> tuple[float, float]:
        """(seconds where frame `start` begins, as ffmpeg's -ss counts; seconds that frames [start, end) last)."""
        if not self.times:
            return float(start / self.fps), float((end - start) / self.fps)
        finish = self.times[end] if end < len(self.times) else self.end_time
        return self.times[start], finish - self.times[start]

    def frame_times(self, start: int, end: int) -> list[float]:
        """When frames [start, end) begin, relative to the first, followed by when the last one ends."""
        first, length = self.span(start, end)
        return [t - first for t in self.times[start:end]] + [length]


def _parse_rotation(description: str) -> int:
    # ffmpeg >= 5 prints the display matrix angle (counter-clockwise); older ones print the "rotate" tag (clockwise).
    matrix = re.search(r"display ?matrix: rotation of (-?[\d.]+) degrees", description, re.IGNORECASE)
    if matrix:
        return round(-float(matrix.group(1))) % 360
    tag = re.search(r"^\s*rotate\s*:\s*(-?\d+)", description, re.MULTILINE)
    return int(tag.group(1)) % 360 if tag else 0


def parse_video_stream(line: str) -> tuple[tuple[int, int], Fraction, Colour]:
    """Stored (width, height), sample aspect ratio and colour tags from ffmpeg's line for a video stream, e.g.
    `Video: h264 (High 10), yuv420p10le(tv, bt2020nc/bt2020/smpte2084, progressive), 720x576 [SAR 64:45 DAR 16:9]`."""
    size = re.search(r", (\d+)x(\d+)\b", line)
    if not size:
        raise UserError(f"cannot tell the picture size from: {line.strip()}")
    sar_match = re.search(r"\bSAR (\d+):(\d+)", line)
    sar = Fraction(int(sar_match.group(1)), int(sar_match.group(2))) if sar_match and int(sar_match.group(2)) \
        and int(sar_match.group(1)) else Fraction(1)
    pixels = re.search(r"Video: [^,]+(?:\([^)]*\))*, (\w+)(?:\(([^)]*)\))?", line)
    bits = 8
    matrix = primaries = transfer = None
    if pixels:
        depth = re.search(r"p(\d+)(?:le|be)$", pixels.group(1))
        bits = int(depth.group(1)) if depth else 8
        for token in (pixels.group(2) or "").split(", "):
            if token.count("/") == 2:
                matrix, primaries, transfer = (None if part in ("unknown", "reserved") else part
                                               for part in token.split("/"))
            elif token in MATRICES or token in PRIMARIES:
                matrix = token if token in MATRICES else None
                primaries = token if token in PRIMARIES else None
                transfer = token if token in TRANSFERS else None
    return (int(size.group(1)), int(size.group(2))), sar, Colour(matrix, primaries, transfer, bits)


def display_size(stored: tuple[int, int], sar: Fraction, rotation: int) -> tuple[int, int]:
    """(width, height) as displayed with square pixels: the width stretched by the sample aspect ratio (to an
    even number, as H.264 needs), then turned."""
    width, height = stored
    if sar != 1:
        width = max(2, round(width * sar / 2) * 2)
    return (height, width) if rotation in (90, 270) else (width, height)


_NO_TIME = -(2 ** 63)  # how ffmpeg prints a missing timestamp
PACKET_KEY, PACKET_DISCARD = 0x1, 0x4  # AV_PKT_FLAG_KEY, AV_PKT_FLAG_DISCARD


@dataclass(frozen=True)
class PacketRow:
    """One packet of the video stream, in decode order, as ffmpeg's framecrc muxer lists it (times in `tick`s)."""

    dts: int | None
    pts: int | None
    duration: int
    size: int
    crc: str  # adler32 of the packet's bytes, as ffmpeg prints it ("0x1a2b3c4d")
    flags: int

    @property
    def discard(self) -> bool:
        """The demuxer marks it to discard (an edit list's cut): no frame."""
        return bool(self.flags & PACKET_DISCARD)


def list_packets(path: Path, seconds: float = 3600) -> tuple[Fraction, list[PacketRow], subprocess.CompletedProcess]:
    """The video stream's packets (a demux, no decode): the time base, the rows and ffmpeg's run (its stderr
    tells a damaged file). Reading packets runs at disk speed: an hour allows a film on a slow drive."""
    result = run_ffmpeg([ffmpeg_exe(), "-hide_banner", "-nostdin", "-v", "error", "-i", ffmpeg_path(path),
                         "-map", "0:v:0", "-c", "copy", "-f", "framecrc", "-"], path, seconds)
    base = re.search(r"^#tb 0: (\d+)/(\d+)", result.stdout, re.MULTILINE)
    tick = Fraction(int(base.group(1)), int(base.group(2))) if base else Fraction(1, 1000000)
    rows = []
    for line in result.stdout.splitlines():
        if line.startswith("#") or not line.strip():
            continue
        fields = [part.strip() for part in line.split(",")]
        flags = next((int(part[2:], 16) for part in fields[6:] if part.startswith("F=")), PACKET_KEY)
        decoded, shown = int(fields[1]), int(fields[2])
        rows.append(PacketRow(None if decoded == _NO_TIME else decoded, None if shown == _NO_TIME else shown,
                              int(fields[3]), int(fields[4]), fields[5], flags))
    return tick, rows, result


@dataclass(frozen=True)
class _Packets:
    times: tuple[float, ...]  # presentation times in seconds, sorted
    end_time: float | None
    keyframes: tuple[int, ...] = ()  # indices into times
    damage: str | None = None  # what ffmpeg said of packets it could not read (the times are those before)


def _scan_packets(path: Path, fps: Fraction) -> _Packets:
    """Count the video stream's packets and read their timestamps without decoding (fast: a 5 s HD clip takes
    a few hundredths of a second). Packets the demuxer marks to discard (edit lists) are no frames."""
    tick, rows, result = list_packets(path)
    damage = None
    if result.returncode != 0 or re.search(r"partial file|invalid data|corrupt", result.stderr, re.IGNORECASE):
        damage = _reason(result.stderr)
    frames = [row for row in rows if not row.discard]
    starts = [row.pts for row in frames]
    decodes = [row.dts for row in frames]
    ends = [row.duration if row.duration > 0 else None for row in frames]
    keys = [bool(row.flags & PACKET_KEY) for row in frames]
    stamped = bool(starts) and None not in starts
    if None in starts and None not in decodes and any(s is not None for s in starts):
        # MPEG program streams stamp only some packets: decode times are all there, a constant
        # reordering delay earlier than the presentation times.
        delay = min(s for s in starts if s is not None) - min(decodes)
        starts = [d + delay for d in decodes]
    if not starts or None in starts:  # no usable timestamps: the nominal rate
        return _Packets(tuple(float(i / fps) for i in range(len(starts))), float(len(starts) / fps), damage=damage)
    ends = [s + d if d is not None else None for s, d in zip(starts, ends)]
    order = sorted(range(len(starts)), key=starts.__getitem__)
    last = order[-1]
    end = ends[last] if ends[last] is not None else starts[last] + 1 / (fps * tick)
    times = tuple(float(starts[i] * tick) for i in order)
    # A decoded frame is told by its timestamp, so seeking needs every packet's own, all distinct.
    distinct = stamped and all(a < b for a, b in zip(times, times[1:]))
    keyframes = tuple(rank for rank, i in enumerate(order) if keys[i]) if distinct else ()
    return _Packets(times, float(end * tick), keyframes, damage)


def _reason(stderr: str) -> str:
    """ffmpeg's last line, without its "[demuxer @ 0x...]" prefix."""
    last = stderr.strip().splitlines()[-1] if stderr.strip() else "unreadable packets"
    return re.sub(r"^\[[^]]*\]\s*", "", last)


def _decodable_frames(path: Path) -> int:
    """How many frames of a damaged file decode, from its start (a decode of all of it: only for such files)."""
    result = run_ffmpeg([ffmpeg_exe(), "-hide_banner", "-nostdin", "-v", "quiet", "-i", ffmpeg_path(path),
                         "-map", "0:v:0", "-fps_mode", "passthrough", "-f", "framecrc", "-"], path, 3600)
    return sum(1 for line in result.stdout.splitlines() if line.strip() and not line.startswith("#"))


def _header_frames(description: str, fps: Fraction) -> int | None:
    """The frames a file's header promises, from its duration (an estimate; None when it names none)."""
    match = re.search(r"Duration: (\d+):(\d+):(\d+(?:\.\d+)?)", description)
    if not match:
        return None
    seconds = int(match.group(1)) * 3600 + int(match.group(2)) * 60 + float(match.group(3))
    return round(seconds * float(fps))


def scan_video(path: Path | str) -> VideoInfo:
    """Check that a file is a readable video and describe it without decoding, failing early with a message a
    user can act on (decode.probe_video also decodes its first frame)."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"video not found: {path}")
    if path.stat().st_size == 0:
        raise UserError(f"video file is empty: {path}")
    description = describe(path)
    if "Input #0" not in description:
        reason = description.strip().splitlines()[-1] if description.strip() else "unknown format"
        raise UserError(f"not a readable video file: {path} ({reason})")
    video_streams = [line for line in description.splitlines()
                     if re.search(r"Stream #\d+:\d+.*: Video:", line) and "attached pic" not in line]
    if not video_streams:
        raise UserError(f"no video stream in {path} (audio only?)")
    has_audio = re.search(r"Stream #\d+:\d+.*: Audio:", description) is not None
    stored, sar, colour = parse_video_stream(video_streams[0])
    rotation = _parse_rotation(description)
    if rotation not in (0, 90, 180, 270):
        raise UserError(f"unsupported rotation of {rotation} degrees in {path}")

    # The nominal rate, as an exact fraction (ffmpeg prints it rounded).
    capture = cv2.VideoCapture(str(path), cv2.CAP_FFMPEG)
    raw_fps = capture.get(cv2.CAP_PROP_FPS) if capture.isOpened() else 0.0
    capture.release()
    if not math.isfinite(raw_fps) or raw_fps <= 0:
        raise UserError(f"cannot tell the frame rate of {path}")
    fps = Fraction(raw_fps).limit_denominator(1001)

    packets = _scan_packets(path, fps)
    if not packets.times and packets.damage is None:
        raise UserError(f"video has no frames: {path}")
    width, height = display_size(stored, sar, rotation)
    demuxer = re.search(r"^Input #0, (.+?), from '", description, re.MULTILINE)
    info = VideoInfo(path, width, height, fps, len(packets.times), rotation, has_audio, packets.times,
                     packets.end_time, sar, colour, packets.keyframes, demuxer.group(1) if demuxer else "")
    if packets.damage is None:
        return info
    # A damaged file: only the frames that decode from its start are described (seeking stays within them).
    readable = min(_decodable_frames(path), len(packets.times))
    end = packets.times[readable] if readable < len(packets.times) else packets.end_time
    return replace(info, frame_count=readable, times=packets.times[:readable], end_time=end,
                   keyframes=tuple(key for key in packets.keyframes if key < readable), damage=packets.damage,
                   promised=_header_frames(description, fps))
