"""Folders and numbered sequences: natural order, hidden files left out, patterns, gaps in the numbering
warned of, and frames of another size (or unreadable) refused before TensorFlow loads, naming them."""
from __future__ import annotations

import json

import pytest
from PIL import Image

import dreamvid
from clips import translating_frames, write_frames
from doubles import StubDreamer
from dreamvid.errors import UserError
from dreamvid.io.listing import list_images, natural_key
from dreamvid.settings import build_settings
from helpers import FAST, Warnings, snapshot


def test_natural_sort_puts_frame2_before_frame10(tmp_path):
    names = ["frame10.png", "frame2.png", "Frame3.PNG", "frame1.jpg", "frame002b.png"]
    for name in names + ["notes.txt", "frame4.mp4"]:
        (tmp_path / name).write_bytes(b"x")
    (tmp_path / "frame5.png").mkdir()  # folders are not frames
    assert [p.name for p in list_images(tmp_path)] == [
        "frame1.jpg", "frame2.png", "frame002b.png", "Frame3.PNG", "frame10.png"]
    assert sorted(["a10", "a9", "a100"], key=natural_key) == ["a9", "a10", "a100"]


def test_list_images_of_an_empty_folder_is_a_user_error(tmp_path):
    (tmp_path / "readme.txt").write_text("no frames here")
    with pytest.raises(UserError, match="no images in folder"):
        list_images(tmp_path)
    with pytest.raises(UserError, match="not a folder"):
        list_images(tmp_path / "readme.txt")


def test_hidden_files_beside_the_pictures_are_not_dreamed(tmp_path):
    """macOS writes `._NAME` (AppleDouble metadata, not a picture) beside every file it copies onto a USB
    stick or a share: the whole folder was refused for an `._a.png` that dreamvid could not decode."""
    from dreamvid.jobs import plan_jobs

    shot = tmp_path / "shot"
    shot.mkdir()
    for index in range(2):
        Image.fromarray(translating_frames(1, (32, 24), 0, 0, seed=index)[0]).save(shot / f"f_{index}.png")
        (shot / f"._f_{index}.png").write_bytes(b"\x00\x05\x16\x07\x00\x02\x00\x00Mac OS X        " + bytes(64))
    settings = build_settings({"model": "vgg16-hed"})
    for sequence in (False, True):
        [job] = plan_jobs([shot], settings, sequence=sequence)
        assert [frame.name for frame in job.frames] == ["f_0.png", "f_1.png"]


def test_pattern_picks_matching_frames_in_numeric_order(tmp_path):
    shot = tmp_path / "shot"
    source = translating_frames(3, (64, 48), dx=2, dy=1)
    names = write_frames(shot, source, ["frame_9998.png", "frame_9999.png", "frame_10000.png"])
    write_frames(shot, source[:1], ["frame_12.png"])  # fewer than four digits: not frame_%04d
    write_frames(shot, source[:1], ["other_0001.png"])
    write_frames(shot, source[:1], ["frame_0001.jpg"])
    (shot / "frame_0002.png.txt").write_text("not a frame")
    results = dreamvid.render(shot / "frame_%04d.png", dreamer=StubDreamer(), **FAST)
    job = results[0].job
    assert job.kind == "sequence"
    assert [frame.name for frame in job.frames] == names  # 10000 after 9999, not before it
    output = tmp_path / "shot_dream"
    assert job.output == output
    assert sorted(p.name for p in output.iterdir()) == sorted(names + ["dreamvid.json"])
    assert json.loads((output / "dreamvid.json").read_text())["frames"] == [0, 3]


def test_numbering_gap_warns_naming_the_missing_frames(tmp_path):
    source = translating_frames(4, (64, 48), dx=2, dy=1)
    names = write_frames(tmp_path / "shot", source, [f"frame_{n:04d}.png" for n in (1, 2, 5, 7)])
    reporter = Warnings()
    dreamvid.render(tmp_path / "shot", sequence=True, reporter=reporter, dreamer=StubDreamer(), **FAST)
    gaps = [message for message in reporter.messages if "missing" in message]
    assert len(gaps) == 1 and "3-4, 6" in gaps[0], reporter.messages
    assert sorted(p.name for p in (tmp_path / "shot_dream").glob("*.png")) == sorted(names)


def test_no_warning_without_a_gap(tmp_path):
    write_frames(tmp_path / "shot", translating_frames(3, (64, 48), dx=2, dy=1))
    reporter = Warnings()
    dreamvid.render(tmp_path / "shot", sequence=True, reporter=reporter, dreamer=StubDreamer(), **FAST)
    assert reporter.messages == []


@pytest.mark.parametrize("broken", ["size", "unreadable"])
@pytest.mark.parametrize("given_as", ["folder", "pattern"])
def test_bad_frame_fails_fast_naming_it(broken, given_as, tmp_path, command):
    write_frames(tmp_path / "shot", translating_frames(5, (64, 48), dx=2, dy=1))
    bad = tmp_path / "shot" / "frame_0003.png"
    if broken == "size":
        write_frames(tmp_path / "shot", translating_frames(1, (48, 48), dx=2, dy=1), [bad.name])
    else:
        bad.write_text("not a PNG")
    before = snapshot(tmp_path)
    args = ["shot", "--sequence"] if given_as == "folder" else ["shot/frame_%04d.png"]
    run = command(tmp_path, *args, "--model", "vgg16-hed", "-q")
    assert run.status == 2, run.stderr
    lines = run.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("dreamvid: error: ") and "frame_0003.png" in lines[0], run.stderr
    assert ("48x48" in lines[0] and "64x48" in lines[0]) if broken == "size" else "not a readable image" in lines[0]
    assert run.loaded == [], f"TensorFlow was imported before the frames were checked: {run.loaded[:3]}"
    assert snapshot(tmp_path) == before
