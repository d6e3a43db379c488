"""The names of what a work folder holds: a piece (one finished frame, lossless; a warm-up frame of the
segment after it is a `warm_` piece) and a chunk (the finished frames [a, b) encoded, in the container of
its codec: .mp4 for H.264 and H.265, .mov for ProRes, .mkv for FFV1). Pure names: no files."""
from __future__ import annotations

import re

CHUNK_SUFFIX = ".mp4"
_CHUNK = re.compile(r"chunk_(\d+)-(\d+)\.(?:mp4|mov|mkv)")


def piece_name(index: int, warm: bool = False) -> str:
    return f"{'warm' if warm else 'frame'}_{index:06d}.png"


def chunk_name(a: int, b: int, suffix: str = CHUNK_SUFFIX) -> str:
    return f"chunk_{a:06d}-{b:06d}{suffix}"


def parse_chunk(name: str) -> tuple[int, int] | None:
    """The [a, b) range of a chunk's file name; None for any other name (a piece, a partial file)."""
    match = _CHUNK.fullmatch(name)
    return (int(match.group(1)), int(match.group(2))) if match else None
