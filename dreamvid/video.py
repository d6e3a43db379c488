"""Decode video frames and encode them through an ffmpeg pipe, carrying the source's audio and timing.

Everything goes through the ffmpeg binary bundled with imageio-ffmpeg, so one tool decides what a file holds:
a demux-only pass counts the frames and reads each frame's timestamp and which are keyframes (the header's
count is only an estimate in Matroska and WebM), and the decoder applies rotation, the sample aspect ratio and
the colour matrix the file is tagged with (OpenCV's decoder ignores BT.2020 and the sample aspect ratio).
A read starts decoding at the last keyframe before its first frame, so reading a clip in segments costs one
decode of it, not one per segment.
"""

from __future__ import annotations

import bisect
import io
import math
import queue
import re
import shutil
import subprocess
import tempfile
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

import cv2
import imageio_ffmpeg
import numpy as np

from dreamvid.errors import DreamvidError, UserError
from dreamvid.stills import write_samples

# A decoder may give a frame or two fewer than the packets it was fed (a damaged last packet, a trailing
# frame it cannot complete). Frames missing this close to the end are replaced by the last decoded one,
# so the clip keeps its length and its audio sync; more missing frames are an error.
FRAME_COUNT_SLACK = 2

# Audio codecs each output container takes as they are; anything else is re-encoded to AAC.
_COPYABLE_AUDIO = {
    ".mp4": {"aac", "mp3", "alac"},
    ".m4v": {"aac"},
    ".mov": {"aac", "mp3", "alac", "pcm_s16le"},
    ".mkv": {"aac", "mp3", "opus", "vorbis", "flac", "ac3", "eac3", "pcm_s16le"},
}
_FASTSTART = {".mp4", ".m4v", ".mov"}

# How much earlier than told ffmpeg seeks in a container without presentation-time seeking when a stream
# reorders frames (ffmpeg_demux.c: "dts_heuristic").
_SEEK_EARLY = 3 / 23
# Containers whose index lands a seek on the last keyframe at or before the time asked, whatever ffmpeg
# did to that time (MPEG-TS, with no index, lands near it and is told the keyframe's own time).
_INDEXED = {"mov,mp4,m4a,3gp,3g2,mj2", "matroska,webm"}

# Colour tags as ffmpeg names them, which its setparams filter can write back.
_PRIMARIES = {"bt709", "bt470m", "bt470bg", "smpte170m", "smpte240m", "film", "bt2020", "smpte428", "smpte431",
              "smpte432", "jedec-p22"}
_TRANSFERS = {"bt709", "gamma22", "gamma28", "smpte170m", "smpte240m", "linear", "log100", "log316",
              "iec61966-2-4", "bt1361e", "iec61966-2-1", "bt2020-10", "bt2020-12", "smpte2084", "smpte428",
              "arib-std-b67"}
# Matrix coefficients -> the name ffmpeg's scale filter takes for the RGB <-> YUV conversion.
_MATRICES = {"bt709": "bt709", "bt470bg": "bt601", "smpte170m": "smpte170m", "fcc": "fcc",
             "smpte240m": "smpte240m", "bt2020nc": "bt2020", "bt2020c": "bt2020"}
_HDR_TRANSFERS = {"smpte2084", "arib-std-b67"}
# Untagged pictures taller than SD are taken as BT.709, as players do.
_HD_HEIGHT = 720


class FrameDecodeError(DreamvidError):
    """A frame that the container promised could not be decoded (truncated or damaged file)."""

    def __init__(self, index: int, path: Path | str):
        super().__init__(f"could not decode frame {index} of {path} (truncated or damaged file?)")
        self.index = index


class EncodeError(DreamvidError):
    """ffmpeg failed while encoding; the message ends with what ffmpeg said."""


@dataclass(frozen=True)
class Colour:
    """How a picture's samples map to colours, as the file is tagged (None: not tagged)."""

    matrix: str | None = None  # matrix coefficients, e.g. bt709, bt2020nc
    primaries: str | None = None
    transfer: str | None = None
    bits: int = 8  # per sample, as stored

    @property
    def hdr(self) -> bool:
        return self.transfer in _HDR_TRANSFERS


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


def _ffmpeg_exe() -> str:
    return imageio_ffmpeg.get_ffmpeg_exe()


def ffmpeg_path(path: Path | str) -> str:
    """A file as ffmpeg must be given it: absolute, so that a name such as `-clip.mp4` is not read as an
    option nor `pipe:1.mp4` as a protocol."""
    return str(Path(path).absolute())


