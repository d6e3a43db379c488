"""Decode a video's frames as displayed (rotated, square pixels, the file's own colour matrix) through an
ffmpeg pipe. A read starts decoding at the last keyframe before its first frame, and keeps a frame only
once its timestamp proves it is the frame due, so reading a clip in segments costs one decode of it, not
one per segment, and gives the frames of a decode from the first frame, bit for bit."""
from __future__ import annotations

import bisect
import io
import math
import queue
import re
import subprocess
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import numpy as np

from ..errors import DreamvidError, UserError
from .colour import decode_matrix
from .ffmpeg import ffmpeg_exe, ffmpeg_path
from .probe import VideoInfo, scan_video


# A decoder may give a frame or two fewer than the packets it was fed (a damaged last packet, a trailing
# frame it cannot complete). Frames missing this close to the end are replaced by the last decoded one,
# so the clip keeps its length and its audio sync; more missing frames are an error.
FRAME_COUNT_SLACK = 2


# How much earlier than told ffmpeg seeks in a container without presentation-time seeking when a stream
# reorders frames (ffmpeg_demux.c: "dts_heuristic").
_SEEK_EARLY = 3 / 23


# Containers whose index lands a seek on the last keyframe at or before the time asked, whatever ffmpeg
# did to that time (MPEG-TS, with no index, lands near it and is told the keyframe's own time).
_INDEXED = {"mov,mp4,m4a,3gp,3g2,mj2", "matroska,webm"}


class FrameDecodeError(DreamvidError):
    """A frame that the container promised could not be decoded (truncated or damaged file)."""

    def __init__(self, index: int, path: Path | str):
        super().__init__(f"could not decode frame {index} of {path} (truncated or damaged file?)")
        self.index = index


def probe_video(path: Path | str, damaged: bool = False) -> VideoInfo:
    """Check that a file is a readable video whose first frame decodes, and describe it (see probe.scan_video).
    A truncated or damaged file is refused, saying how much of it decodes; with `damaged`, it is described
    as the frames that decode (VideoInfo.damage says why), for a render of those alone."""
    info = scan_video(path)
    if info.damage is not None and (not damaged or info.frame_count == 0):
        raise UserError(info.damage_message())
    try:
        next(_decode(info, 0, 1))
    except FrameDecodeError:
        raise UserError(f"cannot decode the first frame of {path} (truncated or corrupt file?)") from None
    return info


@dataclass
class DecodeCount:
    """Frames the decoder produced for reads, counting those decoded only to reach a read's first frame: the
    decode work, which seeking keeps in proportion to the frames read rather than to where they lie."""

    frames: int = 0


def read_frames(path: Path | str, start: int = 0, end: int | None = None, *, info: VideoInfo | None = None,
                count: DecodeCount | None = None, dtype: np.dtype | type = np.uint8) -> Iterator[np.ndarray]:
    """Yield RGB frames [start, end) as displayed (rotated, square pixels), one at a time, as `dtype`: uint8, or
    uint16 (16-bit RGB from the decoder, so a 10-bit video keeps its depth); `count`, when given, adds up the
    frames the decoder produced.

    Decoding starts at the last keyframe at or before `start` (see _decode_seeking), and from the first frame
    when seeking cannot be trusted. A frame that does not decode raises FrameDecodeError, except within
    FRAME_COUNT_SLACK frames of the end of the clip, where the last decoded frame stands in for it (see
    FRAME_COUNT_SLACK).
    """
    info = info or probe_video(path)
    end = info.frame_count if end is None else end
    if not 0 <= start <= end:
        raise ValueError(f"bad frame range [{start}, {end})")
    return _decode(info, start, end, count, np.dtype(dtype))


def _decode(info: VideoInfo, start: int, end: int, count: DecodeCount | None = None,
            dtype: np.dtype = np.dtype(np.uint8)) -> Iterator[np.ndarray]:
    count = count if count is not None else DecodeCount()
    index = start
    key = _keyframe_before(info, start)
    if key and start < min(end, len(info.times)):
        for frame in _decode_seeking(info, key, start, end, count, dtype):
            yield frame
            index += 1
    if index < end:  # no keyframe to start from, or the seek went wrong: decode from the first frame
        yield from _decode_from_first(info, index, end, count, dtype)


