"""The video job end to end on tiny synthetic clips: counts, rates, audio, flow coherence, cuts,
resume after a kill, refusal of changed parameters, decode failures and flat memory."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import dreamvid
from helpers import FAST, Warnings, done_frames, kill_when
from clips import cut_clip, moving_clip, rotated_clip, translating_frames
from dreamvid.errors import UserError
from dreamvid.score import score_videos
from dreamvid.io.decode import FrameDecodeError, probe_video, read_frames
from dreamvid.io.ffmpeg import list_audio
from dreamvid.temporal.plan import Segment, plan_segments

SAMPLE = Path(__file__).resolve().parents[1] / "samples/bigbuckbunny.mp4"


def parts_folder(output: Path) -> Path:
    return output.with_name(output.name + ".parts")


def kept(pieces: dict[str, np.ndarray]) -> dict[int, np.ndarray]:
    """The kept frames among a render's saved pieces (see the `saved` fixture), by index."""
    return {int(name[6:12]): pixels for name, pixels in pieces.items() if name.startswith("frame_")}


def test_output_keeps_frame_count_rate_size_duration_and_audio(tmp_path):
    source = tmp_path / "clip.mp4"
    moving_clip(source, frames=10, size=(96, 64), fps=10, audio=True)
    dreamvid.render(source, **FAST)
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
    dreamvid.render(source, tmp_path / "mute.mov", audio=False, **FAST)
    assert not probe_video(tmp_path / "mute.mov").has_audio


def test_bundled_clip_cut_short_keeps_rate_and_surround_audio(tmp_path):
    output = tmp_path / "bunny.mp4"
    dreamvid.render(SAMPLE, output, frames="10:16", max_side=128, **FAST)
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
    dreamvid.render(source, reporter=reporter, **FAST)
    out = probe_video(tmp_path / "odd_dream.mkv")
    assert (out.width, out.height, out.frame_count) == (96, 64, 3)
    assert any("padded" in message for message in reporter.messages)


def test_rotation_is_honoured(tmp_path):
    source = tmp_path / "phone.mp4"
    displayed = rotated_clip(source, frames=3, size=(96, 64))
    dreamvid.render(source, **{**FAST, "steps": 0, "flow_steps": 0})  # no dreaming: the pixels pass through
    out = probe_video(tmp_path / "phone_dream.mp4")
    assert (out.width, out.height) == (64, 96)
    written = np.stack(list(dreamvid.io.decode.read_frames(out.path))).astype(float)
    assert np.abs(written - displayed).mean() < 4  # upright, as displayed: not merely the right dimensions
    assert np.abs(written - np.rot90(displayed, k=2, axes=(1, 2))).mean() > 20  # and not upside down


@pytest.mark.slow
def test_flow_lowers_the_warping_error(tmp_path):
    source = tmp_path / "pan.mp4"
    moving_clip(source, frames=10, size=(128, 80), dx=3, dy=1)
    settings = dict(model="vgg16-hed", steps=8, octaves=2)
    dreamvid.render(source, tmp_path / "flow.mp4", **settings)
    dreamvid.render(source, tmp_path / "still.mp4", flow=False, **settings)
    with_flow = score_videos(source, tmp_path / "flow.mp4")["dreamed"]
    without = score_videos(source, tmp_path / "still.mp4")["dreamed"]
    assert with_flow < 0.6 * without


def test_cut_restarts_the_dream(tmp_path, saved):
    source = tmp_path / "cut.mp4"
    cut_clip(source, frames=8, cut_at=4)
    dreamvid.render(source, tmp_path / "flow.mp4", **FAST)
    dreamvid.render(source, tmp_path / "still.mp4", flow=False, **FAST)
    flow, still = kept(saved["flow.mp4"]), kept(saved["still.mp4"])
    assert np.array_equal(flow[4], still[4])  # fresh start at the cut: as if dreamed alone
    assert np.array_equal(flow[0], still[0])
    assert not np.array_equal(flow[3], still[3])  # carried before the cut
    assert not np.array_equal(flow[5], still[5])  # and carried again after it


def test_changed_parameter_is_refused_unless_fresh(tmp_path):
    source = tmp_path / "clip.mp4"
    moving_clip(source, frames=4)
    output = tmp_path / "out.mp4"
    dreamvid.render(source, output, keep_parts=True, **FAST)
    with pytest.raises(UserError, match="steps"):
        dreamvid.render(source, output, overwrite=True, **{**FAST, "steps": 4})
    # the chunks were encoded with the crf the render started with: another one is refused too
    with pytest.raises(UserError, match="encoded with --crf 18: run with --crf 18 to resume it, or add --fresh"):
        dreamvid.render(source, output, overwrite=True, crf=30, **FAST)
    # audio only: the checkpoints still fit, and not one frame is dreamed again
    [result] = dreamvid.render(source, output, overwrite=True, keep_parts=True, audio=False, **FAST)
    assert result.status == "done" and result.frames == 0
    [result] = dreamvid.render(source, output, overwrite=True, fresh=True, **{**FAST, "steps": 4})
    assert result.frames == 4  # --fresh dreams every frame again


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
        dreamvid.render(source, output, **FAST)
    assert not output.exists()
    assert done_frames(output) == [0, 1, 2, 3, 4]
    monkeypatch.setattr(video, "read_frames", real)
    dreamvid.render(source, output, **FAST)  # resumes at frame 5
    assert probe_video(output).frame_count == 8


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


def test_plan_segments_cover_the_range_once():
    segments = plan_segments(3, 50, streams=4, warmup=5)
    assert segments[0] == Segment(0, 3, segments[0].end, 0)
    covered = [i for s in segments for i in range(s.start, s.end)]
    assert covered == list(range(3, 50))
    assert all(s.warmup == 5 for s in segments[1:])
    assert len(plan_segments(0, 2, streams=8)) == 2


def test_frame_range_outside_the_clip_is_a_user_error(tmp_path):
    source = tmp_path / "clip.mp4"
    moving_clip(source, frames=4)
    with pytest.raises(UserError, match="outside the clip"):
        dreamvid.render(source, frames="2:9", **FAST)
    assert not (tmp_path / "clip_dream.mp4").exists()


def test_score_command_prints_both_warping_errors_as_json(tmp_path):
    import json

    source = tmp_path / "clip.mp4"
    moving_clip(source, frames=6, size=(96, 64))
    dreamvid.render(source, frames="1:6", **FAST)
    run = subprocess.run([sys.executable, "-m", "dreamvid", "score", str(source), str(tmp_path / "clip_dream.mp4")],
                         capture_output=True, text=True, check=True)
    report = json.loads(run.stdout)
    assert report["frames"] == 5 and report["start"] == 1  # the range comes from the render's sidecar
    assert report["dreamed"] > report["source"] >= 0
