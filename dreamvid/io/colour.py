"""How a video's samples map to colours: the tags a file carries (matrix, primaries, transfer, depth),
the matrix to decode it with, and the tags and conversion an output gets, so a player that honours
the tags sees the source's colours again."""
from __future__ import annotations

from dataclasses import dataclass


# Colour tags as ffmpeg names them, which its setparams filter can write back.
PRIMARIES = {"bt709", "bt470m", "bt470bg", "smpte170m", "smpte240m", "film", "bt2020", "smpte428", "smpte431",
              "smpte432", "jedec-p22"}


TRANSFERS = {"bt709", "gamma22", "gamma28", "smpte170m", "smpte240m", "linear", "log100", "log316",
              "iec61966-2-4", "bt1361e", "iec61966-2-1", "bt2020-10", "bt2020-12", "smpte2084", "smpte428",
              "arib-std-b67"}


# Matrix coefficients -> the name ffmpeg's scale filter takes for the RGB <-> YUV conversion.
MATRICES = {"bt709": "bt709", "bt470bg": "bt601", "smpte170m": "smpte170m", "fcc": "fcc",
             "smpte240m": "smpte240m", "bt2020nc": "bt2020", "bt2020c": "bt2020"}


HDR_TRANSFERS = {"smpte2084", "arib-std-b67"}


# Untagged pictures taller than SD are taken as BT.709, as players do.
HD_HEIGHT = 720


@dataclass(frozen=True)
class Colour:
    """How a picture's samples map to colours, as the file is tagged (None: not tagged)."""

    matrix: str | None = None  # matrix coefficients, e.g. bt709, bt2020nc
    primaries: str | None = None
    transfer: str | None = None
    bits: int = 8  # per sample, as stored

    @property
    def hdr(self) -> bool:
        return self.transfer in HDR_TRANSFERS


def decode_matrix(colour: Colour, height: int) -> str:
    """The matrix to turn the stored YUV into RGB: the tagged one, else BT.709 for HD and BT.601 below."""
    if colour.matrix in MATRICES:
        return MATRICES[colour.matrix]
    return "bt709" if height >= HD_HEIGHT else "bt601"


def output_colour(source: Colour | None, height: int) -> Colour:
    """The colour tags an output gets: the source's where known, else BT.709 for HD and BT.601 below (its
    depth is the codec's business: VideoSink)."""
    source = source or Colour()
    if source.matrix in MATRICES:
        return Colour(source.matrix, source.primaries if source.primaries in PRIMARIES else None,
                      source.transfer if source.transfer in TRANSFERS else None)
    if height >= HD_HEIGHT:
        return Colour("bt709", "bt709", "bt709")
    return Colour("smpte170m", source.primaries if source.primaries in PRIMARIES else None,
                  source.transfer if source.transfer in TRANSFERS else None)


def colour_warning(source: Colour, bits: int = 8, codec: str = "H.264") -> str | None:
    """What a user should know when the output cannot look like the source (written at `bits` per sample)."""
    notes = []
    if source.bits > bits:
        deeper = " (--codec h265, prores or ffv1 keeps 10 bits)" if bits == 8 else ""
        notes.append(f"{source.bits}-bit source written as {bits}-bit {codec}{deeper}")
    if source.hdr:
        notes.append(f"HDR ({source.transfer}) is dreamed on its coded values and tagged {source.transfer} again, "
                     "without tone mapping")
    if source.matrix and source.matrix not in MATRICES:
        notes.append(f"colour matrix {source.matrix} is not supported; the output is tagged as a standard one")
    return "; ".join(notes) or None


def encode_filters(colour: Colour, pixel_format: str = "yuv420p") -> str:
    """RGB -> YUV with the matrix the output is tagged with, so a decoder that honours the tags gets the colours
    back (ffmpeg's default would convert with BT.601 and tag nothing)."""
    tags = [f"colorspace={colour.matrix}", "range=tv"]
    tags += [f"color_primaries={colour.primaries}"] if colour.primaries else []
    tags += [f"color_trc={colour.transfer}"] if colour.transfer else []
    return (f"scale=out_color_matrix={MATRICES[colour.matrix]}:out_range=tv,format={pixel_format},setsar=1,"
            f"setparams={':'.join(tags)}")
