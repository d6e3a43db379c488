"""What to render: turns the inputs of one command into validated jobs, before any numerics framework loads.

Each input is classified once (`input_kind`), read as far as planning needs (headers, a video's probe),
named an output, and checked: the output may be written, is ours to replace, and no other process is
rendering it. What the user typed wrong stops the whole command; in a queue, an input that exists but
cannot be rendered (a truncated clip, a damaged picture) becomes a failed job and the rest goes on."""
from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Callable

from .engine.catalog import check_model, resolved_parameters
from .errors import UserError
from .imageops import MIN_FLOW_SIDE, flow_fits, output_size
from .journal.resume import check_resumable, job_plan, source_identity
from .journal.workfolder import sweep
from .job import Job, Kind, ZoomMotion
from .memory import check_memory
from .outputs import check_codec, check_target, into_folder, typed_folder, video_suffix
from .settings import Settings, frame_range, parse_frame_range
from .io.sources import PictureSource
from .io.probe import VIDEO_OUTPUTS, VIDEO_SUFFIXES
from .io.images import IMAGE_SUFFIXES, ImageDecodeError, inspect_image, read_image
from .io.mattes import Matte, open_matte
from .io.listing import list_images, list_sequence

def input_kind(source: Path, sequence: bool = False) -> Kind:
    """What an input is, from its name and whether it is a folder (nothing is read): a pattern or a
    folder with `sequence` is a sequence, another folder a folder of stills, a video suffix a video,
    anything else a still. A missing input is a UserError."""
    if "%" in source.name:
        if not source.parent.is_dir():
            raise UserError(f"folder not found: {source.parent}")
        return Kind.SEQUENCE
    if not source.exists():
        raise UserError(f"input not found: {source}")
    if source.is_dir():
        return Kind.SEQUENCE if sequence else Kind.STILLS
    return Kind.VIDEO if source.suffix.lower() in VIDEO_SUFFIXES else Kind.IMAGE


def plan_jobs(inputs: list[Path], settings: Settings, output: Path | str | None = None, *, overwrite: bool = False,
              fresh: bool = False, sequence: bool = False, warn: Callable[[str], None] = lambda _: None,
              locks: contextlib.ExitStack | None = None) -> list[Job]:
    """Validate everything a render can check without a framework and decide each output path,
    including whether an interrupted render of the same output can be resumed. `output` as typed: `out/`
    names a folder. With `locks`, every output is locked for this process until the stack closes."""
    if not inputs:
        raise UserError("no input given")
    into = typed_folder(output)
    output = Path(output) if output is not None else None
    check_model(settings)
    queue = len(inputs) > 1
    if queue and output is not None and output.suffix:
        raise UserError(f"with several inputs, -o names a folder to write into (got {output})")
    if queue and output is not None and not output.is_dir():
        raise UserError(f"output folder {output} does not exist")
    planned = [_read_input(path, settings, None if queue else output, output if queue else None, sequence, warn,
                           into, queue) for path in inputs]
    _check_distinct([job for job, _ in planned])
    _check_looks([job for job, _ in planned if job.failure is None], settings, warn)
    params = resolved_parameters(settings)
    jobs = [_checked(job, names, new_folder, params, overwrite, locks) if job.failure is None else job
            for job, (names, new_folder) in planned]
    return _resumable(jobs, params, fresh)


