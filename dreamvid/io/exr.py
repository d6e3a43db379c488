"""OpenEXR pictures (VFX frames), through the OpenEXR package (OpenCV's wheels lack the codec): half or
float in, the same out, values outside [0, 1] kept; the first part's R, G, B (or Y) and A; the header
(compression, windows, chromaticities, tiling) written back. Imported on first use: `pip install
'dreamvid[exr]'`."""
from __future__ import annotations

import io
from pathlib import Path

import numpy as np

from ..imageops import luma
from .formats import CodecMissing, ImageDecodeError, codec_missing
from .picture import ImageInfo, Picture


def _openexr():
    try:
        import OpenEXR
    except ImportError:
        raise CodecMissing("OpenEXR images need the OpenEXR package: pip install 'dreamvid[exr]'") from None
    return OpenEXR


def _exr_file(path: Path, header_only: bool):
    try:
        exr = _openexr()
    except CodecMissing as error:
        raise codec_missing(path, error) from None
    try:
        file = exr.File(str(path), separate_channels=True, header_only=header_only)
        if not file.parts:  # a truncated file opens with zero parts (and a warning printed by the C++)
            raise ValueError("no readable part")
        return exr, file
    except (RuntimeError, ValueError, TypeError) as error:
        raise ImageDecodeError(f"cannot decode OpenEXR image {path} ({error})") from None


def _window_size(window) -> tuple[int, int]:
    (x0, y0), (x1, y1) = window
    return int(x1 - x0 + 1), int(y1 - y0 + 1)


def inspect_exr(path: Path) -> ImageInfo:
    """Data window size (the pixels that are decoded and dreamed); display window size if different."""
    _, file = _exr_file(path, header_only=True)
    header = file.header()
    width, height = _window_size(header["dataWindow"])
    display = _window_size(header["displayWindow"])
    return ImageInfo(path, width, height, 1, None if display == (width, height) else display)


def _pick(channels: dict, path: Path) -> tuple[list[str], str | None]:
    names = set(channels)
    colour = ["R", "G", "B"] if {"R", "G", "B"} <= names else ["Y"] if "Y" in names else None
    if colour is None:
        raise ImageDecodeError(f"cannot decode OpenEXR image {path} (no R, G, B or Y channels: "
                               f"{', '.join(sorted(names)[:8])})")
    return colour, ("A" if "A" in names else None)


def read_exr(path: Path) -> Picture:
    """The first part's R, G, B (or Y) and A, as float32 with their own range (HDR values > 1 and
    negatives kept, NaN/inf too); dtype float16 for a half file, float32 for float; the header (pixel
    type, compression, windows, chromaticities, tiling...) kept in meta to be written back."""
    exr, file = _exr_file(path, header_only=False)
    try:
        channels = file.channels()
        header = dict(file.header())
    except (RuntimeError, ValueError, TypeError) as error:
        raise ImageDecodeError(f"cannot decode OpenEXR image {path} ({error})") from None
    colour, alpha_name = _pick(channels, path)
    for name in colour + ([alpha_name] if alpha_name else []):
        channel = channels[name]
        if channel.xSampling != 1 or channel.ySampling != 1:
            raise ImageDecodeError(f"cannot decode OpenEXR image {path} (subsampled channel {name})")
        if channel.pixels.dtype not in (np.float16, np.float32):
            raise ImageDecodeError(f"cannot decode OpenEXR image {path} ({channel.pixels.dtype} channel {name})")
    planes = [channels[name].pixels for name in colour]
    half = all(p.dtype == np.float16 for p in planes)
    rgb = np.dstack(planes * 3 if len(planes) == 1 else planes).astype(np.float32)
    alpha = channels[alpha_name].pixels.astype(np.float32) if alpha_name else None
    header.pop("channels", None)
    meta = {"exr_header": header,
            "exr_alpha_dtype": channels[alpha_name].pixels.dtype if alpha_name else None,
            "exr_dropped": sorted(set(channels) - set(colour) - {alpha_name})}
    return Picture(rgb, alpha, np.dtype(np.float16 if half else np.float32), "L" if colour == ["Y"] else "RGB", meta)


