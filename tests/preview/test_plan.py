"""Preview and layer-sheet plans: the cells and axes of the values given as lists (pure, no TensorFlow)."""
from __future__ import annotations

import pytest

from dreamvid.engine.catalog import CATALOG
from dreamvid.errors import UserError
from dreamvid.preview.captions import caption
from dreamvid.preview.plan import grid_shape, parse_values, plan_layer_sheet, plan_preview
from dreamvid.settings import LayerSpec, build_settings


VGG_LAYERS = ["block3_conv3", "block4_conv3", "block5_conv3"]


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


def test_one_axis_makes_a_row_of_up_to_four_then_wraps_near_square():
    assert grid_shape([], 1) == (1, 1)
    assert grid_shape([], 4) == (1, 4)
    assert grid_shape([], 6) == (2, 3)
    assert grid_shape([], 13) == (4, 4)


def test_single_values_are_not_axes_and_lists_parse_by_type():
    assert parse_values("steps", "5, 10") == (5, 10)
    assert parse_values("step_size", "0.01,0.02") == (0.01, 0.02)
    cells, axes = plan_preview({"model": "vgg16-hed", "layers": ["block4_conv3"], "steps": "5", "step_size": "0.02"})
    assert axes == [] and len(cells) == 1
    assert (cells[0].settings.steps, cells[0].settings.step_size) == (5, 0.02)
    assert caption(0, cells[0]) == "1: block4_conv3"


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
