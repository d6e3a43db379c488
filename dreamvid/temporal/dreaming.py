"""Dream segments: runs anywhere (in the driver's process, or in a cluster worker). Several chains
are dreamed side by side, their frames in one batch, so a video fills the accelerator although each
frame depends on the one before it. Frames come out as they are finished, with what a driver needs
to store and log them."""
from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass, replace
from typing import Callable, Iterable, Iterator

import numpy as np

from ..flow import CARRIED_GAIN, FRESH_GAIN, carried_share, catch_up
from ..hold import Held
from ..imageops import to_float
from ..settings import FrameValues, Settings
from .chain import Chain, Reference, ResumePoint, Start
from .plan import Segment


@dataclass(frozen=True)
class Finished:
    """A dreamed frame of a segment: its quantised pixels, and the seconds its round took per frame."""

    segment: Segment
    index: int
    pixels: np.ndarray
    seconds: float
    cut: bool  # the frame begins a shot
    reference: Reference | None = None  # its chain's strength reference after it (dreamvid/hold.py)

    @property
    def kept(self) -> bool:
        return self.index >= self.segment.start


# A step map whose largest value is under this (a factor on --step-size) leaves its frame undreamed.
IDLE = 1e-3

# (segment, resume point) -> a chain that dreams it
OpenChain = Callable[[Segment, "ResumePoint | None"], Chain]


def dream_segments(work: Iterable[tuple[Segment, ResumePoint | None]], open_chain: OpenChain, dreamer,
                   settings: Settings, values: Callable[[int], FrameValues], batch: int, streams: int,
                   timings: dict[str, float]) -> Iterator[list[Finished]]:
    """Dream every given segment from its resume point, `streams` chains side by side; yields the
    frames of each round (one frame per chain) as soon as the round is dreamed."""
    lanes = _Lanes(work, streams, open_chain)
    try:
        while todo := _timed(timings, "wait", lanes.next_round):
            tick = time.monotonic()
            dreamed = dream_round(todo, dreamer, settings, values, batch, timings)
            seconds = (time.monotonic() - tick) / len(todo)
            yield [Finished(chain.segment, start.frame.index, pixels, seconds, start.frame.cut, chain.reference)
                   for (chain, start), pixels in zip(todo, dreamed)]
    finally:
        lanes.close()


def _timed(timings: dict[str, float], stage: str, function, *args):
    tick = time.monotonic()
    result = function(*args)
    timings[stage] += time.monotonic() - tick
    return result


class _Lanes:
    """`streams` chains side by side; a lane whose segment is finished takes the next one."""

    def __init__(self, work: Iterable[tuple[Segment, ResumePoint | None]], streams: int, open_chain: OpenChain):
        self._pending = deque(work)
        self._open_chain = open_chain
        self._lanes: list[Chain | None] = [None] * streams

    def next_round(self) -> list[tuple[Chain, Start]]:
        """The next frame of every lane (empty when all segments are done)."""
        todo = []
        for lane in range(len(self._lanes)):
            while True:
                if self._lanes[lane] is None and self._pending:
                    self._lanes[lane] = self._open_chain(*self._pending.popleft())
                chain = self._lanes[lane]
                if chain is None:
                    break
                item = chain.next_start()
                if item is not None:
                    todo.append((chain, item))
                    break
                chain.close()
                self._lanes[lane] = None
        return todo

    def close(self) -> None:
        for chain in self._lanes:
            if chain is not None:
                chain.close()


@dataclass(frozen=True)
class _Entry:
    """One lane's frame in a round: where its result goes, its chain, its start and its scheduled values."""

    position: int
    chain: Chain
    start: Start
    value: FrameValues


def dream_round(todo: list[tuple[Chain, Start]], dreamer, settings: Settings, values: Callable[[int], FrameValues],
                batch: int, timings: dict[str, float]) -> list[np.ndarray]:
    """Dream one frame of each lane, at most `batch` at a time; returns each frame's quantised pixels,
    in the order of `todo`. A batch shares its step count, octaves and jitter (carried frames take
    --flow-steps and --flow-octaves, so they form their own batches); step sizes, step maps and layer
    weights are per frame, so schedules rarely split a batch. A carried frame's pixels take the step
    sizes of flow.catch_up: larger where they are fresh; none where a matte is black; on carried pixels,
    held, only what the dream still lacks of its shot's fresh strength, which the step loop measures
    (dreamvid/hold.py). A frame left with no step anywhere is not dreamed: it is its start."""
    results: list[np.ndarray | None] = [None] * len(todo)
    holding = settings.flow and settings.hold_strength
    groups: dict[tuple[bool, int, int, int], list[_Entry]] = {}
    for position, (chain, start) in enumerate(todo):
        value = values(start.frame.index)
        key = (start.carried, value.flow_steps if start.carried else value.steps,
               value.flow_octaves if start.carried else 0, value.jitter)
        groups.setdefault(key, []).append(_Entry(position, chain, start, value))
    for (carried, steps, octaves, jitter), group in sorted(groups.items(), key=lambda item: item[0]):
        for offset in range(0, len(group), batch):
            part = group[offset:offset + batch]
            starts = np.stack([entry.start.image for entry in part])
            weights = [entry.value.layer_weights for entry in part]
            params = replace(settings.dream_params(part[0].value), steps=steps, jitter=jitter,
                             step_size=tuple(entry.value.step_size for entry in part),
                             layer_weights=None if weights[0] is None else tuple(weights))
            held = _held(part, dreamer, params, octaves) if carried and holding else None
            step_map = None
            if held is not None or any(entry.start.frame.matte is not None for entry in part) or (
                    carried and any(entry.start.fresh is not None for entry in part)):
                step_map = np.stack([_step_map(entry, carried, octaves, settings.octaves, 0.0 if held else 1.0)
                                     for entry in part])
            # a frame whose largest step is under a thousandth of --step-size would not change a level
            most = step_map if held is None else step_map + held.carried * (FRESH_GAIN / CARRIED_GAIN)
            moving = [k for k in range(len(part)) if most is None or most[k].max() > IDLE]
            if len(moving) == len(part):  # as nearly always: the batch as it is, not a copy of it
                dreamed = list(_timed(timings, "dream", dreamer.dream, starts, params, steps, step_map,
                                      octaves or None, held))
            else:
                dreamed = list(starts)
                if moving:
                    some = _timed(timings, "dream", dreamer.dream, starts[moving], _only(params, moving), steps,
                                  None if step_map is None else step_map[moving], octaves or None,
                                  None if held is None else _only_held(held, moving))
                    for k, image in zip(moving, some):
                        dreamed[k] = image
            for entry, image in zip(part, dreamed):
                results[entry.position] = entry.chain.finished(entry.start.frame, image)
            if holding and not carried:
                _set_references(part, [results[entry.position] for entry in part], dreamer, params,
                                part[0].value.flow_octaves, timings)
    return results


