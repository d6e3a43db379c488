"""Decode video frames with OpenCV and encode them through an ffmpeg pipe, carrying the source's audio.

OpenCV gives fast sequential RGB frames; ffmpeg (the binary bundled with imageio-ffmpeg) reports what OpenCV
cannot (audio streams, rotation) and writes H.264 with the audio muxed back in.
"""

from __future__ import annotations

import math
import re
import subprocess
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import cv2
import imageio_ffmpeg
import numpy as np

from dreamvid.errors import DreamvidError, UserError

# Containers such as Matroska only estimate the frame count from the duration, and may overshoot by a frame
# or two; a stream that ends this close to the estimate is treated as complete when reading "to the end".
FRAME_COUNT_SLACK = 2

# Audio codecs each output container takes as they are; anything else is re-encoded to AAC.
_COPYABLE_AUDIO = {
    ".mp4": {"aac", "mp3", "alac"},
    ".m4v": {"aac"},
    ".mov": {"aac", "mp3", "alac", "pcm_s16le"},
    ".mkv": {"aac", "mp3", "opus", "vorbis", "flac", "ac3", "eac3", "pcm_s16le"},
}
_FASTSTART = {".mp4", ".m4v", ".mov"}
_CV2_ROTATE = {90: cv2.ROTATE_90_CLOCKWISE, 180: cv2.ROTATE_180, 270: cv2.ROTATE_90_COUNTERCLOCKWISE}


class FrameDecodeError(DreamvidError):
    """A frame that the container promised could not be decoded (truncated or damaged file)."""

    def __init__(self, index: int, path: Path | str):
        super().__init__(f"could not decode frame {index} of {path} (truncated or damaged file?)")
        self.index = index


class EncodeError(DreamvidError):
    """ffmpeg failed while encoding; the message ends with what ffmpeg said."""


@dataclass(frozen=True)
class VideoInfo:
    path: Path
    width: int  # as displayed, i.e. after rotation
    height: int
    fps: Fraction
    frame_count: int
    rotation: int  # clockwise degrees (0/90/180/270) to turn the stored picture for display
    has_audio: bool

    @property
    def duration(self) -> float:
        return float(self.frame_count / self.fps)


def _ffmpeg_exe() -> str:
    return imageio_ffmpeg.get_ffmpeg_exe()


def _ffmpeg_describe(path: Path) -> str:
    """ffmpeg's description of the input (stream list, rotation), which it prints on stderr."""
    result = subprocess.run([_ffmpeg_exe(), "-hide_banner", "-nostdin", "-i", str(path)],
                            capture_output=True, text=True, errors="replace", timeout=60)
    return result.stderr


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


def _open_capture(path: Path) -> cv2.VideoCapture:
    """A capture that returns frames as stored, so rotation is applied exactly once, by us."""
    capture = cv2.VideoCapture(str(path), cv2.CAP_FFMPEG)
    capture.set(cv2.CAP_PROP_ORIENTATION_AUTO, 0)
    return capture


def _to_display(bgr: np.ndarray, rotation: int) -> np.ndarray:
    rgb = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
    return cv2.rotate(rgb, _CV2_ROTATE[rotation]) if rotation else rgb


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

    capture = _open_capture(path)
    try:
        if not capture.isOpened():
            raise UserError(f"OpenCV cannot open {path} (unsupported codec or damaged file)")
        frame_count = int(capture.get(cv2.CAP_PROP_FRAME_COUNT))
        raw_fps = capture.get(cv2.CAP_PROP_FPS)
        if frame_count <= 0:
            raise UserError(f"video has no frames: {path}")
        if not math.isfinite(raw_fps) or raw_fps <= 0:
            raise UserError(f"cannot tell the frame rate of {path}")
        ok, first = capture.read()
        if not ok:
            raise UserError(f"cannot decode the first frame of {path} (truncated or corrupt file?)")
        # A file cut short keeps its header's frame count; a frame near the end shows whether the data is there.
        if frame_count > 1 + FRAME_COUNT_SLACK:
            capture.set(cv2.CAP_PROP_POS_FRAMES, frame_count - 1 - FRAME_COUNT_SLACK)
            if not capture.read()[0]:
                raise UserError(f"video is truncated or corrupt: {path} (frames near the end do not decode)")
    finally:
        capture.release()

    rotation = _parse_rotation(description)
    if rotation not in (0, 90, 180, 270):
        raise UserError(f"unsupported rotation of {rotation} degrees in {path}")
    height, width = _to_display(first, rotation).shape[:2]
    fps = Fraction(raw_fps).limit_denominator(1001)
    return VideoInfo(path, width, height, fps, frame_count, rotation, has_audio)


