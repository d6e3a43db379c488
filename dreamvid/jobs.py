"""What to render: turns the inputs of one command into validated jobs, before TensorFlow loads."""
from __future__ import annotations

import hashlib
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Callable

from .atomic import recover_folder
from .errors import UserError
from .imageops import MIN_FLOW_SIDE, flow_fits
from .models import check_tile, resolve_layers, resolve_weights
from .settings import Settings, frame_range
from .sidecar import owned_files, parameters, read_record, sidecar_path
from .stills import (IMAGE_SUFFIXES, ImageDecodeError, check_memory, inspect_image, list_images, list_sequence,
                     read_image)
from .temporal.resume import check_resumable, job_plan, source_identity
from .temporal.workfolder import sweep

if TYPE_CHECKING:  # pragma: no cover
    from .video import VideoInfo

# Containers dreamvid writes (H.264 with AAC or copied audio); other inputs default to NAME_dream.mp4.
VIDEO_OUTPUTS = (".mp4", ".mov", ".mkv", ".m4v")
# Containers read as video (whatever the bundled ffmpeg decodes; its packet scan tells a damaged one).
VIDEO_SUFFIXES = {".mp4", ".mov", ".mkv", ".avi", ".webm", ".m4v", ".mpg", ".mpeg", ".wmv", ".flv", ".ts",
                  ".mts", ".m2ts", ".mxf", ".3gp", ".ogv", ".vob"}


@dataclass(frozen=True)
class Job:
    """One input and where its result goes.

    kind: image, stills (a folder of independent images), video, or sequence (numbered images
    dreamed as a clip). A video or sequence goes to a video file, or to a folder of images when
    `frame_names` is set (one name per source frame)."""

    kind: str
    source: Path
    output: Path
    frames: tuple[Path, ...] = field(default=(), repr=False)
    frame_names: tuple[str, ...] | None = field(default=None, repr=False)
    skip: bool = False  # the output exists and --overwrite was not given
    identity: dict | None = field(default=None, repr=False, compare=False)  # of the source, for the plan
    info: VideoInfo | None = field(default=None, repr=False, compare=False)  # a video's probe, made once

    @property
    def temporal(self) -> bool:
        return self.kind in ("video", "sequence")

    @property
    def to_folder(self) -> bool:
        return self.frame_names is not None or self.kind == "stills"

    @property
    def sidecar(self) -> Path:
        """The JSON record of the render: beside a file, inside a folder."""
        return sidecar_path(self.output, self.to_folder)

    @property
    def work_folder(self) -> Path:
        """Where a long job keeps its finished pieces until the output is complete."""
        return self.output.with_name(self.output.name + (".parts" if self.temporal else ".partial"))


@dataclass(frozen=True)
class JobResult:
    job: Job
    frames: int
    seconds: float
    status: str = "done"  # done, skipped or failed
    error: str | None = None


def plan_jobs(inputs: list[Path], settings: Settings, output: Path | str | None = None, *, overwrite: bool = False,
              fresh: bool = False, sequence: bool = False, warn: Callable[[str], None] = lambda _: None) -> list[Job]:
    """Validate everything a render can check without TensorFlow and decide each output path,
    including whether an interrupted render of the same output can be resumed. Any bad input
    stops the whole command here, before any work. `output` as typed: `out/` names a folder."""
    if not inputs:
        raise UserError("no input given")
    into = typed_folder(output)
    output = Path(output) if output is not None else None
    resolve_weights(settings.model, settings.weights)
    resolve_layers(settings.model, settings.layers)
    check_tile(settings.model, settings.tile)
    if len(inputs) > 1 and output is not None and output.suffix:
        raise UserError(f"with several inputs, -o names a folder to write into (got {output})")
    if len(inputs) > 1 and output is not None and not output.is_dir():
        raise UserError(f"output folder {output} does not exist")
    jobs = [_plan_one(path, settings, output if len(inputs) == 1 else None,
                      output if len(inputs) > 1 else None, overwrite, sequence, warn, into) for path in inputs]
    outputs = [job.output.resolve() for job in jobs]
    if len(set(outputs)) != len(outputs):
        raise UserError("two inputs would write the same output: rename them or render them separately")
    if not fresh:
        params = resolved_parameters(settings)
        for job in jobs:
            if not job.skip:
                check_resumable(job.work_folder, job_plan(job, params))
    for job in jobs:
        sweep(job.work_folder)  # what a kill left of a finished render's cleanup
    return jobs


