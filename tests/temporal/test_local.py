"""The local runner end to end on tiny synthetic clips: counts, rates, sizes, rotation, audio, variable
rates; scheduled and sound-driven values per frame; a dying encoder, a decode failure and a short disk;
a resume after a kill; flat memory."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import dreamvid
from clips import (VFR_TIMES, container_clip, frame_times, moving_clip, rotated_clip, translating_frames, vfr_clip,
                   video_line, write_frames)
from doubles import RecordingDreamer, StubDreamer
from dreamvid.io.audio import sound_envelope
from dreamvid.io.decode import FrameDecodeError, probe_video, read_frames
from dreamvid.io.encode import EncodeError
from dreamvid.io.ffmpeg import list_audio
from dreamvid.io.sources import VideoSource
from helpers import BIG_BUCK_BUNNY, FAST, Warnings, done_frames, kill_when


def parts_folder(output: Path) -> Path:
    return output.with_name(output.name + ".parts")


def test_output_keeps_frame_count_rate_size_duration_and_audio(tmp_path):
    source = tmp_path / "clip.mp4"
    moving_clip(source, frames=10, size=(96, 64), fps=10, audio=True)
    dreamvid.render(source, dreamer=StubDreamer(), **FAST)
    output = tmp_path / "clip_dream.mp4"
    info, original = probe_video(output), probe_video(source)
    assert (info.frame_count, info.fps, info.width, info.height) == (10, original.fps, 96, 64)
    assert abs(info.duration - original.duration) < 1e-6
    assert info.has_audio and list_audio(output) == list_audio(source)
    assert (tmp_path / "clip_dream.mp4.json").is_file()
    assert not parts_folder(output).exists()
    first_source = next(iter(dreamvid.io.decode.read_frames(source, 0, 1))).astype(float)
    first_dream = next(iter(dreamvid.io.decode.read_frames(output, 0, 1))).astype(float)
    assert np.abs(first_source - first_dream).mean() > 2.0  # dreamed, not copied


def test_silent_source_and_no_audio_option(tmp_path):
    source = tmp_path / "clip.mp4"
    moving_clip(source, frames=4, audio=True)
    dreamvid.render(source, tmp_path / "mute.mov", audio=False, dreamer=StubDreamer(), **FAST)
    assert not probe_video(tmp_path / "mute.mov").has_audio


def test_bundled_clip_cut_short_keeps_rate_and_surround_audio(tmp_path):
    output = tmp_path / "bunny.mp4"
    dreamvid.render(BIG_BUCK_BUNNY, output, frames="10:16", max_side=128, dreamer=StubDreamer(), **FAST)
    info = probe_video(output)
    assert (info.frame_count, info.fps, info.width, info.height) == (6, 25, 128, 72)
    assert abs(info.duration - 6 / 25) < 1e-6
    described = subprocess.run([dreamvid.io.ffmpeg.ffmpeg_exe(), "-hide_banner", "-i", str(output)],
                               capture_output=True, text=True).stderr
    assert "5.1" in described and "Audio: aac" in described


def test_odd_size_is_padded_and_said(tmp_path):
    source = tmp_path / "odd.mkv"
    frames = translating_frames(3, (95, 63), dx=1, dy=1)
    subprocess.run([dreamvid.io.ffmpeg.ffmpeg_exe(), "-loglevel", "error", "-f", "rawvideo", "-pix_fmt", "rgb24",
                    "-s", "95x63", "-framerate", "10", "-i", "pipe:0", "-c:v", "ffv1", str(source)],
                   input=frames.tobytes(), check=True)
    assert (probe_video(source).width, probe_video(source).height) == (95, 63)
    reporter = Warnings()
    dreamvid.render(source, reporter=reporter, dreamer=StubDreamer(), **FAST)
    out = probe_video(tmp_path / "odd_dream.mkv")
    assert (out.width, out.height, out.frame_count) == (96, 64, 3)
    assert any("padded" in message for message in reporter.messages)


def test_rotation_is_honoured(tmp_path):
    source = tmp_path / "phone.mp4"
    displayed = rotated_clip(source, frames=3, size=(96, 64))
    # no dreaming: the pixels pass through
    dreamvid.render(source, dreamer=StubDreamer(), **{**FAST, "steps": 0, "flow_steps": 0})
    out = probe_video(tmp_path / "phone_dream.mp4")
    assert (out.width, out.height) == (64, 96)
    written = np.stack(list(dreamvid.io.decode.read_frames(out.path))).astype(float)
    assert np.abs(written - displayed).mean() < 4  # upright, as displayed: not merely the right dimensions
    assert np.abs(written - np.rot90(displayed, k=2, axes=(1, 2))).mean() > 20  # and not upside down


ONE_STEP = {**FAST, "steps": 1}


def test_foreign_container_renders_to_mp4_at_its_display_shape(tmp_path):
    """An anamorphic WebM (pixels twice as wide as tall) comes out as clip_dream.mp4 with square pixels."""
    path = tmp_path / "clip.webm"
    container_clip(path, frames=3, size=(48, 64), sar="2")
    dreamvid.render(path, **ONE_STEP)
    output = tmp_path / "clip_dream.mp4"
    info = probe_video(output)
    assert (info.width, info.height, info.frame_count, info.sar) == (96, 64, 3, 1)
    assert "SAR 1:1" in video_line(output)


def test_variable_rate_render_keeps_timestamps(tmp_path):
    path = tmp_path / "phone.mp4"
    vfr_clip(path, VFR_TIMES[:6], audio=True)
    dreamvid.render(path, **ONE_STEP)
    output = tmp_path / "phone_dream.mp4"
    assert np.allclose(frame_times(output), VFR_TIMES[:6], atol=1.5e-3)
    assert probe_video(output).has_audio


def test_sequence_to_video_keeps_count_and_sets_rate(tmp_path):
    write_frames(tmp_path / "shot", translating_frames(6, (64, 48), dx=2, dy=1))
    output = tmp_path / "shot.mp4"
    dreamvid.render(tmp_path / "shot", output, sequence=True, fps=12, dreamer=StubDreamer(), **FAST)
    info = probe_video(output)
    assert (info.frame_count, info.fps, info.width, info.height, info.has_audio) == (6, 12, 64, 48, False)
    assert json.loads((tmp_path / "shot.mp4.json").read_text())["fps"] == "12"


def test_sequence_to_video_defaults_to_25_fps(tmp_path):
    write_frames(tmp_path / "shot", translating_frames(3, (64, 48), dx=2, dy=1))
    dreamvid.render(tmp_path / "shot", tmp_path / "shot.mov", sequence=True, dreamer=StubDreamer(), **FAST)
    assert probe_video(tmp_path / "shot.mov").fps == 25
    assert json.loads((tmp_path / "shot.mov.json").read_text())["fps"] == "25"


# ---- values per frame --------------------------------------------------------------------------------

def test_a_sequence_counts_seconds_at_its_fps(tmp_path, recorder):
    import cv2

    from clips import translating_frames

    shot = tmp_path / "shot"
    shot.mkdir()
    for index, frame in enumerate(translating_frames(5, (96, 64), 2, 1)):
        cv2.imwrite(str(shot / f"f_{index:03d}.png"), frame[..., ::-1])
    dreamvid.render(shot, sequence=True, fps=2, model="vgg16-hed", octaves=1, step_size="0:(0.01), 1s:(0.03)", dreamer=recorder)
    sizes = [size for _, params, _ in recorder.batches for size in params.step_size]
    assert sizes == pytest.approx([0.01, 0.02, 0.03, 0.03, 0.03])  # 1 s = frame 2 at 2 fps
    record = json.loads((tmp_path / "shot_dream" / "dreamvid.json").read_text())
    assert record["schedules"]["--step-size"] == pytest.approx(sizes)


def test_a_variable_rate_render_keys_seconds_on_its_timestamps(tmp_path):
    import json

    import dreamvid
    from clips import vfr_clip
    from helpers import FAST

    times = [0.0, 0.1, 0.2, 0.5, 1.0, 1.5]
    vfr_clip(tmp_path / "phone.mp4", times, size=(64, 48))
    dreamvid.render(tmp_path / "phone.mp4", step_size="0:(0.01), 1s:(0.03)", dreamer=StubDreamer(), **FAST)
    record = json.loads((tmp_path / "phone_dream.mp4.json").read_text())
    # 1 s is frame 4 (its timestamp), not frame 10 of the nominal rate
    assert record["schedules"]["--step-size"] == pytest.approx([0.01, 0.015, 0.02, 0.025, 0.03, 0.03], abs=1e-6)


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


# ---- when it goes wrong ------------------------------------------------------------------------------

def test_a_dead_encoder_stops_the_render_at_once(tmp_path, monkeypatch):
    import dreamvid.io.encode as video
    from dreamvid.temporal import chunks

    monkeypatch.setattr(chunks, "CHUNK_SECONDS", 0.4)  # chunks of 4 frames: the first is encoded early

    source, output = tmp_path / "clip.mp4", tmp_path / "out.mp4"
    moving_clip(source, frames=24, size=(64, 48))
    real_write = video.VideoWriter.write

    def dies_at_third_frame(self, frame):
        self.frames_written = getattr(self, "frames_written", 0) + 1
        if self.frames_written == 3:
            self._process.kill()  # as when the disk fills up or ffmpeg crashes
            self._process.wait()
        real_write(self, frame)

    monkeypatch.setattr(video.VideoWriter, "write", dies_at_third_frame)
    with pytest.raises(EncodeError, match="ffmpeg"):
        dreamvid.render(source, output, dreamer=StubDreamer(), **{**FAST, "steps": 1})
    checkpoints = list(output.with_name(output.name + ".parts").glob("frame_*.png"))
    assert 3 <= len(checkpoints) < 20, "the render must stop when the encoder dies, not dream on"  # of 24; CI saw 10
    assert not output.exists()


def test_decode_failure_stops_cleanly_and_keeps_checkpoints(tmp_path, monkeypatch):
    import dreamvid.io.sources as video

    source = tmp_path / "clip.mp4"
    moving_clip(source, frames=8)
    real = video.read_frames

    def breaks_at_5(path, start=0, end=None, *, info=None, count=None):
        for index, frame in enumerate(real(path, start, end, info=info, count=count), start):
            if index == 5:
                raise FrameDecodeError(index, path)
            yield frame

    monkeypatch.setattr(video, "read_frames", breaks_at_5)
    output = tmp_path / "out.mp4"
    with pytest.raises(FrameDecodeError, match="frame 5"):
        dreamvid.render(source, output, dreamer=StubDreamer(), **FAST)
    assert not output.exists()
    assert done_frames(output) == [0, 1, 2, 3, 4]
    monkeypatch.setattr(video, "read_frames", real)
    dreamvid.render(source, output, dreamer=StubDreamer(), **FAST)  # resumes at frame 5
    assert probe_video(output).frame_count == 8


def test_short_disk_is_a_warning_naming_both_figures(tmp_path, monkeypatch):
    import shutil

    source = tmp_path / "clip.mp4"
    moving_clip(source, frames=3, size=(64, 48))
    real = shutil.disk_usage
    monkeypatch.setattr(shutil, "disk_usage", lambda path: real(path)._replace(free=1000))
    reporter = Warnings()
    dreamvid.render(source, reporter=reporter, dreamer=StubDreamer(), **FAST)
    [message] = [m for m in reporter.messages if "checkpoints" in m]
    assert "0.00 GB" in message and "0.03 GB" not in message and "need about" in message


@pytest.mark.slow
def test_resume_after_kill_gives_the_same_frames(tmp_path):
    source = tmp_path / "clip.mp4"
    moving_clip(source, frames=14, size=(96, 64))
    args = ["--model", "vgg16-hed", "--steps", "3", "--octaves", "1", "--flow-steps", "1", "--jitter", "8"]
    reference = tmp_path / "reference.mp4"
    dreamvid.render(source, reference, **FAST)
    output = tmp_path / "killed.mp4"
    command = [sys.executable, "-m", "dreamvid", str(source), "-o", str(output), "--keep-parts", "-q", *args]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    kill_when(process, lambda: len(done_frames(output)) >= 4)
    killed_at = len(done_frames(output))
    assert 4 <= killed_at < 14 and not output.exists()
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    assert done_frames(output) == list(range(14))
    resumed, uninterrupted = list(read_frames(output)), list(read_frames(reference))
    assert len(resumed) == len(uninterrupted) == 14
    for index in range(14):  # H.264 of the same frames with the same settings: the same decoded pixels
        assert np.array_equal(resumed[index], uninterrupted[index]), f"frame {index} differs"


MEMORY_PROBE = """
import resource, sys
import dreamvid
settings = dict(model="vgg16-hed", steps=1, octaves=1, flow_steps=1, jitter=4)
for clip in sys.argv[1:]:
    dreamvid.render(clip, **settings)
    print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024, flush=True)
"""


@pytest.mark.slow
def test_memory_does_not_grow_with_length(tmp_path):
    """Peak resident memory (not Python's allocations alone: frames live in numpy, TensorFlow and OpenCV)
    after a short clip, then after a clip eight times as long in the same process: frames are streamed,
    so the long clip must not add anything near the size of its frames."""
    size, short, long = (320, 240), 8, 64
    moving_clip(tmp_path / "short.mp4", frames=short, size=size)
    moving_clip(tmp_path / "long.mp4", frames=long, size=size)
    run = subprocess.run([sys.executable, "-c", MEMORY_PROBE, str(tmp_path / "short.mp4"), str(tmp_path / "long.mp4")],
                         capture_output=True, text=True, timeout=280)
    assert run.returncode == 0, run.stderr[-2000:]
    after_short, after_long = map(int, run.stdout.split())
    all_frames = long * size[0] * size[1] * 3 * 4  # the long clip's frames as float32: 59 MB
    assert after_long - after_short < all_frames / 2  # measured: 17 MB, once (a third, longer clip adds 9 MB)
