"""Where the finished frames of a video or sequence go: an encoded video with the source's audio,
or a folder of images. Either appears complete or not at all."""
from __future__ import annotations

import os
import shutil
from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING, Callable

import numpy as np

from .atomic import new_staging, partial_name
from .imageops import from_float, resize
from .sidecar import publish_folder, sidecar_path, write_json
from .stills import Picture, write_image

if TYPE_CHECKING:  # pragma: no cover
    from .video import VideoInfo


class VideoSink:
    """Encodes to a temporary file beside the output, renamed when complete.

    With the source video's `info`, frames [start, end) keep its timing (a variable-rate source keeps each
    frame's timestamp), the audio is cut from where frame `start` begins, and its colour tags are carried over."""

    def __init__(self, output: Path, size: tuple[int, int], fps: Fraction, crf: int, start: int, end: int,
                 warn: Callable[[str], None], audio_from: Path | None, info: "VideoInfo | None" = None):
        from .video import VideoWriter, colour_warning, output_colour

        height, width = size
        self.output = output
        self.temporary = partial_name(output)
        audio_start, audio_duration = (info.span(start, end) if info
                                       else (float(start / fps), float((end - start) / fps)))
        frame_times = info.frame_times(start, end) if info and info.variable_rate else None
        colour = output_colour(info.colour if info else None, height)
        if info and (note := colour_warning(info.colour)):
            warn(note)
        self.writer = VideoWriter(self.temporary, width, height, fps, crf=crf, audio_source=audio_from,
                                  audio_start=audio_start, audio_duration=audio_duration, colour=colour,
                                  frame_times=frame_times, on_warning=warn)

    def write(self, frame: np.ndarray) -> None:
        self.writer.write(from_float(frame, np.uint8))

    def close(self, data: dict) -> None:
        """The record goes first, with the video's size: a kill before the rename leaves an old (or
        no) video that does not match it, which a rerun renders again rather than takes as done."""
        self.writer.close()
        write_json(sidecar_path(self.output, folder=False), {**data, "bytes": self.temporary.stat().st_size})
        os.replace(self.temporary, self.output)

    def abort(self) -> None:
        self.writer.abort()


class FramesSink:
    """Writes images into a hidden folder beside the output, swapped in when all are written (with
    the old folder's other files), so the folder is always the old one or the new one, complete.

    The format follows each name's suffix; `dtype` keeps 16-bit sources 16-bit; `alpha(index)`, when
    given, returns the source frame's alpha plane so it is kept."""

    def __init__(self, output: Path, names: tuple[str, ...], dtype: np.dtype,
                 alpha: Callable[[int], np.ndarray | None] | None = None, first_index: int = 0):
        self.output, self.names, self.dtype, self.alpha = output, names, dtype, alpha
        self.first_index = first_index
        self.temporary = new_staging(output)
        self.written = 0

    def write(self, frame: np.ndarray) -> None:
        index = self.first_index + self.written
        alpha = self.alpha(index) if self.alpha else None
        if alpha is not None:
            alpha = resize(alpha, *frame.shape[:2])
        write_image(self.temporary / self.names[self.written], Picture(frame, alpha, self.dtype))
        self.written += 1

    def close(self, data: dict) -> None:
        publish_folder(self.temporary, self.output, list(self.names), data)

    def abort(self) -> None:
        shutil.rmtree(self.temporary, ignore_errors=True)
