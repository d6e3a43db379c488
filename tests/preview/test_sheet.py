"""Drawing and writing a sheet: the grid's pixels, captions wrapped in their cells, the neutral picture of a
layer sheet, the sheet's name and owner."""
from __future__ import annotations

import numpy as np
import pytest
from PIL import ImageFont

from dreamvid.errors import UserError
from dreamvid.preview.sheet import BACKGROUND, GAP, cell_origin, compose_sheet, font_size, neutral_picture, sheet_path, wrap


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


def test_long_captions_wrap_inside_their_cell():
    font = ImageFont.load_default(size=12)
    lines = wrap("1: block4_conv3_with_a_very_long_name, step-size 0.01", font, 60)
    assert len(lines) > 2 and all(font.getlength(line) <= 60 for line in lines)
    assert "".join(lines).replace(" ", "") == "1:block4_conv3_with_a_very_long_name,step-size0.01"


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
