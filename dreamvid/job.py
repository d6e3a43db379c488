"""What to render, as plain values: a Job (one input and where its result goes), its Kind, the motion
of a zoom, and the result of a job. Planning (jobs.py) makes them; the runners take them."""
from __future__ import annotations

import dataclasses
import enum
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .errors import UserError
from .schedule import Schedule
from .sidecar import sidecar_path

if TYPE_CHECKING:  # pragma: no cover
    from .io.probe import VideoInfo


class Kind(enum.StrEnum):
    """What a job renders. A str, so that plans and records hold the plain word."""

    IMAGE = "image"  # one still
    STILLS = "stills"  # a folder of independent stills
    VIDEO = "video"  # a video file, dreamed as a clip
    SEQUENCE = "sequence"  # numbered images dreamed as a clip
    ZOOM = "zoom"  # a picture zoomed into, frame after frame

    @property
    def clip(self) -> bool:
        """Dreamed frame after frame, each from the one before, with a resumable work folder of pieces."""
        return self in (Kind.VIDEO, Kind.SEQUENCE, Kind.ZOOM)

    @property
    def from_source_frames(self) -> bool:
        """A clip whose frames come from a source (a video or a sequence), so a cluster can dream it."""
        return self in (Kind.VIDEO, Kind.SEQUENCE)


MAX_ZOOM = 10.0  # per frame; beyond it a frame holds a few pixels of the one before
MAX_ZOOM_FRAMES = 1_000_000


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
        """Validated values, or a UserError: scales in (0, 10], finite angles and shifts, 1+ frames (an
        expression is evaluated at every frame of the zoom, and checked so)."""
        if not 1 <= frames <= MAX_ZOOM_FRAMES:
            raise UserError(f"--frames must be between 1 and {MAX_ZOOM_FRAMES} for a zoom (got {frames})")
        schedules = {name: Schedule.parse(text, option) for name, text, option in (
            ("zoom", zoom, "--zoom"), ("rotate", rotate, "--rotate"),
            ("translate_x", translate_x, "--translate-x"), ("translate_y", translate_y, "--translate-y"))}
        values = {name: schedule.values() + ([schedule.at(k, fps) for k in range(frames)] if schedule.expressions
                                             else []) for name, schedule in schedules.items()}
        for name, schedule in schedules.items():
            option = "--" + name.replace("_", "-")
            if not all(math.isfinite(value) for value in values[name]):
                raise UserError(f"{option} must be a finite number (got {schedule})")
        if not all(0 < value <= MAX_ZOOM for value in values["zoom"]):
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
class Job:
    """One input and where its result goes.

    A video or sequence goes to a video file, or to a folder of images when `frame_names` is set (one
    name per source frame); a zoom to a video file, with its `motion`."""

    kind: Kind
    source: Path
    output: Path
    frames: tuple[Path, ...] = field(default=(), repr=False)
    frame_names: tuple[str, ...] | None = field(default=None, repr=False)
    skip: bool = False  # the output exists and --overwrite was not given
    identity: dict | None = field(default=None, repr=False, compare=False)  # of the source, for the plan
    info: VideoInfo | None = field(default=None, repr=False, compare=False)  # a video's probe, made once
    motion: ZoomMotion | None = field(default=None, repr=False, compare=False)  # a zoom's
    # The parameters that shape its frames, resolved once by the planner: the fingerprint's and the record's.
    params: dict | None = field(default=None, repr=False, compare=False)
    failure: str | None = None  # why an input of a queue cannot be rendered (it fails alone)

    def __post_init__(self) -> None:
        object.__setattr__(self, "kind", Kind(self.kind))

    def with_plan(self, *, skip: bool, params: dict) -> "Job":
        return dataclasses.replace(self, skip=skip, params=params)

    @property
    def to_folder(self) -> bool:
        return self.frame_names is not None or self.kind is Kind.STILLS

    @property
    def sidecar(self) -> Path:
        """The JSON record of the render: beside a file, inside a folder."""
        return sidecar_path(self.output, self.to_folder)

    @property
    def work_folder(self) -> Path:
        """Where a long job keeps its finished pieces until the output is complete."""
        return self.output.with_name(self.output.name + (".parts" if self.kind.clip else ".partial"))


@dataclass(frozen=True)
class JobResult:
    job: Job
    frames: int
    seconds: float
    status: str = "done"  # done, skipped or failed
    error: str | None = None
