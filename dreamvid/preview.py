"""Contact sheets, to look before the night: one frame dreamed with every combination of the values
given as lists (a preview sheet), or with every layer or channel of a model (a layer sheet).

The plans (cells, captions, the command line of each cell) and the drawing are pure and need no
TensorFlow, so bad lists fail in a second; only `dream_cells` loads the model."""
from __future__ import annotations

import bisect
import contextlib
import itertools
import logging
import math
import re
import shlex
import tempfile
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Callable, Sequence

import cv2
import numpy as np
from PIL import Image, ImageDraw, ImageFont

from .errors import UserError
from .imageops import from_float, processing_size, resize, to_float
from .engine.catalog import check_layers, check_model, check_tile, model_spec, resolve_layers, resolve_weights
from .progress import Reporter
from .settings import FIELDS, LayerSpec, Settings, build_settings, option_name, parse_layer_spec

PREVIEW_SIDE = 480  # longer side of a preview cell: detail shows, and a 6-cell sheet fits a screen
LAYER_SHEET_SIDE = 256  # a layer sheet has many cells, so they are smaller
MAX_CELLS = 64
SHEET_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp")
# Options whose values a preview can list (`--steps 5,10`), in the order of the sheet's axes after --layer.
NUMERIC_AXES = ("octaves", "octave_scale", "steps", "step_size", "jitter", "seed")


# --- plans -----------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Axis:
    """One option the sheet varies: its settings field ("layers" for --layer) and its values."""

    key: str
    values: tuple


@dataclass(frozen=True)
class Cell:
    """One picture of a sheet: the settings that make it, and the axis values that tell it apart."""

    settings: Settings  # what the cell's command line renders (max_side as the user gave it)
    varied: tuple[tuple[str, Any], ...] = ()  # (field, value) for each axis


def parse_values(key: str, text: str) -> tuple:
    """`0.01,0.02` -> (0.01, 0.02) for a numeric option; one value is a one-value tuple. A schedule
    (`0:(0.005), 48:(0.02)` or `audio:0.005..0.03`) is one value: the sheet dreams it at its frame."""
    if "(" in str(text) or str(text).strip().startswith("audio:"):
        return (str(text),)
    kind = type(FIELDS[key].default)
    values = []
    for item in str(text).split(","):
        item = item.strip()
        try:
            values.append(int(item) if kind is int else float(item))
        except ValueError:
            what = "a whole number" if kind is int else "a number"
            raise UserError(f"{option_name(key)} {text}: '{item}' is not {what} "
                            f"(give one value, or several separated by commas)") from None
    return tuple(values)


def parse_layer_values(texts: Sequence[str]) -> tuple[tuple[LayerSpec, ...], ...]:
    """Each --layer is one value of the layer axis; `mixed3+mixed5` dreams both layers in one cell."""
    return tuple(tuple(parse_layer_spec(part) for part in re.split(r"\+(?=[A-Za-z_])", text)) for text in texts)


def plan_preview(options: dict[str, Any], config: Path | None = None) -> tuple[list[Cell], list[Axis]]:
    """The cells of a preview sheet, row by row: every combination of the listed values, each cell's
    settings built and checked as a render's would be (bounds, model, weights, layers, tile).

    `options` are render options as the CLI gives them, except that `layers` is a list of strings
    (one per --layer) and the NUMERIC_AXES are strings that may hold comma lists."""
    fixed = {key: value for key, value in options.items() if key not in NUMERIC_AXES and key != "layers"}
    axes = []
    layer_values = parse_layer_values(options.get("layers") or ())
    if len(layer_values) > 1:
        axes.append(Axis("layers", layer_values))
    elif layer_values:
        fixed["layers"] = layer_values[0]
    for key in NUMERIC_AXES:
        if options.get(key) is None:
            continue
        values = parse_values(key, options[key])
        if len(values) > 1:
            axes.append(Axis(key, values))
        else:
            fixed[key] = values[0]
    count = math.prod(len(axis.values) for axis in axes)
    if count > MAX_CELLS:
        raise UserError(f"{count} cells is too many for one sheet (at most {MAX_CELLS}): give fewer values")
    cells = []
    for combination in itertools.product(*(axis.values for axis in axes)):
        varied = tuple((axis.key, value) for axis, value in zip(axes, combination))
        settings = build_settings({**fixed, **dict(varied)}, config)
        check_model(settings)
        cells.append(Cell(settings, varied))
    return cells, axes


