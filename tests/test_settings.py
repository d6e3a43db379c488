"""One frozen dataclass of parameters: defaults, bounds, TOML presets and their precedence; schedules kept
as text and resolved per frame; --coherence mapped onto blend, flow-steps and the octave policy; the
frame range and the guide checked before any work."""
import dataclasses

import cv2
import numpy as np
import pytest

import dreamvid
from clips import moving_clip
from dreamvid.errors import UserError
from dreamvid.settings import (BOUNDS, FADE, DreamParams, LayerSpec, Settings, build_settings, coherence_values,
                               load_config, parse_frame_range, parse_layer_spec)
from dreamvid.sidecar import fingerprint
from helpers import FAST


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


def test_frame_range_outside_the_clip_is_a_user_error(tmp_path):
    source = tmp_path / "clip.mp4"
    moving_clip(source, frames=4)
    with pytest.raises(UserError, match="outside the clip"):
        dreamvid.render(source, frames="2:9", **FAST)
    assert not (tmp_path / "clip_dream.mp4").exists()


# ---- schedules -------------------------------------------------------------------------------------------

def test_a_number_given_as_text_is_the_same_setting_and_fingerprint():
    """The CLI passes schedulable options as text: a plain number must render and fingerprint as before
    (the fingerprint below is the one dreamvid gave these settings before schedules existed, renewed
    when --coherence changed how carried frames are dreamed; --hold-strength, which dreams them otherwise,
    gives another)."""
    as_numbers = build_settings({"model": "vgg16-hed", "steps": 3, "step_size": 0.02, "jitter": 8, "blend": 0.8,
                                 "flow_steps": 2, "layers": ["block4_conv3=0.5"]})
    as_text = build_settings({"model": "vgg16-hed", "steps": "3", "step_size": "0.02", "jitter": "8", "blend": "0.8",
                              "flow_steps": "2", "layers": ["block4_conv3=0.5"]})
    assert as_text == as_numbers
    assert isinstance(as_text.steps, int) and isinstance(as_text.step_size, float)
    assert fingerprint(as_text.to_dict()) == "015850fb50fa4da2"
    assert fingerprint(dataclasses.replace(as_text, hold_strength=True).to_dict()) == "7a6ae4dcc0f099fb"
    assert as_text.schedules() == {} and not as_text.audio_driven


def test_schedules_are_kept_as_text_and_resolved_per_frame():
    settings = build_settings({"step_size": "0:(0.01), 10:(0.03)", "steps": "0:(2), 10:(5)", "jitter": "0:(0), 1s:(10)",
                               "blend": "0:(0.2), 10:(0.8)", "flow_steps": "0:(1), 10:(3)",
                               "layers": ["mixed3=0:(1), 10:(0)", "mixed5=0:(0), 10:(1)"]})
    assert settings.step_size == "0:(0.01), 10:(0.03)"
    assert settings.layers[0] == LayerSpec("mixed3", None, "0:(1), 10:(0)")
    values = settings.at(5, fps=10)
    assert values.step_size == pytest.approx(0.02) and values.blend == pytest.approx(0.5)
    assert values.steps == 4 and values.flow_steps == 2 and values.jitter == 5  # 3.5 -> 4, 2 -> 2, 5 -> 5
    assert values.layer_weights == pytest.approx((0.5, 0.5))
    assert settings.at(0).layer_weights == (1.0, 0.0) and settings.at(20).layer_weights == (0.0, 1.0)
    params = settings.dream_params(settings.at(10))
    assert (params.steps, params.step_size, params.layer_weights) == (5, pytest.approx(0.03), (0.0, 1.0))
    assert set(settings.schedules()) == {"--step-size", "--steps", "--jitter", "--blend", "--flow-steps",
                                         "--layer mixed3", "--layer mixed5"}
    recorded = settings.to_dict()
    assert recorded["steps"] == "0:(2), 10:(5)" and recorded["layers"][0] == "mixed3=0:(1), 10:(0)"
    other = build_settings({"step_size": "0:(0.01), 10:(0.04)"})
    assert fingerprint(other.to_dict()) != fingerprint(build_settings({"step_size": settings.step_size}).to_dict())


def test_the_timeline_lists_changing_parameters_per_frame():
    settings = build_settings({"step_size": "0:(0.01), 4:(0.03)", "layers": ["mixed3=0:(1), 2:(0)", "mixed5"]})
    assert settings.timeline(1, 5) == {"--step-size": pytest.approx([0.015, 0.02, 0.025, 0.03]),
                                       "--layer mixed3": pytest.approx([0.5, 0.0, 0.0, 0.0])}


