"""When a long night goes wrong: signals, a dying encoder, a full disk, out of memory, bad bounds."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

import dreamvid
from clips import moving_clip
from helpers import FAST, Warnings
from dreamvid.errors import OutOfMemory
from dreamvid.io.encode import EncodeError
from dreamvid.io.decode import probe_video

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


def test_a_dead_encoder_stops_the_render_at_once(tmp_path, monkeypatch):
    import dreamvid.io.encode as video
    from dreamvid.temporal import chunks

    monkeypatch.setattr(chunks, "CHUNK_SECONDS", 0.4)  # chunks of 4 frames: the first is encoded early

    source, output = tmp_path / "clip.mp4", tmp_path / "out.mp4"
    moving_clip(source, frames=24, size=(64, 48))
    real_write = video.VideoWriter.write

    def dies_at_third_frame(self, frame):
        self.frames_written = getattr(self, "frames_written", 0) + 1
        if self.frames_written == 3:
            self._process.kill()  # as when the disk fills up or ffmpeg crashes
            self._process.wait()
        real_write(self, frame)

    monkeypatch.setattr(video.VideoWriter, "write", dies_at_third_frame)
    with pytest.raises(EncodeError, match="ffmpeg"):
        dreamvid.render(source, output, **{**FAST, "steps": 1})
    checkpoints = list(output.with_name(output.name + ".parts").glob("frame_*.png"))
    assert 3 <= len(checkpoints) < 10, "the render must stop when the encoder dies, not dream on"
    assert not output.exists()


def test_short_disk_is_a_warning_naming_both_figures(tmp_path, monkeypatch):
    import shutil

    source = tmp_path / "clip.mp4"
    moving_clip(source, frames=3, size=(64, 48))
    real = shutil.disk_usage
    monkeypatch.setattr(shutil, "disk_usage", lambda path: real(path)._replace(free=1000))
    reporter = Warnings()
    dreamvid.render(source, reporter=reporter, **FAST)
    [message] = [m for m in reporter.messages if "checkpoints" in m]
    assert "0.00 GB" in message and "0.03 GB" not in message and "need about" in message


def _oom_on(name: str, monkeypatch, numpy: bool = False):
    """The model (or numpy, on the machine) runs out of memory on the job whose source is called `name`."""
    import tensorflow as tf

    from dreamvid import api

    real = api._run_job

    def run(job, *args, **kwargs):
        if job.source.name == name:
            raise MemoryError() if numpy else tf.errors.ResourceExhaustedError(None, None, "OOM when allocating")
        return real(job, *args, **kwargs)

    monkeypatch.setattr(api, "_run_job", run)


@pytest.mark.parametrize("numpy", [False, True])
def test_out_of_memory_is_a_clear_message_and_the_queue_goes_on(tmp_path, monkeypatch, numpy):
    first, second = tmp_path / "a.mp4", tmp_path / "b.mp4"
    moving_clip(first, frames=2, size=(64, 48))
    moving_clip(second, frames=2, size=(64, 48))
    _oom_on("a.mp4", monkeypatch, numpy)
    results = dreamvid.render([first, second], **FAST)
    assert [r.status for r in results] == ["failed", "done"]
    assert "out of memory" in results[0].error and "--tile" in results[0].error and "--max-side" in results[0].error
    with pytest.raises(OutOfMemory, match="--batch"):
        dreamvid.render(first, tmp_path / "alone.mp4", **FAST)


def test_any_error_in_one_job_leaves_the_queue_going(tmp_path, monkeypatch):
    from dreamvid import api

    first, second = tmp_path / "a.mp4", tmp_path / "b.mp4"
    moving_clip(first, frames=2, size=(64, 48))
    moving_clip(second, frames=2, size=(64, 48))
    real = api._run_job

    def run(job, *args, **kwargs):
        if job.source.name == "a.mp4":
            raise ValueError("something nobody planned for")
        return real(job, *args, **kwargs)

    monkeypatch.setattr(api, "_run_job", run)
    results = dreamvid.render([first, second], **FAST)
    assert [r.status for r in results] == ["failed", "done"]
    assert results[0].error == "ValueError: something nobody planned for"
    assert probe_video(tmp_path / "b_dream.mp4").frame_count == 2


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
def test_out_of_range_values_are_refused_up_front(tmp_path, cli, args, words):
    source = tmp_path / "clip.mp4"
    moving_clip(source, frames=2, size=(64, 48))
    run = cli(tmp_path, "clip.mp4", *args)
    assert run.status == 2 and words in run.stderr and len(run.stderr.strip().splitlines()) == 1
    assert not run.loaded, "refused before TensorFlow loads"
    assert sorted(os.listdir(tmp_path)) == ["clip.mp4"]


def test_a_second_signal_cannot_cut_the_cleanup_short():
    """While a stopping render cleans up, more Ctrl-C or SIGTERM are held, and the handlers come back after;
    the first signal held is raised then (see test_field.py for its exit status)."""
    from dreamvid.interrupts import signals_held

    before = signal.getsignal(signal.SIGINT)
    finished = False
    with pytest.raises(KeyboardInterrupt):
        with signals_held():
            os.kill(os.getpid(), signal.SIGINT)
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(0.05)  # Python runs handlers between bytecodes: they ran, and raised nothing
            finished = True
    assert finished and signal.getsignal(signal.SIGINT) is before
