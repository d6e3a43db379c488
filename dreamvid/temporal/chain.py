"""A chain: one segment's frames, each starting from the previous dreamed frame carried along the
optical flow. Decoding and flow run a few frames ahead in a thread. A chain knows nothing of where
its frames are stored: it starts from its segment's first frame or from a resume point it is given.

A finished frame gets its look before it is stored (colours.ColourLook, then the matte), so the chain
carries what the output shows and a resume, which reads the stored frame back, goes on alike."""
from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Callable, Iterator

import numpy as np

from ..flow import (CARRY_INTERPOLATION, DELTA_LIMIT, Motion, MotionEstimator, dream_rms, freshness, limited, rms,
                    warp)
from ..colours import ColourLook
from ..imageops import feedback_transform, from_float, matted, resize, to_float, unmatted
from ..settings import FrameValues, Settings
from ..io.mattes import Matte
from ..io.sources import FrameSource
from .plan import Segment
from .threads import FlowThreads, Prefetch, ordered


@dataclass
class Frame:
    """One frame of a chain, decoded, resized and with its motion from the frame before."""

    index: int
    source: np.ndarray  # float32 RGB at processing size
    motion: Motion | None  # None for the first frame of a chain
    matte: np.ndarray | None = None  # float32 H x W at processing size (--mask): 1 dreams, 0 keeps the source

    @property
    def cut(self) -> bool:
        """The frame begins a shot."""
        return self.motion is not None and self.motion.cut


@dataclass(frozen=True)
class Start:
    """A frame ready to dream: the picture it starts from, whether a dream was carried into it, and how
    fresh each of its pixels is (1 - the share of the dream carried into it; None: all alike)."""

    frame: Frame
    image: np.ndarray
    carried: bool = False
    fresh: np.ndarray | None = None


# A shot's strength reference (dreamvid/hold.py): per octave shape (h, w) its carried frames dream, each
# layer's strength there, unweighted.
Reference = dict[tuple[int, int], tuple[float, ...]]


@dataclass(frozen=True)
class ResumePoint:
    """Where a chain goes on: the last frame it finished (quantised pixels, as stored) and its shot's
    strength reference (None: not known), or nothing."""

    index: int
    pixels: np.ndarray
    reference: Reference | None = None


# (frame, previous source, previous dream, where the previous dream is known: None everywhere, else 0 where
# a matte hid it) -> the picture the frame starts from and how fresh each of its pixels is (1 - the share of
# the dream carried into it; None: all alike), or None to dream it afresh from its source. A video carries
# the dream along the flow; a zoom transforms it.
Carry = Callable[[Frame, np.ndarray, np.ndarray, "np.ndarray | None"], "tuple[np.ndarray, np.ndarray | None] | None"]


def flow_carry(settings: Settings, values: Callable[[int], FrameValues]) -> Carry:
    """What dreaming added to the previous frame, moved along the flow where it is reliable (and, with
    --flow-zoom, zoomed about the centre as in a feedback zoom), added to the current source, scaled
    by the frame's --blend. Warped with CARRY_INTERPOLATION, which does not soften it frame after frame,
    and held to DELTA_LIMIT x a fresh dream's RMS, so that it does not grow over a long shot. Its freshness
    map says how much of a fresh dream each pixel lacks (flow.freshness), for flow.catch_up.

    With a matte, nothing is carried from where the previous frame's matte hid the dream (those pixels are
    fresh), and strengths are measured where this frame's matte shows the dream, not diluted by the rest."""
    def carry(frame: Frame, prev_source: np.ndarray, prev_dream: np.ndarray, prev_known: np.ndarray | None = None):
        if frame.motion is None or frame.motion.cut:
            return None
        value = values(frame.index)
        added = warp(prev_dream - prev_source, frame.motion.backward, CARRY_INTERPOLATION)
        if settings.flow_zoom != 1.0:
            added = feedback_transform(added, zoom=settings.flow_zoom)
        reliable = frame.motion.mask
        if prev_known is not None:
            reliable = reliable * warp(prev_known, frame.motion.backward)
        shown = None if frame.matte is None else frame.matte > 0
        expected = dream_rms(value.steps, value.step_size, settings.octaves)
        added = limited(added, DELTA_LIMIT * expected, shown)
        kept = reliable * value.blend
        start = np.clip(frame.source + added * kept[..., None], 0.0, 1.0)
        return start, freshness(reliable, value.blend, rms(added, shown) / expected if expected > 0 else 1.0)

    return carry


