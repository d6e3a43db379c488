"""Where the finished frames of a video or sequence go: an encoded video with the source's audio,
or a folder of images. Either appears complete or not at all."""
from __future__ import annotations

import os
import shutil
from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Iterable, Protocol

import numpy as np

from ..atomic import naming, new_staging, partial_name, writing
from ..imageops import from_float, resize
from ..sidecar import publish_folder, sidecar_path, write_json
from .codecs import CODECS, DEFAULT_CODEC
from .images import Picture, write_image

if TYPE_CHECKING:  # pragma: no cover
    from .probe import VideoInfo


class FrameSink(Protocol):
    """Where a clip's finished frames go, in order. Its output appears complete (at `close`) or not at all."""

    chunked: bool  # it takes encoded chunks (ChunkedSink), so a render may keep its frames as chunks

    def write(self, frame: np.ndarray) -> None:
        """The next frame, float RGB in [0, 1]."""

    def close(self, data: dict) -> None:
        """Finish the output, with `data` as its record."""

    def abort(self) -> None:
        """Stop, and remove whatever was written."""


class ChunkedSink(FrameSink, Protocol):
    """A sink that takes a render's frames as chunks encoded with the output's settings, joined at the end."""

    fps: Fraction

    chunk_suffix: str  # the container a chunk is written in (the codec's own: QuickTime for ProRes)
    size_ratio: float  # bytes of a chunk per byte of 8-bit RGB frames, about, for the disk warning

    def encode_chunk(self, path: Path, frames: Iterable[np.ndarray], first: int) -> None:
        """Frames (of source frames `first`...) encoded into `path` with the output's settings; the file
        appears complete or not at all."""

    def join(self, chunks: list[Path], data: dict) -> None:
        """The chunks joined without encoding them again, published as `close` does."""


