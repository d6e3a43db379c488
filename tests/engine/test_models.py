"""The Keras builders: the whole no-top network, cut at the deepest chosen layer, with its weights (the
bundled HED ones, a model file, or a download that fails offline)."""
import time

import pytest

from dreamvid.engine.catalog import CATALOG, INCEPTION_WEIGHTS_FILE
from dreamvid.engine.models import load_feature_model
from dreamvid.errors import UserError
from dreamvid.settings import LayerSpec


@pytest.fixture(scope="module")
def inception_full():
    """InceptionV3 (random weights) with every catalog layer as an output: the whole no-top network."""
    layers = tuple(LayerSpec(name) for name in CATALOG["inception_v3"].channels)
    return load_feature_model("inception_v3", "random", layers)


def test_inception_no_top_parameter_count(inception_full):
    assert inception_full.model.count_params() == 21_802_784


def test_feature_model_is_cut_at_the_deepest_chosen_layer(inception_full, inception_random, vgg_hed):
    cut = inception_random.features.model
    assert len(cut.layers) < len(inception_full.model.layers)
    assert cut.layers[-1].name == "mixed3"
    assert not any(layer.name in ("mixed4", "mixed10") for layer in cut.layers)
    names = [layer.name for layer in vgg_hed.features.model.layers]
    assert names[-1] == "block4_conv3" and not any(name.startswith("block5") for name in names)
    assert vgg_hed.features.weights == "hed" and vgg_hed.features.min_side == CATALOG["vgg16-hed"].min_side


def test_hed_weights_are_not_random(vgg_hed):
    """The bundled HED weights: VGG's first filters respond to edges, so a trained kernel is far from init."""
    import numpy as np

    random = load_feature_model("vgg16-hed", "random", (LayerSpec("block1_conv1"),))
    trained = vgg_hed.features.model.get_layer("block1_conv1").get_weights()
    fresh = random.model.get_layer("block1_conv1").get_weights()
    assert not np.allclose(trained[0], fresh[0])
    assert np.abs(trained[1]).max() > 0  # Keras initialises biases to zero; HED's are trained


def test_unknown_layer_in_built_model_file(tmp_path):
    import keras

    inputs = keras.Input((None, None, 3))
    model = keras.Model(inputs, keras.layers.Conv2D(4, 3, name="feat")(inputs))
    path = tmp_path / "tiny.keras"
    model.save(path)
    features = load_feature_model(str(path), None, (LayerSpec("feat", 3),))
    assert features.model.output["feat"].shape[-1] == 4
    with pytest.raises(UserError, match="channel 4 out of range for feat: 0..3"):
        load_feature_model(str(path), None, (LayerSpec("feat", 4),))
    with pytest.raises(UserError, match="unknown layer 'nope'.*feat"):
        load_feature_model(str(path), None, (LayerSpec("nope"),))


def test_failed_imagenet_download_names_both_remedies(tmp_path, monkeypatch):
    """No network here: the download fails for real. The Keras cache is pointed at an empty folder and
    any proxy at a closed port, so the test neither finds cached weights nor downloads 90 MB."""
    from keras.src.backend import config

    monkeypatch.setattr(config, "_KERAS_DIR", str(tmp_path))
    for variable in ("https_proxy", "HTTPS_PROXY", "http_proxy", "HTTP_PROXY"):
        monkeypatch.setenv(variable, "http://127.0.0.1:9")
    started = time.monotonic()
    with pytest.raises(UserError) as error:
        load_feature_model("inception_v3", None, (LayerSpec("mixed3"),))
    message = str(error.value)
    assert "--weights FILE" in message and INCEPTION_WEIGHTS_FILE in message
    assert "~/.keras/models" in message and "vgg16-hed" in message
    print(f"download failure took {time.monotonic() - started:.1f}s")
