"""The feedback zoom, measured on pixels: with no dreaming (steps 0) every frame is the one before moved
by the requested transform; with dreaming, a resumed zoom equals an uninterrupted one; --flow-zoom
zooms what a video carries from frame to frame."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

import dreamvid
from clips import moving_clip
from dreamvid.errors import UserError
from dreamvid.imageops import from_float
from dreamvid.io.decode import read_frames
from dreamvid.job import ZoomMotion
from dreamvid.api import render_zoom
from helpers import FAST, done_frames, kill_when, power_cut_at_round

STILL = dict(model="vgg16-hed", octaves=1, steps=0, flow_steps=0)  # the model runs, the picture is unchanged


def write_png(path: Path, rgb: np.ndarray) -> Path:
    cv2.imwrite(str(path), from_float(rgb, np.uint8)[..., ::-1])
    return path


def checkpoints(saved: dict, output: Path) -> list[np.ndarray]:
    """The kept frames of a render (lossless, unlike the H.264 output) as its pieces were saved (the
    `saved` fixture), in order, as float RGB."""
    pieces = saved.get(output.name, {})
    return [pieces[name].astype(np.float32) / 255 for name in sorted(pieces) if name.startswith("frame_")]


def step(frame: np.ndarray, zoom: float, degrees: float, dx: float, dy: float) -> np.ndarray:
    """The expected step, written out independently of dreamvid: about the centre, reflected borders, 8-bit."""
    height, width = frame.shape[:2]
    matrix = cv2.getRotationMatrix2D(((width - 1) / 2, (height - 1) / 2), degrees, zoom)
    matrix[:, 2] += (dx, dy)
    moved = cv2.warpAffine(frame, matrix, (width, height), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
    return np.rint(moved * 255) / 255


def test_each_frame_is_the_one_before_zoomed_and_rotated(tmp_path, natural, saved):
    photo = write_png(tmp_path / "photo.png", natural(64, 96))
    render_zoom(photo, tmp_path / "zoom.mp4", frames=5, zoom=1.1, rotate=3, keep_parts=True, **STILL)
    frames = checkpoints(saved, tmp_path / "zoom.mp4")
    assert len(frames) == 5
    expected = cv2.imread(str(photo))[..., ::-1].astype(np.float32) / 255
    for frame in frames:
        assert np.abs(frame - expected).max() <= 1.5 / 255
        expected = step(frame, 1.1, 3, 0, 0)
    assert np.abs(frames[4] - frames[0]).mean() > 0.02  # it did move
    record = json.loads((tmp_path / "zoom.mp4.json").read_text())
    assert record["parameters"]["zoom"] == "1.1" and record["frames"] == [0, 5]
    assert dreamvid.io.decode.probe_video(tmp_path / "zoom.mp4").frame_count == 5


def shift_between(first: np.ndarray, second: np.ndarray) -> tuple[float, float]:
    grey = [cv2.cvtColor(f, cv2.COLOR_RGB2GRAY).astype(np.float64) for f in (first, second)]
    window = cv2.createHanningWindow(grey[0].shape[::-1], cv2.CV_64F)
    (dx, dy), _ = cv2.phaseCorrelate(grey[0], grey[1], window)
    return dx, dy


def test_a_translation_schedule_moves_the_content_by_the_requested_pixels(tmp_path, natural, saved):
    photo = write_png(tmp_path / "photo.png", natural(96, 128, seed=3))
    # 1, 2, 3 pixels right at frames 1, 2, 3 (a ramp), and 2 up each frame
    render_zoom(photo, tmp_path / "pan.mp4", frames=4, zoom=1, translate_x="0:(0), 4:(4)", translate_y=-2,
                keep_parts=True, **STILL)
    frames = checkpoints(saved, tmp_path / "pan.mp4")
    for k, (right, up) in enumerate([(1, 2), (3, 4), (6, 6)], start=1):
        dx, dy = shift_between(frames[0], frames[k])
        assert dx == pytest.approx(right, abs=0.3) and dy == pytest.approx(-up, abs=0.3)


def test_a_zoom_resumed_after_a_crash_equals_an_uninterrupted_one(tmp_path, natural, saved):
    photo = write_png(tmp_path / "photo.png", natural(64, 96, seed=5))
    options = dict(frames=6, zoom=1.05, rotate=1, translate_x=0.5, keep_parts=True, **{**FAST, "flow_steps": 1})
    render_zoom(photo, tmp_path / "whole.mp4", **options)

    with power_cut_at_round(4):
        render_zoom(photo, tmp_path / "resumed.mp4", **options)
    assert not (tmp_path / "resumed.mp4").exists()
    assert done_frames(tmp_path / "resumed.mp4") == [0, 1, 2]
    render_zoom(photo, tmp_path / "resumed.mp4", **options)

    whole, resumed = checkpoints(saved, tmp_path / "whole.mp4"), checkpoints(saved, tmp_path / "resumed.mp4")
    assert len(whole) == len(resumed) == 6
    for a, b in zip(whole, resumed):
        assert np.array_equal(a, b)
    assert np.abs(whole[5] - whole[0]).mean() > 0.01


def test_a_zoom_from_a_video_starts_from_its_last_frame(tmp_path, saved):
    clip = tmp_path / "clip.mp4"
    moving_clip(clip, frames=6)
    last = list(read_frames(clip))[-1]
    render_zoom(clip, frames=2, zoom=1.2, keep_parts=True, **STILL)
    frames = checkpoints(saved, tmp_path / "clip_zoom.mp4")
    assert np.abs(frames[0] * 255 - last).max() <= 1.5
    assert (tmp_path / "clip_zoom.mp4.json").is_file()


def test_a_large_still_is_zoomed_at_max_side(tmp_path, natural):
    photo = write_png(tmp_path / "big.png", natural(300, 400, seed=2))
    render_zoom(photo, frames=2, max_side=100, **STILL)
    info = dreamvid.io.decode.probe_video(tmp_path / "big_zoom.mp4")
    assert (info.width, info.height) == (100, 74)


def test_flow_zoom_zooms_the_carried_dream(tmp_path, natural, saved, monkeypatch):
    """A still shot (every frame the same): the second frame starts from the source plus what the first
    frame's dream added, which --flow-zoom scales about the centre; no steps then, so it shows as is."""
    monkeypatch.setattr("dreamvid.temporal.chain.DELTA_LIMIT", float("inf"))  # carried exactly, not held back
    shot = tmp_path / "shot"
    shot.mkdir()
    picture = natural(64, 96, seed=7)
    for index in range(2):
        write_png(shot / f"f_{index}.png", picture)
    source = cv2.imread(str(shot / "f_0.png"))[..., ::-1].astype(np.float32) / 255
    added = {}
    for zoom in (1.0, 1.25):
        output = tmp_path / f"out_{round(zoom * 100)}"
        dreamvid.render(shot, output, sequence=True, flow_zoom=zoom, blend=1.0, step_size=0.05,
                        model="vgg16-hed", octaves=1, steps=3, flow_steps=0, keep_parts=True)
        first, second = checkpoints(saved, output)
        added[zoom] = (first - source, second - source)
    plain_first, plain_second = added[1.0]
    first, second = added[1.25]
    assert np.array_equal(plain_first, first)  # the first frame has nothing carried
    assert np.abs(plain_second - plain_first).mean() < 0.1 * np.abs(plain_first).mean()  # carried as it was
    zoomed = cv2.warpAffine(first, cv2.getRotationMatrix2D((47.5, 31.5), 0, 1.25), (96, 64),
                            flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
    inside = (np.clip(source + zoomed, 0, 1) == source + zoomed).all(axis=2)  # where nothing was clipped
    assert np.abs(second - zoomed)[inside].mean() < 0.1 * np.abs(second - first)[inside].mean()


@pytest.mark.parametrize("args, message", [
    (["--zoom", "0"], "--zoom"),
    (["--zoom", "0:(1.02), 10:(-1)"], "--zoom"),
    (["--rotate", "0:(1), 10:(oops"], "--rotate"),
    (["--translate-x", "nan"], "--translate-x"),
    (["--frames", "0"], "--frames"),
])
def test_bad_zoom_values_fail_before_tensorflow(tmp_path, natural, cli, args, message):
    write_png(tmp_path / "photo.png", natural(64, 96))
    run = cli(tmp_path, "zoom", "photo.png", *args)
    assert run.status == 2, run.stderr
    assert message in run.stderr and len(run.stderr.strip().splitlines()) == 1
    assert run.loaded == []
    assert not (tmp_path / "photo_zoom.mp4").exists()


def test_bad_flow_zoom_fails_before_tensorflow(tmp_path, cli):
    moving_clip(tmp_path / "clip.mp4", frames=3)
    run = cli(tmp_path, "clip.mp4", "--flow-zoom", "0")
    assert run.status == 2 and "--flow-zoom" in run.stderr and run.loaded == []


def test_zoom_motion_checks_values():
    motion = ZoomMotion.parse("0:(1), 10:(2)", "5", "0", "0:(0), 1s:(10)", frames=20, fps=10)
    assert motion.at(5) == (1.5, 5.0, 0.0, 5.0)
    with pytest.raises(UserError, match="--zoom"):
        ZoomMotion.parse("-1")


def test_the_zoom_command_end_to_end(tmp_path, natural, cli):
    write_png(tmp_path / "photo.png", natural(64, 96))
    run = cli(tmp_path, "zoom", "photo.png", "-o", "z.mp4", "--frames", "3", "--zoom", "1.05", "--rotate", "0.5",
              "--model", "vgg16-hed", "--steps", "1", "--octaves", "1", "--fps", "12", "-q")
    assert run.status == 0, run.stderr
    info = dreamvid.io.decode.probe_video(tmp_path / "z.mp4")
    assert info.frame_count == 3 and float(info.fps) == 12
    assert not (tmp_path / "z.mp4.parts").exists()


def test_dream_parameters_follow_their_schedules_in_a_zoom(tmp_path, natural, cli):
    import json

    write_png(tmp_path / "photo.png", natural(64, 96))
    run = cli(tmp_path, "zoom", "photo.png", "-o", "z.mp4", "--frames", "4", "--zoom", "0:(1.0), 3:(1.06)",
              "--step-size", "0:(0.01), 3:(0.04)", "--model", "vgg16-hed", "--steps", "1", "--octaves", "1", "-q")
    assert run.status == 0, run.stderr
    record = json.loads((tmp_path / "z.mp4.json").read_text())
    assert record["parameters"]["step_size"] == "0:(0.01), 3:(0.04)"
    assert record["schedules"]["--step-size"] == pytest.approx([0.01, 0.02, 0.03, 0.04])
    run = cli(tmp_path, "zoom", "photo.png", "-o", "y.mp4", "--step-size", "audio:0.01..0.02", "--model", "vgg16-hed")
    assert run.status == 2 and "no soundtrack" in run.stderr and not run.loaded


def test_a_queue_of_zooms_and_a_changed_motion_is_refused_on_resume(tmp_path, natural):
    pictures = [write_png(tmp_path / f"p{k}.png", natural(64, 96, seed=k)) for k in range(2)]
    out = tmp_path / "out"
    out.mkdir()
    results = render_zoom(pictures, out, frames=2, zoom=1.1, keep_parts=True, **STILL)
    assert [r.status for r in results] == ["done", "done"]
    assert sorted(p.name for p in out.glob("*.mp4")) == ["p0_zoom.mp4", "p1_zoom.mp4"]
    with pytest.raises(UserError, match=r"zoom: '1.1' -> '1.2'"):
        render_zoom(pictures[0], out / "p0_zoom.mp4", frames=2, zoom=1.2, overwrite=True, **STILL)
    assert render_zoom(pictures[0], out / "p0_zoom.mp4", frames=2, zoom=1.1, **STILL)[0].status == "skipped"


def test_a_zoom_killed_with_sigkill_resumes_to_the_same_frames(tmp_path, natural):
    photo = write_png(tmp_path / "photo.png", natural(64, 96, seed=9))
    render_zoom(photo, tmp_path / "whole.mp4", frames=14, zoom=1.04, rotate=0.5, keep_parts=True, **FAST)
    output = tmp_path / "killed.mp4"
    command = [sys.executable, "-m", "dreamvid", "zoom", str(photo), "-o", str(output), "--frames", "14",
               "--zoom", "1.04", "--rotate", "0.5", "--keep-parts", "-q", "--model", "vgg16-hed", "--steps", "3",
               "--octaves", "1", "--flow-steps", "1", "--jitter", "8"]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    kill_when(process, lambda: len(done_frames(output)) >= 4)
    assert 4 <= len(done_frames(output)) < 14 and not output.exists()
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    whole, resumed = list(read_frames(tmp_path / "whole.mp4")), list(read_frames(output))  # the same H.264
    assert len(resumed) == 14
    for index, (a, b) in enumerate(zip(whole, resumed)):
        assert np.array_equal(a, b), f"frame {index} differs"
    assert len(json.loads((output.parent / "killed.mp4.json").read_text())["frame_seconds"]) == 14
