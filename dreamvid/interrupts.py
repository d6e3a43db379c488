"""Cleanup that a second Ctrl-C or SIGTERM must not cut short: stopping ffmpeg, removing partial files."""
from __future__ import annotations

import contextlib
import signal
import threading
from typing import Iterator

_SIGNALS = (signal.SIGINT, signal.SIGTERM)


@contextlib.contextmanager
def signals_held() -> Iterator[None]:
    """While the block runs, SIGINT and SIGTERM are noted, not raised; once the handlers are back, the
    first one noted is raised again, so it still stops the command with its exit status (130, 143).
    Python sets handlers only in the main thread: elsewhere (an API call in a thread) the block runs as it is."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    held: list[int] = []
    previous = {number: signal.getsignal(number) for number in _SIGNALS}
    for number in _SIGNALS:
        signal.signal(number, lambda signum, _frame: held.append(signum))
    try:
        yield
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)
        if held:
            signal.raise_signal(held[0])  # its own handler runs now (a block inside another: the outer one notes it)
