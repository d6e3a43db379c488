"""Plan a temporal render: the frame range, the size, the shots and the segments. A plan is plain data
(it is written into the work folder and sent to cluster workers as is) and is decided once: every resume
of a render goes on with the plan it started with."""
from __future__ import annotations

from dataclasses import asdict, dataclass, replace

from typing import Callable

import numpy as np

from ..colours import colour_statistics
from ..flow import MotionEstimator
from ..imageops import flow_fits, from_float, output_size, resize, to_float
from ..job import Job
from ..journal.resume import job_plan
from ..journal.workfolder import WorkFolder
from ..settings import FrameValues, Settings, frame_range
from ..io.audio import sound_envelope
from ..io.sources import FrameSource


@dataclass(frozen=True)
class Segment:
    """A chain of frames dreamed in order: [start, end) are kept; the `warmup` frames before
    `start` are dreamed to build up the carried dream and cross-fade from the segment before."""

    index: int
    start: int
    end: int
    warmup: int = 0

    @property
    def first(self) -> int:
        return self.start - self.warmup

    def __len__(self) -> int:
        """Frames this segment dreams, its warm-up included."""
        return self.end - self.first


@dataclass(frozen=True)
class RenderPlan:
    """What every step of a render (dreaming segments anywhere, assembling on the driver) works from."""

    start: int
    end: int
    size: tuple[int, int]  # (height, width) dreamed and written
    segments: tuple[Segment, ...]
    tile: int
    cuts: tuple[int, ...] = ()
    envelope: tuple[float, ...] | None = None  # the sound's loudness per source frame, when a schedule needs it
    fps: float = 25.0
    times: tuple[float, ...] | None = None  # a variable-rate source's frame times from its first frame
    # --color-match first: the CIELAB means and spreads every frame is held to (see hold_colours)
    colour_reference: tuple[float, ...] | None = None

    def frame_values(self, settings: Settings) -> Callable[[int], FrameValues]:
        """The scheduled parameters at a source frame."""
        return lambda index: settings.at(index, self.fps, self.envelope, self.times)

    def crossfade(self) -> dict[int, float]:
        return crossfade_weights(self.segments)


def plan_render(job: Job, source: FrameSource, auto_tile: Callable[[], int], settings: Settings, batch: int,
                params: dict, fresh: bool = False) -> tuple[WorkFolder, RenderPlan]:
    """Open the job's work folder and decide its plan, or reopen it and go on with the plan it holds.
    What is decided once stays decided for every resume: the segments (and the cuts they start at),
    the tile (`auto_tile()`, from free memory: it changes the pixels, so every worker uses the one
    recorded here), the sound's envelope."""
    start, end = frame_range(settings.frames, source.frame_count)
    height, width = output_size(source.width, source.height, settings.max_side)
    streams = min(settings.streams or default_segments(end - start, batch), end - start)
    work = WorkFolder.open(job.work_folder, {**job_plan(job, params), "size": [width, height], "frames": [start, end]},
                           fresh=fresh)
    if "segments" not in work.plan:
        cuts = detect_cuts(source, start, end, settings.cut_threshold) if streams > 1 and settings.flow else ()
        segments = plan_segments(start, end, streams, settings.warmup if settings.flow else 0, cuts)
        work.update_plan(segments=[asdict(segment) for segment in segments], cuts=list(cuts))
    if "tile" not in work.plan:
        work.update_plan(tile=settings.tile or auto_tile())
    if settings.audio_driven and "envelope" not in work.plan:
        work.update_plan(envelope=sound_envelope(source))
    times = variable_times(source)
    envelope, reference = work.plan.get("envelope"), work.plan.get("colour_reference")
    if envelope is not None:  # planning checked expressions of the loudness at 0 and 1: now at the real one
        settings.check_frames(range(start, end), float(source.fps), times, envelope)
    return work, RenderPlan(start, end, (height, width), tuple(Segment(**s) for s in work.plan["segments"]),
                            work.plan["tile"], tuple(work.plan.get("cuts", ())),
                            None if envelope is None else tuple(envelope), float(source.fps),
                            None if times is None else tuple(times), None if reference is None else tuple(reference))