def _keyframe_before(info: VideoInfo, index: int) -> int | None:
    """The last keyframe at or before frame `index` (None: no keyframes known)."""
    at = bisect.bisect_right(info.keyframes, index)
    return info.keyframes[at - 1] if at else None


def _decode_from_first(info: VideoInfo, start: int, end: int, count: DecodeCount,
                       dtype: np.dtype) -> Iterator[np.ndarray]:
    """Decode every frame from the first, keeping [start, end): slow for a late start, but sure."""
    decoder = _Decoder(info, None, [f"select=gte(n\\,{start})"] if start else [], end - start, dtype)
    last = None
    try:
        for index in range(start, end):
            frame = decoder.frame()
            if frame is not None:
                last = frame
            elif last is None or not info.frame_count - FRAME_COUNT_SLACK <= index < info.frame_count:
                raise FrameDecodeError(index, info.path)
            else:
                frame = last.copy()
            yield frame
    finally:
        count.frames += decoder.close()


def _decode_seeking(info: VideoInfo, key: int, start: int, end: int, count: DecodeCount,
                    dtype: np.dtype) -> Iterator[np.ndarray]:
    """Seek to keyframe `key` (at or before `start`) and yield frames from `start` on, each only once its
    timestamp proves it is the frame due, so frames are those of a decode from the first frame, bit for bit.

    Stops early, leaving the rest to a decode from the first frame, at the first doubt: the keyframe never
    came out as one (the demuxer landed after it, or the file flags a packet that is none), a timestamp
    matches no frame of the probe, or a frame is missing before the end of the clip.
    """
    seek = round(_seek_point(info, key), 6)  # as ffmpeg is told it
    # Frames before `start` are dropped by time, halfway between the two frames: far from either.
    cut = (info.times[start - 1] + info.times[start]) / 2 - seek
    decoder = _Decoder(info, seek, [f"select=gte(t\\,{cut!r})"], end - start, dtype)
    reached_key, last, ended = False, None, False
    try:
        for index in range(start, end):
            found = None
            while not ended and (found is None or found < start):
                stamp = decoder.stamp()
                ended = stamp is _ENDED
                if not ended:
                    seconds, keyframe = stamp
                    found = _frame_at(info, seek + seconds) if seconds is not None else None
                    if found is None:
                        return
                    reached_key |= found == key and keyframe
            if ended:  # fewer frames than the probe counted: as a decode from the first frame would do
                if last is None or not info.frame_count - FRAME_COUNT_SLACK <= index < info.frame_count:
                    return
                yield last.copy()
                continue
            if found != index or not reached_key:
                return
            last = decoder.frame()
            if last is None:
                return
            yield last
    finally:
        count.frames += decoder.close()


def _seek_point(info: VideoInfo, key: int) -> float:
    """Where to tell ffmpeg to seek so that it lands on keyframe `key`. ffmpeg seeks _SEEK_EARLY before the time
    it is told when a stream reorders frames and the container may index decode times, which lands a whole
    keyframe interval early; telling an indexed container that much later lands on the keyframe itself,
    unless the next keyframe is close enough to be landed on instead."""
    times = info.times
    if info.demuxer not in _INDEXED:
        return times[key]
    later = _SEEK_EARLY + ((times[key + 1] - times[key]) / 4 if key + 1 < len(times) else 0.0)
    following = info.keyframes[info.keyframes.index(key) + 1:]
    return times[key] + later if not following or times[following[0]] - times[key] > 2 * later else times[key]


def _frame_at(info: VideoInfo, seconds: float) -> int | None:
    """The frame whose timestamp this is, within a quarter of the gap to its neighbours (None: no frame)."""
    times = info.times
    at = bisect.bisect_left(times, seconds)
    nearest = min((i for i in (at - 1, at) if 0 <= i < len(times)), key=lambda i: abs(times[i] - seconds))
    gaps = [times[i + 1] - times[i] for i in (nearest - 1, nearest) if 0 <= i < len(times) - 1]
    return nearest if abs(times[nearest] - seconds) < min(gaps, default=math.inf) / 4 else None