def read_frames(path: Path | str, start: int = 0, end: int | None = None, *,
                info: VideoInfo | None = None) -> Iterator[np.ndarray]:
    """Yield RGB uint8 frames [start, end) in display orientation, one at a time.

    Decodes sequentially from the first frame, because seeking in compressed video is not frame-exact.
    An explicit `end` is strict: any missing frame raises FrameDecodeError. With `end=None` (the container's
    frame count) a stream ending at most FRAME_COUNT_SLACK frames early is accepted, since some containers
    only estimate the count.
    """
    info = info or probe_video(path)
    strict = end is not None
    end = info.frame_count if end is None else end
    if not 0 <= start <= end:
        raise ValueError(f"bad frame range [{start}, {end})")
    capture = _open_capture(info.path)
    try:
        for index in range(end):
            ok = capture.grab()
            if ok and index >= start:
                ok, bgr = capture.retrieve()
            if not ok:
                if not strict and index >= info.frame_count - FRAME_COUNT_SLACK:
                    return
                raise FrameDecodeError(index, info.path)
            if index >= start:
                yield _to_display(bgr, info.rotation)
    finally:
        capture.release()


class VideoWriter:
    """Pipe RGB frames into ffmpeg as H.264, optionally muxing a span of another file's audio.

    Use as a context manager: a clean exit finishes the file; an exception inside the block, or an ffmpeg
    failure, kills ffmpeg and removes the partial file (ffmpeg failures raise EncodeError).
    """

    def __init__(self, path: Path | str, width: int, height: int, fps: Fraction, *, crf: int = 18,
                 audio_source: Path | None = None, audio_start: float = 0.0,
                 audio_duration: float | None = None, on_warning: Callable[[str], None] | None = None):
        self.path = Path(path)
        self.width, self.height = width, height
        # yuv420p halves the chroma resolution, so H.264 needs even sizes.
        self._pad = (height % 2, width % 2)
        out_width, out_height = width + self._pad[1], height + self._pad[0]
        if any(self._pad) and on_warning:
            on_warning(f"{width}x{height} frames padded to {out_width}x{out_height} for H.264")
        rate = f"{fps.numerator}/{fps.denominator}"
        args = [_ffmpeg_exe(), "-hide_banner", "-loglevel", "warning", "-y",
                "-f", "rawvideo", "-pix_fmt", "rgb24", "-s", f"{out_width}x{out_height}", "-framerate", rate,
                "-i", "pipe:0"]
        if audio_source is not None:
            args += ["-ss", f"{audio_start:.6f}"]
            if audio_duration is not None:
                args += ["-t", f"{audio_duration:.6f}"]
            args += ["-i", str(audio_source), "-map", "0:v:0", "-map", "1:a?"]
            codecs = list_audio(audio_source)
            copyable = codecs and all(c in _COPYABLE_AUDIO.get(self.path.suffix.lower(), ()) for c in codecs)
            args += ["-c:a", "copy"] if copyable else ["-c:a", "aac", "-b:a", "192k"]
            args += ["-shortest"]
        args += ["-c:v", "libx264", "-pix_fmt", "yuv420p", "-crf", str(crf), "-r", rate]
        if self.path.suffix.lower() in _FASTSTART:
            args += ["-movflags", "+faststart"]
        args.append(str(self.path))
        # stderr goes to a file, not a pipe: a chatty ffmpeg can never block on a full pipe.
        self._stderr = tempfile.TemporaryFile()
        self._process = subprocess.Popen(args, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                                         stderr=self._stderr)

    def write(self, frame: np.ndarray) -> None:
        if frame.shape != (self.height, self.width, 3) or frame.dtype != np.uint8:
            raise ValueError(f"expected a {self.height}x{self.width}x3 uint8 frame, got {frame.shape} {frame.dtype}")
        if any(self._pad):
            frame = np.pad(frame, ((0, self._pad[0]), (0, self._pad[1]), (0, 0)), mode="edge")
        try:
            self._process.stdin.write(np.ascontiguousarray(frame).tobytes())
        except (BrokenPipeError, OSError):
            self._fail("ffmpeg stopped accepting frames")

    def close(self) -> None:
        """Finish the file; raises EncodeError (and removes the file) if ffmpeg fails."""
        if self._process.stdin.closed:
            return
        try:
            self._process.stdin.close()
        except (BrokenPipeError, OSError):
            pass
        if self._process.wait() != 0:
            self._fail(f"ffmpeg exited with status {self._process.returncode}")
        self._stderr.close()

    def abort(self) -> None:
        """Stop ffmpeg and remove whatever it wrote."""
        self._process.kill()
        try:
            self._process.stdin.close()
        except (BrokenPipeError, OSError):
            pass
        self._process.wait()
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
