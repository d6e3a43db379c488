"""Assemble: on the driver, turn the checkpoints into the output in a thread, so writing overlaps
dreaming. A video (constant rate) is encoded chunk by chunk as soon as each chunk's frames are final,
in any order, and joined at the end; other sinks take every finished frame (cross-faded where two
segments overlap) in frame order. The output appears only when every frame is in it."""
from __future__ import annotations

import threading
import time
from collections import deque

import numpy as np

from ..io.sinks import FrameSink
from .checkpoints import CheckpointStore
from .chunks import chunk_frames

# Chunks that may wait for the encoder (besides the one it encodes) before the driver waits for it.
MAX_BACKLOG = 1


def open_output(sink: FrameSink, store: CheckpointStore, start: int, end: int, timings: dict[str, float]):
    """The assembly that suits the sink: chunks where the sink can encode and join them."""
    if sink.chunked:
        return ChunkedOutput(sink, store, timings)
    return OrderedOutput(sink, store, start, end, timings)


class _Stopped(Exception):
    """Raised into a chunk's encoder when the render is aborted."""


class _Assembly:
    """A thread that feeds the sink; its error is raised on the driver, and the sink is finished or aborted."""

    def __init__(self, sink, store: CheckpointStore, timings: dict[str, float]):
        self._sink, self._store, self._timings = sink, store, timings
        self._stop = threading.Event()
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._guarded, name="output", daemon=True)
        self._thread.start()

    def _guarded(self) -> None:
        try:
            self._run()
        except BaseException as error:
            self._error = error

    def _run(self) -> None:
        raise NotImplementedError

    def _finish(self, data: dict) -> None:
        self._sink.close(data)

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
        self._finish(data())
        self._timings["encode"] += time.monotonic() - tick

    def abort(self) -> None:
        self._stop.set()
        self._thread.join()
        self._sink.abort()


class OrderedOutput(_Assembly):
    """Every frame in order into the sink (a folder of frames, a variable-rate video)."""

    def __init__(self, sink, store: CheckpointStore, start: int, end: int, timings: dict[str, float]):
        self._range = range(start, end)
        super().__init__(sink, store, timings)

    def _run(self) -> None:
        for index in self._range:
            while not self._store.ready(index):
                if self._stop.wait(0.02):
                    return
            if self._stop.is_set():  # an abort does not wait for the frames already on disk
                return
            tick = time.monotonic()
            self._sink.write(self._store.final_frame(index))
            self._timings["encode"] += time.monotonic() - tick

    def bytes_needed(self, frames: int, size: tuple[int, int], dtype: np.dtype) -> int:
        """The pieces stay until the end, and the sink holds a second copy (the folder being built,
        a variable-rate video's images)."""
        return 2 * self._store.bytes_needed(frames, size, dtype)


class ChunkedOutput(_Assembly):
    """Encodes each chunk once all its frames are final (a cross-faded frame waits for the next
    segment's warm-up piece), whichever segment finishes one first; the store then deletes the pieces
    the chunk holds. The sink joins the chunks, losslessly, at the end."""

    def __init__(self, sink, store: CheckpointStore, timings: dict[str, float]):
        self.chunks = store.chunk_grid(chunk_frames(sink.fps))
        # Each segment's chunks not encoded yet, in order (the encoder's thread takes them), and whether
        # it is encoding one now: what the driver counts, live, to wait for the encoder.
        self._queues: list[deque] = []
        self._encoding = False
        super().__init__(sink, store, timings)

    def raise_if_failed(self) -> None:
        """The encoder's error; and while more than one chunk waits for the encoder, the driver waits
        too, so the pieces on disk stay bounded even where dreaming outruns encoding."""
        while self._backlog() > MAX_BACKLOG and self._error is None and self._thread.is_alive():
            time.sleep(0.01)
        super().raise_if_failed()

    def _backlog(self) -> int:
        """Chunks whose frames are all there and are not encoded yet, the one being encoded included
        (counted now: a chunk completed while a long one is encoded counts at once)."""
        return int(self._encoding) + sum(self._leading(list(queue)) for queue in list(self._queues))

    def _run(self) -> None:
        # A segment's chunks become ready in order: the first one waiting in each is the next to encode.
        queues = [deque(chunk for chunk in self.chunks if segment.start <= chunk[0] < segment.end
                        and not self._store.has_chunk(*chunk)) for segment in self._store.segments]
        self._queues = queues
        while any(queues):
            ready = [queue for queue in queues if queue and self._complete(queue[0])]
            if not ready and self._stop.wait(0.05):
                return
            for queue in ready:
                if self._stop.is_set():  # an abort does not wait for the frames already on disk
                    return
                tick = time.monotonic()
                self._encoding = True
                a, b = queue.popleft()
                try:
                    self._sink.encode_chunk(self._store.chunk_path(a, b, self._sink.chunk_suffix),
                                            self._frames(a, b), a)
                except _Stopped:  # the partial chunk is gone; its pieces are still there
                    return
                self._store.add_chunk(a, b)
                self._encoding = False
                self._timings["encode"] += time.monotonic() - tick

    def _complete(self, chunk: tuple[int, int]) -> bool:
        return all(map(self._store.ready, range(*chunk)))

    def _leading(self, queue) -> int:
        """How many chunks at the head of a segment's queue have all their frames."""
        return next((k for k, chunk in enumerate(queue) if not self._complete(chunk)), len(queue))

    def _frames(self, a: int, b: int):
        for index in range(a, b):
            if self._stop.is_set():  # an abort does not wait for a whole chunk to be encoded
                raise _Stopped
            yield self._store.final_frame(index)

    def _finish(self, data: dict) -> None:
        self._sink.join([self._store.chunk_path(*chunk, self._sink.chunk_suffix) for chunk in self.chunks], data)

    def bytes_needed(self, frames: int, size: tuple[int, int], dtype: np.dtype) -> int:
        """The chunks, and the pieces of a chunk being filled in every segment."""
        raw = size[0] * size[1] * 3  # 8-bit RGB: a codec's size follows its picture, not the checkpoints' depth
        filling = len(self._store.segments) * chunk_frames(self._sink.fps)
        return int(frames * raw * self._sink.size_ratio) + self._store.bytes_needed(min(frames, filling), size, dtype)
