"""The `dreamvid` command: `dreamvid INPUT ...` means `dreamvid render INPUT ...`; a user's error is one
line and exit 2, a failed job exit 1, Ctrl-C 130 and SIGTERM 143.

- commands.py: the commands (render, preview, layers, score, zoom)
- options.py: the options they share, their help and defaults derived from settings.py
- console.py: the progress bar and the closing summary (rich)

Everything is validated before a numerics framework is imported, so bad input fails in about a second."""
from __future__ import annotations

import signal
import sys

import typer
from typer.exceptions import TyperException

from ..errors import DreamvidError, Terminated, UserError
from .commands import COMMANDS, RUNNING, app

# Typer >= 0.29 carries its own copy of click and raises these; click itself is not a dependency.
EXIT, ABORT, USAGE = typer.Exit, typer.Abort, TyperException

_TERMINATED = {"seen": False}  # whether SIGTERM came (Typer turns it into status 130 like a Ctrl-C)


def main(argv: list[str] | None = None) -> None:
    """Entry point: run the command, turn what it raised into a message and an exit status."""
    args = list(sys.argv[1:] if argv is None else argv)
    if args and args[0] not in COMMANDS and args[0] not in ("--help", "-h"):
        args.insert(0, "render")
    signal.signal(signal.SIGTERM, _terminate)
    try:
        status = app(args=args, prog_name="dreamvid", standalone_mode=False)
        if status == 130:  # Typer returns KeyboardInterrupt (and so Terminated) as this status
            _interrupted(_TERMINATED["seen"])
        if isinstance(status, int) and status:  # typer.Exit(n) is returned, not raised, outside standalone mode
            sys.exit(status)
    except (EXIT, ABORT) as done:
        sys.exit(getattr(done, "exit_code", 1))
    except USAGE as error:
        message = error.format_message() if hasattr(error, "format_message") else str(error)
        if not message.strip():  # no arguments: Typer has printed the help already
            sys.exit(2)
        _fail(message, 2)
    except UserError as error:
        _fail(str(error), 2)
    except KeyboardInterrupt as interrupt:
        _interrupted(isinstance(interrupt, Terminated))
    except DreamvidError as error:
        _fail(str(error), 1)
    except OSError as error:  # a disk that fills up or a folder that vanishes mid-render: say so, keep it short
        _fail(f"{error.strerror or error}{f': {error.filename}' if error.filename else ''}", 1)


def _terminate(signum, frame) -> None:
    _TERMINATED["seen"] = True
    raise Terminated()


def _interrupted(terminated: bool) -> None:
    """Ctrl-C exits 130 and SIGTERM 143, as shells expect; the checkpoints stay for a resume. A signal
    that comes once every output is complete (during the clean-up or the summary) leaves nothing to resume."""
    what = "stopped by SIGTERM" if terminated else "interrupted"
    reporter = RUNNING["reporter"]
    if reporter is not None and reporter.finished >= RUNNING["jobs"]:
        what += " after the render finished: every output is complete, nothing to resume"
    else:
        what += ": finished frames are kept; run the same command again to resume"
    _fail(what, 143 if terminated else 130)


def _fail(message: str, status: int) -> None:
    print(f"dreamvid: error: {message}", file=sys.stderr)
    sys.exit(status)


__all__ = ["app", "main"]
