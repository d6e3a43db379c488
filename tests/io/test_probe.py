"""What a video holds, read without decoding: size, rate, frame count, audio, timestamps; what is not a
video (missing, empty, text, sound only, truncated) refused."""
from __future__ import annotations

import subprocess
from fractions import Fraction

import numpy as np
import pytest

from clips import FFMPEG, VFR_TIMES, audio_only, container_clip, cut_clip, moving_clip, vfr_clip
from dreamvid.errors import UserError
from dreamvid.io.decode import probe_video


def test_probe_reports_size_rate_count_and_audio(moving, tmp_path):
    info = probe_video(moving[0])
    assert (info.width, info.height, info.fps, info.frame_count) == (96, 64, Fraction(10), 12)
    assert info.rotation == 0 and info.has_audio
    assert info.duration == pytest.approx(1.2)
    silent = tmp_path / "silent.mp4"
    cut_clip(silent, frames=8, cut_at=4)
    assert not probe_video(silent).has_audio


def test_variable_rate_source_is_seen_with_its_timestamps(tmp_path):
    path = tmp_path / "phone.mp4"
    vfr_clip(path, VFR_TIMES)
    info = probe_video(path)
    assert info.frame_count == len(VFR_TIMES) and info.variable_rate
    assert np.allclose(info.times, VFR_TIMES, atol=1.5e-3)
    assert info.frame_times(4, 8) == pytest.approx([0.0, 0.05, 0.1, 0.15, 0.2], abs=1.5e-3)
    steady = tmp_path / "steady.mp4"
    container_clip(steady, frames=6)
    assert not probe_video(steady).variable_rate


def test_probe_rejects_missing_and_empty_files(tmp_path):
    with pytest.raises(UserError, match="not found"):
        probe_video(tmp_path / "missing.mp4")
    (tmp_path / "empty.mp4").write_bytes(b"")
    with pytest.raises(UserError, match="empty"):
        probe_video(tmp_path / "empty.mp4")


def test_probe_rejects_text_renamed_to_mp4(tmp_path):
    fake = tmp_path / "notes.mp4"
    fake.write_text("this is not a video\n" * 20)
    with pytest.raises(UserError, match="not a readable video"):
        probe_video(fake)


def test_probe_rejects_audio_only_files(tmp_path):
    for name in ("sound.m4a", "sound.mp4"):
        audio_only(tmp_path / name)
        with pytest.raises(UserError, match="no video stream"):
            probe_video(tmp_path / name)


def test_probe_rejects_truncated_files(tmp_path):
    # moov atom at the end (ffmpeg's default): the first half has no index at all
    whole = tmp_path / "whole.mp4"
    moving_clip(whole, frames=30, size=(128, 96))
    data = whole.read_bytes()
    (tmp_path / "half.mp4").write_bytes(data[: len(data) // 2])
    with pytest.raises(UserError):
        probe_video(tmp_path / "half.mp4")
    # moov atom first (+faststart): the index promises frames whose data is gone
    fast = tmp_path / "fast.mp4"
    subprocess.run([FFMPEG, "-v", "error", "-i", str(whole), "-c", "copy", "-movflags", "+faststart", str(fast)],
                   check=True)
    data = fast.read_bytes()
    (tmp_path / "fast-half.mp4").write_bytes(data[: len(data) // 2])
    with pytest.raises(UserError, match="truncated"):
        probe_video(tmp_path / "fast-half.mp4")
