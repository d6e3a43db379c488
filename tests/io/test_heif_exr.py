"""HEIC/HEIF and OpenEXR stills, read and written by their own readers (io/heif.py, io/exr.py), and the
format of a file no reader opens (io/formats.py). Inputs are made here: HEIC by pillow-heif itself, EXR
by OpenEXR."""
from __future__ import annotations

import io
import struct
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image, ImageCms

from types import SimpleNamespace

from dreamvid.io import exr, formats, heif, images, picture

F = SimpleNamespace(CodecMissing=formats.CodecMissing, ImageDecodeError=formats.ImageDecodeError,
                    ImageInfo=picture.ImageInfo, Picture=picture.Picture, in_display_window=exr.in_display_window,
                    inspect_exr=exr.inspect_exr, inspect_heif=heif.inspect_heif, kind_of=formats.reader_of,
                    png_with_icc=images.png_with_icc, read_exr=exr.read_exr, read_heif=heif.read_heif,
                    sniff_format=formats.sniff_format, to_srgb=heif.to_srgb, unreadable_message=formats.unreadable_message,
                    write_exr=exr.write_exr, write_heif=heif.write_heif)

pillow_heif = pytest.importorskip("pillow_heif")
OpenEXR = pytest.importorskip("OpenEXR")


# --------------------------------------------------------------------------------------------- helpers

