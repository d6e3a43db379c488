"""Preview and layer sheets: the plans, captions and command lines (pure, no TensorFlow), the grid's
pixels, and the installed command end to end on tiny inputs with vgg16-hed."""
from __future__ import annotations

import json
import shlex
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageFont

from clips import encode, translating_frames
from conftest import natural_picture, snapshot
from dreamvid.errors import UserError
from dreamvid.engine.catalog import CATALOG
from dreamvid.preview.captions import caption, command_line
from dreamvid.preview.frames import frame_index, read_frame
from dreamvid.preview.plan import grid_shape, parse_layer_values, parse_values, plan_layer_sheet, plan_preview
from dreamvid.preview.sheet import BACKGROUND, GAP, cell_origin, compose_sheet, font_size, neutral_picture, sheet_path, wrap
from dreamvid.settings import FIELDS, LayerSpec, build_settings

VGG_LAYERS = ["block3_conv3", "block4_conv3", "block5_conv3"]
TINY = ["--model", "vgg16-hed", "--steps", "1", "--octaves", "1", "--jitter", "4", "--max-side", "64", "-q"]


def _grid(**extra):
    return plan_preview({"model": "vgg16-hed", "layers": VGG_LAYERS, "step_size": "0.01,0.02", **extra})


def test_three_layers_by_two_step_sizes_make_a_3x2_grid_with_six_captions():
    cells, axes = _grid()
    assert [axis.key for axis in axes] == ["layers", "step_size"]
    assert grid_shape(axes, len(cells)) == (3, 2)
    captions = [caption(index, cell) for index, cell in enumerate(cells)]
    assert captions == ["1: block3_conv3, step-size 0.01", "2: block3_conv3, step-size 0.02",
                        "3: block4_conv3, step-size 0.01", "4: block4_conv3, step-size 0.02",
                        "5: block5_conv3, step-size 0.01", "6: block5_conv3, step-size 0.02"]
    assert [(cell.settings.layers, cell.settings.step_size) for cell in cells] == [
        ((LayerSpec(name),), size) for name in VGG_LAYERS for size in (0.01, 0.02)]


def test_the_sheet_has_the_grid_size_each_tile_in_its_cell_and_every_caption_drawn():
    colours = [(200, 30, 30), (30, 200, 30), (30, 30, 200), (200, 200, 30), (30, 200, 200), (200, 30, 200)]
    tiles = [np.full((30, 40, 3), colour, np.uint8) for colour in colours]
    captions = [f"{index + 1}: cell" for index in range(6)]
    sheet = compose_sheet(tiles, captions, columns=2)
    assert sheet.size[0] == 2 * 40 + 3 * GAP
    font = ImageFont.load_default(size=font_size(40))
    caption_h = round(font.size * 1.25) + GAP // 2
    assert sheet.size[1] == 3 * (30 + caption_h) + 4 * GAP
    pixels = np.asarray(sheet)
    for index, colour in enumerate(colours):
        x, y = cell_origin(index, 2, 40, 30 + caption_h)
        assert (pixels[y:y + 30, x:x + 40] == colour).all()
        band = pixels[y + 30:y + 30 + caption_h, x:x + 40]
        assert (band != BACKGROUND).any(axis=-1).sum() > 10  # text is there
    with_title = compose_sheet(tiles, captions, columns=2, title="a title")
    assert with_title.size[0] == sheet.size[0] and with_title.size[1] > sheet.size[1]


def test_one_axis_makes_a_row_of_up_to_four_then_wraps_near_square():
    assert grid_shape([], 1) == (1, 1)
    assert grid_shape([], 4) == (1, 4)
    assert grid_shape([], 6) == (2, 3)
    assert grid_shape([], 13) == (4, 4)


def test_long_captions_wrap_inside_their_cell():
    font = ImageFont.load_default(size=12)
    lines = wrap("1: block4_conv3_with_a_very_long_name, step-size 0.01", font, 60)
    assert len(lines) > 2 and all(font.getlength(line) <= 60 for line in lines)
    assert "".join(lines).replace(" ", "") == "1:block4_conv3_with_a_very_long_name,step-size0.01"


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


