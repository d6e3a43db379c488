"""The stills runner: an image, or a folder of independent images, dreamed and written in its own mode and
upright; float values outside [0, 1] kept; nothing left behind when a picture cannot be written; a
folder render killed or interrupted resumes, keeping the old output until the new one is whole."""
from __future__ import annotations

import json
import signal
import subprocess
import time

import cv2
import numpy as np
import pytest
from PIL import Image

import dreamvid
from clips import translating_frames
from doubles import Brighten, RecordingDreamer
from dreamvid.settings import build_settings
from helpers import (FAST, ORIENTATION, blocks, installed_command, interrupted_folder_render, save_oriented, snapshot,
                     write_picture)


QUICK = ["--model", "vgg16-hed", "--steps", "1", "--octaves", "1", "--flow-steps", "1", "--jitter", "4", "-q"]


@pytest.fixture
def recorder():
    return RecordingDreamer()


def _run_still(source, output):
    from dreamvid.job import Job
    from dreamvid.progress import Reporter
    from dreamvid.stills import run_stills

    from dreamvid.engine.catalog import resolved_parameters

    settings = build_settings({"model": "vgg16-hed", "octaves": 1, "steps": 1})
    job = Job("image", source, output, (source,), params=resolved_parameters(settings))
    run_stills(job, Brighten(), settings, Reporter(), 1)


def test_float_still_keeps_values_outside_the_unit_range(tmp_path):
    values = np.array([[-1.0, 0.25, 0.95, 3.0]] * 4, np.float32)
    Image.fromarray(values, "F").save(tmp_path / "hdr.tif")
    _run_still(tmp_path / "hdr.tif", tmp_path / "out.tif")
    with Image.open(tmp_path / "out.tif") as written:
        assert written.mode == "F"
        result = np.asarray(written)
    # the change dreamed on the clipped values, added to the original ones
    assert np.allclose(result[0], [-0.9, 0.35, 1.0, 3.0], atol=1e-6)


def test_missing_values_of_a_float_still_stay_missing_and_do_not_spread(tmp_path):
    values = np.array([[np.nan, 0.25, 0.5, 2.0]] * 4, np.float32)
    Image.fromarray(values, "F").save(tmp_path / "gaps.tif")
    _run_still(tmp_path / "gaps.tif", tmp_path / "out.tif")
    with Image.open(tmp_path / "out.tif") as written:
        result = np.asarray(written)
    assert np.isnan(result[:, 0]).all() and np.allclose(result[:, 1:], [0.35, 0.6, 2.0], atol=1e-6)


@pytest.mark.parametrize("mode, suffix", [("L", ".png"), ("CMYK", ".jpg"), ("RGB", ".webp")])
def test_dreamed_still_keeps_its_mode_and_displayed_size(tmp_path, mode, suffix):
    save_oriented(tmp_path / f"in{suffix}", blocks(), 6, mode)
    _run_still(tmp_path / f"in{suffix}", tmp_path / f"out{suffix}")
    with Image.open(tmp_path / f"out{suffix}") as written:
        assert written.mode == mode and written.size == (32, 48)
        assert written.getexif().get(ORIENTATION, 1) == 1


def test_phone_photo_is_dreamed_upright(tmp_path, vgg_hed):
    """The real engine: a photo held upright (stored sideways, orientation 6) comes out upright."""
    import dreamvid

    source = blocks(8, 12, 8)  # 96 x 64 stored
    save_oriented(tmp_path / "phone.jpg", source, 6)
    results = dreamvid.render(tmp_path / "phone.jpg", layers=["block4_conv3"], precision="float32", **FAST)
    assert results[0].status == "done"
    with Image.open(tmp_path / "phone_dream.png") as written:
        assert written.size == (64, 96) and written.getexif().get(ORIENTATION, 1) == 1
        dreamed = np.asarray(written.convert("RGB")).astype(float)
    turned = np.rot90(source, -1).astype(float)
    assert np.abs(dreamed - turned).mean() < np.abs(dreamed - np.rot90(source, 1)).mean() / 2


