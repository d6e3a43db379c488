"""HEIC/HEIF pictures (iPhone photos), through pillow-heif: read upright (libheif applies the file's
rotation and mirroring itself, so the EXIF orientation, which iPhones also write, must not be applied
again), 8 or 10/12 bits, alpha, the colour profile kept and written back; written as HEIC in grid tiles
as iPhones do. pillow-heif is imported on first use: `pip install 'dreamvid[heif]'`."""
from __future__ import annotations

import io
from pathlib import Path

import numpy as np

from ..imageops import luma
from .formats import CodecMissing, ImageDecodeError, codec_missing
from .picture import ImageInfo, Picture

GRID_TILE = 512  # HEIC grid tiles when writing, as iPhones do


def _pillow_heif():
    try:
        import pillow_heif
    except ImportError:
        raise CodecMissing("HEIC/HEIF images need pillow-heif: pip install 'dreamvid[heif]'") from None
    return pillow_heif


def _open_heif(path: Path):
    """Parse the container (no pixels decoded yet). libheif applies the irot/imir/clap transforms
    itself: sizes and pixels are as displayed."""
    try:
        heif = _pillow_heif()
    except CodecMissing as error:
        raise codec_missing(path, error) from None
    try:
        # hdr_to_16bit=False: 10/12-bit samples come as they are (0..1023), not shifted left (0..65472)
        return heif.open_heif(path, convert_hdr_to_8bit=False, hdr_to_16bit=False)
    except (OSError, ValueError, SyntaxError, RuntimeError, EOFError) as error:
        raise ImageDecodeError(f"cannot decode HEIF image {path} ({error})") from None


def inspect_heif(path: Path) -> ImageInfo:
    """Size as displayed (after irot), from the container only: the HEVC data is not decoded."""
    file = _open_heif(path)
    if len(file) == 0:
        raise ImageDecodeError(f"cannot decode HEIF image {path} (no image in it)")
    width, height = file.size
    return ImageInfo(path, width, height, frames=1)  # only the primary image is dreamed


def read_heif(path: Path, colour: str = "keep") -> Picture:
    """Decode the primary image, upright, 8 or 10/12 bits (uint16 to write back), alpha kept.

    The EXIF orientation is NOT applied: libheif has already turned the pixels by the file's irot/imir
    (the HEIF rule; iPhones write both and the EXIF tag stays 6 in what open_heif returns).
    colour="keep": values as stored, the ICC profile (or nclx) kept in meta to be written back.
    colour="srgb": an ICC picture is converted to sRGB with ImageCms (8-bit only: Pillow's
    LittleCMS binding has no 16-bit RGB mode)."""
    file = _open_heif(path)
    try:
        image = file[file.primary_index]
        mode, bits = image.mode, image.info.get("bit_depth", 8)
        data = np.asarray(image)  # decodes here
    except (OSError, ValueError, SyntaxError, RuntimeError, EOFError, IndexError) as error:
        raise ImageDecodeError(f"cannot decode HEIF image {path} ({error})") from None
    base = mode.split(";")[0]
    if base not in ("RGB", "RGBA", "RGBa", "L", "LA", "La"):
        raise ImageDecodeError(f"cannot decode HEIF image {path} (unsupported mode {mode})")
    depth = int(mode.split(";")[1]) if ";" in mode else 8
    planes = (data.astype(np.float32) * (1.0 / (2**depth - 1))).reshape(data.shape[0], data.shape[1], -1)
    has_alpha = base in ("RGBA", "RGBa", "LA", "La")
    alpha = planes[..., -1].copy() if has_alpha else None
    colour_planes = planes[..., :-1] if has_alpha else planes
    if base in ("RGBa", "La") and alpha is not None:  # premultiplied: dream the straight colours
        colour_planes = np.divide(colour_planes, alpha[..., None], out=np.zeros_like(colour_planes),
                                  where=alpha[..., None] > 0)
    grey = base.startswith("L")
    rgb = np.repeat(colour_planes, 3, axis=2) if grey else colour_planes
    meta = {"bit_depth": int(bits)}  # the file's; the samples' (the mode's ;N) may differ: LA;10 decodes as RGBA;16
    if image.info.get("icc_profile"):
        meta["icc_profile"] = bytes(image.info["icc_profile"])
    elif image.info.get("nclx_profile"):
        meta["nclx_profile"] = dict(image.info["nclx_profile"])
    picture = Picture(np.ascontiguousarray(rgb, np.float32), alpha, np.dtype(np.uint8 if depth == 8 else np.uint16),
                      "L" if grey else "RGB", meta)
    if colour == "srgb":
        picture = to_srgb(picture)
    return picture


