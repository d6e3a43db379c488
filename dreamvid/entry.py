"""The `dreamvid` console script. Loading the command takes a fraction of a second (Typer, rich, numpy): a
Ctrl-C or SIGTERM then stops it as it would later, with one line and 130 or 143, not a traceback. Once
the command has returned, the interpreter and TensorFlow take about a second more to exit: a signal
then has nothing left to stop, and ends the process at once with the command's own status, rather than
killing it without a word (or being ignored, which would leave a hang at exit unstoppable but by -9)."""
from __future__ import annotations

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
    status = 1  # an unexpected error's, unless the command says otherwise
    try:
        run()
        status = 0
    except SystemExit as done:
        status = done.code if isinstance(done.code, int) else 0 if done.code is None else 1
        raise
    finally:  # every output is complete (or the error said so): a signal now only hastens the exit
        def exit_now(signum, frame) -> None:
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(status)

        for number in (signal.SIGINT, signal.SIGTERM):
            signal.signal(number, exit_now)
