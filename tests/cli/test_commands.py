"""The `dreamvid` commands end to end. Bad input must fail fast (before TensorFlow loads), with exit status
2, one line on stderr and nothing written: checked in this process (the `command` fixture), and for a few
cases in a real one whose import probe shows TensorFlow never loaded; real renders use vgg16-hed, and one
runs the installed command."""
from __future__ import annotations

import json
import os
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

import dreamvid
from clips import encode, moving_clip, translating_frames
from dreamvid.io.decode import probe_video
from dreamvid.preview.sheet import GAP
from dreamvid.settings import Settings
from helpers import FAST, snapshot, write_picture, write_png


RENDER = ["--model", "vgg16-hed", "--steps", "2", "--octaves", "1", "--jitter", "4", "--quiet"]


@pytest.fixture
def workspace(tmp_path):
    write_picture(tmp_path / "photo.png", 40, 48)
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
def test_bad_input_fails_fast_with_one_line(case, workspace, command):
    _fails_fast_with_one_line(command, workspace, case)


@pytest.mark.parametrize("case", ["text named .mp4", "unknown layer", "output is the input", "not a number"])
def test_bad_input_fails_before_tensorflow_loads_in_a_real_process(case, workspace, cli):
    """The same refusals from the installed command in a fresh Python, whose import probe shows that no
    TensorFlow module was ever loaded (in a test process it is loaded already)."""
    _fails_fast_with_one_line(cli, workspace, case)


def _fails_fast_with_one_line(run_command, workspace, case) -> None:
    args, words = BAD_INPUTS[case]
    before = snapshot(workspace)
    run = run_command(workspace, *args)
    assert run.status == 2, run.stderr
    lines = run.stderr.splitlines()
    assert len(lines) == 1, run.stderr
    assert lines[0].startswith("dreamvid: error: "), lines[0]
    assert words in lines[0]
    assert "Traceback" not in run.stderr + run.stdout
    assert snapshot(workspace) == before  # nothing written, inputs untouched
    assert run.loaded == [], f"TensorFlow was imported before the input was checked: {run.loaded[:3]}"


def test_existing_output_is_skipped_without_loading_tensorflow(workspace, command):
    (workspace / "photo_dream.png").write_bytes(b"an earlier render")
    before = snapshot(workspace)
    run = command(workspace, "photo.png")
    assert run.status == 0, run.stderr
    assert "skipped" in run.stderr and "--overwrite" in run.stderr
    assert snapshot(workspace) == before
    assert run.loaded == []


@pytest.mark.parametrize("args, words", [
    (["--seed", "2147483648"], "--seed must be <= 2147483647"),
    (["--seed", "-1"], "--seed must be >= 0"),
    (["--tile", "100"], "--tile must be at least 150 for inception_v3"),
    (["--tile", "63", "--model", "vgg16-hed"], "--tile must be >= 64"),
    (["--steps", "inf"], "must be a finite number"),
    (["--step-size", "nan"], "must be a finite number"),
    (["--blend", "0:(0.5), 10:(nan)"], "bad schedule"),
    (["--no-flow", "--flow-zoom", "1.02"], "needs --flow"),
    (["--guide", "clip.mp4", "--layer", "mixed4:3"], "without a channel"),
])
def test_out_of_range_values_are_refused_up_front(tmp_path, command, args, words):
    source = tmp_path / "clip.mp4"
    moving_clip(source, frames=2, size=(64, 48))
    run = command(tmp_path, "clip.mp4", *args)
    assert run.status == 2 and words in run.stderr and len(run.stderr.strip().splitlines()) == 1
    assert not run.loaded, "refused before TensorFlow loads"
    assert sorted(os.listdir(tmp_path)) == ["clip.mp4"]


@pytest.mark.parametrize("args, words", [
    (["--step-size", "0:(0.01) 5:(0.02)"], ["bad schedule for '--step-size'", "KEY:(VALUE)"]),
    (["--steps", "0:(3), 10:(x)"], ["'--steps'"]),
    (["--steps", "many"], ["'--steps'", "'many'"]),
    (["--jitter", "2.5"], ["--jitter must be a whole number"]),
    (["--blend", "0:(0.5), 1s:(1.5)"], ["--blend must be <= 1"]),
    (["--flow-steps", "audio:1"], ["bad schedule for '--flow-steps'"]),
    (["--layer", "block4_conv3=0:(1), 10:(0"], ["the weight of block4_conv3"]),
    (["--step-size", "audio:0.01..0.03"], ["photo.png has no soundtrack for --step-size"]),
])
def test_a_bad_schedule_is_one_line_and_exit_2_before_tensorflow(tmp_path, command, args, words):
    import cv2

    cv2.imwrite(str(tmp_path / "photo.png"), np.full((40, 48, 3), 128, np.uint8))
    run = command(tmp_path, "photo.png", "--model", "vgg16-hed", *args)
    assert run.status == 2, run.stderr
    assert len(run.stderr.strip().splitlines()) == 1 and run.stderr.startswith("dreamvid: error:")
    for word in words:
        assert word in run.stderr
    assert not run.loaded  # TensorFlow never loaded
    assert sorted(p.name for p in tmp_path.iterdir()) == ["photo.png"]


