"""Never lose a user's file: dreamvid replaces only what its records say it wrote, every final file
and folder appears whole (a kill at any moment leaves the old output or the new one), and a resume
refuses a source that changed since its partial render."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import pytest

import dreamvid
from clips import moving_clip, translating_frames
from conftest import natural_picture, snapshot
from helpers import FAST
from dreamvid import atomic
from dreamvid.errors import UserError
from dreamvid.jobs import plan_jobs
from dreamvid.engine.catalog import resolved_parameters
from dreamvid.settings import build_settings
from dreamvid.sidecar import owned_files, read_record, write_json
from dreamvid.io.sinks import FramesSink
from dreamvid.journal.resume import _used, identity_change, job_plan

QUICK = ["--model", "vgg16-hed", "--steps", "1", "--octaves", "1", "--flow-steps", "1", "--jitter", "4", "-q"]


def write_picture(path: Path, height: int = 32, width: int = 40, seed: int = 0) -> None:
    assert cv2.imwrite(str(path), np.rint(natural_picture(height, width, seed)[..., ::-1] * 255).astype(np.uint8))


def write_frames(folder: Path, count: int) -> list[Path]:
    folder.mkdir(exist_ok=True)
    paths = []
    for index, frame in enumerate(translating_frames(count, (64, 48), dx=2, dy=1)):
        paths.append(folder / f"frame_{index:04d}.png")
        assert cv2.imwrite(str(paths[-1]), frame[..., ::-1])
    return paths


# ---- the swap helper -------------------------------------------------------------------------------

LINUX = pytest.mark.skipif(sys.platform != "linux", reason="renameat2 is Linux's")


@LINUX
def test_exchange_swaps_two_folders_in_one_step(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "one").write_text("a")
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "two").write_text("b")
    assert atomic.exchange(tmp_path / "a", tmp_path / "b")
    assert [p.name for p in (tmp_path / "a").iterdir()] == ["two"]
    assert [p.name for p in (tmp_path / "b").iterdir()] == ["one"]


@pytest.mark.parametrize("renameat2", [True, False])
def test_swap_folder_replaces_the_target_whole(renameat2, tmp_path, monkeypatch):
    if not renameat2:
        monkeypatch.setattr(atomic, "exchange", lambda first, second: False)
    target, new = tmp_path / "out", tmp_path / ".out.new"
    target.mkdir()
    (target / "old.png").write_text("old")
    new.mkdir()
    (new / "new.png").write_text("new")
    atomic.swap_folder(new, target)
    assert [p.name for p in target.iterdir()] == ["new.png"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]  # the old folder is gone, nothing left beside


def test_two_rename_swap_cut_short_is_undone_by_the_next_run(tmp_path, monkeypatch):
    monkeypatch.setattr(atomic, "exchange", lambda first, second: False)
    target, new = tmp_path / "out", tmp_path / ".out.new"
    target.mkdir()
    (target / "old.png").write_text("old")
    new.mkdir()
    real, calls = os.rename, []

    def killed_at_the_second(source, destination):
        calls.append(source)
        if len(calls) == 2:
            raise KeyboardInterrupt  # stands for a kill between the two renames
        real(source, destination)

    monkeypatch.setattr(os, "rename", killed_at_the_second)
    with pytest.raises(KeyboardInterrupt):
        atomic.swap_folder(new, target)
    monkeypatch.setattr(os, "rename", real)
    assert not target.exists()
    atomic.recover_folder(target)
    assert [p.name for p in target.iterdir()] == ["old.png"]


def test_carry_over_links_the_other_files_and_writing_cleans_up(tmp_path):
    old, new = tmp_path / "old", tmp_path / "new"
    old.mkdir()
    new.mkdir()
    (old / "notes.txt").write_text("mine")
    (old / "sub").mkdir()
    (old / "sub" / "deep.txt").write_text("deep")
    (old / "frame.png").write_text("dreamvid's")
    assert atomic.carry_over(old, new, skip={"frame.png"}) == ["notes.txt", "sub"]
    assert (new / "notes.txt").stat().st_ino == (old / "notes.txt").stat().st_ino  # a link: no copy, no loss
    assert (new / "sub" / "deep.txt").read_text() == "deep" and not (new / "frame.png").exists()

    with pytest.raises(ValueError):
        with atomic.writing(tmp_path / "final.txt") as temporary:
            temporary.write_text("half")
            raise ValueError
    assert not (tmp_path / "final.txt").exists() and not atomic.partial_name(tmp_path / "final.txt").exists()


# ---- a real kill at every step of finishing a folder ----------------------------------------------

NAMES = ["f_0.png", "f_1.png", "f_2.png"]

# Runs FramesSink to the end, but SIGKILLs itself just before its N-th file-system step.
KILLED_AT = r"""
import os, shutil, signal, sys
from pathlib import Path
import numpy as np
from dreamvid import atomic
from dreamvid.io.sinks import FramesSink