def test_single_values_are_not_axes_and_lists_parse_by_type():
    assert parse_values("steps", "5, 10") == (5, 10)
    assert parse_values("step_size", "0.01,0.02") == (0.01, 0.02)
    cells, axes = plan_preview({"model": "vgg16-hed", "layers": ["block4_conv3"], "steps": "5", "step_size": "0.02"})
    assert axes == [] and len(cells) == 1
    assert (cells[0].settings.steps, cells[0].settings.step_size) == (5, 0.02)
    assert caption(0, cells[0]) == "1: block4_conv3"


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


@pytest.mark.parametrize("options, words", [
    ({"steps": "5,x"}, "'x' is not a whole number"),
    ({"steps": "5.5"}, "'5.5' is not a whole number"),
    ({"step_size": "0.01,,0.02"}, "'' is not a number"),
    ({"step_size": "0,0.01"}, "--step-size must be > 0"),
    ({"octave_scale": "1.3,1.0"}, "--octave-scale must be > 1"),
    ({"layers": ["block4_conv3", "nope"]}, "unknown layer 'nope'"),
    ({"layers": ["block4_conv3+"]}, "bad layer"),
    ({"steps": ",".join(map(str, range(1, 9))), "seed": ",".join(map(str, range(9)))}, "72 cells is too many"),
])
def test_bad_lists_are_one_clear_error(options, words):
    with pytest.raises(UserError, match=words):
        plan_preview({"model": "vgg16-hed", **options})


def test_at_picks_a_frame_by_number_or_time():
    assert frame_index(None, 11, 25) == 5  # the middle frame
    assert frame_index("3", 11, 25) == 3
    assert frame_index("0.2s", 11, 10) == 2
    assert frame_index("0.25s", 11, 10) == 2
    assert frame_index("0.5s", 4, 10, times=[1.0, 1.1, 1.4, 1.6]) == 2  # variable rate: the frame shown then
    for bad, words in [("11", "outside the clip"), ("1.1s", "past the end"), ("x", "frame number or a time"),
                       ("-1", "not negative")]:
        with pytest.raises(UserError, match=words):
            frame_index(bad, 11, 10)


def test_read_frame_of_a_sequence_a_pattern_a_folder_and_a_still(tmp_path):
    shot = tmp_path / "shot"
    shot.mkdir()
    pictures = [np.rint(natural_picture(16, 24, seed) * 255).astype(np.uint8) for seed in range(5)]
    for number, picture in enumerate(pictures, start=1):
        Image.fromarray(picture).save(shot / f"f_{number:04d}.png")
    def read(*args, **kwargs):
        frame = read_frame(*args, **kwargs)
        return frame.index, np.rint(frame.rgb * 255).astype(np.uint8)

    index, rgb = read(shot, sequence=True)
    assert index == 2 and np.array_equal(rgb, pictures[2])  # the middle frame
    index, rgb = read(shot / "f_%04d.png", "1")
    assert index == 1 and np.array_equal(rgb, pictures[1])
    index, rgb = read(shot, "0.35s", sequence=True, fps=10)
    assert index == 3 and np.array_equal(rgb, pictures[3])
    assert read(shot, "4")[0] == 4  # a plain folder: its images in natural order
    index, rgb = read(shot / "f_0001.png")
    assert index is None and np.array_equal(rgb, pictures[0])
    with pytest.raises(UserError, match="is a still"):
        read_frame(shot / "f_0001.png", "0")
    with pytest.raises(UserError, match="outside the clip"):
        read_frame(shot, "5", sequence=True)


def test_layer_sheet_plans_every_layer_or_the_channels_of_one():
    settings = build_settings({"model": "vgg16-hed"})
    channels = CATALOG["vgg16-hed"].channels
    cells = plan_layer_sheet(settings, channels)
    assert [cell.settings.layers for cell in cells] == [(LayerSpec(name),) for name in channels]
    assert caption(9, cells[9], channels) == "10: block4_conv3 (512 ch)"
    cells = plan_layer_sheet(settings, channels, ["block4_conv3"], "0:16")
    assert [cell.settings.layers for cell in cells] == [(LayerSpec("block4_conv3", c),) for c in range(16)]
    assert caption(15, cells[15], channels) == "16: block4_conv3:15"
    assert len(plan_layer_sheet(settings, channels, ["block1_conv1"], "4")) == 4
    for layers, text, words in [([], "0:4", "exactly one --layer"), (["block1_conv1"], "60:70", "outside"),
                                (["block1_conv1"], "a:b", "START:END"), (["block9"], None, "unknown layer")]:
        with pytest.raises(UserError, match=words):
            plan_layer_sheet(settings, channels, layers, text)


