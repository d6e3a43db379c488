"""The step loop on JAX: jax.jit over a fori_loop of steps, the network called with stateless_call on its
variables (arguments, not constants baked into the program). The shifts are a fixed-length array and the
step count a traced scalar, so one compiled program serves every call of a frame size, batch and tile;
compiled programs are kept in JAX's persistent cache (device.configure), so a second run compiles nothing."""
from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from .objective import objective
from .steps import padded, step, tile_grid


class Ascent:
    def __init__(self, features, layers, xla: bool = True, guided: bool = False, lap_levels: int = 0):
        self.features, self.layers, self.lap_levels = features, tuple(layers), lap_levels
        model = features.model
        self._variables = ([v.value for v in model.trainable_variables],
                           [v.value for v in model.non_trainable_variables])
        self._loop = jax.jit(self._loop_fn, static_argnames=("tile",))
        self._objective = jax.jit(self._objective_fn)

    def ascend(self, image, shifts: np.ndarray, count: int, step_size, step_map, tile: int, weights, guides=None):
        return self._loop(self._variables, image, jnp.asarray(padded(shifts)), jnp.int32(count), step_size,
                          step_map, weights, guides, tile=int(tile))

    def compiled(self) -> int:
        """How many programs the step loop was compiled into (one per frame size, batch and tile)."""
        return self._loop._cache_size()

    def objective(self, image, weights, guides=None) -> np.ndarray:
        return np.asarray(self._objective(self._variables, image, weights, guides))

    def _objective_fn(self, variables, image, weights, guides):
        trainable, non_trainable = variables
        outputs, _ = self.features.model.stateless_call(trainable, non_trainable, self.features.preprocess(image),
                                                        training=False)
        return objective(outputs, self.layers, weights, guides)

    def _loop_fn(self, variables, image, shifts, count, step_size, step_map, weights, guides, *, tile: int):
        height, width = image.shape[1:3]
        # Tiles of one shape share one traced copy of the network, looped over (at most 4 shapes).
        shapes: dict[tuple[int, int], list[tuple[int, int]]] = {}
        for top, bottom, left, right in tile_grid(height, width, tile):
            shapes.setdefault((bottom - top, right - left), []).append((top, left))

        def loss(part):
            return jnp.sum(self._objective_fn(variables, part, weights, guides))

        grad = jax.grad(loss)

        def tiled_gradient(rolled):
            gradient = jnp.zeros_like(rolled)
            for (tile_h, tile_w), origins in shapes.items():
                corners = jnp.asarray(origins, jnp.int32)

                def one(k, total, tile_h=tile_h, tile_w=tile_w, corners=corners):
                    start = (0, corners[k, 0], corners[k, 1], 0)
                    part = jax.lax.dynamic_slice(rolled, start, (rolled.shape[0], tile_h, tile_w, rolled.shape[3]))
                    return jax.lax.dynamic_update_slice(total, grad(part), start)

                gradient = jax.lax.fori_loop(0, len(origins), one, gradient)
            return gradient

        def one_step(index, image):
            shift = shifts[index]
            gradient = tiled_gradient(jnp.roll(image, (shift[0], shift[1]), axis=(1, 2)))
            gradient = jnp.roll(gradient, (-shift[0], -shift[1]), axis=(1, 2))
            return step(image, gradient, step_size, step_map, self.lap_levels)

        return jax.lax.fori_loop(0, count, one_step, image)
