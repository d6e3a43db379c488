"""The commands: render (the default), preview, layers, score and zoom. Each turns its options into
settings, plans (every check made before the model loads) and calls the library; no logic of its own."""
from __future__ import annotations

import contextlib
import json
from pathlib import Path
from typing import Optional

import typer

from ..errors import UserError
from . import console
from .options import (CLUSTER, DREAM, RUN, VIDEO, ZOOM, Backend, Batch, Codec, ColorMatch, Colors, Config, Crf, Fps,
                      Fresh, Guide, Jitter, KeepParts, Layers, Mask, MaskInvert, MaxSide, Model, Octaves, OctaveScale,
                      Overwrite, Precision, Quiet, Seed, Steps, StepSize, Tile, Verbose, Weights, Xla, LapNorm, axis,
                      setting)

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  help="Batch DeepDream for videos, image sequences and stills. "
                       "`dreamvid INPUT ...` is short for `dreamvid render INPUT ...`.")
COMMANDS = ("render", "preview", "layers", "score", "zoom")

# The reporter of the running command and the jobs it has to finish, for the message of an interrupt.
RUNNING: dict = {"reporter": None, "jobs": 0}


@app.command("render")
def render_command(
    inputs: list[Path] = typer.Argument(..., help="Images, folders of images or videos; several make a queue."),
    output: Optional[str] = typer.Option(None, "--output", "-o", metavar="PATH",
                                         help="Output file or folder. A still goes into "
                                         "an existing folder, or one typed with a slash (out/), as NAME_dream.png; "
                                         "a video into a folder as numbered PNGs."),
    model: Model = None, weights: Weights = None, backend: Backend = None, layer: Layers = None,
    octaves: Octaves = None, octave_scale: OctaveScale = None, steps: Steps = None, step_size: StepSize = None,
    jitter: Jitter = None, guide: Guide = None,
    colors: Colors = None, color_match: ColorMatch = None, mask: Mask = None, mask_invert: MaskInvert = None,
    tile: Tile = None, max_side: MaxSide = None, seed: Seed = None,
    batch: Batch = None, xla: Xla = None, precision: Precision = None, lap_norm: LapNorm = None,
    flow: Optional[bool] = setting("flow", "--flow/--no-flow", panel=VIDEO),
    coherence: Optional[float] = setting("coherence", panel=VIDEO),
    blend: Optional[str] = setting("blend", panel=VIDEO),
    flow_steps: Optional[str] = setting("flow_steps", panel=VIDEO),
    flow_octaves: Optional[int] = setting("flow_octaves", panel=VIDEO),
    streams: Optional[int] = setting("streams", panel=VIDEO),
    flow_zoom: Optional[float] = setting("flow_zoom", panel=VIDEO),
    hold_strength: Optional[bool] = setting("hold_strength", "--hold-strength/--no-hold-strength", panel=VIDEO),
    warmup: Optional[int] = setting("warmup", panel=VIDEO),
    cut_threshold: Optional[float] = setting("cut_threshold", panel=VIDEO),
    frames: Optional[str] = setting("frames", panel=VIDEO),
    sequence: bool = typer.Option(False, "--sequence", help="Dream a folder of numbered images as one clip, "
                                  "with flow, instead of as independent stills.", rich_help_panel=VIDEO),
    fps: Fps = None, crf: Crf = None, codec: Codec = None,
    audio: Optional[bool] = setting("audio", "--audio/--no-audio", panel=VIDEO),
    config: Config = None, quiet: Quiet = False, verbose: Verbose = False, overwrite: Overwrite = False,
    fresh: Fresh = False, keep_parts: KeepParts = False,
    ray: Optional[str] = typer.Option(None, "--ray", help="Dream videos and sequences on Ray: auto starts Ray on "
                                      "this machine, HOST:6379 joins a cluster (needs dreamvid\\[ray]).",
                                      rich_help_panel=CLUSTER),
    workers: Optional[int] = typer.Option(None, help="With --ray: dreaming workers \\[default: one per GPU of the "
                                          "cluster, or one per machine without GPUs].", rich_help_panel=CLUSTER),
    gpus_per_worker: Optional[float] = typer.Option(None, help="With --ray: GPUs each worker takes \\[default: 1 on "
                                                    "a cluster with GPUs, else 0].", rich_help_panel=CLUSTER),
) -> None:
    """Dream images, folders and videos (the default command)."""
    from ..jobs import plan_jobs
    from ..settings import build_settings

    cluster = _cluster(ray, workers, gpus_per_worker)
    options = dict(model=model, weights=weights, backend=backend, layers=tuple(layer or ()), octaves=octaves,
                   octave_scale=octave_scale, steps=steps, step_size=step_size, jitter=jitter, tile=tile,
                   max_side=max_side, seed=seed, batch=batch, xla=xla, precision=precision, flow=flow, blend=blend,
                   coherence=coherence, flow_octaves=flow_octaves, flow_steps=flow_steps, flow_zoom=flow_zoom,
                   hold_strength=hold_strength, streams=streams, warmup=warmup, cut_threshold=cut_threshold,
                   frames=frames, crf=crf, audio=audio, fps=fps, guide=guide, colors=colors, color_match=color_match,
                   mask=mask, mask_invert=mask_invert, lap_norm=lap_norm, codec=codec)
    settings = build_settings(options, config)
    with console.RichReporter(quiet=quiet, verbose=verbose) as reporter, contextlib.ExitStack() as locks:
        jobs = plan_jobs(inputs, settings, output, overwrite=overwrite, fresh=fresh, sequence=sequence,
                         warn=reporter.warn, locks=locks)  # bad input fails here, before the model loads
        _run_queue(jobs, settings, reporter, fresh=fresh, keep_parts=keep_parts, cluster=cluster)