def _plan_one(source: Path, settings: Settings, explicit: Path | None, folder: Path | None, overwrite: bool,
              sequence: bool, warn: Callable[[str], None], into: bool = False) -> Job:
    frames: tuple[Path, ...] = ()
    count = 0  # frames in a video or sequence
    span = (0, 0)  # the frames it renders, [start, end)
    size = None  # (width, height) of a video or sequence
    info = None  # a video's probe, handed to the job so that it is not probed again
    if "%" in source.name:
        kind, frames = "sequence", list_sequence(source, warn)
        default = _beside(source.parent, "_dream")
    elif not source.exists():
        raise UserError(f"input not found: {source}")
    elif source.is_dir() and sequence:
        kind, frames = "sequence", list_sequence(source, warn)
        default = _beside(source, "_dream")
    elif source.is_dir():
        frames = tuple(list_images(source))
        largest = max((inspect_image(frame) for frame in frames), key=lambda info: info.width * info.height)
        check_memory(largest, settings.max_side, settings.batch or 1)
        kind, default = "stills", _beside(source, "_dream")
    elif source.suffix.lower() in VIDEO_SUFFIXES:
        from .video import probe_video

        info = probe_video(source)
        count, size = info.frame_count, (info.width, info.height)
        suffix = source.suffix.lower() if source.suffix.lower() in VIDEO_OUTPUTS else ".mp4"
        kind, default = "video", source.with_name(source.stem + "_dream" + suffix)
    else:
        still = inspect_image(source)
        check_memory(still, settings.max_side)  # before decoding it whole
        if still.frames > 1:
            warn(f"{source} holds {still.frames} frames (an animation or pages): only the first is dreamed")
        _decodes(source)
        suffix = source.suffix if source.suffix.lower() in (".tif", ".tiff") else ".png"  # PNG holds no float, CMYK
        frames, kind, default = (source,), "image", source.with_name(source.stem + "_dream" + suffix)
    if kind == "sequence":
        count = len(frames)
        first = inspect_image(frames[0])
        size = (first.width, first.height)
    if kind in ("video", "sequence"):
        span = frame_range(settings.frames, count)
        _check_flow_size(source, size, settings)
    if settings.audio_driven and not (kind == "video" and info.has_audio):
        driven = ", ".join(name for name, plan in settings.schedules().items() if plan.audio)
        raise UserError(f"{source} has no soundtrack for {driven} to follow (audio: schedules need a video with audio)")
    output = explicit if explicit is not None else (folder / default.name if folder is not None else default)
    new_folder = False
    if kind == "image" and explicit is not None:
        output, new_folder = into_folder(explicit, default.name, into)
    output, frame_names = _frame_output(kind, source, output, frames, count)
    # A folder is done when its record, written last, lists every file of this render (a --frames
    # range: the frames of that range); a file is done when it is there and matches its record.
    names = frame_names[span[0]:span[1]] if frame_names is not None else (
        tuple(frame.name for frame in frames) if kind == "stills" else None)
    done = check_target(source, output, kind, names, overwrite, to_folder=frame_names is not None,
                        new_folder=new_folder)
    identity = None if kind == "image" else source_identity(source, frames, count, size)
    return Job(kind, source, output, frames, frame_names, skip=done and not overwrite, identity=identity,
               info=info)


