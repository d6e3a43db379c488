"""What kind of picture a file holds, told from its first bytes: which reader opens it (HEIF and OpenEXR
have readers of their own), and, for a file no reader opens, its format named in the error. Also the
errors every picture reader raises."""
from __future__ import annotations

import struct
from pathlib import Path

from ..errors import DreamvidError, UserError

HEIF_SUFFIXES = {".heic", ".heif", ".hif"}
EXR_SUFFIXES = {".exr"}


class ImageDecodeError(DreamvidError):
    """An image whose header was fine fails to decode (planning checks headers only, to stay fast)."""


class CodecMissing(UserError):
    """The optional package a format needs is not installed: one line naming it and its extra (exit 2)."""


def codec_missing(path: Path, error: CodecMissing) -> CodecMissing:
    return CodecMissing(f"{path}: {error}")


_ISO_BRANDS = {  # ISO base media file format: ftyp brands, the first one found names the file
    b"avif": "AVIF", b"avis": "AVIF (image sequence)",
    b"heic": "HEIC", b"heix": "HEIC", b"heim": "HEIC", b"heis": "HEIC",
    b"hevc": "HEIC (image sequence)", b"hevx": "HEIC (image sequence)",
    b"jxl ": "JPEG XL", b"crx ": "Canon CR3 raw", b"jp2 ": "JPEG 2000", b"jpx ": "JPEG 2000",
    b"mif1": "HEIF", b"msf1": "HEIF (image sequence)",
    b"qt  ": "QuickTime video", b"isom": "MP4 video", b"iso2": "MP4 video", b"mp41": "MP4 video",
    b"mp42": "MP4 video", b"M4V ": "MP4 video", b"3gp4": "3GP video", b"3gp5": "3GP video",
}
# the more telling brands first: a Canon CR3 or an iPhone HEIC also lists generic ones
_BRAND_ORDER = [b"crx ", b"avif", b"avis", b"heic", b"heix", b"heim", b"heis", b"hevc", b"hevx", b"jxl ",
                b"jp2 ", b"jpx ", b"mif1", b"msf1"]

_MAGIC = [  # (offset, bytes, name), tried in order
    (0, b"\x89PNG\r\n\x1a\n", "PNG"),
    (0, b"\xff\xd8\xff", "JPEG"),
    (0, b"GIF87a", "GIF"), (0, b"GIF89a", "GIF"),
    (0, b"II*\x00\x10\x00\x00\x00CR\x02", "Canon CR2 raw"),
    (0, b"IIRO", "Olympus ORF raw"), (0, b"IIRS", "Olympus ORF raw"), (0, b"IIU\x00", "Panasonic RW2 raw"),
    (0, b"FUJIFILMCCD-RAW", "Fujifilm RAF raw"),
    (0, b"II*\x00", "TIFF"), (0, b"MM\x00*", "TIFF"), (0, b"II+\x00", "BigTIFF"), (0, b"MM\x00+", "BigTIFF"),
    (0, b"BM", "BMP"),
    (0, b"v/1\x01", "OpenEXR"),
    (0, b"\xff\x0a", "JPEG XL"), (0, b"\x00\x00\x00\x0cJXL \r\n\x87\n", "JPEG XL"),
    (0, b"\x00\x00\x00\x0cjP  \r\n\x87\n", "JPEG 2000"), (0, b"\xff\x4f\xff\x51", "JPEG 2000"),
    (0, b"8BPS\x00\x01", "Photoshop PSD"), (0, b"8BPS\x00\x02", "Photoshop PSB"),
    (0, b"qoif", "QOI"), (0, b"DDS ", "DirectDraw Surface (DDS)"), (0, b"farbfeld", "farbfeld"),
    (0, b"#?RADIANCE", "Radiance HDR"), (0, b"#?RGBE", "Radiance HDR"),
    (0, b"BPG\xfb", "BPG"), (0, b"FLIF", "FLIF"), (0, b"gimp xcf", "GIMP XCF"),
    (0, b"\x00\x00\x01\x00", "Windows icon (ICO)"), (0, b"\x00\x00\x02\x00", "Windows cursor (CUR)"),
    (0, b"%PDF", "PDF document"), (0, b"\x1a\x45\xdf\xa3", "Matroska/WebM video"),
    (0, b"PK\x03\x04", "ZIP archive"), (0, b"\x1f\x8b", "gzip archive"),
]


def sniff_format(source: Path | bytes) -> str | None:
    """The format of an image file from its first bytes (64 are enough; a HEIF ftyp box may list more
    brands, so 256 are read from a path), or None when unknown."""
    head = source if isinstance(source, bytes) else _head(source, 256)
    if head[4:8] == b"ftyp":
        size = struct.unpack(">I", head[:4])[0]
        brands = [head[8:12]] + [head[i:i + 4] for i in range(16, min(size, len(head)) - 3, 4)]
        if head[8:12] in _ISO_BRANDS and head[8:12] not in (b"mif1", b"msf1"):
            return _ISO_BRANDS[head[8:12]]
        for brand in _BRAND_ORDER:
            if brand in brands:
                return _ISO_BRANDS[brand]
        return _ISO_BRANDS.get(head[8:12], "ISO media file (MP4 family)")
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "WebP"
    if head[:4] == b"RIFF" and head[8:12] == b"AVI ":
        return "AVI video"
    for offset, magic, name in _MAGIC:
        if head[offset:offset + len(magic)] == magic:
            return name
    if len(head) >= 3 and head[0:1] == b"P" and head[1:2] in b"1234567" and head[2:3] in b" \t\r\n":
        return {b"7": "PAM"}.get(head[1:2], "Netpbm (PBM/PGM/PPM)")
    text = head.lstrip()[:256].lower()
    if text.startswith(b"<svg") or (text.startswith(b"<?xml") and b"<svg" in text):
        return "SVG (vector drawing)"
    return None


def _head(path: Path, count: int) -> bytes:
    with open(path, "rb") as file:
        return file.read(count)


READABLE = {"PNG", "JPEG", "GIF", "TIFF", "BigTIFF", "BMP", "WebP", "AVIF", "HEIC", "HEIF", "OpenEXR"}


def unreadable_message(path: Path) -> str:
    """What to say of a file no reader opened: its format when the first bytes tell it."""
    name = sniff_format(path)
    if name is None:
        return f"not a readable image: {path}"
    if name in READABLE:
        return f"{path} is {_article(name)} {name} file but cannot be decoded (damaged or truncated?)"
    return f"{path} is {_article(name)} {name} file, which dreamvid cannot read"


def _article(name: str) -> str:
    word = name.split()[0].split("/")[0]
    acronym = word.isupper() or word[:-1].isupper()  # HEIC, MP4, SVG: said letter by letter
    return "an" if word[0] in "AEIOU" or (acronym and word[0] in "FHLMNRSX") else "a"


def reader_of(path: Path) -> str | None:
    """'heif' or 'exr' when this module should read the file (by content: an iPhone export named .jpg
    may be HEIC), else None (dreamvid's Pillow/OpenCV readers)."""
    name = sniff_format(path) if path.exists() else None
    if name is None:  # unknown content: the suffix decides
        suffix = path.suffix.lower()
        return "heif" if suffix in HEIF_SUFFIXES else "exr" if suffix in EXR_SUFFIXES else None
    if name.startswith(("HEIC", "HEIF")):
        return "heif"
    return "exr" if name == "OpenEXR" else None
