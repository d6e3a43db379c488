"""The Ray runner: the same plan and assembly as the local runner (`local.drive`), with the segments
dreamed by long-lived worker actors anywhere in a Ray cluster.

- A worker loads the model once, on the device Ray gave it, and decodes its segments' frames itself:
  from the source's path where its node reads the driver's file there, else from the segments' packets
  that the driver cuts and sends it (ray_pieces.py). Shipping decoded frames instead would put the
  decoding of the whole film on the driver alone (measured: 94 ms per 720p frame decoded here against
  12 ms for its trip through the object store on one node, see benchmarks/ray_overhead.py), and send
  raw frames (2.8 MB at 720p) over the network where the compressed source needs 8 kB a frame (the
  bundled clip, audio included).
- Workers stream finished frames back through Ray's object store (a streaming generator per call,
  with a few rounds in flight at most, so memory is bounded). The driver stores them: a frame is
  done once it is on the driver's disk.
- A worker that dies (killed, its machine lost) is replaced, and its segments go on from the last
  frame on disk; Ray's own retries are off, since a retried generator replays from the start.
- The longest remaining segments go first. The tile changes pixels: it is decided once, the smallest
  the workers propose, and recorded in the plan, so every worker dreams the same frames.

Ray is imported only here, and only when a render asks for it."""
from __future__ import annotations

import os
import queue
import threading
from collections import defaultdict
from dataclasses import dataclass, replace
from typing import Any, Callable, Iterator

from ..engine import configure_worker, default_batch, is_out_of_memory, load_dreamer
from ..engine.backend import resolve_backend
from ..errors import DreamvidError, OutOfMemory, UserError
from ..job import Job, JobResult
from ..progress import Reporter
from ..settings import Settings
from ..io.mattes import open_matte
from ..io.pieces import FileStamp, Piece, open_pieces
from ..io.sources import FrameSource
from .chain import Chain, ResumePoint
from .dreaming import Finished, dream_segments
from .local import drive, open_render, with_colour_reference
from .plan import RenderPlan, Segment
from .ray_connect import connect
from .ray_pieces import PieceShipper, Shipped, sees_source, source_stamps

# Rounds a worker may have dreamed and not yet handed over: the frames in flight per worker are at
# most (ROUNDS_IN_FLIGHT + 1) rounds of `batch` frames.
ROUNDS_IN_FLIGHT = 2
# A segment whose worker dies this many times stops the render (the segment itself kills workers).
MAX_DEATHS = 3
RAY_MISSING = "--ray needs Ray: pip install 'dreamvid[ray]'"


def check_ray() -> None:
    """Before TensorFlow loads: a UserError unless Ray can be imported."""
    try:
        import ray  # noqa: F401
    except ImportError:
        raise UserError(RAY_MISSING) from None


@dataclass(frozen=True)
class RayOptions:
    """Where and how wide a render runs on Ray."""

    address: str = "auto"  # "auto": a Ray runtime started on this machine; else a cluster's HOST:PORT
    workers: int | None = None  # None: one per GPU of the cluster, or one per machine without GPUs
    gpus_per_worker: float | None = None  # None: 1 on a cluster with GPUs, else 0
    # Builds a worker's dreamer from the CPUs it was given (tests pass a stub); None: the real model.
    dreamer: Callable[[int], Any] | None = None


@dataclass(frozen=True)
class ModelDreamer:
    """Builds the real dreamer inside a worker, on the CPUs (and device share) Ray gave it."""

    settings: Settings

    def __call__(self, cpus: int):
        configure_worker(cpus, self.settings.backend)
        return load_dreamer(self.settings)


class DreamWorker:
    """A Ray actor (see WorkerPool): loads the model once, then dreams the segments it is given."""

    def __init__(self, make_dreamer: Callable[[int], Any]):
        import ray

        self.cpus = max(1, int(ray.get_runtime_context().get_assigned_resources().get("CPU", 1)))
        self.dreamer = make_dreamer(self.cpus)

    def pid(self) -> int:
        return os.getpid()

    def auto_tile(self, batch: int) -> int:
        return self.dreamer.auto_tile(batch)

    def precision(self) -> str:
        return self.dreamer.features.precision

    def sees_source(self, stamps: tuple[FileStamp, ...]) -> bool:
        """Whether this node reads the driver's source at its path (else the driver sends pieces)."""
        return sees_source(stamps)

    def dream(self, source: FrameSource, plan: RenderPlan, settings: Settings, work: list, batch: int,
              stamps: tuple[FileStamp, ...], pieces: tuple[Piece, ...] = (), *data: bytes):
        """Dream `work` (segments with their resume points), `batch` chains side by side, reading the
        source at its path or, when `pieces` are given, from them (their bytes in `data`: top-level
        arguments, which Ray resolves); yields each round's finished frames with this call's timings so far."""
        if not pieces and not sees_source(stamps):
            import socket

            raise UserError(f"{source.path} cannot be read on worker node {socket.gethostname()} (not there, or "
                            f"another file): image sequences must be at the same path on every node")
        timings: dict[str, float] = defaultdict(float)
        values = plan.frame_values(settings)
        matte = open_matte(settings.mask, settings.mask_invert)  # at the same path on every node
        with open_pieces(source, pieces, data) as piece_for:
            def open_chain(segment, resume):
                first = resume.index if resume is not None else segment.first  # a resumed chain reads from there
                frames = piece_for(first, segment.end) if pieces else source
                return Chain(segment, frames, plan.size, settings, values, timings, None, resume, matte=matte,
                             colour_reference=plan.colour_reference)

            try:
                for finished in dream_segments(work, open_chain, self.dreamer, settings, values, batch,
                                               min(batch, len(work)), timings):
                    yield finished, dict(timings)
            except Exception as error:
                if not is_out_of_memory(error):
                    raise
                raise OutOfMemory(f"{source.path}: out of memory on a worker (batch {batch}): try a smaller "
                                  f"--tile, --batch 1 or a smaller --max-side; finished frames are kept") from None