_ENDED = object()  # what _Decoder.stamp gives once the decoder is done


class _Decoder:
    """One ffmpeg process decoding the video stream to raw RGB frames on stdout, optionally from a keyframe
    near `seek` seconds (input seeking). A showinfo filter placed before any other reports each frame the
    decoder produced on stderr, which a thread reads: how many, and when seeking, each one's timestamp."""

    # Only the lines of the filter instance that announced its time base count: a file's metadata, which
    # ffmpeg prints too, cannot know the instance's address.
    _SHOWINFO = re.compile(r"^\[showinfo@decoded @ (\w+)\] "
                           r"(?:config in time_base: (\d+)/(\d+)|n: *\d+ pts: *(-?\d+|NOPTS) .* iskey:(\d))")

    def __init__(self, info: VideoInfo, seek: float | None, filters: list[str], frames: int,
                 dtype: np.dtype = np.dtype(np.uint8)):
        self._shape, self._dtype = (info.height, info.width, 3), np.dtype(dtype).newbyteorder("<")
        filters = ["showinfo@decoded=checksum=0", *filters,
                   f"scale={info.width}:{info.height}:in_color_matrix={decode_matrix(info.colour, info.height)}"
                   ":flags=bicubic", "setsar=1"]
        # -noaccurate_seek: the frames before the seek point reach the filters (and the count), not ffmpeg's own
        # trim; the select filter drops them.
        seeking = ["-ss", f"{seek:.6f}", "-noaccurate_seek"] if seek is not None else []
        args = [ffmpeg_exe(), "-hide_banner", "-nostdin", "-nostats", "-v", "info", *seeking, "-i", ffmpeg_path(info.path),
                "-map", "0:v:0", "-vf", ",".join(filters), "-fps_mode", "passthrough", "-frames:v", str(frames),
                "-f", "rawvideo", "-pix_fmt", "rgb48le" if self._dtype.itemsize == 2 else "rgb24", "pipe:1"]
        self._process = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                         stderr=subprocess.PIPE)
        self._stamps: queue.SimpleQueue | None = queue.SimpleQueue() if seek is not None else None
        self._decoded = 0
        self._reader = threading.Thread(target=self._read_stderr, daemon=True)
        self._reader.start()

    def _read_stderr(self) -> None:
        instance, tick = None, None
        with io.TextIOWrapper(self._process.stderr, errors="replace") as lines:
            for line in lines:
                match = self._SHOWINFO.match(line)
                if not match:
                    continue
                if match.group(2):
                    instance = match.group(1)
                    tick = Fraction(int(match.group(2)), int(match.group(3))) if int(match.group(3)) else None
                elif match.group(1) == instance:
                    self._decoded += 1
                    if self._stamps is not None:
                        pts = match.group(4)
                        seconds = float(int(pts) * tick) if tick is not None and pts != "NOPTS" else None
                        self._stamps.put((seconds, match.group(5) == "1"))
        if self._stamps is not None:
            self._stamps.put(_ENDED)

    def stamp(self) -> tuple[float | None, bool] | object:
        """The next decoded frame's time in seconds after the seek point (None: it has none) and whether the
        decoder marked it a keyframe; _ENDED once the decoder is done."""
        return self._stamps.get()

    def frame(self) -> np.ndarray | None:
        """The next output frame (None: the output ended)."""
        frame = np.empty(self._shape, self._dtype)
        return frame.astype(self._dtype.newbyteorder("="), copy=False) \
            if _read_exactly(self._process.stdout, frame) == frame.nbytes else None

    def close(self) -> int:
        """Stop ffmpeg; returns how many frames the decoder produced."""
        self._process.kill()
        self._process.stdout.close()
        self._process.wait()
        self._reader.join()
        return self._decoded


def _read_exactly(stream, frame: np.ndarray) -> int:
    view, done = memoryview(frame).cast("B"), 0
    while done < len(view):
        got = stream.readinto(view[done:])
        if not got:
            break
        done += got
    return done
