"""Segments dreamed side by side: batching them changes nothing beyond rounding, seams are not steps, cuts split
them."""
from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

import dreamvid
from clips import cut_clip, moving_clip
from dreamvid.score import frame_errors
from dreamvid.io.decode import read_frames
from dreamvid.temporal.plan import Segment, crossfade_weights, plan_segments

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


def test_segments_start_at_cuts_without_warmup(tmp_path):
    assert plan_segments(0, 24, 3, warmup=4, cuts=(10,)) == [
        Segment(0, 0, 10, 0), Segment(1, 10, 17, 0), Segment(2, 17, 24, 4)]
    source = tmp_path / "cut.mp4"
    cut_clip(source, frames=12, cut_at=6)
    output = tmp_path / "out.mp4"
    dreamvid.render(source, output, streams=2, batch=2, warmup=3, **SETTINGS)
    import json

    record = json.loads(Path(str(output) + ".json").read_text())
    assert [(s["start"], s["warmup"]) for s in record["segments"]] == [(0, 0), (6, 0)]


def test_crossfade_weights_rise_towards_the_new_segment():
    weights = crossfade_weights([Segment(0, 0, 10), Segment(1, 10, 20, warmup=3)])
    assert list(weights) == [7, 8, 9]
    assert weights[7] < weights[8] < weights[9] < 1
