"""Stills read and written as they are: sizes from the header, bad files refused, 16-bit, alpha, grey,
palette, CMYK and float pictures read as seen (EXIF orientation) and written back in their own mode."""
from __future__ import annotations

import cv2
import numpy as np
import pytest
from PIL import Image

from clips import translating_frames
from dreamvid.errors import UserError
from dreamvid.imageops import luma
from dreamvid.io.images import Picture, inspect_image, read_image, write_image
from helpers import ORIENTATION, SEEN, blocks, save_oriented


def test_inspect_image_reads_the_size(tmp_path):
    path = tmp_path / "wide.png"
    cv2.imwrite(str(path), np.zeros((12, 34, 3), np.uint8))
    info = inspect_image(path)
    assert (info.width, info.height) == (34, 12)


@pytest.mark.parametrize("content, message", [
    (None, "input not found"), (b"", "empty file"), (b"hello, I am text\n", "not a readable image"),
    (b"\x89PNG\r\n\x1a\n" + b"\0" * 20, "is a PNG file but cannot be decoded")])
def test_inspect_image_rejects_bad_files(tmp_path, content, message):
    path = tmp_path / "photo.png"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(UserError, match=message):
        inspect_image(path)


def test_a_still_beyond_pillows_safety_limit_is_one_clear_error(tmp_path):
    """A header claiming 200 megapixels: Pillow refuses to open it; that is a UserError, not a traceback."""
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", 20000, 10000, 8, 2, 0, 0, 0)
    (tmp_path / "panorama.png").write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", b"")
                                            + chunk(b"IEND", b""))
    with pytest.raises(UserError, match="too large for Pillow"):
        inspect_image(tmp_path / "panorama.png")


def test_read_image_of_text_is_a_decode_error(tmp_path):
    """Mid-render, a frame that fails to decode stops its job (exit 1), it is not a validation error."""
    from dreamvid.io.images import ImageDecodeError

    path = tmp_path / "photo.png"
    path.write_text("not an image")
    with pytest.raises(ImageDecodeError, match="cannot decode"):
        read_image(path)


def _gradient(height, width, top):
    ramp = np.linspace(0, top, height * width * 3).reshape(height, width, 3)
    return np.rint(ramp).astype(np.uint16 if top > 255 else np.uint8)


def test_sixteen_bit_png_round_trips_exactly(tmp_path):
    data = _gradient(17, 23, 65535)  # values that are not multiples of 257: real 16-bit content
    cv2.imwrite(str(tmp_path / "in.png"), data)
    picture = read_image(tmp_path / "in.png")
    assert picture.dtype == np.uint16 and picture.alpha is None and picture.rgb.shape == (17, 23, 3)
    assert np.allclose(picture.rgb, data[..., ::-1] / 65535.0)  # BGR on disk, RGB in memory
    write_image(tmp_path / "out.png", picture)
    assert np.array_equal(cv2.imread(str(tmp_path / "out.png"), cv2.IMREAD_UNCHANGED), data)


def test_rgba_keeps_its_alpha(tmp_path):
    data = np.dstack([_gradient(10, 12, 255), np.tile(np.arange(12, dtype=np.uint8) * 20, (10, 1))])
    cv2.imwrite(str(tmp_path / "in.png"), data)
    picture = read_image(tmp_path / "in.png")
    assert picture.rgb.shape == (10, 12, 3) and picture.alpha.shape == (10, 12)
    assert np.allclose(picture.alpha, data[..., 3] / 255.0)
    write_image(tmp_path / "out.png", picture)
    assert np.array_equal(cv2.imread(str(tmp_path / "out.png"), cv2.IMREAD_UNCHANGED), data)


def test_grayscale_becomes_rgb(tmp_path):
    gray = np.tile(np.arange(0, 240, 20, dtype=np.uint8), (6, 1))
    cv2.imwrite(str(tmp_path / "gray.png"), gray)
    picture = read_image(tmp_path / "gray.png")
    assert picture.rgb.shape == (6, 12, 3) and picture.alpha is None
    for channel in range(3):
        assert np.allclose(picture.rgb[..., channel], gray / 255.0)


def test_gray_with_alpha_keeps_the_alpha(tmp_path):
    from PIL import Image

    data = np.dstack([np.full((5, 7), 100, np.uint8), np.full((5, 7), 30, np.uint8)])
    Image.fromarray(data, "LA").save(tmp_path / "la.png")
    picture = read_image(tmp_path / "la.png")
    assert picture.rgb.shape == (5, 7, 3) and np.allclose(picture.rgb, 100 / 255)
    assert picture.alpha is not None and np.allclose(picture.alpha, 30 / 255)


