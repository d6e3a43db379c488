"""A video or an image sequence, to a video file or a folder of frames: the source and sink for a
temporal job, handed to the runner."""
from __future__ import annotations

import numpy as np

from ..io.sinks import FramesSink, VideoSink
from ..io.sources import SequenceSource, VideoSource
from ..job import Job, JobResult, Kind
from ..progress import Reporter
from ..settings import Settings
from .local import render_sequence


def run_temporal(job: Job, dreamer, settings: Settings, reporter: Reporter, batch: int, *,
                 fresh: bool = False, keep_parts: bool = False, pool=None) -> JobResult:
    """Dreamed here by `dreamer`, or by the workers of a Ray `pool` (cluster.WorkerPool)."""
    if job.kind is Kind.VIDEO:
        source = VideoSource(job.info) if job.info is not None else VideoSource.open(job.source)  # probed once
    else:
        source = SequenceSource.open(job.source, job.frames, settings.fps)

    def sink(size, start, end):
        if job.frame_names is not None:
            floating = source.float_type is not None
            return FramesSink(job.output, job.frame_names[start:end], source.float_type if floating else source.dtype,
                              source.alpha, start, source.original if floating else None)
        audio = job.source if settings.audio and source.has_audio else None
        bits = 16 if source.dtype == np.uint16 else 8  # a video's own depth is in its info
        return VideoSink(job.output, size, source.fps, settings.crf, start, end, reporter.warn, audio, source.info,
                         codec=settings.codec, source_bits=None if source.info else bits,
                         alpha=source.alpha if source.has_alpha else None)

    if pool is not None:
        from .cluster import render_on_ray

        return render_on_ray(job, source, sink, pool, settings, reporter, fresh=fresh, keep_parts=keep_parts)
    return render_sequence(job, source, sink, dreamer, settings, reporter, batch, fresh=fresh, keep_parts=keep_parts)
