"""One gradient-ascent step, the same on every backend, and the per-backend loops that compile it.

A step rolls the batch by a shift drawn on the host (so every backend takes the same ones), takes the
tiled gradient of the objective, normalises it per image by its standard deviation, and moves each pixel
by its image's step size times the per-pixel step map, clipped to the working range [-1, 1]. Only the
gradient and how the loop of steps is compiled differ by backend (steps_tensorflow.py, steps_jax.py,
steps_torch.py): each has a class `Ascent(features, layers, xla)` with

    ascend(image, shifts, count, step_size, step_map, tile, weights, guides) -> image   # `count` steps
    objective(image, weights, guides) -> np.ndarray                                   # untiled
    compiled() -> int                                         # programs compiled (traced) so far
"""
from __future__ import annotations

import importlib

import numpy as np
from keras import ops

# Steps per compiled call at most: the shifts of a call are an array of this length (padded), so that a
# compiled loop serves any number of steps up to it without compiling again.
MAX_CHUNK = 256


def step(image, gradient, step_size, step_map):
    """The update of one step, from the (un-rolled) gradient of the objective."""
    gradient = gradient / (ops.std(gradient, axis=(1, 2, 3), keepdims=True) + 1e-8)
    # A step map of ones (no map given) leaves every value as it was: x * 1.0 is exact.
    return ops.clip(image + step_size[:, None, None, None] * gradient * step_map, -1.0, 1.0)


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
