"""The Python API: dream an array in a notebook, or render files as the CLI does. Each job goes to its
runner by its kind: stills to stills.run_stills, clips to temporal.run.run_temporal (here or on a Ray
cluster), zooms to temporal.zoom.run_zoom. No numerics framework is named here: the engine's face
loads the dreamer and tells an out-of-memory error."""
from __future__ import annotations

import contextlib
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from . import engine
from .errors import DreamvidError, OutOfMemory
from .imageops import from_float, to_float
from .job import Job, JobResult, Kind, ZoomMotion
from .io.mattes import open_matte
from .jobs import check_matte_fits, plan_jobs, plan_zoom_jobs
from .progress import Reporter
from .settings import Settings, build_settings

if TYPE_CHECKING:  # pragma: no cover
    from .temporal.cluster import RayOptions


def dream(image: np.ndarray, *, dreamer=None, **options: Any) -> np.ndarray:
    """Dream one image (HxWx3, uint8/uint16 or float in [0, 1]); returns the same size and type.

    Options are the CLI's, as keywords: dream(img, model="vgg16-hed", layers=["block4_conv3"], steps=20).
    `dreamer`: one already loaded (engine.load_dreamer), or a double in tests."""
    from .stills import dream_pictures

    settings = build_settings(options)
    rgb = to_float(np.asarray(image))
    matte = open_matte(settings.mask, settings.mask_invert)
    if matte is not None:
        check_matte_fits(matte, rgb.shape[1], rgb.shape[0], 1, "the image")
    dreamer = dreamer or engine.load_dreamer(settings)
    result = dream_pictures([rgb], dreamer, settings, None if matte is None else [matte.frame(0, rgb.shape[:2])])[0]
    return from_float(result, image.dtype) if image.dtype in (np.uint8, np.uint16) else result


def render(inputs: list[str | Path] | str | Path, output: str | Path | None = None, *,
           reporter: Reporter | None = None, overwrite: bool = False, fresh: bool = False,
           keep_parts: bool = False, sequence: bool = False, config: str | Path | None = None,
           ray: "str | RayOptions | None" = None, dreamer=None, **options: Any) -> list[JobResult]:
    """Render files as the `dreamvid` command does: images, folders, sequences and videos, in turn.

    Every input is validated before any work. A job that fails while rendering is reported in its
    result (its checkpoints kept) and the queue goes on; so does an input of a queue that cannot be
    rendered at all; an existing output is skipped. `ray` ("auto", a cluster's address, or RayOptions)
    dreams videos and sequences on a Ray cluster. `dreamer`: see `dream`."""
    paths = [Path(p) for p in ([inputs] if isinstance(inputs, (str, Path)) else inputs)]
    settings = build_settings(options, Path(config) if config else None)
    reporter = reporter or Reporter()
    cluster = None
    if ray is not None:
        from .temporal.cluster import RayOptions, check_ray

        check_ray()
        cluster = ray if isinstance(ray, RayOptions) else RayOptions(str(ray))
    with contextlib.ExitStack() as locks:
        jobs = plan_jobs(paths, settings, output or None, overwrite=overwrite, fresh=fresh,  # "out/" stays a folder
                         sequence=sequence, warn=reporter.warn, locks=locks)
        return run_queue(jobs, settings, reporter, fresh=fresh, keep_parts=keep_parts, cluster=cluster,
                         dreamer=dreamer)


def render_zoom(inputs: list[str | Path] | str | Path, output: str | Path | None = None, *, frames: int = 100,
                zoom: str | float = "1.02", rotate: str | float = "0", translate_x: str | float = "0",
                translate_y: str | float = "0", reporter: Reporter | None = None, overwrite: bool = False,
                fresh: bool = False, keep_parts: bool = False, config: str | Path | None = None, dreamer=None,
                **options: Any) -> list[JobResult]:
    """Zoom into pictures (or videos' last frames) as `dreamvid zoom` does; options are the render's."""
    paths = [Path(p) for p in ([inputs] if isinstance(inputs, (str, Path)) else inputs)]
    settings = build_settings(options, Path(config) if config else None)
    motion = ZoomMotion.parse(str(zoom), str(rotate), str(translate_x), str(translate_y), frames, settings.fps)
    reporter = reporter or Reporter()
    with contextlib.ExitStack() as locks:
        jobs = plan_zoom_jobs(paths, settings, motion, output or None, overwrite=overwrite, fresh=fresh, locks=locks)
        return run_queue(jobs, settings, reporter, fresh=fresh, keep_parts=keep_parts, dreamer=dreamer)


