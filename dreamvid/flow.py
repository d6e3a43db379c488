"""Motion between source frames: DIS optical flow, warping, occlusion mask and cut detection.

The previous frame's dream is carried into the current one along the flow of the *source* frames,
and only where that flow can be trusted; a scene cut restarts the dream.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

import cv2
import numpy as np

PRESETS = {
    "ultrafast": cv2.DISOPTICAL_FLOW_PRESET_ULTRAFAST,
    "fast": cv2.DISOPTICAL_FLOW_PRESET_FAST,
    "medium": cv2.DISOPTICAL_FLOW_PRESET_MEDIUM,
}
# Mean absolute HSV difference (0..255, as PySceneDetect's content detector, whose default is also
# 27) between the current frame and the previous one warped onto it. Motion compensation keeps pans
# low (under 10 for shifts up to 8 px of a 96 px texture) while a hard cut scores 40 or more.
DEFAULT_CUT_THRESHOLD = 27.0
# Second cut signal: when less than this share of the frame has a consistent flow, nothing useful
# can be carried over, as after a cut between shots of similar colours.
DEFAULT_MIN_RELIABLE = 0.3
CUT_SCORE_WIDTH = 64
# How the carried dream is warped: it is warped again every frame, so the interpolation's effect on fine
# detail compounds. 30 warps by 0.37 px keep 20% of the high-frequency energy with bilinear, 238% with
# OpenCV's bicubic (its overshoot sharpens), 90% with Lanczos (tests/test_motion.py).
CARRY_INTERPOLATION = cv2.INTER_LANCZOS4
# Step size of a carried frame's pixels, relative to --step-size (benchmarks/carry_policies.py): carried
# pixels take CARRIED_GAIN (a carried dream weaker than a fresh one counts as partly fresh, see
# `freshness`), pixels the flow could not carry take FRESH_GAIN to catch up. On benchmarks/motion.py
# --quick, fast pan, strength and warping error against --no-flow: 5 -> 0.89x, 0.28x; 6 -> 0.92x,
# 0.31x; 7 -> 0.95x, 0.32x; 10 -> 0.93x, 0.34x.
CARRIED_GAIN, FRESH_GAIN = 1.0, 7.0
# A fresh dream's delta has an RMS of about 0.5 x steps x step size / 2 x octaves ** 0.65 (measured on
# vgg16-hed, 48x32 to 320x136, 1 to 3 octaves, 5 to 10 steps: within 20%). Over hundreds of frames a
# carried dream keeps growing past it, so the carried delta is held to DELTA_LIMIT times that. On
# benchmarks/motion.py --quick (slow pan: strength vs --no-flow, its growth from the first 50 frames to
# the last 50; crossing: strength): 1.5 -> 1.30x, 1.21x, 0.94x; 1.1 -> 1.20x, 1.09x, 0.93x; 1.0 -> 1.09x,
# 1.06x, 0.88x. 1.1 is the loosest that keeps the growth within 10%.
DELTA_LIMIT = 1.1


@dataclass(frozen=True)
class Motion:
    """How the current frame relates to the previous one."""

    backward: np.ndarray  # HxWx2 float32: for each current pixel, its offset in the previous frame
    mask: np.ndarray  # HxW float32 in [0, 1]: 1 = carry the previous dream, 0 = dream afresh
    cut: bool  # True when previous -> current is a scene cut (the mask is then all zero)


@lru_cache(maxsize=8)
def _grid(height: int, width: int) -> np.ndarray:
    """Pixel coordinates (x, y) as an HxWx2 float32 array, shared and read-only."""
    ys, xs = np.indices((height, width), dtype=np.float32)
    grid = np.dstack([xs, ys])
    grid.flags.writeable = False
    return grid


def warp(image: np.ndarray, backward: np.ndarray, interpolation: int = cv2.INTER_LINEAR) -> np.ndarray:
    """Bring the previous frame's content into the current frame: out(x) = image(x + backward(x)).

    Bilinear sampling is a small blur at sub-pixel offsets: fine once, but what is warped again every
    frame (the carried dream) wants `interpolation` = CARRY_INTERPOLATION."""
    height, width = backward.shape[:2]
    coords = _grid(height, width) + backward
    return cv2.remap(image, coords, None, interpolation, borderMode=cv2.BORDER_REPLICATE)


def catch_up(fresh: np.ndarray, blend: float, octaves: int = 0, all_octaves: int = 0,
             hold: float = 1.0) -> np.ndarray:
    """The step size per pixel of a carried frame (a factor on --step-size), from how fresh each pixel is
    (1 - mask x blend): carried pixels take CARRIED_GAIN, more when the frame dreams only the largest
    `octaves` of `all_octaves` (its steps at the others are missing), times `hold` (the share of its step
    that a carried dream still needs to reach its shot's fresh strength, dreamvid/hold.py), pixels the flow
    could not carry FRESH_GAIN. With no blend nothing is carried and every pixel is dreamed as in a fresh
    frame."""
    if blend <= 0.0:
        return np.ones_like(fresh, dtype=np.float32)
    carried = CARRIED_GAIN * math.sqrt(all_octaves / octaves) if 0 < octaves < all_octaves else CARRIED_GAIN
    unreliable = _unreliable(fresh, blend)
    base = hold * carried  # at hold 1 exactly the expression from before the hold
    return (base + (max(FRESH_GAIN, carried) - base) * unreliable).astype(np.float32)


def carried_share(fresh: np.ndarray, blend: float) -> np.ndarray:
    """How much of each pixel of a carried frame is carried dream rather than fresh (1 - catch_up's
    unreliable share): where a carried frame's strength is measured."""
    if blend <= 0.0:
        return np.zeros_like(fresh, dtype=np.float32)
    return (1.0 - _unreliable(fresh, blend)).astype(np.float32)


def _unreliable(fresh: np.ndarray, blend: float) -> np.ndarray:
    """The share of each pixel that the flow could not carry (a freshness of 1 - blend is fully carried)."""
    return np.clip((fresh - (1.0 - blend)) / blend, 0.0, 1.0)


def dream_rms(steps: int, step_size: float, octaves: int) -> float:
    """About the RMS (in [0, 1] units) of what a fresh dream adds to a frame."""
    return 0.5 * steps * step_size / 2 * max(octaves, 1) ** 0.65


def rms(delta: np.ndarray, where: np.ndarray | None = None) -> float:
    """Root mean square, over the pixels `where` holds (H x W booleans) if given (none: 0)."""
    if where is None:
        return float(np.sqrt(np.mean(np.square(delta))))
    picked = delta[where]
    return float(np.sqrt(np.mean(np.square(picked)))) if picked.size else 0.0


def limited(delta: np.ndarray, limit: float, where: np.ndarray | None = None) -> np.ndarray:
    """`delta` scaled down to an RMS (over `where`) of `limit` where it is larger, so a long shot's dream
    cannot drift."""
    size = rms(delta, where)
    return delta * (limit / size) if size > limit > 0.0 else delta


def freshness(mask: np.ndarray, blend: float, strength: float) -> np.ndarray:
    """How much of a fresh dream each pixel of a carried frame lacks, 0..1: 1 - mask x blend x strength,
    where `strength` is the carried dream's RMS over a fresh dream's (at most 1). A dream weakened by
    fast motion (young pixels, many occlusions) thus counts as partly fresh everywhere, and catches up."""
    return (1.0 - mask * (blend * min(max(strength, 0.0), 1.0))).astype(np.float32)


def consistency_mask(forward: np.ndarray, backward: np.ndarray) -> np.ndarray:
    """Forward-backward check (Sundaram et al. 2010, Ruder et al. 2016) in current-frame coordinates.

    A current pixel x is reliable when following backward(x) into the previous frame and then the
    forward flow there brings it back to x, and x + backward(x) lies inside the frame. Pixels newly
    revealed by a moving object fail the round trip and get 0.
    """
    height, width = backward.shape[:2]
    coords = _grid(height, width) + backward
    forward_there = cv2.remap(forward, coords, None, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    round_trip = np.sum((backward + forward_there) ** 2, axis=2)
    magnitudes = np.sum(backward**2, axis=2) + np.sum(forward_there**2, axis=2)
    consistent = round_trip <= 0.01 * magnitudes + 0.5
    x, y = coords[..., 0], coords[..., 1]
    inside = (x >= 0) & (x <= width - 1) & (y >= 0) & (y <= height - 1)
    return (consistent & inside).astype(np.float32)


def cut_score(prev_rgb: np.ndarray, cur_rgb: np.ndarray, backward: np.ndarray | None = None) -> float:
    """Mean absolute difference of hue, saturation and value on ~64 px wide copies (0..255).

    Given the backward flow, the previous frame is first warped onto the current one, so that
    motion alone does not look like a change of scene.
    """
    if backward is not None:
        prev_rgb = warp(prev_rgb, backward)
    height, width = prev_rgb.shape[:2]
    size = (CUT_SCORE_WIDTH, max(1, round(height * CUT_SCORE_WIDTH / width)))

    def small_hsv(rgb: np.ndarray) -> np.ndarray:
        small = cv2.resize(rgb, size, interpolation=cv2.INTER_AREA)
        return cv2.cvtColor(small, cv2.COLOR_RGB2HSV).astype(np.float32)

    return float(np.mean(np.abs(small_hsv(prev_rgb) - small_hsv(cur_rgb))))


def is_cut(
    prev_rgb: np.ndarray,
    cur_rgb: np.ndarray,
    backward: np.ndarray | None = None,
    mask: np.ndarray | None = None,
    threshold: float = DEFAULT_CUT_THRESHOLD,
    min_reliable: float = DEFAULT_MIN_RELIABLE,
) -> bool:
    """A cut when the colours jump (cut_score >= threshold) or, given a mask, too little is reliable."""
    if mask is not None and float(mask.mean()) < min_reliable:
        return True
    return cut_score(prev_rgb, cur_rgb, backward) >= threshold


class MotionEstimator:
    """DIS flow both ways plus the mask and cut decision; not thread-safe, use one per thread."""

    def __init__(
        self,
        preset: str = "medium",
        cut_threshold: float = DEFAULT_CUT_THRESHOLD,
        min_reliable: float = DEFAULT_MIN_RELIABLE,
        max_side: int | None = None,
    ) -> None:
        if preset not in PRESETS:
            raise ValueError(f"unknown DIS preset {preset!r}; choose one of {sorted(PRESETS)}")
        self._dis = cv2.DISOpticalFlow_create(PRESETS[preset])
        self.cut_threshold = cut_threshold
        self.min_reliable = min_reliable
        self.max_side = max_side  # compute flow on a copy this large at most, then scale it up

    def flow(self, from_gray: np.ndarray, to_gray: np.ndarray) -> np.ndarray:
        """Dense flow with from(x) ~ to(x + flow(x)), in full-resolution pixels."""
        height, width = from_gray.shape
        if not self.max_side or max(height, width) <= self.max_side:
            return self._dis.calc(from_gray, to_gray, None)
        scale = self.max_side / max(height, width)
        size = (max(1, round(width * scale)), max(1, round(height * scale)))
        small = [cv2.resize(gray, size, interpolation=cv2.INTER_AREA) for gray in (from_gray, to_gray)]
        flow = cv2.resize(self._dis.calc(*small, None), (width, height), interpolation=cv2.INTER_LINEAR)
        return flow * np.float32([width / size[0], height / size[1]])

    def estimate(self, prev_rgb: np.ndarray, cur_rgb: np.ndarray) -> Motion:
        """Motion from the previous source frame to the current one (RGB uint8, same size)."""
        if prev_rgb.shape != cur_rgb.shape:
            raise ValueError(f"frame sizes differ: {prev_rgb.shape} vs {cur_rgb.shape}")
        prev_gray = cv2.cvtColor(prev_rgb, cv2.COLOR_RGB2GRAY)
        cur_gray = cv2.cvtColor(cur_rgb, cv2.COLOR_RGB2GRAY)
        forward = self.flow(prev_gray, cur_gray)
        backward = self.flow(cur_gray, prev_gray)
        mask = consistency_mask(forward, backward)
        if is_cut(prev_rgb, cur_rgb, backward, mask, self.cut_threshold, self.min_reliable):
            return Motion(backward=backward, mask=np.zeros_like(mask), cut=True)
        return Motion(backward=backward, mask=mask, cut=False)
