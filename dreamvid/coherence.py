"""`--coherence` as numbers: how much of the dream a carried frame keeps, and how many steps and octaves it
takes to catch up. Pure arithmetic, so the table below is tested without a model."""
from __future__ import annotations

import math


def coherence_values(coherence: float, steps: int) -> tuple[float, int, int]:
    """(blend, flow_steps, flow_octaves) for `--coherence` at `steps` steps per octave.

    0 dreams every frame afresh (and turns the flow off); 1 carries as much as it can. A carried frame
    takes flow_steps = steps ** (1 - coherence) steps (rounded, at least 1) and keeps
    blend = 1 - FADE x flow_steps / steps of the dream before it, so that what its steps add (more than
    plain steps: flow.catch_up) balances what the blend lets fade; from 0.75 it dreams only its 2
    largest octaves, from 0.95 only the largest (the coarse structure is carried). At 10 steps:

    | coherence | blend | flow-steps | octaves of a carried frame |
    |---|---|---|---|
    | 0 | (no flow: every frame dreamed alone) | 10 | all |
    | 0.25 | 0.7 | 6 | all |
    | 0.5 | 0.85 | 3 | all |
    | 0.75 | 0.9 | 2 | 2 |
    | 0.9 (default) | 0.95 | 1 | 2 |
    | 1 | 0.95 | 1 | 1 |

    With FADE 1 (blend 0.9 at the default) the crossing clip of benchmarks/motion.py kept 0.87x the strength
    of --no-flow; with 0.5, 0.93x at the same warping error (results/motion-blend0.95.json)."""
    if coherence <= 0.0 or steps <= 0:
        return 0.0, max(steps, 0), 0
    flow_steps = max(1, min(steps, math.floor(steps ** (1.0 - coherence) + 0.5)))
    octaves = next((count for start, count in FLOW_OCTAVES if coherence >= start), 0)
    return 1.0 - FADE * flow_steps / steps, flow_steps, octaves


# The share of a flow step's worth of the carried dream that fades per carried frame (see coherence_values).
FADE = 0.5

# (coherence from which, octaves a carried frame dreams), highest first; below them all octaves.
FLOW_OCTAVES = ((0.95, 1), (0.75, 2))
