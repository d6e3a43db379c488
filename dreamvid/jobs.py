"""What to render: turns the inputs of one command into validated jobs (before TensorFlow loads),
and runs still-image jobs."""
from __future__ import annotations

import os
import shutil
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .errors import UserError
from .imageops import apply_delta, processing_size, resize
from .journal import WorkFolder, check_resumable
from .models import resolve_layers, resolve_weights
from .progress import Reporter
from .settings import Settings, frame_range
from .sidecar import fingerprint, parameters, write_sidecar
from .stills import IMAGE_SUFFIXES, inspect_image, list_images, read_image, write_image

# Parameters that do not change the dreamed frames: a resume may change them.
NOT_IN_FRAMES = ("crf", "audio", "fps", "batch")
VIDEO_SUFFIXES = {".mp4", ".mov", ".mkv", ".avi", ".webm", ".m4v", ".mpg", ".mpeg", ".wmv", ".flv"}


@dataclass(frozen=True)
class Job:
    """One input and where its result goes. `kind` is image, stills (a folder of independent
    images) or video."""

    kind: str
    source: Path
    output: Path
    frames: tuple[Path, ...] = field(default=(), repr=False)


    @property
    def sidecar(self) -> Path:
        """The JSON record of the render: beside a file, inside a folder."""
        if self.output.suffix:
            return self.output.with_name(self.output.name + ".json")
        return self.output / "dreamvid.json"

    @property
    def work_folder(self) -> Path:
        """Where a long job keeps its finished pieces until the output is complete."""
        return self.output.with_name(self.output.name + (".parts" if self.kind == "video" else ".partial"))


@dataclass(frozen=True)
class JobResult:
    job: Job
    frames: int
    seconds: float


def plan_jobs(inputs: list[Path], settings: Settings, output: Path | None = None,
              overwrite: bool = False, fresh: bool = False) -> list[Job]:
    """Validate everything a render can check without TensorFlow and decide each output path,
    including whether an interrupted render of the same output can be resumed."""
    if not inputs:
        raise UserError("no input given")
    resolve_weights(settings.model, settings.weights)
    resolve_layers(settings.model, settings.layers)
    jobs = [_plan_one(path, settings, output if len(inputs) == 1 else None, output, overwrite)
            for path in inputs]
    outputs = [job.output.resolve() for job in jobs]
    if len(set(outputs)) != len(outputs):
        raise UserError("two inputs would write the same output: rename them or render them separately")
    if not fresh:
        params = resolved_parameters(settings)
        for job in jobs:
            check_resumable(job.work_folder, job_fingerprint(job, params), params)
    return jobs


def _plan_one(source: Path, settings: Settings, explicit: Path | None, folder: Path | None,
              overwrite: bool) -> Job:
    if not source.exists():
        raise UserError(f"input not found: {source}")
    if source.is_dir():
        frames = tuple(list_images(source))
        for frame in frames:
            inspect_image(frame)
        kind, default = "stills", source.with_name(source.name + "_dream")
    elif source.suffix.lower() in VIDEO_SUFFIXES:
        from .video import probe_video

        frame_range(settings.frames, probe_video(source).frame_count)
        frames, kind = (), "video"
        default = source.with_name(source.stem + "_dream" + source.suffix.lower())
    else:
        inspect_image(source)
        frames, kind, default = (source,), "image", source.with_name(source.stem + "_dream.png")
    if explicit is not None:
        output = explicit
    elif folder is not None:
        output = folder / default.name
    else:
        output = default
    _check_output(source, output, kind, overwrite)
    return Job(kind, source, output, frames)


def _check_output(source: Path, output: Path, kind: str, overwrite: bool) -> None:
    if output.resolve() == source.resolve():
        raise UserError(f"output {output} is the input: choose another with -o")
    if kind == "image" and output.suffix.lower() not in IMAGE_SUFFIXES:
        raise UserError(f"output {output} must end in an image suffix ({', '.join(sorted(IMAGE_SUFFIXES))})")
    if kind == "video" and output.suffix.lower() not in (".mp4", ".mov", ".mkv"):
        raise UserError(f"video output {output} must end in .mp4, .mov or .mkv")
    if output.exists() and not overwrite:
        raise UserError(f"output {output} exists: add --overwrite to replace it")
    if output.is_dir() != (kind == "stills") and output.exists():
        raise UserError(f"output {output} exists and is a {'folder' if output.is_dir() else 'file'}")
    parent = output.parent
    if not parent.is_dir():
        raise UserError(f"cannot write {output}: folder {parent} does not exist")
    try:
        with tempfile.TemporaryFile(dir=parent):
            pass
    except OSError:
        raise UserError(f"cannot write {output}: folder {parent} is not writable") from None


def resolved_parameters(settings: Settings, batch: int | None = None) -> dict:
    layers = resolve_layers(settings.model, settings.layers)
    return parameters(settings, layers=[str(layer) for layer in layers],
                      weights=resolve_weights(settings.model, settings.weights), batch=batch)


def job_fingerprint(job: Job, params: dict) -> str:
    """What a resumed job must share with the run that made its checkpoints."""
    return fingerprint({**params, "source": str(job.source.resolve())}, ignore=NOT_IN_FRAMES)


def run_stills(job: Job, dreamer, settings: Settings, reporter: Reporter, batch: int, fresh: bool = False) -> JobResult:
    """Dream an image, or a folder of independent images batched by size. A folder renders into
    `<output>.partial/` (resumable) and is renamed when every image is done."""
    params = resolved_parameters(settings, batch)
    started = time.monotonic()
    if job.kind == "image":
        reporter.start(job.source.name, 1)
        picture = read_image(job.source)
        picture.rgb = _dream_pictures([picture.rgb], dreamer, settings)[0]
        write_image(job.output, picture)
        write_sidecar(job.output.with_name(job.output.name + ".json"), params, input=str(job.source))
        reporter.advance(1)
        reporter.finish()
        return JobResult(job, 1, time.monotonic() - started)

    work = WorkFolder.open(job.work_folder, {"fingerprint": job_fingerprint(job, params), "parameters": params,
                                             "source": str(job.source)}, fresh=fresh)
    todo = [frame for frame in job.frames if not work.has(frame.name)]
    done = len(job.frames) - len(todo)
    reporter.start(job.source.name, len(job.frames), resumed=done)
    for group in _batches(todo, batch):
        pictures = [read_image(path) for path in group]
        dreamed = _dream_pictures([p.rgb for p in pictures], dreamer, settings)
        for path, picture, rgb in zip(group, pictures, dreamed):
            picture.rgb = rgb
            write_image(work.piece(path.name), picture)
        done += len(group)
        reporter.advance(done)
    (work.path / "plan.json").unlink()
    write_sidecar(work.path / "dreamvid.json", params, input=str(job.source), frames=len(job.frames))
    if job.output.exists():
        shutil.rmtree(job.output)
    os.replace(work.path, job.output)
    reporter.finish()
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


def _dream_pictures(images: list[np.ndarray], dreamer, settings: Settings) -> list[np.ndarray]:
    """Dream same-size RGB float images at the processing size; results keep the input size."""
    height, width = images[0].shape[:2]
    small_h, small_w = processing_size(height, width, settings.max_side)
    small = np.stack([resize(image, small_h, small_w) for image in images])
    dreamed = dreamer.dream(small, settings.dream_params())
    return [apply_delta(image, s, d) for image, s, d in zip(images, small, dreamed)]
