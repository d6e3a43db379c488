"""The `dreamvid` console script. Loading the command takes a fraction of a second (Typer, rich, numpy): a
Ctrl-C or SIGTERM then stops it as it would later, with one line and 130 or 143, not a traceback."""
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
    run()
