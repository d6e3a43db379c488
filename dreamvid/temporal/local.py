"""The local runner: plan, dream the segments in this process, assemble, with the checkpoints in the
job's work folder. The driver loop (`drive`: store, log, progress, output, clean-up on errors) is shared
with the cluster runner (cluster.py), which takes the same three steps with the dreaming elsewhere."""
from __future__ import annotations

import contextlib
import shutil
import time
from collections import defaultdict
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Callable, Iterator

from ..interrupts import signals_held
from ..job import Job, JobResult
from ..progress import Reporter
from ..settings import Settings
from ..sidecar import record
from ..io.mattes import open_matte
from ..io.sinks import FrameSink
from ..io.sources import FrameSource
from .assemble import open_output
from .chain import Carry, Chain, ResumePoint
from .checkpoints import CheckpointStore
from .dreaming import Finished, dream_segments
from .plan import RenderPlan, Segment, colour_reference_segment, hold_colours, plan_render
from .threads import FlowThreads, Writers, cpu_threads
from ..journal.workfolder import WorkFolder, frame_log, log_frames

# (segments with their resume points, the render's timings, the resume point on disk of a segment)
# -> the finished frames, a round at a time. The third argument lets a runner continue a segment
# whose worker died from the last frame stored.
Dream = Callable[[list, dict, Callable[[Segment], "ResumePoint | None"]], Iterator[list[Finished]]]


# (size, start, end) -> the sink the finished frames [start, end) of that size go to
SinkFactory = Callable[[tuple[int, int], int, int], FrameSink]


@dataclass(frozen=True)
class Render:
    """One render as its driver sees it, wherever its frames are dreamed: the job, its source, the sink
    its frames go to, its work folder and plan, the settings it dreams with (the plan's tile in them) and
    the parameters it records."""

    job: Job
    source: FrameSource
    open_sink: SinkFactory
    work: WorkFolder
    plan: RenderPlan
    settings: Settings
    params: dict
    started: float


def open_render(job: Job, source: FrameSource, open_sink: SinkFactory, settings: Settings, batch: int,
                auto_tile: Callable[[], int], fresh: bool = False) -> Render:
    """Open the job's work folder and decide (or reread) its plan; `auto_tile()` proposes the tile."""
    started = time.monotonic()
    params = {**job.params, "batch": batch}
    work, plan = plan_render(job, source, auto_tile, settings, batch, params, fresh)
    return Render(job, source, open_sink, work, plan, replace(settings, tile=plan.tile),
                  {**params, "tile": plan.tile}, started)


