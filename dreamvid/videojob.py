"""The video job: split the frame range into segments, dream each segment as a chain in which every
frame starts from the previous dreamed frame warped by the optical flow, checkpoint every frame, and
encode the result with the source's audio once all frames exist.

Several segments are dreamed side by side, their i-th frames in one batch, so a video fills the
accelerator although each frame depends on the one before it."""
from __future__ import annotations

import os
import time
from dataclasses import asdict, dataclass
from fractions import Fraction
from pathlib import Path
from typing import Iterator

import cv2
import numpy as np

from .flow import Motion, MotionEstimator
from .imageops import processing_size, resize, to_float
from .jobs import Job, JobResult, job_fingerprint, resolved_parameters
from .journal import WorkFolder
from .pipeline import Prefetch, Worker
from .progress import Reporter
from .settings import Settings, frame_range
from .sidecar import write_sidecar
from .video import VideoInfo, VideoWriter, probe_video, read_frames

@dataclass(frozen=True)
class Segment:
    """A chain of frames dreamed in order: [start, end) are kept; the `warmup` frames before
    `start` are dreamed only to build up the carried dream. Plain data, so a cluster can take it."""

    index: int
    start: int
    end: int
    warmup: int = 0

    @property
    def first(self) -> int:
        return self.start - self.warmup


def plan_segments(start: int, end: int, streams: int, warmup: int = 0) -> list[Segment]:
    """Split [start, end) into `streams` near-equal segments; each but the first warms up first."""
    streams = max(1, min(streams, end - start))
    bounds = np.linspace(start, end, streams + 1).round().astype(int)
    return [Segment(i, int(a), int(b), min(warmup, int(a) - start)) for i, (a, b) in enumerate(zip(bounds, bounds[1:]))]


def frame_name(index: int) -> str:
    return f"frame_{index:06d}.png"