output, kill_at, renameat2 = Path(sys.argv[1]), int(sys.argv[2]), sys.argv[3] == "yes"
calls = 0

def counted(function):
    def step(*args, **kwargs):
        global calls
        calls += 1
        if calls == kill_at:
            os.kill(os.getpid(), signal.SIGKILL)
        return function(*args, **kwargs)
    return step

for name in ("replace", "rename", "link", "unlink", "rmdir", "mkdir", "symlink"):
    setattr(os, name, counted(getattr(os, name)))
shutil.copy2 = counted(shutil.copy2)
atomic.exchange = counted(atomic.exchange if renameat2 else (lambda first, second: False))
sink = FramesSink(output, NAMES, np.uint8)
for _ in NAMES:
    sink.write(np.ones((8, 8, 3), np.float32))
sink.close({"dreamvid": "test", "parameters": {}, "run": "new"})
""".replace("NAMES", repr(NAMES))


def _finish_folder(output: Path, value: float, run: str) -> None:
    sink = FramesSink(output, tuple(NAMES), np.uint8)
    for _ in NAMES:
        sink.write(np.full((8, 8, 3), value, np.float32))
    sink.close({"dreamvid": "test", "parameters": {}, "run": run})


def _state(output: Path) -> str:
    """'old' or 'new' when the folder is one complete version with the user's file; fails otherwise."""
    record = read_record(output / "dreamvid.json")
    assert record is not None, sorted(p.name for p in output.iterdir())
    assert sorted(p.name for p in output.iterdir()) == sorted(NAMES + ["dreamvid.json", "notes.txt"])
    assert (output / "notes.txt").read_text() == "the user's"
    assert owned_files(output) == set(NAMES)
    pixels = {int(cv2.imread(str(output / name))[0, 0, 0]) for name in NAMES}
    assert pixels == ({0} if record["run"] == "old" else {255}), (record["run"], pixels)
    return record["run"]


@pytest.mark.parametrize("renameat2", [pytest.param("yes", marks=LINUX), "no"])
def test_a_kill_at_any_step_leaves_the_old_folder_or_the_new_one(renameat2, tmp_path):
    seen, kill_at = [], 1
    while True:
        base = tmp_path / str(kill_at)
        base.mkdir()
        output = base / "out"
        _finish_folder(output, 0.0, "old")
        (output / "notes.txt").write_text("the user's")
        run = subprocess.run([sys.executable, "-c", KILLED_AT, str(output), str(kill_at), renameat2],
                             capture_output=True, text=True, timeout=120)
        if run.returncode == 0:
            break
        assert run.returncode == -signal.SIGKILL, run.stderr
        if renameat2 == "no":
            atomic.recover_folder(output)  # what the next run's planning does first
        seen.append(_state(output))
        _finish_folder(output, 1.0, "new")  # the rerun completes from whatever the kill left
        assert _state(output) == "new" and sorted(p.name for p in base.iterdir()) == ["out"]
        kill_at += 1
    assert _state(output) == "new"
    assert "old" in seen and "new" in seen and len(seen) >= 8, seen  # killed before, during and after the swap


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

    from conftest import _command

    command = _command() + ["frames", "-o", "out", *QUICK, "--batch", "1", "--steps", "2", "--overwrite"]
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


