"""Inputs as they come: every container the bundled ffmpeg reads, frame counts from what is really there,
variable frame rates, audio that is short or starts elsewhere, anamorphic pixels, 10-bit and HDR colour."""
from __future__ import annotations

import re
import subprocess
from dataclasses import replace
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

import dreamvid
from clips import (CONTAINER_CODECS, FFMPEG, audio_onset, container_clip, frame_times, timed_tone_clip,
                   translating_frames, vfr_clip)
from helpers import FAST
from dreamvid.errors import UserError
from dreamvid.jobs import plan_jobs
from dreamvid.settings import build_settings
from dreamvid.io.sinks import VideoSink
from dreamvid.io.colour import Colour
from dreamvid.io.decode import FrameDecodeError, probe_video, read_frames
from dreamvid.io.encode import VideoWriter

ONE_STEP = {**FAST, "steps": 1}
# Frame k of the variable-rate clip is shown from VFR_TIMES[k] s: 10 fps, then 20 fps, then 30 fps.
VFR_TIMES = [0.0, 0.1, 0.2, 0.3, 0.4, 0.45, 0.5, 0.55, 0.6, 0.633, 0.667, 0.7]


def mean_abs_diff(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.abs(a.astype(np.int16) - b.astype(np.int16)).mean())


def describe(path: Path) -> str:
    return subprocess.run([FFMPEG, "-hide_banner", "-i", str(path)], capture_output=True, text=True).stderr


def video_line(path: Path) -> str:
    return next(line for line in describe(path).splitlines() if ": Video:" in line)


def decoded_seconds(path: Path, kind: str) -> float:
    """How long a file's video or audio lasts, as ffmpeg measures it by decoding."""
    out = subprocess.run([FFMPEG, "-hide_banner", "-nostdin", "-i", str(path), "-an" if kind == "video" else "-vn",
                          "-f", "null", "-"], capture_output=True, text=True).stderr
    h, m, s = re.findall(r"time=(\d+):(\d+):([\d.]+)", out)[-1]
    return int(h) * 3600 + int(m) * 60 + float(s)


def sink_copy(source: Path, output: Path, start: int = 0, end: int | None = None, audio: bool = True) -> list[str]:
    """Pass a source's own frames through VideoSink as a render does; returns the warnings."""
    info = probe_video(source)
    end = info.frame_count if end is None else end
    warnings: list[str] = []
    sink = VideoSink(output, (info.height, info.width), info.fps, 12, start, end, warnings.append,
                     source if audio and info.has_audio else None, info)
    for frame in read_frames(source, start, end, info=info):
        sink.write(frame.astype(np.float32) / 255)
    sink.close({"test": "sink_copy"})  # the record written beside the output
    return warnings


# -- containers -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("suffix", sorted(CONTAINER_CODECS))
def test_every_container_is_probed_counted_and_decoded(tmp_path, suffix):
    path = tmp_path / f"clip{suffix}"
    source = container_clip(path, frames=8)
    info = probe_video(path)
    assert (info.width, info.height, info.fps, info.frame_count) == (96, 64, Fraction(25), 8)
    assert not info.variable_rate and info.duration == pytest.approx(0.32, abs=1e-3)
    frames = list(read_frames(path, info=info))
    assert len(frames) == 8
    for index, frame in enumerate(frames):
        assert mean_abs_diff(frame, source[index]) < 4  # the right frame...
    assert mean_abs_diff(frames[4], source[3]) > 2 * mean_abs_diff(frames[4], source[4])  # ...not a neighbour


@pytest.mark.parametrize("suffix", sorted(CONTAINER_CODECS))
def test_every_container_is_planned_with_an_output_dreamvid_can_write(tmp_path, suffix):
    path = tmp_path / f"clip{suffix}"
    container_clip(path, frames=4)
    job, = plan_jobs([path], build_settings(FAST))
    writable = suffix in (".mp4", ".mov", ".mkv", ".m4v")
    assert job.kind == "video"
    assert job.output == tmp_path / f"clip_dream{suffix if writable else '.mp4'}"


def test_two_inputs_with_the_same_output_name_are_refused_before_any_work(tmp_path, cli):
    container_clip(tmp_path / "a.webm", frames=4)
    container_clip(tmp_path / "a.mp4", frames=4)
    (tmp_path / "out").mkdir()
    with pytest.raises(UserError, match="same output"):
        plan_jobs([tmp_path / "a.webm", tmp_path / "a.mp4"], build_settings(FAST), tmp_path / "out")
    run = cli(tmp_path, "a.webm", "a.mp4", "-o", "out", "--model", "vgg16-hed", "--steps", "1")
    assert run.status == 2 and "same output" in run.stderr
    assert not run.loaded and list((tmp_path / "out").iterdir()) == []