def test_neutral_picture_is_soft_grey_noise():
    picture = neutral_picture(64, 80, seed=1)
    assert picture.shape == (64, 80, 3) and picture.dtype == np.float32
    assert abs(picture.mean() - 0.5) < 0.02 and 0.02 < picture.std() < 0.1
    chroma = picture - picture.mean(axis=-1, keepdims=True)
    assert chroma.std() < 0.5 * picture.std()  # mostly grey
    assert np.abs(np.diff(picture, axis=1)).mean() < 0.5 * picture.std()  # soft, not pixel noise
    assert not np.array_equal(picture, neutral_picture(64, 80, seed=2))


def test_sheet_names_and_owners(tmp_path):
    (tmp_path / "clip.mp4").write_bytes(b"x")
    (tmp_path / "shot").mkdir()
    assert sheet_path(tmp_path / "clip.mp4", None, "_preview") == tmp_path / "clip_preview.png"
    assert sheet_path(tmp_path / "shot", None, "_preview") == tmp_path / "shot_preview.png"
    assert sheet_path(tmp_path / "shot" / "f_%04d.png", None, "_layers") == tmp_path / "shot_layers.png"
    (tmp_path / "theirs.png").write_bytes(b"not ours")
    with pytest.raises(UserError, match="dreamvid did not write it"):
        sheet_path(tmp_path / "clip.mp4", tmp_path / "theirs.png", "_preview")
    with pytest.raises(UserError, match="must end in"):
        sheet_path(tmp_path / "clip.mp4", tmp_path / "sheet.txt", "_preview")


def test_a_scheduled_cell_is_dreamed_with_its_value_at_the_frame(vgg_hed):
    from dreamvid.preview.make import dream_cells

    common = {"model": "vgg16-hed", "layers": ["block4_conv3"], "steps": "2", "octaves": "1", "jitter": "4"}
    ramp, _ = plan_preview({**common, "step_size": "0:(0.01), 10:(0.05)"})
    fixed, _ = plan_preview({**common, "step_size": "0.03,0.05"})
    picture = natural_picture(40, 48)
    at_ten = dream_cells(picture, ramp, frame=10)[0][0]
    at_five = dream_cells(picture, ramp, frame=5)[0][0]
    three, five = dream_cells(picture, fixed)[0]
    assert np.array_equal(at_ten, five) and np.array_equal(at_five, three)


def test_dream_cells_builds_one_model_and_dreams_each_cell_differently(vgg_hed):
    from dreamvid.preview.make import dream_cells

    cells, _ = plan_preview({"model": "vgg16-hed", "layers": ["block3_conv3", "block4_conv3"],
                             "step_size": "0.02,0.04", "steps": "2", "octaves": "1", "jitter": "4"})
    picture = natural_picture(40, 48)
    tiles, timings = dream_cells(picture, cells)
    assert [tile.shape for tile in tiles] == [(40, 48, 3)] * 4 and tiles[0].dtype == np.uint8
    source = np.rint(picture * 255)
    for index, tile in enumerate(tiles):
        assert np.abs(tile - source).mean() > 1.0  # dreamed
        for other in tiles[index + 1:]:
            assert np.abs(tile.astype(int) - other).mean() > 0.5  # every cell its own dream
    assert set(timings) == {"model", "cells"}
    # A cell is what rendering the picture with that cell's settings gives (here at its own size).
    import dreamvid
    from dreamvid.imageops import from_float

    for cell, tile in zip(cells, tiles):  # equal to the bit on this machine; a level of slack for others
        options = {key: value for key, value in cell.settings.to_dict().items() if value is not None}
        rendered = from_float(dreamvid.dream(picture, **options), np.uint8)
        assert np.abs(rendered.astype(int) - tile).max() <= 1


def _write_picture(path: Path, height: int, width: int) -> None:
    Image.fromarray(np.rint(natural_picture(height, width) * 255).astype(np.uint8)).save(path)


