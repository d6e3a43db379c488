"""The frames a clip reads: a clip read in segments decodes work linear in its length."""
from __future__ import annotations

from dataclasses import replace

import numpy as np

from clips import short_gop_clip
from dreamvid.io.decode import probe_video, read_frames
from dreamvid.io.sources import VideoSource


def test_decode_work_is_linear_in_the_clip_length_whatever_the_segments(tmp_path):
    length, segments, gop = 96, 8, 10
    info = probe_video(short_gop_clip(tmp_path / "clip.mp4", frames=length, gop=gop))
    bounds = np.linspace(0, length, segments + 1).astype(int)
    seeking, from_first = VideoSource(info), VideoSource(replace(info, keyframes=()))
    whole = np.stack(list(read_frames(info.path, info=info)))
    for source in (seeking, from_first):
        frames = [frame for start, end in zip(bounds, bounds[1:]) for frame in source.read(start, end)]
        assert np.array_equal(np.stack(frames), whole.astype(np.float32) / 255)
    assert length <= seeking.decoded.frames <= length + segments * gop
    # Without keyframes every segment decodes from frame 0: about segments x length / 2 in all.
    assert from_first.decoded.frames >= sum(bounds[1:])