class WorkerPool:
    """The render's workers, kept across the jobs of a queue (each loads the model once), and
    replaced when one dies."""

    def __init__(self, options: RayOptions, settings: Settings):
        import ray

        if not ray.is_initialized():
            connect(options.address)
        gpus = ray.cluster_resources().get("GPU", 0)
        self.gpus = options.gpus_per_worker if options.gpus_per_worker is not None else (1 if gpus else 0)
        nodes = [node for node in ray.nodes() if node["Alive"] and node["Resources"].get("CPU", 0) > 0]
        if options.workers:
            count = options.workers
        else:
            count = max(1, int(gpus // self.gpus)) if self.gpus else max(1, len(nodes))
        cpus = ray.cluster_resources().get("CPU", 1)
        per_node = min((node["Resources"]["CPU"] for node in nodes), default=1)
        self.cpus = max(1, min(int(per_node), int(cpus // count)))
        self.batch = settings.batch or default_batch(accelerator=bool(self.gpus))
        # The backend is decided here, so that every worker dreams on the driver's choice.
        make = options.dreamer or ModelDreamer(replace(settings, backend=resolve_backend(settings.backend)))
        # No restarts: a dead worker is replaced by the driver, which knows where its segments stand.
        self._actor = ray.remote(DreamWorker).options(num_cpus=self.cpus, num_gpus=self.gpus, max_restarts=0,
                                                     max_task_retries=0, scheduling_strategy="SPREAD")
        self._make = make
        self.count = count
        self.workers = [self._start() for _ in range(count)]
        self.shipped = Shipped()  # what the last job sent to workers that could not read its source

    def _start(self):
        return self._actor.remote(self._make)

    def replace(self, dead) -> Any:
        import ray

        ray.kill(dead, no_restart=True)
        fresh = self._start()
        self.workers = [fresh if worker is dead else worker for worker in self.workers]
        return fresh

    def auto_tile(self, batch: int) -> int:
        """The tile every worker can afford: the smallest they propose (waits for the models to load)."""
        import ray

        return min(ray.get([worker.auto_tile.remote(batch) for worker in self.workers]))

    def precision(self) -> str:
        import ray

        return ray.get(self.workers[0].precision.remote())

    def restart(self) -> None:
        """After an interrupted job: stop whatever the workers are doing, start afresh."""
        import ray

        for worker in self.workers:
            ray.kill(worker, no_restart=True)
        self.workers = [self._start() for _ in self.workers]

    def close(self) -> None:
        import ray

        for worker in self.workers:
            ray.kill(worker, no_restart=True)
        self.workers = []


def render_on_ray(job: Job, source: FrameSource, sink_factory, pool: WorkerPool, settings: Settings,
                  reporter: Reporter, *, fresh: bool = False, keep_parts: bool = False) -> JobResult:
    """Plan and assemble here, dream on the pool's workers. The segments do not depend on the number of
    workers (see plan.default_segments), so the frames are those of a local render."""
    batch = pool.batch
    render = open_render(job, source, sink_factory, settings, batch, lambda: pool.auto_tile(batch), fresh)

    shipper = PieceShipper(source)

    def dreaming(plan: RenderPlan, settings: Settings):
        def dream(todo, timings, resume_point):
            return dream_on_workers(pool, source, plan, settings, batch, todo, timings, resume_point, shipper)

        return dream

    try:
        render = with_colour_reference(render, dreaming)  # a worker dreams the first frame, if it must
        return drive(render, dreaming(render.plan, render.settings), reporter, precision=pool.precision(),
                     depth=2 * pool.count * batch, keep_parts=keep_parts)
    except BaseException:
        pool.restart()  # calls still running on the workers must not go on into the next job
        raise
    finally:
        pool.shipped = shipper.shipped


@dataclass
class _Call:
    """A dream call in progress: its worker, its segments, the worker's timings so far, and the refs of the
    pieces it was sent (dropped when the call ends, so that they leave the object store)."""

    worker: Any
    segments: list[Segment]
    timings: dict[str, float]
    pieces: list


def dream_on_workers(pool: WorkerPool, source: FrameSource, plan: RenderPlan, settings: Settings, batch: int,
                     todo: list[tuple[Segment, ResumePoint | None]], timings: dict[str, float],
                     resume_point: Callable[[Segment], ResumePoint | None],
                     shipper: PieceShipper | None = None) -> Iterator[list[Finished]]:
    """Hand the segments, longest remaining first, to idle workers, `batch` at a time, with their pieces for
    a worker that cannot read the source; yield the rounds they stream back. A dead worker's segments go
    back on the list from the last frame on disk."""
    import ray
    from ray.exceptions import RayActorError

    shipper = shipper or PieceShipper(source)
    stamps = source_stamps(source)
    events: queue.Queue = queue.Queue(maxsize=pool.count)  # bounded: a slow disk holds the workers back
    stop = threading.Event()
    pending = list(todo)
    idle: list = []
    sees: dict[Any, bool] = {}  # worker -> it reads the source at its path
    running: dict[int, _Call] = {}
    deaths: dict[int, int] = defaultdict(int)
    lost = 0

    def put(event: tuple) -> None:
        while not stop.is_set():
            try:
                events.put(event, timeout=0.1)
                return
            except queue.Full:
                continue

    def follow(call: int, generator) -> None:
        """Hand over a call's rounds, in order, then how it ended."""
        try:
            for ref in generator:
                put(("round", call, ray.get(ref)))
            put(("done", call, None))
        except RayActorError as error:  # the worker died: killed, or its node lost
            put(("died", call, error))
        except BaseException as error:
            put(("failed", call, error))

    def ready(worker) -> None:
        """A worker joins once its model is loaded and it has said whether it reads the source (never, if no
        node has room for it)."""
        ref = worker.sees_source.remote(stamps)
        while not stop.is_set():
            done, _ = ray.wait([ref], timeout=0.2)
            if done:
                try:
                    put(("ready", worker, ray.get(ref)))
                except RayActorError as error:
                    put(("lost", worker, error))
                return

    def welcome(worker) -> None:
        threading.Thread(target=ready, args=(worker,), daemon=True, name="ready").start()

    for worker in pool.workers:
        welcome(worker)
    calls = 0
    try:
        while pending or running:
            pending = longest_first(pending)
            while idle and pending:
                worker = idle.pop(0)
                work, pending = pending[:batch], pending[batch:]
                pieces, refs = ((), []) if sees[worker] or not shipper.can_ship else shipper.pieces_for(work)
                generator = worker.dream.options(_generator_backpressure_num_objects=ROUNDS_IN_FLIGHT).remote(
                    source, plan, settings, work, batch, stamps, pieces, *refs)
                calls += 1
                running[calls] = _Call(worker, [segment for segment, _ in work], {}, refs)
                threading.Thread(target=follow, args=(calls, generator), daemon=True, name=f"worker-{calls}").start()
            kind, key, value = events.get()
            if kind == "ready":
                if key in pool.workers:
                    sees[key] = value
                    idle.append(key)
            elif kind == "lost":  # died while starting: replaced, a few times at most
                if key in pool.workers:
                    lost += 1
                    if lost > MAX_DEATHS * pool.count:
                        raise DreamvidError(f"the workers die as they start; last: {value}")
                    welcome(pool.replace(key))
            elif kind == "round":
                frames, worker_timings = value
                seen = running[key].timings
                for stage, seconds in worker_timings.items():
                    timings[stage] = timings.get(stage, 0.0) + seconds - seen.get(stage, 0.0)
                running[key].timings = worker_timings
                yield frames
            elif kind == "done":
                call = running.pop(key)
                shipper.call_ended(call.pieces)
                idle.append(call.worker)
            elif kind == "died":
                call = running.pop(key)
                shipper.call_ended(call.pieces)
                for segment in call.segments:
                    deaths[segment.index] += 1
                    if deaths[segment.index] >= MAX_DEATHS:
                        raise DreamvidError(f"segment {segment.index} (frames {segment.first}-{segment.end - 1}): "
                                            f"its worker died {MAX_DEATHS} times; last: {value}")
                    resume = resume_point(segment)
                    if resume is None or resume.index < segment.end - 1:
                        pending.append((segment, resume))
                welcome(pool.replace(call.worker))
            elif kind == "failed":
                raise _cause(value)
    finally:
        stop.set()


def longest_first(work: list[tuple[Segment, ResumePoint | None]]) -> list[tuple[Segment, ResumePoint | None]]:
    """Segments by the frames they have left to dream, most first (ties: in frame order), so that the
    render does not end waiting on a long segment started last."""
    def left(item: tuple[Segment, ResumePoint | None]) -> int:
        segment, resume = item
        return segment.end - (resume.index + 1 if resume is not None else segment.first)

    return sorted(work, key=lambda item: (-left(item), item[0].first))


def _cause(error: BaseException) -> BaseException:
    """A worker's own error (a UserError, an OSError) as raised there, without Ray's wrapping."""
    cause = getattr(error, "cause", None)
    return cause if isinstance(cause, (DreamvidError, OSError)) else error
