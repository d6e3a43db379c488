"""The `dreamvid` console script. Loading the command takes a fraction of a second (Typer, rich, numpy): a
Ctrl-C or SIGTERM then stops it as it would later, with one line and 130 or 143, not a traceback. Once
the command has returned, the interpreter and TensorFlow take about a second more to exit: a signal
then has nothing left to stop, and is ignored rather than killing the process without a word."""
from __future__ import annotations

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
    finally:  # every output is complete (or the error said), and the status is decided
        for number in (signal.SIGINT, signal.SIGTERM):
            signal.signal(number, signal.SIG_IGN)
