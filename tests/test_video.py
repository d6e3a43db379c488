"""Decode/encode behaviour of dreamvid.video on tiny synthetic clips and on the bundled Big Buck Bunny sample (samples/)."""

from __future__ import annotations

import re
import subprocess
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

from clips import FFMPEG, audio_only, cut_clip, moving_clip, rotated_clip
from dreamvid.errors import UserError
from dreamvid.io.encode import EncodeError, VideoWriter
from dreamvid.io.decode import FrameDecodeError, probe_video, read_frames
from dreamvid.io.ffmpeg import list_audio

BIG_BUCK_BUNNY = Path(__file__).resolve().parents[1] / "samples/bigbuckbunny.mp4"


def mean_abs_diff(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.abs(a.astype(np.int16) - b.astype(np.int16)).mean())


def stream_durations(path: Path) -> dict[str, float]:
    """Seconds of each stream kind, as ffmpeg measures them by decoding."""
    stderr = subprocess.run([FFMPEG, "-hide_banner", "-nostdin", "-i", str(path), "-f", "null", "-"],
                            capture_output=True, text=True).stderr
    durations = {}
    for kind, flag in (("video", "-an"), ("audio", "-vn")):
        out = subprocess.run([FFMPEG, "-hide_banner", "-nostdin", "-i", str(path), flag, "-f", "null", "-"],
                             capture_output=True, text=True).stderr
        times = re.findall(r"time=(\d+):(\d+):([\d.]+)", out)
        if times and f": {kind.capitalize()}:" in stderr:
            h, m, s = times[-1]
            durations[kind] = int(h) * 3600 + int(m) * 60 + float(s)
    return durations


@pytest.fixture(scope="module")
def moving(tmp_path_factory):
    path = tmp_path_factory.mktemp("clips") / "moving.mp4"
    return path, moving_clip(path, frames=12, size=(96, 64), fps=10, audio=True)


@pytest.fixture(scope="module")
def rotated(tmp_path_factory):
    path = tmp_path_factory.mktemp("clips") / "rotated.mp4"
    return path, rotated_clip(path, frames=6, size=(96, 64))


def test_probe_reports_size_rate_count_and_audio(moving, tmp_path):
    info = probe_video(moving[0])
    assert (info.width, info.height, info.fps, info.frame_count) == (96, 64, Fraction(10), 12)
    assert info.rotation == 0 and info.has_audio
    assert info.duration == pytest.approx(1.2)
    silent = tmp_path / "silent.mp4"
    cut_clip(silent, frames=8, cut_at=4)
    assert not probe_video(silent).has_audio


def test_read_frames_matches_source(moving):
    path, source = moving
    frames = list(read_frames(path))
    assert len(frames) == 12
    assert frames[0].shape == (64, 96, 3) and frames[0].dtype == np.uint8
    assert max(mean_abs_diff(f, s) for f, s in zip(frames, source)) < 3


def test_read_frames_range_starts_at_the_right_frame(moving):
    path, source = moving
    frames = list(read_frames(path, start=5, end=8))
    assert len(frames) == 3
    for frame, expected in zip(frames, source[5:8]):
        # the right frame is close; its neighbours (shifted by 2 px) are clearly not
        assert mean_abs_diff(frame, expected) < 3
    assert mean_abs_diff(frames[0], source[4]) > 10
    assert list(read_frames(path, start=4, end=4)) == []


def test_read_frames_past_the_end_raises_with_index(moving):
    with pytest.raises(FrameDecodeError) as caught:
        list(read_frames(moving[0], start=10, end=14))
    assert caught.value.index == 12 and "12" in str(caught.value)


def test_rotation_is_honoured_once(rotated):
    path, displayed = rotated
    info = probe_video(path)
    assert info.rotation == 90
    assert (info.width, info.height) == (64, 96)
    frames = list(read_frames(path))
    assert frames[0].shape == (96, 64, 3)
    assert max(mean_abs_diff(f, d) for f, d in zip(frames, displayed)) < 3
    assert mean_abs_diff(frames[0], np.rot90(displayed[0], 2)) > 20  # not upside down
    # and ffmpeg (which applies the display matrix itself) sees the same picture
    raw = subprocess.run([FFMPEG, "-v", "error", "-i", str(path), "-frames:v", "1", "-f", "rawvideo",
                          "-pix_fmt", "rgb24", "-"], capture_output=True, check=True).stdout
    assert mean_abs_diff(np.frombuffer(raw, np.uint8).reshape(96, 64, 3), frames[0]) < 1


@pytest.mark.parametrize("fps", [Fraction(30000, 1001), Fraction(25)])
def test_write_read_round_trip(moving, tmp_path, fps):
    path, source = moving
    out = tmp_path / "out.mp4"
    with VideoWriter(out, 96, 64, fps, crf=12) as writer:
        for frame in read_frames(path):
            writer.write(frame)
    info = probe_video(out)
    assert (info.width, info.height, info.frame_count, info.fps) == (96, 64, 12, fps)
    assert not info.has_audio
    assert max(mean_abs_diff(f, s) for f, s in zip(read_frames(out), source)) < 4