def pattern(height: int, width: int) -> np.ndarray:
    """Smooth colours with a bright corner block (top-left), so turns and mirrors show."""
    y, x = np.mgrid[0:height, 0:width]
    rgb = np.dstack([x / (width - 1), y / (height - 1), np.full((height, width), 0.4)]).astype(np.float32)
    rgb[: height // 4, : width // 4] = [1.0, 1.0, 1.0]
    return rgb


def heic(path: Path, samples: np.ndarray, mode: str, orientation: int | None = None, **save) -> Path:
    """Write a HEIC with pillow-heif; an EXIF orientation makes it store the pixels as given and add
    the irot/imir that turns them (as iPhones do: sideways pixels, irot, EXIF 6)."""
    height, width = samples.shape[:2]
    file = pillow_heif.from_bytes(mode, (width, height), np.ascontiguousarray(samples).tobytes())
    if orientation is not None:
        exif = Image.Exif()
        exif[0x0112] = orientation
        file.info["exif"] = exif.tobytes()
    file.save(path, quality=save.pop("quality", 98), **save)
    return path


def to8(rgb: np.ndarray) -> np.ndarray:
    return np.clip(np.rint(rgb * 255), 0, 255).astype(np.uint8)


def icc_display_p3() -> bytes:
    """A Display-P3-like ICC v2 matrix/TRC profile, built by hand (ImageCms.createProfile makes only
    sRGB, LAB and XYZ): Apple's D50-adapted P3 colorants and the sRGB tone curve (parametric, type 3)."""
    def s15(v: float) -> bytes:
        return struct.pack(">i", round(v * 65536))

    def xyz(x, y, z) -> bytes:
        return b"XYZ \0\0\0\0" + s15(x) + s15(y) + s15(z)

    trc = b"para\0\0\0\0" + struct.pack(">H", 3) + b"\0\0" + b"".join(
        s15(v) for v in (2.4, 1 / 1.055, 0.055 / 1.055, 1 / 12.92, 0.04045))
    text = b"Display P3 (test)"
    desc = (b"desc\0\0\0\0" + struct.pack(">I", len(text) + 1) + text + b"\0"
            + b"\0" * 8 + b"\0\0" + b"\0" + b"\0" * 67)
    tags = [(b"desc", desc), (b"wtpt", xyz(0.9642, 1.0, 0.8249)),
            (b"rXYZ", xyz(0.515121, 0.241196, -0.001053)), (b"gXYZ", xyz(0.291977, 0.692245, 0.041885)),
            (b"bXYZ", xyz(0.157104, 0.066574, 0.784073)),
            (b"rTRC", trc), (b"gTRC", trc), (b"bTRC", trc), (b"cprt", b"text\0\0\0\0no copyright\0")]
    offset = 128 + 4 + 12 * len(tags)
    table, data = b"", b""
    for signature, body in tags:
        body += b"\0" * (-len(body) % 4)
        table += signature + struct.pack(">II", offset + len(data), len(body))
        data += body
    size = offset + len(data)
    header = (struct.pack(">I", size) + b"\0\0\0\0" + struct.pack(">I", 0x02100000) + b"mntrRGB XYZ "
              + b"\0" * 12 + b"acsp" + b"\0" * 24 + s15(0.9642) + s15(1.0) + s15(0.8249))
    header += b"\0" * (128 - len(header))
    return header + struct.pack(">I", len(tags)) + table + data


def srgb_decode(v):
    return np.where(v <= 0.04045, v / 12.92, ((v + 0.055) / 1.055) ** 2.4)


def srgb_encode(v):
    v = np.clip(v, 0, 1)
    return np.where(v <= 0.0031308, v * 12.92, 1.055 * v ** (1 / 2.4) - 0.055)


P3_TO_SRGB = np.array([[1.2249, -0.2247, 0.0], [-0.0420, 1.0419, 0.0], [-0.0197, -0.0786, 1.0979]])


# ------------------------------------------------------------------------------------------------ HEIF

def test_heic_8bit_round_trip(tmp_path):
    rgb = pattern(48, 80)
    source = heic(tmp_path / "a.heic", to8(rgb), "RGB")
    picture = F.read_heif(source)
    assert picture.dtype == np.uint8 and picture.mode == "RGB" and picture.alpha is None
    assert picture.rgb.shape == (48, 80, 3) and picture.rgb.dtype == np.float32
    assert np.abs(picture.rgb - rgb).mean() < 0.01
    F.write_heif(tmp_path / "b.heic", picture)
    again = F.read_heif(tmp_path / "b.heic")
    assert np.abs(again.rgb - picture.rgb).mean() < 0.01
    assert pillow_heif.open_heif(tmp_path / "b.heic").info["bit_depth"] == 8


@pytest.mark.parametrize("orientation", range(1, 9))
def test_heic_orientation_applied_once(tmp_path, orientation):
    stored = pattern(24, 40)
    source = heic(tmp_path / "o.heic", to8(stored), "RGB", orientation)
    # what a viewer shows: Pillow's own exif_transpose of the stored pixels
    exif = Image.Exif()
    exif[0x0112] = orientation
    shown = Image.fromarray(to8(stored))
    shown.info["exif"] = exif.tobytes()
    from PIL import ImageOps
    expected = np.asarray(ImageOps.exif_transpose(shown)).astype(np.float32) / 255
    picture = F.read_heif(source)
    assert picture.rgb.shape == expected.shape
    assert np.abs(picture.rgb - expected).mean() < 0.03  # lossy 4:2:0 at the block's edges
    if orientation != 1 and stored.shape == expected.shape:  # a second turn would give back `stored`
        assert np.abs(picture.rgb - stored).mean() > 0.1
    info = F.inspect_heif(source)
    assert (info.height, info.width) == expected.shape[:2]
    # the trap: open_heif leaves EXIF orientation in info although the pixels are already turned
    raw = pillow_heif.open_heif(source).info.get("exif")
    tags = Image.Exif()
    tags.load(raw)
    assert tags.get(0x0112, 1) == orientation
    # written upright: no irot/imir, no EXIF
    F.write_heif(tmp_path / "w.heic", picture)
    written = pillow_heif.open_heif(tmp_path / "w.heic")
    assert not [t for t in written[0]._c_image.transformations if t[0] in ("irot", "imir")]
    assert not written.info.get("exif")
    assert np.abs(F.read_heif(tmp_path / "w.heic").rgb - expected).mean() < 0.04


def test_heic_alpha(tmp_path):
    rgb = pattern(32, 48)
    alpha = np.tile(np.linspace(0, 1, 48, dtype=np.float32), (32, 1))
    source = heic(tmp_path / "a.heic", to8(np.dstack([rgb, alpha])), "RGBA")
    picture = F.read_heif(source)
    assert picture.alpha is not None and picture.alpha.shape == (32, 48)
    assert np.abs(picture.alpha - alpha).max() < 0.03
    F.write_heif(tmp_path / "b.heic", picture)
    assert pillow_heif.open_heif(tmp_path / "b.heic").mode == "RGBA"
    assert np.abs(F.read_heif(tmp_path / "b.heic").alpha - alpha).max() < 0.04


@pytest.mark.parametrize("bits", [10, 12])
def test_heic_high_bit_depth(tmp_path, bits):
    top = 2**bits - 1
    rgb = pattern(32, 64)
    samples = np.rint(rgb * top).astype("<u2")
    source = heic(tmp_path / "h.heic", samples, f"RGB;{bits}", quality=-1, chroma="444")
    assert pillow_heif.open_heif(source).info["bit_depth"] == bits
    picture = F.read_heif(source)
    assert picture.dtype == np.uint16 and picture.meta["bit_depth"] == bits
    assert picture.rgb.max() == 1.0  # scaled by 2**bits - 1 (hdr_to_16bit would give 65472 / 65535)
    assert np.abs(picture.rgb - rgb).max() < 4 / top
    # finer than 8 bits: the 10/12-bit steps survive
    levels = np.unique(np.rint(picture.rgb[..., 0] * top))
    assert len(levels) > 64
    F.write_heif(tmp_path / "w.heic", picture)
    written = pillow_heif.open_heif(tmp_path / "w.heic", convert_hdr_to_8bit=False)
    assert written.info["bit_depth"] == bits
    assert np.abs(F.read_heif(tmp_path / "w.heic").rgb - picture.rgb).mean() < 0.015  # lossy q95 4:2:0


def test_heic_10bit_rgba(tmp_path):
    samples = np.rint(np.dstack([pattern(16, 32), np.full((16, 32), 0.5)]) * 1023).astype("<u2")
    picture = F.read_heif(heic(tmp_path / "h.heic", samples, "RGBA;10", quality=-1, chroma="444"))
    assert picture.dtype == np.uint16 and abs(float(picture.alpha.mean()) - 0.5) < 0.01


def test_heic_grey(tmp_path):
    grey = np.tile(np.linspace(0, 255, 40).astype(np.uint8), (20, 1))
    picture = F.read_heif(heic(tmp_path / "g.heic", grey, "L"))
    assert picture.mode == "L" and picture.rgb.shape == (20, 40, 3)
    F.write_heif(tmp_path / "w.heic", picture)
    assert pillow_heif.open_heif(tmp_path / "w.heic").mode == "L"


def test_heic_icc_kept_and_written_back(tmp_path):
    icc = icc_display_p3()
    ImageCms.ImageCmsProfile(io.BytesIO(icc))  # LittleCMS takes it
    source = heic(tmp_path / "p3.heic", to8(pattern(16, 16)), "RGB", icc_profile=icc)
    picture = F.read_heif(source)
    assert picture.meta["icc_profile"] == icc and "nclx_profile" not in picture.meta
    F.write_heif(tmp_path / "w.heic", picture)
    assert pillow_heif.open_heif(tmp_path / "w.heic").info["icc_profile"] == icc


def test_heic_icc_to_srgb(tmp_path):
    icc = icc_display_p3()
    p3 = np.zeros((8, 8, 3), np.uint8)
    p3[:] = [204, 77, 77]  # a P3 red inside sRGB's gamut
    p3[:4] = [128, 128, 128]
    source = heic(tmp_path / "p3.heic", p3, "RGB", icc_profile=icc, quality=-1, chroma="444")
    kept = F.read_heif(source)
    converted = F.read_heif(source, colour="srgb")
    assert "icc_profile" not in converted.meta
    expected = srgb_encode(srgb_decode(kept.rgb[6, 6].astype(np.float64)) @ P3_TO_SRGB.T)
    assert np.abs(converted.rgb[6, 6] - expected).max() < 3 / 255
    assert converted.rgb[6, 6, 0] > kept.rgb[6, 6, 0] + 0.03  # the same colour needs more sRGB red
    assert np.abs(converted.rgb[1, 1] - kept.rgb[1, 1]).max() < 2 / 255  # grey stays grey
    with pytest.raises(ValueError):
        F.to_srgb(F.Picture(kept.rgb, None, np.dtype(np.uint16), "RGB", {"icc_profile": icc}))


def test_png_with_icc_8_and_16_bit(tmp_path):
    icc = icc_display_p3()
    for dtype in (np.uint8, np.uint16):
        samples = (pattern(8, 12) * np.iinfo(dtype).max).astype(dtype)
        ok, encoded = cv2.imencode(".png", samples)
        data = F.png_with_icc(encoded.tobytes(), icc)
        path = tmp_path / f"p{dtype.__name__}.png"
        path.write_bytes(data)
        with Image.open(path) as image:
            image.load()  # CRCs checked
            assert image.info["icc_profile"] == icc
        assert np.array_equal(cv2.imread(str(path), cv2.IMREAD_UNCHANGED), samples)


def test_heic_inspect_reads_no_pixels(tmp_path):
    source = heic(tmp_path / "a.heic", to8(pattern(40, 72)), "RGB", 6)
    data = bytearray(source.read_bytes())
    mdat = data.index(b"mdat") + 4
    data[mdat + 8:] = bytes(len(data) - mdat - 8)  # HEVC payload zeroed: decoding must fail
    broken = tmp_path / "broken.heic"
    broken.write_bytes(bytes(data))
    info = F.inspect_heif(broken)
    assert (info.width, info.height) == (40, 72)
    with pytest.raises(F.ImageDecodeError):
        F.read_heif(broken)


def test_heic_large_written_as_grid(tmp_path):
    picture = F.Picture(pattern(64, 1100), None, np.dtype(np.uint8))
    F.write_heif(tmp_path / "big.heic", picture)
    written = pillow_heif.open_heif(tmp_path / "big.heic")
    assert written.info["tiling"]["tile_width"] == 512 and written.size == (1100, 64)
    assert np.abs(F.read_heif(tmp_path / "big.heic").rgb - picture.rgb).mean() < 0.01


def test_heic_from_uint16_and_float_pictures(tmp_path):
    for dtype in (np.uint16, np.float32):
        F.write_heif(tmp_path / "x.heic", F.Picture(pattern(16, 16) * 1.5 - 0.2, None, np.dtype(dtype)))
        assert pillow_heif.open_heif(tmp_path / "x.heic").info["bit_depth"] == 10


def test_not_heic(tmp_path):
    bad = tmp_path / "bad.heic"
    bad.write_bytes(b"not a heic at all")
    with pytest.raises(F.ImageDecodeError):
        F.inspect_heif(bad)
    with pytest.raises(F.ImageDecodeError):
        F.read_heif(bad)


def test_heic_named_jpg_is_routed_by_content(tmp_path):
    disguised = heic(tmp_path / "IMG_0001.JPG", to8(pattern(8, 8)), "RGB")
    assert F.kind_of(disguised) == "heif"
    assert F.kind_of(tmp_path / "missing.heic") == "heif"


# ------------------------------------------------------------------------------------------------- EXR

def exr(path: Path, channels: dict, compression=None, **header) -> Path:
    header = {"compression": compression or OpenEXR.ZIP_COMPRESSION, "type": OpenEXR.scanlineimage, **header}
    OpenEXR.File(header, {k: np.ascontiguousarray(v) for k, v in channels.items()}).write(str(path))
    return path


def hdr(height=12, width=20, dtype=np.float32) -> np.ndarray:
    rgb = (pattern(height, width) * 40 - 8).astype(np.float32)  # -8 .. 32
    rgb[0, 0] = [1e-3, -1e-3, 60000.0]
    return rgb.astype(dtype)


def types_of(path: Path) -> dict:
    channels = OpenEXR.File(str(path), separate_channels=True).channels()
    return {name: channel.pixels.dtype for name, channel in channels.items()}


@pytest.mark.parametrize("compression", ["ZIP_COMPRESSION", "PIZ_COMPRESSION"])
def test_exr_half_round_trip(tmp_path, compression):
    code = getattr(OpenEXR, compression)
    rgb = hdr(dtype=np.float16)
    source = exr(tmp_path / "h.exr", {"R": rgb[..., 0], "G": rgb[..., 1], "B": rgb[..., 2]}, code)
    picture = F.read_exr(source)
    assert picture.dtype == np.float16 and picture.rgb.dtype == np.float32 and picture.alpha is None
    assert np.array_equal(picture.rgb, rgb.astype(np.float32))  # half -> float32 is exact
    assert picture.rgb.max() > 1 and picture.rgb.min() < 0
    changed = F.Picture(picture.rgb + 0.1, None, picture.dtype, picture.mode, picture.meta)
    F.write_exr(tmp_path / "w.exr", changed)
    assert set(types_of(tmp_path / "w.exr").values()) == {np.dtype(np.float16)}
    assert OpenEXR.File(str(tmp_path / "w.exr"), header_only=True).header()["compression"] == code
    back = F.read_exr(tmp_path / "w.exr").rgb
    assert np.allclose(back, changed.rgb, rtol=2**-10, atol=2**-14)


def test_exr_float_round_trip_exact(tmp_path):
    rgb = hdr()
    rgb[1, 1] = [np.nan, np.inf, -1e30]
    source = exr(tmp_path / "f.exr", {"RGB": rgb}, OpenEXR.PIZ_COMPRESSION)
    picture = F.read_exr(source)
    assert picture.dtype == np.float32
    assert np.array_equal(picture.rgb, rgb, equal_nan=True)
    F.write_exr(tmp_path / "w.exr", picture)
    assert set(types_of(tmp_path / "w.exr").values()) == {np.dtype(np.float32)}
    assert np.array_equal(F.read_exr(tmp_path / "w.exr").rgb, rgb, equal_nan=True)


@pytest.mark.parametrize("dtype", [np.float16, np.float32])
def test_exr_rgba(tmp_path, dtype):
    rgba = np.dstack([hdr(), np.linspace(0, 1, 20)[None, :].repeat(12, 0)]).astype(dtype)
    picture = F.read_exr(exr(tmp_path / "a.exr", {"RGBA": rgba}))
    assert picture.dtype == dtype and np.array_equal(picture.alpha, rgba[..., 3].astype(np.float32))
    F.write_exr(tmp_path / "w.exr", picture)
    assert types_of(tmp_path / "w.exr") == {name: np.dtype(dtype) for name in "RGBA"}
    again = F.read_exr(tmp_path / "w.exr")
    assert np.array_equal(again.rgb, picture.rgb) and np.array_equal(again.alpha, picture.alpha)


def test_exr_mixed_types_written_back_per_channel(tmp_path):
    rgb = hdr(dtype=np.float16)
    source = exr(tmp_path / "m.exr", {"R": rgb[..., 0], "G": rgb[..., 1], "B": rgb[..., 2],
                                      "A": np.full((12, 20), 0.25, np.float32)})
    picture = F.read_exr(source)  # a coalesced read ("RGBA") raises for mixed types
    assert picture.dtype == np.float16
    F.write_exr(tmp_path / "w.exr", picture)
    assert types_of(tmp_path / "w.exr") == {"R": np.float16, "G": np.float16, "B": np.float16, "A": np.float32}


def test_exr_grey_y(tmp_path):
    y = np.linspace(-1, 5, 240, dtype=np.float32).reshape(12, 20).astype(np.float16)
    picture = F.read_exr(exr(tmp_path / "y.exr", {"Y": y}))
    assert picture.mode == "L" and np.array_equal(picture.rgb[..., 1], y.astype(np.float32))
    F.write_exr(tmp_path / "w.exr", picture)
    assert types_of(tmp_path / "w.exr") == {"Y": np.float16}
    assert np.allclose(F.read_exr(tmp_path / "w.exr").rgb[..., 0], y.astype(np.float32), rtol=2**-10)


def test_exr_windows(tmp_path):
    rgb = hdr()
    windows = {"dataWindow": ((10, 20), (29, 31)), "displayWindow": ((0, 0), (99, 49))}
    source = exr(tmp_path / "w.exr", {"RGB": rgb}, **windows)
    info = F.inspect_exr(source)
    assert (info.width, info.height, info.display_size) == (20, 12, (100, 50))
    picture = F.read_exr(source)
    assert picture.rgb.shape == (12, 20, 3)
    F.write_exr(tmp_path / "out.exr", picture)
    header = OpenEXR.File(str(tmp_path / "out.exr"), header_only=True).header()
    assert [w.tolist() for w in header["dataWindow"]] == [[10, 20], [29, 31]]
    assert [w.tolist() for w in header["displayWindow"]] == [[0, 0], [99, 49]]
    shown = F.in_display_window(picture)
    assert shown.rgb.shape == (50, 100, 3)
    assert np.array_equal(shown.rgb[20:32, 10:30], rgb) and shown.alpha[20:32, 10:30].min() == 1
    assert shown.alpha[:20].max() == 0 and shown.rgb[40:].max() == 0


def test_exr_inspect_same_windows_and_header_only(tmp_path):
    source = exr(tmp_path / "a.exr", {"RGB": hdr(30, 50)})
    assert F.inspect_exr(source) == F.ImageInfo(source, 50, 30)


def test_exr_tiled_kept(tmp_path):
    tiles = OpenEXR.TileDescription()
    tiles.xSize, tiles.ySize, tiles.mode = 16, 16, OpenEXR.ONE_LEVEL
    header = {"compression": OpenEXR.ZIP_COMPRESSION, "type": OpenEXR.tiledimage, "tiles": tiles}
    OpenEXR.File(header, {"RGB": hdr(40, 50)}).write(str(tmp_path / "t.exr"))
    picture = F.read_exr(tmp_path / "t.exr")
    F.write_exr(tmp_path / "w.exr", picture)
    written = OpenEXR.File(str(tmp_path / "w.exr"), header_only=True).header()
    assert written["type"] == OpenEXR.tiledimage and written["tiles"].xSize == 16


def test_exr_strided_planes_written_right(tmp_path):
    wide = np.dstack([hdr(), hdr()])  # a view of every other plane is not contiguous
    picture = F.Picture(wide[..., ::2], wide[..., 3], np.dtype(np.float32))
    F.write_exr(tmp_path / "s.exr", picture)
    again = F.read_exr(tmp_path / "s.exr")
    assert np.array_equal(again.rgb, wide[..., ::2]) and np.array_equal(again.alpha, wide[..., 3])


def test_exr_from_8bit_picture_is_half_zip(tmp_path):
    F.write_exr(tmp_path / "n.exr", F.Picture(pattern(8, 8), None, np.dtype(np.uint8)))
    assert set(types_of(tmp_path / "n.exr").values()) == {np.dtype(np.float16)}
    assert OpenEXR.File(str(tmp_path / "n.exr"), header_only=True).header()["compression"] == OpenEXR.ZIP_COMPRESSION


def test_exr_layers_take_the_unnamed_rgb(tmp_path):
    rgb = hdr()
    channels = {"R": rgb[..., 0], "G": rgb[..., 1], "B": rgb[..., 2], "Z": np.ones((12, 20), np.float32),
                "diffuse.R": np.zeros((12, 20), np.float32)}
    picture = F.read_exr(exr(tmp_path / "l.exr", channels))
    assert np.array_equal(picture.rgb, rgb) and picture.meta["exr_dropped"] == ["Z", "diffuse.R"]
    with pytest.raises(F.ImageDecodeError, match="no R, G, B or Y"):
        F.read_exr(exr(tmp_path / "z.exr", {"Z": np.ones((4, 4), np.float32)}))


def test_exr_damaged(tmp_path):
    source = exr(tmp_path / "a.exr", {"RGB": hdr(64, 64)})
    truncated = tmp_path / "t.exr"
    truncated.write_bytes(source.read_bytes()[:-50])
    with pytest.raises(F.ImageDecodeError):
        F.read_exr(truncated)
    bad = tmp_path / "bad.exr"
    bad.write_bytes(b"v/1\x01" + bytes(60))
    for function in (F.read_exr, F.inspect_exr):
        with pytest.raises(F.ImageDecodeError):
            function(bad)
    with pytest.raises(F.ImageDecodeError):
        F.read_exr(tmp_path / "missing.exr")


# -------------------------------------------------------------------------------------------- sniffing

def pillow_bytes(fmt: str, mode="RGB") -> bytes:
    out = io.BytesIO()
    Image.new(mode, (8, 8), "red").save(out, fmt)
    return out.getvalue()


@pytest.mark.parametrize("fmt,name", [("PNG", "PNG"), ("JPEG", "JPEG"), ("GIF", "GIF"), ("TIFF", "TIFF"),
                                      ("WEBP", "WebP"), ("BMP", "BMP"), ("AVIF", "AVIF"), ("ICO", "Windows icon (ICO)"),
                                      ("PPM", "Netpbm (PBM/PGM/PPM)"), ("QOI", "QOI"), ("JPEG2000", "JPEG 2000"),
                                      ("PDF", "PDF document")])
def test_sniff_pillow_written(fmt, name):
    assert F.sniff_format(pillow_bytes(fmt)) == name


def test_sniff_heic_and_exr_files(tmp_path):
    assert F.sniff_format(heic(tmp_path / "a.heic", to8(pattern(8, 8)), "RGB")) == "HEIC"
    assert F.sniff_format(exr(tmp_path / "a.exr", {"RGB": hdr()})) == "OpenEXR"


def ftyp(major: bytes, *compatible: bytes) -> bytes:
    body = major + b"\0\0\0\0" + b"".join(compatible)
    return struct.pack(">I", 8 + len(body)) + b"ftyp" + body + b"\0\0\0\x08meta"


@pytest.mark.parametrize("head,name", [
    (ftyp(b"heic", b"mif1", b"heic"), "HEIC"),
    (ftyp(b"mif1", b"mif1", b"heic", b"miaf"), "HEIC"),  # major brand generic, compatible heic
    (ftyp(b"mif1", b"mif1", b"miaf"), "HEIF"),
    (ftyp(b"avif", b"mif1", b"avif"), "AVIF"),
    (ftyp(b"mif1", b"avif", b"mif1"), "AVIF"),
    (ftyp(b"msf1", b"hevc"), "HEIC (image sequence)"),
    (ftyp(b"crx ", b"isom"), "Canon CR3 raw"),
    (ftyp(b"isom", b"iso2", b"mp41"), "MP4 video"),
    (ftyp(b"qt  "), "QuickTime video"),
    (b"\x00\x00\x00\x0cJXL \r\n\x87\n" + ftyp(b"jxl "), "JPEG XL"),
    (b"\xff\x0a\xfa\x7f", "JPEG XL"),
    (b"8BPS\x00\x01" + bytes(20), "Photoshop PSD"),
    (b"II*\x00\x10\x00\x00\x00CR\x02\x00", "Canon CR2 raw"),
    (b"MM\x00*\x00\x00\x00\x08", "TIFF"),
    (b"v/1\x01\x02\x00\x00\x00", "OpenEXR"),
    (b"#?RADIANCE\n", "Radiance HDR"),
    (b"gimp xcf v011", "GIMP XCF"),
    (b"\x1a\x45\xdf\xa3\x01", "Matroska/WebM video"),
    (b"RIFF\x00\x00\x00\x00AVI LIST", "AVI video"),
    (b'<?xml version="1.0"?>\n<svg xmlns="http://www.w3.org/2000/svg">', "SVG (vector drawing)"),
    (b"hello world", None),
    (b"", None),
])
def test_sniff_magic(head, name):
    assert F.sniff_format(head) == name


def test_unreadable_messages(tmp_path):
    jxl = tmp_path / "photo.jxl"
    jxl.write_bytes(b"\xff\x0a\xfa\x7f" + bytes(40))
    assert F.unreadable_message(jxl) == f"{jxl} is a JPEG XL file, which dreamvid cannot read"
    mp4 = tmp_path / "clip.png"
    mp4.write_bytes(ftyp(b"isom", b"mp41"))
    assert F.unreadable_message(mp4) == f"{mp4} is an MP4 video file, which dreamvid cannot read"
    png = tmp_path / "broken.png"
    png.write_bytes(pillow_bytes("PNG")[:30])
    assert "is a PNG file but cannot be decoded" in F.unreadable_message(png)
    exr_file = tmp_path / "x.exr"
    exr_file.write_bytes(b"v/1\x01")
    assert "is an OpenEXR file but cannot be decoded" in F.unreadable_message(exr_file)
    junk = tmp_path / "junk.dat"
    junk.write_bytes(b"nothing")
    assert F.unreadable_message(junk) == f"not a readable image: {junk}"


# ----------------------------------------------------------------------------------- missing packages

@pytest.mark.parametrize("module,extra,calls", [
    ("pillow_heif", "dreamvid[heif]", ["read_heif", "inspect_heif", "write_heif"]),
    ("OpenEXR", "dreamvid[exr]", ["read_exr", "inspect_exr", "write_exr"]),
])
def test_missing_codec_names_format_and_extra(tmp_path, monkeypatch, module, extra, calls):
    monkeypatch.setitem(sys.modules, module, None)  # `import module` now raises ImportError
    path = tmp_path / "x.bin"
    path.write_bytes(b"whatever")
    for call in calls:
        arguments = (path, F.Picture(pattern(4, 4), None, np.dtype(np.uint8))) if call.startswith("write") else (path,)
        with pytest.raises(F.CodecMissing) as caught:
            getattr(F, call)(*arguments)
        message = str(caught.value)
        assert extra in message and str(path) in message
        assert ("HEIC" in message) if module == "pillow_heif" else ("OpenEXR" in message)
    assert F.sniff_format(pillow_bytes("PNG")) == "PNG"  # sniffing needs neither


def test_exr_full_disk_is_an_oserror_naming_the_file(tmp_path):
    if not Path("/dev/full").exists():
        pytest.skip("no /dev/full")
    with pytest.raises(OSError) as caught:
        F.write_exr(Path("/dev/full"), F.Picture(hdr(64, 64), None, np.dtype(np.float32)))
    assert caught.value.errno == 28 or "No space left" in str(caught.value)


def test_heic_full_disk_is_an_oserror(tmp_path):
    if not Path("/dev/full").exists():
        pytest.skip("no /dev/full")
    with pytest.raises(OSError) as caught:
        F.write_heif(Path("/dev/full"), F.Picture(pattern(16, 16), None, np.dtype(np.uint8)))
    assert caught.value.errno == 28


# ------------------------------------------------------------------------------- through dreamvid itself

def _stub():
    from stub_dreamer import StubDreamer

    return StubDreamer()


def test_an_iphone_photo_is_dreamed_upright_into_a_png_with_its_colour_profile(tmp_path):
    """`dreamvid IMG_0042.HEIC` said "not a readable image": now it is dreamed as it is seen (sideways
    pixels turned by the file's irot, the EXIF orientation not applied again) into IMG_0042_dream.png,
    which keeps the Display P3 profile."""
    import dreamvid

    stored = pattern(24, 40)
    source = heic(tmp_path / "IMG_0042.HEIC", to8(stored), "RGB", orientation=6, icc_profile=icc_display_p3())
    [result] = dreamvid.render(source, dreamer=_stub(), model="vgg16-hed", steps=2, octaves=1)
    output = tmp_path / "IMG_0042_dream.png"
    assert result.status == "done" and result.job.output == output
    with Image.open(output) as written:
        assert written.size == (24, 40)  # turned: the 40x24 stored picture is seen 24 wide
        assert written.info.get("icc_profile") == icc_display_p3()
        dreamed = np.asarray(written.convert("RGB")).astype(np.float32) / 255
    upright = F.read_heif(source).rgb
    assert 0.005 < np.abs(dreamed - upright).mean() < 0.3


def test_a_heic_is_written_when_the_output_asks_for_one(tmp_path):
    import dreamvid

    source = heic(tmp_path / "a.heic", to8(pattern(48, 64)), "RGB")
    dreamvid.render(source, tmp_path / "out.heic", dreamer=_stub(), model="vgg16-hed", steps=2, octaves=1)
    written = F.read_heif(tmp_path / "out.heic")
    assert written.rgb.shape == (48, 64, 3) and np.abs(written.rgb - F.read_heif(source).rgb).mean() > 0.005


def _exr(path: Path, rgb: np.ndarray, dtype=np.float16) -> Path:
    channels = {name: np.ascontiguousarray(rgb[..., k], dtype) for k, name in enumerate("RGB")}
    OpenEXR.File({"compression": OpenEXR.ZIP_COMPRESSION, "type": OpenEXR.scanlineimage}, channels).write(str(path))
    return path


@pytest.mark.parametrize("dtype", [np.float16, np.float32])
def test_an_exr_still_is_dreamed_in_floating_point_keeping_its_type_and_range(tmp_path, dtype):
    import dreamvid

    rgb = pattern(40, 48) * 4.0 - 1.0  # HDR: from -1 to 3
    source = _exr(tmp_path / "plate.exr", rgb, dtype)
    dreamvid.render(source, dreamer=_stub(), model="vgg16-hed", steps=2, octaves=1)
    written = F.read_exr(tmp_path / "plate_dream.exr")
    assert written.dtype == np.dtype(dtype)
    change = written.rgb - F.read_exr(source).rgb
    assert written.rgb.max() > 2.5 and written.rgb.min() < -0.5  # the range is kept, not clipped
    assert np.abs(change).mean() > 0.001  # and it is dreamed


def test_an_exr_sequence_is_a_clip_and_its_frames_stay_exr(tmp_path):
    """`dreamvid shot/ --sequence` on half-float EXR frames said "no images in folder": now it is dreamed
    as a clip, `-o shot_dream/` keeps the frames' names and .exr, half floats with their range."""
    import dreamvid
    from clips import translating_frames

    shot = tmp_path / "shot"
    shot.mkdir()
    for index, frame in enumerate(translating_frames(4, (48, 40), dx=2, dy=1)):
        _exr(shot / f"shot.{index:04d}.exr", frame.astype(np.float32) / 255 * 2.0)  # up to 2.0
    [result] = dreamvid.render(shot, tmp_path / "shot_dream", sequence=True, dreamer=_stub(), model="vgg16-hed",
                               steps=2, octaves=1)
    assert result.status == "done"
    names = sorted(p.name for p in (tmp_path / "shot_dream").iterdir() if p.suffix == ".exr")
    assert names == [f"shot.{index:04d}.exr" for index in range(4)]
    for name in names:
        written, original = F.read_exr(tmp_path / "shot_dream" / name), F.read_exr(shot / name)
        assert written.dtype == np.float16
        bright = original.rgb > 1.2  # values a 16-bit sequence would have clipped to 1
        assert bright.any() and np.median(written.rgb[bright]) > 1.1
        assert np.abs(written.rgb - original.rgb).mean() > 0.001


def test_a_picture_no_reader_opens_is_named_by_its_format(tmp_path, command):
    (tmp_path / "photo.jxl").write_bytes(b"\xff\x0a" + bytes(200))
    run = command(tmp_path, "photo.jxl", "--model", "vgg16-hed")
    assert run.status == 2
    assert run.stderr.strip() == "dreamvid: error: photo.jxl is a JPEG XL file, which dreamvid cannot read"


def test_a_missing_codec_is_one_line_naming_the_extra(tmp_path, command, monkeypatch):
    heic(tmp_path / "IMG_1.heic", to8(pattern(24, 32)), "RGB")
    monkeypatch.setitem(sys.modules, "pillow_heif", None)
    run = command(tmp_path, "IMG_1.heic", "--model", "vgg16-hed")
    assert run.status == 2
    assert run.stderr.strip() == ("dreamvid: error: IMG_1.heic: HEIC/HEIF images need pillow-heif: "
                                  "pip install 'dreamvid[heif]'")
