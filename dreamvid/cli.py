"""The `dreamvid` command: options, validation and a call into the API. No logic of its own.

Everything is validated before TensorFlow is imported, so bad input fails in about a second."""
from __future__ import annotations

import contextlib
import json
import signal
import sys
from pathlib import Path
from typing import Annotated, Optional

import typer
from typer.exceptions import TyperException

from .errors import DreamvidError, Terminated, UserError

# Typer >= 0.29 carries its own copy of click and raises these; click itself is not a dependency.
EXIT, ABORT, USAGE = typer.Exit, typer.Abort, TyperException

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  help="Batch DeepDream for videos, image sequences and stills. "
                       "`dreamvid INPUT ...` is short for `dreamvid render INPUT ...`.")
COMMANDS = ("render", "preview", "layers", "score", "zoom")
DREAM, VIDEO, RUN, CLUSTER = "Dream", "Video", "Run", "Cluster"


# Options that mean the same in every dreaming command, declared once.
Model = Annotated[Optional[str], typer.Option(help="inception_v3 (default), vgg16-hed, or a .keras/.h5 file.",
                                              rich_help_panel=DREAM)]
Weights = Annotated[Optional[str], typer.Option(help="imagenet (inception_v3 default), random, or a weights file.",
                                                rich_help_panel=DREAM)]
Tile = Annotated[Optional[int], typer.Option(help="Tile size for gradients of large frames "
                                             "\\[default: chosen from free memory].", rich_help_panel=DREAM)]
Xla = Annotated[Optional[bool], typer.Option("--xla/--no-xla", help="Compile the step loop with XLA.",
                                             rich_help_panel=DREAM)]
Precision = Annotated[Optional[str], typer.Option(help="float32, or bfloat16 activations: faster where the hardware "
                                                  "has bfloat16, a slightly different dream \\[default: float32].",
                                                  rich_help_panel=DREAM)]
Config = Annotated[Optional[Path], typer.Option(help="TOML file of options; the command line wins.",
                                                rich_help_panel=RUN)]
Quiet = Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.", rich_help_panel=RUN)]
Verbose = Annotated[bool, typer.Option("--verbose", "-v", help="Show where time goes.", rich_help_panel=RUN)]
Overwrite = Annotated[bool, typer.Option(help="Replace existing outputs.", rich_help_panel=RUN)]
KeepParts = Annotated[bool, typer.Option(help="Keep the work folder of checkpointed frames.", rich_help_panel=RUN)]


