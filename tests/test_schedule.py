import pytest

from dreamvid.errors import UserError
from dreamvid.schedule import Schedule


def test_a_number_is_a_constant_schedule():
    schedule = Schedule.parse("0.02")
    assert schedule.constant == 0.02 and schedule.at(0) == schedule.at(999) == 0.02


def test_values_are_linear_between_keys_and_held_outside():
    schedule = Schedule.parse("10:(0.005), 50:(0.025), 120:(0.005)")
    assert schedule.constant is None
    assert schedule.at(0) == 0.005 and schedule.at(10) == 0.005
    assert schedule.at(30) == pytest.approx(0.015)
    assert schedule.at(50) == pytest.approx(0.025)
    assert schedule.at(85) == pytest.approx(0.015)
    assert schedule.at(500) == 0.005


def test_keys_in_seconds_use_the_frame_rate():
    schedule = Schedule.parse("0:(0), 2s:(1)")
    assert schedule.at(25, fps=25) == pytest.approx(0.5)
    assert schedule.at(50, fps=25) == 1.0
    assert schedule.at(12, fps=12) == pytest.approx(0.5)


@pytest.mark.parametrize("text", ["0:0.5", "0:(b)", "x:(1)", "0:(1),, 2:(3)", "", "0:(1) 2:(3)"])
def test_bad_schedules_are_user_errors(text):
    with pytest.raises(UserError, match="schedule"):
        Schedule.parse(text, "--step-size")


def test_audio_schedule_maps_the_envelope_onto_its_range():
    schedule = Schedule.parse("audio:0.005..0.03")
    assert schedule.audio and schedule.constant is None and schedule.values() == [0.005, 0.03]
    envelope = [0.0, 0.5, 1.0]
    assert [schedule.at(k, envelope=envelope) for k in range(3)] == pytest.approx([0.005, 0.0175, 0.03])
    assert schedule.at(7, envelope=envelope) == pytest.approx(0.03)  # past the end: the last frame's
    with pytest.raises(UserError, match="follows a soundtrack"):
        schedule.at(0)  # a still, say


@pytest.mark.parametrize("text", ["audio:0.1", "audio:a..b", "audio 0.1..0.2", "audio:0.1..0.2..0.3"])
def test_bad_audio_schedules_are_user_errors(text):
    with pytest.raises(UserError, match="schedule"):
        Schedule.parse(text, "--step-size")


# ---- schedules in settings ------------------------------------------------------------------------------

from dreamvid.settings import LayerSpec, build_settings, parse_layer_spec  # noqa: E402
from dreamvid.sidecar import fingerprint  # noqa: E402


def test_a_number_given_as_text_is_the_same_setting_and_fingerprint():
    """The CLI passes schedulable options as text: a plain number must render and fingerprint as before
    (the fingerprint below is the one dreamvid gave these settings before schedules existed, renewed
    when --coherence changed how carried frames are dreamed)."""
    as_numbers = build_settings({"model": "vgg16-hed", "steps": 3, "step_size": 0.02, "jitter": 8, "blend": 0.8,
                                 "flow_steps": 2, "layers": ["block4_conv3=0.5"]})
    as_text = build_settings({"model": "vgg16-hed", "steps": "3", "step_size": "0.02", "jitter": "8", "blend": "0.8",
                              "flow_steps": "2", "layers": ["block4_conv3=0.5"]})
    assert as_text == as_numbers
    assert isinstance(as_text.steps, int) and isinstance(as_text.step_size, float)
    assert fingerprint(as_text.to_dict()) == "015850fb50fa4da2"
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


# ---- through a real render ----------------------------------------------------------------------------

import json  # noqa: E402
from types import SimpleNamespace  # noqa: E402

import numpy as np  # noqa: E402

import dreamvid  # noqa: E402
import dreamvid.api  # noqa: E402
from clips import moving_clip  # noqa: E402
from dreamvid.imageops import to_float  # noqa: E402
from dreamvid.io.decode import read_frames# noqa: E402

ADDED = 0.1  # what the recording dreamer adds to every pixel


class RecordingDreamer:
    """Stands in for the engine: keeps what each batch was asked for and adds ADDED everywhere, so the
    start image of a carried frame shows how much of the previous dream the blend carried."""

    def __init__(self):
        self.batches: list[tuple[np.ndarray, object, int]] = []
        self.features = SimpleNamespace(precision="float32")

    def auto_tile(self, batch: int) -> int:
        return 512

    def dream(self, images, params, steps=None, step_map=None, top_octaves=None):
        self.batches.append((images.copy(), params, steps))
        return np.clip(images + ADDED, 0.0, 1.0)


