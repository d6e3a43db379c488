"""The sheets, made: one model built, each cell dreamed with its own settings (a schedule at the frame)."""
from __future__ import annotations

import numpy as np

from dreamvid.preview.plan import plan_preview
from helpers import natural_picture


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
