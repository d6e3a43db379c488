"""Batched DeepDream: gradient ascent on the objective, over octaves, with a random roll each step and
tiled gradients for large frames. Knows nothing of files or video: arrays in, arrays out. The same code
runs on every Keras backend; only the compiled step loop is the backend's own (steps.py).

Images are float32 NHWC in [0, 1]; inside, the engine works in [-1, 1] and the model's own
preprocessing maps that to what the network expects."""
from __future__ import annotations

import time
from typing import Sequence

import keras
import numpy as np
from keras import ops

from ..imageops import octave_shapes
from ..settings import DreamParams, LayerSpec
from .device import free_memory
from .models import FeatureModel
from .steps import MAX_CHUNK, ascent_for, roll_shifts

MIN_TILE, MAX_TILE = 256, 2048
# A guide picture is matched at most this large: its feature vectors times the frame's are the guide's cost.
GUIDE_SIDE = 256
# A compiled call runs this long at most (roughly): how late an interrupt can be noticed.
CALL_SECONDS = 0.5


class Dreamer:
    """One feature model and its compiled step loop; call `dream` with batches of same-size frames."""

    def __init__(self, features: FeatureModel, layers: Sequence[LayerSpec], xla: bool = False,
                 guide: np.ndarray | None = None, lap_norm: int = 0):
        """`guide`: a picture (HxWx3 in [0, 1]) to dream towards (see objective.guided); its features are
        computed once here, and enter the compiled step loop as tensors. `lap_norm`: the levels of the
        Laplacian-pyramid normalisation of the gradient (steps.lap_normalize; 0: none)."""
        self.features = features
        self.layers = tuple(layers)
        self.xla, self.guide, self.lap_norm = xla, guide, lap_norm
        self.backend = keras.backend.backend()
        self.guides = None if guide is None else self._guide_features(guide)
        self._ascent = ascent_for(self.backend)(features, self.layers, xla, self.guides, lap_norm)
        self._tiles: dict[int, int] = {}
        self._chunk = 1  # steps per compiled call, adapted to keep each call near CALL_SECONDS
        self._activation_bytes: float | None = None
        self.steps_run = 0  # gradient steps (per image, summed over octaves) since this dreamer was made

    def with_layers(self, layers: Sequence[LayerSpec]) -> "Dreamer":
        """A dreamer of other layers on the same network (which must hold them), e.g. one per sheet cell."""
        return Dreamer(self.features, layers, xla=self.xla, guide=self.guide, lap_norm=self.lap_norm)

    def _guide_features(self, guide: np.ndarray) -> tuple:
        """Each chosen layer's feature vectors of the guide picture, [positions, channels], with the guide
        shrunk to at most GUIDE_SIDE (the match costs positions x guide positions per layer)."""
        picture = _tensor(_to_model_range(np.nan_to_num(np.clip(guide, 0.0, 1.0))[None]))
        height, width = picture.shape[1:3]
        scale = min(1.0, GUIDE_SIDE / max(height, width))
        picture = _resize(picture, (max(self.features.min_side, round(height * scale)),
                                    max(self.features.min_side, round(width * scale))))
        maps = self.features.model(self.features.preprocess(picture), training=False)
        return tuple(ops.reshape(ops.cast(maps[layer.name], "float32"), (-1, maps[layer.name].shape[-1]))
                     for layer in self.layers)

    def _weights(self, params: DreamParams | None, batch: int):
        """The per-image layer weights [batch, layers], as the compiled functions take them."""
        weights = params.layer_weights if params is not None else None
        if weights is None:
            if any(isinstance(layer.weight, str) for layer in self.layers):
                raise ValueError("scheduled layer weights need DreamParams.layer_weights")
            weights = [layer.weight for layer in self.layers]
        return _tensor(np.broadcast_to(np.asarray(weights, np.float32).reshape(-1, len(self.layers)),
                                       (batch, len(self.layers))))

    def objective(self, images: np.ndarray, params: DreamParams | None = None) -> np.ndarray:
        """The objective of each image (untiled), e.g. to check that dreaming raises it."""
        return self._ascent.objective(_tensor(_to_model_range(images)), self._weights(params, len(images)),
                                      self.guides)

    def dream(self, images: np.ndarray, params: DreamParams, steps: int | None = None,
              step_map: np.ndarray | None = None, top_octaves: int | None = None) -> np.ndarray:
        """Dream a batch [B, H, W, 3] in [0, 1]; `steps` overrides params.steps (e.g. for carried frames).

        Octaves go from small to full size; after each upscale the detail that the smaller
        octave could not hold is taken back from the input, as in keras-io's deep_dream.py.
        `step_map` [B, H, W] scales the step size per pixel (fresh pixels of a carried frame catch up);
        `top_octaves` dreams only the largest octaves (a carried frame already holds the coarse ones)."""
        steps = params.steps if steps is None else steps
        batch, height, width = images.shape[:3]
        tile = params.tile or self.auto_tile(batch)
        step_sizes = _tensor(np.broadcast_to(np.asarray(params.step_size, np.float32).reshape(-1), (batch,)))
        weights = self._weights(params, batch)
        shapes = octave_shapes(height, width, params.octaves, params.octave_scale, self.features.min_side)
        first = 0 if top_octaves is None else max(0, len(shapes) - max(1, top_octaves))
        full_map = None if step_map is None else _tensor(
            np.asarray(step_map, np.float32).reshape(batch, height, width, 1))
        ones = _tensor(np.ones((batch, 1, 1, 1), np.float32))
        original = _tensor(_to_model_range(images))
        base = _resize(original, shapes[first])
        image = base
        for octave, shape in enumerate(shapes[first:], first):
            if octave > first:
                upscaled_base = _resize(base, shape)
                base = _resize(original, shape)
                image = _resize(image, shape) + (base - upscaled_base)
            scale = ones if full_map is None else _resize(full_map, shape)
            image = self._ascend(image, steps, params, tile, octave, step_sizes, scale, weights)
        image = _resize(image, (height, width))
        return ((ops.convert_to_numpy(image) + 1.0) / 2.0).clip(0.0, 1.0)

    def _ascend(self, image, steps: int, params: DreamParams, tile: int, octave: int, step_sizes, step_map, weights):
        """Run `steps` compiled steps in calls of about CALL_SECONDS each, so that Ctrl-C or SIGTERM
        (which Python handles only between calls) stops a render within seconds. Each step's roll depends
        on its index alone (steps.roll_shifts), so the result does not depend on how the steps are split."""
        done, chunk = 0, self._chunk
        while done < steps:
            count = min(chunk, steps - done)
            tick = time.monotonic()
            shifts = roll_shifts(params.seed, octave, done, count, params.jitter)
            image = self._ascent.ascend(image, shifts, count, step_sizes, step_map, tile, weights, self.guides)
            _finished(image)
            done += count
            self.steps_run += count
            per_step = (time.monotonic() - tick) / count
            chunk = max(1, min(MAX_CHUNK, int(CALL_SECONDS / max(per_step, 1e-6))))
        self._chunk = chunk
        return image

    def auto_tile(self, batch: int) -> int:
        """The largest tile whose gradient pass fits in about a third of the free memory (the
        accelerator's as its backend sees it, else the machine's), from the activation bytes the model
        keeps per pixel."""
        if batch not in self._tiles:
            budget = free_memory(self.backend) / 3
            side = int((budget / (2 * batch * self._bytes_per_pixel())) ** 0.5)
            self._tiles[batch] = max(MIN_TILE, min(MAX_TILE, side // 32 * 32))
        return self._tiles[batch]

    def _bytes_per_pixel(self) -> float:
        """Activation bytes per input pixel over every layer up to the deepest chosen one (what
        backpropagation keeps), measured with one small forward pass."""
        if self._activation_bytes is None:
            model = self.features.model
            maps = [layer.output for layer in model.layers if len(layer.output.shape) == 4]
            probe = keras.Model(model.input, maps)
            side = 128
            outputs = probe(_tensor(np.zeros((1, side, side, 3), np.float32)), training=False)
            elements = sum(int(np.prod(output.shape[1:])) for output in outputs)
            self._activation_bytes = elements * 4 / side**2
        return self._activation_bytes


def _tensor(array: np.ndarray):
    return ops.convert_to_tensor(np.ascontiguousarray(array, np.float32))


def _finished(image) -> None:
    """Wait for the device to finish the call (JAX and CUDA dispatch asynchronously): its time decides
    the next call's length, which bounds how late an interrupt is noticed."""
    if hasattr(image, "block_until_ready"):
        image.block_until_ready()
    elif type(image).__module__.startswith("torch") and image.is_cuda:
        import torch

        torch.cuda.synchronize(image.device)


def _to_model_range(images: np.ndarray) -> np.ndarray:
    return np.asarray(images, np.float32) * 2.0 - 1.0


def _resize(image, shape):
    if tuple(image.shape[1:3]) == tuple(shape):
        return image
    return ops.image.resize(image, tuple(shape), interpolation="bilinear")
