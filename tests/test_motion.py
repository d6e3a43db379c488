"""Fast motion and long shots (issue 12): fresh pixels catch up, carried frames dream fewer octaves,
the carried dream does not drift over a long pan, and --coherence maps onto blend, flow-steps and the
octave policy as documented."""
from __future__ import annotations

import cv2
import numpy as np
import pytest

from dreamvid.errors import UserError
from dreamvid.settings import DreamParams, build_settings, coherence_values


# --- --coherence -----------------------------------------------------------------------------------

@pytest.mark.parametrize("coherence, expected", [
    (0.0, (0.0, 10, 0)),  # per-frame dreams
    (0.25, (0.4, 6, 0)),
    (0.5, (0.7, 3, 0)),
    (0.75, (0.8, 2, 2)),
    (0.9, (0.9, 1, 2)),  # the default
    (1.0, (0.9, 1, 1)),
])
def test_coherence_maps_onto_blend_flow_steps_and_octaves(coherence, expected):
    blend, flow_steps, octaves = coherence_values(coherence, 10)
    assert (pytest.approx(blend), flow_steps, octaves) == expected
    # what a carried frame adds (flow_steps) balances what the blend lets fade (1 - blend)
    assert 1 - blend == pytest.approx(flow_steps / 10)


def test_coherence_resolves_per_frame_and_the_old_flags_override_it():
    default = build_settings({}).at(0)
    assert (default.blend, default.flow_steps, default.flow_octaves) == (pytest.approx(0.9), 1, 2)
    low = build_settings({"coherence": 0.5}).at(0)
    assert (low.blend, low.flow_steps, low.flow_octaves) == (pytest.approx(0.7), 3, 0)
    given = build_settings({"coherence": 0.5, "blend": 0.95, "flow_steps": 2, "flow_octaves": 2}).at(0)
    assert (given.blend, given.flow_steps, given.flow_octaves) == (0.95, 2, 2)
    scheduled = build_settings({"coherence": 0.5, "steps": "0:(10), 10:(20)"})
    assert scheduled.at(10).flow_steps == 4 and scheduled.at(10).blend == pytest.approx(0.8)  # from that frame's steps
    assert build_settings({"coherence": 0.0}).flow is False  # per-frame dreams need no flow
    assert build_settings({"coherence": 0.0, "flow": True}).flow is True


def test_coherence_out_of_bounds_is_a_user_error():
    with pytest.raises(UserError, match="--coherence must be <= 1"):
        build_settings({"coherence": 1.5})
    with pytest.raises(UserError, match="--flow-octaves must be >= 0"):
        build_settings({"flow_octaves": -1})


def test_the_command_line_takes_coherence_and_the_overrides(monkeypatch):
    """Parsed as the CLI parses it (the render stops right after the settings are built)."""
    import dreamvid.jobs
    from typer.testing import CliRunner

    from dreamvid.cli import app

    seen = []

    def stop(inputs, settings, *args, **kwargs):
        seen.append(settings)
        raise SystemExit(0)

    monkeypatch.setattr(dreamvid.jobs, "plan_jobs", stop)
    runner = CliRunner()
    assert runner.invoke(app, ["render", "clip.mp4", "--coherence", "0.5"]).exit_code == 0
    assert runner.invoke(app, ["render", "clip.mp4", "--coherence", "0.5", "--blend", "0.6",
                               "--flow-octaves", "2"]).exit_code == 0
    assert seen[0].coherence == 0.5 and seen[0].blend is None
    assert (seen[0].at(0).blend, seen[0].at(0).flow_steps) == (pytest.approx(0.7), 3)
    assert (seen[1].at(0).blend, seen[1].at(0).flow_steps, seen[1].at(0).flow_octaves) == (0.6, 3, 2)


# --- octaves of carried frames -------------------------------------------------------------------

def test_carried_frames_dream_only_the_top_octaves(tmp_path, vgg_hed):
    """A carried frame already holds the coarse structure: with --flow-octaves 1 it runs the steps of its
    largest octave only (counted, not timed), while the first frame of the shot dreams every octave."""
    import dreamvid
    from clips import moving_clip

    source = tmp_path / "clip.mp4"
    moving_clip(source, frames=6, size=(96, 64))
    counts = {}
    for octaves in (0, 1, None):  # every octave, the largest only, the default (--coherence 0.9: the top 2)
        before = vgg_hed.steps_run
        dreamvid.render(source, tmp_path / f"out{octaves}.mp4", model="vgg16-hed", steps=2, octaves=3,
                        octave_scale=1.4, flow_steps=1, jitter=4, flow_octaves=octaves, batch=1, streams=1)
        counts[octaves] = vgg_hed.steps_run - before
    assert counts[0] == 2 * 3 + 5 * 1 * 3  # first frame: 2 steps x 3 octaves; 5 carried frames: 1 x 3
    assert counts[1] == 2 * 3 + 5 * 1 * 1
    assert counts[None] == 2 * 3 + 5 * 1 * 2
