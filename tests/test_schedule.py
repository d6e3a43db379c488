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


def test_seconds_keys_follow_the_frames_own_times():
    """On a variable-rate clip a key in seconds falls on the frame shown at that time."""
    times = [0.0, 0.1, 0.2, 0.5, 1.0, 1.5, 2.0]  # the phone slowed down after 0.2 s
    schedule = Schedule.parse("0:(0), 1s:(1)")
    assert schedule.at(4, fps=10, times=times) == 1.0  # 1 s is frame 4 here, frame 10 at the nominal rate
    assert schedule.at(4, fps=10) == pytest.approx(0.4)
    assert schedule.at(2, fps=10, times=times) == pytest.approx(0.5)  # linear in frames between the keys
    assert Schedule.parse("0:(0), 0.35s:(1)").at(2, fps=10, times=times) == pytest.approx(2 / 2.5)