def to_srgb(picture: Picture) -> Picture:
    """Convert an 8-bit picture carrying an ICC profile to sRGB (relative colorimetric: colours out of
    sRGB's gamut are clipped); the profile is dropped. Pictures without one are returned as they are."""
    from PIL import Image, ImageCms

    icc = picture.meta.get("icc_profile")
    if not icc or picture.mode != "RGB":
        return picture
    if picture.dtype != np.uint8:
        raise ValueError("ImageCms converts 8-bit RGB only: keep the profile for deeper pictures")
    samples = np.clip(np.rint(picture.rgb * 255.0), 0, 255).astype(np.uint8)
    source = ImageCms.ImageCmsProfile(io.BytesIO(icc))
    srgb = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB"))
    converted = ImageCms.profileToProfile(Image.fromarray(samples, "RGB"), source, srgb,
                                          renderingIntent=ImageCms.Intent.RELATIVE_COLORIMETRIC, outputMode="RGB")
    meta = {k: v for k, v in picture.meta.items() if k != "icc_profile"}
    rgb = np.asarray(converted).astype(np.float32) / 255.0
    return Picture(rgb, picture.alpha, picture.dtype, picture.mode, meta)


def encode_heif(picture: Picture, quality: int = 95) -> bytes:
    """HEIC bytes: 8-bit for uint8 pictures, else 10 bits (12 when the source was 12-bit); alpha; the
    source's ICC profile or nclx written back; no EXIF (so no irot: the picture is stored upright).
    Chroma stays 4:2:0, what Apple and hardware decoders take."""
    heif = _pillow_heif()
    bits = 8 if np.dtype(picture.dtype) == np.uint8 else (12 if picture.meta.get("bit_depth", 10) > 10 else 10)
    top = float(2**bits - 1)
    colour = picture.rgb if picture.mode == "RGB" else luma(picture.rgb)[..., None]
    planes = colour if picture.alpha is None else np.dstack([colour, picture.alpha])
    samples = np.ascontiguousarray(np.clip(np.rint(planes * top), 0, top).astype(np.uint8 if bits == 8 else "<u2"))
    base = ("RGB" if picture.mode == "RGB" else "L") + ("A" if picture.alpha is not None else "")
    mode = base if bits == 8 else f"{base};{bits}"
    height, width = samples.shape[:2]
    options = {"quality": quality}
    if "icc_profile" in picture.meta:
        options["icc_profile"] = picture.meta["icc_profile"]
    elif "nclx_profile" in picture.meta:
        nclx = picture.meta["nclx_profile"]
        options.update({k: nclx[k] for k in ("color_primaries", "transfer_characteristics",
                                             "matrix_coefficients", "full_range_flag") if k in nclx})
    if max(width, height) > GRID_TILE and picture.alpha is None:
        # Apple's layout: a grid of 512 x 512 HEVC tiles. One big HEVC picture of a detailed 12 MP dream
        # (17 MB of noise at quality 90) is written by x265 but libde265 then fails to decode it.
        options["tile_size"] = GRID_TILE
    out = io.BytesIO()
    heif.from_bytes(mode, (width, height), samples.tobytes()).save(out, format="HEIF", **options)
    return out.getvalue()


def write_heif(path: Path, picture: Picture, quality: int = 95) -> None:
    """Encode in memory, then write with Python (a full disk raises OSError naming the file). dreamvid
    calls this on the temporary name of atomic.writing()."""
    try:
        data = encode_heif(picture, quality)
    except CodecMissing as error:
        raise codec_missing(path, error) from None
    with open(path, "wb") as file:
        file.write(data)