@app.command("render")
def render_command(
    inputs: list[Path] = typer.Argument(..., help="Images, folders of images or videos; several make a queue."),
    output: Optional[str] = typer.Option(None, "--output", "-o", metavar="PATH",
                                         help="Output file or folder. A still goes into "
                                         "an existing folder, or one typed with a slash (out/), as NAME_dream.png; "
                                         "a video into a folder as numbered PNGs."),
    model: Model = None,
    weights: Weights = None,
    layer: Optional[list[str]] = typer.Option(None, "--layer", "-l", rich_help_panel=DREAM,
                                              help="Layer to dream, repeatable: mixed5, mixed4:97 (a channel), "
                                              "mixed3=0.5 (a weight; a schedule cross-fades: "
                                              "\"mixed3=0:(1), 100:(0)\")."),
    octaves: Optional[int] = typer.Option(None, help="Number of octaves \\[default: 4].", rich_help_panel=DREAM),
    octave_scale: Optional[float] = typer.Option(None, help="Size ratio between octaves, > 1 \\[default: 1.3].",
                                                 rich_help_panel=DREAM),
    steps: Optional[str] = typer.Option(None, help="Gradient steps per octave, or a schedule (see --step-size) "
                                        "\\[default: 10].", rich_help_panel=DREAM),
    step_size: Optional[str] = typer.Option(None, help="Step size in [-1, 1] image units, or a schedule: keyframes "
                                            "\"0:(0.005), 48:(0.02), 5s:(0.005)\" (keys in source frames or seconds; "
                                            "linear between keys, the first and last values held before and after, "
                                            "whole-number parameters rounded), or \"audio:0.005..0.03\" (the "
                                            "soundtrack's smoothed loudness per frame, quietest to loudest) "
                                            "\\[default: 0.01].", rich_help_panel=DREAM),
    jitter: Optional[str] = typer.Option(None, help="Pixels of random roll per step, or a schedule (see "
                                         "--step-size) \\[default: 32].", rich_help_panel=DREAM),
    guide: Optional[Path] = typer.Option(None, help="A picture to dream towards: each position takes on the "
                                         "guide's most similar features, instead of amplifying its own.",
                                         rich_help_panel=DREAM),
    tile: Tile = None,
    max_side: Optional[int] = typer.Option(None, help="Dream at this longer side; output keeps the input size.",
                                           rich_help_panel=DREAM),
    seed: Optional[int] = typer.Option(None, help="Random seed \\[default: 0].", rich_help_panel=DREAM),
    batch: Optional[int] = typer.Option(None, help="Frames dreamed at once \\[default: 4 on a GPU, 1 on a CPU].",
                                        rich_help_panel=DREAM),
    xla: Xla = None,
    precision: Precision = None,
    flow: Optional[bool] = typer.Option(None, "--flow/--no-flow", rich_help_panel=VIDEO,
                                        help="Carry the dream along the optical flow \\[default: on]."),
    coherence: Optional[float] = typer.Option(None, help="0 dreams every frame afresh, 1 carries the dream "
                                              "along the flow as much as it can; sets --blend, --flow-steps and "
                                              "--flow-octaves, which override it \\[default: 0.9].",
                                              rich_help_panel=VIDEO),
    blend: Optional[str] = typer.Option(None, help="Share of the previous dream carried, 0..1, or a schedule "
                                        "(see --step-size) \\[default: from --coherence, 0.95].",
                                        rich_help_panel=VIDEO),
    flow_steps: Optional[str] = typer.Option(None, help="Steps per octave for frames that start from a carried "
                                             "dream, or a schedule (see --step-size) \\[default: from "
                                             "--coherence, 1].", rich_help_panel=VIDEO),
    flow_octaves: Optional[int] = typer.Option(None, help="Octaves a carried frame dreams, the largest first; 0: "
                                               "all \\[default: from --coherence, 2].", rich_help_panel=VIDEO),
    streams: Optional[int] = typer.Option(None, help="Segments of the video dreamed side by side, their frames "
                                          "batched \\[default: as --batch].", rich_help_panel=VIDEO),
    flow_zoom: Optional[float] = typer.Option(None, help="Zoom the carried dream by this per frame \\[default: 1].", rich_help_panel=VIDEO),
    warmup: Optional[int] = typer.Option(None, help="Frames a segment dreams before its first kept frame, to "
                                         "cross-fade from the one before \\[default: 8].", rich_help_panel=VIDEO),
    cut_threshold: Optional[float] = typer.Option(None, help="Scene-cut threshold, 0..255, lower cuts more \\[default: 27].",
                                                  rich_help_panel=VIDEO),
    frames: Optional[str] = typer.Option(None, help="Frame range START:END (half-open).", rich_help_panel=VIDEO),
    sequence: bool = typer.Option(False, "--sequence", help="Dream a folder of numbered images as one clip, "
                                  "with flow, instead of as independent stills.", rich_help_panel=VIDEO),
    fps: Optional[float] = typer.Option(None, help="Frame rate of a sequence written as a video \\[default: 25].",
                                        rich_help_panel=VIDEO),
    crf: Optional[int] = typer.Option(None, help="H.264 quality, 0..51, lower is better \\[default: 18].",
                                      rich_help_panel=VIDEO),
    audio: Optional[bool] = typer.Option(None, "--audio/--no-audio", help="Keep the source's audio \\[default: on].",
                                         rich_help_panel=VIDEO),
    config: Config = None,
    quiet: Quiet = False,
    verbose: Verbose = False,
    overwrite: Overwrite = False,
    fresh: bool = typer.Option(False, help="Discard a previous partial render instead of resuming it.",
                               rich_help_panel=RUN),
    keep_parts: KeepParts = False,
    ray: Optional[str] = typer.Option(None, "--ray", help="Dream videos and sequences on Ray: auto starts Ray on "
                                      "this machine, HOST:6379 joins a cluster (needs dreamvid\\[ray]).",
                                      rich_help_panel=CLUSTER),
    workers: Optional[int] = typer.Option(None, help="With --ray: dreaming workers \\[default: one per GPU of the "
                                          "cluster, or one per machine without GPUs].", rich_help_panel=CLUSTER),
    gpus_per_worker: Optional[float] = typer.Option(None, help="With --ray: GPUs each worker takes \\[default: 1 on "
                                                    "a cluster with GPUs, else 0].", rich_help_panel=CLUSTER),
) -> None:
    """Dream images, folders and videos (the default command)."""
    from .jobs import plan_jobs
    from .settings import build_settings

    cluster = _cluster(ray, workers, gpus_per_worker)

    options = dict(model=model, weights=weights, layers=tuple(layer or ()), octaves=octaves,
                   octave_scale=octave_scale, steps=steps, step_size=step_size, jitter=jitter, tile=tile,
                   max_side=max_side, seed=seed, batch=batch, xla=xla, precision=precision, flow=flow, blend=blend,
                   coherence=coherence, flow_octaves=flow_octaves, flow_steps=flow_steps, flow_zoom=flow_zoom, streams=streams, warmup=warmup, cut_threshold=cut_threshold, frames=frames, crf=crf, audio=audio, fps=fps,
                   guide=guide)
    settings = build_settings(options, config)
    from .console import RichReporter, print_results

    with RichReporter(quiet=quiet, verbose=verbose) as reporter, contextlib.ExitStack() as locks:
        jobs = plan_jobs(inputs, settings, output, overwrite=overwrite, fresh=fresh, sequence=sequence,
                         warn=reporter.warn, locks=locks)  # bad input fails here, before the model loads
        _RUN.update(reporter=reporter, jobs=sum(not job.skip and job.failure is None for job in jobs))

        from .api import run_queue

        results = run_queue(jobs, settings, reporter, fresh=fresh, keep_parts=keep_parts, cluster=cluster)
    print_results(results, quiet=quiet)
    if any(result.status == "failed" for result in results):
        raise typer.Exit(1)