def test_jpeg_output_drops_alpha_and_sixteen_bits(tmp_path):
    picture = Picture(np.full((8, 8, 3), 0.5, np.float32), np.ones((8, 8), np.float32), np.dtype(np.uint16))
    write_image(tmp_path / "out.jpg", picture)
    data = cv2.imread(str(tmp_path / "out.jpg"), cv2.IMREAD_UNCHANGED)
    assert data.dtype == np.uint8 and data.shape == (8, 8, 3)
    assert abs(int(data.mean()) - 128) <= 2


def test_write_is_atomic_and_leaves_no_temporary(tmp_path):
    picture = Picture(np.random.default_rng(0).random((9, 9, 3)).astype(np.float32), None, np.dtype(np.uint8))
    write_image(tmp_path / "out.png", picture)
    assert [p.name for p in tmp_path.iterdir()] == ["out.png"]


def test_unwritable_output_is_a_user_error(tmp_path):
    picture = Picture(np.zeros((4, 4, 3), np.float32), None, np.dtype(np.uint8))
    (tmp_path / "file").write_text("a file, not a folder")
    with pytest.raises(UserError, match="cannot write"):
        write_image(tmp_path / "file" / "out.png", picture)
    assert [p.name for p in tmp_path.iterdir()] == ["file"]


def test_a_picture_only_pillow_reads_is_dreamed(tmp_path):
    """A TGA opened (Pillow reads its header) but OpenCV could not decode it: "cannot decode image
    (truncated or damaged?)" for a sound file."""
    from dreamvid.io.images import read_image

    pixels = translating_frames(1, (20, 12), 0, 0)[0]
    Image.fromarray(pixels).save(tmp_path / "frame.tga")
    picture = read_image(tmp_path / "frame.tga")
    assert np.array_equal(np.rint(picture.rgb * 255).astype(np.uint8), pixels)


# ---- as they come from phones, cameras and editors -----------------------------------------------

@pytest.mark.parametrize("suffix", [".jpg", ".png", ".webp", ".tif"])
@pytest.mark.parametrize("orientation", [3, 6, 8, 2, 5])
def test_phone_photo_is_read_as_seen(tmp_path, suffix, orientation):
    data = blocks()
    path = tmp_path / f"phone{suffix}"
    save_oriented(path, data, orientation)
    picture = read_image(path)
    expected = SEEN[orientation](data) / 255.0
    assert picture.rgb.shape == expected.shape
    tolerance = 6 / 255 if suffix == ".jpg" else 1e-6
    assert np.abs(picture.rgb - expected).max() <= tolerance
    info = inspect_image(path)
    assert (info.height, info.width) == expected.shape[:2]  # the displayed size, from the header only


def test_grey_phone_photo_is_read_as_seen(tmp_path):
    data = blocks()[..., 0]
    save_oriented(tmp_path / "grey.jpg", data, 6)
    picture = read_image(tmp_path / "grey.jpg")
    assert picture.mode == "L"
    assert np.abs(picture.rgb[..., 1] - np.rot90(data, -1) / 255.0).max() <= 6 / 255


def test_written_still_carries_no_orientation(tmp_path):
    save_oriented(tmp_path / "phone.jpg", blocks(), 6)
    picture = read_image(tmp_path / "phone.jpg")
    for name in ("out.jpg", "out.png", "out.tif"):
        write_image(tmp_path / name, picture)
        with Image.open(tmp_path / name) as image:
            assert image.getexif().get(ORIENTATION, 1) == 1
            assert image.size == (32, 48)  # width x height as seen


def _dim(picture):
    """What a dream might do: darken and tint, so that grey and colour outputs differ."""
    picture.rgb = picture.rgb * np.array([0.5, 0.8, 0.6], np.float32) + 0.1
    return picture


def test_grey_stays_grey_and_is_the_luma_of_the_dream(tmp_path):
    grey = np.tile(np.arange(0, 240, 20, dtype=np.uint8), (6, 1))
    Image.fromarray(grey, "L").save(tmp_path / "grey.png")
    picture = _dim(read_image(tmp_path / "grey.png"))
    write_image(tmp_path / "out.png", picture)
    with Image.open(tmp_path / "out.png") as image:
        assert image.mode == "L"
        assert np.abs(np.asarray(image) - luma(picture.rgb) * 255).max() <= 0.5


