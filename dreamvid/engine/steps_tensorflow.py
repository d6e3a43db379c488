"""The step loop on TensorFlow: one tf.function with an input signature, so a single trace serves every
frame size, batch, step count, step size, step map and layer weight (with XLA, compiled once per shape).
Tiles are cut inside the graph, from the frame's dynamic size."""
from __future__ import annotations

import numpy as np
import tensorflow as tf

from .objective import objective, region_totals
from .steps import MAX_CHUNK, held_share, held_step, padded, step


class Ascent:
    def __init__(self, features, layers, xla: bool = False, guided: bool = False, lap_levels: int = 0):
        self.features, self.layers, self.lap_levels = features, tuple(layers), lap_levels
        image = tf.TensorSpec([None, None, None, 3], tf.float32)
        scalar_i = tf.TensorSpec([], tf.int32)
        per_image = tf.TensorSpec([None], tf.float32)
        weights = tf.TensorSpec([None, len(self.layers)], tf.float32)
        per_pixel = tf.TensorSpec([None, None, None, 1], tf.float32)
        shifts = tf.TensorSpec([MAX_CHUNK, 2], tf.int32)
        # with a guide, one unit channel profile per layer (objective.guided)
        extra = [tuple(tf.TensorSpec([None], tf.float32) for _ in self.layers)] if guided else []
        self._loop = tf.function(self._loop_graph, jit_compile=xla,
                                 input_signature=[image, shifts, scalar_i, per_image, per_pixel, scalar_i, weights,
                                                  *extra])
        self._objective = tf.function(self._objective_graph, input_signature=[image, weights, *extra])
        # carried, where, reference, share (steps.held_share)
        held = [per_pixel, per_pixel, per_image, per_image]
        self._held_loop = tf.function(self._held_graph, jit_compile=xla,
                                      input_signature=[image, shifts, scalar_i, per_image, per_pixel, scalar_i,
                                                       weights, *held, *extra])

    def ascend(self, image, shifts: np.ndarray, count: int, step_size, step_map, tile: int, weights, guides=None):
        extra = [] if guides is None else [guides]
        return self._loop(image, tf.constant(padded(shifts)), tf.constant(count, tf.int32), step_size, step_map,
                          tf.constant(tile, tf.int32), weights, *extra)

    def ascend_held(self, image, shifts: np.ndarray, count: int, step_size, step_map, tile: int, weights, guides,
                    carried, where, reference, share):
        extra = [] if guides is None else [guides]
        return self._held_loop(image, tf.constant(padded(shifts)), tf.constant(count, tf.int32), step_size,
                               step_map, tf.constant(tile, tf.int32), weights, carried, where, reference, share,
                               *extra)

    def compiled(self) -> int:
        """How many times the step loops were traced (one trace serves every size)."""
        return self._loop.experimental_get_tracing_count() + self._held_loop.experimental_get_tracing_count()

    def objective(self, image, weights, guides=None) -> np.ndarray:
        return self._objective(image, weights, *([] if guides is None else [guides])).numpy()

    def _objective_graph(self, image, weights, guides=None):
        return objective(self._features(image), self.layers, weights, guides)

    def _features(self, image):
        return self.features.model(self.features.preprocess(image), training=False)

    def _loop_graph(self, image, shifts, count, step_size, step_map, tile, weights, guides=None):
        index = tf.constant(0)
        while index < count:  # a while loop, not tf.range: XLA would compile anew for every count
            shift = shifts[index]
            rolled = tf.roll(image, shift=shift, axis=[1, 2])
            gradient = tf.roll(self._tiled_gradient(rolled, tile, weights, guides), shift=-shift, axis=[1, 2])
            image = step(image, gradient, step_size, step_map, self.lap_levels)
            index += 1
        return image

    def _held_graph(self, image, shifts, count, step_size, step_map, tile, weights, carried, where, reference,
                    share, guides=None):
        mass = tf.reduce_sum(where, axis=[1, 2, 3])
        index = tf.constant(0)
        while index < count:
            shift = shifts[index]
            rolled, rolled_where = tf.roll(image, shift=shift, axis=[1, 2]), tf.roll(where, shift=shift, axis=[1, 2])
            gradient, totals = self._tiled_gradient(rolled, tile, weights, guides, rolled_where)
            share = held_share(totals, mass, weights, reference, share)
            image = held_step(image, tf.roll(gradient, shift=-shift, axis=[1, 2]), step_size, step_map, carried, share,
                              self.lap_levels)
            index += 1
        return image, share

    def _tiled_gradient(self, image, tile, weights, guides, where=None):
        """Gradient of the objective, computed tile by tile so memory stays bounded on large frames; given
        `where`, also the region's totals of each layer's response (objective.region_totals)."""
        height, width = tf.shape(image)[1], tf.shape(image)[2]
        rows, cols = _ceil_div(height, tile), _ceil_div(width, tile)
        tile_h, tile_w = _ceil_div(height, rows), _ceil_div(width, cols)
        gradient = tf.zeros_like(image)
        totals = tf.zeros([tf.shape(image)[0], len(self.layers)])
        for row in tf.range(rows):
            for col in tf.range(cols):
                rows_, cols_ = slice(row * tile_h, (row + 1) * tile_h), slice(col * tile_w, (col + 1) * tile_w)
                with tf.GradientTape() as tape:
                    tape.watch(image)
                    features = self._features(image[:, rows_, cols_])
                    loss = tf.reduce_sum(objective(features, self.layers, weights, guides))
                gradient += tape.gradient(loss, image)
                if where is not None:
                    totals += region_totals(features, self.layers, where[:, rows_, cols_], _upsample)
        return gradient if where is None else (gradient, totals)


def _upsample(response, like):
    return tf.image.resize(response, tf.shape(like)[1:3])


def _ceil_div(a, b):
    return (a + b - 1) // b
