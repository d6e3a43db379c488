"""The step loop on JAX: jax.jit over a fori_loop of steps, the network called with stateless_call on its
variables (arguments, not constants baked into the program). The shifts are a fixed-length array and the
step count a traced scalar, so one compiled program serves every call of a frame size, batch and tile;
compiled programs are kept in JAX's persistent cache (device.configure), so a second run compiles nothing."""
from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from .objective import objective, region_totals
from .steps import held_share, held_step, padded, step, tile_grid


def _upsample(response, like):
    return jax.image.resize(response, (*response.shape[:1], *like.shape[1:3], response.shape[3]), "bilinear",
                            antialias=False)


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
                          step_map, weights, guides, None, tile=int(tile))

    def ascend_held(self, image, shifts: np.ndarray, count: int, step_size, step_map, tile: int, weights, guides,
                    carried, where, reference, share):
        return self._loop(self._variables, image, jnp.asarray(padded(shifts)), jnp.int32(count), step_size,
                          step_map, weights, guides, (carried, where, reference, share), tile=int(tile))

    def compiled(self) -> int:
        """How many programs the step loop was compiled into (one per frame size, batch and tile)."""
        return self._loop._cache_size()

    def objective(self, image, weights, guides=None) -> np.ndarray:
        return np.asarray(self._objective(self._variables, image, weights, guides))

    def _objective_fn(self, variables, image, weights, guides):
        return objective(self._features(variables, image), self.layers, weights, guides)

    def _features(self, variables, image):
        trainable, non_trainable = variables
        outputs, _ = self.features.model.stateless_call(trainable, non_trainable, self.features.preprocess(image),
                                                        training=False)
        return outputs

    def _loop_fn(self, variables, image, shifts, count, step_size, step_map, weights, guides, held, *, tile: int):
        """`held`: None, or (carried, where, reference, share) of ascend_held, which then returns (image, share)."""
        height, width = image.shape[1:3]
        # Tiles of one shape share one traced copy of the network, looped over (at most 4 shapes).
        shapes: dict[tuple[int, int], list[tuple[int, int]]] = {}
        for top, bottom, left, right in tile_grid(height, width, tile):
            shapes.setdefault((bottom - top, right - left), []).append((top, left))

        def loss(part, where):
            features = self._features(variables, part)
            total = jnp.sum(objective(features, self.layers, weights, guides))
            return total, (None if where is None else region_totals(features, self.layers, where, _upsample))

        grad = jax.grad(loss, has_aux=True)

        def tiled_gradient(rolled, where):
            gradient = jnp.zeros_like(rolled)
            totals = jnp.zeros((rolled.shape[0], len(self.layers)), jnp.float32)
            for (tile_h, tile_w), origins in shapes.items():
                corners = jnp.asarray(origins, jnp.int32)

                def one(k, sums, tile_h=tile_h, tile_w=tile_w, corners=corners):
                    gradient, totals = sums
                    start = (0, corners[k, 0], corners[k, 1], 0)
                    part = jax.lax.dynamic_slice(rolled, start, (rolled.shape[0], tile_h, tile_w, rolled.shape[3]))
                    region = None if where is None else jax.lax.dynamic_slice(
                        where, start, (where.shape[0], tile_h, tile_w, 1))
                    part_gradient, part_totals = grad(part, region)
                    gradient = jax.lax.dynamic_update_slice(gradient, part_gradient, start)
                    return gradient, totals if region is None else totals + part_totals

                gradient, totals = jax.lax.fori_loop(0, len(origins), one, (gradient, totals))
            return gradient, totals

        def roll(array, shift, sign=1):
            return jnp.roll(array, (sign * shift[0], sign * shift[1]), axis=(1, 2))

        if held is None:
            def one_step(index, image):
                shift = shifts[index]
                gradient, _ = tiled_gradient(roll(image, shift), None)
                return step(image, roll(gradient, shift, -1), step_size, step_map, self.lap_levels)

            return jax.lax.fori_loop(0, count, one_step, image)

        carried, where, reference, share = held
        mass = jnp.sum(where, axis=(1, 2, 3))

        def one_held_step(index, state):
            image, share = state
            shift = shifts[index]
            gradient, totals = tiled_gradient(roll(image, shift), roll(where, shift))
            share = held_share(totals, mass, weights, reference, share)
            return held_step(image, roll(gradient, shift, -1), step_size, step_map, carried, share,
                             self.lap_levels), share

        return jax.lax.fori_loop(0, count, one_held_step, (image, share))
