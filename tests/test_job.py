"""The plain values that travel: a zoom's motion."""
import pytest

from dreamvid.errors import UserError
from dreamvid.job import ZoomMotion


def test_zoom_motion_checks_values():
    motion = ZoomMotion.parse("0:(1), 10:(2)", "5", "0", "0:(0), 1s:(10)", frames=20, fps=10)
    assert motion.at(5) == (1.5, 5.0, 0.0, 5.0)
    with pytest.raises(UserError, match="--zoom"):
        ZoomMotion.parse("-1")
