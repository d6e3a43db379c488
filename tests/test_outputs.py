"""May this output be written, is it done, is it ours to replace, is another process rendering it: a folder
given as an output holds the default name; dreamvid replaces only what its records say it wrote; a
finished output is skipped (a video by the size its record names); one render per output at a time (the
lock beside an output, held across processes, named in the refusal, gone with a process that dies, so a
killed render never blocks its resume)."""
from __future__ import annotations

import contextlib
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
from PIL import Image

import dreamvid
from clips import moving_clip, translating_frames
from doubles import StubDreamer
from dreamvid.errors import UserError
from dreamvid.jobs import plan_jobs
from dreamvid.outputs import OutputLock
from dreamvid.settings import build_settings
from helpers import FAST, snapshot, write_picture


QUICK = ["--model", "vgg16-hed", "--steps", "1", "--octaves", "1", "--flow-steps", "1", "--jitter", "4", "-q"]


# ---- a folder as the output ---------------------------------------------------------------------------

def plan_one(command: str, photo, output):
    """The job that `dreamvid [zoom] photo -o output` plans, as the command's planner decides it."""
    from dreamvid.jobs import plan_jobs
    from dreamvid.job import ZoomMotion
    from dreamvid.jobs import plan_zoom_jobs

    settings = build_settings({"model": "vgg16-hed"})
    if command == "zoom":
        return plan_zoom_jobs([photo], settings, ZoomMotion.parse(frames=2), output)[0]
    return plan_jobs([photo], settings, output)[0]


@pytest.mark.parametrize("kind, name, refusal", [
    ("render", "photo_dream.png", "output out must end in an image suffix (.avif, .bmp, .exr, .heic, .heif, .hif, "
                                  ".jpeg, .jpg, .png, .tif, .tiff, .webp), or be a folder: out/"),
    ("zoom", "photo_zoom.mp4", "output out: a zoom is a video: give .mp4, .mov, .mkv or .m4v, or a folder: out/"),
])
def test_a_still_or_a_zoom_goes_into_a_folder_given_as_its_output(tmp_path, command, kind, name, refusal):
    """`photo.png -o outdir/` was refused ("must end in an image suffix"), and so was `dreamvid zoom photo.png
    -o outdir/` ("a zoom is a video"): a folder output holds the default name, as in a queue, decided by the
    same code for both: an existing folder, or one typed with a slash, made when the output is written.
    What cannot be such a folder is refused before TensorFlow loads."""
    Image.fromarray(translating_frames(1, (96, 64), 0, 0)[0]).save(tmp_path / "photo.png")
    (tmp_path / "outdir").mkdir()
    for output in (tmp_path / "outdir", f"{tmp_path / 'outdir'}/", str(tmp_path / "outdir")):
        assert plan_one(kind, tmp_path / "photo.png", output).output == tmp_path / "outdir" / name
    for output, message in (("missing/sub/", f"cannot write missing/sub/{name}: folder missing does not exist"),
                            ("photo.png/", "output photo.png/ is a file, not a folder"),
                            ("out", refusal)):
        run = command(tmp_path, *(["zoom"] if kind == "zoom" else []), "photo.png", "-o", output, "--model",
                      "vgg16-hed")
        assert run.status == 2 and run.loaded == [], run.stderr
        assert run.stderr.strip().splitlines() == [f"dreamvid: error: {message}"]


@pytest.mark.parametrize("target", [".", "f_%05d.png"])
def test_folder_output_must_not_be_the_current_folder(target, tmp_path, command):
    """A finished folder is swapped in whole, so it cannot be the folder the command runs in."""
    moving_clip(tmp_path / "clip.mp4", frames=3, size=(64, 48))
    before = snapshot(tmp_path)
    run = command(tmp_path, "clip.mp4", "-o", target, *QUICK)
    assert run.status == 2 and "holds the current folder" in run.stderr and run.loaded == [], run.stderr
    assert snapshot(tmp_path) == before