class Chain:
    """One segment being dreamed: decodes its frames and estimates flow in a background thread, and
    keeps the chain's state (the previous source and dreamed frame) between batches."""

    def __init__(self, segment: Segment, source: FrameSource, size: tuple[int, int], settings: Settings,
                 values: Callable[[int], FrameValues], timings: dict[str, float], carry: Carry | None = None,
                 resume: ResumePoint | None = None, flow_threads: FlowThreads | None = None,
                 matte: Matte | None = None, colour_reference: tuple[float, ...] | None = None):
        """`flow_threads`: threads that estimate the flow of the frames ahead at once (DIS takes 30-250 ms
        per 720p pair on one core: one thread per chain would hold a fast accelerator back). `matte`: the
        --mask, read frame by frame with the source; `colour_reference`: the plan's (--color-match first)."""
        self.segment, self.settings, self.timings = segment, settings, timings
        self.values = values  # the scheduled parameters at a source frame
        self._carry = carry or flow_carry(settings, values)
        self._look = ColourLook(settings.colors, colour_reference)
        self._matte = matte
        self.dtype = source.dtype
        self.prev_source: np.ndarray | None = None
        self.prev_dream: np.ndarray | None = None  # the dream before the matte
        self.prev_known: np.ndarray | None = None  # where a matte let the previous dream be read back
        # the strength of the shot's fresh dream, that its carried frames hold to (dreamvid/hold.py)
        self.reference: Reference | None = resume.reference if resume is not None else None
        # A resumed chain decodes from its last finished frame, which only restores its state.
        self._restore = resume
        first = resume.index if resume is not None else segment.first
        self._flow = flow_threads
        self._estimators = threading.local()  # a DIS instance is not thread-safe: one per thread
        depth = 2 + (2 * flow_threads.count if flow_threads is not None else 0)
        self._frames = Prefetch(self._read(source, size, first), depth=depth, name=f"decode-{segment.index}")

    def _decoded(self, source: FrameSource, size: tuple[int, int], first: int):
        """(index, frame at processing size, the frame before it in 8 bits, this one in 8 bits, its matte)."""
        height, width = size
        previous = None
        frames = source.read(first, self.segment.end)
        mattes = self._matte.read(first, self.segment.end, size) if self._matte is not None else None
        for index in range(first, self.segment.end):
            tick = time.monotonic()
            small = resize(next(frames), height, width)
            eight_bit = from_float(small, np.uint8)  # flow works on 8-bit grey
            matte = next(mattes) if mattes is not None else None
            self.timings["decode"] += time.monotonic() - tick
            yield index, small, previous, eight_bit, matte
            previous = eight_bit

    def _motion(self, decoded) -> Motion | None:
        _, _, previous, current, _ = decoded
        if not self.settings.flow or previous is None:
            return None
        estimator = getattr(self._estimators, "estimator", None)
        if estimator is None:
            estimator = self._estimators.estimator = MotionEstimator(cut_threshold=self.settings.cut_threshold)
        tick = time.monotonic()
        motion = estimator.estimate(previous, current)
        self.timings["flow"] += time.monotonic() - tick
        return motion

    def _read(self, source: FrameSource, size: tuple[int, int], first: int) -> Iterator[Frame]:
        pool, ahead = (self._flow.executor, 2 * self._flow.count) if self._flow is not None else (None, 0)
        for (index, small, _, _, matte), motion in ordered(self._decoded(source, size, first), self._motion, pool,
                                                            ahead):
            yield Frame(index, small, motion, matte)

    def next_start(self) -> Start | None:
        """The next frame to dream and the picture it starts from (None: the segment is done)."""
        for frame in self._frames:
            if self._restore is not None and frame.index == self._restore.index:
                self._remember(frame, to_float(self._restore.pixels))
                self._restore = None
                continue
            carried = None if self.prev_dream is None else self._carry(frame, self.prev_source, self.prev_dream,
                                                                       self.prev_known)
            if carried is None:
                return Start(frame, frame.source)
            start, fresh = carried
            return Start(frame, start, True, fresh)
        return None

    def finished(self, frame: Frame, dreamed: np.ndarray) -> np.ndarray:
        """Give a dreamed frame its look (colours, then the matte) and record it; returns its quantised
        pixels. The chain goes on from the quantised frame, exactly what a resumed run reads back, so a
        resume gives the same frames."""
        looked = self._look.apply(dreamed, frame.source)
        quantised = from_float(looked if frame.matte is None else matted(frame.source, looked, frame.matte),
                               self.dtype)
        self._remember(frame, to_float(quantised))
        return quantised

    def _remember(self, frame: Frame, stored: np.ndarray) -> None:
        """The chain's state after a stored frame: its source and its dream, read back from under the matte."""
        self.prev_source = frame.source
        if frame.matte is None:
            self.prev_dream, self.prev_known = stored, None
        else:
            self.prev_dream, self.prev_known = unmatted(frame.source, stored, frame.matte)

    def close(self) -> None:
        self._frames.close()
