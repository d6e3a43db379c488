import numpy as np
import pytest
from PIL import Image, ImageOps

from dreamvid.imageops import (apply_delta, cmyk_to_rgb, from_float, octave_shapes, processing_size, resize,
                               rgb_to_cmyk, to_float, upright)
from helpers import ORIENTATION, blocks


def test_octave_shapes_go_from_small_to_the_image_size():
    assert octave_shapes(100, 200, 3, 2.0, 10) == [(25, 50), (50, 100), (100, 200)]


def test_octave_shapes_single_octave_is_the_image():
    assert octave_shapes(37, 91, 1, 1.3, 32) == [(37, 91)]


def test_octave_shapes_are_scale_apart_and_increasing():
    shapes = octave_shapes(480, 640, 5, 1.4, 32)
    assert len(shapes) == 5 and shapes[-1] == (480, 640)
    for (h0, w0), (h1, w1) in zip(shapes, shapes[1:]):
        assert h1 > h0 and w1 > w0
        assert h1 / h0 == pytest.approx(1.4, abs=0.05) and w1 / w0 == pytest.approx(1.4, abs=0.05)


def test_octaves_smaller_than_the_network_are_dropped():
    # 100 / 2**2 = 25 and 100 / 2**3 = 12.5 are under 30
    assert octave_shapes(100, 100, 4, 2.0, 30) == [(50, 50), (100, 100)]


def test_image_smaller_than_the_network_is_upscaled_to_min_side():
    shapes = octave_shapes(20, 40, 3, 1.3, 75)
    assert shapes == [(75, 150)]
    assert min(shapes[0]) == 75


def test_processing_size():
    assert processing_size(1080, 1920, None) == (1080, 1920)
    assert processing_size(1080, 1920, 4000) == (1080, 1920)
    assert processing_size(1080, 1920, 960) == (540, 960)
    assert processing_size(1920, 1080, 960) == (960, 540)


@pytest.mark.parametrize("height, width, max_side", [(333, 517, 100), (1000, 7, 64), (64, 64, 63), (5, 3000, 32)])
def test_processing_size_keeps_the_aspect_and_caps_the_longer_side(height, width, max_side):
    small_h, small_w = processing_size(height, width, max_side)
    assert max(small_h, small_w) == max_side
    assert min(small_h, small_w) >= 1
    scale = max_side / max(height, width)
    for small, side in ((small_h, height), (small_w, width)):
        assert abs(small - side * scale) <= 0.5 or (small == 1 and side * scale < 1)


def test_resize_shapes_and_identity():
    image = np.random.default_rng(0).random((40, 60, 3)).astype(np.float32)
    assert resize(image, 40, 60) is image
    assert resize(image, 20, 30).shape == (20, 30, 3)
    assert resize(image, 80, 120).shape == (80, 120, 3)
    flat = np.full((40, 60, 3), 0.25, np.float32)
    assert np.allclose(resize(flat, 13, 17), 0.25) and np.allclose(resize(flat, 90, 91), 0.25)


def test_apply_delta_without_change_keeps_full_resolution_detail():
    full = np.random.default_rng(1).random((64, 64, 3)).astype(np.float32)
    small = resize(full, 32, 32)
    assert np.array_equal(apply_delta(full, small, small.copy()), full)


def test_apply_delta_adds_only_the_upscaled_change():
    full = np.random.default_rng(2).random((64, 96, 3)).astype(np.float32) * 0.5
    small = resize(full, 32, 48)
    dreamed = small.copy()
    dreamed[:, :24] += 0.2  # the left half brightened
    result = apply_delta(full, small, dreamed)
    change = result - full
    assert result.shape == full.shape
    assert np.allclose(change[:, :40], 0.2, atol=1e-5)
    assert np.allclose(change[:, 56:], 0.0, atol=1e-5)


def test_apply_delta_clips_to_unit_range():
    full = np.full((16, 16, 3), 0.9, np.float32)
    small = resize(full, 8, 8)
    assert apply_delta(full, small, small + 0.5).max() == 1.0
    assert apply_delta(full, small, small - 2.0).min() == 0.0


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16])
def test_to_float_from_float_round_trip_every_value(dtype):
    values = np.arange(np.iinfo(dtype).max + 1, dtype=dtype).reshape(-1, 1, 1)
    floats = to_float(values)
    assert floats.dtype == np.float32 and floats.min() == 0.0 and floats.max() == 1.0
    back = from_float(floats, dtype)
    assert back.dtype == dtype and np.array_equal(back, values)


def test_from_float_rounds_and_clips():
    values = np.array([-0.5, 0.0, 0.499 / 255, 0.501 / 255, 1.0, 1.7], np.float32)
    assert from_float(values, np.uint8).tolist() == [0, 0, 0, 1, 255, 255]
    assert from_float(values, np.float32).tolist() == pytest.approx([0, 0, 0.499 / 255, 0.501 / 255, 1, 1])


def test_to_float_leaves_floats_as_float32():
    values = np.array([0.25, 0.5], np.float64)
    assert to_float(values).dtype == np.float32 and to_float(values).tolist() == [0.25, 0.5]


@pytest.mark.parametrize("orientation", range(1, 9))
def test_upright_turns_as_pillow_exif_transpose(orientation):
    data = blocks(3, 5, 1)
    image = Image.fromarray(data)
    exif = image.getexif()
    exif[ORIENTATION] = orientation
    image.info["exif"] = exif.tobytes()
    expected = np.asarray(ImageOps.exif_transpose(image))
    assert np.array_equal(upright(data, orientation), expected)


def test_cmyk_conversions_are_inverse():
    rgb = np.random.default_rng(3).random((20, 3)).astype(np.float32)
    cmyk = rgb_to_cmyk(rgb)
    assert cmyk.min() >= 0 and cmyk.max() <= 1
    assert np.allclose(cmyk_to_rgb(cmyk), rgb, atol=1e-6)
    assert np.allclose(rgb_to_cmyk(np.zeros((1, 3), np.float32)), [[0, 0, 0, 1]])  # black is black ink