def _run_queue(jobs, settings, reporter, **run) -> None:
    """Run the planned jobs, print the summary, exit 1 if one failed."""
    from ..api import run_queue

    RUNNING.update(reporter=reporter, jobs=sum(not job.skip and job.failure is None for job in jobs))
    results = run_queue(jobs, settings, reporter, **run)
    reporter.close()
    console.print_results(results, quiet=reporter.quiet)
    if any(result.status == "failed" for result in results):
        raise typer.Exit(1)


def _cluster(address: str | None, workers: int | None, gpus: float | None):
    """The Ray options, checked (Ray installed, numbers in range) before the model loads."""
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
    from ..temporal.cluster import RayOptions, check_ray

    check_ray()
    return RayOptions(address.strip(), workers, gpus)


@app.command("preview")
def preview_command(
    source: Path = typer.Argument(..., help="A video, a folder or pattern of numbered images, or a still."),
    at: Optional[str] = typer.Option(None, help="The frame to dream: a number, or a time such as 12.5s "
                                     "(default: the middle frame)."),
    output: Optional[Path] = typer.Option(None, "--output", "-o", help="The sheet, .png or .jpg "
                                          "(default: INPUT_preview.png beside the input)."),
    model: Model = None, weights: Weights = None, backend: Backend = None,
    layer: Optional[list[str]] = typer.Option(None, "--layer", "-l", rich_help_panel=DREAM,
                                              help="Repeatable: the sheet dreams each --layer (one row each when other "
                                                   "values vary too); mixed3+mixed5 dreams both in one cell."),
    octaves: Optional[str] = axis("octaves", "3,4,5"),
    octave_scale: Optional[str] = axis("octave_scale"),
    steps: Optional[str] = axis("steps", "5,10"),
    step_size: Optional[str] = axis("step_size", "0.01,0.02"),
    jitter: Optional[str] = axis("jitter"),
    seed: Optional[str] = axis("seed"),
    tile: Tile = None,
    max_side: Optional[int] = typer.Option(None, help="Longer side of each cell (default: 480); when given, it "
                                           "is also in the printed commands (the dream's scale depends on it).",
                                           rich_help_panel=DREAM),
    xla: Xla = None, precision: Precision = None, guide: Guide = None, lap_norm: LapNorm = None,
    sequence: bool = typer.Option(False, "--sequence", help="A folder of numbered images is one clip.",
                                  rich_help_panel=VIDEO),
    fps: Fps = None, config: Config = None, quiet: Quiet = False,
) -> None:
    """Dream one frame with each combination of listed values into a captioned contact sheet.

    Axes: repeated --layer, comma lists (--steps 5,10). Prints each cell's render command.

    Replaces a sheet dreamvid wrote before, never another file."""
    from ..preview.make import make_preview

    options = dict(model=model, weights=weights, backend=backend, layers=list(layer or ()), octaves=octaves,
                   octave_scale=octave_scale, steps=steps, step_size=step_size, jitter=jitter, seed=seed,
                   tile=tile, max_side=max_side, xla=xla, precision=precision, guide=guide, fps=fps, lap_norm=lap_norm)
    with console.RichReporter(quiet=quiet) as reporter:
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
    weights: Optional[str] = setting("weights", extra=" With --sheet"),
    backend: Backend = None,
    steps: Optional[int] = setting("steps", extra=" With --sheet"),
    step_size: Optional[float] = setting("step_size", extra=" With --sheet"),
    octaves: Optional[int] = setting("octaves", extra=" With --sheet"),
    jitter: Optional[int] = setting("jitter", extra=" With --sheet"),
    seed: Optional[int] = setting("seed", extra=" With --sheet"),
    max_side: Optional[int] = typer.Option(None, help="With --sheet: longer side of each cell (default: 256)."),
    at: Optional[str] = typer.Option(None, help="With --sheet: the frame of a video or sequence "
                                     "(default: the middle one)."),
    sequence: bool = typer.Option(False, "--sequence", help="With --sheet: a folder of numbered images is one clip."),
    quiet: Quiet = False,
) -> None:
    """List the layers a model can dream with, and their channels; with --sheet, show them dreamed."""
    from rich.console import Console
    from rich.table import Table

    from ..engine import model_file_layers, model_spec

    if sheet:
        from ..preview.make import make_layer_sheet

        options = dict(model=model, weights=weights, backend=backend, steps=steps, step_size=step_size,
                       octaves=octaves, jitter=jitter, seed=seed, max_side=max_side)
        with console.RichReporter(quiet=quiet) as reporter:
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
        channels, defaults = model_file_layers(model, backend), ()
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
    from ..score import check_plotting, plot_scores, read_timing, score_videos

    if plot is not None:
        check_plotting(plot)
    scores = score_videos(source, dreamed)  # probes both videos before reading a frame
    if plot is not None:
        plot_scores(scores, plot, read_timing(dreamed))
    typer.echo(json.dumps({key: value for key, value in scores.items() if key != "per_frame"}, indent=2))


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
    fps: Optional[float] = setting("fps", panel=ZOOM),
    model: Model = None, weights: Weights = None, backend: Backend = None, layer: Layers = None,
    octaves: Octaves = None, octave_scale: OctaveScale = None,
    steps: Optional[str] = setting("steps", extra=" For the first frame"),
    flow_steps: Optional[str] = setting("flow_steps", extra=" For every later frame", panel=DREAM),
    step_size: StepSize = None, jitter: Jitter = None, color_match: ColorMatch = None, tile: Tile = None,
    max_side: Optional[int] = typer.Option(None, help="Zoom at this longer side (the video's size).",
                                           rich_help_panel=DREAM),
    seed: Seed = None, xla: Xla = None, precision: Precision = None, lap_norm: LapNorm = None,
    crf: Optional[int] = setting("crf", panel=ZOOM),
    codec: Optional[str] = setting("codec", panel=ZOOM),
    config: Config = None, quiet: Quiet = False, verbose: Verbose = False, overwrite: Overwrite = False,
    fresh: Fresh = False, keep_parts: KeepParts = False,
) -> None:
    """The infinite DeepDream zoom: each frame is the previous dream zoomed, turned and moved, dreamed again."""
    from ..job import ZoomMotion
    from ..jobs import plan_zoom_jobs
    from ..settings import build_settings

    options = dict(model=model, weights=weights, backend=backend, layers=tuple(layer or ()), octaves=octaves,
                   octave_scale=octave_scale, steps=steps, flow_steps=flow_steps, step_size=step_size, jitter=jitter,
                   tile=tile, max_side=max_side, seed=seed, xla=xla, precision=precision, crf=crf, fps=fps,
                   lap_norm=lap_norm, codec=codec, color_match=color_match)
    settings = build_settings(options, config)
    motion = ZoomMotion.parse(zoom, rotate, translate_x, translate_y, frames, settings.fps)
    with console.RichReporter(quiet=quiet, verbose=verbose) as reporter, contextlib.ExitStack() as locks:
        jobs = plan_zoom_jobs(inputs, settings, motion, output, overwrite=overwrite, fresh=fresh, locks=locks)
        _run_queue(jobs, settings, reporter, fresh=fresh, keep_parts=keep_parts)


__all__ = ["COMMANDS", "RUN", "RUNNING", "app"]