def _ffmpeg_describe(path: Path) -> str:
    """ffmpeg's description of the input (stream list, rotation), which it prints on stderr."""
    return _run_ffmpeg([_ffmpeg_exe(), "-hide_banner", "-nostdin", "-i", ffmpeg_path(path)], path, 120).stderr


def _run_ffmpeg(args: list[str], path: Path, seconds: float) -> subprocess.CompletedProcess:
    """ffmpeg reading `path`, given `seconds` at most: a file it cannot get through is the user's to check."""
    try:
        return subprocess.run(args, capture_output=True, text=True, errors="replace", timeout=seconds)
    except subprocess.TimeoutExpired:
        raise UserError(f"ffmpeg could not read {path} within {seconds:.0f} s (a stalled network drive or a "
                        f"damaged file?)") from None


def list_audio(path: Path | str) -> list[str]:
    """Codec names of the audio streams in a file, in order (empty when it has none)."""
    return re.findall(r"Stream #\d+:\d+.*?: Audio: (\w+)", _ffmpeg_describe(Path(path)))


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
            elif token in _MATRICES or token in _PRIMARIES:
                matrix = token if token in _MATRICES else None
                primaries = token if token in _PRIMARIES else None
                transfer = token if token in _TRANSFERS else None
    return (int(size.group(1)), int(size.group(2))), sar, Colour(matrix, primaries, transfer, bits)


def display_size(stored: tuple[int, int], sar: Fraction, rotation: int) -> tuple[int, int]:
    """(width, height) as displayed with square pixels: the width stretched by the sample aspect ratio (to an
    even number, as H.264 needs), then turned."""
    width, height = stored
    if sar != 1:
        width = max(2, round(width * sar / 2) * 2)
    return (height, width) if rotation in (90, 270) else (width, height)


_NO_TIME = -(2 ** 63)  # how ffmpeg prints a missing timestamp


@dataclass(frozen=True)
class _Packets:
    times: tuple[float, ...]  # presentation times in seconds, sorted
    end_time: float | None
    keyframes: tuple[int, ...] = ()  # indices into times


def _scan_packets(path: Path, fps: Fraction) -> _Packets:
    """Count the video stream's packets and read their timestamps without decoding (fast: a 5 s HD clip takes
    a few hundredths of a second). Packets the demuxer marks to discard (edit lists) are no frames."""
    # Reading packets runs at disk speed: an hour allows a film on a slow drive.
    result = _run_ffmpeg([_ffmpeg_exe(), "-hide_banner", "-nostdin", "-v", "error", "-i", ffmpeg_path(path),
                          "-map", "0:v:0", "-c", "copy", "-f", "framecrc", "-"], path, 3600)
    if result.returncode != 0 or re.search(r"partial file|invalid data|corrupt", result.stderr, re.IGNORECASE):
        reason = result.stderr.strip().splitlines()[-1] if result.stderr.strip() else "unreadable packets"
        raise UserError(f"video is truncated or corrupt: {path} ({reason})")
    base = re.search(r"^#tb 0: (\d+)/(\d+)", result.stdout, re.MULTILINE)
    tick = Fraction(int(base.group(1)), int(base.group(2))) if base else Fraction(1, 1000000)
    starts, decodes, ends, keys = [], [], [], []
    for line in result.stdout.splitlines():
        if line.startswith("#") or not line.strip():
            continue
        fields = [part.strip() for part in line.split(",")]
        flags = next((int(part[2:], 16) for part in fields[6:] if part.startswith("F=")), 1)
        if flags & 0x4:  # AV_PKT_FLAG_DISCARD
            continue
        decoded, shown, duration = int(fields[1]), int(fields[2]), int(fields[3])
        starts.append(None if shown == _NO_TIME else shown)
        decodes.append(None if decoded == _NO_TIME else decoded)
        ends.append(duration if duration > 0 else None)
        keys.append(bool(flags & 0x1))  # AV_PKT_FLAG_KEY
    stamped = bool(starts) and None not in starts
    if None in starts and None not in decodes and any(s is not None for s in starts):
        # MPEG program streams stamp only some packets: decode times are all there, a constant
        # reordering delay earlier than the presentation times.
        delay = min(s for s in starts if s is not None) - min(decodes)
        starts = [d + delay for d in decodes]
    if not starts or None in starts:  # no usable timestamps: the nominal rate
        return _Packets(tuple(float(i / fps) for i in range(len(starts))), float(len(starts) / fps))
    ends = [s + d if d is not None else None for s, d in zip(starts, ends)]
    order = sorted(range(len(starts)), key=starts.__getitem__)
    last = order[-1]
    end = ends[last] if ends[last] is not None else starts[last] + 1 / (fps * tick)
    times = tuple(float(starts[i] * tick) for i in order)
    # A decoded frame is told by its timestamp, so seeking needs every packet's own, all distinct.
    distinct = stamped and all(a < b for a, b in zip(times, times[1:]))
    keyframes = tuple(rank for rank, i in enumerate(order) if keys[i]) if distinct else ()
    return _Packets(times, float(end * tick), keyframes)


