"""The installed `dreamvid` command, end to end. Bad input must fail fast (before TensorFlow loads),
with exit status 2, one line on stderr and nothing written; a few real renders use vgg16-hed."""
from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from conftest import natural_picture, snapshot
from dreamvid.settings import Settings

RENDER = ["--model", "vgg16-hed", "--steps", "2", "--octaves", "1", "--jitter", "4", "--quiet"]


def _write_picture(path: Path, height: int, width: int, seed: int = 0) -> None:
    assert cv2.imwrite(str(path), np.rint(natural_picture(height, width, seed)[..., ::-1] * 255).astype(np.uint8))


@pytest.fixture
def workspace(tmp_path):
    _write_picture(tmp_path / "photo.png", 40, 48)
    (tmp_path / "text.png").write_text("I am a text file, not a PNG\n")
    (tmp_path / "empty.png").write_bytes(b"")
    (tmp_path / "nothing").mkdir()
    (tmp_path / "nothing" / "notes.txt").write_text("no frames")
    (tmp_path / "text.mp4").write_text("I am a text file, not a video\n")
    (tmp_path / "bad.toml").write_text('steps = "ten"\n')
    (tmp_path / "unknown.toml").write_text("stepz = 3\n")
    return tmp_path


BAD_INPUTS = {
    "missing file": (["missing.png"], "input not found"),
    "empty file": (["empty.png"], "empty file"),
    "text named .png": (["text.png"], "not a readable image"),
    "empty folder": (["nothing"], "no images in folder"),
    "text named .mp4": (["text.mp4"], "text.mp4"),
    "unknown model": (["photo.png", "--model", "resnet50"], "unknown model 'resnet50'"),
    "unknown model for layers": (["layers", "--model", "resnet50"], "unknown model 'resnet50'"),
    "unknown layer": (["photo.png", "--layer", "mixed99"], "unknown layer 'mixed99'"),
    "channel out of range": (["photo.png", "--layer", "mixed4:768"], "0..767"),
    "bad layer spec": (["photo.png", "--layer", "mixed4:x"], "bad layer"),
    "negative steps": (["photo.png", "--steps", "-1"], "--steps must be >= 0"),
    "octave scale 1": (["photo.png", "--octave-scale", "1.0"], "--octave-scale must be > 1"),
    "missing weights file": (["photo.png", "--weights", "nowhere.h5"], "weights file not found"),
    "bad value in config": (["photo.png", "--config", "bad.toml"], "'steps' must be int"),
    "unknown key in config": (["photo.png", "--config", "unknown.toml"], "unknown key 'stepz'"),
    "missing config": (["photo.png", "--config", "none.toml"], "config file not found"),
    "output under a file": (["photo.png", "-o", "photo.png/out.png"], "cannot write"),
    "output in a missing folder": (["photo.png", "-o", "no/such/out.png"], "does not exist"),
    "output is the input": (["photo.png", "-o", "photo.png"], "is the input"),
    "not an image suffix": (["photo.png", "-o", "out.txt"], "image suffix"),
    "unknown option": (["photo.png", "--stepz", "3"], "--stepz"),
    "not a number": (["photo.png", "--steps", "many"], "'--steps'"),
}


@pytest.mark.parametrize("case", list(BAD_INPUTS))
def test_bad_input_fails_fast_with_one_line(case, workspace, cli):
    args, words = BAD_INPUTS[case]
    before = snapshot(workspace)
    run = cli(workspace, *args)
    assert run.status == 2, run.stderr
    lines = run.stderr.splitlines()
    assert len(lines) == 1, run.stderr
    assert lines[0].startswith("dreamvid: error: "), lines[0]
    assert words in lines[0]
    assert "Traceback" not in run.stderr + run.stdout
    assert snapshot(workspace) == before  # nothing written, inputs untouched
    assert run.loaded == [], f"TensorFlow was imported before the input was checked: {run.loaded[:3]}"


def test_existing_output_is_skipped_without_loading_tensorflow(workspace, cli):
    (workspace / "photo_dream.png").write_bytes(b"an earlier render")
    before = snapshot(workspace)
    run = cli(workspace, "photo.png")
    assert run.status == 0, run.stderr
    assert "skipped" in run.stderr and "--overwrite" in run.stderr
    assert snapshot(workspace) == before
    assert run.loaded == []


