"""The step loop on PyTorch: eager, each tile's gradient from torch.autograd.grad, the network's own
weights frozen (no gradient is kept for them, and no graph outlives its step)."""
from __future__ import annotations

import numpy as np
import torch

from .objective import objective
from .steps import step, tile_grid


class Ascent:
    def __init__(self, features, layers, xla: bool = False, guided: bool = False, lap_levels: int = 0):
        self.features, self.layers, self.lap_levels = features, tuple(layers), lap_levels
        features.model.trainable = False  # its variables need no gradient: only the picture's is taken

    def ascend(self, image, shifts: np.ndarray, count: int, step_size, step_map, tile: int, weights, guides=None):
        height, width = image.shape[1:3]
        tiles = tile_grid(height, width, tile)
        for dy, dx in shifts[:count].tolist():
            rolled = torch.roll(image, shifts=(dy, dx), dims=(1, 2))
            gradient = torch.zeros_like(rolled)
            for top, bottom, left, right in tiles:
                part = rolled[:, top:bottom, left:right].detach().requires_grad_(True)
                loss = torch.sum(self._objective(part, weights, guides))
                gradient[:, top:bottom, left:right] = torch.autograd.grad(loss, part)[0]
            with torch.no_grad():
                gradient = torch.roll(gradient, shifts=(-dy, -dx), dims=(1, 2))
                image = step(image, gradient, step_size, step_map, self.lap_levels)
        return image

    def compiled(self) -> int:
        """Eager: nothing is compiled."""
        return 0

    def objective(self, image, weights, guides=None) -> np.ndarray:
        with torch.no_grad():
            return self._objective(image, weights, guides).cpu().numpy()

    def _objective(self, image, weights, guides):
        features = self.features.model(self.features.preprocess(image), training=False)
        return objective(features, self.layers, weights, guides)
