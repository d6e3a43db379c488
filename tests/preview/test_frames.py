"""The picture a sheet dreams: a frame by number or time, of a video, a sequence, a pattern, a folder or a
still."""
from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from dreamvid.errors import UserError
from dreamvid.preview.frames import frame_index, read_frame
from helpers import natural_picture


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