@pytest.fixture
def recorder(monkeypatch):
    dreamer = RecordingDreamer()
    # it adds far more than a dream of these steps would: the carried dream's limit would hold it back
    monkeypatch.setattr("dreamvid.temporal.chain.DELTA_LIMIT", float("inf"))
    return dreamer


def test_keyframed_parameters_reach_each_frame_of_a_render(tmp_path, recorder):
    """8 frames in two segments dreamed side by side (batch 2): each frame gets its own step size, steps
    (or flow steps), blend and layer weight from the schedules, by source frame index; a batch holds
    frames with different step sizes but always one step count."""
    source = tmp_path / "clip.mp4"
    moving_clip(source, frames=8, fps=10)
    step_size = "0:(0.01), 7:(0.08)"  # 0.01 per frame: tells the frames apart
    dreamvid.render(source, model="vgg16-hed", octaves=1, batch=2, streams=2, warmup=0, step_size=step_size,
                    steps="0:(2), 0.4s:(6)", flow_steps="6:(1), 7:(3)", blend="0:(0), 7:(0.7)",
                    layers=["block4_conv3=0:(1), 7:(0)", "block3_conv3=0.5"], dreamer=recorder)
    decoded = [to_float(frame) for frame in read_frames(source)]
    seen = {}
    for images, params, steps in recorder.batches:
        assert len(images) <= 2 and params.steps == steps
        for k, image in enumerate(images):
            frame = round(params.step_size[k] / 0.01) - 1
            assert params.step_size[k] == pytest.approx(0.01 * (frame + 1))
            assert params.layer_weights[k] == pytest.approx((1 - frame / 7, 0.5))
            seen[frame] = (steps, float(np.median(image - decoded[frame])))
    assert sorted(seen) == list(range(8))
    # frames 0 and 4 start their segments (steps: 2 at frame 0, 6 from 0.4 s = frame 4); the others are
    # carried (flow steps 1 up to frame 6, then 3), with blend = 0.1 x frame of what the dream added so far
    assert seen[0][0] == 2 and seen[4][0] == 6
    assert {k: seen[k][0] for k in (1, 2, 3, 5, 6, 7)} == {1: 1, 2: 1, 3: 1, 5: 1, 6: 1, 7: 3}
    pairs = [sorted(round(s / 0.01) - 1 for s in params.step_size) for _, params, _ in recorder.batches]
    assert [1, 5] in pairs and [2, 6] in pairs and [3] in pairs and [7] in pairs  # 3 and 7: other steps
    carried = {0: 0.0, 4: 0.0}
    for k in (1, 2, 3, 5, 6, 7):
        carried[k] = 0.1 * k * (ADDED + carried[k - 1])
        assert seen[k][1] == pytest.approx(carried[k], abs=0.004)
    assert seen[0][1] == seen[4][1] == 0.0
    record = json.loads((tmp_path / "clip_dream.mp4.json").read_text())
    assert record["parameters"]["step_size"] == step_size
    assert record["schedules"]["--step-size"] == pytest.approx([0.01 * (k + 1) for k in range(8)])
    assert record["schedules"]["--steps"] == [2, 3, 4, 5, 6, 6, 6, 6]


def test_plain_numbers_batch_as_before(tmp_path, recorder):
    """Without schedules a round is two batches at most, first frames then carried ones, as before."""
    source = tmp_path / "clip.mp4"
    moving_clip(source, frames=4, fps=10)
    dreamvid.render(source, model="vgg16-hed", octaves=1, batch=2, streams=2, warmup=0, steps=3, flow_steps=1,
                    step_size=0.02, dreamer=recorder)
    shapes = [(len(images), params.step_size, steps) for images, params, steps in recorder.batches]
    assert shapes == [(2, (0.02, 0.02), 3), (2, (0.02, 0.02), 1)]
    assert "schedules" not in json.loads((tmp_path / "clip_dream.mp4.json").read_text())


def test_a_still_uses_the_values_at_frame_zero(tmp_path, recorder):
    import cv2

    cv2.imwrite(str(tmp_path / "photo.png"), np.full((40, 48, 3), 128, np.uint8))
    dreamvid.render(tmp_path / "photo.png", model="vgg16-hed", step_size="0:(0.03), 10:(0.01)", steps="0:(4), 9:(1)", dreamer=recorder)
    (_, params, steps), = recorder.batches
    assert params.step_size == 0.03 and params.steps == 4 and steps is None


# ---- the command ----------------------------------------------------------------------------------------