def test_a_linked_output_folder_is_refused_before_any_work(tmp_path, command):
    """Swapping a finished folder in would replace the link itself (and fail on a mount point)."""
    frames = tmp_path / "frames"
    frames.mkdir()
    cv2.imwrite(str(frames / "a.png"), np.full((32, 40, 3), 90, np.uint8))
    (tmp_path / "real").mkdir()
    (tmp_path / "out").symlink_to(tmp_path / "real")
    run = command(tmp_path, "frames", "-o", "out", "--model", "vgg16-hed")
    assert run.status == 2 and "is a link" in run.stderr and not run.loaded
    assert (tmp_path / "out").is_symlink() and not list((tmp_path / "real").iterdir())


# ---- only dreamvid's own files are replaced --------------------------------------------------------

def test_overwrite_refuses_a_file_dreamvid_did_not_write(tmp_path, command):
    write_picture(tmp_path / "photo.png")
    (tmp_path / "photo_dream.png").write_bytes(b"the user's own picture")
    (tmp_path / "other.png.json").write_text('{"mine": true}')
    before = snapshot(tmp_path)
    run = command(tmp_path, "photo.png", "--overwrite", *QUICK)
    assert run.status == 2 and "photo_dream.png exists and dreamvid did not write it" in run.stderr, run.stderr
    run = command(tmp_path, "photo.png", "-o", "other.png", *QUICK)  # its record would replace a user's file
    assert run.status == 2 and "other.png.json exists and dreamvid did not write it" in run.stderr, run.stderr
    assert len(run.stderr.splitlines()) == 1 and run.loaded == []
    assert snapshot(tmp_path) == before


def test_frames_folder_refuses_to_replace_a_user_file_of_the_same_name(tmp_path, command):
    moving_clip(tmp_path / "clip.mp4", frames=3, size=(64, 48))
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "clip_00001.png").write_bytes(b"the user's")
    before = snapshot(tmp_path)
    for extra in ([], ["--overwrite"]):
        run = command(tmp_path, "clip.mp4", "-o", "out", *QUICK, *extra)
        assert run.status == 2, run.stderr
        assert "clip_00001.png exists and dreamvid did not write it" in run.stderr and run.loaded == []
    assert snapshot(tmp_path) == before


# ---- what is done already ------------------------------------------------------------------------------

def test_a_folder_with_every_frame_but_no_record_is_not_done(tmp_path):
    """Before, a frames folder counted as done when every frame name existed, as after a half-finished move."""
    moving_clip(tmp_path / "clip.mp4", frames=3, size=(64, 48))
    (tmp_path / "out").mkdir()
    for index in range(3):
        write_picture(tmp_path / "out" / f"clip_{index:05d}.png")
    with pytest.raises(UserError, match="clip_00000.png and 2 more exists and dreamvid did not write it"):
        plan_jobs([tmp_path / "clip.mp4"], build_settings(FAST), tmp_path / "out")


def test_video_record_is_written_before_the_video_and_names_its_size(tmp_path):
    moving_clip(tmp_path / "clip.mp4", frames=3, size=(64, 48))
    dreamvid.render(tmp_path / "clip.mp4", dreamer=StubDreamer(), **FAST)
    video, record = tmp_path / "clip_dream.mp4", tmp_path / "clip_dream.mp4.json"
    assert json.loads(record.read_text())["bytes"] == video.stat().st_size
    settings = build_settings(FAST)
    assert plan_jobs([tmp_path / "clip.mp4"], settings)[0].skip
    # As if killed between the new record and the rename: the video is an older one, of another size.
    video.write_bytes(video.read_bytes()[:100])
    older = record.stat().st_mtime_ns - 10**9
    os.utime(video, ns=(older, older))
    assert not plan_jobs([tmp_path / "clip.mp4"], settings)[0].skip  # the rerun renders it again


def test_a_finished_video_edited_afterwards_is_kept_not_rendered_again(tmp_path):
    import os

    import dreamvid
    from clips import moving_clip
    from helpers import FAST

    moving_clip(tmp_path / "clip.mp4", frames=2, size=(64, 48))
    dreamvid.render(tmp_path / "clip.mp4", dreamer=StubDreamer(), **FAST)
    output = tmp_path / "clip_dream.mp4"
    with open(output, "ab") as edited:  # the user changes the finished file in place, after its record
        edited.write(b"\0" * 16)
    later = output.with_name(output.name + ".json").stat().st_mtime_ns + 10**9
    os.utime(output, ns=(later, later))
    [result] = dreamvid.render(tmp_path / "clip.mp4", dreamer=StubDreamer(), **FAST)
    assert result.status == "skipped" and output.stat().st_mtime_ns == later