def test_layer_weight_schedule_round_trips():
    spec = parse_layer_spec("mixed4:97=0:(1), 2.5s:(0)")
    assert (spec.name, spec.channel, spec.weight) == ("mixed4", 97, "0:(1), 2.5s:(0)")
    assert parse_layer_spec(str(spec)) == spec
    assert parse_layer_spec("mixed3=audio:0..1").schedule.audio
    assert parse_layer_spec("mixed3=0.5").weight == 0.5


@pytest.mark.parametrize("options, message", [
    ({"step_size": "0:(0.01), 10:(2)"}, "--step-size must be <= 1"),
    ({"step_size": "audio:0..0.02"}, "--step-size must be > 0"),
    ({"steps": "0:(3), 10:(-1)"}, "--steps must be >= 0"),
    ({"blend": "0:(0.5), 1s:(1.5)"}, "--blend must be <= 1"),
    ({"steps": "2.5"}, "--steps must be a whole number"),
    ({"jitter": "0:(1) 3:(2)"}, "schedule"),
    ({"layers": ["mixed3=0:(1), 10:(x)"]}, "schedule for the weight of mixed3"),
])
def test_every_value_of_a_schedule_is_checked(options, message):
    with pytest.raises(UserError, match=message):
        build_settings(options)


def test_schedules_in_config_files(tmp_path):
    config = tmp_path / "ramp.toml"
    config.write_text('step-size = "0:(0.005), 48:(0.02)"\nsteps = 4\nlayer = ["mixed3=0:(1), 100:(0)"]\n')
    settings = build_settings({}, config)
    assert settings.step_size == "0:(0.005), 48:(0.02)" and settings.steps == 4
    config.write_text('steps = "ten"\n')
    with pytest.raises(UserError, match="'steps' must be int or a schedule"):
        build_settings({}, config)


# ---- --coherence ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("coherence, expected", [
    (0.0, (0.0, 10, 0)),  # per-frame dreams
    (0.25, (0.7, 6, 0)),
    (0.5, (0.85, 3, 0)),
    (0.75, (0.9, 2, 2)),
    (0.9, (0.95, 1, 2)),  # the default
    (1.0, (0.95, 1, 1)),
])
def test_coherence_maps_onto_blend_flow_steps_and_octaves(coherence, expected):
    blend, flow_steps, octaves = coherence_values(coherence, 10)
    assert (pytest.approx(blend), flow_steps, octaves) == expected
    if coherence > 0:  # what a carried frame adds (flow_steps) balances what the blend lets fade (1 - blend)
        assert 1 - blend == pytest.approx(FADE * flow_steps / 10)


def test_coherence_resolves_per_frame_and_the_old_flags_override_it():
    default = build_settings({}).at(0)
    assert (default.blend, default.flow_steps, default.flow_octaves) == (pytest.approx(0.95), 1, 2)
    low = build_settings({"coherence": 0.5}).at(0)
    assert (low.blend, low.flow_steps, low.flow_octaves) == (pytest.approx(0.85), 3, 0)
    given = build_settings({"coherence": 0.5, "blend": 0.95, "flow_steps": 2, "flow_octaves": 2}).at(0)
    assert (given.blend, given.flow_steps, given.flow_octaves) == (0.95, 2, 2)
    scheduled = build_settings({"coherence": 0.5, "steps": "0:(10), 10:(20)"})
    assert scheduled.at(10).flow_steps == 4 and scheduled.at(10).blend == pytest.approx(0.9)  # from that frame's steps
    assert build_settings({"coherence": 0.0}).flow is False  # per-frame dreams need no flow
    assert build_settings({"coherence": 0.0, "flow": True}).flow is True


def test_coherence_out_of_bounds_is_a_user_error():
    with pytest.raises(UserError, match="--coherence must be <= 1"):
        build_settings({"coherence": 1.5})
    with pytest.raises(UserError, match="--flow-octaves must be >= 0"):
        build_settings({"flow_octaves": -1})


# ---- the guide -------------------------------------------------------------------------------------------

@pytest.mark.parametrize("args, words", [
    (["--guide", "missing.jpg"], ["--guide: picture not found: missing.jpg"]),
    (["--guide", "notes.jpg"], ["--guide: not a readable image"]),
])
def test_a_missing_or_unreadable_guide_is_exit_2_before_tensorflow(tmp_path, command, args, words):
    cv2.imwrite(str(tmp_path / "photo.png"), np.full((40, 48, 3), 128, np.uint8))
    (tmp_path / "notes.jpg").write_text("not a picture")
    run = command(tmp_path, "photo.png", "--model", "vgg16-hed", *args)
    assert run.status == 2 and len(run.stderr.strip().splitlines()) == 1
    for word in words:
        assert word in run.stderr
    assert not run.loaded
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.jpg", "photo.png"]
