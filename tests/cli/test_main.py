"""How the command ends: a failed render is one line naming what the user asked for and exit 1 (a full disk
at any write); a signal is one line and exit 130 or 143, within seconds, the finished frames kept, or
"nothing to resume" once every output is complete."""
from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from PIL import Image

from clips import moving_clip, translating_frames
from helpers import full_disk_at


def test_a_still_on_a_full_disk_fails_as_a_video_does(tmp_path, command):
    """A still that could not be written exited 2 (bad input, before any work) with libpng's "Write
    Error" line above dreamvid's, while a video on a full disk exits 1 (a job failed while rendering).
    Now both exit 1 with one line naming the output, and nothing is left behind."""
    Image.fromarray(translating_frames(1, (32, 24), 0, 0)[0]).save(tmp_path / "photo.png")
    full_disk_at(tmp_path / "photo_dream.png")
    run = command(tmp_path, "photo.png", "--model", "vgg16-hed", "--steps", "1", "--octaves", "1", "-q")
    assert run.status == 1
    assert run.stderr.strip().splitlines() == ["dreamvid: error: No space left on device: photo_dream.png"]
    assert sorted(path.name for path in tmp_path.iterdir()) == ["photo.png"]


def full_disk_in(monkeypatch, where: str) -> None:
    """The next render's first write `where` hits a full disk (a link to /dev/full, where every write fails
    with ENOSPC), as it would on a real one: the write itself fails, not a check before it."""
    from dreamvid import stills
    from dreamvid.atomic import partial_name
    from dreamvid.io import encode, sinks

    if not Path("/dev/full").exists():
        pytest.skip("no /dev/full here")
    if where == "still":  # the picture's temporary is full once its folder is made and its record written
        real_sidecar = stills.write_sidecar

        def sidecar(path, *args, **kwargs):
            partial_name(path.with_suffix("")).symlink_to("/dev/full")
            return real_sidecar(path, *args, **kwargs)

        monkeypatch.setattr(stills, "write_sidecar", sidecar)
    elif where in ("frames", "record"):  # a folder of frames is built in a hidden staging folder: frame 1's
        real_staging = sinks.new_staging  # temporary is full, or its record's

        def staging(target):
            folder = real_staging(target)
            partial_name(folder / ("clip_00001.png" if where == "frames" else "dreamvid.json")).symlink_to("/dev/full")
            return folder

        monkeypatch.setattr(sinks, "new_staging", staging)
    else:  # a variable-rate video keeps its frames as images until it is muxed: frame 1's is full, or the list
        real_init = encode.VideoWriter.__init__  # of them given to ffmpeg

        def init(self, *args, **kwargs):
            real_init(self, *args, **kwargs)
            if self._folder is not None:
                (self._folder / ("0000001.png" if where == "timed" else "frames.ffconcat")).symlink_to("/dev/full")

        monkeypatch.setattr(encode.VideoWriter, "__init__", init)


@pytest.mark.parametrize("where, args, named, parts", [
    ("frames", ["-o", "frames/"], "frames/clip_00001.png", "frames.parts"),
    ("timed", [], "clip_dream.mp4", "clip_dream.mp4.parts"),
    ("record", ["-o", "frames/"], "frames/dreamvid.json", "frames.parts"),
    ("listing", [], "clip_dream.mp4", "clip_dream.mp4.parts"),
])
def test_the_frames_of_a_video_on_a_full_disk_are_one_error_naming_the_output(tmp_path, command, monkeypatch, where,
                                                                             args, named, parts):
    """A variable-rate video's frames went through cv2.imwrite: libpng printed "Write Error" above
    dreamvid's own "cannot write frame ..(disk full?)" naming a hidden folder; a folder of frames named
    its hidden staging folder. Now one line naming what the user asked for; the checkpoints stay."""
    from clips import vfr_clip

    full_disk_in(monkeypatch, where)
    vfr_clip(tmp_path / "clip.mp4", [0.0, 0.1, 0.3, 0.35])
    run = command(tmp_path, "clip.mp4", *args, "--model", "vgg16-hed", "--steps", "1", "--octaves", "1", "-q")
    assert run.status == 1, run.stderr
    assert run.stderr.strip().splitlines() == [f"dreamvid: error: No space left on device: {named}"]
    assert sorted(path.name for path in tmp_path.iterdir()) == ["clip.mp4", parts]


def test_a_still_that_cannot_be_written_leaves_no_folder_made_for_it(tmp_path, command, monkeypatch):
    """`photo.png -o newdir/` on a full disk left the empty `newdir` that dreamvid had made."""
    full_disk_in(monkeypatch, "still")
    Image.fromarray(translating_frames(1, (96, 64), 0, 0)[0]).save(tmp_path / "photo.png")
    run = command(tmp_path, "photo.png", "-o", "newdir/", "--model", "vgg16-hed", "--steps", "1", "--octaves", "1",
                  "-q")
    assert run.status == 1, run.stderr
    assert run.stderr.strip().splitlines() == ["dreamvid: error: No space left on device: newdir/photo_dream.png"]
    assert sorted(path.name for path in tmp_path.iterdir()) == ["photo.png"]


