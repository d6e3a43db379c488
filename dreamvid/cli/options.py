"""The options the commands share, declared once. Each parameter's help and default come from its field in
settings.py (option_help), so the CLI never retypes a default; only what is the CLI's own (run control,
the zoom's motion, a sheet's axes) is written here."""
from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from ..settings import option_help

DREAM, VIDEO, RUN, CLUSTER, ZOOM = "Dream", "Video", "Run", "Cluster", "Zoom"


def setting(key: str, *flags: str, panel: str = DREAM, extra: str = ""):
    """A typer option for the parameter `key` of Settings, unset (None) unless given."""
    return typer.Option(None, *flags, help=option_help(key, extra), rich_help_panel=panel)


def _shared(key: str, *flags: str, panel: str = DREAM):
    """The same, for an option declared once (Annotated) and used by several commands."""
    return typer.Option(*flags, help=option_help(key), rich_help_panel=panel)


def axis(key: str, example: str = ""):
    """A preview sheet's option: one value, or a comma list that makes an axis of the sheet."""
    return setting(key, extra=f"; a comma list{f' ({example})' if example else ''} makes an axis of the sheet")


Model = Annotated[Optional[str], _shared("model")]
Weights = Annotated[Optional[str], _shared("weights")]
Backend = Annotated[Optional[str], _shared("backend")]
Layers = Annotated[Optional[list[str]], _shared("layers", "--layer", "-l")]
Octaves = Annotated[Optional[int], _shared("octaves")]
OctaveScale = Annotated[Optional[float], _shared("octave_scale")]
Steps = Annotated[Optional[str], _shared("steps")]
StepSize = Annotated[Optional[str], _shared("step_size")]
Jitter = Annotated[Optional[str], _shared("jitter")]
Tile = Annotated[Optional[int], _shared("tile")]
Seed = Annotated[Optional[int], _shared("seed")]
MaxSide = Annotated[Optional[int], _shared("max_side")]
Batch = Annotated[Optional[int], _shared("batch")]
Xla = Annotated[Optional[bool], _shared("xla", "--xla/--no-xla")]
Precision = Annotated[Optional[str], _shared("precision")]
Guide = Annotated[Optional[Path], _shared("guide")]
Colors = Annotated[Optional[str], _shared("colors")]
ColorMatch = Annotated[Optional[str], _shared("color_match", panel=VIDEO)]
Mask = Annotated[Optional[Path], _shared("mask")]
MaskInvert = Annotated[Optional[bool], _shared("mask_invert", "--mask-invert/--no-mask-invert")]
LapNorm = Annotated[Optional[int], _shared("lap_norm")]
Fps = Annotated[Optional[float], _shared("fps", panel=VIDEO)]
Crf = Annotated[Optional[int], _shared("crf", panel=VIDEO)]
Codec = Annotated[Optional[str], _shared("codec", panel=VIDEO)]

Config = Annotated[Optional[Path], typer.Option(help="TOML file of options; the command line wins.",
                                                rich_help_panel=RUN)]
Quiet = Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.", rich_help_panel=RUN)]
Verbose = Annotated[bool, typer.Option("--verbose", "-v", help="Show where time goes.", rich_help_panel=RUN)]
Overwrite = Annotated[bool, typer.Option(help="Replace existing outputs.", rich_help_panel=RUN)]
Fresh = Annotated[bool, typer.Option(help="Discard a previous partial render instead of resuming it.",
                                     rich_help_panel=RUN)]
KeepParts = Annotated[bool, typer.Option(help="Keep the work folder of checkpointed frames.", rich_help_panel=RUN)]
