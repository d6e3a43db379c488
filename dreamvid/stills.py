"""Still-image jobs: one picture, or a folder of independent pictures batched by size."""
from __future__ import annotations

import contextlib
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

from .atomic import link_or_copy, new_staging
from .colours import ColourLook
from .imageops import apply_delta, processing_size, resize
from .interrupts import signals_held
from .job import Job, JobResult, Kind
from .journal.resume import job_plan
from .journal.workfolder import WorkFolder
from .progress import Reporter
from .settings import Settings
from .sidecar import publish_folder, record, write_sidecar
from .io.images import inspect_image, read_image, write_image
from .io.mattes import Matte, open_matte


def run_stills(job: Job, dreamer, settings: Settings, reporter: Reporter, batch: int, fresh: bool = False) -> JobResult:
    """Dream an image, or a folder of independent images batched by size. A folder renders into
    `<output>.partial/` (resumable); when every image is done the finished folder is swapped in whole."""
    params = {**job.params, "batch": batch}
    settings = replace(settings, tile=settings.tile or dreamer.auto_tile(batch))
    recorded = {**params, "tile": settings.tile}
    started = time.monotonic()
    matte = open_matte(settings.mask, settings.mask_invert)
    if job.kind is Kind.IMAGE:
        reporter.start(job.source.name, 1)
        picture = read_image(job.source)
        picture.rgb = dream_pictures([picture.rgb], dreamer, settings, _mattes(matte, [0], [picture]))[0]
        made = not job.output.parent.exists()  # -o out/: the folder typed with a slash (its parent was checked)
        job.output.parent.mkdir(exist_ok=True)
        try:
            # The record first: a kill between the two leaves a picture that --overwrite may still replace.
            write_sidecar(job.sidecar, recorded, precision_used=dreamer.features.precision, input=str(job.source))
            write_image(job.output, picture)
        except BaseException:  # a full disk, Ctrl-C: no record is left of a picture that is not there,
            if not job.output.exists():  # nor the folder made for it
                job.sidecar.unlink(missing_ok=True)
                if made:
                    with contextlib.suppress(OSError):
                        job.output.parent.rmdir()
            raise
        reporter.advance(1)
        reporter.finish()
        return JobResult(job, 1, time.monotonic() - started)

    work = WorkFolder.open(job.work_folder, job_plan(job, params), fresh=fresh)
    todo = [frame for frame in job.frames if not work.has(frame.name)]
    done = len(job.frames) - len(todo)
    reporter.start(job.source.name, len(job.frames), resumed=done)
    position = {path: index for index, path in enumerate(job.frames)}  # a picture's matte: the matte's frame there
    for group in _batches(todo, batch):
        pictures = [read_image(path) for path in group]
        mattes = _mattes(matte, [position[path] for path in group], pictures)
        dreamed = dream_pictures([p.rgb for p in pictures], dreamer, settings, mattes)
        for path, picture, rgb in zip(group, pictures, dreamed):
            picture.rgb = rgb
            write_image(work.piece(path.name), picture)
        done += len(group)
        reporter.advance(done)
    # The work folder stays whole until the finished folder is in place: a kill leaves it resumable.
    staging = new_staging(job.output)
    for frame in job.frames:
        link_or_copy(work.piece(frame.name), staging / frame.name)
    publish_folder(staging, job.output, [frame.name for frame in job.frames],
                   record(recorded, precision_used=dreamer.features.precision, input=str(job.source),
                          frames=len(job.frames)))
    reporter.finish()  # the output is complete: a signal from now on leaves nothing to resume
    with signals_held():  # and must not leave half a work folder
        work.remove()
    return JobResult(job, len(todo), time.monotonic() - started)


def _batches(paths: list[Path], batch: int) -> list[list[Path]]:
    """Consecutive groups of at most `batch` images of the same size (headers only)."""
    groups: list[list[Path]] = []
    last_size = None
    for path in paths:
        info = inspect_image(path)
        size = (info.width, info.height)
        if not groups or size != last_size or len(groups[-1]) >= batch:
            groups.append([])
        groups[-1].append(path)
        last_size = size
    return groups


def _mattes(matte: Matte | None, indices: list[int], pictures: list) -> list[np.ndarray] | None:
    """Each picture's matte plane at the picture's full size (None: no --mask)."""
    if matte is None:
        return None
    return [matte.frame(index, picture.rgb.shape[:2]) for index, picture in zip(indices, pictures)]


def dream_pictures(images: list[np.ndarray], dreamer, settings: Settings,
                   mattes: list[np.ndarray] | None = None) -> list[np.ndarray]:
    """Dream same-size RGB float images at the processing size; results keep the input size.

    A float picture with values outside [0, 1] (a float TIFF) is dreamed clipped to [0, 1], and
    the dream's change is added to its own values unclipped, so its range survives. The look is given
    at the processing size (--colors: the colours of the picture dreamed); a matte (one per image, at
    full size) takes no steps where it is black and scales the change added at full size, so black
    is the source's own picture, exactly."""
    height, width = images[0].shape[:2]
    small_h, small_w = processing_size(height, width, settings.max_side)
    small = np.empty((len(images), small_h, small_w, 3), np.float32)
    for index, image in enumerate(images):  # one copy, filled in place: a large still costs less memory
        np.clip(resize(image, small_h, small_w), 0.0, 1.0, out=small[index])
    np.nan_to_num(small, copy=False)  # a float TIFF's missing values (NaN) would spread through the dream
    if mattes is None:
        dreamed = dreamer.dream(small, settings.dream_params())
    else:  # no steps where a matte is black
        step_map = np.stack([resize(matte, small_h, small_w) > 0 for matte in mattes]).astype(np.float32)
        dreamed = dreamer.dream(small, settings.dream_params(), step_map=step_map)
    look = ColourLook(settings.colors)
    return [apply_delta(image, s, look.apply(d, s), clip=bool(image.min() >= 0.0 and image.max() <= 1.0),
                        matte=None if mattes is None else mattes[index])
            for index, (image, s, d) in enumerate(zip(images, small, dreamed))]
