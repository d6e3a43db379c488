"""Batched DeepDream: gradient ascent on the objective, over octaves, with a random roll each step and
tiled gradients for large frames. Knows nothing of files or video: arrays in, arrays out. The same code
runs on every Keras backend; only the compiled step loop is the backend's own (steps.py).

Images are float32 NHWC in [0, 1]; inside, the engine works in [-1, 1] and the model's own
preprocessing maps that to what the network expects."""
from __future__ import annotations

import time
from typing import Sequence

import cv2
import keras
import numpy as np
from keras import ops

from ..hold import Held
from ..imageops import octave_shapes, resize
from ..settings import DreamParams, LayerSpec
from .device import free_memory
from .models import FeatureModel
from .steps import MAX_CHUNK, ascent_for, roll_shifts, tile_grid

MIN_TILE, MAX_TILE = 256, 2048
# Guide profiles kept per dreamer (one per picture size dreamed: the octaves of each frame size).
GUIDE_CACHE = 64
# A compiled call runs this long at most (roughly): how late an interrupt can be noticed.
CALL_SECONDS = 0.5


class Dreamer:
    """One feature model and its compiled step loop; call `dream` with batches of same-size frames."""

    def __init__(self, features: FeatureModel, layers: Sequence[LayerSpec], xla: bool = False,
                 guide: np.ndarray | None = None, lap_norm: int = 0):
        """`guide`: a picture (HxWx3 in [0, 1]) to dream towards (see objective.guided); its channel
        profiles are computed once per size dreamed (guide_profiles), and enter the compiled step loop as
        tensors. `lap_norm`: the levels of the Laplacian-pyramid normalisation of the gradient
        (steps.lap_normalize; 0: none)."""
        self.features = features
        self.layers = tuple(layers)
        self.xla, self.lap_norm = xla, lap_norm
        self.guide = None if guide is None else np.nan_to_num(np.clip(np.asarray(guide, np.float32), 0.0, 1.0))
        self.backend = keras.backend.backend()
        self._guide_profiles: dict[tuple[int, int], tuple] = {}
        self._ascent = ascent_for(self.backend)(features, self.layers, xla, guide is not None, lap_norm)
        self._tiles: dict[int, int] = {}
        self._chunk = 1  # steps per compiled call, adapted to keep each call near CALL_SECONDS
        self._activation_bytes: float | None = None
        self.steps_run = 0  # gradient steps (per image, summed over octaves) since this dreamer was made
        self.held_shares: list[np.ndarray] = []  # the last held dream's shares [B], one per octave (Held)

    def with_layers(self, layers: Sequence[LayerSpec]) -> "Dreamer":
        """A dreamer of other layers on the same network (which must hold them), e.g. one per sheet cell."""
        return Dreamer(self.features, layers, xla=self.xla, guide=self.guide, lap_norm=self.lap_norm)

    def guide_profiles(self, shape: tuple[int, int], tile: int | None = None) -> tuple | None:
        """The guide's unit channel profile at each chosen layer (objective.guided), with the guide seen at
        the size of a picture of `shape` (height, width): scaled, its aspect kept, to the same area, so at
        every octave its patterns are as large against the picture as the picture's own. (A guide shrunk to
        256 px once, as before, is seen at another scale than the octaves see the picture: its stripes pulled
        the dream's block4_conv3 profile to 0.76 of the guide's, and at block5_conv3 to 0.59, below the plain
        dream's 0.89; at each octave's size to 0.94 and 0.95, benchmarks/guide.py.) Computed without
        gradient, in tiles no larger than `tile` (default: untiled), once per shape; None without a guide."""
        if self.guide is None:
            return None
        shape = (int(shape[0]), int(shape[1]))
        if shape not in self._guide_profiles:
            if len(self._guide_profiles) >= GUIDE_CACHE:
                self._guide_profiles.pop(next(iter(self._guide_profiles)))
            self._guide_profiles[shape] = self._profiles_at(shape, tile or max(shape))
        return self._guide_profiles[shape]

    def _profiles_at(self, shape: tuple[int, int], tile: int) -> tuple:
        height, width = self.guide.shape[:2]
        scale = (shape[0] * shape[1] / (height * width)) ** 0.5
        side = self.features.min_side
        picture = resize(self.guide, max(side, round(height * scale)), max(side, round(width * scale)))
        sums = [np.zeros(1)] * len(self.layers)
        counts = [0] * len(self.layers)
        for _, activations in self._tiled_activations(_to_model_range(picture[None]), tile):
            for index, act in enumerate(activations):
                sums[index] = sums[index] + act.reshape(-1, act.shape[-1]).sum(axis=0)
                counts[index] += act.shape[1] * act.shape[2]
        profiles = [total / count for total, count in zip(sums, counts)]
        return tuple(_tensor(profile / max(np.linalg.norm(profile), 1e-12)) for profile in profiles)

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
                                      self.guide_profiles(images.shape[1:3]))

    def strength(self, images: np.ndarray, where: np.ndarray | None = None,
                 params: DreamParams | None = None) -> np.ndarray:
        """How strongly the chosen layers respond to each image, [batch]: the plain objective (weight x
        mean activation, or of its one channel, summed over layers; a guide is not scored) over `where`
        (see layer_strengths)."""
        weights = ops.convert_to_numpy(self._weights(params, len(images))).astype(np.float64)
        tile = params.tile if params is not None else None
        return (weights * self.layer_strengths(images, where, tile)).sum(axis=1)

    def layer_strengths(self, images: np.ndarray, where: np.ndarray | None = None,
                        tile: int | None = None) -> np.ndarray:
        """Each chosen layer's mean activation (or its one channel's), [batch, layers], unweighted (so a
        scheduled weight can be applied afterwards), the mean taken over `where` ([B, H, W] weights in [0, 1],
        e.g. the pixels a matte shows; None: everywhere). NaN for an image whose `where` is empty.
        Forward passes in the tiles of its gradient: what a held carried frame's step loop measures of itself
        (objective.region_totals), measured here of a shot's fresh dream (octave_strengths)."""
        batch = len(images)
        totals = np.zeros((batch, len(self.layers)))
        masses = np.zeros((batch, len(self.layers)))
        for (top, bottom, left, right), activations in self._tiled_activations(
                _to_model_range(images), tile or self.auto_tile(batch)):
            for index, (layer, act) in enumerate(zip(self.layers, activations)):
                response = act[..., layer.channel] if layer.channel is not None else act.mean(axis=-1)  # [B, h, w]
                area = (bottom - top) * (right - left) / (response.shape[1] * response.shape[2])
                share = np.ones_like(response) if where is None else np.stack([
                    cv2.resize(np.ascontiguousarray(piece, np.float32), response.shape[2:0:-1],
                               interpolation=cv2.INTER_AREA) for piece in where[:, top:bottom, left:right]])
                totals[:, index] += (response * share).sum(axis=(1, 2)) * area
                masses[:, index] += share.sum(axis=(1, 2)) * area
        with np.errstate(invalid="ignore", divide="ignore"):
            return totals / masses

    def octave_strengths(self, images: np.ndarray, params: DreamParams, top_octaves: int | None = None,
                         where: np.ndarray | None = None) -> dict[tuple[int, int], np.ndarray]:
        """layer_strengths of each image at the size of each octave that dream(..., top_octaves) dreams,
        the images brought there as dream() brings them: {shape: [B, layers]} (a shot's reference, Held)."""
        found = {}
        shapes = octave_shapes(images.shape[1], images.shape[2], params.octaves, params.octave_scale,
                               self.features.min_side)
        for octave, shape in enumerate(shapes):
            if shape not in self.octave_shapes(images.shape[1], images.shape[2], params, top_octaves):
                continue
            # rolled as that octave's first step rolls what it measures (steps.roll_shifts)
            shift = tuple(int(v) for v in roll_shifts(params.seed, octave, 0, 1, params.jitter)[0])
            pictures = np.roll(ops.convert_to_numpy(_resize(_tensor(images), shape)), shift, axis=(1, 2))
            region = None if where is None else np.roll(ops.convert_to_numpy(
                _resize(_tensor(where[..., None]), shape))[..., 0], shift, axis=(1, 2))
            found[shape] = self.layer_strengths(pictures, region, params.tile)
        return found

    def octave_shapes(self, height: int, width: int, params: DreamParams,
                      top_octaves: int | None = None) -> list[tuple[int, int]]:
        """The sizes dream() dreams a picture of `height` x `width` at, smallest first."""
        shapes = octave_shapes(height, width, params.octaves, params.octave_scale, self.features.min_side)
        return shapes[max(0, len(shapes) - max(1, top_octaves)):] if top_octaves is not None else shapes

    def _tiled_activations(self, pictures: np.ndarray, tile: int):
        """The chosen layers' activations (float64 arrays, one per layer) of pictures [B, H, W, 3] in the
        model's range, tile by tile, with each tile's (top, bottom, left, right): forward passes only, a plain
        call of the model (Keras's predict_on_batch would donate, on JAX, the weight arrays the step loop
        holds). A tile is never smaller than the network sees: a sliver at the edge overlaps its neighbour."""
        height, width = pictures.shape[1:3]
        side = self.features.min_side
        for top, bottom, left, right in tile_grid(height, width, max(tile, side)):
            bottom, right = max(bottom, min(height, top + side)), max(right, min(width, left + side))
            top, left = max(0, min(top, bottom - side)), max(0, min(left, right - side))
            part = self.features.preprocess(_tensor(pictures[:, top:bottom, left:right]))
            maps = self.features.model(part, training=False)
            yield (top, bottom, left, right), [
                ops.convert_to_numpy(ops.cast(maps[layer.name], "float32")).astype(np.float64) for layer in self.layers]

    def dream(self, images: np.ndarray, params: DreamParams, steps: int | None = None,
              step_map: np.ndarray | None = None, top_octaves: int | None = None,
              held: Held | None = None) -> np.ndarray:
        """Dream a batch [B, H, W, 3] in [0, 1]; `steps` overrides params.steps (e.g. for carried frames).

        Octaves go from small to full size; after each upscale the detail that the smaller
        octave could not hold is taken back from the input, as in keras-io's deep_dream.py.
        `step_map` [B, H, W] scales the step size per pixel (fresh pixels of a carried frame catch up);
        `top_octaves` dreams only the largest octaves (a carried frame already holds the coarse ones);
        `held`: its carried pixels held at their shots' strength (Held; `step_map` then steps the rest)."""
        steps = params.steps if steps is None else steps
        batch, height, width = images.shape[:3]
        tile = params.tile or self.auto_tile(batch)
        step_sizes = _tensor(np.broadcast_to(np.asarray(params.step_size, np.float32).reshape(-1), (batch,)))
        weights = self._weights(params, batch)
        shapes = octave_shapes(height, width, params.octaves, params.octave_scale, self.features.min_side)
        first = len(shapes) - len(self.octave_shapes(height, width, params, top_octaves))
        full_map = None if step_map is None else _per_pixel(step_map, batch)
        if held is not None:
            full_map = _tensor(np.zeros((batch, height, width, 1), np.float32)) if full_map is None else full_map
            carried, where = _per_pixel(held.carried, batch), _per_pixel(held.where, batch)
            self.held_shares = []
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
            hold = None
            if held is not None:
                reference = held.references.get(tuple(shape))
                hold = [_resize(carried, shape), _resize(where, shape),
                        _tensor(np.zeros(batch) if reference is None else np.nan_to_num(reference, nan=0.0)),
                        _tensor(np.full(batch, -1.0))]
            image = self._ascend(image, steps, params, tile, octave, step_sizes, scale, weights, hold)
            if hold is not None:
                self.held_shares.append(ops.convert_to_numpy(hold[3]).astype(np.float64))
        image = _resize(image, (height, width))
        return ((ops.convert_to_numpy(image) + 1.0) / 2.0).clip(0.0, 1.0)

    def _ascend(self, image, steps: int, params: DreamParams, tile: int, octave: int, step_sizes, step_map, weights,
                hold: list | None = None):
        """Run `steps` compiled steps in calls of about CALL_SECONDS each, so that Ctrl-C or SIGTERM
        (which Python handles only between calls) stops a render within seconds. Each step's roll depends
        on its index alone (steps.roll_shifts), so the result does not depend on how the steps are split.
        `hold`: [carried, where, reference, share] of a held octave (Held); its share, measured by the
        first call, is put back in it for the calls after."""
        done, chunk = 0, self._chunk
        guides = self.guide_profiles(tuple(image.shape[1:3]), tile)
        while done < steps:
            count = min(chunk, steps - done)
            tick = time.monotonic()
            shifts = roll_shifts(params.seed, octave, done, count, params.jitter)
            if hold is None:
                image = self._ascent.ascend(image, shifts, count, step_sizes, step_map, tile, weights, guides)
            else:
                image, hold[3] = self._ascent.ascend_held(image, shifts, count, step_sizes, step_map, tile, weights,
                                                          guides, *hold)
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


def _per_pixel(values: np.ndarray, batch: int):
    """[B, H, W] as the step loop's [B, H, W, 1] tensor."""
    values = np.asarray(values, np.float32)
    return _tensor(values.reshape(batch, *values.shape[-2:], 1))


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
