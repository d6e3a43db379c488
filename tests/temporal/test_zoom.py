"""The feedback zoom, measured on pixels: with no dreaming (steps 0) every frame is the one before moved
by the requested transform; with dreaming, a resumed zoom equals an uninterrupted one."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import cv2
import numpy as np
import pytest

import dreamvid
from clips import moving_clip
from doubles import StubDreamer
from dreamvid.api import render_zoom
from dreamvid.errors import UserError
from dreamvid.io.decode import read_frames
from helpers import FAST, TESTS, checkpoints, done_frames, kill_when, power_cut_at_round, write_png


STILL = dict(model="vgg16-hed", octaves=1, steps=0, flow_steps=0)  # the model runs, the picture is unchanged


def step(frame: np.ndarray, zoom: float, degrees: float, dx: float, dy: float) -> np.ndarray:
    """The expected step, written out independently of dreamvid: about the centre, reflected borders, 8-bit."""
    height, width = frame.shape[:2]
    matrix = cv2.getRotationMatrix2D(((width - 1) / 2, (height - 1) / 2), degrees, zoom)
    matrix[:, 2] += (dx, dy)
    moved = cv2.warpAffine(frame, matrix, (width, height), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
    return np.rint(moved * 255) / 255


def test_each_frame_is_the_one_before_zoomed_and_rotated(tmp_path, natural, saved):
    photo = write_png(tmp_path / "photo.png", natural(64, 96))
    render_zoom(photo, tmp_path / "zoom.mp4", frames=5, zoom=1.1, rotate=3, keep_parts=True, dreamer=StubDreamer(),
                **STILL)
    frames = checkpoints(saved, tmp_path / "zoom.mp4")
    assert len(frames) == 5
    expected = cv2.imread(str(photo))[..., ::-1].astype(np.float32) / 255
    for frame in frames:
        assert np.abs(frame - expected).max() <= 1.5 / 255
        expected = step(frame, 1.1, 3, 0, 0)
    assert np.abs(frames[4] - frames[0]).mean() > 0.02  # it did move
    record = json.loads((tmp_path / "zoom.mp4.json").read_text())
    assert record["parameters"]["zoom"] == "1.1" and record["frames"] == [0, 5]
    assert dreamvid.io.decode.probe_video(tmp_path / "zoom.mp4").frame_count == 5


def shift_between(first: np.ndarray, second: np.ndarray) -> tuple[float, float]:
    grey = [cv2.cvtColor(f, cv2.COLOR_RGB2GRAY).astype(np.float64) for f in (first, second)]
    window = cv2.createHanningWindow(grey[0].shape[::-1], cv2.CV_64F)
    (dx, dy), _ = cv2.phaseCorrelate(grey[0], grey[1], window)
    return dx, dy


def test_a_translation_schedule_moves_the_content_by_the_requested_pixels(tmp_path, natural, saved):
    photo = write_png(tmp_path / "photo.png", natural(96, 128, seed=3))
    # 1, 2, 3 pixels right at frames 1, 2, 3 (a ramp), and 2 up each frame
    render_zoom(photo, tmp_path / "pan.mp4", frames=4, zoom=1, translate_x="0:(0), 4:(4)", translate_y=-2,
                keep_parts=True, dreamer=StubDreamer(), **STILL)
    frames = checkpoints(saved, tmp_path / "pan.mp4")
    for k, (right, up) in enumerate([(1, 2), (3, 4), (6, 6)], start=1):
        dx, dy = shift_between(frames[0], frames[k])
        assert dx == pytest.approx(right, abs=0.3) and dy == pytest.approx(-up, abs=0.3)


def test_a_zoom_resumed_after_a_crash_equals_an_uninterrupted_one(tmp_path, natural, saved):
    photo = write_png(tmp_path / "photo.png", natural(64, 96, seed=5))
    options = dict(frames=6, zoom=1.05, rotate=1, translate_x=0.5, keep_parts=True, **{**FAST, "flow_steps": 1})
    render_zoom(photo, tmp_path / "whole.mp4", dreamer=StubDreamer(), **options)

    with power_cut_at_round(4):
        render_zoom(photo, tmp_path / "resumed.mp4", dreamer=StubDreamer(), **options)
    assert not (tmp_path / "resumed.mp4").exists()
    assert done_frames(tmp_path / "resumed.mp4") == [0, 1, 2]
    render_zoom(photo, tmp_path / "resumed.mp4", dreamer=StubDreamer(), **options)

    whole, resumed = checkpoints(saved, tmp_path / "whole.mp4"), checkpoints(saved, tmp_path / "resumed.mp4")
    assert len(whole) == len(resumed) == 6
    for a, b in zip(whole, resumed):
        assert np.array_equal(a, b)
    assert np.abs(whole[5] - whole[0]).mean() > 0.01


def test_a_zoom_from_a_video_starts_from_its_last_frame(tmp_path, saved):
    clip = tmp_path / "clip.mp4"
    moving_clip(clip, frames=6)
    last = list(read_frames(clip))[-1]
    render_zoom(clip, frames=2, zoom=1.2, keep_parts=True, dreamer=StubDreamer(), **STILL)
    frames = checkpoints(saved, tmp_path / "clip_zoom.mp4")
    assert np.abs(frames[0] * 255 - last).max() <= 1.5
    assert (tmp_path / "clip_zoom.mp4.json").is_file()


def test_a_large_still_is_zoomed_at_max_side(tmp_path, natural):
    photo = write_png(tmp_path / "big.png", natural(300, 400, seed=2))
    render_zoom(photo, frames=2, max_side=100, dreamer=StubDreamer(), **STILL)
    info = dreamvid.io.decode.probe_video(tmp_path / "big_zoom.mp4")
    assert (info.width, info.height) == (100, 74)


def test_a_queue_of_zooms_and_a_changed_motion_is_refused_on_resume(tmp_path, natural):
    pictures = [write_png(tmp_path / f"p{k}.png", natural(64, 96, seed=k)) for k in range(2)]
    out = tmp_path / "out"
    out.mkdir()
    results = render_zoom(pictures, out, frames=2, zoom=1.1, keep_parts=True, dreamer=StubDreamer(), **STILL)
    assert [r.status for r in results] == ["done", "done"]
    assert sorted(p.name for p in out.glob("*.mp4")) == ["p0_zoom.mp4", "p1_zoom.mp4"]
    with pytest.raises(UserError, match=r"zoom: '1.1' -> '1.2'"):
        render_zoom(pictures[0], out / "p0_zoom.mp4", frames=2, zoom=1.2, overwrite=True, dreamer=StubDreamer(),
                    **STILL)
    [result] = render_zoom(pictures[0], out / "p0_zoom.mp4", frames=2, zoom=1.1, dreamer=StubDreamer(), **STILL)
    assert result.status == "skipped"


# A zoom in a process of its own, to be killed: the stub dreamer takes a tenth of a second a frame.
KILLABLE = """
import sys
from dreamvid.api import render_zoom
from doubles import StubDreamer
from helpers import FAST

