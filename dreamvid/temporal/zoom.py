"""The zoom's runner: the classic infinite DeepDream zoom, where every frame is the previous dreamed frame
zoomed, rotated and moved about the centre (imageops.feedback_transform), then dreamed a little more, so
the patterns keep growing out of themselves.

A zoom is a clip of one segment whose source is the start picture and whose carry-over is that transform
instead of the optical flow: it goes through the local runner, so it has a video's progress, checkpoints,
resume, record and atomic output."""
from __future__ import annotations

from fractions import Fraction

from ..imageops import feedback_transform
from ..job import Job, JobResult
from ..progress import Reporter
from ..settings import Settings
from ..io.sinks import VideoSink
from ..io.sources import PictureSource
from .local import render_sequence


def run_zoom(job: Job, dreamer, settings: Settings, reporter: Reporter, batch: int, *,
             fresh: bool = False, keep_parts: bool = False) -> JobResult:
    """Frame 0 is the start picture dreamed with --steps; each later frame the transformed previous
    dream, dreamed with --flow-steps."""
    settings = settings.for_zoom()
    motion = job.motion
    fps = Fraction(settings.fps).limit_denominator(1001)
    source = PictureSource.open(job.source, motion.frames, fps)

    def sink(size, start, end):
        return VideoSink(job.output, size, fps, settings.crf, start, end, reporter.warn, None, codec=settings.codec)

    def carry(frame, prev_source, prev_dream, prev_known=None):
        return feedback_transform(prev_dream, *motion.at(frame.index)), None

    return render_sequence(job, source, sink, dreamer, settings, reporter, 1, fresh=fresh, keep_parts=keep_parts,
                           carry=carry)
