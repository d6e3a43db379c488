"""Segments dreamed side by side: batching them changes nothing beyond rounding, seams are not steps; each
frame of a batch gets its own scheduled values, and a batch one step count."""
from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

import dreamvid
from clips import moving_clip
from doubles import ADDED, RecordingDreamer
from dreamvid.imageops import to_float
from dreamvid.io.decode import read_frames
from dreamvid.score import frame_errors


SETTINGS = dict(model="vgg16-hed", steps=6, octaves=2)


def test_batched_streams_give_the_same_frames_as_one_by_one(tmp_path, saved):
    source = tmp_path / "pan.mp4"
    moving_clip(source, frames=12, size=(96, 64), dx=2, dy=1)
    common = dict(SETTINGS, streams=3, warmup=2)
    dreamvid.render(source, tmp_path / "batched.mp4", batch=3, **common)
    dreamvid.render(source, tmp_path / "single.mp4", batch=1, **common)
    batched, single = saved["batched.mp4"], saved["single.mp4"]
    assert sorted(batched) == sorted(single)
    assert any(name.startswith("warm_") for name in batched)
    # TensorFlow's CPU kernels round a batch of 3 differently from 3 batches of 1 (about 1e-7 after a few
    # steps), which a chain can carry into a level or two of a pixel; the dream itself is the same.
    for name in batched:
        difference = np.abs(batched[name].astype(int) - single[name].astype(int))
        assert difference.max() <= 4 and (difference > 0).mean() < 0.05, name


@pytest.mark.slow
def test_seams_between_segments_are_not_steps_in_the_warping_error(tmp_path):
    source = tmp_path / "pan.mp4"
    moving_clip(source, frames=24, size=(128, 80), dx=2, dy=1)
    seams = [8, 16]  # plan_segments(0, 24, 3, ...) starts segments there

    def errors(warmup: int, output: Path) -> list[float]:
        dreamvid.render(source, output, streams=3, batch=3, warmup=warmup, **SETTINGS)
        frames = read_frames(output) if output.suffix else (
            cv2.imread(str(path))[..., ::-1] for path in sorted(output.glob("*.png")))
        return frame_errors(frames, read_frames(source))

    # The cross-fade itself, on lossless frames (folders of PNGs).
    hard, faded = errors(0, tmp_path / "w0"), errors(4, tmp_path / "w4")
    # errors[k] is the pair k -> k+1, so the seam at frame s is errors[s - 1]
    inside = [e for k, e in enumerate(faded) if k + 1 not in seams]
    assert min(hard[s - 1] for s in seams) > 3 * np.median(hard)  # the metric sees a hard seam
    assert max(faded[s - 1] for s in seams) < 1.5 * np.median(inside)
    assert max(faded) < 1.5 * np.median(inside)
    # A video is encoded in chunks and each segment starts one: a keyframe of an encode of its own,
    # whose step stays well below a hard seam (measured: about half of one).
    video = errors(4, tmp_path / "w4.mp4")
    assert max(video[s - 1] for s in seams) < 0.75 * min(hard[s - 1] for s in seams)


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