def test_preview_of_a_video_end_to_end(tmp_path, cli):
    encode(tmp_path / "clip.mp4", translating_frames(6, (96, 64), 2, 1))
    run = cli(tmp_path, "preview", "clip.mp4", "--at", "2", "--layer", "block3_conv3", "--layer", "block4_conv3",
              "--step-size", "0.01,0.03", *TINY)
    assert run.status == 0, run.stderr
    sheet = Image.open(tmp_path / "clip_preview.png")
    assert sheet.size[0] == 2 * 64 + 3 * GAP  # 2 columns of 64x43 cells
    data = json.loads((tmp_path / "clip_preview.png.json").read_text())
    assert data["kind"] == "preview" and data["frame"] == 2 and data["cell_size"] == [64, 43]
    assert [cell["caption"] for cell in data["cells"]] == ["1: block3_conv3, step-size 0.01",
                                                           "2: block3_conv3, step-size 0.03",
                                                           "3: block4_conv3, step-size 0.01",
                                                           "4: block4_conv3, step-size 0.03"]
    commands = [line.strip() for line in run.stdout.splitlines() if line.strip().startswith("dreamvid ")]
    assert commands == [cell["command"] for cell in data["cells"]]
    assert commands[1] == ("dreamvid clip.mp4 --model vgg16-hed --layer block3_conv3 --octaves 1 --steps 1 "
                           "--step-size 0.03 --jitter 4 --max-side 64")
    assert not list(tmp_path.glob(".*partial*"))


def test_layer_sheet_of_channels_end_to_end(tmp_path, cli):
    run = cli(tmp_path, "layers", "--sheet", "--model", "vgg16-hed", "--layer", "block4_conv3", "--channels", "0:3",
              "--steps", "2", "--octaves", "1", "--max-side", "64", "-o", "channels.png", "-q")
    assert run.status == 0, run.stderr
    assert Image.open(tmp_path / "channels.png").size[0] == 3 * 64 + 4 * GAP  # one row of 3 cells
    data = json.loads((tmp_path / "channels.png.json").read_text())
    assert data["kind"] == "layer sheet" and data["input"] is None
    assert [cell["caption"] for cell in data["cells"]] == [f"{c + 1}: block4_conv3:{c}" for c in range(3)]
    assert "dreamvid INPUT --model vgg16-hed --layer block4_conv3:2 --octaves 1 --steps 2" in run.stdout


BAD_CALLS = {
    "not a number in a list": (["preview", "photo.png", "--steps", "5,x"], "'x' is not a whole number"),
    "out of bounds in a list": (["preview", "photo.png", "--step-size", "0.01,0"], "--step-size must be > 0"),
    "unknown layer": (["preview", "photo.png", "--layer", "mixed3", "--layer", "nope"], "unknown layer 'nope'"),
    "--at on a still": (["preview", "photo.png", "--at", "3"], "is a still"),
    "audio schedule on a still": (["preview", "photo.png", "--step-size", "audio:0.005..0.03"], "no soundtrack"),
    "bad schedule": (["preview", "photo.png", "--step-size", "0:(0.01), x:(2)"], "--step-size"),
    "missing input": (["preview", "missing.mp4"], "input not found"),
    "sheet over a foreign file": (["preview", "photo.png", "-o", "theirs.png"], "dreamvid did not write it"),
    "channels of no layer": (["layers", "--sheet", "--channels", "0:4"], "exactly one --layer"),
    "channels out of range": (["layers", "--sheet", "--layer", "block1_conv1", "--channels", "0:65"], "outside"),
    "sheet options without --sheet": (["layers", "--layer", "block1_conv1"], "needs --sheet"),
}


@pytest.mark.parametrize("case", list(BAD_CALLS))
def test_bad_preview_calls_fail_fast_with_one_line(case, tmp_path, cli):
    _write_picture(tmp_path / "photo.png", 40, 48)
    _write_picture(tmp_path / "theirs.png", 8, 8)
    args, words = BAD_CALLS[case]
    model = ["--model", "inception_v3"] if "mixed3" in args else ["--model", "vgg16-hed"]
    before = snapshot(tmp_path)
    run = cli(tmp_path, *args, *model)
    assert run.status == 2, run.stderr
    lines = run.stderr.splitlines()
    assert len(lines) == 1 and words in lines[0], run.stderr
    assert snapshot(tmp_path) == before
    assert run.loaded == []
