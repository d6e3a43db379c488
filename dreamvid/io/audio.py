"""The loudness of a video's soundtrack, one value in [0, 1] per frame, for schedules that follow the
sound (`--step-size "audio:0.005..0.03"`). Decoding goes through the bundled ffmpeg; the rest is pure
numpy, so tests need no model."""
from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Sequence

import numpy as np

from ..errors import DreamvidError
from .ffmpeg import ffmpeg_exe, ffmpeg_path

RATE = 8000  # samples per second: plenty for a loudness envelope, small for a feature film
# The envelope is a moving average over about this long, so single drum hits do not flicker the dream.
SMOOTH_SECONDS = 0.2
# Loudness at these percentiles maps to 0 and 1: a few extreme frames do not squash the rest.
LOW_PERCENTILE, HIGH_PERCENTILE = 5, 95
# The span mapped onto the whole range is at least this share of the loud level, so that a steady sound
# (whose RMS wobbles by a percent or two) stays steady instead of having its wobble stretched to 0..1.
MIN_SPAN = 0.25


def decode(path: Path) -> np.ndarray:
    """The first audio stream, mono float32 at RATE, from the file's time zero (a soundtrack that
    starts later is preceded by silence)."""
    result = subprocess.run([ffmpeg_exe(), "-hide_banner", "-nostdin", "-v", "error",
                             "-i", ffmpeg_path(path), "-map", "0:a:0", "-vn", "-ac", "1", "-ar", str(RATE),
                             # silence before a soundtrack that starts late, so sample k is at k / RATE s
                             "-af", "aresample=async=1:first_pts=0", "-f", "f32le", "pipe:1"], capture_output=True)
    if result.returncode != 0:
        reason = result.stderr.decode(errors="replace").strip().splitlines()[-1:] or ["no reason given"]
        raise DreamvidError(f"cannot decode the audio of {path}: {reason[0]}")
    return np.frombuffer(result.stdout, np.float32)


def frame_loudness(samples: np.ndarray, bounds: Sequence[float], rate: int = RATE) -> np.ndarray:
    """RMS of the samples within each frame's time window [bounds[k], bounds[k + 1]) seconds; a frame
    beyond the end of the audio is silent."""
    edges = np.clip(np.rint(np.asarray(bounds, np.float64) * rate).astype(np.int64), 0, len(samples))
    starts, ends = edges[:-1], np.maximum(edges[1:], edges[:-1] + 1)
    energy = np.concatenate([[0.0], np.cumsum(np.asarray(samples, np.float64) ** 2)])
    ends = np.minimum(ends, len(samples))
    sums = energy[ends] - energy[np.minimum(starts, ends)]
    return np.sqrt(sums / np.maximum(ends - starts, 1))


def smooth(values: np.ndarray, width: int) -> np.ndarray:
    """Centred moving average over `width` frames (made odd), the ends padded with their own values."""
    half = max(0, int(width) // 2)
    if half == 0 or len(values) == 0:
        return np.asarray(values, np.float64)
    padded = np.pad(np.asarray(values, np.float64), half, mode="edge")
    return np.convolve(padded, np.ones(2 * half + 1) / (2 * half + 1), mode="valid")


def normalise(values: np.ndarray) -> np.ndarray:
    """Map loudness to [0, 1] between its LOW and HIGH percentiles (at least MIN_SPAN of the HIGH one
    apart); silence throughout is all 0."""
    low, high = np.percentile(values, [LOW_PERCENTILE, HIGH_PERCENTILE]) if len(values) else (0.0, 0.0)
    if high <= 1e-9:
        return np.zeros(len(values))
    return np.clip((np.asarray(values) - low) / max(high - low, MIN_SPAN * high), 0.0, 1.0)


def envelope(path: Path, times: Sequence[float], end_time: float, fps: float) -> list[float]:
    """The smoothed, normalised loudness of each frame, whose starts are `times` (seconds, as the
    video's own timestamps; the last frame ends at `end_time`)."""
    loudness = frame_loudness(decode(path), [*times, end_time])
    return [round(float(value), 6) for value in normalise(smooth(loudness, round(SMOOTH_SECONDS * fps)))]


def sound_envelope(source) -> list[float]:
    """The loudness of a video source's soundtrack per frame, in [0, 1] (`source` is a sources.VideoSource)."""
    info = source.info
    times = list(info.times) or [float(k / info.fps) for k in range(info.frame_count)]
    end = info.end_time if info.end_time is not None else float(info.frame_count / info.fps)
    return envelope(info.path, times, end, float(info.fps))
