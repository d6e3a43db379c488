"""The quantity DeepDream maximises: per image, the sum over chosen layers of weight x mean activation
(of one channel when the spec names one)."""
from __future__ import annotations

from typing import Mapping, Sequence

import tensorflow as tf

from .settings import LayerSpec


def objective(activations: Mapping[str, tf.Tensor], layers: Sequence[LayerSpec]) -> tf.Tensor:
    """Per-image objective, shape [batch]; images stay independent so a batch equals one by one."""
    total = 0.0
    for layer in layers:
        act = activations[layer.name]
        if layer.channel is not None:
            act = act[..., layer.channel]
        axes = list(range(1, len(act.shape)))
        total += layer.weight * tf.reduce_mean(tf.cast(act, tf.float32), axis=axes)
    return total