# ---- only dreamvid's own files are replaced --------------------------------------------------------

def test_overwrite_refuses_a_file_dreamvid_did_not_write(tmp_path, cli):
    write_picture(tmp_path / "photo.png")
    (tmp_path / "photo_dream.png").write_bytes(b"the user's own picture")
    (tmp_path / "other.png.json").write_text('{"mine": true}')
    before = snapshot(tmp_path)
    run = cli(tmp_path, "photo.png", "--overwrite", *QUICK)
    assert run.status == 2 and "photo_dream.png exists and dreamvid did not write it" in run.stderr, run.stderr
    run = cli(tmp_path, "photo.png", "-o", "other.png", *QUICK)  # its record would replace a user's file
    assert run.status == 2 and "other.png.json exists and dreamvid did not write it" in run.stderr, run.stderr
    assert len(run.stderr.splitlines()) == 1 and run.loaded == []
    assert snapshot(tmp_path) == before


def test_frames_folder_refuses_to_replace_a_user_file_of_the_same_name(tmp_path, cli):
    moving_clip(tmp_path / "clip.mp4", frames=3, size=(64, 48))
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "clip_00001.png").write_bytes(b"the user's")
    before = snapshot(tmp_path)
    for extra in ([], ["--overwrite"]):
        run = cli(tmp_path, "clip.mp4", "-o", "out", *QUICK, *extra)
        assert run.status == 2, run.stderr
        assert "clip_00001.png exists and dreamvid did not write it" in run.stderr and run.loaded == []
    assert snapshot(tmp_path) == before


@pytest.mark.parametrize("target", [".", "f_%05d.png"])
def test_folder_output_must_not_be_the_current_folder(target, tmp_path, cli):
    """A finished folder is swapped in whole, so it cannot be the folder the command runs in."""
    moving_clip(tmp_path / "clip.mp4", frames=3, size=(64, 48))
    before = snapshot(tmp_path)
    run = cli(tmp_path, "clip.mp4", "-o", target, *QUICK)
    assert run.status == 2 and "holds the current folder" in run.stderr and run.loaded == [], run.stderr
    assert snapshot(tmp_path) == before


def test_a_folder_with_every_frame_but_no_record_is_not_done(tmp_path):
    """Before, a frames folder counted as done when every frame name existed, as after a half-finished move."""
    moving_clip(tmp_path / "clip.mp4", frames=3, size=(64, 48))
    (tmp_path / "out").mkdir()
    for index in range(3):
        write_picture(tmp_path / "out" / f"clip_{index:05d}.png")
    with pytest.raises(UserError, match="clip_00000.png and 2 more exists and dreamvid did not write it"):
        plan_jobs([tmp_path / "clip.mp4"], build_settings(FAST), tmp_path / "out")