def typed_folder(output: Path | str | None) -> bool:
    """Whether -o was typed with a slash (`out/`): it names a folder, which Path() forgets."""
    return isinstance(output, str) and output.endswith(("/", os.sep))


def into_folder(output: Path, name: str, typed: bool) -> tuple[Path, bool]:
    """A single output's -o that is a folder (existing, or `typed` with a slash, made when the output is
    written) holds the output under its default `name`, as in a queue: (the output, whether its folder is
    new). Any other -o names the output itself."""
    if not (typed or output.is_dir()):
        return output, False
    if output.exists() and not output.is_dir():
        raise UserError(f"output {output}/ is a file, not a folder")
    return output / name, not output.exists()


def check_target(source: Path, output: Path, kind: str, names: tuple[str, ...] | None, overwrite: bool, *,
                 to_folder: bool = False, new_folder: bool = False) -> bool:
    """Whether `output` is already done; a UserError for an output that cannot be written, or that
    dreamvid must not replace (see _check_owner). `names`: the files of a folder output. `new_folder`:
    the output's folder is made when it is written (its own folder must exist)."""
    _check_output(source, output, kind, to_folder, new_folder)
    done = _done(output, names)
    if not done or overwrite:
        _check_owner(output, names, overwrite)
    return done


def _done(output: Path, names: tuple[str, ...] | None) -> bool:
    if names is not None:
        recover_folder(output)  # a swap cut short by a kill (without renameat2): the old folder comes back
        return output.is_dir() and set(names) <= owned_files(output)
    if not output.exists():
        return False
    record = sidecar_path(output, folder=False)
    made = read_record(record)
    if made is None or made.get("bytes", output.stat().st_size) == output.stat().st_size:
        return True
    # Another size: either a kill came between the record and the rename (the record is the newer,
    # render again), or someone edited the finished file afterwards (keep it: --overwrite replaces it).
    return output.stat().st_mtime_ns > record.stat().st_mtime_ns


def _check_owner(output: Path, names: tuple[str, ...] | None, overwrite: bool) -> None:
    """Refuse, before any work, to replace a file that dreamvid did not write: a folder's files are
    dreamvid's when its record lists them, a file is when its record is beside it."""
    record = sidecar_path(output, names is not None)
    if record.exists() and read_record(record) is None:
        raise UserError(f"{record} exists and dreamvid did not write it: move it away or choose another -o")
    if names is None:
        if overwrite and output.exists() and read_record(record) is None:
            raise UserError(f"{output} exists and dreamvid did not write it (no {record.name} beside it): "
                            f"move it away or choose another -o")
        return
    owned = owned_files(output)
    theirs = [name for name in names if name not in owned and (output / name).exists()]
    if theirs:
        more = f" and {len(theirs) - 1} more" if len(theirs) > 1 else ""
        raise UserError(f"{output / theirs[0]}{more} exists and dreamvid did not write it: "
                        f"move it away or choose another -o")


def _check_flow_size(source: Path, size: tuple[int, int], settings: Settings) -> None:
    """Frames too small for the optical flow (a strip of pixels, or a tiny --max-side) are refused here
    rather than failing in the flow at the first frame."""
    from .temporal.plan import output_size

    height, width = output_size(*size, settings.max_side)
    if settings.flow and not flow_fits(height, width):
        larger = " or a larger --max-side" if (width, height) != tuple(size) else ""
        raise UserError(f"{source}: frames of {width}x{height} are too small for the optical flow ({MIN_FLOW_SIDE} pixels "
                        f"a side at least): add --no-flow{larger}")


def _beside(folder: Path, suffix: str) -> Path:
    """shot -> shot_dream beside it; `.` or `..` are named by the folder they stand for."""
    if folder.name in ("", ".", ".."):
        folder = folder.resolve()
    return folder.with_name(folder.name + suffix)


