"""The two sheets, made: a preview (one frame dreamed with every combination of the listed values) and a
layer sheet (every layer or channel of a model). Everything is checked before the model loads; the model
is built once per sheet."""
from __future__ import annotations

import contextlib
import logging
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Sequence

import numpy as np
from PIL import Image

from .. import engine
from ..io.audio import sound_envelope
from ..io.sources import VideoSource
from ..engine.catalog import check_tile, model_spec, resolve_layers, resolved_parameters, resolve_weights
from ..errors import UserError
from ..imageops import from_float, processing_size, resize
from ..progress import Reporter
from ..settings import LayerSpec, Settings, build_settings
from .captions import caption, command_line, format_value, summary
from .frames import Frame, read_frame
from .plan import LAYER_SHEET_SIDE, PREVIEW_SIDE, Cell, grid_shape, plan_layer_sheet, plan_preview
from .sheet import compose_sheet, neutral_picture, sheet_path, write_sheet


def preview_size(frame: np.ndarray, max_side: int | None, default: int) -> np.ndarray:
    """The frame at the sheet's cell size (its longer side at most `max_side`, else `default`)."""
    height, width = processing_size(*frame.shape[:2], max_side or default)
    return resize(frame, height, width)


def dream_cells(picture: np.ndarray, cells: Sequence[Cell], reporter: Reporter | None = None, *, frame: int = 0,
                fps: float = 25.0, envelope: Sequence[float] | None = None) -> tuple[list[np.ndarray], dict[str, float]]:
    """Dream `picture` (H x W x 3 float, at cell size) once per cell, with scheduled parameters at
    source frame `frame`; returns uint8 tiles and timings.

    The model is built once, with every layer the cells use; each distinct set of layers gets its own
    compiled step loop on it, so a sheet of layers or channels does not build the network per cell."""
    started = time.monotonic()
    reporter = reporter or Reporter()
    first = cells[0].settings
    names = tuple(dict.fromkeys(spec.name for cell in cells
                                for spec in resolve_layers(cell.settings.model, cell.settings.layers)))
    shared = engine.load_dreamer(replace(first, layers=tuple(LayerSpec(name) for name in names)))
    timings = {"model": time.monotonic() - started}
    dreamers: dict[tuple, Any] = {shared.layers: shared}
    reporter.start("sheet", len(cells))
    tiles = []
    with _quiet_retracing():
        for done, cell in enumerate(cells, start=1):
            layers = resolve_layers(cell.settings.model, cell.settings.layers)
            if layers not in dreamers:
                dreamers[layers] = shared.with_layers(layers)
            params = cell.settings.dream_params(cell.settings.at(frame, fps, envelope))
            dreamed = dreamers[layers].dream(picture[None].astype(np.float32), params)[0]
            tiles.append(from_float(dreamed, np.uint8))
            reporter.advance(done)
    reporter.finish()
    timings["cells"] = time.monotonic() - started - timings["model"]
    return tiles, timings


@contextlib.contextmanager
def _quiet_retracing():
    """Each layer set's step loop is traced once, on purpose; TensorFlow's warning about many traces
    would only alarm the user."""
    logger = logging.getLogger("tensorflow")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        logger.setLevel(level)


@dataclass(frozen=True)
class Sheet:
    """A written sheet: its path, and per cell the caption and the command line that renders it."""

    path: Path
    captions: list[str]
    commands: list[str]
    timings: dict[str, float]


