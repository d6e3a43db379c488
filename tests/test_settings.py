import dataclasses

import pytest

from dreamvid.errors import UserError
from dreamvid.settings import (BOUNDS, DreamParams, LayerSpec, Settings, build_settings, load_config,
                               parse_frame_range, parse_layer_spec)


def write_config(tmp_path, text):
    path = tmp_path / "preset.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_defaults_without_overrides_or_config():
    assert build_settings() == Settings()


def test_command_line_beats_config_file_beats_default(tmp_path):
    config = write_config(tmp_path, 'steps = 5\noctave-scale = 1.5\nlayer = ["mixed4:97=0.5"]\n')
    settings = build_settings({"steps": 7, "octave_scale": None, "layers": ()}, config)
    assert settings.steps == 7  # command line
    assert settings.octave_scale == 1.5  # config file (None / empty means "not given")
    assert settings.layers == (LayerSpec("mixed4", 97, 0.5),)  # config file
    assert settings.jitter == Settings().jitter  # default


def test_config_accepts_underscores_and_ints_for_floats(tmp_path):
    settings = build_settings({}, write_config(tmp_path, "octave_scale = 2\nmodel = 'vgg16-hed'\n"))
    assert settings.octave_scale == 2.0 and isinstance(settings.octave_scale, float)
    assert settings.model == "vgg16-hed"


@pytest.mark.parametrize("text, words", [
    ('steps = "ten"\n', ["steps", "int"]),
    ("steps = true\n", ["steps"]),
    ("flow = 1\n", ["flow", "true or false"]),
    ("layers = 3\n", ["layers"]),
    ("steps = \n", ["not valid TOML"]),
])
def test_bad_value_in_config_is_a_user_error(tmp_path, text, words):
    with pytest.raises(UserError) as error:
        build_settings({}, write_config(tmp_path, text))
    for word in words:
        assert word in str(error.value)


def test_unknown_key_in_config_names_it_and_the_known_keys(tmp_path):
    with pytest.raises(UserError) as error:
        load_config(write_config(tmp_path, "stepz = 3\n"))
    message = str(error.value)
    assert "'stepz'" in message and "octave-scale" in message


def test_missing_config_file(tmp_path):
    with pytest.raises(UserError, match="not found"):
        build_settings({}, tmp_path / "none.toml")


def test_unknown_override_is_refused():
    with pytest.raises(UserError, match="unknown parameter 'stepz'"):
        build_settings({"stepz": 3})


@pytest.mark.parametrize("key, value, message", [
    ("octave_scale", 1.0, "--octave-scale must be > 1"),
    ("octave_scale", 0.5, "--octave-scale must be > 1"),
    ("steps", -1, "--steps must be >= 0"),
    ("tile", 32, "--tile must be >= 64"),
    ("octaves", 0, "--octaves must be >= 1"),
    ("blend", 1.5, "--blend must be <= 1"),
    ("step_size", 0.0, "--step-size must be > 0"),
])
def test_bounds(key, value, message):
    with pytest.raises(UserError, match=message):
        build_settings({key: value})


def test_bounds_apply_to_config_files_too(tmp_path):
    with pytest.raises(UserError, match="--octave-scale must be > 1"):
        build_settings({}, write_config(tmp_path, "octave-scale = 1.0\n"))


def test_values_at_the_inclusive_bounds_are_accepted():
    settings = build_settings({"steps": 0, "tile": 64, "octaves": 1, "blend": 0.0, "crf": 51, "max_side": 32})
    assert (settings.steps, settings.tile, settings.octaves, settings.blend, settings.crf) == (0, 64, 1, 0.0, 51)
    assert BOUNDS["tile"][0] == 64  # the smallest tile the engine tests use


@pytest.mark.parametrize("text, spec", [
    ("mixed4:97=0.5", LayerSpec("mixed4", 97, 0.5)),
    ("mixed5", LayerSpec("mixed5", None, 1.0)),
    ("mixed3=0.25", LayerSpec("mixed3", None, 0.25)),
    (" block4_conv3:7 ", LayerSpec("block4_conv3", 7, 1.0)),
    ("mixed3=-1e-1", LayerSpec("mixed3", None, -0.1)),
])
def test_parse_layer_spec_and_round_trip(text, spec):
    assert parse_layer_spec(text) == spec
    assert parse_layer_spec(str(spec)) == spec


@pytest.mark.parametrize("text", ["", "4mixed", "mixed4:abc", "mixed4=", "mixed4=1.2.3", "mixed4:1:2"])
def test_bad_layer_spec(text):
    with pytest.raises(UserError):
        parse_layer_spec(text)


def test_layer_strings_from_the_api_are_parsed():
    assert build_settings({"layers": ["mixed4:97=0.5", "mixed5"]}).layers == (
        LayerSpec("mixed4", 97, 0.5), LayerSpec("mixed5"))


def test_dream_params_carry_the_settings_values():
    settings = build_settings({"octaves": 2, "octave_scale": 1.7, "steps": 3, "step_size": 0.05,
                               "jitter": 5, "tile": 128, "seed": 9})
    assert settings.dream_params() == DreamParams(2, 1.7, 3, 0.05, 5, 128, 9)
    # every engine parameter is recorded (layer weights within the layers)
    assert {f.name for f in dataclasses.fields(DreamParams)} - {"layer_weights"} <= set(settings.to_dict())


def test_to_dict_writes_layers_as_spec_strings():
    data = build_settings({"layers": ["mixed4:97=0.5"]}).to_dict()
    assert data["layers"] == ["mixed4:97=0.5"]


@pytest.mark.parametrize("text, expected", [
    (None, (0, None)), ("0:100", (0, 100)), ("5:", (5, None)), (":7", (0, 7)), (" 3 : 9 ", (3, 9))])
def test_frame_range(text, expected):
    assert parse_frame_range(text) == expected


@pytest.mark.parametrize("text", ["5:5", "9:3", "a:b", "3", "-1:4"])
def test_bad_frame_range(text):
    with pytest.raises(UserError, match="--frames"):
        build_settings({"frames": text})