# ---- signals ---------------------------------------------------------------------------------------

SIGNALLED = """
import os, signal, sys
from dreamvid.cli import console
from dreamvid.journal import workfolder

stage, number = sys.argv.pop(1), getattr(signal, sys.argv.pop(1))
owner, name = (workfolder.WorkFolder, "remove") if stage.startswith("removal") else (console, "print_results")
real = getattr(owner, name)

def signalled(*args, **kwargs):
    if stage == "removal":  # "removal-start": as the removal begins
        real(*args, **kwargs)
    os.kill(os.getpid(), number)  # raised here, by the command's own handler
    real(*args, **kwargs)

setattr(owner, name, signalled)
from dreamvid.cli import main
main(sys.argv[1:])
"""


# Each case is a real process that loads TensorFlow (seconds): two in the fast run, the rest with the slow tests.
@pytest.mark.parametrize("source, stage, number", [
    ("shot", "removal", "SIGINT"), ("clip.mp4", "summary", "SIGTERM"),
    pytest.param("clip.mp4", "removal", "SIGTERM", marks=pytest.mark.slow),
    pytest.param("shot", "removal-start", "SIGTERM", marks=pytest.mark.slow),
    pytest.param("clip.mp4", "removal-start", "SIGINT", marks=pytest.mark.slow)])
def test_a_signal_after_the_render_finished_says_there_is_nothing_to_resume(tmp_path, source, stage, number):
    """A signal that came once the output was complete (a folder's work folder already removed, or the
    summary being printed) said "finished frames are kept; run the same command again to resume". One
    that came while a video's work folder was removed (signals held) was dropped: the command exited 0."""
    import subprocess
    import sys

    (tmp_path / "shot").mkdir()
    for index in range(2):
        Image.fromarray(translating_frames(1, (32, 24), 0, 0, seed=index)[0]).save(tmp_path / "shot" / f"f{index}.png")
    moving_clip(tmp_path / "clip.mp4", frames=3, size=(64, 48))
    run = subprocess.run([sys.executable, "-c", SIGNALLED, stage, number, source, "--model", "vgg16-hed", "--steps",
                          "1", "--octaves", "1", "-q"], cwd=tmp_path, capture_output=True, text=True, timeout=300)
    status, what = (130, "interrupted") if number == "SIGINT" else (143, "stopped by SIGTERM")
    assert run.returncode == status, run.stderr
    assert run.stderr.strip().splitlines() == [
        f"dreamvid: error: {what} after the render finished: every output is complete, nothing to resume"]
    output = tmp_path / (Path(source).stem + "_dream" + Path(source).suffix)
    assert output.exists() and not any(path.name.startswith(".") or "parts" in path.name or "partial" in path.name
                                       for path in tmp_path.iterdir())


# A quick first frame, then slow carried ones (many steps at 128x96): a signal lands in the middle of one.
SLOW = ["--model", "vgg16-hed", "--steps", "5", "--flow-steps", "150", "--octaves", "1", "--jitter", "4", "-q"]


def _children(pid: int) -> list[int]:
    found = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        children = (task / "children").read_text().split()
        found += [int(child) for child in children]
    return found


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return False
    return state != "Z"


@pytest.mark.slow
@pytest.mark.parametrize("signum, status", [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
def test_a_signal_stops_within_seconds_and_keeps_the_checkpoints(tmp_path, signum, status):
    source, output = tmp_path / "clip.mp4", tmp_path / "out.mp4"
    moving_clip(source, frames=6, size=(128, 96))
    parts = output.with_name(output.name + ".parts")
    process = subprocess.Popen([sys.executable, "-m", "dreamvid", str(source), "-o", str(output), *SLOW],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 200
    while not list(parts.glob("frame_*.png")):
        assert process.poll() is None and time.monotonic() < deadline, process.stderr.read() if process.poll() else ""
        time.sleep(0.05)
    time.sleep(1.0)  # well inside the second frame, which takes over ten seconds
    encoders = _children(process.pid)  # a chunk's encoder, if one is at work (a video encodes chunk by chunk)
    sent = time.monotonic()
    process.send_signal(signum)
    _, stderr = process.communicate(timeout=60)
    assert time.monotonic() - sent < 5, "a signal must stop the render between steps, not after a frame"
    assert process.returncode == status
    assert "Traceback" not in stderr and "run the same command again to resume" in stderr
    assert len(stderr.strip().splitlines()) == 1
    assert not output.exists() and list(parts.glob("frame_*.png"))  # no output; the finished frame is kept
    assert not [p for p in [*tmp_path.iterdir(), *parts.iterdir()] if "partial" in p.name]
    time.sleep(0.5)
    assert not [pid for pid in encoders if _alive(pid)], "no stray ffmpeg"
