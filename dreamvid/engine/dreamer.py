"""Batched DeepDream: gradient ascent on the objective, over octaves, with a random roll each step
and tiled gradients for large frames. Knows nothing of files or video: arrays in, arrays out.

Images are float32 NHWC in [0, 1]; inside, the engine works in [-1, 1] and the model's own
preprocessing maps that to what the network expects."""
from __future__ import annotations

import time
from typing import Sequence

import keras
import numpy as np
import tensorflow as tf

from ..imageops import octave_shapes
from ..settings import DreamParams, LayerSpec
from .device import free_memory
from .models import FeatureModel
from .objective import objective


class Dreamer:
    """One feature model and its compiled step loop; call `dream` with batches of same-size frames."""

    def __init__(self, features: FeatureModel, layers: Sequence[LayerSpec], xla: bool = False,
                 guide: np.ndarray | None = None):
        """`guide`: a picture (HxWx3 in [0, 1]) to dream towards (see objective.guided); its features are
        computed once here, and enter the compiled step loop as tensors."""
        self.features = features
        self.layers = tuple(layers)
        self.xla, self.guide = xla, guide
        self.guides = None if guide is None else self._guide_features(guide)
        image = tf.TensorSpec([None, None, None, 3], tf.float32)
        scalar_i = tf.TensorSpec([], tf.int32)
        per_image, weights = tf.TensorSpec([None], tf.float32), tf.TensorSpec([None, len(self.layers)], tf.float32)
        per_pixel = tf.TensorSpec([None, None, None, 1], tf.float32)
        guides = [] if self.guides is None else [tuple(tf.TensorSpec([None, g.shape[1]], tf.float32)
                                                       for g in self.guides)]
        # One trace for every size, batch, step count, step size, step map and layer weight (XLA still
        # compiles once per shape): step sizes and weights are per-image tensors, the step map per pixel.
        self._ascent = tf.function(
            self._ascent_graph, jit_compile=xla,
            input_signature=[image, scalar_i, scalar_i, per_image, per_pixel, scalar_i, scalar_i,
                             tf.TensorSpec([2], tf.int32), weights, *guides])
        self._objective = tf.function(self._objective_graph, input_signature=[image, weights, *guides])
        self._tiles: dict[int, int] = {}
        self._chunk = 1  # steps per compiled call, adapted to keep each call near CALL_SECONDS
        self._activation_bytes: float | None = None
        self.steps_run = 0  # gradient steps (per image, summed over octaves) since this dreamer was made

    def with_layers(self, layers: Sequence[LayerSpec]) -> "Dreamer":
        """A dreamer of other layers on the same network (which must hold them), e.g. one per sheet cell."""
        return Dreamer(self.features, layers, xla=self.xla, guide=self.guide)

    def _guide_features(self, guide: np.ndarray) -> tuple[tf.Tensor, ...]:
        """Each chosen layer's feature vectors of the guide picture, [positions, channels], with the guide
        shrunk to at most GUIDE_SIDE (the match costs positions x guide positions per layer)."""
        picture = tf.constant(_to_model_range(np.nan_to_num(np.clip(guide, 0.0, 1.0))[None]))
        height, width = picture.shape[1:3]
        scale = min(1.0, GUIDE_SIDE / max(height, width))
        picture = _resize(picture, (max(self.features.min_side, round(height * scale)),
                                    max(self.features.min_side, round(width * scale))))
        maps = self.features.model(self.features.preprocess(picture), training=False)
        return tuple(tf.reshape(tf.cast(maps[layer.name], tf.float32), [-1, maps[layer.name].shape[-1]])
                     for layer in self.layers)

    def _extra(self, params: DreamParams | None, batch: int) -> list:
        """The per-image layer weights and the guide features, as the compiled functions take them."""
        weights = params.layer_weights if params is not None else None
        if weights is None:
            if any(isinstance(layer.weight, str) for layer in self.layers):
                raise ValueError("scheduled layer weights need DreamParams.layer_weights")
            weights = [layer.weight for layer in self.layers]
        weights = np.broadcast_to(np.asarray(weights, np.float32).reshape(-1, len(self.layers)),
                                  (batch, len(self.layers)))
        return [tf.constant(weights)] + ([] if self.guides is None else [self.guides])

    def objective(self, images: np.ndarray, params: DreamParams | None = None) -> np.ndarray:
        """The objective of each image (untiled), e.g. to check that dreaming raises it."""
        return self._objective(tf.constant(_to_model_range(images)), *self._extra(params, len(images))).numpy()

    def dream(self, images: np.ndarray, params: DreamParams, steps: int | None = None,
              step_map: np.ndarray | None = None, top_octaves: int | None = None) -> np.ndarray:
        """Dream a batch [B, H, W, 3] in [0, 1]; `steps` overrides params.steps (e.g. for carried frames).

        Octaves go from small to full size; after each upscale the detail that the smaller
        octave could not hold is taken back from the input, as in keras-io's deep_dream.py.
        `step_map` [B, H, W] scales the step size per pixel (fresh pixels of a carried frame catch up);
        `top_octaves` dreams only the largest octaves (a carried frame already holds the coarse ones)."""
        steps = params.steps if steps is None else steps
        tile = params.tile or self.auto_tile(len(images))
        step_sizes = np.broadcast_to(np.asarray(params.step_size, np.float32).reshape(-1), (len(images),))
        extra = [tf.constant(step_sizes)] + self._extra(params, len(images))
        height, width = images.shape[1:3]
        shapes = octave_shapes(height, width, params.octaves, params.octave_scale, self.features.min_side)
        first = 0 if top_octaves is None else max(0, len(shapes) - max(1, top_octaves))
        full_map = None if step_map is None else tf.constant(
            np.asarray(step_map, np.float32).reshape(len(images), height, width, 1))
        ones = tf.ones([len(images), 1, 1, 1])
        original = tf.constant(_to_model_range(images))
        base = _resize(original, shapes[first])
        image = base
        for octave, shape in enumerate(shapes[first:], first):
            if octave > first:
                upscaled_base = _resize(base, shape)
                base = _resize(original, shape)
                image = _resize(image, shape) + (base - upscaled_base)
            scale = ones if full_map is None else _resize(full_map, shape)
            image = self._ascend(image, steps, params, tile, octave, extra, scale)
        image = _resize(image, (height, width))
        return ((image.numpy() + 1.0) / 2.0).clip(0.0, 1.0)

    def _ascend(self, image: tf.Tensor, steps: int, params: DreamParams, tile: int, octave: int,
                extra: list, step_map: tf.Tensor) -> tf.Tensor:
        """Run `steps` compiled steps in calls of about CALL_SECONDS each, so that Ctrl-C or SIGTERM
        (which Python handles only between calls) stops a render within seconds. Each step's random
        roll depends on its index alone, so the result does not depend on how the steps are split."""
        done, chunk = 0, self._chunk
        while done < steps:
            count = min(chunk, steps - done)
            tick = time.monotonic()
            image = self._ascent(image, tf.constant(done), tf.constant(count), extra[0], step_map,
                                 tf.constant(params.jitter),
                                 tf.constant(tile), tf.constant([params.seed, octave], tf.int32), *extra[1:])
            done += count
            self.steps_run += count
            per_step = (time.monotonic() - tick) / count
            chunk = max(1, min(MAX_CHUNK, int(CALL_SECONDS / max(per_step, 1e-6))))
        self._chunk = chunk
        return image

    def auto_tile(self, batch: int) -> int:
        """The largest tile whose gradient pass fits in about a third of the free memory (the
        accelerator's, else the machine's), from the activation bytes the model keeps per pixel."""
        if batch not in self._tiles:
            budget = free_memory() / 3
            side = int((budget / (2 * batch * self._bytes_per_pixel())) ** 0.5)
            self._tiles[batch] = max(MIN_TILE, min(MAX_TILE, side // 32 * 32))
        return self._tiles[batch]

    def _bytes_per_pixel(self) -> float:
        """Activation bytes per input pixel over every layer up to the deepest chosen one (what
        backpropagation keeps), measured with one small forward pass."""
        if self._activation_bytes is None:
            model = self.features.model
            maps = [layer.output for layer in model.layers if len(layer.output.shape) == 4]
            probe = keras.Model(model.inputs, maps)
            side = 128
            outputs = probe(tf.zeros([1, side, side, 3]), training=False)
            elements = sum(int(np.prod(output.shape[1:])) for output in outputs)
            self._activation_bytes = elements * 4 / side**2
        return self._activation_bytes

    def _objective_graph(self, image, weights, guides=None):
        return objective(self.features.model(self.features.preprocess(image), training=False), self.layers,
                         weights, guides)

    def _ascent_graph(self, image, first_step, steps, step_size, step_map, jitter, tile, seed, weights, guides=None):
        for step in tf.range(first_step, first_step + steps):
            shift = tf.random.stateless_uniform(
                [2], seed=tf.random.experimental.stateless_fold_in(seed, step),
                minval=-jitter, maxval=jitter + 1, dtype=tf.int32)
            rolled = tf.roll(image, shift=shift, axis=[1, 2])
            gradient = tf.roll(self._tiled_gradient(rolled, tile, weights, guides), shift=-shift, axis=[1, 2])
            # Normalised per image, so each image of a batch moves as if dreamed alone.
            gradient /= tf.math.reduce_std(gradient, axis=[1, 2, 3], keepdims=True) + 1e-8
            # A step map of ones (no map given) leaves every value as it was: x * 1.0 is exact.
            image = tf.clip_by_value(image + step_size[:, None, None, None] * gradient * step_map, -1.0, 1.0)
        return image

    def _tiled_gradient(self, image, tile, weights, guides):
        """Gradient of the objective, computed tile by tile so memory stays bounded on large frames.

        Tiles split the frame into near-equal parts no larger than `tile`; the random roll before
        this call moves their borders every step, so no seam builds up."""
        height, width = tf.shape(image)[1], tf.shape(image)[2]
        rows, cols = _ceil_div(height, tile), _ceil_div(width, tile)
        tile_h, tile_w = _ceil_div(height, rows), _ceil_div(width, cols)
        gradient = tf.zeros_like(image)
        for row in tf.range(rows):
            for col in tf.range(cols):
                with tf.GradientTape() as tape:
                    tape.watch(image)
                    part = image[:, row * tile_h:(row + 1) * tile_h, col * tile_w:(col + 1) * tile_w]
                    loss = tf.reduce_sum(self._objective_graph(part, weights, guides))
                gradient += tape.gradient(loss, image)
        return gradient


MIN_TILE, MAX_TILE = 256, 2048
# A guide picture is matched at most this large: its feature vectors times the frame's are the guide's cost.
GUIDE_SIDE = 256
# A compiled call runs this long at most (roughly): how late an interrupt can be noticed.
CALL_SECONDS, MAX_CHUNK = 0.5, 1000


def _ceil_div(a, b):
    return (a + b - 1) // b


def _to_model_range(images: np.ndarray) -> np.ndarray:
    return np.asarray(images, np.float32) * 2.0 - 1.0


def _resize(image: tf.Tensor, shape) -> tf.Tensor:
    if tuple(image.shape[1:3]) == tuple(shape):
        return image
    return tf.image.resize(image, shape, method="bilinear")
