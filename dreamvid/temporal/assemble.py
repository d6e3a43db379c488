"""Assemble: on the driver, follow the checkpoints in frame order and hand each finished frame
(cross-faded where two segments overlap) to the sink, in a thread, so writing the output overlaps
dreaming. The output appears only when every frame is in it."""
from __future__ import annotations

import threading
import time

from .checkpoints import CheckpointStore


class OrderedOutput:
    def __init__(self, sink, store: CheckpointStore, start: int, end: int, timings: dict[str, float]):
        self._sink, self._store, self._timings = sink, store, timings
        self._range = range(start, end)
        self._stop = threading.Event()
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="output", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            for index in self._range:
                while not self._store.ready(index):
                    if self._stop.wait(0.02):
                        return
                if self._stop.is_set():  # an abort does not wait for the frames already on disk
                    return
                tick = time.monotonic()
                self._sink.write(self._store.final_frame(index))
                self._timings["encode"] += time.monotonic() - tick
        except BaseException as error:
            self._error = error

    def raise_if_failed(self) -> None:
        """The sink's error (ffmpeg died, the disk is full) as soon as it happens."""
        if self._error is not None:
            raise self._error

    def close(self, data) -> None:
        """Wait for the last frame, then finish the sink: its output appears only now, with the
        record that `data()` makes (the timings are complete by then)."""
        self._thread.join()
        if self._error is not None:
            self._sink.abort()
            raise self._error
        tick = time.monotonic()
        self._sink.close(data())
        self._timings["encode"] += time.monotonic() - tick

    def abort(self) -> None:
        self._stop.set()
        self._thread.join()
        self._sink.abort()