def encode_exr_file(picture: Picture):
    """An OpenEXR.File of the picture: half or float as the picture's dtype (uint pictures: half),
    the source header (compression, windows...) when it came from an EXR, else ZIP scanlines."""
    exr = _openexr()
    header = dict(picture.meta.get("exr_header") or {})
    header.setdefault("compression", exr.ZIP_COMPRESSION)
    header.setdefault("type", exr.scanlineimage)
    tiles = header.get("tiles")
    if tiles is not None and tiles.mode != exr.ONE_LEVEL:  # mip/rip levels would be stale: keep level 0 only
        one = exr.TileDescription()
        one.xSize, one.ySize, one.mode = tiles.xSize, tiles.ySize, exr.ONE_LEVEL
        header["tiles"] = one
    dtype = np.float16 if np.dtype(picture.dtype) in (np.float16, np.uint8, np.uint16) else np.float32
    # Each plane its own contiguous array: OpenEXR 3.5 ignores strides and writes a strided view's memory
    # as if it were contiguous (garbage), e.g. rgb[..., 0].
    if picture.mode == "L":
        channels = {"Y": np.ascontiguousarray(luma(picture.rgb), dtype)}
    else:
        channels = {name: np.ascontiguousarray(picture.rgb[..., i], dtype) for i, name in enumerate("RGB")}
    if picture.alpha is not None:
        channels["A"] = np.ascontiguousarray(picture.alpha, picture.meta.get("exr_alpha_dtype") or dtype)
    return exr.File(header, channels)


def write_exr(path: Path, picture: Picture) -> None:
    """Encode in memory (OpenEXR >= 3.5 writes to a stream), then write with Python, so a full disk
    raises OSError(ENOSPC) naming the file as dreamvid's other writers do. (OpenEXR 3.4 writes by file
    name only and raises nothing when the disk is full; 3.5 by name raises a RuntimeError, no errno.)"""
    try:
        file = encode_exr_file(picture)
    except CodecMissing as error:
        raise codec_missing(path, error) from None
    stream = io.BytesIO()
    try:
        file.write(stream)
    except TypeError:  # OpenEXR 3.4 writes by name only, and says nothing when the disk is full
        raise CodecMissing(f"{path}: writing OpenEXR needs OpenEXR >= 3.5: pip install 'dreamvid[exr]'") from None
    except (RuntimeError, ValueError) as error:
        raise OSError(f"cannot write OpenEXR image {path} ({error})") from None
    with open(path, "wb") as out:
        out.write(stream.getbuffer())


def in_display_window(picture: Picture) -> Picture:
    """An EXR picture placed in its display window (outside the data window: 0, alpha 0), for writing
    it to a format without windows (PNG, TIFF) at the size it is displayed."""
    header = picture.meta.get("exr_header") or {}
    if "displayWindow" not in header:
        return picture
    (dx0, dy0), (dx1, dy1) = header["displayWindow"]
    (x0, y0), _ = header["dataWindow"]
    width, height = int(dx1 - dx0 + 1), int(dy1 - dy0 + 1)
    if (width, height) == picture.rgb.shape[1::-1] and (x0, y0) == (dx0, dy0):
        return picture
    ox, oy = int(x0 - dx0), int(y0 - dy0)
    rows = slice(max(oy, 0), min(oy + picture.rgb.shape[0], height))
    cols = slice(max(ox, 0), min(ox + picture.rgb.shape[1], width))
    src = (slice(rows.start - oy, rows.stop - oy), slice(cols.start - ox, cols.stop - ox))
    rgb = np.zeros((height, width, 3), np.float32)
    alpha = np.zeros((height, width), np.float32)
    if rows.start < rows.stop and cols.start < cols.stop:
        rgb[rows, cols] = picture.rgb[src]
        alpha[rows, cols] = 1.0 if picture.alpha is None else picture.alpha[src]
    meta = {k: v for k, v in picture.meta.items() if k != "exr_header"}
    return Picture(rgb, alpha, picture.dtype, picture.mode, meta)
