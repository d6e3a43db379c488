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


@pytest.mark.parametrize("text", ["0:0.5", "0:(a)", "x:(1)", "0:(1),, 2:(3)", "", "0:(1) 2:(3)"])
def test_bad_schedules_are_user_errors(text):
    with pytest.raises(UserError, match="schedule"):
        Schedule.parse(text, "--step-size")