def test_grey_with_alpha_stays_grey_with_alpha(tmp_path):
    data = np.dstack([np.full((5, 7), 100, np.uint8), np.tile(np.arange(7, dtype=np.uint8) * 30, (5, 1))])
    Image.fromarray(data, "LA").save(tmp_path / "la.png")
    write_image(tmp_path / "out.png", read_image(tmp_path / "la.png"))
    with Image.open(tmp_path / "out.png") as image:
        assert image.mode == "LA" and np.array_equal(np.asarray(image), data)


def test_sixteen_bit_grey_stays_sixteen_bit_grey(tmp_path):
    data = np.tile(np.arange(0, 60000, 5000, dtype=np.uint16) + 7, (4, 1))  # not multiples of 257
    Image.fromarray(data).save(tmp_path / "deep.png")  # Pillow: mode I;16
    picture = read_image(tmp_path / "deep.png")
    assert picture.dtype == np.uint16 and picture.mode == "L"
    write_image(tmp_path / "out.png", picture)
    written = cv2.imread(str(tmp_path / "out.png"), cv2.IMREAD_UNCHANGED)
    assert written.dtype == np.uint16 and written.ndim == 2 and np.array_equal(written, data)


def test_sixteen_bit_rgb_tiff_keeps_its_sixteen_bits(tmp_path):
    data = np.rint(np.linspace(3, 65530, 5 * 6 * 3)).astype(np.uint16).reshape(5, 6, 3)
    cv2.imwrite(str(tmp_path / "deep.tif"), data)
    picture = read_image(tmp_path / "deep.tif")
    assert picture.dtype == np.uint16
    write_image(tmp_path / "out.tif", picture)
    assert np.array_equal(cv2.imread(str(tmp_path / "out.tif"), cv2.IMREAD_UNCHANGED), data)


@pytest.mark.parametrize("transparent", [False, True])
def test_palette_becomes_rgb_and_keeps_transparency(tmp_path, transparent):
    colours = blocks(2, 3, 2)
    image = Image.fromarray(colours).convert("P")
    options = {"transparency": int(np.asarray(image)[0, 0])} if transparent else {}
    image.save(tmp_path / "palette.png", **options)
    picture = read_image(tmp_path / "palette.png")
    assert np.allclose(picture.rgb, np.asarray(image.convert("RGB")) / 255.0)
    assert (picture.alpha is not None) == transparent
    write_image(tmp_path / "out.png", picture)
    with Image.open(tmp_path / "out.png") as written:
        assert written.mode == ("RGBA" if transparent else "RGB")
        if transparent:
            assert np.asarray(written)[0, 0, 3] == 0 and np.asarray(written)[-1, -1, 3] in (0, 255)


@pytest.mark.parametrize("suffix", [".jpg", ".tif"])
def test_cmyk_stays_cmyk(tmp_path, suffix):
    Image.fromarray(blocks()).convert("CMYK").save(tmp_path / f"print{suffix}", quality=100)
    picture = read_image(tmp_path / f"print{suffix}")
    with Image.open(tmp_path / f"print{suffix}") as source:
        assert np.abs(picture.rgb - np.asarray(source.convert("RGB")) / 255.0).max() <= 1 / 255
    assert picture.mode == "CMYK"
    picture = _dim(picture)
    write_image(tmp_path / f"out{suffix}", picture)
    with Image.open(tmp_path / f"out{suffix}") as written:
        assert written.mode == "CMYK" and written.size == (48, 32)
        seen = np.asarray(written.convert("RGB")) / 255.0
    tolerance = 8 / 255 if suffix == ".jpg" else 1 / 255
    assert np.abs(seen - picture.rgb).max() <= tolerance


@pytest.mark.parametrize("channels", [1, 3])
def test_float_tiff_keeps_its_range_and_type(tmp_path, channels):
    values = np.linspace(-0.5, 4.0, 6 * 8 * channels, dtype=np.float32).reshape((6, 8, channels)[:2 + (channels > 1)])
    if channels == 1:
        Image.fromarray(values, "F").save(tmp_path / "hdr.tif")
    else:
        cv2.imwrite(str(tmp_path / "hdr.tif"), values[..., ::-1])
    picture = read_image(tmp_path / "hdr.tif")
    assert picture.dtype == np.float32 and picture.mode == ("L" if channels == 1 else "RGB")
    expected = values if channels == 3 else values[..., None]
    assert np.array_equal(picture.rgb, np.broadcast_to(expected, picture.rgb.shape))  # no contrast stretch
    write_image(tmp_path / "out.tif", picture)
    written = cv2.imread(str(tmp_path / "out.tif"), cv2.IMREAD_UNCHANGED)
    assert written.dtype == np.float32 and written.shape == values.shape
    assert np.allclose(written if channels == 1 else written[..., ::-1], values, atol=1e-6)
