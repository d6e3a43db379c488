"""A render's plan: segments cover the range once, start at cuts without warm-up, and cross-fade; cuts are
looked for at a size the flow takes."""
from __future__ import annotations

from pathlib import Path

import dreamvid
from clips import cut_clip, moving_clip
from doubles import StubDreamer
from dreamvid.temporal.plan import Segment, crossfade_weights, plan_segments


SETTINGS = dict(model="vgg16-hed", steps=6, octaves=2)


def test_plan_segments_cover_the_range_once():
    segments = plan_segments(3, 50, streams=4, warmup=5)
    assert segments[0] == Segment(0, 3, segments[0].end, 0)
    covered = [i for s in segments for i in range(s.start, s.end)]
    assert covered == list(range(3, 50))
    assert all(s.warmup == 5 for s in segments[1:])
    assert len(plan_segments(0, 2, streams=8)) == 2


def test_segments_start_at_cuts_without_warmup(tmp_path):
    assert plan_segments(0, 24, 3, warmup=4, cuts=(10,)) == [
        Segment(0, 0, 10, 0), Segment(1, 10, 17, 0), Segment(2, 17, 24, 4)]
    source = tmp_path / "cut.mp4"
    cut_clip(source, frames=12, cut_at=6)
    output = tmp_path / "out.mp4"
    dreamvid.render(source, output, streams=2, batch=2, warmup=3, dreamer=StubDreamer(), **SETTINGS)
    import json

    record = json.loads(Path(str(output) + ".json").read_text())
    assert [(s["start"], s["warmup"]) for s in record["segments"]] == [(0, 0), (6, 0)]


def test_crossfade_weights_rise_towards_the_new_segment():
    weights = crossfade_weights([Segment(0, 0, 10), Segment(1, 10, 20, warmup=3)])
    assert list(weights) == [7, 8, 9]
    assert weights[7] < weights[8] < weights[9] < 1


def test_cuts_of_a_wide_strip_are_looked_for_at_a_size_the_flow_takes(tmp_path):
    """Split into segments (--streams 2, the default on a GPU), a 640x16 clip was shrunk to 160x4 to look
    for cuts, which OpenCV's flow refused (or crashed on): the render died before its first frame."""
    from dreamvid.io.sources import VideoSource
    from dreamvid.temporal.plan import detect_cuts

    moving_clip(tmp_path / "strip.mp4", frames=3, size=(640, 16))
    assert detect_cuts(VideoSource.open(tmp_path / "strip.mp4"), 0, 3, 27.0) == ()