def _cluster(address: str | None, workers: int | None, gpus: float | None):
    """The Ray options, checked (Ray installed, numbers in range) before TensorFlow loads."""
    if address is None:
        given = "--workers" if workers is not None else "--gpus-per-worker" if gpus is not None else None
        if given:
            raise UserError(f"{given} needs --ray (auto, or a cluster's HOST:PORT)")
        return None
    if not address.strip():
        raise UserError("--ray needs auto or a cluster's HOST:PORT")
    if workers is not None and workers < 1:
        raise UserError(f"--workers must be at least 1 (got {workers})")
    if gpus is not None and gpus < 0:
        raise UserError(f"--gpus-per-worker must be 0 or more (got {gpus:g})")
    from .temporal.cluster import RayOptions, check_ray

    check_ray()
    return RayOptions(address.strip(), workers, gpus)


@app.command("preview")
def preview_command(
    source: Path = typer.Argument(..., help="A video, a folder or pattern of numbered images, or a still."),
    at: Optional[str] = typer.Option(None, help="The frame to dream: a number, or a time such as 12.5s "
                                     "(default: the middle frame)."),
    output: Optional[Path] = typer.Option(None, "--output", "-o", help="The sheet, .png or .jpg "
                                          "(default: INPUT_preview.png beside the input)."),
    model: Model = None,
    weights: Weights = None,
    layer: Optional[list[str]] = typer.Option(None, "--layer", "-l", rich_help_panel=DREAM,
                                              help="Repeatable: the sheet dreams each --layer (one row each when other "
                                                   "values vary too); mixed3+mixed5 dreams both in one cell."),
    octaves: Optional[str] = typer.Option(None, help="Octaves; a comma list (3,4,5) makes an axis.",
                                          rich_help_panel=DREAM),
    octave_scale: Optional[str] = typer.Option(None, help="Size ratio between octaves; a comma list makes an axis.",
                                               rich_help_panel=DREAM),
    steps: Optional[str] = typer.Option(None, help="Steps per octave; a comma list (5,10) makes an axis.",
                                        rich_help_panel=DREAM),
    step_size: Optional[str] = typer.Option(None, help="Step size; a comma list (0.01,0.02) makes an axis. A "
                                            "schedule (see render --help) is one value, dreamed at the frame.",
                                            rich_help_panel=DREAM),
    jitter: Optional[str] = typer.Option(None, help="Pixels of random roll; a comma list makes an axis.",
                                         rich_help_panel=DREAM),
    seed: Optional[str] = typer.Option(None, help="Random seed; a comma list makes an axis.", rich_help_panel=DREAM),
    tile: Tile = None,
    max_side: Optional[int] = typer.Option(None, help="Longer side of each cell (default: 480); when given, it "
                                           "is also in the printed commands (the dream's scale depends on it).",
                                           rich_help_panel=DREAM),
    xla: Xla = None,
    precision: Precision = None,
    guide: Optional[Path] = typer.Option(None, help="A picture to dream towards.", rich_help_panel=DREAM),
    sequence: bool = typer.Option(False, "--sequence", help="A folder of numbered images is one clip.",
                                  rich_help_panel=VIDEO),
    fps: Optional[float] = typer.Option(None, help="Frame rate of a sequence, for --at in seconds (default: 25).",
                                        rich_help_panel=VIDEO),
    config: Config = None,
    quiet: Quiet = False,
) -> None:
    """Dream one frame with each combination of listed values into a captioned contact sheet.

    Axes: repeated --layer, comma lists (--steps 5,10). Prints each cell's render command.

    Replaces a sheet dreamvid wrote before, never another file."""
    from .console import RichReporter
    from .preview import make_preview

    options = dict(model=model, weights=weights, layers=list(layer or ()), octaves=octaves,
                   octave_scale=octave_scale, steps=steps, step_size=step_size, jitter=jitter, seed=seed,
                   tile=tile, max_side=max_side, xla=xla, precision=precision, guide=guide, fps=fps)
    with RichReporter(quiet=quiet) as reporter:
        sheet = make_preview(source, options, at=at, output=output, sequence=sequence, config=config,
                             reporter=reporter)
    _print_sheet(sheet)


