"""The quantity DeepDream maximises: per image, the sum over chosen layers of weight x mean activation
(of one channel when the spec names one), or, with a guide picture, weight x the guide objective.
Written with keras.ops, so every backend computes the same thing inside its own compiled step."""
from __future__ import annotations

from typing import Mapping, Sequence

from keras import ops

from ..settings import LayerSpec


def objective(activations: Mapping, layers: Sequence[LayerSpec], weights, guides: Sequence | None = None):
    """Per-image objective, shape [batch]; images stay independent so a batch equals one by one.

    `weights` [batch, layers] holds each image's layer weights (a tensor, so scheduled weights never
    recompile). With `guides` (one [N, C] tensor per layer) each layer is scored by `guided` instead."""
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


def guided(act, guide):
    """The guide objective of the original DeepDream notebook (Mordvintsev et al. 2015): each position's
    feature vector x_i is matched with the guide's feature vector g_j of largest dot product, and that dot
    product is maximised; per image, the mean over positions of max_j <x_i, g_j>."""
    vectors = ops.reshape(act, (ops.shape(act)[0], -1, act.shape[-1]))  # [batch, positions, channels]
    dots = ops.einsum("bpc,nc->bpn", vectors, guide)
    return ops.mean(ops.max(dots, axis=2), axis=1)
