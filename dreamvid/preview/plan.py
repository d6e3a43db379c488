"""The plan of a contact sheet: its cells, each the settings of one dream, and the axes they vary
(repeated --layer, comma lists such as --steps 5,10; a layer sheet's layers or channels). Pure and
checked before any framework loads, so bad lists fail in a second."""
from __future__ import annotations

import itertools
import math
import re
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Sequence

from ..engine.catalog import check_layers, check_model
from ..errors import UserError
from ..settings import FIELDS, LayerSpec, Settings, build_settings, option_name, parse_layer_spec


PREVIEW_SIDE = 480  # longer side of a preview cell: detail shows, and a 6-cell sheet fits a screen


LAYER_SHEET_SIDE = 256  # a layer sheet has many cells, so they are smaller


MAX_CELLS = 64


# Options whose values a preview can list (`--steps 5,10`), in the order of the sheet's axes after --layer.
NUMERIC_AXES = ("octaves", "octave_scale", "steps", "step_size", "jitter", "seed")


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