def plan_zoom_jobs(inputs: list[Path], settings: Settings, motion: ZoomMotion, output: Path | str | None = None, *,
                   overwrite: bool = False, fresh: bool = False, locks: contextlib.ExitStack | None = None) -> list[Job]:
    """Validate the inputs and outputs of a zoom (or a queue of them) before any framework loads. `output`
    as typed: a folder (existing, or `out/`) holds NAME_zoom.mp4, as a render's does NAME_dream.png."""
    if not inputs:
        raise UserError("no input given")
    into = typed_folder(output)
    output = Path(output) if output is not None else None
    check_model(settings)
    if settings.audio_driven:  # a zoom's frames come from a picture: there is no soundtrack to follow
        raise UserError("a zoom has no soundtrack: use keyframes, not audio:LOW..HIGH or expressions of a")
    if settings.mask or settings.colors:  # a zoom leaves its picture behind: no frame lines up with it
        raise UserError("a zoom moves away from its picture: --mask and --colors do not apply to it")
    settings.for_zoom().check_frames(range(motion.frames), settings.fps)
    queue = len(inputs) > 1
    if queue and output is not None and (output.suffix or not output.is_dir()):
        raise UserError(f"with several inputs, -o names an existing folder to write into (got {output})")
    params = {**resolved_parameters(settings.for_zoom()), **motion.to_dict()}
    planned = []
    for source in inputs:
        if not source.is_file():
            raise UserError(f"input not found: {source}" if not source.exists() else
                            f"a zoom starts from a picture or a video, not a folder: {source}")
        default = source.with_name(source.stem + "_zoom" + video_suffix(settings.codec, ".mp4"))
        target, new_folder = (default, False) if output is None else (
            into_folder(output, default.name, into) if not queue else (output / default.name, False))
        if target.suffix.lower() not in VIDEO_OUTPUTS:
            folder = "" if target.suffix else f", or a folder: {target}/"
            raise UserError(f"output {target}: a zoom is a video: give .mp4, .mov, .mkv or .m4v{folder}")
        check_codec(target, settings.codec, frames=False)
        try:
            job = Job(Kind.ZOOM, source, target, identity=_zoom_identity(source, settings), motion=motion)
        except UserError as problem:
            if not queue:
                raise
            job = Job(Kind.ZOOM, source, target, motion=motion, failure=str(problem))
        planned.append((job, new_folder))
    _check_distinct([job for job, _ in planned])
    jobs = [_checked(job, None, new_folder, params, overwrite, locks) if job.failure is None else job
            for job, new_folder in planned]
    return _resumable(jobs, params, fresh)


def _zoom_identity(source: Path, settings: Settings) -> dict:
    if input_kind(source) is Kind.VIDEO:
        from .io.decode import probe_video

        info = probe_video(source)
        return source_identity(source, (), info.frame_count, (info.width, info.height))
    check_memory(inspect_image(source), settings.max_side)
    PictureSource.open(source, 1)  # a damaged picture fails now, not after the model loads
    return source_identity(source, (source,), 1, None)


def _check_looks(jobs: list[Job], settings: Settings, warn: Callable[[str], None]) -> None:
    """The matte fits every input (in a queue too: it is what was typed that does not fit), before any
    work; --color-match on a still is said to do nothing."""
    matte = open_matte(settings.mask, settings.mask_invert)
    for job in jobs:
        if settings.color_match and not job.kind.clip:
            warn(f"{job.source}: --color-match holds a clip's frames to its first: a still has none to hold "
                 f"(ignored)")
        if matte is None:
            continue
        if job.kind is Kind.IMAGE:
            info = inspect_image(job.source)
            check_matte_fits(matte, info.width, info.height, 1, str(job.source))
        elif job.kind is Kind.STILLS:
            for frame in job.frames:
                info = inspect_image(frame)
                check_matte_fits(matte, info.width, info.height, len(job.frames), str(frame))
        else:
            width, height = job.identity["size"]
            end = frame_range(settings.frames, job.identity["frames"])[1]
            check_matte_fits(matte, width, height, end, str(job.source))


# A matte's aspect ratio may differ from its input's by this much (or by one pixel, on a small frame):
# rounding when it was made at another size, not another framing.
MATTE_ASPECT_TOLERANCE = 0.01


