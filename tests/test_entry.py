"""The installed command's entry point, in real processes: a signal while the command loads, or while the
finished command exits, is one line or nothing, never a traceback or a silent death."""
from __future__ import annotations

from pathlib import Path

import pytest

from clips import moving_clip


def run_with_site(tmp_path, site: str, env: dict[str, str], *args: str):
    """The installed command on a 2-frame clip in `tmp_path`, with `site` as its sitecustomize (to send a
    signal at a chosen moment of the process's life)."""
    import os
    import subprocess
    import sys

    (tmp_path / "site").mkdir()
    (tmp_path / "site" / "sitecustomize.py").write_text(site)
    moving_clip(tmp_path / "clip.mp4", frames=2, size=(64, 48))
    return subprocess.run([str(Path(sys.executable).with_name("dreamvid")), "clip.mp4", "--model", "vgg16-hed", *args],
                          cwd=tmp_path, capture_output=True, text=True, timeout=300,
                          env={**os.environ, "PYTHONPATH": str(tmp_path / "site"), "TF_CPP_MIN_LOG_LEVEL": "2", **env})


SIGNAL_WHILE_LOADING = """
import builtins, os, signal

real = builtins.__import__


def signalled(name, *args, **kwargs):
    if name == "typer":  # the command's first heavy import: the signal comes while the command loads
        builtins.__import__ = real
        os.kill(os.getpid(), getattr(signal, os.environ["SIGNAL_WHILE_LOADING"]))
    return real(name, *args, **kwargs)


builtins.__import__ = signalled
"""


@pytest.mark.parametrize("number, status, what", [("SIGINT", 130, "interrupted"),
                                                  ("SIGTERM", 143, "stopped by SIGTERM")])
def test_a_signal_while_the_command_loads_is_one_line(tmp_path, number, status, what):
    """Ctrl-C in the first fraction of a second (found by benchmarks/kill_fuzz.py: up to 0.7 s on a busy
    machine) printed a 20-line KeyboardInterrupt traceback from an import and exited 1 or by the signal;
    SIGTERM killed the command without a word."""
    run = run_with_site(tmp_path, SIGNAL_WHILE_LOADING, {"SIGNAL_WHILE_LOADING": number})
    assert run.returncode == status, run.stderr
    assert run.stderr.splitlines() == [f"dreamvid: error: {what} while starting: nothing was changed"]
    assert sorted(path.name for path in tmp_path.iterdir()) == ["clip.mp4", "site"]


SIGNAL_AT_EXIT = """
import atexit, os, signal, time

SIGNAL = getattr(signal, os.environ["SIGNAL_AT_EXIT"])


def late():  # registered first, so it runs last: the command has returned, the interpreter exits
    os.kill(os.getpid(), SIGNAL)
    time.sleep(600)  # and hangs there: the signal must still end it


class Teardown:
    def __del__(self):  # the interpreter tearing modules down, after it put the default handlers back
        os.kill(os.getpid(), SIGNAL)
        time.sleep(5)


if os.environ["SIGNAL_WHEN"] == "atexit":
    atexit.register(late)
else:
    held = Teardown()
"""


# Each case is a render in a real process that loads TensorFlow (seconds): one in the fast run, three slow.
@pytest.mark.parametrize("number, when", [("SIGINT", "atexit"),
                                          pytest.param("SIGTERM", "teardown", marks=pytest.mark.slow),
                                          pytest.param("SIGTERM", "atexit", marks=pytest.mark.slow),
                                          pytest.param("SIGINT", "teardown", marks=pytest.mark.slow)])
def test_a_signal_while_the_finished_command_exits_changes_nothing(tmp_path, number, when):
    """The interpreter and TensorFlow took about a second to exit after the summary (1.4 s on a busy
    machine, found by benchmarks/kill_fuzz.py): a signal then killed the finished command without a word
    (status -2 or -15), or printed a traceback from the exit. The command now runs the exit functions
    and leaves with its status, tearing nothing down; a signal during the exit functions, even one that
    hangs, ends it the same way."""
    run = run_with_site(tmp_path, SIGNAL_AT_EXIT, {"SIGNAL_AT_EXIT": number, "SIGNAL_WHEN": when},
                        "--steps", "1", "--octaves", "1", "-q")
    assert run.returncode == 0 and run.stderr == "", run.stderr
    assert sorted(path.name for path in tmp_path.iterdir()) == ["clip.mp4", "clip_dream.mp4", "clip_dream.mp4.json",
                                                               "site"]
