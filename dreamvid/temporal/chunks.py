"""Chunks: a video render's finished frames wait on disk encoded, a few seconds per file, instead of one
lossless image each, so the work folder stays about the size of the output video. Chunks are laid out in
each segment's kept range (segments are dreamed side by side, so a chunk must not wait for the segment
after it), and the output is their lossless join. Pure names and arithmetic: no files, no encoder."""
from __future__ import annotations

from fractions import Fraction
from typing import Iterable

# Seconds of output per chunk. Every chunk starts on a keyframe, and its frames wait as PNGs until the last
# one is dreamed: shorter chunks mean fewer PNGs per segment being dreamed, longer ones fewer keyframes.
# Measured on the bundled clip (benchmarks/chunks.py), the joined video against one encode: dreamed at
# 320x180, 5% larger with 1 s chunks, 2% with 2 s, 1% with 4 s; undreamed at 1280x720, 17%, 6% and 5%.
# Meanwhile a chunk's PNGs (50 at 25 fps) take 6 MB at 320x180, 75 MB at 1280x720, per segment dreamed.
CHUNK_SECONDS = 2.0
SHORTEST = 3


def chunk_frames(fps: Fraction | float) -> int:
    """Frames per chunk at a frame rate."""
    return max(1, round(CHUNK_SECONDS * float(fps)))


def plan_chunks(segments: Iterable, length: int) -> tuple[tuple[int, int], ...]:
    """[a, b) ranges of `length` frames laid out from each segment's start, so that a chunk does not wait
    for the segment after it. A chunk shorter than SHORTEST (a segment's tail, a short shot) joins the
    chunk before it (the first one joins the next): x264 delays the decode times of a stream with B-frames
    by two frames, but of a shorter one by less, and the join needs every chunk's delay the same."""
    grid = [[a, min(a + length, segment.end)] for segment in segments for a in range(segment.start, segment.end, length)]
    merged: list[list[int]] = []
    for chunk in grid:
        if merged and (chunk[1] - chunk[0] < SHORTEST or merged[-1][1] - merged[-1][0] < SHORTEST):
            merged[-1][1] = chunk[1]
        else:
            merged.append(chunk)
    return tuple((a, b) for a, b in merged)