def check_matte_fits(matte: Matte, width: int, height: int, frames: int, name: str) -> None:
    """A UserError unless `matte` can be scaled onto an input of width x height and has a frame for each of
    its first `frames` frames (a still matte serves every frame). Its shape is wrong when, scaled to the
    input's width, its height is off by more than MATTE_ASPECT_TOLERANCE of the input's (and one pixel):
    a matte for another framing (portrait for landscape, 4:3 for 16:9) would put its edges in the wrong place."""
    scaled = matte.height * width / matte.width
    if abs(scaled - height) > max(1.0, MATTE_ASPECT_TOLERANCE * height):
        raise UserError(f"--mask {matte.path} is {matte.width}x{matte.height}, which does not fit {name} "
                        f"({width}x{height}): a matte must have its input's aspect ratio (it is scaled to the "
                        f"dream's size)")
    if matte.frame_count is not None and matte.frame_count < frames:
        raise UserError(f"--mask {matte.path} has {matte.frame_count} frame(s), too few for {name}, which needs "
                        f"{frames} (a matte has a frame for every input frame, the first with the first)")


def _check_distinct(jobs: list[Job]) -> None:
    outputs = [job.output.resolve() for job in jobs]
    if len(set(outputs)) != len(outputs):
        raise UserError("two inputs would write the same output: rename them or render them separately")


def _checked(job: Job, names: tuple[str, ...] | None, new_folder: bool, params: dict, overwrite: bool,
             locks: contextlib.ExitStack | None) -> Job:
    """The job with its output checked (and locked), whether it is done, and its parameters."""
    done = check_target(job.source, job.output, job.kind, names, overwrite, to_folder=job.frame_names is not None,
                        new_folder=new_folder, locks=locks)
    return job.with_plan(skip=done and not overwrite, params=params)


def _resumable(jobs: list[Job], params: dict, fresh: bool) -> list[Job]:
    """Refuse, before any work, a work folder left by a render that this one cannot go on with."""
    for job in jobs:
        if job.failure is None and not job.skip and not fresh:
            check_resumable(job.work_folder, job_plan(job, job.params))
    for job in jobs:
        if job.failure is None:
            sweep(job.work_folder)  # what a kill left of a finished render's cleanup
    return jobs


def _read_input(source: Path, settings: Settings, explicit: Path | None, folder: Path | None, sequence: bool,
                warn: Callable[[str], None], into: bool, queue: bool) -> tuple[Job, tuple]:
    """The job for one input, read as far as planning needs, with its output named (not yet checked),
    and what checking the output needs: the names of a folder output and whether its folder is new. In
    a queue, an input that cannot be rendered is a job that has failed already."""
    kind = input_kind(source, sequence)
    default = _default_output(source, kind, settings.codec)
    target = explicit if explicit is not None else (folder / default.name if folder is not None else default)
    try:
        return _read(source, kind, settings, target, explicit, default, warn, into)
    except UserError as problem:
        if not queue:
            raise
        warn(f"{source}: cannot be rendered: {problem} (the rest of the queue goes on)")
        return Job(kind, source, target, failure=str(problem)), (None, False)


