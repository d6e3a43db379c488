"""One render per output at a time: the lock beside an output, held across processes, named in the
refusal, and gone with a process that dies, so a killed render never blocks its resume."""
from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from dreamvid.errors import UserError
from dreamvid.outputs import OutputLock

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
    from conftest import natural_picture
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