def parse_channels(text: str, count: int, layer: str) -> range:
    """`0:16` (half-open) or `16` (the first 16) -> the channels of a layer sheet, checked against `count`."""
    start, sep, end = str(text).partition(":")
    try:
        first, stop = (int(start or 0), int(end)) if sep else (0, int(start))
    except ValueError:
        raise UserError(f"--channels must be START:END or N, e.g. 0:16 (got '{text}')") from None
    if not 0 <= first < stop <= count:
        raise UserError(f"--channels {text} is outside {layer}, which has {count} channels (0:{count})")
    if stop - first > MAX_CELLS:
        raise UserError(f"--channels {text} makes {stop - first} cells (at most {MAX_CELLS} on a sheet)")
    return range(first, stop)


def plan_layer_sheet(settings: Settings, channels: dict[str, int], layers: Sequence[str] = (),
                     channel_range: str | None = None) -> list[Cell]:
    """One cell per dreamable layer (or per listed layer), or per channel of one layer."""
    specs = tuple(parse_layer_spec(text) for text in layers)
    check_layers(specs, channels, settings.model)
    if channel_range is not None:
        if len(specs) != 1 or specs[0].channel is not None:
            raise UserError("--channels needs exactly one --layer, without a channel (e.g. --layer mixed4 --channels 0:16)")
        name = specs[0].name
        chosen = [(LayerSpec(name, channel),) for channel in parse_channels(channel_range, channels[name], name)]
    else:
        chosen = [(spec,) for spec in specs] or [(LayerSpec(name),) for name in channels]
    if len(chosen) > MAX_CELLS:
        raise UserError(f"{len(chosen)} cells is too many for one sheet (at most {MAX_CELLS}): choose layers with --layer")
    return [Cell(replace(settings, layers=layer), (("layers", layer),)) for layer in chosen]


def grid_shape(axes: Sequence[Axis], count: int) -> tuple[int, int]:
    """(rows, columns): the first axis down and the others across; one axis (or none) makes a row of
    up to four cells, or wraps near-square."""
    if len(axes) >= 2:
        return len(axes[0].values), math.prod(len(axis.values) for axis in axes[1:])
    columns = max(1, count if count <= 4 else math.ceil(math.sqrt(count)))
    return math.ceil(count / columns), columns


# --- words -----------------------------------------------------------------------------------------

def format_value(value: Any) -> str:
    """A value as the command line takes it back: floats in their shortest exact form."""
    if isinstance(value, tuple):  # layers
        return "+".join(str(spec) for spec in value)
    return repr(value) if isinstance(value, float) else str(value)


def caption(index: int, cell: Cell, channels: dict[str, int] | None = None) -> str:
    """`3: block4_conv3, step-size 0.02`: the cell's number and what sets it apart. A whole layer
    of a layer sheet (given `channels`) also shows its channel count."""
    parts = []
    for key, value in cell.varied:
        if key != "layers":
            parts.append(f"{option_name(key)[2:]} {format_value(value)}")
        elif channels and len(value) == 1 and value[0].channel is None:
            parts.append(f"{value[0]} ({channels[value[0].name]} ch)")
        else:
            parts.append(format_value(value))
    if not parts:  # nothing varies: name the layers
        parts.append(format_value(resolve_layers(cell.settings.model, cell.settings.layers)))
    return f"{index + 1}: " + ", ".join(parts)