@pytest.mark.slow
def test_foreign_container_renders_to_mp4_at_its_display_shape(tmp_path):
    """An anamorphic WebM (pixels twice as wide as tall) comes out as clip_dream.mp4 with square pixels."""
    path = tmp_path / "clip.webm"
    container_clip(path, frames=3, size=(48, 64), sar="2")
    dreamvid.render(path, **ONE_STEP)
    output = tmp_path / "clip_dream.mp4"
    info = probe_video(output)
    assert (info.width, info.height, info.frame_count, info.sar) == (96, 64, 3, 1)
    assert "SAR 1:1" in video_line(output)


# -- frame counts -----------------------------------------------------------------------------------------


def test_matroska_and_webm_counts_are_what_is_there(tmp_path):
    """Their headers only give a duration; duration x fps overestimates (OpenCV said 9 here)."""
    for suffix in (".mkv", ".webm"):
        path = tmp_path / f"clip{suffix}"
        source = container_clip(path, frames=8, fps=30)
        # a duration in the header longer than the frames, as cameras and editors write
        padded = tmp_path / f"padded{suffix}"
        subprocess.run([FFMPEG, "-v", "error", "-i", str(path), "-f", "lavfi", "-i", "anullsrc=d=0.4",
                        "-map", "0:v", "-map", "1:a", "-c:v", "copy", "-c:a", "libopus", str(padded)], check=True)
        info = probe_video(padded)
        assert info.frame_count == 8
        frames = list(read_frames(padded, info=info))
        assert len(frames) == 8 and mean_abs_diff(frames[-1], source[-1]) < 4


def test_a_frame_or_two_missing_at_the_very_end_is_filled_not_fatal(tmp_path):
    path = tmp_path / "clip.mp4"
    container_clip(path, frames=6)
    info = probe_video(path)
    promised = replace(info, frame_count=8)  # two packets that do not decode
    frames = list(read_frames(path, info=promised))
    assert len(frames) == 8
    assert np.array_equal(frames[6], frames[5]) and np.array_equal(frames[7], frames[5])
    with pytest.raises(FrameDecodeError) as caught:  # more than that is damage
        list(read_frames(path, info=replace(info, frame_count=9)))
    assert caught.value.index == 6


