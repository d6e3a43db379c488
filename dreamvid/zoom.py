"""The classic infinite DeepDream zoom: every frame is the previous dreamed frame zoomed, rotated and
moved about the centre, then dreamed a little more, so the patterns keep growing out of themselves.

A zoom is a temporal render of one segment whose source is the start picture and whose carry-over is
that transform instead of the optical flow; it goes through `videojob.render_sequence`, so it has the
video's progress, checkpoints, resume, record and atomic output."""
from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from fractions import Fraction
from pathlib import Path
from typing import Any, Iterator

import cv2
import numpy as np

from .errors import UserError
from .jobs import VIDEO_OUTPUTS, VIDEO_SUFFIXES, Job, JobResult, check_target, into_folder, typed_folder
from .jobs import resolved_parameters
from .temporal.resume import check_resumable, job_plan, source_identity
from .progress import Reporter
from .schedule import Schedule
from .settings import Settings, build_settings
from .stills import ImageDecodeError, check_memory, inspect_image, read_image

MAX_ZOOM = 10.0  # per frame; beyond it a frame holds a few pixels of the one before
MAX_FRAMES = 1_000_000


def motion_matrix(height: int, width: int, zoom: float = 1.0, rotate: float = 0.0, translate_x: float = 0.0,
                  translate_y: float = 0.0) -> np.ndarray:
    """The 2x3 affine map of one step: scale by `zoom` and turn by `rotate` degrees (counter-clockwise)
    about the picture's centre, then move by (translate_x, translate_y) pixels (right, down)."""
    matrix = cv2.getRotationMatrix2D(((width - 1) / 2, (height - 1) / 2), rotate, zoom)
    matrix[:, 2] += (translate_x, translate_y)
    return matrix


def feedback_transform(image: np.ndarray, zoom: float = 1.0, rotate: float = 0.0, translate_x: float = 0.0,
                       translate_y: float = 0.0) -> np.ndarray:
    """One step of the zoom on a float picture; the border is filled by reflection, so no black edge
    creeps in from the sides when zooming out or moving."""
    height, width = image.shape[:2]
    matrix = motion_matrix(height, width, zoom, rotate, translate_x, translate_y)
    return cv2.warpAffine(image, matrix, (width, height), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)


@dataclass(frozen=True)
class ZoomMotion:
    """The motion of a zoom, each a schedule over the output frames (see schedule.py), and its length."""

    zoom: Schedule
    rotate: Schedule
    translate_x: Schedule
    translate_y: Schedule
    frames: int
    fps: float = 25.0

    @classmethod
    def parse(cls, zoom: str = "1.02", rotate: str = "0", translate_x: str = "0", translate_y: str = "0",
              frames: int = 100, fps: float = 25.0) -> "ZoomMotion":
        """Validated values, or a UserError: scales in (0, 10], finite angles and shifts, 1+ frames."""
        if not 1 <= frames <= MAX_FRAMES:
            raise UserError(f"--frames must be between 1 and {MAX_FRAMES} for a zoom (got {frames})")
        schedules = {name: Schedule.parse(text, option) for name, text, option in (
            ("zoom", zoom, "--zoom"), ("rotate", rotate, "--rotate"),
            ("translate_x", translate_x, "--translate-x"), ("translate_y", translate_y, "--translate-y"))}
        for name, schedule in schedules.items():
            option = "--" + name.replace("_", "-")
            if not all(math.isfinite(value) for value in schedule.values()):
                raise UserError(f"{option} must be a finite number (got {schedule})")
        if not all(0 < value <= MAX_ZOOM for value in schedules["zoom"].values()):
            raise UserError(f"--zoom is a scale per frame and must be > 0 and <= {MAX_ZOOM:g} "
                            f"(1.02 zooms in 2% per frame; got {schedules['zoom']})")
        return cls(**schedules, frames=frames, fps=fps)

    def at(self, index: int) -> tuple[float, float, float, float]:
        """(zoom, rotate, translate_x, translate_y) of the step that makes frame `index`."""
        return tuple(schedule.at(index, self.fps)
                     for schedule in (self.zoom, self.rotate, self.translate_x, self.translate_y))

    def to_dict(self) -> dict[str, Any]:
        """For the fingerprint and the record."""
        return {"zoom": str(self.zoom), "rotate": str(self.rotate), "translate_x": str(self.translate_x),
                "translate_y": str(self.translate_y), "zoom_frames": self.frames, "zoom_fps": self.fps}


@dataclass(frozen=True)
class ZoomSource:
    """The frames a zoom's chain reads: the start picture for every index (only frame 0 dreams from it;
    the others start from the transformed dream)."""

    path: Path
    picture: np.ndarray = field(repr=False)  # float32 RGB in [0, 1]
    frame_count: int
    fps: Fraction
    dtype: np.dtype = np.dtype(np.uint8)
    has_audio: bool = False

    width = property(lambda self: self.picture.shape[1])
    height = property(lambda self: self.picture.shape[0])

    def read(self, start: int, end: int) -> Iterator[np.ndarray]:
        for _ in range(start, end):
            yield self.picture


@dataclass(frozen=True)
class ZoomJob(Job):
    motion: ZoomMotion | None = field(default=None, compare=False)

    @property
    def work_folder(self) -> Path:
        return self.output.with_name(self.output.name + ".parts")


