import time

import pytest

from dreamvid.errors import UserError
from dreamvid.engine.catalog import CATALOG, INCEPTION_WEIGHTS_FILE, model_spec, resolve_layers, resolve_weights
from dreamvid.engine.models import load_feature_model
from dreamvid.settings import LayerSpec


# --- the catalog: no TensorFlow needed ---

def test_default_layers_are_in_the_catalog():
    for spec in CATALOG.values():
        assert spec.default_layers and set(spec.default_layers) <= set(spec.channels)
        assert resolve_layers(spec.name, ()) == tuple(LayerSpec(name) for name in spec.default_layers)


def test_unknown_layer_lists_the_valid_names():
    with pytest.raises(UserError) as error:
        resolve_layers("inception_v3", (LayerSpec("mixed11"),))
    message = str(error.value)
    assert "mixed11" in message and all(name in message for name in CATALOG["inception_v3"].channels)


@pytest.mark.parametrize("channel", [768, -1, 10_000])
def test_channel_out_of_range_gives_the_range(channel):
    with pytest.raises(UserError, match=r"out of range for mixed4: 0\.\.767"):
        resolve_layers("inception_v3", (LayerSpec("mixed4", channel),))


def test_channel_at_the_top_of_the_range_is_accepted():
    layers = (LayerSpec("block1_conv1", 63), LayerSpec("mixed4", 0))
    assert resolve_layers("vgg16-hed", layers[:1]) == layers[:1]
    with pytest.raises(UserError, match="unknown layer 'mixed4' for vgg16-hed"):
        resolve_layers("vgg16-hed", layers)


def test_unknown_model_names_the_choices():
    with pytest.raises(UserError, match="unknown model 'resnet'.*inception_v3, vgg16-hed"):
        model_spec("resnet")
    with pytest.raises(UserError, match="model file not found"):
        model_spec("missing.keras")


def test_model_file_needs_explicit_layers(tmp_path):
    path = tmp_path / "net.keras"
    path.write_bytes(b"not really")
    assert model_spec(str(path)) is None
    with pytest.raises(UserError, match="choose at least one --layer"):
        resolve_layers(str(path), ())


def test_resolve_weights(tmp_path):
    assert resolve_weights("inception_v3", None) == "imagenet"
    assert resolve_weights("vgg16-hed", None) == "hed"
    assert resolve_weights("vgg16-hed", "random") == "random"
    with pytest.raises(UserError, match="does not fit"):
        resolve_weights("vgg16-hed", "imagenet")
    with pytest.raises(UserError, match="weights file not found"):
        resolve_weights("inception_v3", str(tmp_path / "none.h5"))
    file = tmp_path / "w.h5"
    file.write_bytes(b"x")
    assert resolve_weights("inception_v3", str(file)) == str(file)


# --- the catalog against the real networks ---

@pytest.fixture(scope="module")
def inception_full():
    """InceptionV3 (random weights) with every catalog layer as an output: the whole no-top network."""
    layers = tuple(LayerSpec(name) for name in CATALOG["inception_v3"].channels)
    return load_feature_model("inception_v3", "random", layers)


def test_inception_catalog_matches_the_network(inception_full):
    outputs = inception_full.model.output
    assert set(outputs) == set(CATALOG["inception_v3"].channels)
    for name, count in CATALOG["inception_v3"].channels.items():
        assert outputs[name].shape[-1] == count, name


def test_inception_no_top_parameter_count(inception_full):
    assert inception_full.model.count_params() == 21_802_784


def test_vgg_catalog_matches_the_network():
    layers = tuple(LayerSpec(name) for name in CATALOG["vgg16-hed"].channels)
    features = load_feature_model("vgg16-hed", "random", layers)
    for name, count in CATALOG["vgg16-hed"].channels.items():
        assert features.model.output[name].shape[-1] == count, name


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
