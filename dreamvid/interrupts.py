"""Cleanup that a second Ctrl-C or SIGTERM must not cut short: stopping ffmpeg, removing partial files."""
from __future__ import annotations

import contextlib
import signal
import threading
from typing import Iterator

_SIGNALS = (signal.SIGINT, signal.SIGTERM)


@contextlib.contextmanager
def signals_held() -> Iterator[None]:
    """While the block runs, SIGINT and SIGTERM are noted, not raised; the handlers come back after it.
    The render is already stopping, so a held signal changes nothing but its exit status. Python sets
    handlers only in the main thread: elsewhere (an API call in a thread) the block runs as it is."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {number: signal.getsignal(number) for number in _SIGNALS}
    for number in _SIGNALS:
        signal.signal(number, lambda *_: None)
    try:
        yield
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)