# ---- one render per output at a time -------------------------------------------------------------

HOLD = """
import sys, time
from pathlib import Path
from dreamvid.outputs import OutputLock
with OutputLock(Path(sys.argv[1])):
    print("held", flush=True)
    time.sleep(60)
"""


@contextlib.contextmanager
def held_elsewhere(output: Path):
    """Another process holding the lock of `output` (killed with SIGKILL at the end)."""
    holder = subprocess.Popen([sys.executable, "-c", HOLD, str(output)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        yield holder
    finally:
        holder.kill()
        holder.wait()


def test_a_second_process_is_refused_with_the_holders_pid(tmp_path):
    output = tmp_path / "out.mp4"
    with held_elsewhere(output) as holder:
        with pytest.raises(UserError, match=f"out.mp4 is being rendered by another dreamvid \\(process {holder.pid}\\)"):
            with OutputLock(output):
                pass
    assert not output.exists()


def test_a_killed_holder_never_blocks_the_next_render(tmp_path):
    output = tmp_path / "out.mp4"
    with held_elsewhere(output) as holder:
        holder.send_signal(signal.SIGKILL)
        holder.wait()
        with OutputLock(output) as lock:  # the kernel dropped the dead process's lock
            assert lock.path.read_text().strip() == str(os.getpid())
    assert not (tmp_path / ".out.mp4.lock").exists()  # released: the file goes


def test_the_lock_of_a_new_folder_lies_beside_that_folder(tmp_path):
    output = tmp_path / "made" / "photo_dream.png"
    with OutputLock(output, new_folder=True) as lock:
        assert lock.path == tmp_path / ".made.photo_dream.png.lock" and lock.path.exists()
    assert not lock.path.exists()


RENDER = ["--model", "vgg16-hed", "--steps", "1", "--octaves", "1", "--max-side", "48"]


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["video", "stills", "zoom"])
def test_two_renders_of_one_output_started_together_never_race(tmp_path, kind):
    """Started at the same moment, again and again: one renders, the other refuses at once (exit 2, one
    line naming the process); nothing is lost, no work folder or temporary is left, the output is whole."""
    from clips import moving_clip
    from helpers import natural_picture
    import cv2
    import numpy as np

    if kind == "video":
        source, output, extra = tmp_path / "clip.mp4", tmp_path / "out.mp4", []
        moving_clip(source, frames=10, size=(64, 48))
    elif kind == "stills":
        source, output, extra = tmp_path / "shots", tmp_path / "out", []
        source.mkdir()
        for index in range(3):
            cv2.imwrite(str(source / f"p{index}.png"), np.rint(natural_picture(40, 48, index) * 255).astype(np.uint8))
    else:
        source, output, extra = tmp_path / "photo.png", tmp_path / "out.mp4", ["--frames", "6"]
        cv2.imwrite(str(source), np.rint(natural_picture(40, 48) * 255).astype(np.uint8))
    command = [str(Path(sys.executable).with_name("dreamvid"))] + (["zoom"] if kind == "zoom" else [])
    refused = 0
    for attempt in range(3):
        runs = [subprocess.Popen(command + [str(source), "-o", str(output), *RENDER, *extra, "-q", "--overwrite"],
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(2)]
        ended = [(run.wait(timeout=240), run.stderr.read()) for run in runs]
        statuses = sorted(status for status, _ in ended)
        assert statuses in ([0, 0], [0, 2]), ended  # one after the other, or one refused
        refused += statuses == [0, 2]
        for status, said in ended:
            if status == 2:
                assert "is being rendered by another dreamvid (process " in said and len(said.strip().splitlines()) == 1
        assert output.exists()
        left = [p.name for p in tmp_path.iterdir() if p.name.startswith(".") or p.name.endswith((".parts", ".partial"))]
        assert left == [], left
        time.sleep(0.05 * attempt)
    assert refused, "started together, the two renders always overlap: one of them must have been refused"
