"""Planning a command's jobs: what the user typed wrong stops the whole command before any work (exit 2);
in a queue, an input that exists but cannot be rendered fails alone, at once, and the rest renders; a
truncated clip says how much of it decodes and how to render that. Each input's kind and default output,
and what is refused before any work: frames too small for the flow, two inputs of one output, a sound
schedule without a soundtrack."""
from __future__ import annotations

import cv2
import numpy as np
import pytest
from PIL import Image

import dreamvid
from clips import (CONTAINER_CODECS, container_clip, encode, moving_clip, translating_frames, truncated_clip,
                   write_frames)
from doubles import StubDreamer
from dreamvid.errors import UserError
from dreamvid.io.decode import probe_video
from dreamvid.jobs import plan_jobs
from dreamvid.settings import build_settings
from helpers import FAST, natural_picture, snapshot, write_picture


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


def test_cli_queue_stops_on_a_missing_input_before_any_work(tmp_path, command):
    moving_clip(tmp_path / "a.mp4", frames=3, size=(64, 48))
    write_picture(tmp_path / "photo.jpg")
    before = snapshot(tmp_path)
    run = command(tmp_path, "a.mp4", "photo.jpg", "missing.mov", *RENDER)
    assert run.status == 2
    assert run.stderr.splitlines() == ["dreamvid: error: input not found: missing.mov"]
    assert run.loaded == [] and snapshot(tmp_path) == before


def test_two_inputs_with_the_same_output_name_are_refused_before_any_work(tmp_path, command):
    container_clip(tmp_path / "a.webm", frames=4)
    container_clip(tmp_path / "a.mp4", frames=4)
    (tmp_path / "out").mkdir()
    with pytest.raises(UserError, match="same output"):
        plan_jobs([tmp_path / "a.webm", tmp_path / "a.mp4"], build_settings(FAST), tmp_path / "out")
    run = command(tmp_path, "a.webm", "a.mp4", "-o", "out", "--model", "vgg16-hed", "--steps", "1")
    assert run.status == 2 and "same output" in run.stderr
    assert not run.loaded and list((tmp_path / "out").iterdir()) == []


# ---- what each input is, and its default output ----------------------------------------------------

@pytest.mark.parametrize("suffix", sorted(CONTAINER_CODECS))
def test_every_container_is_planned_with_an_output_dreamvid_can_write(tmp_path, suffix):
    path = tmp_path / f"clip{suffix}"
    container_clip(path, frames=4)
    job, = plan_jobs([path], build_settings(FAST))
    writable = suffix in (".mp4", ".mov", ".mkv", ".m4v")
    assert job.kind == "video"
    assert job.output == tmp_path / f"clip_dream{suffix if writable else '.mp4'}"


def test_a_tiff_is_dreamed_into_a_tiff_by_default(tmp_path):
    """PNG cannot hold a float or CMYK picture: a TIFF's default output stays TIFF."""
    Image.fromarray(np.zeros((8, 8), np.float32), "F").save(tmp_path / "scan.tiff")
    cv2.imwrite(str(tmp_path / "photo.jpg"), np.zeros((8, 8, 3), np.uint8))
    jobs = plan_jobs([tmp_path / "scan.tiff", tmp_path / "photo.jpg"], build_settings({"model": "vgg16-hed"}))
    assert [job.output.name for job in jobs] == ["scan_dream.tiff", "photo_dream.png"]


def test_folder_without_sequence_stays_stills(tmp_path):
    write_frames(tmp_path / "shot", translating_frames(2, (64, 48), dx=2, dy=1))
    results = dreamvid.render(tmp_path / "shot", dreamer=StubDreamer(), **FAST)
    assert results[0].job.kind == "stills" and (tmp_path / "shot_dream" / "frame_0001.png").is_file()


def test_pattern_in_the_current_folder_writes_beside_it(tmp_path, monkeypatch):
    names = write_frames(tmp_path / "shot", translating_frames(2, (64, 48), dx=2, dy=1))
    monkeypatch.chdir(tmp_path / "shot")
    dreamvid.render("frame_%04d.png", dreamer=StubDreamer(), **FAST)
    assert sorted(p.name for p in (tmp_path / "shot_dream").glob("*.png")) == names


def test_an_animation_given_as_a_still_says_that_only_its_first_frame_is_dreamed(tmp_path):
    from dreamvid.jobs import plan_jobs

    frames = [Image.fromarray(frame) for frame in translating_frames(3, (32, 24), 1, 0)]
    frames[0].save(tmp_path / "loop.gif", save_all=True, append_images=frames[1:], duration=100, loop=0)
    warnings = []
    [job] = plan_jobs([tmp_path / "loop.gif"], build_settings({"model": "vgg16-hed"}), warn=warnings.append)
    assert job.kind == "image"
    assert warnings == [f"{tmp_path / 'loop.gif'} holds 3 frames (an animation or pages): only the first is dreamed"]


# ---- refused before any work -------------------------------------------------------------------------

def test_a_video_too_small_for_the_flow_is_refused_before_tensorflow(tmp_path, command):
    """A 64x8 strip crashed in OpenCV's flow at the first frame, with a traceback and a work folder left
    behind; now one line names the fix, before TensorFlow loads. Without flow it is dreamed."""
    encode(tmp_path / "strip.mp4", translating_frames(3, (64, 8), 1, 0))
    run = command(tmp_path, "strip.mp4", "--model", "vgg16-hed")
    assert run.status == 2, run.stderr
    assert run.stderr.strip().splitlines() == [
        "dreamvid: error: strip.mp4: frames of 64x8 are too small for the optical flow (16 pixels a side at "
        "least): add --no-flow"]
    assert run.loaded == []
    assert sorted(path.name for path in tmp_path.iterdir()) == ["strip.mp4"]


def test_a_max_side_that_leaves_a_strip_is_refused(tmp_path):
    from dreamvid.errors import UserError
    from dreamvid.jobs import plan_jobs

    moving_clip(tmp_path / "wide.mp4", frames=2, size=(320, 32))
    settings = build_settings({"model": "vgg16-hed", "max_side": 64})
    try:
        plan_jobs([tmp_path / "wide.mp4"], settings)
    except UserError as error:
        assert "frames of 64x6 are too small" in str(error) and "--max-side" in str(error)
    else:
        raise AssertionError("a 64x6 dream of a video with flow was accepted")
    assert plan_jobs([tmp_path / "wide.mp4"], build_settings({"model": "vgg16-hed", "max_side": 64, "flow": False}))


def test_a_video_without_sound_is_refused_before_any_work(tmp_path):
    from clips import moving_clip

    moving_clip(tmp_path / "mute.mp4", frames=4)
    with pytest.raises(UserError, match="mute.mp4 has no soundtrack for --step-size"):
        dreamvid.render(tmp_path / "mute.mp4", model="vgg16-hed", step_size="audio:0.005..0.03")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mute.mp4"]
