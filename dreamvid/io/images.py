"""Still images, read and written so that they keep what the picture is: turned upright (EXIF orientation),
grey/colour/CMYK, bit depth, float range and alpha; headers checked fast (without decoding) for planning.
Writes go to a temporary name and are renamed when complete."""
from __future__ import annotations

import errno
import struct
import zlib
from pathlib import Path

import cv2
import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from ..atomic import writing
from ..errors import DreamvidError, UserError
from ..imageops import cmyk_to_rgb, luma, rgb_to_cmyk, upright
from . import exr, heif
from .formats import EXR_SUFFIXES, HEIF_SUFFIXES, ImageDecodeError, reader_of, unreadable_message
from .picture import ImageInfo, Picture

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp", ".avif", *HEIF_SUFFIXES, *EXR_SUFFIXES}
FLOAT_SUFFIXES = (".tif", ".tiff", *EXR_SUFFIXES)  # formats that hold float samples


FULL_DISK = (errno.ENOSPC, errno.EDQUOT)


class EncoderRefused(DreamvidError):
    """OpenCV could not encode the samples in the format the file name asks for."""


ORIENTATION = 0x0112  # the EXIF tag


def inspect_image(path: Path) -> ImageInfo:
    """Read only the header (fast), so a folder of thousands of frames is checked in a second."""
    if not path.exists():
        raise UserError(f"input not found: {path}")
    if path.stat().st_size == 0:
        raise UserError(f"empty file: {path}")
    reader = reader_of(path)
    if reader is not None:
        try:
            return heif.inspect_heif(path) if reader == "heif" else exr.inspect_exr(path)
        except ImageDecodeError as error:
            raise UserError(str(error)) from None
    try:
        with Image.open(path) as image:
            width, height = _stored_size(image)
            orientation = _orientation(image)
            frames = getattr(image, "n_frames", 1)
    except Image.DecompressionBombError as error:
        raise UserError(f"{path} is too large for Pillow to open safely: {error}") from None
    except (UnidentifiedImageError, OSError):
        data = _tiff_by_opencv(path)
        if data is None:
            raise UserError(unreadable_message(path)) from None
        return ImageInfo(path, data.shape[1], data.shape[0])
    return ImageInfo(path, *((height, width) if orientation in (5, 6, 7, 8) else (width, height)), frames)


def _tiff_by_opencv(path: Path) -> np.ndarray | None:
    """A TIFF that Pillow cannot open (3-channel float), decoded whole by OpenCV; None if it cannot either."""
    if path.suffix.lower() not in (".tif", ".tiff"):
        return None
    return cv2.imread(str(path), cv2.IMREAD_UNCHANGED)


def _orientation(image: Image.Image) -> int:
    """The EXIF orientation, 1 (upright) when there is none. A PNG's EXIF after its pixels is not
    looked for: Pillow would decode the whole picture to find it."""
    if image.format == "PNG" and "exif" not in image.info:
        return 1
    orientation = image.getexif().get(ORIENTATION, 1)
    return orientation if orientation in range(1, 9) else 1


def _stored_size(image: Image.Image) -> tuple[int, int]:
    """Width and height as stored (newer Pillow reports a TIFF's size already turned)."""
    if image.format == "TIFF":
        return image.tag_v2.get(256, image.size[0]), image.tag_v2.get(257, image.size[1])
    return image.size


# Pillow modes that Pillow decodes faithfully and OpenCV does not (CMYK, palette) or that only Pillow
# turns portably (grey, float). RGB(A) goes to OpenCV, which keeps 16 bits where Pillow truncates.
_PILLOW_MODES = {"1", "L", "LA", "La", "P", "PA", "I", "I;16", "I;16B", "I;16L", "I;16N", "F", "CMYK",
                 "YCbCr", "LAB", "HSV", "RGBX", "RGBa"}


def read_image(path: Path) -> Picture:
    """Decode a still as it is seen (its EXIF orientation applied): grey, palette, RGB(A), CMYK, 8 or
    16 bit, or float; HEIF (8 to 12 bit) and OpenEXR (half or float) by their own readers. Palette
    pictures become RGB(A): re-quantising a dream to 256 colours would ruin it."""
    reader = reader_of(path)
    if reader is not None:
        return heif.read_heif(path) if reader == "heif" else exr.read_exr(path)
    try:
        image = Image.open(path)
    except (UnidentifiedImageError, OSError):
        if (data := _tiff_by_opencv(path)) is None:
            raise ImageDecodeError(f"cannot decode image {path} (not an image, or damaged)") from None
        return _from_samples(data, path, bgr=True)
    with image:
        orientation = _orientation(image)
        # OpenCV turns some TIFFs itself, depending on its version, and Pillow >= 12 does on load:
        # TIFFs go to Pillow's exif_transpose, which turns them once whatever the version.
        tiff = image.format == "TIFF" and (image.mode in _PILLOW_MODES or orientation != 1)
        if tiff or image.mode in _PILLOW_MODES:
            try:
                if tiff:
                    return _from_pillow(ImageOps.exif_transpose(image), path, 1)
                return _from_pillow(image, path, orientation)
            except (OSError, ValueError) as error:
                raise ImageDecodeError(f"cannot decode image {path} ({error})") from None
    data = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if data is None:  # a format only Pillow knows (TGA, PCX, ICO...), or a damaged file
        try:
            with Image.open(path) as image:
                return _from_pillow(image, path, orientation)
        except (OSError, ValueError):
            raise ImageDecodeError(f"cannot decode image {path} (truncated or damaged?)") from None
    return _from_samples(upright(data, orientation), path, bgr=True)