def test_image_and_folder_render_end_to_end(tmp_path, cli):
    write_picture(tmp_path / "photo.jpg", 48, 64, seed=1)
    frames = tmp_path / "frames"
    frames.mkdir()
    for index, name in enumerate(["frame1.png", "frame2.png", "frame10.png"]):
        write_picture(frames / name, 40, 40, seed=index + 2)
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
    # every parameter (a guide only when given, so renders without one keep their fingerprint)
    # options added later are left out at their defaults, so that earlier renders keep their fingerprint
    assert set(Settings.__dataclass_fields__) - {"guide", "flow_zoom", "lap_norm", "codec", "colors", "color_match",
                                                 "mask", "mask_invert", "hold_strength"} <= set(parameters)
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


RENDER = ["--model", "vgg16-hed", "--steps", "2", "--octaves", "1", "--flow-steps", "1", "--jitter", "4"]


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


def test_layers_prints_the_table(tmp_path, command):
    run = command(tmp_path, "layers", "--model", "vgg16-hed")
    assert run.status == 0, run.stderr
    rows = {line.split("│")[1].strip(): line for line in run.stdout.splitlines() if line.count("│") >= 3}
    from dreamvid.engine.catalog import CATALOG

    for name, channels in CATALOG["vgg16-hed"].channels.items():
        assert name in rows and f" {channels} " in rows[name]
    assert "yes" in rows["block4_conv3"] and "yes" not in rows["block5_conv3"]
    assert run.loaded == []  # the catalog needs no TensorFlow


def test_score_command_prints_both_warping_errors_as_json(tmp_path, command):
    source = tmp_path / "clip.mp4"
    moving_clip(source, frames=6, size=(96, 64))
    dreamvid.render(source, frames="1:6", **FAST)
    run = command(tmp_path, "score", str(source), str(tmp_path / "clip_dream.mp4"))
    assert run.status == 0, run.stderr
    report = json.loads(run.stdout)
    assert report["frames"] == 5 and report["start"] == 1  # the range comes from the render's sidecar
    assert report["dreamed"] > report["source"] >= 0


# ---- zoom ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("args, message", [
    (["--zoom", "0"], "--zoom"),
    (["--zoom", "0:(1.02), 10:(-1)"], "--zoom"),
    (["--rotate", "0:(1), 10:(oops"], "--rotate"),
    (["--translate-x", "nan"], "--translate-x"),
    (["--frames", "0"], "--frames"),
])
def test_bad_zoom_values_fail_before_tensorflow(tmp_path, natural, command, args, message):
    write_png(tmp_path / "photo.png", natural(64, 96))
    run = command(tmp_path, "zoom", "photo.png", *args)
    assert run.status == 2, run.stderr
    assert message in run.stderr and len(run.stderr.strip().splitlines()) == 1
    assert run.loaded == []
    assert not (tmp_path / "photo_zoom.mp4").exists()


def test_bad_flow_zoom_fails_before_tensorflow(tmp_path, command):
    moving_clip(tmp_path / "clip.mp4", frames=3)
    run = command(tmp_path, "clip.mp4", "--flow-zoom", "0")
    assert run.status == 2 and "--flow-zoom" in run.stderr and run.loaded == []


def test_the_zoom_command_end_to_end(tmp_path, natural, command):
    write_png(tmp_path / "photo.png", natural(64, 96))
    run = command(tmp_path, "zoom", "photo.png", "-o", "z.mp4", "--frames", "3", "--zoom", "1.05", "--rotate", "0.5",
                  "--model", "vgg16-hed", "--steps", "1", "--octaves", "1", "--fps", "12", "-q")
    assert run.status == 0, run.stderr
    info = dreamvid.io.decode.probe_video(tmp_path / "z.mp4")
    assert info.frame_count == 3 and float(info.fps) == 12
    assert not (tmp_path / "z.mp4.parts").exists()


def test_dream_parameters_follow_their_schedules_in_a_zoom(tmp_path, natural, command):
    import json

    write_png(tmp_path / "photo.png", natural(64, 96))
    run = command(tmp_path, "zoom", "photo.png", "-o", "z.mp4", "--frames", "4", "--zoom", "0:(1.0), 3:(1.06)",
                  "--step-size", "0:(0.01), 3:(0.04)", "--model", "vgg16-hed", "--steps", "1", "--octaves", "1", "-q")
    assert run.status == 0, run.stderr
    record = json.loads((tmp_path / "z.mp4.json").read_text())
    assert record["parameters"]["step_size"] == "0:(0.01), 3:(0.04)"
    assert record["schedules"]["--step-size"] == pytest.approx([0.01, 0.02, 0.03, 0.04])
    run = command(tmp_path, "zoom", "photo.png", "-o", "y.mp4", "--step-size", "audio:0.01..0.02", "--model", "vgg16-hed")
    assert run.status == 2 and "no soundtrack" in run.stderr and not run.loaded


