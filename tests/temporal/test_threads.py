"""The background threads deliver every item exactly once, in order, and surface a worker's error; the
CPU side keeps pace with an accelerator (flow for the frames ahead and checkpoints on several threads)
without changing what comes out or its order."""
from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from types import SimpleNamespace

import pytest

from dreamvid.temporal.threads import Prefetch, Worker, Writers, cpu_threads, ordered


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


def test_ordered_keeps_the_order_and_runs_the_works_side_by_side():
    seen = set()

    def slow_square(value):
        seen.add(threading.get_ident())
        time.sleep(0.02 * (5 - value % 5))  # later items finish first
        return value * value

    with ThreadPoolExecutor(4) as pool:
        out = list(ordered(range(12), slow_square, pool, ahead=6))
    assert out == [(value, value * value) for value in range(12)]
    assert len(seen) > 1
    assert list(ordered(range(3), lambda v: -v, None, ahead=2)) == [(0, 0), (1, -1), (2, -2)]


def test_a_failing_source_still_yields_what_came_before_it():
    def items():
        yield from range(5)
        raise ValueError("frame 5 does not decode")

    got = []
    with ThreadPoolExecutor(3) as pool, pytest.raises(ValueError, match="frame 5"):
        for item, _ in ordered(items(), lambda v: v, pool, ahead=4):
            got.append(item)
    assert got == [0, 1, 2, 3, 4]


def test_writers_keep_each_segments_order_and_raise_a_writers_error():
    done: dict[int, list[int]] = {}
    lock = threading.Lock()

    def save(item):
        time.sleep(0.001 * (item.index % 3))
        with lock:
            done.setdefault(item.segment.index, []).append(item.index)

    writers = Writers(save, count=3, depth=2)
    for index in range(30):
        writers.submit(SimpleNamespace(segment=SimpleNamespace(index=index % 5), index=index))
    writers.close()
    assert {segment: frames for segment, frames in done.items()} == {
        segment: list(range(segment, 30, 5)) for segment in range(5)}

    def broken(item):
        raise OSError(28, "No space left on device")

    writers = Writers(broken, count=2)
    writers.submit(SimpleNamespace(segment=SimpleNamespace(index=1), index=0))
    with pytest.raises(OSError, match="No space"):
        writers.close()


def test_the_thread_count_follows_the_machine_or_the_variable(monkeypatch):
    monkeypatch.setenv("DREAMVID_THREADS", "3")
    assert cpu_threads() == 3
    monkeypatch.setenv("DREAMVID_THREADS", "many")
    assert cpu_threads() >= 1
