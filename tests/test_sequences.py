"""Numbered image sequences through the temporal pipeline, and videos written as frames: steadiness
against stills mode, names and formats kept (JPEG, 16-bit, alpha), patterns, numbering gaps, and
frames of another size refused before TensorFlow loads."""
from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

import dreamvid
from conftest import snapshot
from helpers import FAST, Warnings
from clips import moving_clip, translating_frames
from dreamvid.score import frame_errors, warping_error
from dreamvid.io.decode import probe_video, read_frames


def write_frames(folder: Path, frames: np.ndarray, names: list[str] | None = None) -> list[str]:
    """RGB(A) frames (uint8 or uint16) as images named frame_0000.png... unless names are given."""
    folder.mkdir(exist_ok=True)
    names = names or [f"frame_{index:04d}.png" for index in range(len(frames))]
    for name, frame in zip(names, frames):
        planes = frame[..., [2, 1, 0, 3]] if frame.shape[2] == 4 else frame[..., ::-1]
        assert cv2.imwrite(str(folder / name), np.ascontiguousarray(planes))
    return names


def read_rgb(path: Path) -> np.ndarray:
    data = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    assert data is not None, path
    return data[..., 2::-1] if data.ndim == 3 else data


@pytest.mark.slow
def test_sequence_is_steadier_than_stills(tmp_path):
    source = translating_frames(10, (128, 80), dx=3, dy=1)
    names = write_frames(tmp_path / "shot", source)
    settings = dict(model="vgg16-hed", steps=8, octaves=2)
    dreamvid.render(tmp_path / "shot", tmp_path / "clip", sequence=True, **settings)
    dreamvid.render(tmp_path / "shot", tmp_path / "stills", **settings)
    clip = [read_rgb(tmp_path / "clip" / name) for name in names]
    stills = [read_rgb(tmp_path / "stills" / name) for name in names]
    errors = frame_errors(clip, list(source))
    assert len(errors) == 9 and None not in errors  # one clip, no cut detected
    as_clip, as_stills = warping_error(clip, list(source)), warping_error(stills, list(source))
    # Measured: about 3.4e-5 as a clip against 4.1e-4 as stills (ratio 0.08).
    assert as_clip < 0.3 * as_stills
    assert np.abs(clip[0].astype(float) - source[0]).mean() > 2.0  # dreamed, not copied


def test_sequence_keeps_names_and_jpeg_format(tmp_path):
    source = translating_frames(4, (64, 48), dx=2, dy=1)
    names = write_frames(tmp_path / "shot", source, [f"take2_{n}.jpg" for n in (7, 8, 9, 10)])
    results = dreamvid.render(tmp_path / "shot", sequence=True, **FAST)
    output = tmp_path / "shot_dream"
    assert results[0].job.kind == "sequence" and results[0].job.output == output
    assert sorted(p.name for p in output.iterdir()) == sorted(names + ["dreamvid.json"])
    for name, frame in zip(names, source):
        assert (output / name).read_bytes()[:3] == b"\xff\xd8\xff"  # JPEG, not PNG under a .jpg name
        dreamed = read_rgb(output / name)
        assert dreamed.shape == frame.shape and dreamed.dtype == np.uint8
        assert np.abs(dreamed.astype(float) - frame).mean() > 2.0
    record = json.loads((output / "dreamvid.json").read_text())
    assert record["frames"] == [0, 4] and record["input"] == str(tmp_path / "shot")
    assert not (tmp_path / "shot_dream.parts").exists()


def test_sixteen_bit_sequence_stays_sixteen_bit(tmp_path):
    source = translating_frames(3, (64, 48), dx=2, dy=1).astype(np.uint16) * 257 + 100
    names = write_frames(tmp_path / "shot", source)
    dreamvid.render(tmp_path / "shot", sequence=True, **FAST)
    for name, frame in zip(names, source):
        dreamed = cv2.imread(str(tmp_path / "shot_dream" / name), cv2.IMREAD_UNCHANGED)
        assert dreamed.dtype == np.uint16 and dreamed.shape == frame.shape
        assert (dreamed % 257 != 0).mean() > 0.5  # real 16-bit values, not 8-bit ones scaled up
        assert np.abs(dreamed[..., ::-1].astype(float) - frame).mean() > 1.5 * 257