def test_audio_is_carried_over_and_trimmed_to_the_video(moving, tmp_path):
    path, source = moving
    out = tmp_path / "with_audio.mp4"
    with VideoWriter(out, 96, 64, Fraction(10), audio_source=path, audio_start=0.2, audio_duration=0.8) as writer:
        for frame in source[2:10]:
            writer.write(frame)
    assert list_audio(out) == ["aac"]
    durations = stream_durations(out)
    assert durations["video"] == pytest.approx(0.8, abs=0.1)
    assert durations["audio"] == pytest.approx(durations["video"], abs=0.1)


def test_audio_longer_than_video_does_not_lengthen_the_output(moving, tmp_path):
    path, source = moving
    out = tmp_path / "short.mkv"
    # As the sink calls it: the audio span is the frames' own (ffmpeg's -shortest alone overshoots by
    # a varying few hundred milliseconds).
    with VideoWriter(out, 96, 64, Fraction(10), audio_source=path, audio_duration=0.5) as writer:
        for frame in source[:5]:
            writer.write(frame)
    durations = stream_durations(out)
    assert durations["video"] == pytest.approx(0.5, abs=0.1)
    assert durations["audio"] <= durations["video"] + 0.1


def test_silent_audio_source_gives_silent_output(tmp_path):
    silent = tmp_path / "silent.mp4"
    source = cut_clip(silent, frames=6, cut_at=3)
    out = tmp_path / "out.mp4"
    with VideoWriter(out, 96, 64, Fraction(10), audio_source=silent) as writer:
        for frame in source:
            writer.write(frame)
    info = probe_video(out)
    assert info.frame_count == 6 and not info.has_audio


def test_odd_size_is_padded_with_a_warning(tmp_path):
    warnings = []
    frame = np.zeros((33, 47, 3), np.uint8)
    frame[:, -1] = 200  # last column: padding must replicate it
    out = tmp_path / "odd.mp4"
    with VideoWriter(out, 47, 33, Fraction(10), on_warning=warnings.append) as writer:
        for _ in range(3):
            writer.write(frame)
    assert len(warnings) == 1 and "48x34" in warnings[0]
    info = probe_video(out)
    assert (info.width, info.height, info.frame_count) == (48, 34, 3)
    decoded = next(read_frames(out))
    assert decoded[:, -1].mean() > 150 and decoded[:, :40].mean() < 20


def test_wrong_frame_shape_is_a_bug_not_silently_written(tmp_path):
    out = tmp_path / "bad.mp4"
    with pytest.raises(ValueError):
        with VideoWriter(out, 96, 64, Fraction(10)) as writer:
            writer.write(np.zeros((64, 95, 3), np.uint8))
    assert not out.exists()


def test_exception_inside_the_block_leaves_no_partial_file(moving, tmp_path):
    out = tmp_path / "partial.mp4"
    with pytest.raises(RuntimeError, match="boom"):
        with VideoWriter(out, 96, 64, Fraction(10)) as writer:
            for index, frame in enumerate(read_frames(moving[0])):
                writer.write(frame)
                if index == 5:
                    raise RuntimeError("boom")
    assert not out.exists()


def test_ffmpeg_failure_raises_encode_error_with_its_output(tmp_path):
    out = tmp_path / "no-such-dir" / "out.mp4"
    with pytest.raises(EncodeError) as caught:
        with VideoWriter(out, 96, 64, Fraction(10)) as writer:
            for _ in range(50):
                writer.write(np.zeros((64, 96, 3), np.uint8))
    assert "no-such-dir" in str(caught.value)
    assert not out.exists()


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


def test_big_buck_bunny_sample():
    info = probe_video(BIG_BUCK_BUNNY)
    assert (info.width, info.height, info.fps, info.frame_count) == (1280, 720, Fraction(25), 132)
    assert info.rotation == 0 and info.has_audio
    assert info.duration == pytest.approx(5.28)
    frames = list(read_frames(BIG_BUCK_BUNNY, start=3, end=5, info=info))
    assert len(frames) == 2 and frames[0].shape == (720, 1280, 3)
    assert 20 < frames[0].mean() < 235 and mean_abs_diff(frames[0], frames[1]) < 20


def test_matroska_frame_count_is_counted_not_estimated(tmp_path):
    # Matroska has no frame count; OpenCV estimates 133 from the duration for these 132 frames.
    mkv = tmp_path / "bbb.mkv"
    subprocess.run([FFMPEG, "-v", "error", "-i", str(BIG_BUCK_BUNNY), "-an", "-c", "copy", str(mkv)], check=True)
    info = probe_video(mkv)
    assert info.frame_count == 132 and info.fps == 25 and not info.variable_rate
    assert sum(1 for _ in read_frames(mkv, start=128, end=132, info=info)) == 4
    with pytest.raises(FrameDecodeError):
        list(read_frames(mkv, start=128, end=136, info=info))
