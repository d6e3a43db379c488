"""One gradient-ascent step, the same on every backend, and the per-backend loops that compile it.

A step rolls the batch by a shift drawn on the host (so every backend takes the same ones), takes the
tiled gradient of the objective, normalises it per image by its standard deviation, and moves each pixel
by its image's step size times the per-pixel step map, clipped to the working range [-1, 1]. Only the
gradient and how the loop of steps is compiled differ by backend (steps_tensorflow.py, steps_jax.py,
steps_torch.py): each has a class `Ascent(features, layers, xla, guided, lap_levels)` with

    ascend(image, shifts, count, step_size, step_map, tile, weights, guides) -> image   # `count` steps
    (`guides`: with a guide, its unit channel profile per layer at the image's size; else None)
    objective(image, weights, guides) -> np.ndarray                                   # untiled
    compiled() -> int                                         # programs compiled (traced) so far
    ascend_held(image, shifts, count, step_size, step_map, tile, weights, guides, carried, where, reference,
                share) -> (image, share)

`ascend_held` is `ascend` for a carried frame under --hold-strength (dreamvid/hold.py): its carried pixels
step by `share` x `carried` on top of `step_map`, each image's share measured, where it is given as
negative, from the forward pass of the first step (held_share), so that the hold costs no pass of its own.
"""
from __future__ import annotations

import importlib

import numpy as np
from keras import ops

from ..hold import share as hold_share

# Steps per compiled call at most: the shifts of a call are an array of this length (padded), so that a
# compiled loop serves any number of steps up to it without compiling again.
MAX_CHUNK = 256


def step(image, gradient, step_size, step_map, lap_levels: int = 0):
    """The update of one step, from the (un-rolled) gradient of the objective; with `lap_levels`, the
    gradient is first normalised band by band of its Laplacian pyramid (lap_normalize)."""
    if lap_levels:
        gradient = lap_normalize(gradient, lap_levels)
    gradient = gradient / (ops.std(gradient, axis=(1, 2, 3), keepdims=True) + 1e-8)
    # A step map of ones (no map given) leaves every value as it was: x * 1.0 is exact.
    return ops.clip(image + step_size[:, None, None, None] * gradient * step_map, -1.0, 1.0)


def held_share(totals, mass, weights, reference, share):
    """Each image's share of its carried step [batch]: `share` where it is known (>= 0), else measured:
    the strength over the carried region (objective.region_totals over `mass` = sum of its weights,
    weighted by the layer weights) against the image's `reference` (the same, of its shot's fresh dream at
    this octave's size; <= 0: none, a plain step)."""
    strength = ops.sum(weights * totals, axis=1) / ops.maximum(mass, 1e-12)
    usable = (reference > 0.0) & (mass > 0.0) & ops.isfinite(strength)
    measured = ops.where(usable, hold_share(strength / ops.where(usable, reference, 1.0), ops.clip), 1.0)
    return ops.where(share < 0.0, measured, share)


def held_step(image, gradient, step_size, step_map, carried, share, lap_levels: int = 0):
    """`step` with the carried pixels' part of the step map scaled by each image's share."""
    return step(image, gradient, step_size, step_map + share[:, None, None, None] * carried, lap_levels)


# The 5x5 binomial filter of the original DeepDream notebook's Laplacian pyramid, one per colour channel.
_BINOMIAL = np.outer(*[np.float32([1, 4, 6, 4, 1])] * 2)
_PYRAMID_KERNEL = (_BINOMIAL / _BINOMIAL.sum())[:, :, None, None] * np.eye(3, dtype=np.float32)


def lap_normalize(gradient, levels: int):
    """The Laplacian-pyramid normalisation of the original DeepDream notebook (Mordvintsev et al. 2015):
    the gradient split into `levels` frequency bands, each scaled to unit RMS per image, merged again,
    so that the low frequencies count as much as the fine ones: smoother, larger patterns."""
    kernel = ops.convert_to_tensor(_PYRAMID_KERNEL)
    bands, low = [], gradient
    for _ in range(levels):
        smaller = ops.conv(low, kernel, strides=2, padding="same")
        bands.append(low - _up(smaller, kernel, low))
        low = smaller
    merged = _unit_rms(low)
    for band in reversed(bands):
        merged = _up(merged, kernel, band) + _unit_rms(band)
    return merged


def _up(small, kernel, like):
    """`small` brought back to the size of `like` (a transposed convolution, cropped where it was odd)."""
    grown = ops.conv_transpose(small, kernel * 4.0, strides=2, padding="same")
    return grown[:, :ops.shape(like)[1], :ops.shape(like)[2], :]


def _unit_rms(band):
    return band / ops.maximum(ops.sqrt(ops.mean(ops.square(band), axis=(1, 2, 3), keepdims=True)), 1e-10)


def tile_grid(height: int, width: int, tile: int) -> list[tuple[int, int, int, int]]:
    """(top, bottom, left, right) of near-equal tiles no larger than `tile` covering the frame. The random
    roll before each gradient moves their borders every step, so no seam builds up."""
    rows, cols = -(-height // tile), -(-width // tile)
    tile_h, tile_w = -(-height // rows), -(-width // cols)
    return [(r * tile_h, min(height, (r + 1) * tile_h), c * tile_w, min(width, (c + 1) * tile_w))
            for r in range(rows) for c in range(cols)]


def roll_shifts(seed: int, octave: int, first: int, count: int, jitter: int) -> np.ndarray:
    """The (dy, dx) roll of steps [first, first + count) of an octave, in [-jitter, jitter], drawn from the
    step's own index, so a loop split into calls of any length rolls the same, on every backend."""
    if jitter <= 0:
        return np.zeros((count, 2), np.int32)
    return np.stack([np.random.default_rng([seed, octave, index]).integers(-jitter, jitter + 1, 2)
                     for index in range(first, first + count)]).astype(np.int32)


def padded(shifts: np.ndarray) -> np.ndarray:
    """The shifts of a call as a MAX_CHUNK-long array (the loop reads only the first `count`)."""
    out = np.zeros((MAX_CHUNK, 2), np.int32)
    out[:len(shifts)] = shifts
    return out


def ascent_for(backend: str):
    """The Ascent class of a backend (its module is imported only now)."""
    return importlib.import_module(f".steps_{backend}", __package__).Ascent