def _decodes(path: Path) -> None:
    """A single image is decoded whole while planning: cheap for one, and a damaged one fails fast."""
    inspect_image(path)
    try:
        read_image(path)
    except ImageDecodeError as error:
        raise UserError(str(error)) from None


def _frame_output(kind: str, source: Path, output: Path, frames: tuple[Path, ...],
                  count: int) -> tuple[Path, tuple[str, ...] | None]:
    """For a video or sequence: whether it goes to a video file or a folder of images, and their names.

    A sequence keeps its file names; a video's frames are numbered by source frame (clip_00000.png),
    or by a pattern such as out/f_%05d.png."""
    if not (kind in ("video", "sequence")) or output.suffix.lower() in VIDEO_OUTPUTS:
        return output, None
    if "%" in output.name:
        folder, pattern = output.parent, output.name
    elif output.suffix and not output.is_dir():
        raise UserError(f"output {output}: give a video (.mp4, .mov, .mkv, .m4v), a folder, "
                        "or a pattern like f_%05d.png")
    else:
        folder, pattern = output, None
    if kind == "sequence" and pattern is None:
        return folder, tuple(frame.name for frame in frames)
    if pattern is None:
        pattern = f"{source.stem}_%05d.png"
    try:
        names = tuple(pattern % index for index in range(count))
    except (TypeError, ValueError):
        raise UserError(f"bad frame pattern {pattern}: use one number field, e.g. f_%05d.png") from None
    if Path(names[0]).suffix.lower() not in IMAGE_SUFFIXES:
        raise UserError(f"frame pattern {pattern} must end in an image suffix, e.g. .png")
    return folder, names


def _check_output(source: Path, output: Path, kind: str, to_folder: bool, new_folder: bool = False) -> None:
    if output.resolve() == source.resolve() or (to_folder and output.resolve() == source.parent.resolve()
                                                and kind == "sequence"):
        raise UserError(f"output {output} is the input: choose another with -o")
    if kind == "image" and output.suffix.lower() not in IMAGE_SUFFIXES:
        folder = "" if output.suffix else f", or be a folder: {output}/"
        raise UserError(f"output {output} must end in an image suffix ({', '.join(sorted(IMAGE_SUFFIXES))}){folder}")
    folder_output = kind == "stills" or to_folder
    if output.exists() and output.is_dir() != folder_output:
        raise UserError(f"output {output} exists and is a {'folder' if output.is_dir() else 'file'}")
    if folder_output and Path.cwd().is_relative_to(output.resolve()):
        # A finished folder is swapped in whole: the folder a command runs in cannot be swapped.
        raise UserError(f"output folder {output} holds the current folder: write into a folder of its own, "
                        f"e.g. -o out")
    if folder_output and (output.is_symlink() or os.path.ismount(output)):
        # The swap would replace the link itself, or fail on the mount point after the whole render.
        raise UserError(f"output folder {output} is a {'link' if output.is_symlink() else 'mount point'}, which "
                        f"cannot be swapped in whole: write into a folder inside it, e.g. -o {output / 'dream'}")
    parent = output.parent.parent if new_folder else output.parent
    if not parent.is_dir():
        raise UserError(f"cannot write {output}: folder {parent} does not exist")
    try:
        with tempfile.TemporaryFile(dir=parent):
            pass
    except OSError:
        raise UserError(f"cannot write {output}: folder {parent} is not writable") from None


def resolved_parameters(settings: Settings, batch: int | None = None) -> dict:
    layers = resolve_layers(settings.model, settings.layers)
    # A guide is known by its content, so that a picture replaced under the same name is not resumed into.
    guide = hashlib.sha256(Path(settings.guide).read_bytes()).hexdigest()[:16] if settings.guide else None
    return parameters(settings, layers=[str(layer) for layer in layers],
                      weights=resolve_weights(settings.model, settings.weights), batch=batch, guide_sha256=guide)
