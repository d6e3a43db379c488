"""Background work with bounded queues: decoding, flow and encoding run beside the model. An item
comes out exactly once and in order; an exception in the worker is re-raised in the consumer."""
from __future__ import annotations

import os
import queue
import threading
from collections import deque
from concurrent.futures import Executor, Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Callable, Iterable, Iterator, TypeVar

T = TypeVar("T")
_DONE = object()


def cpu_threads() -> int:
    """Threads the CPU side of a render uses for flow and checkpoints: the machine's cores, or
    $DREAMVID_THREADS (benchmarks/pipeline.py measures the frames/s against it)."""
    given = os.environ.get("DREAMVID_THREADS", "")
    return max(1, int(given)) if given.isdigit() else max(1, os.cpu_count() or 1)


def ordered(items: Iterable, work: Callable, pool: Executor | None, ahead: int) -> Iterator:
    """(item, work(item)) in the order of `items`, with up to `ahead` works running at once on `pool`
    (None: one after the other, in this thread)."""
    if pool is None:
        for item in items:
            yield item, work(item)
        return
    running: deque[tuple[object, Future]] = deque()
    failure: BaseException | None = None
    try:
        try:
            for item in items:
                running.append((item, pool.submit(work, item)))
                if len(running) > ahead:
                    first, future = running.popleft()
                    yield first, future.result()
        except Exception as error:  # the items before the failing one come out first, as without a pool
            failure = error
        while running:
            first, future = running.popleft()
            yield first, future.result()
        if failure is not None:
            raise failure
    finally:
        for _, future in running:
            future.cancel()


class Prefetch(Iterator[T]):
    """Runs an iterable in a thread, `depth` items ahead of the consumer."""

    def __init__(self, items: Iterable[T], depth: int = 2, name: str = "prefetch"):
        self._queue: queue.Queue = queue.Queue(maxsize=depth)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(items,), name=name, daemon=True)
        self._thread.start()

    def _run(self, items: Iterable[T]) -> None:
        try:
            for item in items:
                if not self._put((True, item)):
                    return
        except BaseException as error:  # handed to the consumer, raised there
            self._put((False, error))
            return
        self._put((True, _DONE))

    def _put(self, entry) -> bool:
        while not self._stop.is_set():
            try:
                self._queue.put(entry, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def __next__(self) -> T:
        ok, item = self._queue.get()
        if not ok:
            self.close()
            raise item
        if item is _DONE:
            self._queue.put((True, _DONE))  # stay exhausted
            raise StopIteration
        return item

    def close(self) -> None:
        """Stop the worker (it may be blocked on a full queue) without waiting for its source to end."""
        self._stop.set()
        self._thread.join(timeout=5)


@dataclass(frozen=True)
class FlowThreads:
    """The threads a render's chains share for the flow of the frames ahead, and how many they are."""

    executor: ThreadPoolExecutor
    count: int

    @classmethod
    def start(cls, count: int) -> "FlowThreads":
        return cls(ThreadPoolExecutor(count, thread_name_prefix="flow"), count)

    def closed_after(self, items: Iterator[T]) -> Iterator[T]:
        """`items`, then the threads stopped (also when the consumer stops early)."""
        try:
            yield from items
        finally:
            self.executor.shutdown(wait=True, cancel_futures=True)


class Worker:
    """Runs `handle` on items in a thread, in order, `depth` behind; `close` waits for all and re-raises."""

    def __init__(self, handle: Callable[[T], None], depth: int = 4, name: str = "worker"):
        self._handle = handle
        self._queue: queue.Queue = queue.Queue(maxsize=depth)
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while True:
            item = self._queue.get()
            if item is _DONE:
                return
            if self._error is None:
                try:
                    self._handle(item)
                except BaseException as error:
                    self._error = error
            self._queue.task_done()

    def submit(self, item: T) -> None:
        if self._error is not None:
            raise self._error
        self._queue.put(item)

    def flush(self) -> None:
        """Wait until every submitted item is handled (e.g. a segment's frames are on disk)."""
        self._queue.join()
        if self._error is not None:
            raise self._error

    def close(self) -> None:
        self._queue.put(_DONE)
        self._thread.join()
        if self._error is not None:
            raise self._error


class Writers:
    """Several Workers; an item goes to the one its key picks (item.segment.index), so the items of one
    key are handled in order while different keys proceed side by side."""

    def __init__(self, handle: Callable[[T], None], count: int, depth: int = 4):
        self._workers = [Worker(handle, depth=depth, name=f"checkpoint-{k}") for k in range(max(1, count))]

    def submit(self, item) -> None:
        self._workers[item.segment.index % len(self._workers)].submit(item)

    def flush(self) -> None:
        for worker in self._workers:
            worker.flush()

    def close(self) -> None:
        errors = []
        for worker in self._workers:
            try:
                worker.close()
            except BaseException as error:
                errors.append(error)
        if errors:
            raise errors[0]
