"""The quantity DeepDream maximises: per image, the sum over chosen layers of weight x mean activation
(of one channel when the spec names one), or, with a guide picture, weight x the guide objective."""
from __future__ import annotations

from typing import Mapping, Sequence

import tensorflow as tf

from ..settings import LayerSpec


def objective(activations: Mapping[str, tf.Tensor], layers: Sequence[LayerSpec], weights: tf.Tensor | None = None,
              guides: Sequence[tf.Tensor] | None = None) -> tf.Tensor:
    """Per-image objective, shape [batch]; images stay independent so a batch equals one by one.

    `weights` [batch, layers] holds each image's layer weights (a tensor, so scheduled weights never
    retrace); None takes the specs' own. With `guides` (one [N, C] tensor per layer) each layer is
    scored by `guided` instead."""
    total = 0.0
    for index, layer in enumerate(layers):
        act = tf.cast(activations[layer.name], tf.float32)
        if guides is not None:
            score = guided(act, guides[index])
        else:
            if layer.channel is not None:
                act = act[..., layer.channel]
            score = tf.reduce_mean(act, axis=list(range(1, len(act.shape))))
        total += (layer.weight if weights is None else weights[:, index]) * score
    return total


def guided(act: tf.Tensor, guide: tf.Tensor) -> tf.Tensor:
    """The guide objective of the original DeepDream notebook (Mordvintsev et al. 2015): each position's
    feature vector x_i is matched with the guide's feature vector g_j of largest dot product, and that dot
    product is maximised; per image, the mean over positions of max_j <x_i, g_j>."""
    vectors = tf.reshape(act, [tf.shape(act)[0], -1, tf.shape(act)[-1]])  # [batch, positions, channels]
    dots = tf.einsum("bpc,nc->bpn", vectors, guide)
    return tf.reduce_mean(tf.reduce_max(dots, axis=2), axis=1)
