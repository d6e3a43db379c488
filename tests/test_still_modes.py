"""Stills as they come from phones, cameras and editors: EXIF orientation, grey, palette, CMYK, 16-bit
and float pictures are read as seen and written back in their own mode; a still too large for the
memory is refused before any work."""
from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import cv2
import numpy as np
import pytest
from PIL import Image, ImageOps

from dreamvid import memory
from dreamvid.errors import UserError
from dreamvid.imageops import cmyk_to_rgb, luma, rgb_to_cmyk, upright
from dreamvid.jobs import plan_jobs
from dreamvid.settings import build_settings
from dreamvid.io.images import ImageInfo, inspect_image, read_image, write_image
from dreamvid.memory import check_memory
from helpers import FAST

ORIENTATION = 0x0112


def _blocks(height: int = 4, width: int = 6, scale: int = 8) -> np.ndarray:
    """An asymmetric uint8 RGB picture of flat blocks (each a different colour), so every turn and
    mirror gives other pixels, and JPEG keeps the blocks' colours."""
    rng = np.random.default_rng(7)
    cells = rng.integers(0, 256, (height, width, 3), dtype=np.uint8)
    return np.repeat(np.repeat(cells, scale, axis=0), scale, axis=1)


def _save_oriented(path, data: np.ndarray, orientation: int, mode: str | None = None) -> None:
    exif = Image.Exif()
    exif[ORIENTATION] = orientation
    image = Image.fromarray(data)
    image = image.convert(mode) if mode else image
    options = {".jpg": {"quality": 100, "subsampling": 0}, ".webp": {"lossless": True}}.get(path.suffix, {})
    image.save(path, exif=exif, **options)


# What a viewer shows for each orientation, written out independently of dreamvid's table.
SEEN = {3: lambda a: np.rot90(a, 2), 6: lambda a: np.rot90(a, -1), 8: lambda a: np.rot90(a, 1),
        2: lambda a: np.fliplr(a), 5: lambda a: np.transpose(a, (1, 0, 2))}


@pytest.mark.parametrize("orientation", range(1, 9))
def test_upright_turns_as_pillow_exif_transpose(orientation):
    data = _blocks(3, 5, 1)
    image = Image.fromarray(data)
    exif = image.getexif()
    exif[ORIENTATION] = orientation
    image.info["exif"] = exif.tobytes()
    expected = np.asarray(ImageOps.exif_transpose(image))
    assert np.array_equal(upright(data, orientation), expected)


@pytest.mark.parametrize("suffix", [".jpg", ".png", ".webp", ".tif"])
@pytest.mark.parametrize("orientation", [3, 6, 8, 2, 5])
def test_phone_photo_is_read_as_seen(tmp_path, suffix, orientation):
    data = _blocks()
    path = tmp_path / f"phone{suffix}"
    _save_oriented(path, data, orientation)
    picture = read_image(path)
    expected = SEEN[orientation](data) / 255.0
    assert picture.rgb.shape == expected.shape
    tolerance = 6 / 255 if suffix == ".jpg" else 1e-6
    assert np.abs(picture.rgb - expected).max() <= tolerance
    info = inspect_image(path)
    assert (info.height, info.width) == expected.shape[:2]  # the displayed size, from the header only


def test_grey_phone_photo_is_read_as_seen(tmp_path):
    data = _blocks()[..., 0]
    _save_oriented(tmp_path / "grey.jpg", data, 6)
    picture = read_image(tmp_path / "grey.jpg")
    assert picture.mode == "L"
    assert np.abs(picture.rgb[..., 1] - np.rot90(data, -1) / 255.0).max() <= 6 / 255


def test_written_still_carries_no_orientation(tmp_path):
    _save_oriented(tmp_path / "phone.jpg", _blocks(), 6)
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
    colours = _blocks(2, 3, 2)
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
    Image.fromarray(_blocks()).convert("CMYK").save(tmp_path / f"print{suffix}", quality=100)
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


def test_cmyk_conversions_are_inverse():
    rgb = np.random.default_rng(3).random((20, 3)).astype(np.float32)
    cmyk = rgb_to_cmyk(rgb)
    assert cmyk.min() >= 0 and cmyk.max() <= 1
    assert np.allclose(cmyk_to_rgb(cmyk), rgb, atol=1e-6)
    assert np.allclose(rgb_to_cmyk(np.zeros((1, 3), np.float32)), [[0, 0, 0, 1]])  # black is black ink


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


class Brighten:
    """Stands in for the engine: 'dreams' by adding 0.1 (clipped to [0, 1], as the engine's output is)."""

    features = SimpleNamespace(precision="float32")

    def auto_tile(self, batch):
        return 512

    def dream(self, images, params):
        assert images.min() >= 0 and images.max() <= 1  # the engine sees the clipped picture
        return np.clip(images + 0.1, 0.0, 1.0)


def _run_still(source, output):
    from dreamvid.job import Job
    from dreamvid.progress import Reporter
    from dreamvid.stills import run_stills

    from dreamvid.engine.catalog import resolved_parameters

    settings = build_settings({"model": "vgg16-hed", "octaves": 1, "steps": 1})
    job = Job("image", source, output, (source,), params=resolved_parameters(settings))
    run_stills(job, Brighten(), settings, Reporter(), 1)