def test_float_tiff_sequence_is_dreamed_not_blacked_out(tmp_path):
    """Checkpoints are PNGs: float frames go through them as 16-bit, never cast to 0/1 integers, and are
    written back as float (what the dream changed added to their own values)."""
    source = translating_frames(3, (64, 48), dx=2, dy=1).astype(np.float32) / 255
    shot = tmp_path / "shot"
    shot.mkdir()
    for index, frame in enumerate(source):
        assert cv2.imwrite(str(shot / f"f{index:03d}.tif"), np.ascontiguousarray(frame[..., ::-1]))
    dreamvid.render(shot, sequence=True, **FAST)
    for index, frame in enumerate(source):
        dreamed = cv2.imread(str(tmp_path / "shot_dream" / f"f{index:03d}.tif"), cv2.IMREAD_UNCHANGED)
        assert dreamed.dtype == np.float32 and dreamed.shape == frame.shape
        values = dreamed[..., ::-1]
        assert abs(values.mean() - frame.mean()) < 0.1  # the picture, not black
        assert np.abs(values - frame).mean() > 1.5 / 255  # and dreamed


def test_alpha_is_kept(tmp_path):
    rgb = translating_frames(3, (64, 48), dx=2, dy=1)
    alpha = np.tile(np.linspace(0, 255, 64).round().astype(np.uint8), (48, 1))
    alpha[10:20, 10:30] = 0
    source = np.concatenate([rgb, np.broadcast_to(alpha[..., None], (3, 48, 64, 1))], axis=3)
    names = write_frames(tmp_path / "shot", source)
    dreamvid.render(tmp_path / "shot", sequence=True, **FAST)
    for name, frame in zip(names, source):
        dreamed = cv2.imread(str(tmp_path / "shot_dream" / name), cv2.IMREAD_UNCHANGED)
        assert dreamed.shape == (48, 64, 4)
        assert np.array_equal(dreamed[..., 3], alpha)
        assert np.abs(dreamed[..., 2::-1].astype(float) - frame[..., :3]).mean() > 1.5


def test_pattern_picks_matching_frames_in_numeric_order(tmp_path):
    shot = tmp_path / "shot"
    source = translating_frames(3, (64, 48), dx=2, dy=1)
    names = write_frames(shot, source, ["frame_9998.png", "frame_9999.png", "frame_10000.png"])
    write_frames(shot, source[:1], ["frame_12.png"])  # fewer than four digits: not frame_%04d
    write_frames(shot, source[:1], ["other_0001.png"])
    write_frames(shot, source[:1], ["frame_0001.jpg"])
    (shot / "frame_0002.png.txt").write_text("not a frame")
    results = dreamvid.render(shot / "frame_%04d.png", **FAST)
    job = results[0].job
    assert job.kind == "sequence"
    assert [frame.name for frame in job.frames] == names  # 10000 after 9999, not before it
    output = tmp_path / "shot_dream"
    assert job.output == output
    assert sorted(p.name for p in output.iterdir()) == sorted(names + ["dreamvid.json"])
    assert json.loads((output / "dreamvid.json").read_text())["frames"] == [0, 3]


def test_pattern_in_the_current_folder_writes_beside_it(tmp_path, monkeypatch):
    names = write_frames(tmp_path / "shot", translating_frames(2, (64, 48), dx=2, dy=1))
    monkeypatch.chdir(tmp_path / "shot")
    dreamvid.render("frame_%04d.png", **FAST)
    assert sorted(p.name for p in (tmp_path / "shot_dream").glob("*.png")) == names


def test_sequence_to_video_keeps_count_and_sets_rate(tmp_path):
    write_frames(tmp_path / "shot", translating_frames(6, (64, 48), dx=2, dy=1))
    output = tmp_path / "shot.mp4"
    dreamvid.render(tmp_path / "shot", output, sequence=True, fps=12, **FAST)
    info = probe_video(output)
    assert (info.frame_count, info.fps, info.width, info.height, info.has_audio) == (6, 12, 64, 48, False)
    assert json.loads((tmp_path / "shot.mp4.json").read_text())["fps"] == "12"


def test_sequence_to_video_defaults_to_25_fps(tmp_path):
    write_frames(tmp_path / "shot", translating_frames(3, (64, 48), dx=2, dy=1))
    dreamvid.render(tmp_path / "shot", tmp_path / "shot.mov", sequence=True, **FAST)
    assert probe_video(tmp_path / "shot.mov").fps == 25
    assert json.loads((tmp_path / "shot.mov.json").read_text())["fps"] == "25"


def _check_dreamed_frames(folder: Path, names: list[str], source: list[np.ndarray]) -> None:
    """Every frame once, in order: each dreamed frame is nearest to its own source frame."""
    assert sorted(p.name for p in folder.glob("*.png")) == names
    dreamed = [read_rgb(folder / name).astype(float) for name in names]
    for index, frame in enumerate(dreamed):
        distances = [np.abs(frame - other).mean() for other in source]
        assert distances[index] > 1.5  # dreamed, not copied (a copy is 0)
        assert int(np.argmin(distances)) == index, f"{names[index]} is not frame {index}"