# ---- preview and layer sheets --------------------------------------------------------------------

TINY = ["--model", "vgg16-hed", "--steps", "1", "--octaves", "1", "--jitter", "4", "--max-side", "64", "-q"]


def test_preview_of_a_video_end_to_end(tmp_path, command):
    encode(tmp_path / "clip.mp4", translating_frames(6, (96, 64), 2, 1))
    run = command(tmp_path, "preview", "clip.mp4", "--at", "2", "--layer", "block3_conv3", "--layer", "block4_conv3",
                  "--step-size", "0.01,0.03", *TINY)
    assert run.status == 0, run.stderr
    sheet = Image.open(tmp_path / "clip_preview.png")
    assert sheet.size[0] == 2 * 64 + 3 * GAP  # 2 columns of 64x43 cells
    data = json.loads((tmp_path / "clip_preview.png.json").read_text())
    assert data["kind"] == "preview" and data["frame"] == 2 and data["cell_size"] == [64, 43]
    assert [cell["caption"] for cell in data["cells"]] == ["1: block3_conv3, step-size 0.01",
                                                           "2: block3_conv3, step-size 0.03",
                                                           "3: block4_conv3, step-size 0.01",
                                                           "4: block4_conv3, step-size 0.03"]
    commands = [line.strip() for line in run.stdout.splitlines() if line.strip().startswith("dreamvid ")]
    assert commands == [cell["command"] for cell in data["cells"]]
    assert commands[1] == ("dreamvid clip.mp4 --model vgg16-hed --layer block3_conv3 --octaves 1 --steps 1 "
                           "--step-size 0.03 --jitter 4 --max-side 64")
    assert not list(tmp_path.glob(".*partial*"))


def test_layer_sheet_of_channels_end_to_end(tmp_path, command):
    run = command(tmp_path, "layers", "--sheet", "--model", "vgg16-hed", "--layer", "block4_conv3", "--channels", "0:3",
                  "--steps", "2", "--octaves", "1", "--max-side", "64", "-o", "channels.png", "-q")
    assert run.status == 0, run.stderr
    assert Image.open(tmp_path / "channels.png").size[0] == 3 * 64 + 4 * GAP  # one row of 3 cells
    data = json.loads((tmp_path / "channels.png.json").read_text())
    assert data["kind"] == "layer sheet" and data["input"] is None
    assert [cell["caption"] for cell in data["cells"]] == [f"{c + 1}: block4_conv3:{c}" for c in range(3)]
    assert "dreamvid INPUT --model vgg16-hed --layer block4_conv3:2 --octaves 1 --steps 2" in run.stdout


BAD_CALLS = {
    "not a number in a list": (["preview", "photo.png", "--steps", "5,x"], "'x' is not a whole number"),
    "out of bounds in a list": (["preview", "photo.png", "--step-size", "0.01,0"], "--step-size must be > 0"),
    "unknown layer": (["preview", "photo.png", "--layer", "mixed3", "--layer", "nope"], "unknown layer 'nope'"),
    "--at on a still": (["preview", "photo.png", "--at", "3"], "is a still"),
    "audio schedule on a still": (["preview", "photo.png", "--step-size", "audio:0.005..0.03"], "no soundtrack"),
    "bad schedule": (["preview", "photo.png", "--step-size", "0:(0.01), x:(2)"], "--step-size"),
    "missing input": (["preview", "missing.mp4"], "input not found"),
    "sheet over a foreign file": (["preview", "photo.png", "-o", "theirs.png"], "dreamvid did not write it"),
    "channels of no layer": (["layers", "--sheet", "--channels", "0:4"], "exactly one --layer"),
    "channels out of range": (["layers", "--sheet", "--layer", "block1_conv1", "--channels", "0:65"], "outside"),
    "sheet options without --sheet": (["layers", "--layer", "block1_conv1"], "needs --sheet"),
}


@pytest.mark.parametrize("case", list(BAD_CALLS))
def test_bad_preview_calls_fail_fast_with_one_line(case, tmp_path, command):
    write_picture(tmp_path / "photo.png", 40, 48)
    write_picture(tmp_path / "theirs.png", 8, 8)
    args, words = BAD_CALLS[case]
    model = ["--model", "inception_v3"] if "mixed3" in args else ["--model", "vgg16-hed"]
    before = snapshot(tmp_path)
    run = command(tmp_path, *args, *model)
    assert run.status == 2, run.stderr
    lines = run.stderr.splitlines()
    assert len(lines) == 1 and words in lines[0], run.stderr
    assert snapshot(tmp_path) == before
    assert run.loaded == []
