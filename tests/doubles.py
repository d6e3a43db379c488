"""The test doubles: dreamers where the model is not the point. Each has the Dreamer interface the runners use
(dream, features.precision, auto_tile) and is handed to the library as a dreamer: dreamvid.render(...,
dreamer=double), run_stills(job, double, ...), run_temporal(job, double, ...). None loads a framework.

- StubDreamer: a deterministic numpy function of each image and the step count, so renders resume,
  batch and split into segments as the real engine's do; StubFactory builds one in a Ray worker (it is
  picklable, and this folder is on the workers' PYTHONPATH)
- RecordingDreamer: keeps what each batch was asked for and adds ADDED to every pixel, so that the start
  image of a carried frame shows how much of the previous dream was carried
- Brighten: a RecordingDreamer that also checks it is handed the clipped picture, as the engine is
"""
from __future__ import annotations

import os
import time
from dataclasses import dataclass
from types import SimpleNamespace

import numpy as np

ADDED = 0.1  # what RecordingDreamer and Brighten add to every pixel


class UnknownStrength:
    """The engine's strength measures, unknown (NaN): the hold (dreamvid/hold.py) then takes every step."""

    def octave_shapes(self, height, width, params, top_octaves=None):
        return [(height, width)]

    def octave_strengths(self, images, params, top_octaves=None, where=None):
        return {images.shape[1:3]: np.full((len(images), 1), np.nan)}


class StubDreamer(UnknownStrength):
    features = SimpleNamespace(precision="float32")

    def __init__(self, delay: float = 0.0, log: str | None = None):
        self.delay, self.log = delay, log

    def auto_tile(self, batch: int) -> int:
        return 256

    def dream(self, images: np.ndarray, params, steps: int | None = None, step_map=None,
              top_octaves=None, held=None) -> np.ndarray:
        """Each image alone, as the engine promises: the same pixels whatever the batch (the step map and
        octaves of carried frames are the engine's business)."""
        steps = params.steps if steps is None else steps
        if self.delay:
            time.sleep(self.delay * len(images))
        if self.log:
            with open(self.log, "a") as log:
                log.write(f"{os.getpid()} {len(images)}\n")
        sizes = np.broadcast_to(np.asarray(params.step_size, np.float32).reshape(-1), (len(images),))
        out = images.astype(np.float32)
        for step in range(steps):  # the step sizes are scheduled per frame
            out = np.clip(out + 5 * sizes[:, None, None, None] * np.sin(9.0 * out[..., ::-1] + step + params.seed),
                          0.0, 1.0)
        return out


@dataclass(frozen=True)
class StubFactory:
    """Builds a StubDreamer in a worker, as cluster.ModelDreamer builds the real one."""

    delay: float = 0.0  # seconds per dreamed frame, so that a test can kill a worker mid-segment
    log: str | None = None  # a file every dream call appends its process and frame count to

    def __call__(self, cpus: int) -> StubDreamer:
        return StubDreamer(self.delay, self.log)


class RecordingDreamer(UnknownStrength):
    """Stands in for the engine: keeps what each batch was asked for (images, params, steps) and adds
    ADDED everywhere (clipped to [0, 1], as the engine's output is)."""

    def __init__(self):
        self.batches: list[tuple[np.ndarray, object, int]] = []
        self.features = SimpleNamespace(precision="float32")

    def auto_tile(self, batch: int) -> int:
        return 512

    def dream(self, images, params, steps=None, step_map=None, top_octaves=None, held=None):
        self.batches.append((images.copy(), params, steps))
        return np.clip(images + ADDED, 0.0, 1.0)


class Brighten(RecordingDreamer):
    """'Dreams' by adding ADDED, and checks that it sees the clipped picture (a float still's values
    outside [0, 1] are the runner's to keep, not the engine's to see)."""

    def dream(self, images, params, steps=None, step_map=None, top_octaves=None, held=None):
        assert images.min() >= 0 and images.max() <= 1  # the engine sees the clipped picture
        return super().dream(images, params, steps, step_map, top_octaves, held)