def colour_reference_segment(plan: RenderPlan) -> Segment:
    """What --color-match first holds every frame to: the render's first frame, dreamed alone (afresh,
    as the first segment dreams it) before any segment starts, since segments are dreamed side by side,
    on other machines and resumed in any order. Its statistics go into the plan, so every segment, worker
    and resume holds its frames to the same numbers."""
    return Segment(-1, plan.start, plan.start + 1)


def hold_colours(work: WorkFolder, plan: RenderPlan, first: np.ndarray) -> RenderPlan:
    """Record the colour statistics of the first dreamed frame (stored pixels) in the work folder's plan."""
    reference = colour_statistics(to_float(first))
    work.update_plan(colour_reference=list(reference))
    return replace(plan, colour_reference=reference)


# A long shot is split into segments of about this many frames (20 s at 25 fps; a segment inside a
# shot dreams `warmup` frames more, 1.6% with the default 8), so a film has work for every worker.
SEGMENT_FRAMES = 500


def default_segments(frames: int, batch: int) -> int:
    """Segments without --streams: one per frame of a batch, more for a long clip. The count never
    depends on how many workers dream them, so a render gives the same frames on one machine and on
    a cluster of any size."""
    return max(batch, -(-frames // SEGMENT_FRAMES))


def plan_segments(start: int, end: int, streams: int, warmup: int = 0, cuts: tuple[int, ...] = ()) -> list[Segment]:
    """Shots first (a segment starting at a cut needs no warm-up), then long shots cut into equal
    parts until there is a segment per stream. A part starting inside a shot warms up on the frames
    before it, so parts are never shorter than the warm-up."""
    bounds = sorted({start, end, *(cut for cut in cuts if start < cut < end)})
    shots = list(zip(bounds, bounds[1:]))
    counts = [1] * len(shots)
    while sum(counts) < streams:
        best = max(range(len(shots)), key=lambda k: (shots[k][1] - shots[k][0]) / counts[k])
        length = shots[best][1] - shots[best][0]
        if length // (counts[best] + 1) < max(1, warmup):
            break
        counts[best] += 1
    segments = []
    for (a, b), count in zip(shots, counts):
        edges = np.linspace(a, b, count + 1).round().astype(int)
        for k, (first, last) in enumerate(zip(edges, edges[1:])):
            segments.append(Segment(len(segments), int(first), int(last), warmup if k else 0))
    return segments


def crossfade_weights(segments) -> dict[int, float]:
    """For frames inside a warm-up window: the weight of the warm-up (new) chain; it rises
    frame by frame, so the output glides from one segment's dream into the next."""
    weights = {}
    for segment in segments:
        for offset in range(segment.warmup):
            weights[segment.first + offset] = (offset + 1) / (segment.warmup + 1)
    return weights


def cut_size(width: int, height: int, side: int = 160) -> tuple[int, int]:
    """(height, width) at which cuts are looked for: `side` pixels on the longer side, larger where that
    would leave a strip too thin for the flow, and never larger than the frame."""
    while side < max(width, height) and not flow_fits(*output_size(width, height, side)):
        side *= 2
    return output_size(width, height, side)


def detect_cuts(source: FrameSource, start: int, end: int, threshold: float) -> tuple[int, ...]:
    """Frames that begin a new shot, from a quick pass at low resolution (only needed to split
    segments at cuts; chains also notice cuts on their own)."""
    height, width = cut_size(source.width, source.height)
    estimator = MotionEstimator(cut_threshold=threshold)
    cuts, previous = [], None
    for index, frame in enumerate(source.read(start, end), start):
        small = from_float(resize(frame, height, width), np.uint8)
        if previous is not None and estimator.estimate(previous, small).cut:
            cuts.append(index)
        previous = small
    return tuple(cuts)


def variable_times(source: FrameSource) -> list[float] | None:
    """A variable-rate video's frame times from its first frame, so that keys in seconds fall on the
    frames shown then (a constant rate counts them at its fps)."""
    info = source.info
    if info is None or not info.variable_rate:
        return None
    return [time - info.times[0] for time in info.times]
