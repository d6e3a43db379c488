"""The background threads deliver every item exactly once, in order, and surface a worker's error."""
from __future__ import annotations

import threading

import pytest

from dreamvid.temporal.threads import Prefetch, Worker


def test_prefetch_yields_every_item_once_in_order():
    assert list(Prefetch(iter(range(100)), depth=3)) == list(range(100))


def test_prefetch_reraises_the_worker_error_after_the_items_before_it():
    def items():
        yield from range(5)
        raise ValueError("frame 5 is broken")

    stream = Prefetch(items(), depth=2)
    got = []
    with pytest.raises(ValueError, match="frame 5"):
        for item in stream:
            got.append(item)
    assert got == [0, 1, 2, 3, 4]


def test_prefetch_runs_ahead_but_no_further_than_its_depth():
    produced = []

    def items():
        for i in range(50):
            produced.append(i)
            yield i

    stream = Prefetch(items(), depth=2)
    assert next(stream) == 0
    threading.Event().wait(0.2)
    assert len(produced) <= 4  # one taken, two queued, one waiting to be queued
    stream.close()


def test_worker_handles_items_in_order_and_close_waits_for_all():
    seen = []
    worker = Worker(seen.append, depth=2)
    for i in range(50):
        worker.submit(i)
    worker.close()
    assert seen == list(range(50))


def test_worker_error_is_raised_on_the_next_call():
    def handle(item):
        if item == 3:
            raise OSError("disk full")

    worker = Worker(handle, depth=1)
    with pytest.raises(OSError, match="disk full"):
        for i in range(100):
            worker.submit(i)
        worker.close()


def test_worker_flush_waits_for_the_items_submitted_and_the_worker_goes_on():
    """What a driver needs before it reads a segment's last frame back from disk."""
    import time

    handled = []

    def slow(item):
        time.sleep(0.01)
        handled.append(item)

    worker = Worker(slow, depth=8)
    for item in range(6):
        worker.submit(item)
    worker.flush()
    assert handled == list(range(6))
    worker.submit(6)
    worker.close()
    assert handled == list(range(7))