photo, output = sys.argv[1:]
render_zoom(photo, output, frames=14, zoom=1.04, rotate=0.5, keep_parts=True, dreamer=StubDreamer(delay=0.1),
            batch=1, **FAST)  # batch: a CPU's, not asked of TensorFlow
"""


def test_a_zoom_killed_with_sigkill_resumes_to_the_same_frames(tmp_path, natural):
    photo = write_png(tmp_path / "photo.png", natural(64, 96, seed=9))
    render_zoom(photo, tmp_path / "whole.mp4", frames=14, zoom=1.04, rotate=0.5, keep_parts=True,
                dreamer=StubDreamer(), **FAST)
    output = tmp_path / "killed.mp4"
    command, env = [sys.executable, "-c", KILLABLE, str(photo), str(output)], {**os.environ, "PYTHONPATH": str(TESTS)}
    process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    kill_when(process, lambda: len(done_frames(output)) >= 4)
    assert 4 <= len(done_frames(output)) < 14 and not output.exists()
    subprocess.run(command, env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    whole, resumed = list(read_frames(tmp_path / "whole.mp4")), list(read_frames(output))  # the same H.264
    assert len(resumed) == 14
    for index, (a, b) in enumerate(zip(whole, resumed)):
        assert np.array_equal(a, b), f"frame {index} differs"
    assert len(json.loads((output.parent / "killed.mp4.json").read_text())["frame_seconds"]) == 14