def test_video_to_a_folder_of_frames(tmp_path):
    clip = tmp_path / "clip.mp4"
    moving_clip(clip, frames=5, size=(64, 48), dx=4, dy=2)
    source = list(read_frames(clip))
    new = tmp_path / "new"
    dreamvid.render(clip, new, **FAST)
    _check_dreamed_frames(new, [f"clip_{index:05d}.png" for index in range(5)], source)
    assert (new / "dreamvid.json").is_file() and not (tmp_path / "new.parts").exists()

    existing = tmp_path / "existing"
    existing.mkdir()
    (existing / "notes.txt").write_text("keep me")
    dreamvid.render(clip, existing, **FAST)
    _check_dreamed_frames(existing, [f"clip_{index:05d}.png" for index in range(5)], source)
    assert (existing / "notes.txt").read_text() == "keep me"


def test_video_to_a_frame_pattern(tmp_path):
    clip = tmp_path / "clip.mp4"
    moving_clip(clip, frames=5, size=(64, 48), dx=4, dy=2)
    source = list(read_frames(clip))
    (tmp_path / "out").mkdir()
    dreamvid.render(clip, tmp_path / "out" / "f_%05d.png", **FAST)
    _check_dreamed_frames(tmp_path / "out", [f"f_{index:05d}.png" for index in range(5)], source)


def test_video_frame_range_to_frames_is_numbered_by_source_frame(tmp_path):
    clip = tmp_path / "clip.mp4"
    moving_clip(clip, frames=6, size=(64, 48))
    dreamvid.render(clip, tmp_path / "out", frames="2:5", **FAST)
    assert sorted(p.name for p in (tmp_path / "out").glob("*.png")) == [f"clip_{i:05d}.png" for i in (2, 3, 4)]
    results = dreamvid.render(clip, tmp_path / "out", frames="2:5", **FAST)
    assert results[0].status == "skipped"  # the frames of that range are all there


def test_numbering_gap_warns_naming_the_missing_frames(tmp_path):
    source = translating_frames(4, (64, 48), dx=2, dy=1)
    names = write_frames(tmp_path / "shot", source, [f"frame_{n:04d}.png" for n in (1, 2, 5, 7)])
    reporter = Warnings()
    dreamvid.render(tmp_path / "shot", sequence=True, reporter=reporter, **FAST)
    gaps = [message for message in reporter.messages if "missing" in message]
    assert len(gaps) == 1 and "3-4, 6" in gaps[0], reporter.messages
    assert sorted(p.name for p in (tmp_path / "shot_dream").glob("*.png")) == sorted(names)


def test_no_warning_without_a_gap(tmp_path):
    write_frames(tmp_path / "shot", translating_frames(3, (64, 48), dx=2, dy=1))
    reporter = Warnings()
    dreamvid.render(tmp_path / "shot", sequence=True, reporter=reporter, **FAST)
    assert reporter.messages == []


def test_folder_without_sequence_stays_stills(tmp_path):
    write_frames(tmp_path / "shot", translating_frames(2, (64, 48), dx=2, dy=1))
    results = dreamvid.render(tmp_path / "shot", **FAST)
    assert results[0].job.kind == "stills" and (tmp_path / "shot_dream" / "frame_0001.png").is_file()


@pytest.mark.parametrize("broken", ["size", "unreadable"])
@pytest.mark.parametrize("given_as", ["folder", "pattern"])
def test_bad_frame_fails_fast_naming_it(broken, given_as, tmp_path, cli):
    write_frames(tmp_path / "shot", translating_frames(5, (64, 48), dx=2, dy=1))
    bad = tmp_path / "shot" / "frame_0003.png"
    if broken == "size":
        write_frames(tmp_path / "shot", translating_frames(1, (48, 48), dx=2, dy=1), [bad.name])
    else:
        bad.write_text("not a PNG")
    before = snapshot(tmp_path)
    args = ["shot", "--sequence"] if given_as == "folder" else ["shot/frame_%04d.png"]
    run = cli(tmp_path, *args, "--model", "vgg16-hed", "-q")
    assert run.status == 2, run.stderr
    lines = run.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("dreamvid: error: ") and "frame_0003.png" in lines[0], run.stderr
    assert ("48x48" in lines[0] and "64x48" in lines[0]) if broken == "size" else "not a readable image" in lines[0]
    assert run.loaded == [], f"TensorFlow was imported before the frames were checked: {run.loaded[:3]}"
    assert snapshot(tmp_path) == before
