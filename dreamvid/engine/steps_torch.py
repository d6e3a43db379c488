"""The step loop on PyTorch: eager, each tile's gradient from torch.autograd.grad, the network's own
weights frozen (no gradient is kept for them, and no graph outlives its step)."""
from __future__ import annotations

import numpy as np
import torch

from .objective import objective, region_totals
from .steps import held_share, held_step, step, tile_grid


class Ascent:
    def __init__(self, features, layers, xla: bool = False, guided: bool = False, lap_levels: int = 0):
        self.features, self.layers, self.lap_levels = features, tuple(layers), lap_levels
        features.model.trainable = False  # its variables need no gradient: only the picture's is taken

    def ascend(self, image, shifts: np.ndarray, count: int, step_size, step_map, tile: int, weights, guides=None):
        return self._steps(image, shifts, count, step_size, step_map, tile, weights, guides, None)

    def ascend_held(self, image, shifts: np.ndarray, count: int, step_size, step_map, tile: int, weights, guides,
                    carried, where, reference, share):
        return self._steps(image, shifts, count, step_size, step_map, tile, weights, guides,
                           (carried, where, reference, share))

    def _steps(self, image, shifts, count, step_size, step_map, tile, weights, guides, held):
        height, width = image.shape[1:3]
        tiles = tile_grid(height, width, tile)
        if held is not None:
            carried, where, reference, share = held
            mass = torch.sum(where, dim=(1, 2, 3))
        for dy, dx in shifts[:count].tolist():
            rolled = torch.roll(image, shifts=(dy, dx), dims=(1, 2))
            rolled_where = None if held is None else torch.roll(where, shifts=(dy, dx), dims=(1, 2))
            gradient = torch.zeros_like(rolled)
            totals = torch.zeros((rolled.shape[0], len(self.layers)), device=rolled.device)
            for top, bottom, left, right in tiles:
                part = rolled[:, top:bottom, left:right].detach().requires_grad_(True)
                features = self._features(part)
                loss = torch.sum(objective(features, self.layers, weights, guides))
                gradient[:, top:bottom, left:right] = torch.autograd.grad(loss, part)[0]
                if held is not None:
                    with torch.no_grad():
                        totals += region_totals(features, self.layers, rolled_where[:, top:bottom, left:right],
                                                _upsample)
            with torch.no_grad():
                gradient = torch.roll(gradient, shifts=(-dy, -dx), dims=(1, 2))
                if held is None:
                    image = step(image, gradient, step_size, step_map, self.lap_levels)
                else:
                    share = held_share(totals, mass, weights, reference, share)
                    image = held_step(image, gradient, step_size, step_map, carried, share, self.lap_levels)
        return image if held is None else (image, share)

    def compiled(self) -> int:
        """Eager: nothing is compiled."""
        return 0

    def objective(self, image, weights, guides=None) -> np.ndarray:
        with torch.no_grad():
            return self._objective(image, weights, guides).cpu().numpy()

    def _objective(self, image, weights, guides):
        return objective(self._features(image), self.layers, weights, guides)

    def _features(self, image):
        return self.features.model(self.features.preprocess(image), training=False)


def _upsample(response, like):
    return torch.nn.functional.interpolate(response.permute(0, 3, 1, 2), size=tuple(like.shape[1:3]),
                                           mode="bilinear", align_corners=False).permute(0, 2, 3, 1)
