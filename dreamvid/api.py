"""The Python API: dream an array in a notebook, or render files as the CLI does."""
from __future__ import annotations

import contextlib
import os
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from .imageops import from_float, to_float
from .errors import DreamvidError, OutOfMemory
from .jobs import Job, JobResult, plan_jobs
from .models import load_feature_model, resolve_layers, resolve_weights
from .progress import Reporter
from .stills import read_image
from .settings import Settings, build_settings

if TYPE_CHECKING:  # pragma: no cover
    from .temporal.cluster import RayOptions

_DREAMERS: dict[tuple, Any] = {}


def load_dreamer(settings: Settings):
    """Build (once per model, weights, layers and XLA flag) the model and its compiled step loop."""
    key = (settings.model, resolve_weights(settings.model, settings.weights), resolve_layers(settings.model, settings.layers), settings.xla,
           settings.seed if settings.weights == "random" else None, settings.precision, settings.guide)
    if key not in _DREAMERS:
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
        with _native_logs_hidden():
            from .engine import Dreamer

            layers = key[2]
            features = load_feature_model(settings.model, settings.weights, layers, seed=settings.seed,
                                          precision=settings.precision)
        guide = read_image(Path(settings.guide)).rgb if settings.guide else None  # checked by build_settings
        _DREAMERS[key] = Dreamer(features, layers, xla=settings.xla, guide=guide)
    return _DREAMERS[key]


@contextlib.contextmanager
def _native_logs_hidden():
    """TensorFlow's C++ start-up messages (no GPU found, oneDNN notes) bypass Python's logging and
    TF_CPP_MIN_LOG_LEVEL; hide them from users unless DREAMVID_DEBUG is set. Python errors still show."""
    if os.environ.get("DREAMVID_DEBUG"):
        yield
        return
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with open(os.devnull, "w") as devnull:
            os.dup2(devnull.fileno(), 2)
            try:
                yield
            finally:
                os.dup2(saved, 2)
    finally:
        os.close(saved)


def default_batch() -> int:
    """Frames dreamed together: several on an accelerator, one on a CPU (where batching gains nothing)."""
    import tensorflow as tf

    return 4 if tf.config.list_physical_devices("GPU") else 1


def dream(image: np.ndarray, **options: Any) -> np.ndarray:
    """Dream one image (HxWx3, uint8/uint16 or float in [0, 1]); returns the same size and type.

    Options are the CLI's, as keywords: dream(img, model="vgg16-hed", layers=["block4_conv3"], steps=20)."""
    settings = build_settings(options)
    from .stillsjob import dream_pictures

    dreamer = load_dreamer(settings)
    rgb = to_float(np.asarray(image))
    result = dream_pictures([rgb], dreamer, settings)[0]
    return from_float(result, image.dtype) if image.dtype in (np.uint8, np.uint16) else result


def render(inputs: list[str | Path] | str | Path, output: str | Path | None = None, *,
           reporter: Reporter | None = None, overwrite: bool = False, fresh: bool = False,
           keep_parts: bool = False, sequence: bool = False, config: str | Path | None = None,
           ray: "str | RayOptions | None" = None, **options: Any) -> list[JobResult]:
    """Render files as the `dreamvid` command does: images, folders, sequences and videos, in turn.

    Every input is validated before any work. A job that fails while rendering is reported in its
    result (its checkpoints kept) and the queue goes on; an existing output is skipped. `ray` ("auto",
    a cluster's address, or RayOptions) dreams videos and sequences on a Ray cluster."""
    paths = [Path(p) for p in ([inputs] if isinstance(inputs, (str, Path)) else inputs)]
    settings = build_settings(options, Path(config) if config else None)
    reporter = reporter or Reporter()
    cluster = None
    if ray is not None:
        from .temporal.cluster import RayOptions, check_ray

        check_ray()
        cluster = ray if isinstance(ray, RayOptions) else RayOptions(str(ray))
    jobs = plan_jobs(paths, settings, output or None, overwrite=overwrite, fresh=fresh,  # "out/" stays a folder
                     sequence=sequence, warn=reporter.warn)
    return run_queue(jobs, settings, reporter, fresh=fresh, keep_parts=keep_parts, cluster=cluster)


