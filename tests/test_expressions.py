"""Expressions in schedules (`0:(0.01 + 0.005*sin(2*pi*t/48))`): their values at chosen frames, how an
expression key meets its neighbours, the loudness `a`, what the whitelist refuses, and the checks a render
makes of every frame before any work."""
from __future__ import annotations

import json
import math

import numpy as np
import pytest

import dreamvid
from clips import moving_clip
from dreamvid.errors import UserError
from dreamvid.schedule import Schedule
from dreamvid.settings import build_settings
from stub_dreamer import StubDreamer

STUB = dict(model="vgg16-hed", steps=1, octaves=1, flow_steps=1, jitter=4)


def value(text: str, frame: int, **where) -> float:
    return Schedule.parse(text, "--step-size").at(frame, **where)


def test_deforums_wobble_at_chosen_frames():
    text = "0:(0.01 + 0.005*sin(2*pi*t/48))"
    assert [value(text, t) for t in (0, 12, 24, 36, 48)] == pytest.approx([0.01, 0.015, 0.01, 0.005, 0.01])
    assert Schedule.parse(text).constant is None and Schedule.parse(text).values() == []


@pytest.mark.parametrize("text, frame, expected", [
    ("0:(t % 7)", 23, 2.0),
    ("0:(2**(t/10))", 30, 8.0),
    ("0:(-t**2)", 3, -9.0),  # ** binds tighter than the minus, as in Python and Deforum
    ("0:(max(0.1, min(abs(sin(t)), sqrt(t)/10)))", 4, min(abs(math.sin(4)), 0.2)),
    ("0:(floor(t/4) + ceil(t/4))", 5, 3.0),
    ("0:(exp(log(t)))", 9, 9.0),
    ("0:(cos(pi) + tan(0))", 0, -1.0),
    ("0:(max(1, 2, t))", 7, 7.0),
])
def test_operators_and_nested_functions(text, frame, expected):
    assert value(text, frame) == pytest.approx(expected)


def test_s_is_seconds_at_the_frame_rate_or_the_frames_own_times():
    assert value("0:(s)", 50, fps=25) == 2.0 and value("0:(s)", 12, fps=24) == 0.5
    times = [0.0, 0.1, 0.2, 0.5, 1.0]  # a phone that slowed down
    assert value("0:(s)", 3, fps=10, times=times) == 0.5  # its own time, not 3 / 10
    assert value("0:(s)", 6, fps=10, times=times) == pytest.approx(2.0)  # past the end: the last spacing
    assert Schedule.parse("0:(s)").timed and not Schedule.parse("0:(t)").timed


def test_each_keys_expression_is_evaluated_at_the_frame_and_interpolated():
    """Between two keys, both values at the current frame, linearly mixed; before the first and after the
    last, that key's expression goes on."""
    text = "10:(t), 20:(100 - t), 30:(0.5)"
    assert value(text, 4) == 4.0  # before the first key: t itself
    assert value(text, 15) == pytest.approx(0.5 * 15 + 0.5 * 85)
    assert value(text, 20) == 80.0
    assert value(text, 25) == pytest.approx(0.5 * 75 + 0.5 * 0.5)
    assert value(text, 40) == 0.5
    assert value("0:(0), 2s:(s)", 25, fps=25) == pytest.approx(0.5 * 1.0)  # a key in seconds, an expression of s


def test_a_is_the_loudness_at_the_frame():
    envelope = [0.0, 0.5, 1.0]
    plan = Schedule.parse("0:(0.01 + 0.02*a)")
    assert plan.sound and not plan.audio
    assert [plan.at(k, envelope=envelope) for k in range(4)] == pytest.approx([0.01, 0.02, 0.03, 0.03])
    with pytest.raises(UserError, match="loudness a"):
        plan.at(0)  # no soundtrack
    assert build_settings({"step_size": "0:(0.01 + 0.02*a)"}).audio_driven


def test_a_text_with_commas_spaces_and_newlines():
    plan = Schedule.parse(" 0: (max(a, 0.2) * 0.01),\n 48 : (min(t, 2) / 100) ")
    assert len(plan.keys) == 2 and plan.at(48, envelope=[0.0]) == pytest.approx(0.02)