@pytest.mark.parametrize("args, words", [
    (["--step-size", "0:(0.01) 5:(0.02)"], ["bad schedule for '--step-size'", "KEY:(VALUE)"]),
    (["--steps", "0:(3), 10:(x)"], ["'--steps'"]),
    (["--steps", "many"], ["'--steps'", "'many'"]),
    (["--jitter", "2.5"], ["--jitter must be a whole number"]),
    (["--blend", "0:(0.5), 1s:(1.5)"], ["--blend must be <= 1"]),
    (["--flow-steps", "audio:1"], ["bad schedule for '--flow-steps'"]),
    (["--layer", "block4_conv3=0:(1), 10:(0"], ["the weight of block4_conv3"]),
    (["--step-size", "audio:0.01..0.03"], ["photo.png has no soundtrack for --step-size"]),
])
def test_a_bad_schedule_is_one_line_and_exit_2_before_tensorflow(tmp_path, cli, args, words):
    import cv2

    cv2.imwrite(str(tmp_path / "photo.png"), np.full((40, 48, 3), 128, np.uint8))
    run = cli(tmp_path, "photo.png", "--model", "vgg16-hed", *args)
    assert run.status == 2, run.stderr
    assert len(run.stderr.strip().splitlines()) == 1 and run.stderr.startswith("dreamvid: error:")
    for word in words:
        assert word in run.stderr
    assert not run.loaded  # TensorFlow never loaded
    assert sorted(p.name for p in tmp_path.iterdir()) == ["photo.png"]


def test_a_sequence_counts_seconds_at_its_fps(tmp_path, recorder):
    import cv2

    from clips import translating_frames

    shot = tmp_path / "shot"
    shot.mkdir()
    for index, frame in enumerate(translating_frames(5, (96, 64), 2, 1)):
        cv2.imwrite(str(shot / f"f_{index:03d}.png"), frame[..., ::-1])
    dreamvid.render(shot, sequence=True, fps=2, model="vgg16-hed", octaves=1, step_size="0:(0.01), 1s:(0.03)", dreamer=recorder)
    sizes = [size for _, params, _ in recorder.batches for size in params.step_size]
    assert sizes == pytest.approx([0.01, 0.02, 0.03, 0.03, 0.03])  # 1 s = frame 2 at 2 fps
    record = json.loads((tmp_path / "shot_dream" / "dreamvid.json").read_text())
    assert record["schedules"]["--step-size"] == pytest.approx(sizes)


def test_fps_joins_the_fingerprint_only_when_a_schedule_counts_seconds(tmp_path):
    """A sequence's seconds are counted at --fps: resuming at another rate would shift the keys."""
    from dreamvid.job import Job
    from dreamvid.engine.catalog import resolved_parameters
    from dreamvid.journal.resume import job_fingerprint
    from dreamvid.settings import build_settings

    job = Job("sequence", tmp_path, tmp_path / "out")

    def key(**options):
        return job_fingerprint(job, resolved_parameters(build_settings({"model": "vgg16-hed", **options})))

    assert key(fps=24.0) == key(fps=30.0)  # plain numbers: the rate changes no frame
    assert key(step_size="0:(0.01), 48:(0.02)", fps=24.0) == key(step_size="0:(0.01), 48:(0.02)", fps=30.0)
    assert key(step_size="0:(0.01), 2s:(0.02)", fps=24.0) != key(step_size="0:(0.01), 2s:(0.02)", fps=30.0)
    assert key(layers=["block4_conv3=0:(1), 2s:(0)"], fps=24.0) != key(layers=["block4_conv3=0:(1), 2s:(0)"],
                                                                       fps=30.0)


def test_seconds_keys_follow_the_frames_own_times():
    """On a variable-rate clip a key in seconds falls on the frame shown at that time."""
    times = [0.0, 0.1, 0.2, 0.5, 1.0, 1.5, 2.0]  # the phone slowed down after 0.2 s
    schedule = Schedule.parse("0:(0), 1s:(1)")
    assert schedule.at(4, fps=10, times=times) == 1.0  # 1 s is frame 4 here, frame 10 at the nominal rate
    assert schedule.at(4, fps=10) == pytest.approx(0.4)
    assert schedule.at(2, fps=10, times=times) == pytest.approx(0.5)  # linear in frames between the keys
    assert Schedule.parse("0:(0), 0.35s:(1)").at(2, fps=10, times=times) == pytest.approx(2 / 2.5)


def test_a_variable_rate_render_keys_seconds_on_its_timestamps(tmp_path):
    import json

    import dreamvid
    from clips import vfr_clip
    from helpers import FAST

    times = [0.0, 0.1, 0.2, 0.5, 1.0, 1.5]
    vfr_clip(tmp_path / "phone.mp4", times, size=(64, 48))
    dreamvid.render(tmp_path / "phone.mp4", step_size="0:(0.01), 1s:(0.03)", **FAST)
    record = json.loads((tmp_path / "phone_dream.mp4.json").read_text())
    # 1 s is frame 4 (its timestamp), not frame 10 of the nominal rate
    assert record["schedules"]["--step-size"] == pytest.approx([0.01, 0.015, 0.02, 0.025, 0.03, 0.03], abs=1e-6)
