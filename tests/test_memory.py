"""A still too large for the memory is refused while planning, with a --max-side that fits."""
from pathlib import Path

import cv2
import numpy as np
import pytest

from dreamvid import memory
from dreamvid.errors import UserError
from dreamvid.io.images import ImageInfo
from dreamvid.jobs import plan_jobs
from dreamvid.memory import check_memory
from dreamvid.settings import build_settings


def test_a_huge_still_is_refused_with_a_max_side_that_fits():
    info = ImageInfo(Path("huge.jpg"), 8000, 6000)
    available = 8 << 30
    with pytest.raises(UserError) as refused:
        check_memory(info, None, available=available)
    message = str(refused.value)
    assert "8000x6000" in message and "8.0 GiB is available" in message and "--max-side" in message
    side = int(message.split("--max-side ")[1].split()[0])
    check_memory(info, side, available=available)  # the suggestion fits
    assert 1000 < side < 8000
    check_memory(info, None, available=64 << 30)  # a large machine dreams it whole


def test_a_still_that_no_max_side_can_fit_says_so():
    with pytest.raises(UserError, match="even with --max-side"):
        check_memory(ImageInfo(Path("huge.jpg"), 8000, 6000), None, available=3 << 30)


def test_planning_refuses_a_still_and_a_folder_too_large_for_the_memory(tmp_path, monkeypatch):
    """Before TensorFlow loads, from the headers; the machine's memory is pretended small."""
    cv2.imwrite(str(tmp_path / "big.png"), np.zeros((300, 400, 3), np.uint8))
    folder = tmp_path / "shots"
    folder.mkdir()
    cv2.imwrite(str(folder / "a.png"), np.zeros((30, 40, 3), np.uint8))
    cv2.imwrite(str(folder / "b.png"), np.zeros((300, 400, 3), np.uint8))
    need = memory.still_bytes(400, 300, None)
    monkeypatch.setattr(memory, "available_memory", lambda: (need - 8 * 2**20) * 3 // 2)
    for source in (tmp_path / "big.png", folder):
        with pytest.raises(UserError, match=r"needs about .* GiB of memory .* try --max-side \d+"):
            plan_jobs([source], build_settings({"model": "vgg16-hed"}))
        plan_jobs([source], build_settings({"model": "vgg16-hed", "max_side": 200}))  # fits
    monkeypatch.setattr(memory, "available_memory", lambda: need * 3 // 2 + 2**20)
    plan_jobs([tmp_path / "big.png"], build_settings({"model": "vgg16-hed"}))