def test_overwrite_into_a_folder_keeps_the_user_files(tmp_path):
    frames = tmp_path / "frames"
    frames.mkdir()
    for index in range(2):
        write_picture(frames / f"p{index}.png", seed=index)
    out = tmp_path / "out"
    dreamvid.render(frames, out, **FAST)
    (out / "notes.txt").write_text("the user's")
    (out / "mine").mkdir()
    (out / "mine" / "sketch.png").write_bytes(b"sketch")
    first = (out / "p0.png").read_bytes()
    results = dreamvid.render(frames, out, overwrite=True, **{**FAST, "steps": 1})
    assert results[0].status == "done" and (out / "p0.png").read_bytes() != first
    assert (out / "notes.txt").read_text() == "the user's" and (out / "mine" / "sketch.png").read_bytes() == b"sketch"
    assert json.loads((out / "dreamvid.json").read_text())["files"] == ["p0.png", "p1.png"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["frames", "out"]


def test_video_record_is_written_before_the_video_and_names_its_size(tmp_path):
    moving_clip(tmp_path / "clip.mp4", frames=3, size=(64, 48))
    dreamvid.render(tmp_path / "clip.mp4", **FAST)
    video, record = tmp_path / "clip_dream.mp4", tmp_path / "clip_dream.mp4.json"
    assert json.loads(record.read_text())["bytes"] == video.stat().st_size
    settings = build_settings(FAST)
    assert plan_jobs([tmp_path / "clip.mp4"], settings)[0].skip
    # As if killed between the new record and the rename: the video is an older one, of another size.
    video.write_bytes(video.read_bytes()[:100])
    older = record.stat().st_mtime_ns - 10**9
    os.utime(video, ns=(older, older))
    assert not plan_jobs([tmp_path / "clip.mp4"], settings)[0].skip  # the rerun renders it again


# ---- a source that changed since the partial render ------------------------------------------------

def _partial(source: Path, output: Path, pieces: list[str]) -> Path:
    """The work folder a render of `source` leaves when killed after `pieces`."""
    settings = build_settings(FAST)
    [job] = plan_jobs([source], settings, output)
    job.work_folder.mkdir()
    write_json(job.work_folder / "plan.json", job_plan(job, {**resolved_parameters(settings), "batch": 1}))
    for name in pieces:
        write_picture(job.work_folder / name)
    return job.work_folder


def test_changed_video_is_refused_unless_fresh(tmp_path, cli):
    clip = tmp_path / "clip.mp4"
    moving_clip(clip, frames=4, size=(64, 48))
    _partial(clip, tmp_path / "out.mp4", ["frame_000000.png"])
    moving_clip(clip, frames=3, size=(64, 48))  # re-encoded: another length
    before = snapshot(tmp_path)
    args = ["clip.mp4", "-o", "out.mp4", "--model", "vgg16-hed", "--steps", "3", "--octaves", "1",
            "--flow-steps", "1", "--jitter", "8", "-q"]
    run = cli(tmp_path, *args)
    assert run.status == 2 and run.loaded == []
    assert run.stderr.splitlines() == [
        "dreamvid: error: clip.mp4 changed since its partial render (4 -> 3 frames): add --fresh to start over"]
    assert snapshot(tmp_path) == before

    run = cli(tmp_path, *args, "--fresh")
    assert run.status == 0, run.stderr
    from dreamvid.io.decode import probe_video

    assert probe_video(tmp_path / "out.mp4").frame_count == 3 and not (tmp_path / "out.mp4.parts").exists()


def test_same_length_video_with_other_content_is_refused(tmp_path, cli):
    clip = tmp_path / "clip.mp4"
    moving_clip(clip, frames=4, size=(64, 48))
    _partial(clip, tmp_path / "out.mp4", ["frame_000000.png"])
    moving_clip(clip, frames=4, size=(64, 48), dx=-3)
    run = cli(tmp_path, "clip.mp4", "-o", "out.mp4", "--model", "vgg16-hed", "--steps", "3", "--octaves", "1",
              "--flow-steps", "1", "--jitter", "8")
    assert run.status == 2 and "clip.mp4 changed since its partial render (size" in run.stderr, run.stderr


def test_replaced_frame_of_a_sequence_is_refused(tmp_path, cli):
    """A frame already dreamed was replaced (a frame not dreamed yet may change: tests/test_queue.py)."""
    paths = write_frames(tmp_path / "shot", 4)
    _partial(tmp_path / "shot" / "frame_%04d.png", tmp_path / "out", ["frame_000000.png", "frame_000001.png"])
    paths[1].write_bytes(paths[2].read_bytes())
    before = snapshot(tmp_path)
    run = cli(tmp_path, "shot/frame_%04d.png", "-o", "out", *QUICK)
    assert run.status == 2 and run.loaded == []
    assert "frame_%04d.png changed since its partial render (frame_0001.png changed: " in run.stderr, run.stderr
    assert snapshot(tmp_path) == before


def test_plan_of_another_dreamvid_version_is_refused(tmp_path, cli):
    clip = tmp_path / "clip.mp4"
    moving_clip(clip, frames=3, size=(64, 48))
    work = _partial(clip, tmp_path / "out.mp4", [])
    plan = json.loads((work / "plan.json").read_text())
    write_json(work / "plan.json", {**plan, "dreamvid": "0.0.1"})
    run = cli(tmp_path, "clip.mp4", "-o", "out.mp4", "--model", "vgg16-hed", "--steps", "3", "--octaves", "1",
              "--flow-steps", "1", "--jitter", "8")
    assert run.status == 2 and run.loaded == []
    assert "made by dreamvid 0.0.1 (this is dreamvid " in run.stderr and "--fresh" in run.stderr, run.stderr


def test_identity_change_names_what_changed():
    video = {"frames": 10, "size": [96, 64], "bytes": 1234, "modified": 0, "sample": "aa"}
    assert identity_change(video, video, set()) is None
    assert identity_change(video, {**video, "bytes": 999}, set()) == "size 1234 -> 999 bytes"
    assert identity_change(video, {**video, "size": [48, 32]}, set()) == "picture 96x64 -> 48x32"
    assert identity_change(video, {**video, "sample": "bb"}, set()) == "content changed"
    assert identity_change(video, {**video, "modified": 10**18}, set()).startswith("modified 1970-01-01")
    frames = {"frames": 2, "size": [8, 8], "files": {"a.png": [1, 0], "b.png": [1, 0]}}
    changed = {**frames, "files": {"a.png": [1, 0], "b.png": [2, 0]}}
    assert identity_change(frames, changed, {"a.png"}) is None  # b.png was not dreamed yet
    assert identity_change(frames, changed, {"a.png", "b.png"}) == "b.png changed: size 1 -> 2 bytes"
    gone = {**frames, "frames": 2, "files": {"a.png": [1, 0]}}
    assert identity_change(frames, gone, {"b.png"}) == "b.png is gone"


def test_a_frame_counts_as_used_once_its_segment_dreamed_it(tmp_path):
    names = {f"f{index}.png": [1, 0] for index in range(6)}
    plan = {"kind": "sequence", "identity": {"files": names},
            "segments": [{"index": 0, "start": 0, "end": 3, "warmup": 0},
                         {"index": 1, "start": 3, "end": 6, "warmup": 1}]}
    for piece in ("frame_000000.png", "frame_000004.png"):  # the second segment warmed up on f2
        (tmp_path / piece).write_bytes(b"")
    assert _used(tmp_path, plan) == {"f0.png", "f2.png", "f3.png", "f4.png"}  # f1 may still be repaired
    plan["segments"] = None  # one chain from the start
    assert _used(tmp_path, plan) == {"f0.png", "f1.png", "f2.png", "f3.png", "f4.png"}
    assert _used(tmp_path, {**plan, "kind": "stills"}) == set()


def test_a_linked_output_folder_is_refused_before_any_work(tmp_path, cli):
    """Swapping a finished folder in would replace the link itself (and fail on a mount point)."""
    frames = tmp_path / "frames"
    frames.mkdir()
    cv2.imwrite(str(frames / "a.png"), np.full((32, 40, 3), 90, np.uint8))
    (tmp_path / "real").mkdir()
    (tmp_path / "out").symlink_to(tmp_path / "real")
    run = cli(tmp_path, "frames", "-o", "out", "--model", "vgg16-hed")
    assert run.status == 2 and "is a link" in run.stderr and not run.loaded
    assert (tmp_path / "out").is_symlink() and not list((tmp_path / "real").iterdir())


def test_a_finished_video_edited_afterwards_is_kept_not_rendered_again(tmp_path):
    import os

    import dreamvid
    from clips import moving_clip
    from helpers import FAST

    moving_clip(tmp_path / "clip.mp4", frames=2, size=(64, 48))
    dreamvid.render(tmp_path / "clip.mp4", **FAST)
    output = tmp_path / "clip_dream.mp4"
    with open(output, "ab") as edited:  # the user changes the finished file in place, after its record
        edited.write(b"\0" * 16)
    later = output.with_name(output.name + ".json").stat().st_mtime_ns + 10**9
    os.utime(output, ns=(later, later))
    [result] = dreamvid.render(tmp_path / "clip.mp4", **FAST)
    assert result.status == "skipped" and output.stat().st_mtime_ns == later
