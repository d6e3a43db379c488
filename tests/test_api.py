"""The Python API: dream() on an array, and the render queue: every input in turn with the same settings, a
job that breaks while rendering reported while the queue goes on (out of memory said plainly), a rerun
that skips what is finished and resumes the rest."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import dreamvid
from clips import moving_clip
from doubles import StubDreamer
from dreamvid.errors import OutOfMemory
from dreamvid.io.decode import FrameDecodeError, probe_video
from helpers import FAST, Warnings, write_picture


def test_tiny_image_is_dreamed_at_its_own_size(inception_random):
    """20 x 20 is under InceptionV3's 75 px: it is dreamed upscaled and returned at 20 x 20, same type."""
    import dreamvid

    image = np.rint(np.random.default_rng(1).random((20, 20, 3)) * 255).astype(np.uint8)
    dreamed = dreamvid.dream(image, model="inception_v3", weights="random", layers=["mixed3"],
                             octaves=1, steps=2, jitter=4)
    assert dreamed.shape == image.shape and dreamed.dtype == np.uint8
    assert np.abs(dreamed.astype(int) - image).mean() > 1


def test_max_side_dreams_small_and_keeps_the_full_size(vgg_hed, natural):
    import dreamvid

    image = natural(120, 160, seed=3)
    dreamed = dreamvid.dream(image, model="vgg16-hed", layers=["block4_conv3"], octaves=1, steps=3,
                             step_size=0.02, jitter=4, max_side=64)
    assert dreamed.shape == image.shape and dreamed.dtype == np.float32
    change = dreamed - image
    assert np.abs(change).mean() > 2 / 255
    # only the (upscaled, so smooth) change is added: pixel-to-pixel detail of the change is small
    assert np.abs(np.diff(change, axis=1)).mean() < np.abs(change).mean()


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
    results = dreamvid.render([broken, good, photo], reporter=reporter, dreamer=StubDreamer(), **FAST)
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
    results = dreamvid.render([broken, good, photo], reporter=reporter, dreamer=StubDreamer(), **FAST)
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
        dreamvid.render(clip, dreamer=StubDreamer(), **FAST)


def test_queue_output_folder_must_exist(tmp_path):
    moving_clip(tmp_path / "a.mp4", frames=3, size=(64, 48))
    write_picture(tmp_path / "photo.jpg")
    with pytest.raises(dreamvid.errors.UserError, match="does not exist"):
        dreamvid.render([tmp_path / "a.mp4", tmp_path / "photo.jpg"], tmp_path / "nowhere", **FAST)
    with pytest.raises(dreamvid.errors.UserError, match="names a folder"):
        dreamvid.render([tmp_path / "a.mp4", tmp_path / "photo.jpg"], tmp_path / "out.mp4", **FAST)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.mp4", "photo.jpg"]


def _oom_on(name: str, monkeypatch, numpy: bool = False):
    """The model (or numpy, on the machine) runs out of memory on the job whose source is called `name`."""
    import tensorflow as tf

    from dreamvid import api

    real = api._run_job

    def run(job, *args, **kwargs):
        if job.source.name == name:
            raise MemoryError() if numpy else tf.errors.ResourceExhaustedError(None, None, "OOM when allocating")
        return real(job, *args, **kwargs)

    monkeypatch.setattr(api, "_run_job", run)


@pytest.mark.parametrize("numpy", [False, True])
def test_out_of_memory_is_a_clear_message_and_the_queue_goes_on(tmp_path, monkeypatch, numpy):
    first, second = tmp_path / "a.mp4", tmp_path / "b.mp4"
    moving_clip(first, frames=2, size=(64, 48))
    moving_clip(second, frames=2, size=(64, 48))
    _oom_on("a.mp4", monkeypatch, numpy)
    results = dreamvid.render([first, second], dreamer=StubDreamer(), **FAST)
    assert [r.status for r in results] == ["failed", "done"]
    assert "out of memory" in results[0].error and "--tile" in results[0].error and "--max-side" in results[0].error
    with pytest.raises(OutOfMemory, match="--batch"):
        dreamvid.render(first, tmp_path / "alone.mp4", dreamer=StubDreamer(), **FAST)


def test_any_error_in_one_job_leaves_the_queue_going(tmp_path, monkeypatch):
    from dreamvid import api

    first, second = tmp_path / "a.mp4", tmp_path / "b.mp4"
    moving_clip(first, frames=2, size=(64, 48))
    moving_clip(second, frames=2, size=(64, 48))
    real = api._run_job

    def run(job, *args, **kwargs):
        if job.source.name == "a.mp4":
            raise ValueError("something nobody planned for")
        return real(job, *args, **kwargs)

    monkeypatch.setattr(api, "_run_job", run)
    results = dreamvid.render([first, second], dreamer=StubDreamer(), **FAST)
    assert [r.status for r in results] == ["failed", "done"]
    assert results[0].error == "ValueError: something nobody planned for"
    assert probe_video(tmp_path / "b_dream.mp4").frame_count == 2