def summary(settings: Settings, axes: Sequence[str]) -> str:
    """The settings every cell shares (the sheet's title): model, layers and engine options not on an axis."""
    parts = [settings.model]
    if "layers" not in axes:
        parts.append(format_value(resolve_layers(settings.model, settings.layers)))
    for key in NUMERIC_AXES:
        if key not in axes:
            parts.append(f"{option_name(key)[2:]} {format_value(getattr(settings, key))}")
    return ", ".join(parts)


def command_line(source: str, settings: Settings, sequence: bool = False) -> str:
    """The `dreamvid` command that renders `source` with these settings: every setting that differs
    from the default, written out, so the line stands alone (a --config file's values included)."""
    args = ["dreamvid", source]
    if sequence:
        args.append("--sequence")
    default = Settings()
    for key in FIELDS:
        value = getattr(settings, key)
        if value == getattr(default, key):
            continue
        if key == "layers":
            for spec in value:
                args += ["--layer", str(spec)]
        elif isinstance(value, bool):
            args.append(option_name(key) if value else "--no-" + key.replace("_", "-"))
        else:
            args += [option_name(key), format_value(value)]
    return shlex.join(args)


# --- drawing ---------------------------------------------------------------------------------------

GAP = 6  # pixels between cells and around the sheet
BACKGROUND, INK = (24, 24, 24), (235, 235, 235)


def font_size(cell_width: int) -> int:
    """Captions stay legible on small cells and modest on large ones."""
    return max(12, min(20, round(cell_width / 24)))


def wrap(text: str, font, width: int) -> list[str]:
    """Lines of at most `width` pixels, broken at spaces, and inside a word too long for a line."""
    lines: list[str] = []
    for word in text.split(" "):
        candidate = f"{lines[-1]} {word}" if lines else word
        if lines and font.getlength(candidate) <= width:
            lines[-1] = candidate
            continue
        lines.append("")
        for char in word:
            if lines[-1] and font.getlength(lines[-1] + char) > width:
                lines.append("")
            lines[-1] += char
    return lines


