"""H.264 out: frames written and read back, audio carried and trimmed to the video, odd sizes padded, a
variable rate kept by timestamps, nothing partial left on an error; a name that starts with a dash and a
full disk handled."""
from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

from clips import cut_clip, frame_times, stream_durations, translating_frames, mean_abs_diff
from dreamvid.io.decode import probe_video, read_frames
from dreamvid.io.encode import EncodeError, VideoWriter
from dreamvid.io.ffmpeg import list_audio


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


def test_timed_writer_clears_a_killed_run_and_leaves_nothing_on_abort(tmp_path):
    output = tmp_path / "w.mp4"
    stale = tmp_path / ".w.mp4.frames"
    stale.mkdir()
    (stale / "0000000.png").write_bytes(b"left by a killed run")
    frames = translating_frames(3, (96, 64), 2, 1)
    with VideoWriter(output, 96, 64, Fraction(10), frame_times=[0.0, 0.1, 0.3, 0.35]) as writer:
        for frame in frames:
            writer.write(frame)
    assert frame_times(output) == pytest.approx([0.0, 0.1, 0.3], abs=1.5e-3)
    assert not stale.exists()
    with pytest.raises(RuntimeError):
        with VideoWriter(tmp_path / "x.mp4", 96, 64, Fraction(10), frame_times=[0.0, 0.1, 0.2]) as writer:
            writer.write(frames[0])
            raise RuntimeError("stop")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["w.mp4"]


def test_a_video_whose_name_starts_with_a_dash_is_written(tmp_path, monkeypatch):
    """`-take1.mp4 -> -take1_dream.mp4`: ffmpeg read the output name as an option and the render
    failed after the whole dream (exit 1); chunks are written under such a name, and joined into one."""
    from dreamvid.io.encode import VideoWriter, join_chunks
    from dreamvid.io.decode import probe_video

    monkeypatch.chdir(tmp_path)
    frames = translating_frames(4, (32, 32), 1, 0)
    with VideoWriter(Path("-take1.mp4"), 32, 32, Fraction(10)) as writer:
        for frame in frames:
            writer.write(frame)
    join_chunks([Path("-take1.mp4")], Path("-joined.mp4"))
    assert probe_video(tmp_path / "-take1.mp4").frame_count == 4
    assert probe_video(tmp_path / "-joined.mp4").frame_count == 4


def test_a_timed_frame_on_a_full_disk_is_an_os_error_naming_the_video(tmp_path, capfd):
    import errno

    from dreamvid.io.encode import VideoWriter

    if not Path("/dev/full").exists():
        pytest.skip("no /dev/full here")
    writer = VideoWriter(tmp_path / "out.mp4", 32, 24, Fraction(10), frame_times=[0.0, 0.1, 0.3])
    (tmp_path / ".out.mp4.frames" / "0000000.png").symlink_to("/dev/full")
    with pytest.raises(OSError) as raised:
        writer.write(translating_frames(1, (32, 24), 0, 0)[0])
    assert raised.value.errno == errno.ENOSPC and raised.value.filename == str(tmp_path / "out.mp4")
    assert capfd.readouterr().err == ""
    assert list(tmp_path.iterdir()) == []
