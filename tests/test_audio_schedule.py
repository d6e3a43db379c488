"""Schedules that follow the soundtrack (`audio:LOW..HIGH`): the loudness envelope on synthetic sound
whose loudness is known, and its values reaching the frames of a render."""
from __future__ import annotations

import json
import subprocess
from pathlib import Path

import numpy as np
import pytest

import dreamvid
import dreamvid.api
from clips import FFMPEG, translating_frames
from dreamvid.io.audio import RATE, frame_loudness, normalise, smooth
from dreamvid.errors import UserError
from dreamvid.io.sources import VideoSource
from dreamvid.io.audio import sound_envelope
from test_schedule import RecordingDreamer

FPS = 10


def sound_clip(path: Path, loudness: list[float], seconds: float = 1.0) -> None:
    """A moving 96x64 clip at FPS whose soundtrack is a 440 Hz tone of each amplitude in `loudness` in
    turn, `seconds` each (0: silence)."""
    frames = translating_frames(round(len(loudness) * seconds * FPS), (96, 64), 2, 1)
    level = "0"
    for index, amplitude in reversed(list(enumerate(loudness))):
        level = f"if(lt(t\\,{(index + 1) * seconds})\\,{amplitude}\\,{level})"
    tone = f"aevalsrc=exprs={level}*sin(2*PI*440*t):s=48000:d={len(loudness) * seconds}"
    subprocess.run([FFMPEG, "-hide_banner", "-loglevel", "error", "-y", "-f", "rawvideo", "-pix_fmt", "rgb24",
                    "-s", "96x64", "-framerate", str(FPS), "-i", "pipe:0", "-f", "lavfi", "-i", tone,
                    "-c:v", "libx264", "-pix_fmt", "yuv420p", "-crf", "10", "-c:a", "aac", "-ac", "1", str(path)],
                   input=frames.tobytes(), check=True, capture_output=True)


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


@pytest.fixture(scope="module")
def silence_loud_quiet(tmp_path_factory):
    path = tmp_path_factory.mktemp("sound") / "music.mp4"
    sound_clip(path, [0.0, 0.5, 0.05])  # 1 s each: 30 frames
    return path


def test_the_envelope_follows_the_soundtrack(silence_loud_quiet):
    envelope = np.array(sound_envelope(VideoSource.open(silence_loud_quiet)))
    assert len(envelope) == 30 and 0 <= envelope.min() and envelope.max() <= 1
    assert envelope[:9] == pytest.approx(0, abs=0.01)  # silence: the low end
    assert envelope[11:19] == pytest.approx(1, abs=0.02)  # the loud tone: the high end
    assert np.all((0.05 < envelope[21:]) & (envelope[21:] < 0.2))  # a tenth as loud: near a tenth
    assert 0 < envelope[10] < 1 and envelope[9] < envelope[10]  # smoothed: the onset rises over a frame or two


@pytest.fixture
def recorder(monkeypatch):
    dreamer = RecordingDreamer()
    return dreamer


def test_sound_drives_the_step_size_of_each_frame(silence_loud_quiet, tmp_path, recorder):
    output = tmp_path / "dream.mp4"
    dreamvid.render(silence_loud_quiet, output, model="vgg16-hed", octaves=1, step_size="audio:0.005..0.03",
                    keep_parts=True, dreamer=recorder)
    sizes = [size for _, params, _ in recorder.batches for size in params.step_size]  # one lane: frame order
    assert len(sizes) == 30
    assert sizes[:9] == pytest.approx([0.005] * 9, abs=3e-4)
    assert sizes[11:19] == pytest.approx([0.03] * 8, abs=5e-4)
    assert all(0.006 < size < 0.01 for size in sizes[21:])
    record = json.loads((tmp_path / "dream.mp4.json").read_text())
    assert record["parameters"]["step_size"] == "audio:0.005..0.03"
    assert record["schedules"]["--step-size"] == pytest.approx(sizes)
    # the envelope is planned once, so a resume follows the same sound
    plan = json.loads((tmp_path / "dream.mp4.parts" / "plan.json").read_text())
    assert plan["envelope"] == pytest.approx(sound_envelope(VideoSource.open(silence_loud_quiet)))


def test_sound_can_cross_fade_layers(silence_loud_quiet, tmp_path, recorder):
    dreamvid.render(silence_loud_quiet, tmp_path / "dream.mp4", model="vgg16-hed", octaves=1, frames="5:15",
                    layers=["block4_conv3=audio:1..0", "block3_conv3=audio:0..1"], dreamer=recorder)
    weights = [w for _, params, _ in recorder.batches for w in params.layer_weights]
    assert weights[0] == pytest.approx((1, 0), abs=0.01) and weights[-1] == pytest.approx((0, 1), abs=0.02)


def test_a_video_without_sound_is_refused_before_any_work(tmp_path):
    from clips import moving_clip

    moving_clip(tmp_path / "mute.mp4", frames=4)
    with pytest.raises(UserError, match="mute.mp4 has no soundtrack for --step-size"):
        dreamvid.render(tmp_path / "mute.mp4", model="vgg16-hed", step_size="audio:0.005..0.03")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mute.mp4"]


def test_a_resumed_render_follows_the_envelope_it_planned(silence_loud_quiet, tmp_path, recorder):
    """The envelope is decoded once, into the work folder's plan: a resume reads it back rather than
    decoding again (shown here by changing the planned one between the two runs)."""
    output = tmp_path / "dream.mp4"
    real = recorder.dream

    def stop_after_five(images, params, steps=None, *more):
        if len(recorder.batches) == 5:
            raise KeyboardInterrupt
        return real(images, params, steps, *more)

    recorder.dream = stop_after_five
    with pytest.raises(KeyboardInterrupt):
        dreamvid.render(silence_loud_quiet, output, model="vgg16-hed", octaves=1, step_size="audio:0.01..0.03", dreamer=recorder)
    plan_path = tmp_path / "dream.mp4.parts" / "plan.json"
    plan = json.loads(plan_path.read_text())
    plan["envelope"] = [0.5] * 30
    plan_path.write_text(json.dumps(plan))
    recorder.dream, recorder.batches = real, []
    dreamvid.render(silence_loud_quiet, output, model="vgg16-hed", octaves=1, step_size="audio:0.01..0.03", dreamer=recorder)
    sizes = [size for _, params, _ in recorder.batches for size in params.step_size]
    assert len(sizes) == 25 and sizes == pytest.approx([0.02] * 25)
    record = json.loads((tmp_path / "dream.mp4.json").read_text())["schedules"]["--step-size"]
    assert record == pytest.approx([0.02] * 30)  # the record, too, reads the planned envelope


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
