"""What several test files share: quick render settings and a reporter that keeps warnings."""
from __future__ import annotations

import contextlib
import signal
import subprocess
import time
from typing import Callable, Iterator

import pytest

from dreamvid.progress import Reporter

# Real vgg16-hed weights, but few steps on tiny frames: enough to dream, quick on 2 cores.
FAST = dict(model="vgg16-hed", steps=3, octaves=1, flow_steps=1, jitter=8)


class Warnings(Reporter):
    """Keeps every warning the library reports."""

    def __init__(self):
        self.messages: list[str] = []

    def warn(self, message: str) -> None:
        self.messages.append(message)


def done_frames(output) -> list[int]:
    """The kept frames that a render's work folder holds, as lossless pieces or in encoded chunks."""
    from dreamvid.journal.names import parse_chunk

    folder = output.with_name(output.name + ".parts")
    done = {int(p.stem.split("_")[1]) for p in folder.glob("frame_*.png")}
    for path in folder.glob("chunk_*"):
        if chunk := parse_chunk(path.name):
            done.update(range(*chunk))
    return sorted(done)


@contextlib.contextmanager
def power_cut_at_round(count: int) -> Iterator[None]:
    """A render inside the block crashes (RuntimeError "power cut") at its `count`-th dream round, as a
    render cut short mid-way; dreaming is itself again after the block."""
    from dreamvid.temporal import dreaming

    real, rounds = dreaming.dream_round, []

    def crashing(*args, **kwargs):
        rounds.append(1)
        if len(rounds) == count:
            raise RuntimeError("power cut")
        return real(*args, **kwargs)

    dreaming.dream_round = crashing
    try:
        with pytest.raises(RuntimeError, match="power cut"):
            yield
    finally:
        dreaming.dream_round = real


def kill_when(process: subprocess.Popen, ready: Callable[[], bool], seconds: float = 120) -> None:
    """SIGKILL `process` as soon as `ready()` holds; it must still be running then, within `seconds`
    (its stderr, when piped, tells why it ended early)."""
    deadline = time.monotonic() + seconds
    while not ready():
        if process.poll() is not None:
            said = process.stderr.read() if process.stderr else ""
            raise AssertionError(f"the process ended before it could be killed: "
                                 f"{said.decode(errors='replace') if isinstance(said, bytes) else said}"[-2000:])
        assert time.monotonic() < deadline, "the process never got far enough to be killed"
        time.sleep(0.02)
    process.send_signal(signal.SIGKILL)
    process.wait()
