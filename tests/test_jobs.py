"""Planning a command's jobs: what the user typed wrong stops the whole command before any work (exit 2);
in a queue, an input that exists but cannot be rendered fails alone, at once, and the rest renders; a
truncated clip says how much of it decodes and how to render that."""
from __future__ import annotations

import cv2
import numpy as np
import pytest

from clips import moving_clip, truncated_clip
from conftest import natural_picture, snapshot
from dreamvid.io.decode import probe_video

RENDER = ["--model", "vgg16-hed", "--steps", "1", "--octaves", "1", "--flow-steps", "1", "--jitter", "4", "-q"]


def _still(path, seed=0):
    assert cv2.imwrite(str(path), np.rint(natural_picture(40, 48, seed)[..., ::-1] * 255).astype(np.uint8))


def test_a_queue_renders_around_a_file_that_cannot_be_rendered(tmp_path, command):
    """`dreamvid still.png truncated.mp4 good.mp4` stopped before any work: now the broken file is named
    at once, the still and the good clip are dreamed, and the summary says it failed (exit 1)."""
    _still(tmp_path / "still.png")
    decodable = truncated_clip(tmp_path / "truncated.mp4", frames=26)
    moving_clip(tmp_path / "good.mp4", frames=4, size=(64, 48))
    noise = tmp_path / "noise.mp4"
    noise.write_bytes(np.random.default_rng(0).bytes(5000))  # no video at all
    (tmp_path / "out").mkdir()
    run = command(tmp_path, "still.png", "truncated.mp4", "noise.mp4", "good.mp4", "-o", "out", *RENDER)
    assert run.status == 1, run.stderr
    out = tmp_path / "out"
    assert (out / "still_dream.png").is_file() and probe_video(out / "good_dream.mp4").frame_count == 4
    assert not (out / "truncated_dream.mp4").exists() and not (out / "noise_dream.mp4").exists()
    said = " ".join(run.stderr.split())
    assert "truncated.mp4: cannot be rendered: video is truncated or corrupt" in said
    assert f"{decodable} of 26 frames decode; --frames 0:{decodable} renders them" in said
    assert "noise.mp4: cannot be rendered: not a readable video file" in said
    summary = " ".join(run.stdout.split())
    assert "2 done, 0 skipped, 2 failed" in summary
    assert not [p for p in out.iterdir() if p.name.startswith(".") or p.suffix in (".parts", ".partial")]


def test_a_lone_truncated_clip_is_refused_before_any_work_naming_what_decodes(tmp_path, command):
    decodable = truncated_clip(tmp_path / "cut.mp4", frames=26)
    assert 0 < decodable < 26
    before = snapshot(tmp_path)
    run = command(tmp_path, "cut.mp4", *RENDER)
    assert run.status == 2
    [line] = run.stderr.strip().splitlines()
    assert line.startswith("dreamvid: error: video is truncated or corrupt: cut.mp4")
    assert line.endswith(f"{decodable} of 26 frames decode; --frames 0:{decodable} renders them")
    assert snapshot(tmp_path) == before


def test_the_frames_that_decode_render_when_asked(tmp_path, command):
    decodable = truncated_clip(tmp_path / "cut.mp4", frames=26)
    run = command(tmp_path, "cut.mp4", "--frames", f"0:{decodable}", *RENDER)
    assert run.status == 0, run.stderr
    assert probe_video(tmp_path / "cut_dream.mp4").frame_count == decodable
    run = command(tmp_path, "cut.mp4", "-o", "more.mp4", "--frames", f"0:{decodable + 1}", *RENDER)
    assert run.status == 2 and "renders them" in run.stderr and not (tmp_path / "more.mp4").exists()


@pytest.mark.parametrize("wrong", [["missing.mp4"], ["--layer", "mixed99"], ["--octave-scale", "1"]])
def test_what_the_user_typed_wrong_stops_the_whole_queue(tmp_path, command, wrong):
    _still(tmp_path / "still.png")
    moving_clip(tmp_path / "good.mp4", frames=3, size=(64, 48))
    args = ["still.png", "good.mp4", *wrong] if wrong[0].endswith(".mp4") else ["still.png", "good.mp4", *wrong]
    before = snapshot(tmp_path)
    run = command(tmp_path, *args, *RENDER)
    assert run.status == 2 and len(run.stderr.strip().splitlines()) == 1, run.stderr
    assert snapshot(tmp_path) == before


def test_two_inputs_of_one_output_stop_the_queue(tmp_path, command):
    moving_clip(tmp_path / "a.mp4", frames=3, size=(64, 48))
    moving_clip(tmp_path / "a.avi", frames=3, size=(64, 48))  # both would be a_dream.mp4
    run = command(tmp_path, "a.mp4", "a.avi", *RENDER)
    assert run.status == 2 and "two inputs would write the same output" in run.stderr