def start_picture(path: Path) -> np.ndarray:
    """The picture a zoom starts from: a still (turned upright, alpha dropped), or a video's last frame."""
    from .imageops import to_float

    if path.suffix.lower() in VIDEO_SUFFIXES:
        from .video import probe_video, read_frames

        info = probe_video(path)
        frame = None
        for frame in read_frames(path, info.frame_count - 1, info.frame_count, info=info):
            pass
        return to_float(frame)
    try:
        return np.clip(read_image(path).rgb, 0.0, 1.0)
    except ImageDecodeError as error:
        raise UserError(str(error)) from None


def zoom_settings(settings: Settings) -> Settings:
    """A zoom is one chain with no optical flow: its carry-over is the transform."""
    return replace(settings, flow=False, streams=1, frames=None,
                   flow_octaves=0 if settings.flow_octaves is None else settings.flow_octaves)


def plan_zoom_jobs(inputs: list[Path], settings: Settings, motion: ZoomMotion, output: Path | str | None = None, *,
                   overwrite: bool = False, fresh: bool = False) -> list[ZoomJob]:
    """Validate the inputs and outputs of a zoom (or a queue of them) before TensorFlow loads. `output` as
    typed: a folder (existing, or `out/`) holds NAME_zoom.mp4, as a render's does NAME_dream.png."""
    from .models import check_tile, resolve_layers, resolve_weights

    into = typed_folder(output)
    output = Path(output) if output is not None else None
    if not inputs:
        raise UserError("no input given")
    resolve_weights(settings.model, settings.weights)
    resolve_layers(settings.model, settings.layers)
    check_tile(settings.model, settings.tile)
    if settings.audio_driven:  # a zoom's frames come from a picture: there is no soundtrack to follow
        raise UserError("a zoom has no soundtrack: use keyframes, not audio:LOW..HIGH")
    if len(inputs) > 1 and output is not None and (output.suffix or not output.is_dir()):
        raise UserError(f"with several inputs, -o names an existing folder to write into (got {output})")
    jobs = []
    for source in inputs:
        if not source.is_file():
            raise UserError(f"input not found: {source}" if not source.exists() else
                            f"a zoom starts from a picture or a video, not a folder: {source}")
        if source.suffix.lower() in VIDEO_SUFFIXES:
            from .video import probe_video

            info = probe_video(source)
            identity = source_identity(source, (), info.frame_count, (info.width, info.height))
        else:
            check_memory(inspect_image(source), settings.max_side)
            start_picture(source)  # a damaged picture fails now, not after TensorFlow loads
            identity = source_identity(source, (source,), 1, None)
        default = source.with_name(source.stem + "_zoom.mp4")
        target, new_folder = (default, False) if output is None else (
            into_folder(output, default.name, into) if len(inputs) == 1 else (output / default.name, False))
        if target.suffix.lower() not in VIDEO_OUTPUTS:
            folder = "" if target.suffix else f", or a folder: {target}/"
            raise UserError(f"output {target}: a zoom is a video: give .mp4, .mov, .mkv or .m4v{folder}")
        done = check_target(source, target, "video", None, overwrite, new_folder=new_folder)
        jobs.append(ZoomJob("zoom", source, target, skip=done and not overwrite, identity=identity, motion=motion))
    if len({job.output.resolve() for job in jobs}) != len(jobs):
        raise UserError("two inputs would write the same output: rename them or render them separately")
    if not fresh:
        params = {**resolved_parameters(zoom_settings(settings)), **motion.to_dict()}
        for job in jobs:
            if not job.skip:
                check_resumable(job.work_folder, job_plan(job, params))
    return jobs


def run_zoom(job: ZoomJob, dreamer, settings: Settings, reporter: Reporter, batch: int, *,
             fresh: bool = False, keep_parts: bool = False) -> JobResult:
    """Frame 0 is the start picture dreamed with --steps; each later frame the transformed previous
    dream, dreamed with --flow-steps."""
    from .sinks import VideoSink
    from .temporal.local import render_sequence

    settings = zoom_settings(settings)
    motion = job.motion
    fps = Fraction(settings.fps).limit_denominator(1001)
    source = ZoomSource(job.source, start_picture(job.source), motion.frames, fps)

    def sink(size, start, end):
        return VideoSink(job.output, size, fps, settings.crf, start, end, reporter.warn, None)

    def carry(frame, prev_source, prev_dream):
        return feedback_transform(prev_dream, *motion.at(frame.index)), None

    return render_sequence(job, source, sink, dreamer, settings, reporter, 1, fresh=fresh, keep_parts=keep_parts,
                           carry=carry, extra=motion.to_dict())


def render_zoom(inputs: list[str | Path] | str | Path, output: str | Path | None = None, *, frames: int = 100,
                zoom: str | float = "1.02", rotate: str | float = "0", translate_x: str | float = "0",
                translate_y: str | float = "0", reporter: Reporter | None = None, overwrite: bool = False,
                fresh: bool = False, keep_parts: bool = False, config: str | Path | None = None,
                **options: Any) -> list[JobResult]:
    """Zoom into pictures (or videos' last frames) as `dreamvid zoom` does; options are the render's."""
    from .api import run_queue

    paths = [Path(p) for p in ([inputs] if isinstance(inputs, (str, Path)) else inputs)]
    settings = build_settings(options, Path(config) if config else None)
    motion = ZoomMotion.parse(str(zoom), str(rotate), str(translate_x), str(translate_y), frames, settings.fps)
    reporter = reporter or Reporter()
    jobs = plan_zoom_jobs(paths, settings, motion, output or None, overwrite=overwrite, fresh=fresh)
    return run_queue(jobs, settings, reporter, fresh=fresh, keep_parts=keep_parts)