def _read(source: Path, kind: Kind, settings: Settings, output: Path, explicit: Path | None, default: Path,
          warn: Callable[[str], None], into: bool) -> tuple[Job, tuple]:
    frames: tuple[Path, ...] = ()
    count = 0  # frames in a video or sequence
    size = None  # (width, height) of a video or sequence
    info = None  # a video's probe, handed to the job so that it is not probed again
    if kind is Kind.SEQUENCE:
        frames = list_sequence(source, warn)
        count = len(frames)
        first = inspect_image(frames[0])
        size = (first.width, first.height)
    elif kind is Kind.STILLS:
        frames = tuple(list_images(source))
        largest = max((inspect_image(frame) for frame in frames), key=lambda info: info.width * info.height)
        check_memory(largest, settings.max_side, settings.batch or 1)
    elif kind is Kind.VIDEO:
        from .io.decode import probe_video

        info = probe_video(source, damaged=True)
        count, size = info.frame_count, (info.width, info.height)
        if info.damage is not None:  # only the frames that decode, and only when --frames asks for no more
            end = parse_frame_range(settings.frames)[1]
            if end is None or end > count:
                raise UserError(info.damage_message())
            warn(f"{source} is truncated or damaged: rendering frames {settings.frames} of the {count} that decode")
    else:
        still = inspect_image(source)
        check_memory(still, settings.max_side)  # before decoding it whole
        if still.frames > 1:
            warn(f"{source} holds {still.frames} frames (an animation or pages): only the first is dreamed")
        _decodes(source)
        frames = (source,)
    span = (0, 0)  # the frames a clip renders, [start, end)
    if kind.from_source_frames:
        span = frame_range(settings.frames, count)
        _check_flow_size(source, size, settings)
    if settings.audio_driven and not (kind is Kind.VIDEO and info.has_audio):
        driven = ", ".join(name for name, plan in settings.schedules().items() if plan.sound)
        raise UserError(f"{source} has no soundtrack for {driven} to follow (audio: schedules and expressions of a "
                        f"need a video with audio)")
    _check_expressions(settings, kind, span, info)
    new_folder = False
    if kind is Kind.IMAGE and explicit is not None:
        output, new_folder = into_folder(explicit, default.name, into)
    output, frame_names = _frame_output(kind, source, output, frames, count)
    if kind.from_source_frames:
        check_codec(output, settings.codec, frames=frame_names is not None)
    # A folder is done when its record, written last, lists every file of this render (a --frames
    # range: the frames of that range); a file is done when it is there and matches its record.
    names = frame_names[span[0]:span[1]] if frame_names is not None else (
        tuple(frame.name for frame in frames) if kind is Kind.STILLS else None)
    identity = None if kind is Kind.IMAGE else source_identity(source, frames, count, size)
    return Job(kind, source, output, frames, frame_names, identity=identity, info=info), (names, new_folder)


def _check_expressions(settings: Settings, kind: Kind, span: tuple[int, int], info) -> None:
    """Every expression of a schedule evaluated at every frame the job renders, at the times the render
    will use (a variable-rate clip's own), and checked against the bounds: a still uses frame 0."""
    if not kind.from_source_frames:
        settings.check_frames(range(1))
        return
    times = None
    if info is not None and info.variable_rate:
        times = [time - info.times[0] for time in info.times]
    settings.check_frames(range(*span), float(info.fps) if info is not None else settings.fps, times)


def _default_output(source: Path, kind: Kind, codec: str) -> Path:
    if kind is Kind.SEQUENCE:
        return _beside(source.parent if "%" in source.name else source, "_dream")
    if kind is Kind.STILLS:
        return _beside(source, "_dream")
    if kind is Kind.VIDEO:
        suffix = source.suffix.lower() if source.suffix.lower() in VIDEO_OUTPUTS else ".mp4"
        return source.with_name(source.stem + "_dream" + video_suffix(codec, suffix))
    # PNG holds no float or CMYK: a TIFF or an EXR stays one; HEIC and the rest become PNG (-o x.heic for HEIC)
    suffix = source.suffix if source.suffix.lower() in (".tif", ".tiff", ".exr") else ".png"
    return source.with_name(source.stem + "_dream" + suffix)


def _check_flow_size(source: Path, size: tuple[int, int], settings: Settings) -> None:
    """Frames too small for the optical flow (a strip of pixels, or a tiny --max-side) are refused here
    rather than failing in the flow at the first frame."""
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


def _frame_output(kind: Kind, source: Path, output: Path, frames: tuple[Path, ...],
                  count: int) -> tuple[Path, tuple[str, ...] | None]:
    """For a video or sequence: whether it goes to a video file or a folder of images, and their names.

    A sequence keeps its file names; a video's frames are numbered by source frame (clip_00000.png),
    or by a pattern such as out/f_%05d.png."""
    if not kind.from_source_frames or output.suffix.lower() in VIDEO_OUTPUTS:
        return output, None
    if "%" in output.name:
        folder, pattern = output.parent, output.name
    elif output.suffix and not output.is_dir():
        raise UserError(f"output {output}: give a video (.mp4, .mov, .mkv, .m4v), a folder, "
                        "or a pattern like f_%05d.png")
    else:
        folder, pattern = output, None
    if kind is Kind.SEQUENCE and pattern is None:
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
