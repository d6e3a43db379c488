"""The soundtrack's loudness per frame: the envelope on synthetic sound whose loudness is known, in sync
when the picture or the sound starts late."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from dreamvid.io.audio import RATE, frame_loudness, normalise, smooth, sound_envelope
from dreamvid.io.sources import VideoSource


def test_frame_loudness_is_the_rms_of_each_frame_window():
    samples = np.concatenate([np.zeros(RATE // 2), 0.5 * np.sign(np.sin(np.arange(RATE // 2)))]).astype(np.float32)
    loudness = frame_loudness(samples, [0.0, 0.25, 0.5, 0.75, 1.0, 1.25])
    assert loudness[:2] == pytest.approx([0.0, 0.0]) and loudness[2:4] == pytest.approx([0.5, 0.5], abs=0.01)
    assert loudness[4] == 0.0  # past the end of the sound: silent


def test_smoothing_and_robust_normalisation():
    assert smooth(np.array([0, 0, 3, 0, 0.0]), 3) == pytest.approx([0, 1, 1, 1, 0])
    values = np.array([0.0] * 10 + [1.0] * 10 + [50.0])  # one deafening frame does not squash the rest
    assert normalise(values)[:10] == pytest.approx(0) and normalise(values)[10:] == pytest.approx(1)
    assert normalise(np.zeros(5)) == pytest.approx(0)  # silence: the low end
    steady = normalise(np.array([0.30, 0.31, 0.30, 0.29, 0.30, 0.31]))  # a steady tone's RMS wobble
    assert steady.max() - steady.min() < 0.3  # stays a small wobble, not stretched to 0..1


def test_the_envelope_follows_the_soundtrack(silence_loud_quiet):
    envelope = np.array(sound_envelope(VideoSource.open(silence_loud_quiet)))
    assert len(envelope) == 30 and 0 <= envelope.min() and envelope.max() <= 1
    assert envelope[:9] == pytest.approx(0, abs=0.01)  # silence: the low end
    assert envelope[11:19] == pytest.approx(1, abs=0.02)  # the loud tone: the high end
    assert np.all((0.05 < envelope[21:]) & (envelope[21:] < 0.2))  # a tenth as loud: near a tenth
    assert 0 < envelope[10] < 1 and envelope[9] < envelope[10]  # smoothed: the onset rises over a frame or two


@pytest.mark.parametrize("delay, onset", [(0.0, 10), (0.5, 5)])
def test_the_envelope_keeps_sync_when_the_picture_starts_late(tmp_path, delay, onset):
    """A tone from 1 s of the soundtrack; a picture that starts 0.5 s after the sound (as cameras do)
    meets it at its frame 5, not 10."""
    from clips import timed_tone_clip

    timed_tone_clip(tmp_path / "late.mp4", 20, tone_at=1.0, fps=10, video_delay=delay)
    envelope = np.array(sound_envelope(VideoSource.open(tmp_path / "late.mp4")))
    assert envelope[:onset - 1] == pytest.approx(0, abs=0.01) and envelope[onset + 1:] == pytest.approx(1, abs=0.02)


def test_the_envelope_keeps_sync_when_the_sound_starts_late(tmp_path):
    """A soundtrack that starts 0.5 s after the picture (loud from its first sample) is loud from frame 5."""
    import subprocess

    from clips import FFMPEG, translating_frames

    frames = translating_frames(20, (96, 64), 2, 1, seed=7)
    tone = "aevalsrc=exprs=0.5*sin(2*PI*440*t):s=48000:d=1.5"
    subprocess.run([FFMPEG, "-hide_banner", "-loglevel", "error", "-y", "-f", "rawvideo", "-pix_fmt", "rgb24",
                    "-s", "96x64", "-framerate", "10", "-i", "pipe:0", "-itsoffset", "0.5", "-f", "lavfi", "-i", tone,
                    "-c:v", "libx264", "-pix_fmt", "yuv420p", "-c:a", "aac", "-ac", "1", str(tmp_path / "late.mp4")],
                   input=frames.tobytes(), check=True, capture_output=True)
    envelope = np.array(sound_envelope(VideoSource.open(tmp_path / "late.mp4")))
    assert envelope[:4] == pytest.approx(0, abs=0.05) and (envelope[7:] > 0.85).all()


def test_the_soundtrack_of_a_file_named_like_an_ffmpeg_protocol_is_read(tmp_path, monkeypatch):
    """An audio-driven schedule decodes the soundtrack; ffmpeg took a relative `pipe:1.m4a` for its pipe
    protocol and read nothing (the name is a legal file name)."""
    from clips import audio_only
    from dreamvid.io.audio import RATE, decode

    monkeypatch.chdir(tmp_path)
    audio_only(tmp_path / "pipe:1.m4a", seconds=1.0)
    samples = decode(Path("pipe:1.m4a"))
    assert abs(len(samples) - RATE) < RATE * 0.1 and np.abs(samples).max() > 0.1
