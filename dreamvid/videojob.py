"""The temporal job (a video or an image sequence): split the frame range into segments, dream
each segment as a chain in which every frame starts from the previous dreamed frame warped along
the optical flow, checkpoint every frame, and write the result once every frame exists.

Several segments are dreamed side by side, their frames in one batch, so a video fills the
accelerator although each frame depends on the one before it. Decoding and flow run ahead in
threads, and the output is written by a thread that follows the finished frames in order."""
from __future__ import annotations

import contextlib
import json
import os
import shutil
import threading
import time
from collections import deque
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Callable, Iterator

import cv2
import numpy as np

from .atomic import writing
from .flow import CARRY_INTERPOLATION, Motion, MotionEstimator, catch_up, warp
from .imageops import from_float, processing_size, resize, to_float
from .interrupts import signals_held
from .jobs import Job, JobResult, job_plan, resolved_parameters
from .journal import WorkFolder
from .pipeline import Prefetch, Worker
from .progress import Reporter
from .settings import FrameValues, Settings, frame_range
from .sidecar import record
from .sources import FrameSource


@dataclass(frozen=True)
class Segment:
    """A chain of frames dreamed in order: [start, end) are kept; the `warmup` frames before
    `start` are dreamed to build up the carried dream and cross-fade from the segment before.
    Plain data, so that a cluster can take segments one by one."""

    index: int
    start: int
    end: int
    warmup: int = 0

    @property
    def first(self) -> int:
        return self.start - self.warmup

    def pieces(self) -> list[tuple[int, str]]:
        """(frame index, checkpoint name) of every frame this segment dreams, in order."""
        return [(i, piece_name(i, warm=i < self.start)) for i in range(self.first, self.end)]


def piece_name(index: int, warm: bool = False) -> str:
    return f"{'warm' if warm else 'frame'}_{index:06d}.png"


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


def crossfade_weights(segments: list[Segment]) -> dict[int, float]:
    """For frames inside a warm-up window: the weight of the warm-up (new) chain; it rises
    frame by frame, so the output glides from one segment's dream into the next."""
    weights = {}
    for segment in segments:
        for offset in range(segment.warmup):
            weights[segment.first + offset] = (offset + 1) / (segment.warmup + 1)
    return weights