def video_size(info: VideoInfo, max_side: int | None) -> tuple[int, int]:
    """(height, width) to dream and write at; shrunk sizes are rounded to even numbers for H.264."""
    height, width = processing_size(info.height, info.width, max_side)
    if (height, width) != (info.height, info.width):
        height, width = max(2, height // 2 * 2), max(2, width // 2 * 2)
    return height, width


@dataclass
class _Step:
    """One frame of a stream, ready to dream."""

    index: int
    source: np.ndarray  # float32 RGB at processing size
    motion: Motion | None  # None for the first frame of a chain


class _Stream:
    """One segment: decodes its frames and estimates flow in a background thread, and keeps the
    chain's state (the previous source and dreamed frame) between batches."""

    def __init__(self, segment: Segment, info: VideoInfo, size: tuple[int, int], work: WorkFolder,
                 settings: Settings, timings: dict[str, float]):
        self.segment, self.work, self.settings, self.timings = segment, work, settings, timings
        resume = next((i for i in range(segment.start, segment.end) if not work.has(frame_name(i))), segment.end)
        self.resumed = resume - segment.start
        self.complete = resume == segment.end
        self.prev_source: np.ndarray | None = None
        self.prev_dream: np.ndarray | None = None
        first = resume - 1 if resume > segment.start else segment.first
        self._steps = None if self.complete else Prefetch(self._read(info, size, first), depth=2,
                                                          name=f"decode-{segment.index}")

    def _read(self, info: VideoInfo, size: tuple[int, int], first: int) -> Iterator[_Step]:
        height, width = size
        estimator = MotionEstimator(cut_threshold=self.settings.cut_threshold) if self.settings.flow else None
        prev = None
        frames = read_frames(info.path, first, self.segment.end, info=info)
        for index in range(first, self.segment.end):
            started = time.monotonic()
            frame = next(frames)
            small = resize(frame, height, width)
            self.timings["decode"] += time.monotonic() - started
            started = time.monotonic()
            motion = estimator.estimate(prev, small) if estimator is not None and prev is not None else None
            self.timings["flow"] += time.monotonic() - started
            prev = small
            yield _Step(index, to_float(small), motion)

    def next_start(self) -> tuple[_Step, np.ndarray, bool] | None:
        """The next frame to dream and the image it starts from (its source plus the carried dream)."""
        while True:
            try:
                step = next(self._steps)
            except StopIteration:
                return None
            if step.index >= self.segment.start and self.work.has(frame_name(step.index)):
                # the frame before the resume point: it only restores the chain's state
                saved = cv2.imread(str(self.work.piece(frame_name(step.index))), cv2.IMREAD_COLOR)
                self.prev_source, self.prev_dream = step.source, to_float(saved[..., ::-1])
                continue
            carried = self._carry(step)
            return step, (step.source if carried is None else np.clip(step.source + carried, 0.0, 1.0)), carried is not None

    def _carry(self, step: _Step) -> np.ndarray | None:
        """What dreaming added to the previous frame, moved along the flow, where it is reliable."""
        from .flow import warp

        if step.motion is None or step.motion.cut or self.prev_dream is None:
            return None
        added = self.prev_dream - self.prev_source
        return warp(added, step.motion.backward) * (step.motion.mask[..., None] * self.settings.blend)

    def finished(self, step: _Step, dreamed: np.ndarray) -> np.ndarray:
        """Record a dreamed frame; returns it as uint8. The chain continues from the quantised frame,
        exactly what a resumed run reads back from disk, so a resume gives the same frames."""
        frame = np.clip(np.rint(dreamed * 255.0), 0, 255).astype(np.uint8)
        self.prev_source, self.prev_dream = step.source, frame.astype(np.float32) / 255.0
        return frame

    def close(self) -> None:
        if self._steps is not None:
            self._steps.close()


def render_video(job: Job, dreamer, settings: Settings, reporter: Reporter, batch: int, *,
                 fresh: bool = False, keep_parts: bool = False) -> JobResult:
    info = probe_video(job.source)
    start, end = frame_range(settings.frames, info.frame_count)
    height, width = video_size(info, settings.max_side)
    segments = plan_segments(start, end, batch, warmup=0)
    params = resolved_parameters(settings, batch)
    plan = {"fingerprint": job_fingerprint(job, params), "parameters": params, "source": str(job.source),
            "source_size": [info.width, info.height], "size": [width, height], "frames": [start, end],
            "segments": [asdict(segment) for segment in segments]}
    work = WorkFolder.open(job.work_folder, plan, fresh=fresh)
    segments = [Segment(**segment) for segment in work.plan["segments"]]  # a resume keeps its segments
    timings = {"decode": 0.0, "flow": 0.0, "dream": 0.0, "write": 0.0}
    started = time.monotonic()
    total = end - start
    streams = [_Stream(segment, info, (height, width), work, settings, timings) for segment in segments]
    done = sum(stream.resumed for stream in streams)
    reporter.start(job.source.name, total, resumed=done)
    new_frames = 0
    writer = Worker(lambda item: _save(work, *item, timings), depth=2 * len(streams), name="checkpoint")
    try:
        active = [stream for stream in streams if not stream.complete]
        while active:
            todo = [(stream, stream.next_start()) for stream in active]
            for stream, item in todo:
                if item is None:
                    stream.close()
            todo = [(stream, item) for stream, item in todo if item is not None]
            active = [stream for stream, _ in todo]
            for carried in (False, True):  # carried frames take fewer steps: dream them as their own batch
                group = [(stream, item) for stream, item in todo if item[2] == carried]
                if not group:
                    continue
                tick = time.monotonic()
                steps = settings.flow_steps if carried else settings.steps
                dreamed = dreamer.dream(np.stack([item[1] for _, item in group]), settings.dream_params(), steps=steps)
                timings["dream"] += time.monotonic() - tick
                for (stream, (step, _, _)), image in zip(group, dreamed):
                    frame = stream.finished(step, image)
                    if step.index >= stream.segment.start:
                        writer.submit((step.index, frame))
                        new_frames += 1
            done = sum(stream.resumed for stream in streams) + new_frames
            reporter.advance(done, timings)
    finally:
        for stream in streams:
            stream.close()
        writer.close()
    tick = time.monotonic()
    _encode(job, info, work, settings, start, end, (height, width), reporter)
    timings["encode"] = time.monotonic() - tick
    params["timings"] = {k: round(v, 2) for k, v in timings.items()}
    write_sidecar(job.output.with_name(job.output.name + ".json"), params, input=str(job.source),
                  frames=[start, end], size=[width, height], fps=str(info.fps))
    if not keep_parts:
        work.remove()
    reporter.finish()
    return JobResult(job, new_frames, time.monotonic() - started)


def _save(work: WorkFolder, index: int, frame: np.ndarray, timings: dict[str, float]) -> None:
    tick = time.monotonic()
    path = work.piece(frame_name(index))
    temporary = path.with_name(f".{path.name}.partial.png")
    if not cv2.imwrite(str(temporary), frame[..., ::-1]):
        raise OSError(f"cannot write checkpoint {temporary}")
    os.replace(temporary, path)
    timings["write"] += time.monotonic() - tick


def _encode(job: Job, info: VideoInfo, work: WorkFolder, settings: Settings, start: int, end: int,
            size: tuple[int, int], reporter: Reporter) -> None:
    """Encode the checkpointed frames to a temporary file, then rename it: the output appears complete or not at all."""
    height, width = size
    temporary = job.output.with_name(f".{job.output.stem}.partial{job.output.suffix}")
    frames = Prefetch((cv2.imread(str(work.piece(frame_name(i))), cv2.IMREAD_COLOR)[..., ::-1] for i in range(start, end)),
                      depth=4, name="encode-read")
    try:
        with VideoWriter(temporary, width, height, info.fps, crf=settings.crf,
                         audio_source=job.source if settings.audio else None,
                         audio_start=float(start / info.fps), audio_duration=float((end - start) / info.fps),
                         on_warning=reporter.warn) as writer:
            for frame in frames:
                writer.write(np.ascontiguousarray(frame))
    finally:
        frames.close()
    os.replace(temporary, job.output)