def compose_sheet(tiles: Sequence[np.ndarray], captions: Sequence[str], columns: int,
                  title: str | None = None) -> Image.Image:
    """Tiles (H x W x 3 uint8) in a grid, row by row, each over its caption; the title on top.

    Each cell is as large as the largest tile; a tile sits at its cell's top-left corner."""
    if len(tiles) != len(captions) or not tiles:
        raise ValueError("one caption per tile, and at least one tile")
    rows = math.ceil(len(tiles) / columns)
    cell_w = max(tile.shape[1] for tile in tiles)
    cell_h = max(tile.shape[0] for tile in tiles)
    font = ImageFont.load_default(size=font_size(cell_w))
    line_h = round(font.size * 1.25)
    caption_lines = [wrap(text, font, cell_w) for text in captions]
    caption_h = max(len(lines) for lines in caption_lines) * line_h + GAP // 2
    width = columns * cell_w + (columns + 1) * GAP
    title_lines = wrap(title, font, width - 2 * GAP) if title else []
    top = len(title_lines) * line_h + (GAP if title_lines else 0)
    height = top + rows * (cell_h + caption_h) + (rows + 1) * GAP
    sheet = Image.new("RGB", (width, height), BACKGROUND)
    draw = ImageDraw.Draw(sheet)
    for number, line in enumerate(title_lines):
        draw.text((GAP, GAP + number * line_h), line, fill=INK, font=font)
    for index, (tile, lines) in enumerate(zip(tiles, caption_lines)):
        x, y = cell_origin(index, columns, cell_w, cell_h + caption_h, top)
        sheet.paste(Image.fromarray(np.ascontiguousarray(tile)), (x, y))
        for number, line in enumerate(lines):
            draw.text((x, y + cell_h + GAP // 2 + number * line_h), line, fill=INK, font=font)
    return sheet


def cell_origin(index: int, columns: int, cell_w: int, cell_h: int, top: int = 0) -> tuple[int, int]:
    """Top-left pixel of cell `index` (row by row) on a sheet whose title takes `top` pixels."""
    row, column = divmod(index, columns)
    return GAP + column * (cell_w + GAP), top + GAP + row * (cell_h + GAP)


def neutral_picture(height: int, width: int, seed: int = 0) -> np.ndarray:
    """Soft grey noise, RGB float in [0, 1]: no content of its own, so a layer shows what it likes."""
    rng = np.random.default_rng(seed)
    grey = rng.standard_normal((height, width, 1)) + 0.3 * rng.standard_normal((height, width, 3))
    noise = cv2.GaussianBlur(grey.astype(np.float32), (0, 0), 2.0)
    noise /= noise.std() + 1e-8
    return np.clip(0.5 + 0.06 * noise, 0.0, 1.0)


# --- frames ----------------------------------------------------------------------------------------

def parse_at(text: str) -> tuple[float, bool]:
    """`--at 120` (a frame) or `--at 12.5s` (a time) -> (value, in seconds?)."""
    text = str(text).strip()
    seconds = text.endswith("s")
    try:
        value = float(text[:-1]) if seconds else int(text)
    except ValueError:
        raise UserError(f"--at must be a frame number or a time such as 12.5s (got '{text}')") from None
    if not math.isfinite(value) or value < 0:
        raise UserError(f"--at must be a frame number or a time, not negative (got '{text}')")
    return value, seconds


def frame_index(at: str | None, count: int, fps: float, times: Sequence[float] = ()) -> int:
    """The frame `--at` names in a clip of `count` frames (default: the middle one). A time picks the
    frame shown at that moment: the last one starting at or before it."""
    if at is None:
        return count // 2
    value, seconds = parse_at(at)
    if seconds:
        starts = [t - times[0] for t in times] if times else [i / fps for i in range(count)]
        if value >= starts[-1] + 1 / fps:
            raise UserError(f"--at {at} is past the end of the clip ({count} frames, {starts[-1] + 1 / fps:.2f}s)")
        return max(0, bisect.bisect_right(starts, value + 1e-9) - 1)
    if value >= count:
        raise UserError(f"--at {at} is outside the clip, which has {count} frames (0..{count - 1})")
    return int(value)


@dataclass(frozen=True)
class Frame:
    """The picture a sheet dreams, RGB float in [0, 1], and where it came from."""

    rgb: np.ndarray
    source: Path | None
    index: int | None  # in its video or sequence
    fps: float = 25.0  # its clip's rate, at which schedules in seconds are read
    has_audio: bool = False


def read_frame(source: Path, at: str | None = None, sequence: bool = False, fps: float = 25.0,
               warn: Callable[[str], None] = lambda _: None) -> Frame:
    """One frame of a video, sequence or folder (the one at `at`, default the middle one), or a still."""
    from .io.probe import VIDEO_SUFFIXES
    from .io.images import ImageDecodeError, inspect_image, read_image
    from .memory import check_memory
    from .io.listing import list_images, list_sequence

    if "%" not in source.name and not source.exists():
        raise UserError(f"input not found: {source}")
    if "%" in source.name or source.is_dir():
        frames = list_sequence(source, warn) if sequence or "%" in source.name else tuple(list_images(source))
        index = frame_index(at, len(frames), fps)
        path = frames[index]
    elif source.suffix.lower() in VIDEO_SUFFIXES:
        from .io.decode import probe_video, read_frames

        info = probe_video(source)
        index = frame_index(at, info.frame_count, float(info.fps), info.times)
        rgb = to_float(next(iter(read_frames(source, index, index + 1, info=info))))
        return Frame(rgb, source, index, float(info.fps), info.has_audio)
    else:
        if at is not None:
            raise UserError(f"--at picks a frame of a video or sequence, and {source} is a still")
        index, path = None, source
    check_memory(inspect_image(path), PREVIEW_SIDE)  # the picture is decoded whole, then shrunk
    try:
        rgb = read_image(path).rgb
    except ImageDecodeError as error:
        raise UserError(str(error)) from None
    return Frame(np.nan_to_num(np.clip(rgb, 0.0, 1.0)), source, index, fps)


# --- output ----------------------------------------------------------------------------------------

def sheet_path(source: Path | None, output: Path | None, suffix: str, default_name: str = "sheet") -> Path:
    """Where a sheet goes: -o, else INPUT<suffix>.png beside the input (a folder's or pattern's
    beside its folder), else `default_name`<suffix>.png here. Checked before any work."""
    from .sidecar import read_record, sidecar_path

    if output is None:
        if source is None:
            output = Path(f"{default_name}{suffix}.png")
        else:
            base = source.parent if "%" in source.name else source
            base = base.resolve() if base.name in ("", ".", "..") else base
            output = base.with_name(f"{base.stem if base.is_file() else base.name}{suffix}.png")
    if output.suffix.lower() not in SHEET_SUFFIXES:
        raise UserError(f"sheet {output} must end in {', '.join(SHEET_SUFFIXES)}")
    if source is not None and output.resolve() == source.resolve():
        raise UserError(f"output {output} is the input: choose another with -o")
    if not output.parent.is_dir():
        raise UserError(f"cannot write {output}: folder {output.parent} does not exist")
    if output.is_dir():
        raise UserError(f"output {output} exists and is a folder")
    if output.exists() and read_record(sidecar_path(output, folder=False)) is None:
        raise UserError(f"{output} exists and dreamvid did not write it (no {output.name}.json beside it): "
                        f"move it away or choose another -o")
    try:
        with tempfile.TemporaryFile(dir=output.parent):
            pass
    except OSError:
        raise UserError(f"cannot write {output}: folder {output.parent} is not writable") from None
    return output


def write_sheet(path: Path, sheet: Image.Image, params: dict[str, Any], **extra: Any) -> None:
    """The record first, then the picture under a temporary name renamed into place: a kill leaves the
    old sheet or the new one, and a sheet that dreamvid may replace next time."""
    from .atomic import writing
    from .sidecar import sidecar_path, write_sidecar

    write_sidecar(sidecar_path(path, folder=False), params, **extra)
    with writing(path) as temporary:
        options = {"quality": 85} if path.suffix.lower() in (".jpg", ".jpeg", ".webp") else {}
        sheet.save(temporary, **options)


# --- dreaming --------------------------------------------------------------------------------------

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
    from .engine import load_dreamer

    reporter = reporter or Reporter()
    first = cells[0].settings
    names = tuple(dict.fromkeys(spec.name for cell in cells
                                for spec in resolve_layers(cell.settings.model, cell.settings.layers)))
    shared = load_dreamer(replace(first, layers=tuple(LayerSpec(name) for name in names)))
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


# --- the two sheets --------------------------------------------------------------------------------

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
        from .engine import model_file_layers

        available = model_file_layers(settings.model)
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
    from .io.sources import VideoSource
    from .temporal.plan import sound_envelope

    return sound_envelope(VideoSource.open(source))


def _check_exists(source: Path) -> None:
    """Before the output is checked, so a mistyped input is named as such."""
    if "%" not in source.name and not source.exists():
        raise UserError(f"input not found: {source}")


def _write(path: Path, sheet: Image.Image, settings: Settings, cells: Sequence[Cell], captions: list[str],
           commands: list[str], timings: dict[str, float], **extra: Any) -> None:
    from .engine.catalog import resolved_parameters

    listed = [{"caption": text, "command": command,
               "varied": {key: format_value(value) for key, value in cell.varied}}
              for cell, text, command in zip(cells, captions, commands)]
    varied = {key for cell in cells for key, _ in cell.varied}  # each cell's values are in its entry
    shared = {key: value for key, value in resolved_parameters(settings).items() if key not in varied}
    write_sheet(path, sheet, shared, **extra, cells=listed,
                seconds={stage: round(seconds, 2) for stage, seconds in timings.items()})