def run_queue(jobs: list[Job], settings: Settings, reporter: Reporter, *, fresh: bool = False,
              keep_parts: bool = False, cluster: "RayOptions | None" = None) -> list[JobResult]:
    """Run the jobs in turn. With a `cluster`, videos and sequences are dreamed by its workers (which
    load the model once for the whole queue) and this process needs no model for them."""
    todo = [job for job in jobs if not job.skip]
    here = [job for job in todo if cluster is None or not job.temporal]
    dreamer = load_dreamer(settings) if here else None
    batch = settings.batch or (default_batch() if here else 1)
    pool = None
    try:
        if cluster is not None and len(here) < len(todo):
            from .temporal.cluster import WorkerPool

            pool = WorkerPool(cluster, settings)
        return _run_all(jobs, dreamer, settings, reporter, batch, fresh, keep_parts, pool)
    finally:
        if pool is not None:
            pool.close()


def _run_all(jobs: list[Job], dreamer, settings: Settings, reporter: Reporter, batch: int, fresh: bool,
             keep_parts: bool, pool) -> list[JobResult]:
    results = []
    for job in jobs:
        if job.skip:
            reporter.warn(f"{job.output} exists: skipped (add --overwrite to render it again)")
            results.append(JobResult(job, 0, 0.0, "skipped"))
            continue
        started = time.monotonic()
        try:
            if pool is not None and job.temporal:  # dreamed on the cluster: no TensorFlow here
                from .temporal.run import run_temporal

                results.append(run_temporal(job, None, settings, reporter, pool.batch, fresh=fresh,
                                            keep_parts=keep_parts, pool=pool))
            else:
                results.append(run_job(job, dreamer, settings, reporter, batch, fresh=fresh, keep_parts=keep_parts))
        except Exception as error:  # not KeyboardInterrupt: Ctrl-C stops the whole queue
            if len(jobs) == 1:
                raise
            reason = str(error) if isinstance(error, (DreamvidError, OSError)) else f"{type(error).__name__}: {error}"
            reporter.warn(f"{job.source}: failed: {reason} (checkpoints kept; the queue goes on)")
            results.append(JobResult(job, 0, time.monotonic() - started, "failed", reason))
    return results


def run_job(job: Job, dreamer, settings: Settings, reporter: Reporter, batch: int, *,
            fresh: bool = False, keep_parts: bool = False) -> JobResult:
    """One job; TensorFlow's out-of-memory error becomes a message that says what to lower."""
    import tensorflow as tf

    try:
        return _run_job(job, dreamer, settings, reporter, batch, fresh=fresh, keep_parts=keep_parts)
    except (tf.errors.ResourceExhaustedError, MemoryError):  # the accelerator's, or the machine's (numpy)
        raise OutOfMemory(f"{job.source}: out of memory while dreaming (batch {batch}): try a smaller --tile, "
                          f"--batch 1 or a smaller --max-side; finished frames are kept") from None


def _run_job(job: Job, dreamer, settings: Settings, reporter: Reporter, batch: int, *,
             fresh: bool = False, keep_parts: bool = False) -> JobResult:
    if job.kind == "zoom":
        from .zoom import run_zoom

        return run_zoom(job, dreamer, settings, reporter, batch, fresh=fresh, keep_parts=keep_parts)
    if job.temporal:
        from .temporal.run import run_temporal

        return run_temporal(job, dreamer, settings, reporter, batch, fresh=fresh, keep_parts=keep_parts)
    from .stillsjob import run_stills

    return run_stills(job, dreamer, settings, reporter, batch, fresh=fresh)


def model_file_layers(model: str) -> dict[str, int]:
    """Layers of a Keras model file with 4-D outputs (feature maps), and their channels."""
    from .models import _load_model_file

    base = _load_model_file(Path(model))
    return {layer.name: layer.output.shape[-1] for layer in base.layers if len(layer.output.shape) == 4}