def test_a_still_uses_the_values_at_frame_zero(tmp_path, recorder):
    import cv2

    cv2.imwrite(str(tmp_path / "photo.png"), np.full((40, 48, 3), 128, np.uint8))
    dreamvid.render(tmp_path / "photo.png", model="vgg16-hed", step_size="0:(0.03), 10:(0.01)", steps="0:(4), 9:(1)", dreamer=recorder)
    (_, params, steps), = recorder.batches
    assert params.step_size == 0.03 and params.steps == 4 and steps is None


def test_a_still_that_cannot_be_written_leaves_no_record(tmp_path, monkeypatch):
    """On a full disk the picture's record was written and the picture was not: `photo_dream.png.json`
    stood alone beside the photo."""
    import pytest

    from dreamvid import stills as stillsjob
    from dreamvid.errors import UserError
    from dreamvid.jobs import plan_jobs
    from helpers import Warnings
    from doubles import StubDreamer

    Image.fromarray(translating_frames(1, (32, 24), 0, 0)[0]).save(tmp_path / "photo.png")
    settings = build_settings({"model": "vgg16-hed", "steps": 1, "octaves": 1})
    [job] = plan_jobs([tmp_path / "photo.png"], settings)

    def full_disk(path, picture):
        raise UserError(f"cannot write image {path}")

    monkeypatch.setattr(stillsjob, "write_image", full_disk)
    with pytest.raises(UserError):
        stillsjob.run_stills(job, StubDreamer(), settings, Warnings(), 1)
    assert sorted(path.name for path in tmp_path.iterdir()) == ["photo.png"]


RENDER = ["--model", "vgg16-hed", "--steps", "2", "--octaves", "1", "--jitter", "4", "--quiet"]


def test_folder_render_resumes_a_partial_run(tmp_path, command):
    frames, work = interrupted_folder_render(tmp_path, steps=2)
    run = command(tmp_path, "render", "frames", "-o", "out", *RENDER, "--batch", "1")
    assert run.status == 0, run.stderr
    output = tmp_path / "out"
    assert not work.exists() and not (output / "plan.json").exists()
    assert sorted(p.name for p in output.iterdir()) == ["dreamvid.json", "frame1.png", "frame10.png", "frame2.png"]
    resumed = cv2.imread(str(output / "frame1.png"))
    assert (resumed[..., 0] == 255).all() and (resumed[..., 1] == 0).all()  # kept, not dreamed again
    for name in ("frame2.png", "frame10.png"):
        dreamed, source = cv2.imread(str(output / name)), cv2.imread(str(frames / name))
        assert dreamed.shape == source.shape and np.abs(dreamed.astype(int) - source).mean() > 1


@pytest.mark.slow
def test_cli_killed_while_rendering_keeps_the_old_folder_and_resumes(tmp_path, cli):
    """A real render over an earlier one, killed as soon as it has dreamed a picture: the old output
    and the user's file are untouched; the rerun resumes and replaces only dreamvid's pictures."""
    frames = tmp_path / "frames"
    frames.mkdir()
    for index in range(4):
        write_picture(frames / f"p{index}.png", seed=index)
    run = cli(tmp_path, "frames", "-o", "out", *QUICK, "--batch", "1")
    assert run.status == 0, run.stderr
    out = tmp_path / "out"
    (out / "notes.txt").write_text("the user's")
    before = snapshot(out)

    command = installed_command() + ["frames", "-o", "out", *QUICK, "--batch", "1", "--steps", "2", "--overwrite"]
    process = subprocess.Popen(command, cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        work = tmp_path / "out.partial"
        while process.poll() is None and not any(work.glob("p*.png")):
            time.sleep(0.01)
        process.send_signal(signal.SIGKILL)
    finally:
        process.wait()
    assert process.returncode == -signal.SIGKILL, "the render finished before it could be killed"
    assert snapshot(out) == before

    run = cli(tmp_path, "frames", "-o", "out", *QUICK, "--batch", "1", "--steps", "2", "--overwrite")
    assert run.status == 0, run.stderr
    assert sorted(p.name for p in out.iterdir()) == ["dreamvid.json", "notes.txt", "p0.png", "p1.png", "p2.png", "p3.png"]
    assert (out / "notes.txt").read_text() == "the user's"
    assert json.loads((out / "dreamvid.json").read_text())["parameters"]["steps"] == 2
    assert sorted(p.name for p in tmp_path.iterdir()) == ["frames", "out"]
