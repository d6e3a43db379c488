"""Holding a carried dream at its preview's strength (issue 23; --hold-strength, off by default). A preview
is a fresh dream of each frame; a carried frame starts from the dream before it, and its steps build on it
frame after frame, so a render comes out up to 1.25x stronger than the preview it was chosen from (the
short shots of benchmarks/motion.py), and its extra steps add to the warping error.

Each shot's first frame is dreamed fresh; its strength at each octave a carried frame dreams
(Dreamer.octave_strengths: each layer's mean activation, the frame at that octave's size) is the shot's
reference. A carried frame's step loop measures the same quantity over the pixels it holds from the frame
before (flow.carried_share) from the forward pass of each octave's first step, which it computes anyway
(so the hold costs no extra pass), and its carried pixels take the share of their step that is still
missing: all of it up to (1 - BAND) x the reference, none at the reference or above, linearly between; a
weak carry (under WEAK x) more, as much as fresh pixels take. Pixels the flow
could not carry catch up as before (flow.catch_up). A carried dream at strength thus takes no step; the
blend lets a little of it fade, and a later frame tops it up. The reference is chain state: it travels
with every finished frame into its checkpoint, so a resume goes on alike. It is kept per layer and
weighted by each frame's own layer weights, so a scheduled weight moves both sides alike; a schedule of
--step-size or --steps within a shot is held to the shot's first frame (a limit, said in the README).

Pure arithmetic, tested without a model; `share` is written so that the step loop of every backend computes
it on its own tensors (engine/steps.py)."""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Mapping

import numpy as np

from .flow import CARRIED_GAIN, FRESH_GAIN

# A carried dream short of its reference by BAND or more takes a plain step; by less, that share of it.
# Below WEAK x its reference (after fast motion, or a resume from before the hold) it takes more, up to
# FRESH_GAIN at (WEAK - WEAK_SPAN) x, as pixels the flow could not carry do.
#
# Measured with benchmarks/motion.py --quick (strength against --no-flow on the fast pan, crossing, short
# shots and slow pan; warping error against its floor): without the hold 0.92 / 0.99 / 1.16 / 1.10x and
# 1.55 / 1.10 / 1.46 / 1.26x; with the plain share only, a weak carry told by its RMS as before the hold,
# 0.86 / 0.97 / 1.05 / 1.06x and 1.59 / 1.09 / 1.35 / 1.24x. Aiming 5% above the reference: 0.89 / 1.00 /
# 1.12 / 1.10x, 1.57 / 1.12 / 1.42 / 1.28x. The share rising without a knee, (1 - s) / BAND up to
# FRESH_GAIN: 0.88 / 1.03 / 1.05 / 1.07x, 1.64 / 1.20 / 1.39 / 1.21x (a start trails its reference by
# 7-8%, what the carry loses, and took 2-3 steps' worth). No fade and no DELTA_LIMIT once held: the
# dream's fine detail grew 2.8x over the slow pan (the fade holds the detail, the hold the strength).
# As adopted, on the full set, measured with a pass of its own (0.4.0): 0.98 / 0.84 / 1.08 / 1.06x
# (without: 1.00 / 0.85 / 1.25 / 1.11x), warping error 2.42 / 1.35 / 2.03 / 1.42x its floor (2.50 / 1.36 /
# 2.31 / 1.46x), 18-24% slower. Measured in the step loop, per octave (0.5.0): 0.97 / 0.77 / 1.12 / 0.99x,
# 2.37 / 1.28 / 2.08 / 1.38x, as fast as without; the long pan's fine detail 1.33x at its end (1.02x without)
# and its windows 700-900 1.3-1.4x strong: why it is not the default (README, "Fast motion";
# benchmarks/README.md, issue 23). The step that measures is rolled (the jitter), and the roll's wrap seam
# moves the measure by up to 9% with the content under it: that holds the crossing under 0.9x; unrolled,
# the crossing met its targets but the unrolled step grew the slow pan's border to 1.6x.
BAND = 0.1
WEAK, WEAK_SPAN = 0.7, 0.4
# Each octave a carried frame dreams measures its own strength, against the reference at its size: one
# share for the frame, measured at its first (smaller) octave, held the crossing no stronger (0.79x) and the
# long pan no steadier (benchmarks/README.md). With a pass of its own at half size (0.4.0), the quick slow
# pan came out at 1.10x instead of 1.06x, its fine detail 1.19 instead of 1.11 after 200 frames.


def share(ratio, clip=np.clip):
    """The share of a plain step (0..FRESH_GAIN / CARRIED_GAIN) that carried pixels take at `ratio` = their
    strength / their shot's reference; `clip` is the array library's (keras.ops.clip inside a step loop)."""
    plain = clip((1.0 - ratio) / BAND, 0.0, 1.0)
    weak = clip((WEAK - ratio) / WEAK_SPAN, 0.0, 1.0)
    return plain + (FRESH_GAIN / CARRIED_GAIN - 1.0) * weak


def hold(strength: float, reference: float | None) -> float:
    """`share` from a strength and a reference; 1 (as without a hold) where either is unknown or the
    reference is not positive."""
    if reference is None or not math.isfinite(strength) or not math.isfinite(reference) or reference <= 0.0:
        return 1.0
    return float(share(strength / reference))


@dataclass(frozen=True)
class Held:
    """A batch of carried frames whose carried pixels the step loop holds at their shots' strength
    (--hold-strength): at each octave's first step it measures their strength over `where`, and they
    step by share(strength / reference) x `carried` on top of the step map Dreamer.dream is given."""

    carried: np.ndarray  # [B, H, W]: the carried pixels' step factor at a plain share (flow.catch_up)
    where: np.ndarray  # [B, H, W] in [0, 1]: the region measured (what is carried, and shown)
    # octave shape (h, w) -> [B]: each image's reference there (its shot's weighted strength; <= 0: none)
    references: Mapping[tuple[int, int], np.ndarray]
