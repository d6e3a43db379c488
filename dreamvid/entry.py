"""The `dreamvid` console script. Loading the command takes a fraction of a second (Typer, rich, numpy): a
Ctrl-C or SIGTERM then stops it as it would later, with one line and 130 or 143, not a traceback. Once
the command has returned, every output is complete or the error said so, and tearing the interpreter and
TensorFlow down would take about a second more, during which Python has put the default signal handlers
back (a signal then killed the finished command without a word, -2 or -15). So the command runs the
exit functions (Ray's shutdown among them), flushes and leaves at once with its status; a signal while
the exit functions run ends it the same way."""
from __future__ import annotations

import atexit
import os
import signal
import sys

from .errors import Terminated


def _terminate(signum, frame) -> None:
    raise Terminated()


def main() -> None:
    signal.signal(signal.SIGTERM, _terminate)  # cli.main installs its own once it runs
    try:
        from .cli import main as run
    except KeyboardInterrupt as interrupt:
        what = "stopped by SIGTERM" if isinstance(interrupt, Terminated) else "interrupted"
        print(f"dreamvid: error: {what} while starting: nothing was changed", file=sys.stderr)
        sys.exit(143 if isinstance(interrupt, Terminated) else 130)
    try:
        run()
        status = 0
    except SystemExit as done:
        if isinstance(done.code, str):
            print(done.code, file=sys.stderr)
        status = done.code if isinstance(done.code, int) else 0 if done.code is None else 1
    except BaseException:  # a bug: its traceback, and the interpreter's usual exit
        _exit_on_signal(1)
        raise
    _exit_on_signal(status)
    atexit._run_exitfuncs()
    _leave(status)


def _exit_on_signal(status: int) -> None:
    for number in (signal.SIGINT, signal.SIGTERM):
        signal.signal(number, lambda signum, frame: _leave(status))


def _leave(status: int) -> None:
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(status)