class VideoSink:
    """Encodes to a temporary file beside the output, renamed when complete.

    With the source video's `info`, frames [start, end) keep its timing (a variable-rate source keeps each
    frame's timestamp), the audio is cut from where frame `start` begins, and its colour tags are carried over.
    The output is written with `codec` at the depth it holds of the source's `source_bits` (default: the
    video's own), and with the source frames' `alpha(index)` where it keeps alpha (else a warning says it is
    dropped); the record says which (`video`: codec, profile, pixel format, bits, alpha).

    A constant-rate video is `chunked`: a render may encode its frames in chunks (`encode_chunk`, each with
    the final settings and starting on a keyframe) and `join` them; `write` then `close` streams the frames
    through one encoder instead (a variable-rate video only takes this way)."""

    def __init__(self, output: Path, size: tuple[int, int], fps: Fraction, crf: int, start: int, end: int,
                 warn: Callable[[str], None], audio_from: Path | None, info: "VideoInfo | None" = None, *,
                 codec: str = DEFAULT_CODEC, source_bits: int | None = None,
                 alpha: Callable[[int], np.ndarray | None] | None = None):
        from .colour import colour_warning, output_colour

        self.height, self.width = size
        self.output, self.fps, self.crf, self.warn = output, fps, crf, warn
        self.codec, self.start = CODECS[codec], start
        self.bits = self.codec.depth(source_bits if source_bits is not None else info.colour.bits if info else 8)
        if alpha is not None and not self.codec.alpha:
            warn(f"the frames' alpha channel is dropped: {self.codec.title} holds none "
                 f"(--codec prores, in .mov, or ffv1 keeps it)")
        self.alpha = alpha if self.codec.alpha else None
        self.sample_type = np.dtype(np.uint16 if self.bits > 8 else np.uint8)
        self.temporary = partial_name(output)
        self.audio = (audio_from, *(info.span(start, end) if info
                                    else (float(start / fps), float((end - start) / fps))))
        self.frame_times = info.frame_times(start, end) if info and info.variable_rate else None
        self.colour = output_colour(info.colour if info else None, self.height)
        if info and (note := colour_warning(info.colour, self.bits, self.codec.title)):
            warn(note)
        self._warned = False  # the encoder's own warnings (e.g. padding) are said once, not once per chunk
        self.written = 0
        self.writer = None if self.chunked else self._writer(self.temporary, audio=True)

    @property
    def chunked(self) -> bool:
        return self.frame_times is None

    @property
    def chunk_suffix(self) -> str:
        return self.codec.containers[0]

    @property
    def size_ratio(self) -> float:
        """Bytes of the video per byte of 8-bit RGB frames, about (codecs.Codec.size_ratio)."""
        return self.codec.size_ratio

    def description(self) -> dict:
        """What the video is written as, for its record."""
        alpha = self.alpha is not None
        return {"codec": self.codec.name, "encoder": self.codec.encoder, "profile": self.codec.profile(self.bits, alpha),
                "pixel_format": self.codec.pixel_format(self.bits, alpha), "bits": self.bits, "alpha": alpha}

    def _samples(self, frame: np.ndarray, index: int) -> np.ndarray:
        """A float frame as the encoder takes it: 8 or 16 bits, with the source frame's alpha plane if kept."""
        if self.alpha is not None:
            alpha = self.alpha(index)
            alpha = np.ones(frame.shape[:2], np.float32) if alpha is None else resize(alpha, *frame.shape[:2])
            frame = np.dstack([frame, alpha])
        return from_float(frame, self.sample_type)

    def _writer(self, path: Path, audio: bool):
        from .encode import VideoWriter

        source, start, duration = self.audio if audio else (None, 0.0, None)
        warn, self._warned = (None if self._warned else self.warn), True
        return VideoWriter(path, self.width, self.height, self.fps, crf=self.crf, codec=self.codec.name,
                           bits=self.bits, alpha=self.alpha is not None, audio_source=source,
                           audio_start=start, audio_duration=duration, colour=self.colour,
                           frame_times=self.frame_times if audio else None, on_warning=warn)

    def write(self, frame: np.ndarray) -> None:
        if self.writer is None:
            self.writer = self._writer(self.temporary, audio=True)
        with naming(self.temporary, self.output):
            self.writer.write(self._samples(frame, self.start + self.written))
        self.written += 1

    def encode_chunk(self, path: Path, frames: Iterable[np.ndarray], first: int | None = None) -> None:
        """Frames (float RGB; source frames `first`..., which only alpha needs) encoded into `path` with the
        output's settings, without audio; the file appears complete or not at all."""
        if first is None and self.alpha is not None:
            raise ValueError("a chunk with alpha needs the index of its first frame")
        with writing(path) as temporary, self._writer(temporary, audio=False) as writer:
            for index, frame in enumerate(frames, first or 0):
                writer.write(self._samples(frame, index))

    def join(self, chunks: list[Path], data: dict) -> None:
        """The chunks joined without re-encoding, with the audio, published as `close` does."""
        from .encode import join_chunks

        source, start, duration = self.audio
        join_chunks(chunks, self.temporary, audio_source=source, audio_start=start, audio_duration=duration,
                    codec=self.codec.name)
        self._publish(data)

    def close(self, data: dict) -> None:
        if self.writer is None:
            self.writer = self._writer(self.temporary, audio=True)
        with naming(self.temporary, self.output):
            self.writer.close()
        self._publish(data)

    def _publish(self, data: dict) -> None:
        """The record goes first, with the video's size: a kill before the rename leaves an old (or
        no) video that does not match it, which a rerun renders again rather than takes as done."""
        write_json(sidecar_path(self.output, folder=False),
                   {**data, "video": self.description(), "bytes": self.temporary.stat().st_size})
        os.replace(self.temporary, self.output)

    def abort(self) -> None:
        if self.writer is not None:
            self.writer.abort()
        self.temporary.unlink(missing_ok=True)


class FramesSink:
    """Writes images into a hidden folder beside the output, swapped in when all are written (with
    the old folder's other files), so the folder is always the old one or the new one, complete.

    The format follows each name's suffix; `dtype` keeps 16-bit sources 16-bit; `alpha(index)`, when
    given, returns the source frame's alpha plane so it is kept."""

    chunked = False

    def __init__(self, output: Path, names: tuple[str, ...], dtype: np.dtype,
                 alpha: Callable[[int], np.ndarray | None] | None = None, first_index: int = 0,
                 original: Callable[[int], np.ndarray] | None = None):
        """`original(index)`: the float source frame, whose own values (outside [0, 1] too) the dream's
        change is added to, for a float sequence written back as float (EXR, float TIFF)."""
        self.output, self.names, self.dtype, self.alpha = output, names, dtype, alpha
        self.first_index, self.original = first_index, original
        self.temporary = new_staging(output)
        self.written = 0

    def write(self, frame: np.ndarray) -> None:
        index = self.first_index + self.written
        alpha = self.alpha(index) if self.alpha else None
        if alpha is not None:
            alpha = resize(alpha, *frame.shape[:2])
        if self.original is not None:
            source = resize(self.original(index), *frame.shape[:2])
            frame = source + (frame - np.clip(np.nan_to_num(source), 0.0, 1.0))
        name = self.names[self.written]
        with naming(self.temporary / name, self.output / name):
            write_image(self.temporary / name, Picture(frame, alpha, self.dtype))
        self.written += 1

    def close(self, data: dict) -> None:
        publish_folder(self.temporary, self.output, list(self.names), data)

    def abort(self) -> None:
        shutil.rmtree(self.temporary, ignore_errors=True)