def run_queue(jobs: list[Job], settings: Settings, reporter: Reporter, *, fresh: bool = False,
              keep_parts: bool = False, cluster: "RayOptions | None" = None, dreamer=None) -> list[JobResult]:
    """Run the planned jobs in turn. With a `cluster`, videos and sequences are dreamed by its workers
    (which load the model once for the whole queue) and this process needs no model for them."""
    todo = [job for job in jobs if not job.skip and job.failure is None]
    here = [job for job in todo if cluster is None or not job.kind.from_source_frames]
    if dreamer is None and here:
        dreamer = engine.load_dreamer(settings)
    batch = settings.batch or (engine.default_batch() if here else 1)
    pool = None
    try:
        if cluster is not None and len(here) < len(todo):
            from .temporal.cluster import WorkerPool

            pool = WorkerPool(cluster, settings)
        return [_run_one(job, dreamer, settings, reporter, batch, fresh, keep_parts, pool, len(jobs) == 1)
                for job in jobs]
    finally:
        if pool is not None:
            pool.close()


def _run_one(job: Job, dreamer, settings: Settings, reporter: Reporter, batch: int, fresh: bool,
             keep_parts: bool, pool, alone: bool) -> JobResult:
    if job.failure is not None:  # said when it was planned
        return JobResult(job, 0, 0.0, "failed", job.failure)
    if job.skip:
        reporter.warn(f"{job.output} exists: skipped (add --overwrite to render it again)")
        return JobResult(job, 0, 0.0, "skipped")
    started = time.monotonic()
    try:
        if pool is not None and job.kind.from_source_frames:  # dreamed on the cluster: no model here
            from .temporal.run import run_temporal

            return run_temporal(job, None, settings, reporter, pool.batch, fresh=fresh, keep_parts=keep_parts,
                                pool=pool)
        return run_job(job, dreamer, settings, reporter, batch, fresh=fresh, keep_parts=keep_parts)
    except Exception as error:  # not KeyboardInterrupt: Ctrl-C stops the whole queue
        if alone:
            raise
        reason = str(error) if isinstance(error, (DreamvidError, OSError)) else f"{type(error).__name__}: {error}"
        reporter.warn(f"{job.source}: failed: {reason} (checkpoints kept; the queue goes on)")
        return JobResult(job, 0, time.monotonic() - started, "failed", reason)


def run_job(job: Job, dreamer, settings: Settings, reporter: Reporter, batch: int, *,
            fresh: bool = False, keep_parts: bool = False) -> JobResult:
    """One job by its runner; an out-of-memory error becomes a message that says what to lower."""
    try:
        return _run_job(job, dreamer, settings, reporter, batch, fresh=fresh, keep_parts=keep_parts)
    except Exception as error:
        if not engine.is_out_of_memory(error):  # the accelerator's, or the machine's (numpy)
            raise
        raise OutOfMemory(f"{job.source}: out of memory while dreaming (batch {batch}): try a smaller --tile, "
                          f"--batch 1 or a smaller --max-side; finished frames are kept") from None


def _run_job(job: Job, dreamer, settings: Settings, reporter: Reporter, batch: int, *,
             fresh: bool = False, keep_parts: bool = False) -> JobResult:
    if job.kind is Kind.ZOOM:
        from .temporal.zoom import run_zoom

        return run_zoom(job, dreamer, settings, reporter, batch, fresh=fresh, keep_parts=keep_parts)
    if job.kind.from_source_frames:
        from .temporal.run import run_temporal

        return run_temporal(job, dreamer, settings, reporter, batch, fresh=fresh, keep_parts=keep_parts)
    from .stills import run_stills

    return run_stills(job, dreamer, settings, reporter, batch, fresh=fresh)
