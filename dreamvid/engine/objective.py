"""The quantity DeepDream maximises: per image, the sum over chosen layers of weight x mean activation
(of one channel when the spec names one), or, with a guide picture, weight x the guide objective (`guided`).
Written with keras.ops, so every backend computes the same thing inside its own compiled step."""
from __future__ import annotations

from typing import Mapping, Sequence

from keras import ops

from ..settings import LayerSpec


def objective(activations: Mapping, layers: Sequence[LayerSpec], weights, guides: Sequence | None = None):
    """Per-image objective, shape [batch]; images stay independent so a batch equals one by one.

    `weights` [batch, layers] holds each image's layer weights (a tensor, so scheduled weights never
    recompile). With `guides` (one per layer: the guide's unit channel profile [C], see `guided`) each layer
    is scored by `guided` instead."""
    total = 0.0
    for index, layer in enumerate(layers):
        act = ops.cast(activations[layer.name], "float32")
        if guides is not None:
            score = guided(act, guides[index])
        else:
            if layer.channel is not None:
                act = act[..., layer.channel]
            score = ops.mean(act, axis=tuple(range(1, len(act.shape))))
        total = total + weights[:, index] * score
    return total


def region_totals(activations: Mapping, layers: Sequence[LayerSpec], where, upsample):
    """Per image and layer, [batch, layers]: the layer's response (its activation averaged over channels,
    or its one channel) brought up to the picture's size, summed over the picture weighted by `where`
    [batch, H, W, 1]. Over sum(where) it is the strength dreamvid/hold.py holds, from activations a step
    computes anyway. `upsample(response, like)`: the backend's bilinear resize of `response` to `like`'s size."""
    totals = []
    for layer in layers:
        act = ops.cast(activations[layer.name], "float32")
        response = act[..., layer.channel:layer.channel + 1] if layer.channel is not None \
            else ops.mean(act, axis=-1, keepdims=True)
        totals.append(ops.sum(upsample(response, where) * where, axis=(1, 2, 3)))
    return ops.stack(totals, axis=1)


def guided(act, guide):
    """The guide objective: per image, the cosine similarity of the layer's channel profile (the mean
    activation of each channel over all positions) to the guide's, `guide` being the guide's profile at the
    same layer, of unit length, with the guide seen at the size of the picture dreamed (Dreamer.guide_profiles).

    Why not the original notebook's objective (mean over positions of max_j <x_i, g_j>, Mordvintsev et al.
    2015), which this replaces: it is linear in the activations with non-negative weights (ReLU features),
    so its gradient, normalised per image by its std (steps.step, which also makes any scale of the
    objective irrelevant), amplifies the same easily excited channels as the plain objective, and the dream
    stays the plain dream. Measured with benchmarks/guide.py (vgg16-hed block4_conv3, 176x144, 3 octaves x
    10 steps; cosine of the dream's channel profile to the guide's, on its tuned pair / two held-out pairs):
    before dreaming 0.87 / 0.42 / 0.75, plain dream 0.75 / 0.29 / 0.51, the notebook's 0.76 / 0.43 / 0.57;
    matched by cosine instead of raw dot products 0.76 / 0.36 / 0.59; with the guide at each octave's size
    0.76 / 0.48 / 0.63; dreamed at another layer, at block3_conv3 0.84 / 0.59 / 0.84 against the plain
    0.72 / 0.38 / 0.72, at block5_conv3 0.91 / 0.91 / 0.56 against 0.92 / 0.91 / 0.57. A cosine is not raised by
    amplifying everything: the channels the guide lacks must fall, those it has grow, and the profile goes
    to the guide's: 0.97 / 0.94 / 0.98, and at block3_conv3, which it does not see, 0.94 / 0.87 / 0.98
    against the plain dream's 0.75 / 0.26 / 0.61; dreamed at block3_conv3 or block5_conv3 instead, 0.99 /
    0.96 / 0.99 and 0.99 / 0.98 / 0.99 at its layer. The Gram matrices' cosine does as well at [C, C] per
    layer; this costs one [C] vector per layer, whatever the guide's size. Adding the plain objective back
    (each about 1) gives part of the pull away: + 0.3 x plain 0.91 / 0.85 / 0.94, + 1 x 0.81 / 0.43 / 0.78."""
    profile = ops.mean(ops.reshape(act, (ops.shape(act)[0], -1, act.shape[-1])), axis=1)  # [batch, channels]
    length = ops.sqrt(ops.sum(ops.square(profile), axis=1) + 1e-12)  # finite gradient for a dead profile
    return ops.sum(profile * guide[None, :], axis=1) / length
