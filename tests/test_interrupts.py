"""While a stopping render cleans up, signals are held and raised once the cleanup ends."""
from __future__ import annotations

import os
import signal
import time

import pytest


def test_a_second_signal_cannot_cut_the_cleanup_short():
    """While a stopping render cleans up, more Ctrl-C or SIGTERM are held, and the handlers come back after;
    the first signal held is raised then (its exit status: below)."""
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


HELD = """
import os, signal, sys
from dreamvid.interrupts import signals_held

number = getattr(signal, sys.argv[1])
try:
    with signals_held():
        os.kill(os.getpid(), number)
        print("the block finished", flush=True)
except KeyboardInterrupt:
    print("KeyboardInterrupt after the block", flush=True)
    sys.exit(130)
print("carried on", flush=True)
"""


@pytest.mark.parametrize("number, status, lines", [
    ("SIGINT", 130, ["the block finished", "KeyboardInterrupt after the block"]),
    ("SIGTERM", -15, ["the block finished"]),  # the default handler is back: the process dies of it
])
def test_a_signal_held_during_a_cleanup_is_raised_when_it_ends(number, status, lines):
    """signals_held noted a Ctrl-C or SIGTERM and dropped it: the command went on and exited 0."""
    import subprocess
    import sys

    run = subprocess.run([sys.executable, "-c", HELD, number], capture_output=True, text=True, timeout=60)
    assert run.returncode == status, run.stderr
    assert run.stdout.splitlines() == lines