def _held(part: list[_Entry], dreamer, params, octaves: int) -> Held:
    """What the step loop needs to hold a batch of carried frames (hold.Held): their carried pixels' step
    (the step map at a plain share less that at none: flow.catch_up is linear in its share), where they are
    carried (and shown), and at each octave each frame's reference, weighted by the frame's own layer
    weights as the loop weighs its strength (a scheduled weight moves both alike). A chain without a
    reference takes every step."""
    carried = np.stack([_step_map(entry, True, octaves, params.octaves, 1.0)
                        - _step_map(entry, True, octaves, params.octaves, 0.0) for entry in part])
    where = np.stack([_carried_where(entry) for entry in part])
    references = {shape: np.array([_weighted_reference(entry, shape) for entry in part])
                  for shape in dreamer.octave_shapes(*where.shape[1:], params, octaves or None)}
    return Held(carried, where, references)


def _weighted_reference(entry: _Entry, shape: tuple[int, int]) -> float:
    """A frame's shot's strength at an octave's `shape`, weighted by the frame's layer weights (NaN: none)."""
    reference = entry.chain.reference
    if reference is None or shape not in reference:
        return np.nan
    return float(_weights(entry.value, len(reference[shape])) @ np.asarray(reference[shape]))


def _only_held(held: Held, keep: list[int]) -> Held:
    """The batch's Held for the images at `keep`."""
    return Held(held.carried[keep], held.where[keep],
                {shape: values[keep] for shape, values in held.references.items()})


def _weights(value: FrameValues, count: int) -> np.ndarray:
    """A frame's layer weights (1 each when no --layer was given: the model's defaults)."""
    return np.ones(count) if value.layer_weights is None else np.asarray(value.layer_weights, np.float64)


def _carried_where(entry: _Entry) -> np.ndarray:
    start = entry.start
    share = np.ones(start.image.shape[:2], np.float32) if start.fresh is None \
        else carried_share(start.fresh, entry.value.blend)
    return share if start.frame.matte is None else share * (start.frame.matte > 0)


def _set_references(part: list[_Entry], pixels: list[np.ndarray], dreamer, params, octaves: int, timings) -> None:
    """A fresh frame's strength at each layer (where its matte shows it), at the size of each octave its
    carried frames dream, becomes its chain's reference; measured on the stored pixels, as a resume reads
    them back. A forward pass per octave, once a shot."""
    images = np.stack([to_float(picture) for picture in pixels])
    where = None
    if any(entry.start.frame.matte is not None for entry in part):
        where = np.stack([np.ones(images.shape[1:3], np.float32) if entry.start.frame.matte is None
                          else (entry.start.frame.matte > 0).astype(np.float32) for entry in part])
    found = _timed(timings, "dream", dreamer.octave_strengths, images, params, octaves or None, where)
    for k, entry in enumerate(part):
        entry.chain.reference = {shape: tuple(float(value) for value in layers[k]) for shape, layers in found.items()}


def _only(params, keep: list[int]):
    """The batch's parameters for the images at `keep` (per-image step sizes and layer weights)."""
    weights = params.layer_weights
    if weights is not None and isinstance(weights[0], tuple):
        weights = tuple(weights[k] for k in keep)
    step_size = params.step_size
    if isinstance(step_size, tuple):
        step_size = tuple(step_size[k] for k in keep)
    return replace(params, step_size=step_size, layer_weights=weights)


def _step_map(entry: _Entry, carried: bool, octaves: int, all_octaves: int, share: float = 1.0) -> np.ndarray:
    """A frame's step size per pixel, as a factor on --step-size: flow.catch_up's for a carried frame
    (its carried pixels held to `share` of their step), 1 for a fresh one; 0 where its matte is black
    (what is dreamed there would never be shown)."""
    start = entry.start
    steps = np.ones(start.image.shape[:2], np.float32) if not carried or start.fresh is None \
        else catch_up(start.fresh, entry.value.blend, octaves, all_octaves, share)
    matte = start.frame.matte
    return steps if matte is None else steps * (matte > 0)