def test_image_and_folder_render_end_to_end(tmp_path, cli):
    _write_picture(tmp_path / "photo.jpg", 48, 64, seed=1)
    frames = tmp_path / "frames"
    frames.mkdir()
    for index, name in enumerate(["frame1.png", "frame2.png", "frame10.png"]):
        _write_picture(frames / name, 40, 40, seed=index + 2)
    run = cli(tmp_path, "photo.jpg", "frames", *RENDER, "--batch", "2")
    assert run.status == 0, run.stderr
    assert "tensorflow" in run.loaded  # the import probe works: the fast failures above mean something
    assert "dreamed 4 frame(s)" in run.stdout

    source = cv2.imread(str(tmp_path / "photo.jpg"))
    dreamed = cv2.imread(str(tmp_path / "photo_dream.png"))
    assert dreamed.shape == source.shape
    assert np.abs(dreamed.astype(int) - source).mean() > 1
    record = json.loads((tmp_path / "photo_dream.png.json").read_text())
    parameters = record["parameters"]
    # every parameter (a guide, colours and a matte only when given, so renders without one keep their fingerprint)
    assert set(Settings.__dataclass_fields__) - {"guide", "flow_zoom", "colors", "color_match", "mask",
                                                 "mask_invert"} <= set(parameters)
    assert parameters["model"] == "vgg16-hed" and parameters["weights"] == "hed"
    assert parameters["layers"] == ["block4_conv3"] and parameters["steps"] == 2 and parameters["octaves"] == 1
    assert parameters["jitter"] == 4 and parameters["seed"] == 0 and parameters["batch"] == 2
    assert record["input"] == "photo.jpg" and record["dreamvid"]

    output = tmp_path / "frames_dream"
    assert sorted(p.name for p in output.iterdir()) == ["dreamvid.json", "frame1.png", "frame10.png", "frame2.png"]
    for name in ("frame1.png", "frame2.png", "frame10.png"):
        assert cv2.imread(str(output / name)).shape == (40, 40, 3)
        assert not np.array_equal(cv2.imread(str(output / name)), cv2.imread(str(frames / name)))
    assert json.loads((output / "dreamvid.json").read_text())["parameters"]["steps"] == 2
    assert not (tmp_path / "frames_dream.partial").exists()


def _partial_render(tmp_path: Path, steps: int) -> tuple[Path, Path]:
    """A folder render interrupted after frame1: its work folder as the CLI would have left it."""
    from dreamvid.jobs import plan_jobs
    from dreamvid.engine.catalog import resolved_parameters
    from dreamvid.journal.resume import job_plan
    from dreamvid.settings import build_settings
    from dreamvid.sidecar import write_json

    frames = tmp_path / "frames"
    frames.mkdir()
    for index, name in enumerate(["frame1.png", "frame2.png", "frame10.png"]):
        _write_picture(frames / name, 40, 40, seed=index + 5)
    settings = build_settings({"model": "vgg16-hed", "steps": steps, "octaves": 1, "jitter": 4, "batch": 1})
    params = {**resolved_parameters(settings), "batch": 1}
    [job] = plan_jobs([frames], settings, tmp_path / "out")
    work = tmp_path / "out.partial"
    work.mkdir()
    write_json(work / "plan.json", job_plan(job, params))
    marker = np.zeros((40, 40, 3), np.uint8)
    marker[..., 0] = marker[..., 2] = 255  # magenta: no dream looks like this
    cv2.imwrite(str(work / "frame1.png"), marker)
    return frames, work


def test_folder_render_resumes_a_partial_run(tmp_path, cli):
    frames, work = _partial_render(tmp_path, steps=2)
    run = cli(tmp_path, "render", "frames", "-o", "out", *RENDER, "--batch", "1")
    assert run.status == 0, run.stderr
    output = tmp_path / "out"
    assert not work.exists() and not (output / "plan.json").exists()
    assert sorted(p.name for p in output.iterdir()) == ["dreamvid.json", "frame1.png", "frame10.png", "frame2.png"]
    resumed = cv2.imread(str(output / "frame1.png"))
    assert (resumed[..., 0] == 255).all() and (resumed[..., 1] == 0).all()  # kept, not dreamed again
    for name in ("frame2.png", "frame10.png"):
        dreamed, source = cv2.imread(str(output / name)), cv2.imread(str(frames / name))
        assert dreamed.shape == source.shape and np.abs(dreamed.astype(int) - source).mean() > 1


def test_changed_parameter_refuses_to_resume_unless_fresh(tmp_path, cli):
    _, work = _partial_render(tmp_path, steps=3)
    before = snapshot(tmp_path)
    run = cli(tmp_path, "frames", "-o", "out", *RENDER, "--batch", "1")
    assert run.status == 2
    assert len(run.stderr.splitlines()) == 1 and "Traceback" not in run.stderr
    assert "steps: 3 -> 2" in run.stderr and "--fresh" in run.stderr
    assert snapshot(tmp_path) == before and not (tmp_path / "out").exists()

    run = cli(tmp_path, "frames", "-o", "out", *RENDER, "--batch", "1", "--fresh")
    assert run.status == 0, run.stderr
    redone = cv2.imread(str(tmp_path / "out" / "frame1.png"))
    assert not (redone[..., 1] == 0).all()  # the stale magenta frame was dreamed again
    assert json.loads((tmp_path / "out" / "dreamvid.json").read_text())["parameters"]["steps"] == 2


def test_layers_prints_the_table(tmp_path, cli):
    run = cli(tmp_path, "layers", "--model", "vgg16-hed")
    assert run.status == 0, run.stderr
    rows = {line.split("│")[1].strip(): line for line in run.stdout.splitlines() if line.count("│") >= 3}
    from dreamvid.engine.catalog import CATALOG

    for name, channels in CATALOG["vgg16-hed"].channels.items():
        assert name in rows and f" {channels} " in rows[name]
    assert "yes" in rows["block4_conv3"] and "yes" not in rows["block5_conv3"]
    assert run.loaded == []  # the catalog needs no TensorFlow
