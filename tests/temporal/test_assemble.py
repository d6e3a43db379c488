"""Finished frames, in order, into the sink or into chunks: an abort stops a chunk between frames."""
from __future__ import annotations

import threading

import numpy as np

from dreamvid.temporal.checkpoints import CheckpointStore
from dreamvid.temporal.plan import Segment


def test_an_abort_stops_a_chunk_between_frames_and_keeps_its_pieces(tmp_path, short_chunks):
    from dreamvid.temporal.assemble import open_output
    from dreamvid.journal.workfolder import WorkFolder

    work = WorkFolder(tmp_path, {})
    segment = Segment(0, 0, 6)
    store = CheckpointStore(work, (segment,), {})
    for index in range(6):
        store.save(segment, index, np.full((4, 6, 3), index * 40, np.uint8))

    opened = threading.Event()

    class Sink:
        chunked, fps, frames, chunk_suffix = True, 10, [], ".mp4"

        def encode_chunk(self, path, frames, first):
            opened.wait()
            for frame in frames:
                self.frames.append(frame)
                output._stop.wait(10)  # the abort arrives while the chunk is being encoded

        def abort(self):
            pass

    output = open_output(Sink(), store, 0, 6, {"encode": 0.0})
    opened.set()
    output.abort()
    output.raise_if_failed()
    assert len(Sink.frames) <= 1 and not store.has_chunk(0, 3)
    assert sorted(path.name for path in tmp_path.glob("*.png")) == [f"frame_{k:06d}.png" for k in range(6)]
