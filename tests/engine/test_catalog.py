"""The catalog: what is known of each network without building it (no TensorFlow needed), checked against
the real networks; what a render records of its parameters."""
import cv2
import numpy as np
import pytest

from doubles import StubDreamer
from dreamvid.engine.catalog import CATALOG, model_spec, resolve_layers, resolve_weights
from dreamvid.engine.models import load_feature_model
from dreamvid.errors import UserError
from dreamvid.settings import LayerSpec
from helpers import guide_picture


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


def test_vgg_catalog_matches_the_network():
    layers = tuple(LayerSpec(name) for name in CATALOG["vgg16-hed"].channels)
    features = load_feature_model("vgg16-hed", "random", layers)
    for name, count in CATALOG["vgg16-hed"].channels.items():
        assert features.model.output[name].shape[-1] == count, name


# --- what a render records ---

def test_a_guided_render_records_its_guide(tmp_path):
    import json

    import dreamvid

    cv2.imwrite(str(tmp_path / "photo.png"), np.full((40, 48, 3), 128, np.uint8))
    cv2.imwrite(str(tmp_path / "guide.png"), (guide_picture(48)[..., ::-1] * 255).astype(np.uint8))
    dreamvid.render(tmp_path / "photo.png", model="vgg16-hed", steps=2, octaves=1, guide=tmp_path / "guide.png",
                    dreamer=StubDreamer())
    record = json.loads((tmp_path / "photo_dream.png.json").read_text())
    assert record["parameters"]["guide"] == str(tmp_path / "guide.png")
    assert len(record["parameters"]["guide_sha256"]) == 16
    assert record["parameters"]["guide_objective"] == "profile"  # a render of the earlier objective is not resumed