def _from_pillow(image: Image.Image, path: Path, orientation: int) -> Picture:
    if image.mode == "CMYK":
        cmyk = upright(np.asarray(image), orientation).astype(np.float32) / 255.0
        return Picture(cmyk_to_rgb(cmyk), None, np.dtype(np.uint8), "CMYK")
    if image.mode in ("P", "PA"):
        image = image.convert("RGBA" if image.mode == "PA" or "transparency" in image.info else "RGB")
    elif image.mode == "1":
        image = image.convert("L")
    elif image.mode == "I" or image.mode.startswith("I;16"):
        image = image.convert("I;16")  # 16-bit grey (older Pillow opens 16-bit grey PNGs as I)
    elif image.mode == "La":
        image = image.convert("LA")
    elif image.mode not in ("L", "LA", "F", "RGB", "RGBA"):
        image = image.convert("RGBA" if image.mode == "RGBa" else "RGB")
    data = np.asarray(image)
    if image.mode == "I;16":
        data = data.astype(np.uint16)
    return _from_samples(upright(data, orientation), path, bgr=False)


def _from_samples(data: np.ndarray, path: Path, bgr: bool) -> Picture:
    """Samples (H x W, H x W x 2 grey+alpha, x 3 or x 4) -> a Picture; integers scale to [0, 1]."""
    if data.dtype in (np.float16, np.float64):
        data = data.astype(np.float32)
    if data.dtype not in (np.uint8, np.uint16, np.float32):
        raise ImageDecodeError(f"cannot decode image {path} (unsupported sample type {data.dtype})")
    dtype = data.dtype
    data = data.astype(np.float32)  # always a copy: an upright view becomes a plain array
    if dtype != np.float32:
        data *= 1.0 / np.iinfo(dtype).max
    planes = data if data.ndim == 3 else data[..., None]
    colour = planes[..., :3] if planes.shape[2] >= 3 else np.repeat(planes[..., :1], 3, axis=2)
    if bgr and planes.shape[2] >= 3:
        colour = colour[..., ::-1]
    alpha = planes[..., -1].copy() if planes.shape[2] in (2, 4) else None
    mode = "L" if planes.shape[2] <= 2 else "RGB"
    return Picture(np.ascontiguousarray(colour), alpha, np.dtype(dtype), mode)


def write_image(path: Path, picture: Picture) -> None:
    """Write atomically (temporary file, then rename), keeping the mode, alpha, bit depth and float
    range where the format can (float only in TIFF; CMYK in JPEG and TIFF; no alpha in JPEG). Nothing
    of the source's EXIF is written, so viewers show the picture as it is stored: upright."""
    suffix = path.suffix.lower()
    dtype = np.dtype(picture.dtype)
    if suffix in HEIF_SUFFIXES or suffix in EXR_SUFFIXES:  # formats with writers of their own
        _write_own(path, picture, suffix)
        return
    if dtype.kind == "f" and suffix not in FLOAT_SUFFIXES:
        dtype = np.dtype(np.uint16)
    if dtype == np.float16:  # a half EXR written as TIFF: float32 samples
        dtype = np.dtype(np.float32)
    if dtype == np.uint16 and suffix in (".jpg", ".jpeg", ".webp", ".bmp"):
        dtype = np.dtype(np.uint8)
    alpha = None if suffix in (".jpg", ".jpeg") else picture.alpha
    grey_alpha = picture.mode == "L" and alpha is not None and dtype == np.uint8 and suffix in (".png", ".tif", ".tiff")
    try:
        with writing(path) as temporary:
            if picture.mode == "CMYK" and alpha is None and suffix in (".jpg", ".jpeg", ".tif", ".tiff"):
                cmyk = _samples(rgb_to_cmyk(picture.rgb), np.dtype(np.uint8))
                _pillow_write(temporary, Image.fromarray(cmyk, "CMYK"))
            elif grey_alpha:
                grey = _samples(np.dstack([luma(picture.rgb), alpha]), dtype)  # OpenCV writes no grey + alpha
                _pillow_write(temporary, Image.fromarray(grey, "LA"))
            else:
                planes = luma(picture.rgb)[..., None] if picture.mode == "L" else picture.rgb[..., ::-1]
                if alpha is not None:
                    planes = np.dstack([np.repeat(planes, 3, axis=2) if planes.shape[2] == 1 else planes, alpha])
                params = [cv2.IMWRITE_JPEG_QUALITY, 95] if suffix in (".jpg", ".jpeg") else []
                write_samples(temporary, _samples(planes, dtype), params, icc=picture.meta.get("icc_profile"))
    except (EncoderRefused, cv2.error):
        raise UserError(f"cannot write image {path}") from None
    except OSError as error:
        if error.errno in FULL_DISK:  # the job fails (exit 1), as a video's does; the OSError names `path`
            raise
        raise UserError(f"cannot write image {path}") from None


