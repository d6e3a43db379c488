"""The records that say what dreamvid wrote: a folder's record lists its files, and a folder written again
keeps the user's own files beside them."""
import json

import dreamvid
from doubles import StubDreamer
from helpers import FAST, write_picture


def test_overwrite_into_a_folder_keeps_the_user_files(tmp_path):
    frames = tmp_path / "frames"
    frames.mkdir()
    for index in range(2):
        write_picture(frames / f"p{index}.png", seed=index)
    out = tmp_path / "out"
    dreamvid.render(frames, out, dreamer=StubDreamer(), **FAST)
    (out / "notes.txt").write_text("the user's")
    (out / "mine").mkdir()
    (out / "mine" / "sketch.png").write_bytes(b"sketch")
    first = (out / "p0.png").read_bytes()
    results = dreamvid.render(frames, out, overwrite=True, dreamer=StubDreamer(), **{**FAST, "steps": 1})
    assert results[0].status == "done" and (out / "p0.png").read_bytes() != first
    assert (out / "notes.txt").read_text() == "the user's" and (out / "mine" / "sketch.png").read_bytes() == b"sketch"
    assert json.loads((out / "dreamvid.json").read_text())["files"] == ["p0.png", "p1.png"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["frames", "out"]