def probe_video(path: Path | str) -> VideoInfo:
    """Check that a file is a readable video and describe it, failing early with a message a user can act on."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"video not found: {path}")
    if path.stat().st_size == 0:
        raise UserError(f"video file is empty: {path}")
    description = _ffmpeg_describe(path)
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
    if not packets.times:
        raise UserError(f"video has no frames: {path}")
    width, height = display_size(stored, sar, rotation)
    demuxer = re.search(r"^Input #0, (.+?), from '", description, re.MULTILINE)
    info = VideoInfo(path, width, height, fps, len(packets.times), rotation, has_audio, packets.times,
                     packets.end_time, sar, colour, packets.keyframes, demuxer.group(1) if demuxer else "")
    try:
        next(_decode(info, 0, 1))
    except FrameDecodeError:
        raise UserError(f"cannot decode the first frame of {path} (truncated or corrupt file?)") from None
    return info


def _decode_matrix(colour: Colour, height: int) -> str:
    """The matrix to turn the stored YUV into RGB: the tagged one, else BT.709 for HD and BT.601 below."""
    if colour.matrix in _MATRICES:
        return _MATRICES[colour.matrix]
    return "bt709" if height >= _HD_HEIGHT else "bt601"


@dataclass
class DecodeCount:
    """Frames the decoder produced for reads, counting those decoded only to reach a read's first frame: the
    decode work, which seeking keeps in proportion to the frames read rather than to where they lie."""

    frames: int = 0


def read_frames(path: Path | str, start: int = 0, end: int | None = None, *, info: VideoInfo | None = None,
                count: DecodeCount | None = None) -> Iterator[np.ndarray]:
    """Yield RGB uint8 frames [start, end) as displayed (rotated, square pixels), one at a time; `count`, when
    given, adds up the frames the decoder produced.

    Decoding starts at the last keyframe at or before `start` (see _decode_seeking), and from the first frame
    when seeking cannot be trusted. A frame that does not decode raises FrameDecodeError, except within
    FRAME_COUNT_SLACK frames of the end of the clip, where the last decoded frame stands in for it (see
    FRAME_COUNT_SLACK).
    """
    info = info or probe_video(path)
    end = info.frame_count if end is None else end
    if not 0 <= start <= end:
        raise ValueError(f"bad frame range [{start}, {end})")
    return _decode(info, start, end, count)


def _decode(info: VideoInfo, start: int, end: int, count: DecodeCount | None = None) -> Iterator[np.ndarray]:
    count = count if count is not None else DecodeCount()
    index = start
    key = _keyframe_before(info, start)
    if key and start < min(end, len(info.times)):
        for frame in _decode_seeking(info, key, start, end, count):
            yield frame
            index += 1
    if index < end:  # no keyframe to start from, or the seek went wrong: decode from the first frame
        yield from _decode_from_first(info, index, end, count)


def _keyframe_before(info: VideoInfo, index: int) -> int | None:
    """The last keyframe at or before frame `index` (None: no keyframes known)."""
    at = bisect.bisect_right(info.keyframes, index)
    return info.keyframes[at - 1] if at else None


def _decode_from_first(info: VideoInfo, start: int, end: int, count: DecodeCount) -> Iterator[np.ndarray]:
    """Decode every frame from the first, keeping [start, end): slow for a late start, but sure."""
    decoder = _Decoder(info, None, [f"select=gte(n\\,{start})"] if start else [], end - start)
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


def _decode_seeking(info: VideoInfo, key: int, start: int, end: int, count: DecodeCount) -> Iterator[np.ndarray]:
    """Seek to keyframe `key` (at or before `start`) and yield frames from `start` on, each only once its
    timestamp proves it is the frame due, so frames are those of a decode from the first frame, bit for bit.

    Stops early, leaving the rest to a decode from the first frame, at the first doubt: the keyframe never
    came out as one (the demuxer landed after it, or the file flags a packet that is none), a timestamp
    matches no frame of the probe, or a frame is missing before the end of the clip.
    """
    seek = round(_seek_point(info, key), 6)  # as ffmpeg is told it
    # Frames before `start` are dropped by time, halfway between the two frames: far from either.
    cut = (info.times[start - 1] + info.times[start]) / 2 - seek
    decoder = _Decoder(info, seek, [f"select=gte(t\\,{cut!r})"], end - start)
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

    def __init__(self, info: VideoInfo, seek: float | None, filters: list[str], frames: int):
        self._shape = (info.height, info.width, 3)
        filters = ["showinfo@decoded=checksum=0", *filters,
                   f"scale={info.width}:{info.height}:in_color_matrix={_decode_matrix(info.colour, info.height)}"
                   ":flags=bicubic", "setsar=1"]
        # -noaccurate_seek: the frames before the seek point reach the filters (and the count), not ffmpeg's own
        # trim; the select filter drops them.
        seeking = ["-ss", f"{seek:.6f}", "-noaccurate_seek"] if seek is not None else []
        args = [_ffmpeg_exe(), "-hide_banner", "-nostdin", "-nostats", "-v", "info", *seeking, "-i", ffmpeg_path(info.path),
                "-map", "0:v:0", "-vf", ",".join(filters), "-fps_mode", "passthrough", "-frames:v", str(frames),
                "-f", "rawvideo", "-pix_fmt", "rgb24", "pipe:1"]
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
        frame = np.empty(self._shape, np.uint8)
        return frame if _read_exactly(self._process.stdout, frame) == frame.nbytes else None

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


def output_colour(source: Colour | None, height: int) -> Colour:
    """The colour tags an output gets: the source's where known, else BT.709 for HD and BT.601 below. The
    output is 8-bit whatever the source was."""
    source = source or Colour()
    if source.matrix in _MATRICES:
        return Colour(source.matrix, source.primaries if source.primaries in _PRIMARIES else None,
                      source.transfer if source.transfer in _TRANSFERS else None)
    if height >= _HD_HEIGHT:
        return Colour("bt709", "bt709", "bt709")
    return Colour("smpte170m", source.primaries if source.primaries in _PRIMARIES else None,
                  source.transfer if source.transfer in _TRANSFERS else None)


def colour_warning(source: Colour) -> str | None:
    """What a user should know when the output cannot look like the source."""
    notes = []
    if source.bits > 8:
        notes.append(f"{source.bits}-bit source written as 8-bit")
    if source.hdr:
        notes.append(f"HDR ({source.transfer}) is dreamed on its coded values and tagged {source.transfer} again, "
                     "without tone mapping")
    if source.matrix and source.matrix not in _MATRICES:
        notes.append(f"colour matrix {source.matrix} is not supported; the output is tagged as a standard one")
    return "; ".join(notes) or None


def _encode_filters(colour: Colour) -> str:
    """RGB -> YUV with the matrix the output is tagged with, so a decoder that honours the tags gets the colours
    back (ffmpeg's default would convert with BT.601 and tag nothing)."""
    tags = [f"colorspace={colour.matrix}", "range=tv"]
    tags += [f"color_primaries={colour.primaries}"] if colour.primaries else []
    tags += [f"color_trc={colour.transfer}"] if colour.transfer else []
    return (f"scale=out_color_matrix={_MATRICES[colour.matrix]}:out_range=tv,format=yuv420p,setsar=1,"
            f"setparams={':'.join(tags)}")


class VideoWriter:
    """Pipe RGB frames into ffmpeg as H.264, optionally muxing a span of another file's audio.

    A constant rate is piped straight into the encoder. With `frame_times` (when each frame begins, relative to
    the first, then when the last one ends: a variable-rate source) the frames are kept as images beside the
    output and muxed at close by ffmpeg's concat demuxer, which gives each frame its own duration, so the
    picture keeps the source's timing and its audio stays in sync.

    The audio is cut to [audio_start, audio_start + audio_duration) of the source; audio that ends earlier
    leaves the rest of the picture silent, never shorter. Colours are converted and tagged as `colour` says
    (default: BT.709 for HD, BT.601 below).

    Use as a context manager: a clean exit finishes the file; an exception inside the block, or an ffmpeg
    failure, kills ffmpeg and removes the partial file (ffmpeg failures raise EncodeError).
    """

    def __init__(self, path: Path | str, width: int, height: int, fps: Fraction, *, crf: int = 18,
                 audio_source: Path | None = None, audio_start: float = 0.0,
                 audio_duration: float | None = None, colour: Colour | None = None,
                 frame_times: Sequence[float] | None = None, on_warning: Callable[[str], None] | None = None):
        self.path = Path(path)
        self.width, self.height = width, height
        # yuv420p halves the chroma resolution, so H.264 needs even sizes.
        self._pad = (height % 2, width % 2)
        out_width, out_height = width + self._pad[1], height + self._pad[0]
        if any(self._pad) and on_warning:
            on_warning(f"{width}x{height} frames padded to {out_width}x{out_height} for H.264")
        self._rate = f"{fps.numerator}/{fps.denominator}"
        self._colour = colour or output_colour(None, out_height)
        self._audio = (audio_source, audio_start, audio_duration)
        self._crf = crf
        self._frame_times = list(frame_times) if frame_times is not None else None
        # stderr goes to a file, not a pipe: a chatty ffmpeg can never block on a full pipe.
        self._stderr = tempfile.TemporaryFile()
        self._process: subprocess.Popen | None = None
        self._folder: Path | None = None
        self._written = 0
        if self._frame_times is not None:
            # A fixed name beside the output, so a rerun clears what a killed one left.
            self._folder = self.path.with_name(f".{self.path.name}.frames")
            shutil.rmtree(self._folder, ignore_errors=True)
            self._folder.mkdir()
            return
        args = [_ffmpeg_exe(), "-hide_banner", "-loglevel", "warning", "-y",
                "-f", "rawvideo", "-pix_fmt", "rgb24", "-s", f"{out_width}x{out_height}", "-framerate", self._rate,
                "-i", "pipe:0"]
        self._process = subprocess.Popen(args + self._output_args(), stdin=subprocess.PIPE,
                                         stdout=subprocess.DEVNULL, stderr=self._stderr)

    def _output_args(self) -> list[str]:
        """Audio input and mapping, encoder and container settings, after the picture's input."""
        args = _audio_args(self.path, *self._audio)
        args += ["-vf", _encode_filters(self._colour), "-c:v", "libx264", "-pix_fmt", "yuv420p",
                 "-crf", str(self._crf)]
        if self._frame_times is None:
            args += ["-r", self._rate]
        else:
            args += ["-fps_mode", "passthrough", "-enc_time_base:v", "demux", "-video_track_timescale", "90000"]
        if self.path.suffix.lower() in _FASTSTART:
            args += ["-movflags", "+faststart"]
        return args + [ffmpeg_path(self.path)]

    def write(self, frame: np.ndarray) -> None:
        if frame.shape != (self.height, self.width, 3) or frame.dtype != np.uint8:
            raise ValueError(f"expected a {self.height}x{self.width}x3 uint8 frame, got {frame.shape} {frame.dtype}")
        if any(self._pad):
            frame = np.pad(frame, ((0, self._pad[0]), (0, self._pad[1]), (0, 0)), mode="edge")
        if self._folder is not None:
            if self._written >= len(self._frame_times) - 1:
                raise ValueError(f"more frames than the {len(self._frame_times) - 1} timed ones")
            name = self._folder / f"{self._written:07d}.png"
            try:  # not cv2.imwrite: on a full disk libpng prints its own line and OpenCV returns False
                write_samples(name, np.ascontiguousarray(frame[..., ::-1]), [cv2.IMWRITE_PNG_COMPRESSION, 1])
            except OSError as error:  # a full disk: one error naming the video, as ffmpeg's would
                self.abort()
                raise OSError(error.errno, error.strerror, str(self.path)) from None
            self._written += 1
            return
        try:
            self._process.stdin.write(np.ascontiguousarray(frame).tobytes())
        except (BrokenPipeError, OSError):
            self._fail("ffmpeg stopped accepting frames")

    def close(self) -> None:
        """Finish the file; raises EncodeError (and removes the file) if ffmpeg fails."""
        if self._folder is not None:
            self._mux_timed()
            return
        if self._process.stdin.closed:
            return
        try:
            self._process.stdin.close()
        except (BrokenPipeError, OSError):
            pass
        if self._process.wait() != 0:
            self._fail(f"ffmpeg exited with status {self._process.returncode}")
        self._stderr.close()

    def _mux_timed(self) -> None:
        """Encode the kept images, each lasting until the next one's timestamp (microsecond steps, rounded
        from the running total, so rounding never accumulates)."""
        steps = [round(t * 1e6) for t in self._frame_times[:self._written + 1]]
        lines = ["ffconcat version 1.0"]
        for index in range(self._written):
            # image2 reads stills at 25 fps unless told: a fine rate keeps the timestamps exact.
            lines += [f"file '{index:07d}.png'", "option framerate 90000",
                      f"duration {steps[index + 1] - steps[index]}us"]
        listing = self._folder / "frames.ffconcat"
        try:
            listing.write_text("\n".join(lines) + "\n")
        except OSError as error:  # a full disk: one error naming the video, as in write()
            self.abort()
            raise OSError(error.errno, error.strerror, str(self.path)) from None
        args = [_ffmpeg_exe(), "-hide_banner", "-loglevel", "warning", "-y", "-nostdin",
                "-f", "concat", "-safe", "0", "-i", str(listing)]
        self._process = subprocess.Popen(args + self._output_args(), stdin=subprocess.DEVNULL,
                                         stdout=subprocess.DEVNULL, stderr=self._stderr)
        if self._process.wait() != 0:
            self._fail(f"ffmpeg exited with status {self._process.returncode}")
        shutil.rmtree(self._folder, ignore_errors=True)
        self._folder = None
        self._stderr.close()

    def abort(self) -> None:
        """Stop ffmpeg and remove whatever it wrote."""
        if self._process is not None:
            self._process.kill()
            if self._process.stdin is not None:
                try:
                    self._process.stdin.close()
                except (BrokenPipeError, OSError):
                    pass
            self._process.wait()
        if self._folder is not None:
            shutil.rmtree(self._folder, ignore_errors=True)
        self._stderr.close()
        self.path.unlink(missing_ok=True)

    def _fail(self, what: str) -> None:
        self._process.kill()
        self._process.wait()
        self._stderr.seek(0)
        tail = self._stderr.read().decode(errors="replace").strip()[-2000:]
        self.abort()
        raise EncodeError(f"{what} while writing {self.path}: {tail or '(no output)'}")

    def __enter__(self) -> VideoWriter:
        return self

    def __exit__(self, exc_type, exc, traceback) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()  # the original exception propagates unchanged


def _audio_args(path: Path, source: Path | None, start: float, duration: float | None) -> list[str]:
    """The audio input (a span of `source`), the mapping, and the audio codec, after the picture's input."""
    if source is None:
        return []
    args = ["-ss", f"{start:.6f}"] + (["-t", f"{duration:.6f}"] if duration is not None else [])
    args += ["-i", ffmpeg_path(source), "-map", "0:v:0", "-map", "1:a?"]
    codecs = list_audio(source)
    copyable = codecs and all(c in _COPYABLE_AUDIO.get(path.suffix.lower(), ()) for c in codecs)
    if duration is None:  # no length given: pad the audio with silence and end with the picture
        return args + ["-af", "apad", "-c:a", "aac", "-b:a", "192k", "-shortest"]
    return args + (["-c:a", "copy"] if copyable else ["-c:a", "aac", "-b:a", "192k"])


def join_chunks(chunks: Sequence[Path], path: Path | str, *, audio_source: Path | None = None,
                audio_start: float = 0.0, audio_duration: float | None = None) -> None:
    """Join H.264 chunks that VideoWriter made with the same settings (each starts on a keyframe) into one
    video without re-encoding (ffmpeg's concat demuxer), muxing a span of another file's audio as
    VideoWriter does; raises EncodeError (and removes the file) if ffmpeg fails."""
    path = Path(path)
    with tempfile.TemporaryDirectory() as folder, tempfile.TemporaryFile() as stderr:
        listing = Path(folder) / "chunks.ffconcat"
        listing.write_text("ffconcat version 1.0\n" + "".join(
            "file '" + str(Path(chunk).resolve()).replace("'", "'\\''") + "'\n" for chunk in chunks))
        args = [_ffmpeg_exe(), "-hide_banner", "-loglevel", "warning", "-y", "-nostdin",
                "-f", "concat", "-safe", "0", "-i", str(listing)]
        args += _audio_args(path, audio_source, audio_start, audio_duration) + ["-c:v", "copy"]
        if path.suffix.lower() in _FASTSTART:
            args += ["-movflags", "+faststart"]
        if subprocess.run(args + [ffmpeg_path(path)], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                          stderr=stderr).returncode != 0:
            stderr.seek(0)
            tail = stderr.read().decode(errors="replace").strip()[-2000:]
            path.unlink(missing_ok=True)
            raise EncodeError(f"ffmpeg could not join the chunks of {path}: {tail or '(no output)'}")
