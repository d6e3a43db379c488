"""What a sheet says: each cell's caption, the sheet's title, and the command line that renders a cell."""
from __future__ import annotations

import shlex
from typing import Any, Sequence

from ..engine.catalog import resolve_layers
from ..settings import FIELDS, Settings, option_name
from .plan import NUMERIC_AXES, Cell


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
