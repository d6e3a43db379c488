"""A dreamer where the model is not the point: a deterministic numpy function of each image and the
step count, with the Dreamer interface (dream, features.precision, auto_tile). Its factory is picklable,
so Ray workers build it in their own process (this folder must be on their PYTHONPATH)."""
from __future__ import annotations

import os
import time
from dataclasses import dataclass
from types import SimpleNamespace

import numpy as np


class StubDreamer:
    features = SimpleNamespace(precision="float32")

    def __init__(self, delay: float = 0.0, log: str | None = None):
        self.delay, self.log = delay, log

    def auto_tile(self, batch: int) -> int:
        return 256

    def dream(self, images: np.ndarray, params, steps: int | None = None, step_map=None,
              top_octaves=None) -> np.ndarray:
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