@app.command("layers")
def layers_command(
    source: Optional[Path] = typer.Argument(None, help="With --sheet: the picture, or a video's or sequence's "
                                            "frame, to dream (default: soft grey noise)."),
    model: str = typer.Option("inception_v3", help="Model name or .keras/.h5 file."),
    sheet: bool = typer.Option(False, "--sheet", help="Dream a small frame with every layer (or the --channels "
                               "of one) and write a captioned sheet."),
    layer: Optional[list[str]] = typer.Option(None, "--layer", "-l", help="With --sheet: only these layers; with "
                                              "--channels, the one layer whose channels to show."),
    channels: Optional[str] = typer.Option(None, help="With --sheet and one --layer: channels START:END "
                                           "(half-open) or N (the first N), one cell each."),
    output: Optional[Path] = typer.Option(None, "--output", "-o", help="The sheet, .png or .jpg "
                                          "(default: INPUT_layers.png, or MODEL_layers.png here)."),
    weights: Optional[str] = typer.Option(None, help="With --sheet: the model's weights."),
    steps: Optional[int] = typer.Option(None, help="With --sheet: steps per octave (default: 10)."),
    step_size: Optional[float] = typer.Option(None, help="With --sheet: step size (default: 0.01)."),
    octaves: Optional[int] = typer.Option(None, help="With --sheet: octaves (default: 4)."),
    jitter: Optional[int] = typer.Option(None, help="With --sheet: pixels of random roll (default: 32)."),
    seed: Optional[int] = typer.Option(None, help="With --sheet: random seed (default: 0)."),
    max_side: Optional[int] = typer.Option(None, help="With --sheet: longer side of each cell (default: 256)."),
    at: Optional[str] = typer.Option(None, help="With --sheet: the frame of a video or sequence "
                                     "(default: the middle one)."),
    sequence: bool = typer.Option(False, "--sequence", help="With --sheet: a folder of numbered images is one clip."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar."),
) -> None:
    """List the layers a model can dream with, and their channels; with --sheet, show them dreamed."""
    from rich.console import Console
    from rich.table import Table

    from .engine.catalog import model_spec

    if sheet:
        from .console import RichReporter
        from .preview import make_layer_sheet

        options = dict(model=model, weights=weights, steps=steps, step_size=step_size, octaves=octaves,
                       jitter=jitter, seed=seed, max_side=max_side)
        with RichReporter(quiet=quiet) as reporter:
            made = make_layer_sheet(source, options, layers=layer or (), channels=channels, at=at, output=output,
                                    sequence=sequence, reporter=reporter)
        _print_sheet(made)
        return
    given = [name for name, value in (("INPUT", source), ("--layer", layer), ("--channels", channels),
                                      ("--output", output), ("--at", at), ("--weights", weights),
                                      ("--steps", steps), ("--step-size", step_size), ("--octaves", octaves),
                                      ("--jitter", jitter), ("--seed", seed), ("--max-side", max_side),
                                      ("--sequence", sequence))
             if value is not None and value is not False and value != []]
    if given:
        raise UserError(f"{given[0]} needs --sheet (dreamvid layers --sheet ...)")
    spec = model_spec(model)
    if spec is None:
        from .engine import model_file_layers

        channels, defaults = model_file_layers(model), ()
    else:
        channels, defaults = spec.channels, spec.default_layers
    table = Table("layer", "channels", "default", title=f"dreamable layers of {model}")
    for name, count in channels.items():
        table.add_row(name, str(count), "yes" if name in defaults else "")
    Console().print(table)


def _print_sheet(sheet) -> None:
    """Each cell's caption and the command that renders it, then where the sheet is."""
    for text, command in zip(sheet.captions, sheet.commands):
        typer.echo(f"{text}\n  {command}")
    seconds = sheet.timings["model"] + sheet.timings["cells"]
    typer.echo(f"{len(sheet.captions)} cell(s) in {seconds:.1f}s (model {sheet.timings['model']:.1f}s) "
               f"-> {sheet.path}")


@app.command("score")
def score_command(source: Path = typer.Argument(..., help="The source video."),
                  dreamed: Path = typer.Argument(..., help="A render of it."),
                  plot: Optional[Path] = typer.Option(None, help="Also draw the per-frame error (and, from the "
                                                      "render's record, the seconds per frame) with cuts marked, "
                                                      "as a PNG.")) -> None:
    """Temporal warping error of a render and of its source (lower is steadier), as JSON."""
    from .score import check_plotting, plot_scores, read_timing, score_videos

    if plot is not None:
        check_plotting(plot)
    scores = score_videos(source, dreamed)  # probes both videos before reading a frame
    if plot is not None:
        plot_scores(scores, plot, read_timing(dreamed))
    typer.echo(json.dumps({key: value for key, value in scores.items() if key != "per_frame"}, indent=2))


ZOOM = "Zoom"


@app.command("zoom")
def zoom_command(
    inputs: list[Path] = typer.Argument(..., help="Pictures, or videos (their last frame); several make a queue."),
    output: Optional[str] = typer.Option(None, "--output", "-o", metavar="PATH",
                                         help="Output video, or a folder (existing, or typed with a slash: out/) "
                                         "to write NAME_zoom.mp4 into."),
    frames: int = typer.Option(100, help="Number of frames.", rich_help_panel=ZOOM),
    zoom: str = typer.Option("1.02", help="Scale per frame about the centre (> 1 zooms in), or a schedule "
                             "such as \"0:(1.0), 48:(1.04)\" (keys in frames or seconds like 2s, "
                             "linear between keys).", rich_help_panel=ZOOM),
    rotate: str = typer.Option("0", help="Degrees per frame, counter-clockwise, or a schedule.",
                               rich_help_panel=ZOOM),
    translate_x: str = typer.Option("0", help="Pixels per frame to the right, or a schedule.", rich_help_panel=ZOOM),
    translate_y: str = typer.Option("0", help="Pixels per frame down, or a schedule.", rich_help_panel=ZOOM),
    fps: Optional[float] = typer.Option(None, help="Frame rate of the video \\[default: 25].", rich_help_panel=ZOOM),
    model: Model = None,
    weights: Weights = None,
    layer: Optional[list[str]] = typer.Option(None, "--layer", "-l", rich_help_panel=DREAM,
                                              help="Layer to dream, repeatable: mixed5, mixed4:97, mixed3=0.5."),
    octaves: Optional[int] = typer.Option(None, help="Number of octaves \\[default: 4].", rich_help_panel=DREAM),
    octave_scale: Optional[float] = typer.Option(None, help="Size ratio between octaves \\[default: 1.3].",
                                                 rich_help_panel=DREAM),
    steps: Optional[str] = typer.Option(None, help="Steps per octave for the first frame \\[default: 10].",
                                        rich_help_panel=DREAM),
    flow_steps: Optional[str] = typer.Option(None, help="Steps per octave for every later frame, or a schedule "
                                             "\\[default: 1].",
                                             rich_help_panel=DREAM),
    step_size: Optional[str] = typer.Option(None, help="Step size, or a schedule such as \"0:(0.005), 100:(0.02)\" "
                                            "(linear between keys) \\[default: 0.01].", rich_help_panel=DREAM),
    jitter: Optional[str] = typer.Option(None, help="Pixels of random roll per step, or a schedule \\[default: 32].",
                                         rich_help_panel=DREAM),
    tile: Tile = None,
    max_side: Optional[int] = typer.Option(None, help="Zoom at this longer side (the video's size).",
                                           rich_help_panel=DREAM),
    seed: Optional[int] = typer.Option(None, help="Random seed \\[default: 0].", rich_help_panel=DREAM),
    xla: Xla = None,
    precision: Precision = None,
    crf: Optional[int] = typer.Option(None, help="H.264 quality, 0..51 \\[default: 18].", rich_help_panel=ZOOM),
    config: Config = None,
    quiet: Quiet = False,
    verbose: Verbose = False,
    overwrite: Overwrite = False,
    fresh: bool = typer.Option(False, help="Discard a previous partial zoom instead of resuming it.",
                               rich_help_panel=RUN),
    keep_parts: KeepParts = False,
) -> None:
    """The infinite DeepDream zoom: each frame is the previous dream zoomed, turned and moved, dreamed again."""
    from .settings import build_settings
    from .job import ZoomMotion
    from .jobs import plan_zoom_jobs

    options = dict(model=model, weights=weights, layers=tuple(layer or ()), octaves=octaves,
                   octave_scale=octave_scale, steps=steps, flow_steps=flow_steps, step_size=step_size, jitter=jitter,
                   tile=tile, max_side=max_side, seed=seed, xla=xla, precision=precision, crf=crf, fps=fps)
    settings = build_settings(options, config)
    motion = ZoomMotion.parse(zoom, rotate, translate_x, translate_y, frames, settings.fps)
    from .console import RichReporter, print_results

    with RichReporter(quiet=quiet, verbose=verbose) as reporter, contextlib.ExitStack() as locks:
        jobs = plan_zoom_jobs(inputs, settings, motion, output, overwrite=overwrite, fresh=fresh, locks=locks)
        _RUN.update(reporter=reporter, jobs=sum(not job.skip and job.failure is None for job in jobs))

        from .api import run_queue

        results = run_queue(jobs, settings, reporter, fresh=fresh, keep_parts=keep_parts)
    print_results(results, quiet=quiet)
    if any(result.status == "failed" for result in results):
        raise typer.Exit(1)


def main(argv: list[str] | None = None) -> None:
    """Entry point: `dreamvid INPUT ...` means `dreamvid render INPUT ...`; user errors are one line, exit 2."""
    args = list(sys.argv[1:] if argv is None else argv)
    if args and args[0] not in COMMANDS and args[0] not in ("--help", "-h"):
        args.insert(0, "render")
    signal.signal(signal.SIGTERM, _terminate)
    try:
        status = app(args=args, prog_name="dreamvid", standalone_mode=False)
        if status == 130:  # Typer returns KeyboardInterrupt (and so Terminated) as this status
            _interrupted(_RUN["terminated"])
        if isinstance(status, int) and status:  # typer.Exit(n) is returned, not raised, outside standalone mode
            sys.exit(status)
    except (EXIT, ABORT) as done:
        sys.exit(getattr(done, "exit_code", 1))
    except USAGE as error:
        message = error.format_message() if hasattr(error, "format_message") else str(error)
        if not message.strip():  # no arguments: Typer has printed the help already
            sys.exit(2)
        _fail(message, 2)
    except UserError as error:
        _fail(str(error), 2)
    except KeyboardInterrupt as interrupt:
        _interrupted(isinstance(interrupt, Terminated))
    except DreamvidError as error:
        _fail(str(error), 1)
    except OSError as error:  # a disk that fills up or a folder that vanishes mid-render: say so, keep it short
        _fail(f"{error.strerror or error}{f': {error.filename}' if error.filename else ''}", 1)


# Whether SIGTERM came; the reporter of the running render and the jobs it has to finish.
_RUN: dict = {"terminated": False, "reporter": None, "jobs": 0}


def _terminate(signum, frame) -> None:
    _RUN["terminated"] = True
    raise Terminated()


def _interrupted(terminated: bool) -> None:
    """Ctrl-C exits 130 and SIGTERM 143, as shells expect; the checkpoints stay for a resume. A signal
    that comes once every output is complete (during the clean-up or the summary) leaves nothing to resume."""
    what = "stopped by SIGTERM" if terminated else "interrupted"
    reporter = _RUN["reporter"]
    if reporter is not None and reporter.finished >= _RUN["jobs"]:
        what += " after the render finished: every output is complete, nothing to resume"
    else:
        what += ": finished frames are kept; run the same command again to resume"
    _fail(what, 143 if terminated else 130)


def _fail(message: str, status: int) -> None:
    print(f"dreamvid: error: {message}", file=sys.stderr)
    sys.exit(status)
