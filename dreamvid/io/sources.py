"""What the temporal pipeline reads: a video file or a numbered image sequence, behind one small
interface, so segments, flow and resume never touch a decoder."""
from __future__ import annotations

from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Iterator, Protocol

import numpy as np

from ..errors import UserError
from ..imageops import to_float
from .decode import DecodeCount, probe_video, read_frames
from .images import ImageDecodeError, read_image
from .probe import VIDEO_SUFFIXES, VideoInfo



class FrameSource(Protocol):
    path: Path
    width: int
    height: int
    frame_count: int
    fps: Fraction
    dtype: np.dtype  # sample type to write results in (uint8, or uint16 for 16-bit sequences and deep videos)
    has_audio: bool
    has_alpha: bool  # frames have an alpha plane (`alpha`), which a sink may keep
    info: "VideoInfo | None"  # a video's probe (timing, colour, keyframes); None for other sources
    # float16 or float32 for a sequence of float frames (EXR, float TIFF), written back so with their own
    # range (see `original`); None where the frames are integers
    float_type: np.dtype | None

    def read(self, start: int, end: int) -> Iterator[np.ndarray]:
        """RGB float32 frames in [0, 1], [start, end), decoded in order."""

    def alpha(self, index: int) -> np.ndarray | None:
        """The alpha plane of source frame `index`, where the source has one."""

    def original(self, index: int) -> np.ndarray:
        """Source frame `index` with its own values (a float frame's outside [0, 1] too), float32 RGB."""


def _decode_count() -> DecodeCount:
    return DecodeCount()


@dataclass(frozen=True)
class VideoSource:
    """A video file, decoded in 8 bits, or in 16 (and checkpointed so) when it stores more than 8 bits per
    sample: a 10-bit source reaches a 10-bit master without passing through 8 bits."""

    info: "VideoInfo"
    # Frames the decoder produced for this source's reads: each read seeks near its start, so this grows with
    # the frames read, not with how far into the clip they lie.
    decoded: "DecodeCount" = field(default_factory=_decode_count, compare=False, repr=False)

    @classmethod
    def open(cls, path: Path) -> "VideoSource":

        return cls(probe_video(path))

    path = property(lambda self: self.info.path)
    width = property(lambda self: self.info.width)
    height = property(lambda self: self.info.height)
    frame_count = property(lambda self: self.info.frame_count)
    fps = property(lambda self: self.info.fps)
    has_audio = property(lambda self: self.info.has_audio)
    has_alpha = False
    dtype = property(lambda self: video_dtype(self.info))

    def read(self, start: int, end: int) -> Iterator[np.ndarray]:
        for frame in read_frames(self.info.path, start, end, info=self.info, count=self.decoded, **deep(self.dtype)):
            yield to_float(frame)

    def alpha(self, index: int) -> None:
        return None

    float_type = None

    def original(self, index: int) -> np.ndarray:
        return next(self.read(index, index + 1))


def video_dtype(info: "VideoInfo") -> np.dtype:
    """The samples a video's frames are decoded and checkpointed in: uint16 for more than 8 bits."""
    return np.dtype(np.uint16 if info.colour.bits > 8 else np.uint8)


def deep(dtype: np.dtype) -> dict:
    """read_frames' option for frames of `dtype`: none for 8 bits, so an 8-bit video is read exactly as
    before 16-bit decoding existed."""
    return {} if dtype == np.uint8 else {"dtype": dtype}


@dataclass(frozen=True)
class SequenceSource:
    """Numbered stills in natural order, read as the frames of a clip."""

    path: Path  # the folder
    frames: tuple[Path, ...]
    width: int
    height: int
    fps: Fraction
    dtype: np.dtype = np.dtype(np.uint8)
    has_audio: bool = False
    info: None = None
    float_type: np.dtype | None = None
    has_alpha: bool = False  # the first frame has an alpha plane (a video of the frames may keep it)

    @classmethod
    def open(cls, folder: Path, frames: tuple[Path, ...], fps: float) -> "SequenceSource":
        """Size and sample type come from the first frame (the planner checked that all match). Float
        frames (EXR, float TIFF) are dreamed clipped to [0, 1] and checkpointed as 16-bit PNGs; what the
        dream changed is then added to each frame's own values (FramesSink), so their range is kept."""
        first = read_image(frames[0])
        height, width = first.rgb.shape[:2]
        floating = first.dtype.kind == "f"
        dtype = np.dtype(np.uint16) if floating else first.dtype
        return cls(folder, frames, width, height, Fraction(fps).limit_denominator(1001), np.dtype(dtype),
                   float_type=first.dtype if floating else None, has_alpha=first.alpha is not None)

    @property
    def frame_count(self) -> int:
        return len(self.frames)

    def read(self, start: int, end: int) -> Iterator[np.ndarray]:
        for path in self.frames[start:end]:
            rgb = read_image(path).rgb  # a float frame may hold values outside [0, 1], or NaN
            yield rgb if rgb.dtype == np.float32 and np.isfinite(rgb).all() and rgb.min() >= 0 and rgb.max() <= 1 \
                else np.clip(np.nan_to_num(rgb), 0.0, 1.0).astype(np.float32)

    def alpha(self, index: int) -> np.ndarray | None:
        return read_image(self.frames[index]).alpha

    def original(self, index: int) -> np.ndarray:
        return read_image(self.frames[index]).rgb


@dataclass(frozen=True)
class PictureSource:
    """A zoom's frames: the start picture for every index (only frame 0 dreams from it; the others start
    from the transformed dream). The picture is a still (upright, alpha dropped) or a video's last frame."""

    path: Path
    picture: np.ndarray = field(repr=False)  # float32 RGB in [0, 1]
    frame_count: int
    fps: Fraction
    dtype: np.dtype = np.dtype(np.uint8)
    has_audio: bool = False
    info: None = None
    has_alpha = False

    width = property(lambda self: self.picture.shape[1])
    height = property(lambda self: self.picture.shape[0])

    @classmethod
    def open(cls, path: Path, frame_count: int, fps: Fraction = Fraction(25)) -> "PictureSource":
        """A damaged picture is a UserError, as at planning."""

        if path.suffix.lower() in VIDEO_SUFFIXES:
            info = probe_video(path)
            frame = None
            for frame in read_frames(path, info.frame_count - 1, info.frame_count, info=info):
                pass
            return cls(path, to_float(frame), frame_count, fps)
        try:
            picture = np.clip(read_image(path).rgb, 0.0, 1.0)
        except ImageDecodeError as error:
            raise UserError(str(error)) from None
        return cls(path, picture, frame_count, fps)

    def read(self, start: int, end: int) -> Iterator[np.ndarray]:
        for _ in range(start, end):
            yield self.picture

    def alpha(self, index: int) -> None:
        return None

    float_type = None

    def original(self, index: int) -> np.ndarray:
        return self.picture
