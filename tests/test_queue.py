"""Render queues: every input in turn with the same settings, all validated before any work; a job that
breaks while rendering is reported and the queue goes on; a rerun skips what is finished and resumes
the rest; `-o DIR` gathers the outputs."""
from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

import dreamvid
from helpers import FAST, Warnings
from clips import moving_clip, translating_frames
from conftest import natural_picture, snapshot
from dreamvid.io.decode import FrameDecodeError, probe_video

RENDER = ["--model", "vgg16-hed", "--steps", "2", "--octaves", "1", "--flow-steps", "1", "--jitter", "4"]


def write_picture(path: Path, height: int = 40, width: int = 48, seed: int = 0) -> None:
    assert cv2.imwrite(str(path), np.rint(natural_picture(height, width, seed)[..., ::-1] * 255).astype(np.uint8))


def write_shot(folder: Path, frames: int = 4) -> list[Path]:
    folder.mkdir()
    paths = []
    for index, frame in enumerate(translating_frames(frames, (64, 48), dx=2, dy=1)):
        paths.append(folder / f"frame_{index:04d}.png")
        assert cv2.imwrite(str(paths[-1]), frame[..., ::-1])
    return paths


def checkpoints(output: Path) -> list[int]:
    folder = output.with_name(output.name + ".parts")
    return sorted(int(p.stem.split("_")[1]) for p in folder.glob("frame_*.png"))


def mtimes(*paths: Path) -> dict[Path, int]:
    return {path: path.stat().st_mtime_ns for path in paths}


def test_failed_job_is_reported_and_the_queue_goes_on_then_resumes(tmp_path, monkeypatch):
    import dreamvid.io.sources as video

    broken, good, photo = tmp_path / "broken.mp4", tmp_path / "good.mov", tmp_path / "photo.jpg"
    moving_clip(broken, frames=8, size=(64, 48))
    moving_clip(good, frames=4, size=(64, 48))
    write_picture(photo)
    real = video.read_frames

    def broken_breaks_at_3(path, start=0, end=None, *, info=None, count=None):
        for index, frame in enumerate(real(path, start, end, info=info, count=count), start):
            if Path(path).name == "broken.mp4" and index == 3:
                raise FrameDecodeError(index, path)
            yield frame

    monkeypatch.setattr(video, "read_frames", broken_breaks_at_3)
    reporter = Warnings()
    results = dreamvid.render([broken, good, photo], reporter=reporter, **FAST)
    assert [r.status for r in results] == ["failed", "done", "done"]
    assert "could not decode frame 3" in results[0].error and "broken.mp4" in results[0].error
    assert any("broken.mp4" in m and "failed" in m and "frame 3" in m for m in reporter.messages)
    failed_output = tmp_path / "broken_dream.mp4"
    assert not failed_output.exists() and checkpoints(failed_output) == [0, 1, 2]  # kept for a resume
    assert probe_video(tmp_path / "good_dream.mov").frame_count == 4
    assert (tmp_path / "photo_dream.png").is_file()
    assert [r.frames for r in results] == [0, 4, 1]

    monkeypatch.setattr(video, "read_frames", real)  # the file is readable again: a rerun finishes the queue
    finished = mtimes(tmp_path / "good_dream.mov", tmp_path / "photo_dream.png")
    results = dreamvid.render([broken, good, photo], reporter=reporter, **FAST)
    assert [r.status for r in results] == ["done", "skipped", "skipped"]
    assert results[0].frames == 5  # frames 3..7 only: 0..2 came from the checkpoints
    assert probe_video(failed_output).frame_count == 8 and checkpoints(failed_output) == []
    assert mtimes(*finished) == finished


def test_single_job_failure_raises(tmp_path, monkeypatch):
    """Alone, a failing job is the command's error, not a line in a table."""
    import dreamvid.io.sources as video

    clip = tmp_path / "clip.mp4"
    moving_clip(clip, frames=4, size=(64, 48))

    def breaks_at_once(path, start=0, end=None, *, info=None, count=None):
        raise FrameDecodeError(start, path)
        yield  # pragma: no cover

    monkeypatch.setattr(video, "read_frames", breaks_at_once)
    with pytest.raises(FrameDecodeError):
        dreamvid.render(clip, **FAST)