def test_truncated_matroska_is_caught(tmp_path):
    path = tmp_path / "clip.mkv"
    container_clip(path, frames=30, size=(128, 96))
    data = path.read_bytes()
    (tmp_path / "cut.mkv").write_bytes(data[: len(data) * 2 // 3])
    info = None
    try:
        info = probe_video(tmp_path / "cut.mkv")
    except UserError as error:
        assert "truncated" in str(error) or "corrupt" in str(error)
    if info is not None:  # what is there is counted, and all of it decodes
        assert info.frame_count < 30
        assert len(list(read_frames(tmp_path / "cut.mkv", info=info))) == info.frame_count


# -- timing and audio -------------------------------------------------------------------------------------


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


def test_variable_rate_timestamps_and_audio_survive_the_sink(tmp_path):
    path = tmp_path / "phone.mp4"
    vfr_clip(path, VFR_TIMES, audio=True)
    for suffix in (".mp4", ".mkv"):
        output = tmp_path / f"out{suffix}"
        sink_copy(path, output)
        assert np.allclose(frame_times(output), frame_times(path), atol=1.5e-3)
        assert decoded_seconds(output, "audio") == pytest.approx(decoded_seconds(path, "video"), abs=0.05)
    # a range keeps the timestamps of its frames, from its first
    sink_copy(path, tmp_path / "range.mp4", start=4, end=10)
    assert np.allclose(frame_times(tmp_path / "range.mp4"), np.array(VFR_TIMES[4:10]) - VFR_TIMES[4], atol=1.5e-3)
    assert not list(tmp_path.glob(".*"))  # the kept images are gone


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


@pytest.mark.slow
def test_variable_rate_render_keeps_timestamps(tmp_path):
    path = tmp_path / "phone.mp4"
    vfr_clip(path, VFR_TIMES[:6], audio=True)
    dreamvid.render(path, **ONE_STEP)
    output = tmp_path / "phone_dream.mp4"
    assert np.allclose(frame_times(output), VFR_TIMES[:6], atol=1.5e-3)
    assert probe_video(output).has_audio


def test_audio_shorter_than_the_picture_keeps_every_frame(tmp_path):
    path = tmp_path / "clip.mp4"
    timed_tone_clip(path, frames=10, tone_at=0.0, audio_seconds=0.5)
    sink_copy(path, tmp_path / "out.mp4")
    assert probe_video(tmp_path / "out.mp4").frame_count == 10
    assert decoded_seconds(tmp_path / "out.mp4", "video") == pytest.approx(1.0, abs=0.05)
    assert decoded_seconds(tmp_path / "out.mp4", "audio") == pytest.approx(0.5, abs=0.05)


def test_frame_range_audio_starts_at_its_first_frame(tmp_path):
    """The picture starts 0.5 s after the audio (as some cameras write); the tone begins with frame 5."""
    path = tmp_path / "camera.mp4"
    timed_tone_clip(path, frames=10, tone_at=1.0, video_delay=0.5)
    info = probe_video(path)
    assert info.times[0] == pytest.approx(0.5, abs=1e-3)
    sink_copy(path, tmp_path / "range.mp4", start=3, end=9)
    assert audio_onset(tmp_path / "range.mp4") == pytest.approx(0.2, abs=0.03)
    sink_copy(path, tmp_path / "whole.mp4")
    assert audio_onset(tmp_path / "whole.mp4") == pytest.approx(0.5, abs=0.03)


# -- picture shape and colour -----------------------------------------------------------------------------


def test_anamorphic_pixels_are_widened_to_the_display_shape(tmp_path):
    path = tmp_path / "dv.mp4"
    source = container_clip(path, frames=3, size=(48, 64), sar="2")
    info = probe_video(path)
    assert (info.width, info.height, info.sar) == (96, 64, 2)
    frames = list(read_frames(path, info=info))
    assert frames[0].shape == (64, 96, 3)
    wide = np.repeat(source, 2, axis=2)
    assert max(mean_abs_diff(f, w) for f, w in zip(frames, wide)) < 6
    pal = tmp_path / "pal.mp4"
    container_clip(pal, frames=2, size=(720, 576), sar="64/45")
    assert (probe_video(pal).width, probe_video(pal).height) == (1024, 576)


def graded(path: Path, frames: np.ndarray, pixels: str, tags: str) -> None:
    """Encode RGB frames with the BT.2020 matrix into `pixels`, tagged as `tags` (setparams options)."""
    count, height, width = frames.shape[:3]
    subprocess.run([FFMPEG, "-v", "error", "-y", "-f", "rawvideo", "-pix_fmt", "rgb24", "-s", f"{width}x{height}",
                    "-framerate", "10", "-i", "pipe:0", "-vf",
                    f"scale=out_color_matrix=bt2020:out_range=tv,format={pixels},setparams={tags}",
                    "-c:v", "libx264", "-crf", "4", str(path)],
                   input=np.ascontiguousarray(frames).tobytes(), check=True)


def test_ten_bit_hdr_is_decoded_with_its_matrix_and_tagged_again(tmp_path):
    source = translating_frames(3, (96, 64), 1, 1, seed=7)
    path = tmp_path / "hdr.mkv"
    graded(path, source, "yuv420p10le", "colorspace=bt2020nc:color_primaries=bt2020:color_trc=smpte2084")
    info = probe_video(path)
    assert info.colour == Colour("bt2020nc", "bt2020", "smpte2084", 10)
    frames = list(read_frames(path, info=info))
    assert max(mean_abs_diff(f, s) for f, s in zip(frames, source)) < 3  # BT.601 would be far off
    output = tmp_path / "out.mp4"
    warnings = sink_copy(path, output)
    assert "bt2020nc/bt2020/smpte2084" in video_line(output)
    assert any("10-bit" in w and "HDR" in w for w in warnings)
    assert max(mean_abs_diff(f, s) for f, s in zip(read_frames(output), source)) < 3


def test_hd_output_is_bt709_converted_and_tagged(tmp_path):
    """A flat patch through encode -> decode keeps its colour, and the tags say BT.709."""
    colour = np.array([40, 180, 60], np.uint8)
    frame = np.broadcast_to(colour, (720, 1280, 3))
    output = tmp_path / "hd.mp4"
    with VideoWriter(output, 1280, 720, Fraction(25)) as writer:
        for _ in range(2):
            writer.write(np.array(frame))
    assert "yuv420p(tv, bt709, progressive)" in video_line(output)
    decoded = next(read_frames(output))
    assert np.abs(decoded[300:400, 600:700].reshape(-1, 3).mean(0) - colour).max() < 2
    import cv2  # OpenCV's own decoder honours the BT.709 tag as well

    capture = cv2.VideoCapture(str(output))
    ok, bgr = capture.read()
    capture.release()
    assert ok and np.abs(bgr[300:400, 600:700, ::-1].reshape(-1, 3).mean(0) - colour).max() < 2
    # an untagged HD stream converted with BT.709 is read as BT.709 too, as players read untagged HD
    untagged = tmp_path / "untagged.mp4"
    subprocess.run([FFMPEG, "-v", "error", "-f", "rawvideo", "-pix_fmt", "rgb24", "-s", "1280x720", "-i", "pipe:0",
                    "-vf", "scale=out_color_matrix=bt709:out_range=tv,format=yuv420p", "-c:v", "libx264",
                    "-bsf:v", "h264_metadata=matrix_coefficients=2", str(untagged)],
                   input=np.ascontiguousarray(frame).tobytes(), check=True)
    assert "yuv420p(tv, progressive)" in video_line(untagged)
    decoded = next(read_frames(untagged))
    assert np.abs(decoded[300:400, 600:700].reshape(-1, 3).mean(0) - colour).max() < 2
    small = tmp_path / "sd.mp4"
    with VideoWriter(small, 96, 64, Fraction(25)) as writer:
        writer.write(np.array(np.broadcast_to(colour, (64, 96, 3))))
    assert "smpte170m" in video_line(small)
    assert np.abs(next(read_frames(small))[20:40, 30:60].reshape(-1, 3).mean(0) - colour).max() < 2
