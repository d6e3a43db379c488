"""What is known about each network without building it: its dreamable layers and their channels,
its default layers and weights, the smallest input it sees. Planning checks layers, weights and tiles
against it in a second, before any numerics framework loads."""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

from ..errors import UserError
from ..io.mattes import matte_identity
from ..settings import LayerSpec, Settings
from .backend import resolve_backend

INCEPTION_WEIGHTS_FILE = "inception_v3_weights_tf_dim_ordering_tf_kernels_notop.h5"


@dataclass(frozen=True)
class ModelSpec:
    """What is known about a built-in model without building it."""

    name: str
    channels: dict[str, int]  # dreamable layer -> output channels
    default_layers: tuple[str, ...]
    default_weights: str
    min_side: int  # smallest input side the network accepts
    preprocessing: str  # "inception" ([-1, 1]) or "caffe" (BGR minus the ImageNet mean)


_INCEPTION_CHANNELS = {"mixed0": 256, "mixed1": 288, "mixed2": 288, **{f"mixed{i}": 768 for i in range(3, 8)},
                       "mixed8": 1280, "mixed9": 2048, "mixed10": 2048}
_VGG_CHANNELS = {f"block{b}_conv{c}": width
                 for b, (convs, width) in enumerate([(2, 64), (2, 128), (3, 256), (3, 512), (3, 512)], start=1)
                 for c in range(1, convs + 1)}

CATALOG = {
    "inception_v3": ModelSpec("inception_v3", _INCEPTION_CHANNELS, ("mixed3", "mixed5"), "imagenet", 75, "inception"),
    "vgg16-hed": ModelSpec("vgg16-hed", _VGG_CHANNELS, ("block4_conv3",), "hed", 32, "caffe"),
}


def model_spec(model: str) -> ModelSpec | None:
    """The catalog entry, None for a model file, or a UserError for anything else."""
    if model in CATALOG:
        return CATALOG[model]
    path = Path(model)
    if path.suffix in (".keras", ".h5"):
        if not path.is_file():
            raise UserError(f"model file not found: {model}")
        return None
    raise UserError(f"unknown model '{model}': choose {', '.join(CATALOG)} or a .keras/.h5 file")


def resolve_weights(model: str, weights: str | None) -> str:
    """The weights that will be used: the model's default, 'random', or an existing file."""
    spec = model_spec(model)
    if weights is None:
        return spec.default_weights if spec else "file"
    if weights == "random" or (spec and weights == spec.default_weights):
        return weights
    if weights in ("imagenet", "hed"):
        raise UserError(f"--weights {weights} does not fit --model {model}: use random or a weights file")
    if not Path(weights).is_file():
        raise UserError(f"weights file not found: {weights}")
    return weights


def resolve_layers(model: str, layers: tuple[LayerSpec, ...]) -> tuple[LayerSpec, ...]:
    """The chosen layers, or the model's defaults, checked against the catalog where it knows the model."""
    spec = model_spec(model)
    if not layers:
        if spec is None:
            raise UserError(f"choose at least one --layer for model file {model} (see: dreamvid layers --model {model})")
        return tuple(LayerSpec(name) for name in spec.default_layers)
    if spec is not None:
        check_layers(layers, spec.channels, model)
    return layers


def check_tile(model: str, tile: int | None) -> None:
    """A frame is split into tiles no smaller than half of --tile, and each must be one the network can see."""
    spec = model_spec(model)
    smallest = 2 * (spec.min_side if spec else 32)
    if tile is not None and tile < smallest:
        raise UserError(f"--tile must be at least {smallest} for {model} (got {tile}): its smallest input is "
                        f"{smallest // 2} pixels and tiles can be half of --tile")


def check_layers(layers: tuple[LayerSpec, ...], channels: dict[str, int], model: str) -> None:
    for layer in layers:
        if layer.name not in channels:
            raise UserError(f"unknown layer '{layer.name}' for {model}; choose from: {', '.join(channels)}")
        count = channels[layer.name]
        if layer.channel is not None and not 0 <= layer.channel < count:
            raise UserError(f"channel {layer.channel} out of range for {layer.name}: 0..{count - 1}")


def check_model(settings: Settings) -> tuple[LayerSpec, ...]:
    """Everything a render, a zoom or a sheet checks of the model before any framework loads: the
    model, its weights, the layers and the tile. Returns the layers that will be dreamed."""
    resolve_backend(settings.backend)
    resolve_weights(settings.model, settings.weights)
    layers = resolve_layers(settings.model, settings.layers)
    check_tile(settings.model, settings.tile)
    return layers


def resolved_parameters(settings: Settings) -> dict:
    """Every parameter that shapes a render's frames, with the model's defaults resolved (layers, weights):
    what a render records and what its resume fingerprint is made of."""
    layers = resolve_layers(settings.model, settings.layers)
    # A guide is known by its content, so that a picture replaced under the same name is not resumed into.
    guide = hashlib.sha256(Path(settings.guide).read_bytes()).hexdigest()[:16] if settings.guide else None
    # So is a matte (a sequence's frames and a video sampled, see io/mattes.matte_identity).
    matte = matte_identity(settings.mask) if settings.mask else None
    resolved = {"layers": [str(layer) for layer in layers], "weights": resolve_weights(settings.model, settings.weights),
                "backend": resolve_backend(settings.backend), "guide_sha256": guide, "mask_sha256": matte,
                # what the guide does (objective.guided): a guided render of the earlier objective is not resumed into
                "guide_objective": "profile" if settings.guide else None}
    return {**settings.to_dict(), **{key: value for key, value in resolved.items() if value is not None}}
