"""Encode RGB frames through an ffmpeg pipe with one of the codecs of codecs.py (H.264 by default), carrying
a span of the source's audio and its colour tags; and join chunks encoded with the same settings without
encoding them again. Frames of more than 8 bits go through the pipe as 16-bit RGB, so a 10-bit source is
not quantised to 8 bits on its way to a 10-bit master."""
from __future__ import annotations

import shutil
import subprocess
import tempfile
from collections.abc import Callable, Sequence
from fractions import Fraction
from pathlib import Path

import cv2
import numpy as np

from ..errors import DreamvidError
from .codecs import CODECS, DEFAULT_CODEC, subsampling
from .colour import Colour, encode_filters, output_colour
from .ffmpeg import ffmpeg_exe, ffmpeg_path, list_audio
from .images import write_samples


# Audio codecs each output container takes as they are; anything else is re-encoded to AAC.
_COPYABLE_AUDIO = {
    ".mp4": {"aac", "mp3", "alac"},
    ".m4v": {"aac"},
    ".mov": {"aac", "mp3", "alac", "pcm_s16le"},
    ".mkv": {"aac", "mp3", "opus", "vorbis", "flac", "ac3", "eac3", "pcm_s16le"},
}


_FASTSTART = {".mp4", ".m4v", ".mov"}


def _container_args(path: Path) -> list[str]:
    """The index at the front of MP4 and QuickTime files; colour tags in QuickTime whatever the codec (FFV1's
    are left out otherwise)."""
    suffix = path.suffix.lower()
    if suffix not in _FASTSTART:
        return []
    return ["-movflags", "+faststart+write_colr" if suffix == ".mov" else "+faststart"]


class EncodeError(DreamvidError):
    """ffmpeg failed while encoding; the message ends with what ffmpeg said."""


class VideoWriter:
    """Pipe RGB frames into ffmpeg with `codec` (codecs.CODECS) at `bits` per sample, with an alpha plane
    where `alpha` (RGBA frames), optionally muxing a span of another file's audio. Frames are uint8, or
    uint16 when `bits` > 8 (`sample_type` says which).

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
                 codec: str = DEFAULT_CODEC, bits: int = 8, alpha: bool = False,
                 audio_source: Path | None = None, audio_start: float = 0.0,
                 audio_duration: float | None = None, colour: Colour | None = None,
                 frame_times: Sequence[float] | None = None, on_warning: Callable[[str], None] | None = None):
        self.path = Path(path)
        self.width, self.height = width, height
        self.codec, self.bits, self.alpha = CODECS[codec], bits, alpha
        self.pixel_format = self.codec.pixel_format(bits, alpha)
        self.sample_type = np.dtype(np.uint16 if bits > 8 else np.uint8)
        self._planes = 4 if alpha else 3
        # 4:2:0 halves the chroma resolution both ways (even sizes), 4:2:2 across (an even width).
        rows, columns = subsampling(self.pixel_format)
        self._pad = (-height % rows, -width % columns)
        out_width, out_height = width + self._pad[1], height + self._pad[0]
        if any(self._pad) and on_warning:
            on_warning(f"{width}x{height} frames padded to {out_width}x{out_height} for {self.codec.title}")
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
        pipe = {(False, 3): "rgb24", (False, 4): "rgba", (True, 3): "rgb48le", (True, 4): "rgba64le"}[
            (bits > 8, self._planes)]
        args = [ffmpeg_exe(), "-hide_banner", "-loglevel", "warning", "-y",
                "-f", "rawvideo", "-pix_fmt", pipe, "-s", f"{out_width}x{out_height}", "-framerate", self._rate,
                "-i", "pipe:0"]
        self._process = subprocess.Popen(args + self._output_args(), stdin=subprocess.PIPE,
                                         stdout=subprocess.DEVNULL, stderr=self._stderr)

    def _output_args(self) -> list[str]:
        """Audio input and mapping, encoder and container settings, after the picture's input."""
        args = _audio_args(self.path, *self._audio)
        args += ["-vf", encode_filters(self._colour, self.pixel_format)]
        args += self.codec.encoder_args(self.path.suffix.lower(), self._crf, self.bits, self.alpha)
        if self._frame_times is None:
            args += ["-r", self._rate]
        else:
            args += ["-fps_mode", "passthrough", "-enc_time_base:v", "demux", "-video_track_timescale", "90000"]
        return args + _container_args(self.path) + [ffmpeg_path(self.path)]

    def write(self, frame: np.ndarray) -> None:
        if frame.shape != (self.height, self.width, self._planes) or frame.dtype != self.sample_type:
            raise ValueError(f"expected a {self.height}x{self.width}x{self._planes} {self.sample_type} frame, "
                             f"got {frame.shape} {frame.dtype}")
        if any(self._pad):
            frame = np.pad(frame, ((0, self._pad[0]), (0, self._pad[1]), (0, 0)), mode="edge")
        if self._folder is not None:
            if self._written >= len(self._frame_times) - 1:
                raise ValueError(f"more frames than the {len(self._frame_times) - 1} timed ones")
            name = self._folder / f"{self._written:07d}.png"
            try:  # not cv2.imwrite: on a full disk libpng prints its own line and OpenCV returns False
                order = [2, 1, 0, 3][:self._planes]  # OpenCV writes BGR(A)
                write_samples(name, np.ascontiguousarray(frame[..., order]), [cv2.IMWRITE_PNG_COMPRESSION, 1])
            except OSError as error:  # a full disk: one error naming the video, as ffmpeg's would
                self.abort()
                raise OSError(error.errno, error.strerror, str(self.path)) from None
            self._written += 1
            return
        try:
            self._process.stdin.write(np.ascontiguousarray(frame, self.sample_type.newbyteorder("<")).tobytes())
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
        args = [ffmpeg_exe(), "-hide_banner", "-loglevel", "warning", "-y", "-nostdin",
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
                audio_start: float = 0.0, audio_duration: float | None = None, codec: str = DEFAULT_CODEC) -> None:
    """Join chunks that VideoWriter made with the same settings (each starts on a keyframe) into one video
    without re-encoding (ffmpeg's concat demuxer), muxing a span of another file's audio as VideoWriter
    does; raises EncodeError (and removes the file) if ffmpeg fails."""
    path = Path(path)
    with tempfile.TemporaryDirectory() as folder, tempfile.TemporaryFile() as stderr:
        listing = Path(folder) / "chunks.ffconcat"
        listing.write_text("ffconcat version 1.0\n" + "".join(
            "file '" + str(Path(chunk).resolve()).replace("'", "'\\''") + "'\n" for chunk in chunks))
        args = [ffmpeg_exe(), "-hide_banner", "-loglevel", "warning", "-y", "-nostdin",
                "-f", "concat", "-safe", "0", "-i", str(listing)]
        args += _audio_args(path, audio_source, audio_start, audio_duration) + ["-c:v", "copy"]
        args += CODECS[codec].tag(path.suffix.lower()) + _container_args(path)
        if subprocess.run(args + [ffmpeg_path(path)], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                          stderr=stderr).returncode != 0:
            stderr.seek(0)
            tail = stderr.read().decode(errors="replace").strip()[-2000:]
            path.unlink(missing_ok=True)
            raise EncodeError(f"ffmpeg could not join the chunks of {path}: {tail or '(no output)'}")