def test_a_constant_expression_is_its_number():
    settings = build_settings({"step_size": "0:(2 * 0.01)", "steps": "0:(3 + 1)"})
    assert settings.step_size == pytest.approx(0.02) and settings.steps == 4 and settings.schedules() == {}


@pytest.mark.parametrize("text, words", [
    ("0:(1 +)", "not an expression"),
    ("0:(x)", "unknown name x"),
    ("0:(sin)", "sin is a function"),
    ("0:(open('x'))", "open is not a function"),
    ("0:(__import__('os'))", "__import__ is not a function"),
    ("0:(__import__('os').system('true'))", "calling __import__('os').system is not allowed"),
    ("0:(t.real)", "attribute access is not allowed"),
    ("0:(math.sin(t))", "calling math.sin is not allowed"),
    ("0:((lambda: 1)())", "calling lambda: 1 is not allowed (lambda)"),
    ("0:((lambda t: t)(1))", "lambda"),
    ("0:([t for t in (1, 2)])", "a comprehension is not allowed"),
    ("0:(sum(t for t in (1, 2)))", "sum is not a function"),
    ("0:((1, 2))", "a tuple is not allowed"),
    ("0:('a')", "the constant 'a'"),
    ("0:(t if t else 1)", "if/else"),
    ("0:(t > 1)", "a comparison"),
    ("0:(t // 2)", "the operator //"),
    ("0:(9**9**9)", "an exponent above 100"),
    ("0:(t**1000)", "an exponent above 100"),
    ("0:(log(0))", "log(0) cannot be computed"),
    ("0:((-8)**0.5)", "a negative number to a fractional power"),
    ("0:(max(1))", "max() takes 2 or more arguments"),
    ("0:(sin(x=1))", "plain arguments"),
    ("0:(" + "-" * 40 + "1)", "nested deeper"),
    ("0:(" + "1+" * 300 + "1)", "longer than 500"),
])
def test_bad_expressions_are_refused_naming_them(text, words):
    with pytest.raises(UserError) as refused:
        build_settings({"step_size": text})
    message = str(refused.value)
    assert words in message and "schedule for '--step-size'" in message and text[3:-1][:20] in message


def test_an_expression_that_fails_at_a_frame_says_which():
    plan = Schedule.parse("0:(1 / (t - 3))")
    assert plan.at(5) == 0.5
    with pytest.raises(UserError, match=r"divides by zero at frame 3"):
        plan.at(3)
    with pytest.raises(UserError, match=r"too large to compute at frame 2000"):
        Schedule.parse("0:(2**t)").at(2000)


# ---- checked before any work --------------------------------------------------------------------------


@pytest.fixture
def clip(tmp_path):
    path = tmp_path / "clip.mp4"
    moving_clip(path, frames=8, size=(64, 48))
    return path


def test_every_frame_of_a_render_is_checked_before_any_work(clip, tmp_path):
    """0.02 sin(2 pi t / 8) is negative from frame 5: refused, naming the frame; --frames 1:4 never gets there."""
    text = "0:(0.02*sin(2*pi*t/8) + 0.001)"
    with pytest.raises(UserError, match=r"--step-size must be > 0 \(got -0.\d+\) at frame 5 of '0:\(0.02"):
        dreamvid.render(clip, step_size=text, **STUB)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["clip.mp4"]
    dreamvid.render(clip, step_size=text, frames="1:4", dreamer=StubDreamer(), **STUB)
    quick = {key: value for key, value in STUB.items() if key != "steps"}
    with pytest.raises(UserError, match=r"--steps must be <= 10000 \(got 100000\) at frame 6"):
        dreamvid.render(clip, steps="0:(10**(t - 1))", overwrite=True, **quick)


def test_loudness_expressions_are_checked_at_silence_and_at_the_loudest(tmp_path):
    from clips import sound_clip

    sound_clip(tmp_path / "music.mp4", [0.0, 0.5])
    with pytest.raises(UserError, match=r"must be > 0 \(got -0.01\) at frame 0, loudness a = 0 of"):
        dreamvid.render(tmp_path / "music.mp4", step_size="0:(0.03*a - 0.01)", **STUB)
    moving_clip(tmp_path / "mute.mp4", frames=4, size=(64, 48))
    with pytest.raises(UserError, match="mute.mp4 has no soundtrack for --step-size to follow"):
        dreamvid.render(tmp_path / "mute.mp4", step_size="0:(0.01 + 0.01*a)", **STUB)


