"""The video codecs dreamvid writes, as one table: which containers take each, the bit depths and alpha it
holds, the pixel format and encoder options it is written with. Plain data (no ffmpeg is run here), so the
planner checks an output's codec and container before any work, and the encoder reads the same table.

All four are in the ffmpeg that imageio-ffmpeg bundles. H.264 stays 8-bit (High 10 plays almost nowhere);
H.265 is Main 10 from a source of more than 8 bits, and tagged hvc1 in MP4 and QuickTime, the tag Apple's
players need; ProRes is 10-bit 422 HQ whatever the source, 4444 when there is alpha to keep; FFV1 is
lossless 4:4:4 at the source's own depth (8, 10, 12 or 16 bits), with alpha where there is any."""
from __future__ import annotations

from dataclasses import dataclass

from ..errors import UserError


@dataclass(frozen=True)
class Codec:
    name: str  # as --codec names it
    title: str  # as messages name it
    encoder: str  # ffmpeg's encoder
    containers: tuple[str, ...]  # output suffixes that take it; the first is a default output's and its chunks'
    depths: tuple[int, ...]  # bits per sample it is written with, lowest first
    alpha: bool  # it keeps an alpha channel
    crf: bool  # --crf sets its quality
    # Bytes of the encoded video per byte of 8-bit RGB frames, about, for the disk warning: measured on the
    # bundled clip's first 48 frames dreamed at 320x180 (H.264 and H.265 0.03 at --crf 18, ProRes 0.27,
    # FFV1 0.49; benchmarks/chunks.py had H.264 at 0.017), with a margin (busier dreams take more).
    size_ratio: float

    def depth(self, source_bits: int) -> int:
        """Bits per sample written for a source of `source_bits`: the source's where the codec has them, else
        the nearest above (ProRes: 10 from an 8-bit source) or, past its deepest, its deepest."""
        return next((bits for bits in self.depths if bits >= source_bits), self.depths[-1])

    def pixel_format(self, bits: int, alpha: bool = False) -> str:
        """ffmpeg's pixel format for `bits` per sample (one of `depths`), with alpha if the codec keeps it."""
        suffix = "" if bits == 8 else f"{bits}le"
        if self.name == "prores":
            return "yuva444p10le" if alpha else "yuv422p10le"
        if self.name == "ffv1":
            return f"yuv{'a' if alpha else ''}444p{suffix}"
        return f"yuv420p{suffix}"

    def profile(self, bits: int, alpha: bool = False) -> str:
        """The profile the file is written in, for the record."""
        if self.name == "prores":
            return "4444" if alpha else "422 HQ"
        if self.name == "ffv1":
            return "version 3"
        if self.name == "h265":
            return "main10" if bits == 10 else "main"
        return "high"

    def encoder_args(self, suffix: str, crf: int, bits: int, alpha: bool = False) -> list[str]:
        """ffmpeg's output options for the picture (after the filters), in a container of `suffix`."""
        args = ["-c:v", self.encoder, "-pix_fmt", self.pixel_format(bits, alpha)]
        if self.name == "h264":
            return args + ["-crf", str(crf)]
        if self.name == "h265":
            return args + ["-crf", str(crf), "-x265-params", "log-level=error"] + self.tag(suffix)
        if self.name == "prores":  # profile 3: 422 HQ, 4: 4444; apl0 as Apple's encoder marks it
            return args + ["-profile:v", "4" if alpha else "3", "-vendor", "apl0"]
        # FFV1 as archives write it: version 3, every frame a keyframe, a checksum per slice
        return args + ["-level", "3", "-g", "1", "-slicecrc", "1"]

    def tag(self, suffix: str) -> list[str]:
        """The codec tag a container needs (also when chunks are joined, which copies the stream)."""
        return ["-tag:v", "hvc1"] if self.name == "h265" and suffix in (".mp4", ".mov") else []


CODECS: dict[str, Codec] = {codec.name: codec for codec in (
    Codec("h264", "H.264", "libx264", (".mp4", ".mov", ".mkv", ".m4v"), (8,), alpha=False, crf=True, size_ratio=0.05),
    Codec("h265", "H.265", "libx265", (".mp4", ".mov", ".mkv"), (8, 10), alpha=False, crf=True,  # .m4v: no HEVC
          size_ratio=0.05),
    Codec("prores", "ProRes", "prores_ks", (".mov",), (10,), alpha=True, crf=False, size_ratio=0.4),
    Codec("ffv1", "FFV1", "ffv1", (".mkv", ".mov"), (8, 10, 12, 16), alpha=True, crf=False, size_ratio=0.7),
)}
DEFAULT_CODEC = "h264"


def check_codec_choice(name: str, crf_given: bool) -> None:
    """A known codec, and --crf only where it sets a quality (ProRes and FFV1 have no such knob: a --crf given
    with them would be silently ignored)."""
    if name not in CODECS:
        raise UserError(f"--codec must be one of {', '.join(CODECS)} (got {name!r})")
    if crf_given and not CODECS[name].crf:
        raise UserError(f"--crf sets the quality of H.264 and H.265: --codec {name} has none to set "
                        f"({'always 422 HQ, or 4444 with alpha' if name == 'prores' else 'always lossless'})")


def subsampling(pixel_format: str) -> tuple[int, int]:
    """(rows, columns) a picture's size must be a multiple of in `pixel_format`: 4:2:0 halves the chroma both
    ways, 4:2:2 across only, 4:4:4 not at all."""
    return (2, 2) if "420" in pixel_format else (1, 2) if "422" in pixel_format else (1, 1)