def write_samples(path: Path, samples: np.ndarray, params: list[int] | tuple[int, ...] = (),
                  icc: bytes | None = None, text: dict[str, str] | None = None) -> None:
    """Encode with OpenCV in memory, then write the bytes with Python: on a full disk this raises an
    OSError (ENOSPC) naming the file, where cv2.imwrite returns False after libpng prints its own line.
    `icc`: a colour profile to keep (a PNG gets it as its iCCP chunk, which OpenCV cannot write); `text`:
    a PNG's tEXt chunks (png_text reads them back)."""
    encoded, data = cv2.imencode(path.suffix, samples, list(params))
    if not encoded:
        raise EncoderRefused(f"cannot encode {path.name}")
    data = data.tobytes()
    if icc and path.suffix.lower() == ".png":
        data = png_with_icc(data, icc)
    if text and path.suffix.lower() == ".png":
        data = png_with_text(data, text)
    with open(path, "wb") as file:
        file.write(data)


def _write_own(path: Path, picture: Picture, suffix: str) -> None:
    """HEIC and OpenEXR, through their own writers, atomically; a full disk names `path` as elsewhere."""
    try:
        with writing(path) as temporary:
            if suffix in HEIF_SUFFIXES:
                heif.write_heif(temporary, picture)
            else:
                exr.write_exr(temporary, picture)
    except OSError as error:
        if error.errno in FULL_DISK:
            raise
        raise UserError(f"cannot write image {path} ({error})") from None


def png_with_icc(png: bytes, icc: bytes, name: bytes = b"ICC profile") -> bytes:
    """Add an iCCP chunk (after IHDR) to PNG bytes that OpenCV encoded, so a dream of a Display P3
    photo written as PNG (8 or 16 bit) keeps its colours in colour-managed viewers."""
    return _png_with_chunk(png, b"iCCP", name[:79] + b"\x00\x00" + zlib.compress(icc, 9))


def png_with_text(png: bytes, text: dict[str, str]) -> bytes:
    """Add tEXt chunks (Latin-1 keys and values; after IHDR) to PNG bytes that OpenCV encoded."""
    for key, value in text.items():
        png = _png_with_chunk(png, b"tEXt", key.encode("latin-1")[:79] + b"\x00" + value.encode("latin-1"))
    return png


def png_text(path: Path) -> dict[str, str]:
    """The tEXt chunks of a PNG file, read up to its first image data (where png_with_text puts them)."""
    found = {}
    with open(path, "rb") as file:
        if file.read(8) != b"\x89PNG\r\n\x1a\n":
            return found
        while len(head := file.read(8)) == 8:
            length, kind = struct.unpack(">I", head[:4])[0], head[4:]
            if kind in (b"IDAT", b"IEND"):
                break
            body = file.read(length)
            file.read(4)  # the CRC
            if kind == b"tEXt" and b"\x00" in body:
                key, value = body.split(b"\x00", 1)
                found[key.decode("latin-1")] = value.decode("latin-1")
    return found


def _png_with_chunk(png: bytes, kind: bytes, body: bytes) -> bytes:
    if png[:8] != b"\x89PNG\r\n\x1a\n" or png[12:16] != b"IHDR":
        raise ValueError("not a PNG")
    chunk = struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
    end_of_ihdr = 8 + 8 + struct.unpack(">I", png[8:12])[0] + 4
    return png[:end_of_ihdr] + chunk + png[end_of_ihdr:]


def _samples(values: np.ndarray, dtype: np.dtype) -> np.ndarray:
    """Float planes -> samples: integers rounded and clipped, floats kept as they are (no clipping)."""
    if dtype.kind == "f":
        return values.astype(np.float32)
    top = float(np.iinfo(dtype).max)
    return np.clip(np.rint(values * top), 0, top).astype(dtype)


def _pillow_write(path: Path, image: Image.Image) -> None:
    """The modes OpenCV cannot write (CMYK, grey + alpha), with its JPEG quality and lossless TIFF compression."""
    options = {".jpg": {"quality": 95}, ".jpeg": {"quality": 95}, ".tif": {"compression": "tiff_lzw"},
               ".tiff": {"compression": "tiff_lzw"}}.get(path.suffix.lower(), {})
    image.save(path, **options)