def output_size(width: int, height: int, max_side: int | None) -> tuple[int, int]:
    """(height, width) to dream and write at; shrunk sizes are rounded to even numbers for H.264."""
    small_h, small_w = processing_size(height, width, max_side)
    if (small_h, small_w) != (height, width):
        small_h, small_w = max(2, small_h // 2 * 2), max(2, small_w // 2 * 2)
    return small_h, small_w


@dataclass
class _Frame:
    """One frame of a chain, decoded, resized and with its motion from the frame before."""

    index: int
    source: np.ndarray  # float32 RGB at processing size
    motion: Motion | None  # None for the first frame of a chain


# (frame, previous source, previous dreamed frame) -> the picture the frame starts from and how fresh each
# of its pixels is (1 - the share of the dream carried into it; None: not known), or None to dream it
# afresh from its source. A video carries the dream along the flow; a zoom transforms it.
Carry = Callable[[_Frame, np.ndarray, np.ndarray], "tuple[np.ndarray, np.ndarray | None] | None"]


def flow_carry(settings: Settings, values: Callable[[int], FrameValues]) -> Carry:
    """What dreaming added to the previous frame, moved along the flow where it is reliable (and, with
    --flow-zoom, zoomed about the centre as in a feedback zoom), added to the current source, scaled
    by the frame's --blend. Warped with CARRY_INTERPOLATION, which does not soften it frame after frame."""
    from .zoom import feedback_transform

    def carry(frame: _Frame, prev_source: np.ndarray, prev_dream: np.ndarray):
        if frame.motion is None or frame.motion.cut:
            return None
        added = warp(prev_dream - prev_source, frame.motion.backward, CARRY_INTERPOLATION)
        if settings.flow_zoom != 1.0:
            added = feedback_transform(added, zoom=settings.flow_zoom)
        kept = frame.motion.mask * values(frame.index).blend
        return np.clip(frame.source + added * kept[..., None], 0.0, 1.0), 1.0 - kept

    return carry


class _Chain:
    """One segment being dreamed: decodes its frames and estimates flow in a background thread,
    and keeps the chain's state (the previous source and dreamed frame) between batches."""

    def __init__(self, segment: Segment, source: FrameSource, size: tuple[int, int], work: WorkFolder,
                 settings: Settings, timings: dict[str, float], values: Callable[[int], FrameValues],
                 carry: Carry | None = None):
        self.segment, self.work, self.settings, self.timings = segment, work, settings, timings
        self.values = values  # the scheduled parameters at a source frame
        self._carry = carry or flow_carry(settings, values)
        self.dtype = source.dtype
        pieces = segment.pieces()
        missing = _first_missing(pieces, work)
        self.complete = missing == len(pieces)
        self.prev_source: np.ndarray | None = None
        self.prev_dream: np.ndarray | None = None
        # A resumed chain decodes from the last finished frame, which only restores its state.
        self._restore = pieces[missing - 1] if missing else None
        first = pieces[missing - 1][0] if missing else segment.first
        self._frames = None if self.complete else Prefetch(
            self._read(source, size, first), depth=2, name=f"decode-{segment.index}")

    def _read(self, source: FrameSource, size: tuple[int, int], first: int) -> Iterator[_Frame]:
        height, width = size
        estimator = MotionEstimator(cut_threshold=self.settings.cut_threshold) if self.settings.flow else None
        previous = None
        frames = source.read(first, self.segment.end)
        for index in range(first, self.segment.end):
            tick = time.monotonic()
            small = resize(next(frames), height, width)
            eight_bit = from_float(small, np.uint8)  # flow works on 8-bit grey
            self.timings["decode"] += time.monotonic() - tick
            tick = time.monotonic()
            motion = estimator.estimate(previous, eight_bit) if estimator and previous is not None else None
            self.timings["flow"] += time.monotonic() - tick
            previous = eight_bit
            yield _Frame(index, small, motion)

    def next_start(self) -> tuple[_Frame, np.ndarray, bool, np.ndarray | None] | None:
        """The next frame to dream, the image it starts from, whether a dream was carried into it, and how
        fresh each of its pixels is (None: all alike)."""
        for frame in self._frames:
            if self._restore and frame.index == self._restore[0]:
                saved = load_piece(self.work.piece(self._restore[1]))
                self.prev_source, self.prev_dream = frame.source, saved
                self._restore = None
                continue
            carried = None if self.prev_dream is None else self._carry(frame, self.prev_source, self.prev_dream)
            if carried is None:
                return frame, frame.source, False, None
            start, fresh = carried
            return frame, start, True, fresh
        return None

    def finished(self, frame: _Frame, dreamed: np.ndarray) -> tuple[str, np.ndarray]:
        """Record a dreamed frame; returns its checkpoint name and quantised pixels. The chain goes on
        from the quantised frame, exactly what a resumed run reads back, so a resume gives the same frames."""
        quantised = from_float(dreamed, self.dtype)
        self.prev_source, self.prev_dream = frame.source, to_float(quantised)
        return piece_name(frame.index, warm=frame.index < self.segment.start), quantised

    def close(self) -> None:
        if self._frames is not None:
            self._frames.close()


def _first_missing(pieces: list[tuple[int, str]], work: WorkFolder) -> int:
    return next((k for k, (_, name) in enumerate(pieces) if not work.has(name)), len(pieces))


def frames_done(segment: Segment, work: WorkFolder) -> int:
    """Kept frames that a resumed chain will not dream again."""
    pieces = segment.pieces()
    return sum(1 for index, _ in pieces[:_first_missing(pieces, work)] if index >= segment.start)


def load_piece(path: Path) -> np.ndarray:
    data = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if data is None:
        raise OSError(f"cannot read checkpoint {path}")
    return to_float(data[..., ::-1])


def save_piece(path: Path, pixels: np.ndarray) -> None:
    """Lossless, atomic: a piece on disk is always complete."""
    with writing(path) as temporary:
        if not cv2.imwrite(str(temporary), np.ascontiguousarray(pixels[..., ::-1])):
            raise OSError(f"cannot write checkpoint {temporary}")


def detect_cuts(source: FrameSource, start: int, end: int, threshold: float) -> tuple[int, ...]:
    """Frames that begin a new shot, from a quick pass at low resolution (only needed to split
    segments at cuts; chains also notice cuts on their own)."""
    height, width = output_size(source.width, source.height, 160)
    estimator = MotionEstimator(cut_threshold=threshold)
    cuts, previous = [], None
    for index, frame in enumerate(source.read(start, end), start):
        small = from_float(resize(frame, height, width), np.uint8)
        if previous is not None and estimator.estimate(previous, small).cut:
            cuts.append(index)
        previous = small
    return tuple(cuts)


def render_sequence(job: Job, source: FrameSource, sink_factory, dreamer, settings: Settings, reporter: Reporter,
                    batch: int, *, fresh: bool = False, keep_parts: bool = False, carry: Carry | None = None,
                    extra: dict | None = None) -> JobResult:
    """Dream `source` frame by frame with carried dreams, checkpointing in the job's work folder, and
    hand the finished frames in order to the sink that `sink_factory(size, start, end)` opens.

    `carry` replaces the flow carry-over (a zoom transforms the previous dream instead); `extra`
    parameters (a zoom's motion) join the fingerprint and the record."""
    started = time.monotonic()
    start, end = frame_range(settings.frames, source.frame_count)
    height, width = output_size(source.width, source.height, settings.max_side)
    streams = min(settings.streams or batch, end - start)
    params = {**resolved_parameters(settings, batch), **(extra or {})}
    work = _open_work(job, source, dreamer, settings, batch, params, (start, end), (width, height), streams, fresh)
    segments = [Segment(**segment) for segment in work.plan["segments"]]
    settings = replace(settings, tile=work.plan["tile"])
    params["tile"] = settings.tile
    fps = float(source.fps)
    envelope = work.plan.get("envelope")
    times = _variable_times(source)

    def values(index: int) -> FrameValues:
        return settings.at(index, fps, envelope, times)

    timings = {"dream": 0.0, "decode": 0.0, "flow": 0.0, "write": 0.0, "encode": 0.0, "wait": 0.0}
    resumed = sum(frames_done(segment, work) for segment in segments)
    # A folder of frames, or a variable-rate video, holds a second copy of every frame until it is complete.
    copies = 2 if job.frame_names is not None or getattr(getattr(source, "info", None), "variable_rate", False) else 1
    _warn_if_disk_short(work.path, copies * (sum(s.end - s.first for s in segments) - resumed), (height, width),
                        source.dtype, reporter.warn)
    reporter.start(job.source.name, end - start, resumed=resumed)
    new_frames = 0
    lanes = _Lanes(segments, streams,
                   lambda segment: _Chain(segment, source, (height, width), work, settings, timings, values, carry))
    writer = Worker(lambda item: _timed(timings, "write", save_piece, work.piece(item[0]), item[1]),
                    depth=2 * streams, name="checkpoint")
    output = _OrderedOutput(sink_factory((height, width), start, end), work, segments, start, end, timings)
    try:
        while todo := _timed(timings, "wait", lanes.next_round):
            tick = time.monotonic()
            new_frames += _dream_round(todo, dreamer, settings, values, batch, writer.submit, timings)
            _log_round(work, todo, time.monotonic() - tick)
            output.raise_if_failed()  # a dead encoder stops the night now, not after the last frame
            reporter.advance(resumed + new_frames, timings)
        writer.close()
        per_frame, seen_cuts = frame_log(work, start, end)
        output.close(lambda: record(
            {**params, "timings": {stage: round(seconds, 2) for stage, seconds in timings.items()}},
            precision_used=dreamer.features.precision, input=str(job.source), frames=[start, end],
            size=[width, height], fps=str(source.fps), segments=[asdict(segment) for segment in segments],
            frame_seconds=per_frame, cuts=sorted(set(seen_cuts) | set(work.plan.get("cuts", []))),
            **_schedules_record(settings, start, end, fps, envelope, times)))
    except BaseException:
        with signals_held():  # a second Ctrl-C must not leave ffmpeg or partial files behind
            lanes.close()
            output.abort()
            with contextlib.suppress(BaseException):
                writer.close()  # keeps the checkpoints already queued
        raise
    if not keep_parts:
        work.remove()
    reporter.finish()
    return JobResult(job, new_frames, time.monotonic() - started)


def _open_work(job: Job, source: FrameSource, dreamer, settings: Settings, batch: int, params: dict,
               span: tuple[int, int], size: tuple[int, int], streams: int, fresh: bool) -> WorkFolder:
    """The job's work folder with its plan. What is decided once stays decided for every resume: the
    segments (and the cuts they start at), the tile (chosen from free memory), the sound's envelope."""
    start, end = span
    work = WorkFolder.open(job.work_folder, {**job_plan(job, params), "size": list(size), "frames": [start, end]},
                           fresh=fresh)
    if "segments" not in work.plan:
        cuts = detect_cuts(source, start, end, settings.cut_threshold) if streams > 1 and settings.flow else ()
        segments = plan_segments(start, end, streams, settings.warmup if settings.flow else 0, cuts)
        work.update_plan(segments=[asdict(segment) for segment in segments], cuts=list(cuts))
    if "tile" not in work.plan:
        work.update_plan(tile=settings.tile or dreamer.auto_tile(batch))
    if settings.audio_driven and "envelope" not in work.plan:
        work.update_plan(envelope=sound_envelope(source))
    return work


FRAME_LOG = "frames.jsonl"


def _log_round(work: WorkFolder, todo, seconds: float) -> None:
    """Append (fsynced, one line per frame) how long each frame of a round took and whether it begins a
    shot, so the record of a resumed render still tells where the time of every frame went."""
    lines = "".join(json.dumps({"frame": frame.index, "seconds": round(seconds / len(todo), 4),
                                "cut": bool(frame.motion is not None and frame.motion.cut)}) + "\n"
                    for _, (frame, *_) in todo)
    with open(work.piece(FRAME_LOG), "a", encoding="utf-8") as log:
        log.write(lines)
        log.flush()
        os.fsync(log.fileno())


def frame_log(work: WorkFolder, start: int, end: int) -> tuple[list[float | None], list[int]]:
    """Seconds spent on each frame of [start, end) (a frame dreamed twice, as a warm-up and as a kept
    frame, or again after a kill, counts both; None where unknown) and the frames that began a shot."""
    seconds: list[float | None] = [None] * (end - start)
    cuts = set()
    path = work.piece(FRAME_LOG)
    for line in path.read_text(encoding="utf-8").splitlines() if path.is_file() else []:
        try:
            entry = json.loads(line)
        except ValueError:  # the last line of a log cut short by a kill
            continue
        if start <= entry["frame"] < end:
            seconds[entry["frame"] - start] = round((seconds[entry["frame"] - start] or 0.0) + entry["seconds"], 4)
        if entry["cut"]:
            cuts.add(entry["frame"])
    return seconds, sorted(cuts)


# Bytes of a lossless checkpoint per raw byte of a dreamed frame (PNG; 0.74 measured on the bundled clip).
CHECKPOINT_RATIO = 0.8


def _warn_if_disk_short(folder: Path, frames: int, size: tuple[int, int], dtype: np.dtype, warn) -> None:
    """Checkpoints stay on disk until the output is complete: say so before the night if they will not fit."""
    needed = int(frames * size[0] * size[1] * 3 * np.dtype(dtype).itemsize * CHECKPOINT_RATIO)
    free = shutil.disk_usage(folder).free
    if needed > free:
        warn(f"the checkpoints of this render need about {_gigabytes(needed)} in {folder.parent} "
             f"but only {_gigabytes(free)} is free: the render will stop when the disk is full")


def _gigabytes(count: int) -> str:
    return f"{count / 1e9:.2f} GB"


def _timed(timings: dict[str, float], stage: str, function, *args):
    tick = time.monotonic()
    result = function(*args)
    timings[stage] += time.monotonic() - tick
    return result


class _Lanes:
    """`streams` chains side by side; a lane whose segment is finished takes the next one."""

    def __init__(self, segments: list[Segment], streams: int, open_chain):
        self._pending = deque(segments)
        self._open_chain = open_chain
        self._lanes: list[_Chain | None] = [None] * streams

    def next_round(self) -> list[tuple[_Chain, tuple[_Frame, np.ndarray, bool]]]:
        """The next frame of every lane (empty when all segments are done)."""
        todo = []
        for lane in range(len(self._lanes)):
            while True:
                while self._lanes[lane] is None and self._pending:
                    chain = self._open_chain(self._pending.popleft())
                    self._lanes[lane] = None if chain.complete else chain
                chain = self._lanes[lane]
                if chain is None:
                    break
                item = chain.next_start()
                if item is not None:
                    todo.append((chain, item))
                    break
                chain.close()
                self._lanes[lane] = None
        return todo

    def close(self) -> None:
        for chain in self._lanes:
            if chain is not None:
                chain.close()


def _dream_round(todo, dreamer, settings: Settings, values: Callable[[int], FrameValues], batch: int, save,
                 timings: dict[str, float]) -> int:
    """Dream one frame of each lane, at most `batch` at a time; returns how many kept frames it made.
    A batch shares its step count, octaves and jitter (carried frames take --flow-steps and
    --flow-octaves, so they form their own batches); step sizes, step maps and layer weights are per
    frame, so schedules rarely split a batch. A carried frame's fresh pixels take larger steps (catch_up)."""
    kept = 0
    groups: dict[tuple[bool, int, int, int], list] = {}
    for chain, item in todo:
        frame, _, carried, _ = item
        value = values(frame.index)
        key = (carried, value.flow_steps if carried else value.steps, value.flow_octaves if carried else 0,
               value.jitter)
        groups.setdefault(key, []).append((chain, item, value))
    for (carried, steps, octaves, jitter), group in sorted(groups.items()):
        for offset in range(0, len(group), batch):
            part = group[offset:offset + batch]
            starts = np.stack([start_image for _, (_, start_image, _, _), _ in part])
            weights = [value.layer_weights for _, _, value in part]
            params = replace(settings.dream_params(part[0][2]), steps=steps, jitter=jitter,
                             step_size=tuple(value.step_size for _, _, value in part),
                             layer_weights=None if weights[0] is None else tuple(weights))
            step_map = None
            if carried and any(fresh is not None for _, (_, _, _, fresh), _ in part):
                step_map = np.stack([np.ones(starts.shape[1:3], np.float32) if fresh is None
                                     else catch_up(fresh, value.blend, octaves, settings.octaves)
                                     for _, (_, _, _, fresh), value in part])
            dreamed = _timed(timings, "dream", dreamer.dream, starts, params, steps, step_map, octaves or None)
            for (chain, (frame, *_), _), image in zip(part, dreamed):
                save(chain.finished(frame, image))
                kept += frame.index >= chain.segment.start
    return kept


def sound_envelope(source: FrameSource) -> list[float]:
    """The soundtrack's loudness per source frame, in [0, 1] (see dreamvid.audio)."""
    from .audio import envelope

    info = source.info
    times = list(info.times) or [float(k / info.fps) for k in range(info.frame_count)]
    end = info.end_time if info.end_time is not None else float(info.frame_count / info.fps)
    return envelope(info.path, times, end, float(info.fps))


def _variable_times(source: FrameSource) -> list[float] | None:
    """A variable-rate video's frame times from its first frame, so that keys in seconds fall on the
    frames shown then (a constant rate counts them at its fps)."""
    info = getattr(source, "info", None)
    if info is None or not info.variable_rate:
        return None
    return [time - info.times[0] for time in info.times]


def _schedules_record(settings: Settings, start: int, end: int, fps: float, envelope, times=None) -> dict:
    """For the sidecar: each changing parameter's value at every rendered frame, as the frames used them."""
    timeline = settings.timeline(start, end, fps, envelope, times)
    return {"schedules": timeline} if timeline else {}


class _OrderedOutput:
    """Follows the checkpoints in frame order in a thread and hands each finished frame (cross-faded
    where two segments overlap) to the sink, so writing the output overlaps dreaming."""

    def __init__(self, sink, work: WorkFolder, segments: list[Segment], start: int, end: int,
                 timings: dict[str, float]):
        self._sink, self._work, self._timings = sink, work, timings
        self._weights = crossfade_weights(segments)
        self._range = range(start, end)
        self._stop = threading.Event()
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="output", daemon=True)
        self._thread.start()

    def _ready(self, index: int) -> bool:
        return self._work.has(piece_name(index)) and (
            index not in self._weights or self._work.has(piece_name(index, warm=True)))

    def final_frame(self, index: int) -> np.ndarray:
        frame = load_piece(self._work.piece(piece_name(index)))
        if index in self._weights:
            weight = self._weights[index]
            frame = (1 - weight) * frame + weight * load_piece(self._work.piece(piece_name(index, warm=True)))
        return frame

    def _run(self) -> None:
        try:
            for index in self._range:
                while not self._ready(index):
                    if self._stop.wait(0.02):
                        return
                if self._stop.is_set():  # an abort does not wait for the frames already on disk
                    return
                tick = time.monotonic()
                self._sink.write(self.final_frame(index))
                self._timings["encode"] += time.monotonic() - tick
        except BaseException as error:
            self._error = error

    def raise_if_failed(self) -> None:
        """The sink's error (ffmpeg died, the disk is full) as soon as it happens."""
        if self._error is not None:
            raise self._error

    def close(self, data) -> None:
        """Wait for the last frame, then finish the sink: its output appears only now, with the
        record that `data()` makes (the timings are complete by then)."""
        self._thread.join()
        if self._error is not None:
            self._sink.abort()
            raise self._error
        tick = time.monotonic()
        self._sink.close(data())
        self._timings["encode"] += time.monotonic() - tick

    def abort(self) -> None:
        self._stop.set()
        self._thread.join()
        self._sink.abort()


def run_temporal(job: Job, dreamer, settings: Settings, reporter: Reporter, batch: int, *,
                 fresh: bool = False, keep_parts: bool = False) -> JobResult:
    """A video or an image sequence, to a video file or a folder of frames."""
    from .sinks import FramesSink, VideoSink
    from .sources import SequenceSource, VideoSource

    if job.kind == "video":
        source = VideoSource(job.info) if job.info is not None else VideoSource.open(job.source)  # probed once
    else:
        source = SequenceSource.open(job.source, job.frames, settings.fps)

    def sink(size, start, end):
        if job.frame_names is not None:
            alpha = source.alpha if job.kind == "sequence" else None
            return FramesSink(job.output, job.frame_names[start:end], source.dtype, alpha, start)
        audio = job.source if settings.audio and source.has_audio else None
        return VideoSink(job.output, size, source.fps, settings.crf, start, end, reporter.warn, audio,
                         source.info if job.kind == "video" else None)

    return render_sequence(job, source, sink, dreamer, settings, reporter, batch, fresh=fresh, keep_parts=keep_parts)