def render_sequence(job: Job, source: FrameSource, open_sink: SinkFactory, dreamer, settings: Settings,
                    reporter: Reporter, batch: int, *, fresh: bool = False, keep_parts: bool = False,
                    carry: Carry | None = None) -> JobResult:
    """Dream `source` frame by frame with carried dreams, checkpointing in the job's work folder, and
    hand the finished frames in order to the sink that `open_sink(size, start, end)` opens.

    `carry` replaces the flow carry-over (a zoom transforms the previous dream instead)."""
    render = open_render(job, source, open_sink, settings, batch, lambda: dreamer.auto_tile(batch), fresh)
    streams = min(render.settings.streams or batch, render.plan.end - render.plan.start)

    def dreaming(plan: RenderPlan, settings: Settings) -> Dream:
        values = plan.frame_values(settings)
        matte = open_matte(settings.mask, settings.mask_invert)

        def dream(todo, timings, resume_point):
            flow = FlowThreads.start(max(1, cpu_threads() // streams))

            def open_chain(segment, resume):
                return Chain(segment, source, plan.size, settings, values, timings, carry, resume, flow, matte,
                             plan.colour_reference)

            return flow.closed_after(dream_segments(todo, open_chain, dreamer, settings, values, batch, streams,
                                                    timings))

        return dream

    render = with_colour_reference(render, dreaming)
    return drive(render, dreaming(render.plan, render.settings), reporter, precision=dreamer.features.precision,
                 depth=2 * streams, keep_parts=keep_parts)


def with_colour_reference(render: Render, dreaming: Callable[[RenderPlan, Settings], Dream]) -> Render:
    """With --color-match first, the render with its plan's colour reference: the one recorded, or, the
    first time, the first frame dreamed now (by `dreaming(plan, settings)`, here or on workers) and recorded.
    It is dreamed without the matte: what the matte hides still counts, as the chains carry it."""
    if render.settings.color_match != "first" or render.plan.colour_reference is not None:
        return render
    dream = dreaming(render.plan, replace(render.settings, mask=None, mask_invert=False))
    rounds = dream([(colour_reference_segment(render.plan), None)], defaultdict(float), lambda _: None)
    first = [done for finished in rounds for done in finished][-1]
    return replace(render, plan=hold_colours(render.work, render.plan, first.pixels))


def drive(render: Render, dream: Dream, reporter: Reporter, *, precision: str, depth: int,
          keep_parts: bool) -> JobResult:
    """The driver's part of a render, wherever the frames are dreamed: store each finished frame (a
    frame is done once it is on this disk), log it, report progress, write the output in order, and
    on any error keep what is finished for a resume. `depth` frames may wait for the disk."""
    job, source, work, plan, settings, params = (render.job, render.source, render.work, render.plan,
                                                 render.settings, render.params)
    store = CheckpointStore(work, plan.segments, plan.crossfade())
    timings = {"dream": 0.0, "decode": 0.0, "flow": 0.0, "write": 0.0, "encode": 0.0, "wait": 0.0}
    resumed = sum(store.frames_done(segment) for segment in plan.segments)
    todo = [(segment, store.resume_point(segment)) for segment in plan.segments if not store.complete(segment)]
    output = open_output(render.open_sink(plan.size, plan.start, plan.end), store, plan.start, plan.end, timings)
    left = sum(len(segment) for segment in plan.segments) - resumed
    _warn_if_disk_short(work.path, output.bytes_needed(left, plan.size, source.dtype), reporter.warn)
    reporter.start(job.source.name, plan.end - plan.start, resumed=resumed)
    new_frames = 0

    def save(done) -> None:
        tick = time.monotonic()
        store.save(done.segment, done.index, done.pixels, done.reference)
        timings["write"] += time.monotonic() - tick

    # Lossless checkpoints (a 720p PNG takes 30-40 ms to compress) are written by several threads; a
    # segment's frames always go to the same one, so each segment's pieces are saved in frame order.
    writer = Writers(save, count=min(len(plan.segments), max(1, cpu_threads() // 2)), depth=depth)

    def resume_point(segment: Segment) -> ResumePoint | None:
        writer.flush()  # the frames handed over so far are on disk
        return store.resume_point(segment)

    rounds = dream(todo, timings, resume_point)
    try:
        for finished in rounds:
            for done in finished:
                writer.submit(done)
            log_frames(work, finished)
            new_frames += sum(done.kept for done in finished)
            output.raise_if_failed()  # a dead encoder stops the night now, not after the last frame
            reporter.advance(resumed + new_frames, timings)
        writer.close()
        per_frame, seen_cuts = frame_log(work, plan.start, plan.end)
        height, width = plan.size
        output.close(lambda: record(
            {**params, "timings": {stage: round(seconds, 2) for stage, seconds in timings.items()}},
            precision_used=precision, input=str(job.source), frames=[plan.start, plan.end],
            size=[width, height], fps=str(source.fps), segments=[asdict(segment) for segment in plan.segments],
            frame_seconds=per_frame, cuts=sorted(set(seen_cuts) | set(plan.cuts)),
            **({"colour_reference": list(plan.colour_reference)} if plan.colour_reference else {}),
            **_schedules_record(settings, plan)))
    except BaseException:
        with signals_held():  # a second Ctrl-C must not leave ffmpeg or partial files behind
            rounds.close()
            output.abort()
            with contextlib.suppress(BaseException):
                writer.close()  # keeps the checkpoints already queued
        raise
    reporter.finish()  # the output is complete: a signal from now on leaves nothing to resume
    if not keep_parts:
        with signals_held():  # a signal now must not leave half a work folder
            work.remove()
    return JobResult(job, new_frames, time.monotonic() - render.started)


def _warn_if_disk_short(folder: Path, needed: int, warn) -> None:
    """Checkpoints stay on disk until the output is complete: say so before the night if they will not fit."""
    free = shutil.disk_usage(folder).free
    if needed > free:
        warn(f"the checkpoints of this render need about {_gigabytes(needed)} in {folder.parent} "
             f"but only {_gigabytes(free)} is free: the render will stop when the disk is full")


def _gigabytes(count: int) -> str:
    return f"{count / 1e9:.2f} GB"


def _schedules_record(settings: Settings, plan) -> dict:
    """For the sidecar: each changing parameter's value at every rendered frame, as the frames used them."""
    timeline = settings.timeline(plan.start, plan.end, plan.fps, plan.envelope, plan.times)
    return {"schedules": timeline} if timeline else {}