def test_float_still_keeps_values_outside_the_unit_range(tmp_path):
    values = np.array([[-1.0, 0.25, 0.95, 3.0]] * 4, np.float32)
    Image.fromarray(values, "F").save(tmp_path / "hdr.tif")
    _run_still(tmp_path / "hdr.tif", tmp_path / "out.tif")
    with Image.open(tmp_path / "out.tif") as written:
        assert written.mode == "F"
        result = np.asarray(written)
    # the change dreamed on the clipped values, added to the original ones
    assert np.allclose(result[0], [-0.9, 0.35, 1.0, 3.0], atol=1e-6)


def test_missing_values_of_a_float_still_stay_missing_and_do_not_spread(tmp_path):
    values = np.array([[np.nan, 0.25, 0.5, 2.0]] * 4, np.float32)
    Image.fromarray(values, "F").save(tmp_path / "gaps.tif")
    _run_still(tmp_path / "gaps.tif", tmp_path / "out.tif")
    with Image.open(tmp_path / "out.tif") as written:
        result = np.asarray(written)
    assert np.isnan(result[:, 0]).all() and np.allclose(result[:, 1:], [0.35, 0.6, 2.0], atol=1e-6)


def test_a_tiff_is_dreamed_into_a_tiff_by_default(tmp_path):
    """PNG cannot hold a float or CMYK picture: a TIFF's default output stays TIFF."""
    Image.fromarray(np.zeros((8, 8), np.float32), "F").save(tmp_path / "scan.tiff")
    cv2.imwrite(str(tmp_path / "photo.jpg"), np.zeros((8, 8, 3), np.uint8))
    jobs = plan_jobs([tmp_path / "scan.tiff", tmp_path / "photo.jpg"], build_settings({"model": "vgg16-hed"}))
    assert [job.output.name for job in jobs] == ["scan_dream.tiff", "photo_dream.png"]


@pytest.mark.parametrize("mode, suffix", [("L", ".png"), ("CMYK", ".jpg"), ("RGB", ".webp")])
def test_dreamed_still_keeps_its_mode_and_displayed_size(tmp_path, mode, suffix):
    _save_oriented(tmp_path / f"in{suffix}", _blocks(), 6, mode)
    _run_still(tmp_path / f"in{suffix}", tmp_path / f"out{suffix}")
    with Image.open(tmp_path / f"out{suffix}") as written:
        assert written.mode == mode and written.size == (32, 48)
        assert written.getexif().get(ORIENTATION, 1) == 1


def test_phone_photo_is_dreamed_upright(tmp_path, vgg_hed):
    """The real engine: a photo held upright (stored sideways, orientation 6) comes out upright."""
    import dreamvid

    source = _blocks(8, 12, 8)  # 96 x 64 stored
    _save_oriented(tmp_path / "phone.jpg", source, 6)
    results = dreamvid.render(tmp_path / "phone.jpg", layers=["block4_conv3"], precision="float32", **FAST)
    assert results[0].status == "done"
    with Image.open(tmp_path / "phone_dream.png") as written:
        assert written.size == (64, 96) and written.getexif().get(ORIENTATION, 1) == 1
        dreamed = np.asarray(written.convert("RGB")).astype(float)
    turned = np.rot90(source, -1).astype(float)
    assert np.abs(dreamed - turned).mean() < np.abs(dreamed - np.rot90(source, 1)).mean() / 2


# Memory: a still too large for the memory is refused while planning, with a --max-side that fits.

def test_a_huge_still_is_refused_with_a_max_side_that_fits():
    info = ImageInfo(Path("huge.jpg"), 8000, 6000)
    available = 8 << 30
    with pytest.raises(UserError) as refused:
        check_memory(info, None, available=available)
    message = str(refused.value)
    assert "8000x6000" in message and "8.0 GiB is available" in message and "--max-side" in message
    side = int(message.split("--max-side ")[1].split()[0])
    check_memory(info, side, available=available)  # the suggestion fits
    assert 1000 < side < 8000
    check_memory(info, None, available=64 << 30)  # a large machine dreams it whole


def test_a_still_that_no_max_side_can_fit_says_so():
    with pytest.raises(UserError, match="even with --max-side"):
        check_memory(ImageInfo(Path("huge.jpg"), 8000, 6000), None, available=3 << 30)


def test_planning_refuses_a_still_and_a_folder_too_large_for_the_memory(tmp_path, monkeypatch):
    """Before TensorFlow loads, from the headers; the machine's memory is pretended small."""
    cv2.imwrite(str(tmp_path / "big.png"), np.zeros((300, 400, 3), np.uint8))
    folder = tmp_path / "shots"
    folder.mkdir()
    cv2.imwrite(str(folder / "a.png"), np.zeros((30, 40, 3), np.uint8))
    cv2.imwrite(str(folder / "b.png"), np.zeros((300, 400, 3), np.uint8))
    need = memory.still_bytes(400, 300, None)
    monkeypatch.setattr(memory, "available_memory", lambda: (need - 8 * 2**20) * 3 // 2)
    for source in (tmp_path / "big.png", folder):
        with pytest.raises(UserError, match=r"needs about .* GiB of memory .* try --max-side \d+"):
            plan_jobs([source], build_settings({"model": "vgg16-hed"}))
        plan_jobs([source], build_settings({"model": "vgg16-hed", "max_side": 200}))  # fits
    monkeypatch.setattr(memory, "available_memory", lambda: need * 3 // 2 + 2**20)
    plan_jobs([tmp_path / "big.png"], build_settings({"model": "vgg16-hed"}))


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