@pytest.mark.slow
def test_cli_queue_into_a_folder_with_a_broken_file(tmp_path, cli):
    """A frame whose header is fine but whose data is cut short passes validation and breaks the
    sequence halfway: the others finish, the table says why, the status is 1; once it is repaired
    the rerun resumes it, and a third run has nothing to do and never loads TensorFlow."""
    moving_clip(tmp_path / "a.mp4", frames=4, size=(64, 48))
    frames = write_shot(tmp_path / "shot", frames=5)
    write_picture(tmp_path / "photo.jpg")
    good = frames[3].read_bytes()
    frames[3].write_bytes(good[:len(good) // 2])
    (tmp_path / "out").mkdir()
    args = ["a.mp4", "shot", "photo.jpg", "--sequence", "-o", "out", *RENDER]

    run = cli(tmp_path, *args)
    assert "tensorflow" in run.loaded
    rows = {line.split("│")[1].strip(): line for line in run.stdout.splitlines() if line.count("│") >= 5}
    assert set(rows) == {"a.mp4", "shot", "photo.jpg"}, run.stdout
    assert "done" in rows["a.mp4"] and "done" in rows["photo.jpg"]
    assert "failed" in rows["shot"] and "frame_0003.png" in rows["shot"], run.stdout
    assert "2 done" in run.stdout and "1 failed" in run.stdout
    out = tmp_path / "out"
    assert probe_video(out / "a_dream.mp4").frame_count == 4 and (out / "photo_dream.png").is_file()
    assert not (out / "shot_dream").exists() and checkpoints(out / "shot_dream") == [0, 1, 2]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.mp4", "out", "photo.jpg", "shot"]  # nothing beside
    assert run.status == 1, run.stderr

    frames[3].write_bytes(good)
    run = cli(tmp_path, *args)
    assert run.status == 0, run.stderr
    assert "skipped" in run.stdout and "1 done" in run.stdout and "2 skipped" in run.stdout, run.stdout
    assert sorted(p.name for p in (out / "shot_dream").glob("*.png")) == [p.name for p in frames]
    assert not (out / "shot_dream.parts").exists()

    before = snapshot(tmp_path)
    run = cli(tmp_path, *args)
    assert run.status == 0, run.stderr
    assert "3 skipped" in run.stdout and "--overwrite" in run.stderr
    assert run.loaded == [], f"a queue with nothing to do loaded {run.loaded[:3]}"
    assert snapshot(tmp_path) == before


def test_cli_queue_stops_on_a_missing_input_before_any_work(tmp_path, cli):
    moving_clip(tmp_path / "a.mp4", frames=3, size=(64, 48))
    write_picture(tmp_path / "photo.jpg")
    before = snapshot(tmp_path)
    run = cli(tmp_path, "a.mp4", "photo.jpg", "missing.mov", *RENDER)
    assert run.status == 2
    assert run.stderr.splitlines() == ["dreamvid: error: input not found: missing.mov"]
    assert run.loaded == [] and snapshot(tmp_path) == before


def test_queue_output_folder_must_exist(tmp_path):
    moving_clip(tmp_path / "a.mp4", frames=3, size=(64, 48))
    write_picture(tmp_path / "photo.jpg")
    with pytest.raises(dreamvid.errors.UserError, match="does not exist"):
        dreamvid.render([tmp_path / "a.mp4", tmp_path / "photo.jpg"], tmp_path / "nowhere", **FAST)
    with pytest.raises(dreamvid.errors.UserError, match="names a folder"):
        dreamvid.render([tmp_path / "a.mp4", tmp_path / "photo.jpg"], tmp_path / "out.mp4", **FAST)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.mp4", "photo.jpg"]
