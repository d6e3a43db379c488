"""What each cell says, and the command that renders it: printed commands parse back into each cell's
settings."""
from __future__ import annotations

import shlex

from dreamvid.preview.captions import command_line
from dreamvid.preview.plan import parse_layer_values, parse_values, plan_preview
from dreamvid.settings import FIELDS, LayerSpec, build_settings


def _parse_render(command: str) -> tuple[list[str], dict]:
    """The render command's own parser (as `dreamvid` would run it), without running it."""
    from typer.main import get_command

    from dreamvid.cli import app

    args = shlex.split(command)
    assert args[0] == "dreamvid"
    context = get_command(app).commands["render"].make_context("render", args[1:])
    params = dict(context.params)
    inputs = [str(path) for path in params.pop("inputs")]
    options = {("layers" if key == "layer" else key): value for key, value in params.items()
               if key in FIELDS or key == "layer"}
    options["layers"] = tuple(options["layers"] or ())
    return inputs, options


def test_printed_commands_parse_back_into_each_cells_settings(tmp_path):
    config = tmp_path / "deep.toml"
    config.write_text("octave-scale = 1.4\nblend = 0.8\n")
    cells, _ = plan_preview({"model": "vgg16-hed", "layers": ["block3_conv3+block5_conv3=0.5", "block4_conv3:7"],
                             "steps": "5,10", "step_size": "0.015", "max_side": 320, "xla": False}, config)
    assert len(cells) == 4
    for cell in cells:
        command = command_line("my clip.mp4", cell.settings)
        inputs, options = _parse_render(command)
        assert inputs == ["my clip.mp4"]
        assert build_settings(options) == cell.settings  # the config's values are written out
    assert "--octave-scale 1.4" in command and "--blend 0.8" in command and "--max-side 320" in command
    assert command_line("shot", cells[0].settings, sequence=True).startswith("dreamvid shot --sequence ")


def test_a_schedule_is_one_value_and_comes_back_in_the_command():
    ramp = "0:(0.005), 48:(0.02)"
    assert parse_values("step_size", ramp) == (ramp,)
    assert parse_values("step_size", "audio:0.005..0.03") == ("audio:0.005..0.03",)
    assert parse_layer_values(["block3_conv3=0:(1), 100:(0)+block5_conv3"]) == (
        (LayerSpec("block3_conv3", None, "0:(1), 100:(0)"), LayerSpec("block5_conv3")),)
    cells, axes = plan_preview({"model": "vgg16-hed", "step_size": ramp, "steps": "5,10"})
    assert [axis.key for axis in axes] == ["steps"] and len(cells) == 2
    for cell in cells:
        assert cell.settings.step_size == ramp
        assert build_settings(_parse_render(command_line("clip.mp4", cell.settings))[1]) == cell.settings