def test_the_record_holds_the_values_per_frame(clip, tmp_path):
    dreamvid.render(clip, step_size="0:(0.01 + 0.001*(t % 3))", jitter="0:(2*t)", dreamer=StubDreamer(),
                    **{k: v for k, v in STUB.items() if k != "jitter"})
    record = json.loads((tmp_path / "clip_dream.mp4.json").read_text())
    assert record["parameters"]["step_size"] == "0:(0.01 + 0.001*(t % 3))"
    assert record["schedules"]["--step-size"] == pytest.approx([0.01 + 0.001 * (t % 3) for t in range(8)])
    assert record["schedules"]["--jitter"] == [2 * t for t in range(8)]


def test_the_sound_drives_an_expression_through_a_render(tmp_path):
    from clips import sound_clip

    sound_clip(tmp_path / "music.mp4", [0.0, 0.5])  # 1 s of silence, then 1 s of a tone: 20 frames
    dreamvid.render(tmp_path / "music.mp4", step_size="0:(0.005 + 0.02*a)", dreamer=StubDreamer(), **STUB)
    sizes = json.loads((tmp_path / "music_dream.mp4.json").read_text())["schedules"]["--step-size"]
    assert sizes[:8] == pytest.approx([0.005] * 8, abs=3e-4) and sizes[12:] == pytest.approx([0.025] * 8, abs=5e-4)


def test_seconds_in_an_expression_join_the_fingerprint_of_a_sequence(tmp_path):
    from dreamvid.engine.catalog import resolved_parameters
    from dreamvid.job import Job
    from dreamvid.journal.resume import job_fingerprint

    job = Job("sequence", tmp_path, tmp_path / "out")

    def key(**options):
        return job_fingerprint(job, resolved_parameters(build_settings({"model": "vgg16-hed", **options})))

    assert key(step_size="0:(0.01 + 0.001*t)", fps=24.0) == key(step_size="0:(0.01 + 0.001*t)", fps=30.0)
    assert key(step_size="0:(0.01 + 0.001*s)", fps=24.0) != key(step_size="0:(0.01 + 0.001*s)", fps=30.0)
    assert key(layers=["block4_conv3=0:(sin(s))"], fps=24.0) != key(layers=["block4_conv3=0:(sin(s))"], fps=30.0)


def test_a_still_is_checked_at_frame_zero(tmp_path):
    import cv2

    cv2.imwrite(str(tmp_path / "photo.png"), np.full((40, 48, 3), 128, np.uint8))
    with pytest.raises(UserError, match=r"--step-size must be > 0 \(got 0\) at frame 0"):
        dreamvid.render(tmp_path / "photo.png", step_size="0:(0.001*t)", **STUB)
    with pytest.raises(UserError, match="photo.png has no soundtrack"):
        dreamvid.render(tmp_path / "photo.png", step_size="0:(0.01 + a)", **STUB)


def test_a_bad_expression_on_the_command_line_is_one_line_and_exit_2(tmp_path, cli):
    import cv2

    cv2.imwrite(str(tmp_path / "photo.png"), np.full((40, 48, 3), 128, np.uint8))
    run = cli(tmp_path, "photo.png", "--model", "vgg16-hed", "--step-size", "0:(__import__('os').getcwd())")
    assert run.status == 2 and len(run.stderr.strip().splitlines()) == 1, run.stderr
    assert "bad expression" in run.stderr and "is not allowed" in run.stderr and not run.loaded
    assert sorted(p.name for p in tmp_path.iterdir()) == ["photo.png"]


def test_a_preview_checks_the_expression_at_its_frame(tmp_path, cli):
    import cv2

    cv2.imwrite(str(tmp_path / "photo.png"), np.full((40, 48, 3), 128, np.uint8))
    run = cli(tmp_path, "preview", "photo.png", "--model", "vgg16-hed", "--step-size", "0:(0.001*t)")
    assert run.status == 2 and "--step-size must be > 0 (got 0) at frame 0" in run.stderr, run.stderr
    assert not run.loaded and sorted(p.name for p in tmp_path.iterdir()) == ["photo.png"]