def make_preview(source: Path, options: dict[str, Any], *, at: str | None = None, output: Path | None = None,
                 sequence: bool = False, config: Path | None = None, reporter: Reporter | None = None) -> Sheet:
    """Dream one frame of `source` with every combination of the listed values and write the sheet.
    Everything is checked (lists, bounds, model, input, output) before the model loads."""
    reporter = reporter or Reporter()
    cells, axes = plan_preview(options, config)
    base = cells[0].settings
    _check_exists(source)
    path = sheet_path(source, output, "_preview")
    frame = read_frame(source, at, sequence, base.fps, reporter.warn)
    envelope = _envelope(source, frame) if any(cell.settings.audio_driven for cell in cells) else None
    for cell in cells:  # an expression's value at this frame, against the bounds, before the model loads
        cell.settings.check_frames(range(frame.index or 0, (frame.index or 0) + 1), frame.fps, envelope=envelope)
    picture = preview_size(frame.rgb, base.max_side, PREVIEW_SIDE)
    captions = [caption(index, cell) for index, cell in enumerate(cells)]
    as_sequence = sequence and "%" not in source.name and source.is_dir()
    commands = [command_line(str(source), cell.settings, as_sequence) for cell in cells]
    tiles, timings = dream_cells(picture, cells, reporter, frame=frame.index or 0, fps=frame.fps, envelope=envelope)
    where = f" frame {frame.index}" if frame.index is not None else ""
    title = f"{source.name}{where}: {summary(base, [axis.key for axis in axes])}"
    columns = grid_shape(axes, len(cells))[1]
    _write(path, compose_sheet(tiles, captions, columns, title), base, cells, captions, commands, timings,
           kind="preview", input=str(source), frame=frame.index, cell_size=list(picture.shape[1::-1]))
    return Sheet(path, captions, commands, timings)


def make_layer_sheet(source: Path | None, options: dict[str, Any], *, layers: Sequence[str] = (),
                     channels: str | None = None, at: str | None = None, output: Path | None = None,
                     sequence: bool = False, reporter: Reporter | None = None) -> Sheet:
    """Dream a small frame (the input's, or soft grey noise) with every layer of the model, the
    listed layers, or the channels of one layer, and write the sheet."""
    reporter = reporter or Reporter()
    settings = build_settings(options)
    resolve_weights(settings.model, settings.weights)
    check_tile(settings.model, settings.tile)
    spec = model_spec(settings.model)
    if spec is not None:  # a model file's layers are known only once it is loaded
        plan_layer_sheet(settings, spec.channels, layers, channels)
    if source is not None:
        _check_exists(source)
    path = sheet_path(source, output, "_layers", default_name=Path(settings.model).stem)
    side = settings.max_side or LAYER_SHEET_SIDE
    frame = (read_frame(source, at, sequence, settings.fps, reporter.warn) if source is not None
             else Frame(neutral_picture(side, side, settings.seed), None, None))
    picture = preview_size(frame.rgb, settings.max_side, LAYER_SHEET_SIDE)
    if spec is None:
        available = engine.model_file_layers(settings.model, settings.backend)
    else:
        available = spec.channels
    cells = plan_layer_sheet(settings, available, layers, channels)
    captions = [caption(index, cell, available) for index, cell in enumerate(cells)]
    commands = [command_line(str(source) if source is not None else "INPUT", replace(cell.settings, max_side=None))
                for cell in cells]
    tiles, timings = dream_cells(picture, cells, reporter)
    what = f"{source.name}{f' frame {frame.index}' if frame.index is not None else ''}" if source else "soft grey noise"
    title = f"layers of {summary(settings, ['layers'])}, on {what}"
    columns = grid_shape([], len(cells))[1]
    _write(path, compose_sheet(tiles, captions, columns, title), settings, cells, captions, commands, timings,
           kind="layer sheet", input=str(source) if source is not None else None, frame=frame.index,
           cell_size=list(picture.shape[1::-1]))
    return Sheet(path, captions, commands, timings)


def _envelope(source: Path, frame: Frame) -> list[float]:
    """The soundtrack's loudness per frame, for `audio:` schedules (as a render computes it)."""
    if not frame.has_audio:
        raise UserError(f"{source} has no soundtrack for an audio: schedule to follow (it needs a video with audio)")
    return sound_envelope(VideoSource.open(source))


def _check_exists(source: Path) -> None:
    """Before the output is checked, so a mistyped input is named as such."""
    if "%" not in source.name and not source.exists():
        raise UserError(f"input not found: {source}")


def _write(path: Path, sheet: Image.Image, settings: Settings, cells: Sequence[Cell], captions: list[str],
           commands: list[str], timings: dict[str, float], **extra: Any) -> None:
    listed = [{"caption": text, "command": command,
               "varied": {key: format_value(value) for key, value in cell.varied}}
              for cell, text, command in zip(cells, captions, commands)]
    varied = {key for cell in cells for key, _ in cell.varied}  # each cell's values are in its entry
    shared = {key: value for key, value in resolved_parameters(settings).items() if key not in varied}
    write_sheet(path, sheet, shared, **extra, cells=listed,
                seconds={stage: round(seconds, 2) for stage, seconds in timings.items()})
