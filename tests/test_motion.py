"""Fast motion and long shots (issue 12): fresh pixels catch up, carried frames dream fewer octaves,
the carried dream does not drift over a long pan, and --coherence maps onto blend, flow-steps and the
octave policy as documented."""
from __future__ import annotations

import cv2
import numpy as np
import pytest

from dreamvid.errors import UserError
from dreamvid.settings import FADE, build_settings, coherence_values


# --- --coherence -----------------------------------------------------------------------------------

@pytest.mark.parametrize("coherence, expected", [
    (0.0, (0.0, 10, 0)),  # per-frame dreams
    (0.25, (0.7, 6, 0)),
    (0.5, (0.85, 3, 0)),
    (0.75, (0.9, 2, 2)),
    (0.9, (0.95, 1, 2)),  # the default
    (1.0, (0.95, 1, 1)),
])
def test_coherence_maps_onto_blend_flow_steps_and_octaves(coherence, expected):
    blend, flow_steps, octaves = coherence_values(coherence, 10)
    assert (pytest.approx(blend), flow_steps, octaves) == expected
    if coherence > 0:  # what a carried frame adds (flow_steps) balances what the blend lets fade (1 - blend)
        assert 1 - blend == pytest.approx(FADE * flow_steps / 10)


def test_coherence_resolves_per_frame_and_the_old_flags_override_it():
    default = build_settings({}).at(0)
    assert (default.blend, default.flow_steps, default.flow_octaves) == (pytest.approx(0.95), 1, 2)
    low = build_settings({"coherence": 0.5}).at(0)
    assert (low.blend, low.flow_steps, low.flow_octaves) == (pytest.approx(0.85), 3, 0)
    given = build_settings({"coherence": 0.5, "blend": 0.95, "flow_steps": 2, "flow_octaves": 2}).at(0)
    assert (given.blend, given.flow_steps, given.flow_octaves) == (0.95, 2, 2)
    scheduled = build_settings({"coherence": 0.5, "steps": "0:(10), 10:(20)"})
    assert scheduled.at(10).flow_steps == 4 and scheduled.at(10).blend == pytest.approx(0.9)  # from that frame's steps
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
    assert (seen[0].at(0).blend, seen[0].at(0).flow_steps) == (pytest.approx(0.85), 3)
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


# --- fresh pixels catch up -----------------------------------------------------------------------

WIDTH, HEIGHT, SPEED, BAND = 128, 80, 16, (24, 56)  # an object crossing a still background


def crossing_clip(frames: int) -> tuple[np.ndarray, list[np.ndarray]]:
    """A still textured background and a 40 px square of another texture crossing it at SPEED px per
    frame; per frame, the pixels it revealed (covered in the frame before, background now)."""
    from clips import texture

    background, thing = texture(HEIGHT, WIDTH, seed=1), texture(BAND[1] - BAND[0], 40, seed=2)[..., ::-1]
    out, revealed, covered = [], [], None
    for index in range(frames):
        frame, box = background.copy(), np.zeros((HEIGHT, WIDTH), bool)
        left = -40 + SPEED * index
        a, b = max(0, left), min(WIDTH, left + 40)
        if a < b:
            frame[BAND[0]:BAND[1], a:b] = thing[:, a - left:b - left]
            box[BAND[0]:BAND[1], a:b] = True
        revealed.append(np.zeros_like(box) if covered is None else covered & ~box)
        covered = box
        out.append(frame)
    return np.stack(out), revealed


def layer_energy(dreamer, frames: np.ndarray) -> np.ndarray:
    """Mean over channels of the squared activation of the dreamed layer, per frame and position."""
    import tensorflow as tf

    features = dreamer.features
    images = tf.constant(frames.astype(np.float32) / 255.0 * 2.0 - 1.0)
    acts = features.model(features.preprocess(images), training=False)[dreamer.layers[0].name]
    return tf.reduce_mean(tf.square(tf.cast(acts, tf.float32)), axis=-1).numpy()


def region_mean(energy: np.ndarray, region: np.ndarray) -> float:
    cells = cv2.resize(region.astype(np.float32), energy.shape[::-1], interpolation=cv2.INTER_AREA) > 0.75
    return float(energy[cells].mean())


def dreamed_frames(saved, output) -> np.ndarray:
    """The kept frames a render checkpointed, in order (RGB, as dreamed: no encoding loss)."""
    pieces = saved[output.name]
    return np.stack([pieces[name] for name in sorted(pieces) if name.startswith("frame_")])


def test_revealed_pixels_reach_the_strength_of_carried_ones_within_three_frames(tmp_path, vgg_hed, saved):
    """Strength relative to a per-frame dream of the same clip (--no-flow), so that content does not
    count: pixels an object uncovers, two frames later (the third frame they are seen), against the
    never-covered rows above and below the object's path."""
    import dreamvid
    from clips import encode

    frames, revealed = crossing_clip(12)
    source = tmp_path / "crossing.mp4"
    encode(source, frames)
    options = dict(model="vgg16-hed", steps=6, octaves=2, octave_scale=1.4, jitter=8, batch=1, streams=1)
    dreamvid.render(source, tmp_path / "flow.mp4", **options)
    dreamvid.render(source, tmp_path / "noflow.mp4", flow=False, **options)
    flow, noflow = (layer_energy(vgg_hed, dreamed_frames(saved, tmp_path / name))
                    for name in ("flow.mp4", "noflow.mp4"))
    background = np.zeros((HEIGHT, WIDTH), bool)
    background[:BAND[0] - 8], background[BAND[1] + 8:] = True, True
    ratios = {later: [] for later in range(3)}
    for index in range(1, len(frames) - 2):
        if revealed[index].any():
            for later in range(3):
                at = index + later
                fresh = region_mean(flow[at], revealed[index]) / region_mean(noflow[at], revealed[index])
                carried = region_mean(flow[at], background) / region_mean(noflow[at], background)
                ratios[later].append(fresh / carried)
    ratios = ratios[2]  # the third frame in which the pixels are seen
    assert len(ratios) >= 5
    assert np.mean(ratios) >= 0.8, ratios


# --- no drift over a long shot ---------------------------------------------------------------------

def periodic_pan(frames: int, size: tuple[int, int], speed: float, period: int) -> np.ndarray:
    """A sub-pixel pan over a texture that repeats every `period` px, so frames `period / speed` apart
    show the same picture: the first and the last frames of the shot can be compared as they are."""
    from clips import texture

    width, height = size
    tile = texture(height, period, seed=5).astype(np.float32)
    out = []
    for index in range(frames):
        shift = np.float32([[1, 0, -(speed * index % period)], [0, 1, 0]])
        moved = cv2.warpAffine(tile, shift, (period, height), flags=cv2.INTER_CUBIC, borderMode=cv2.BORDER_WRAP)
        out.append(np.tile(moved, (1, width // period + 1, 1))[:, :width])
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)


def high_frequency(delta: np.ndarray) -> float:
    """Energy of what dreaming added above a Gaussian blur: its fine detail."""
    return float(np.mean((delta - cv2.GaussianBlur(delta, (0, 0), 1.5)) ** 2))


@pytest.mark.slow
def test_a_long_sub_pixel_pan_does_not_drift(tmp_path, vgg_hed, saved):
    """300 frames of a pan at 0.37 px per frame: the last 100 frames show the same pictures as the first
    100, and their dream's strength, fine detail and brightness stay within 10% of the first's."""
    import dreamvid

    frames = periodic_pan(300, (48, 32), speed=0.37, period=37)
    folder = tmp_path / "pan"
    folder.mkdir()
    for index, frame in enumerate(frames):
        cv2.imwrite(str(folder / f"f{index:04d}.png"), frame[..., ::-1])
    output = tmp_path / "pan.mp4"
    dreamvid.render(folder, output, sequence=True, model="vgg16-hed", steps=10, octaves=1, jitter=4, batch=1,
                    streams=1)
    dreamed = dreamed_frames(saved, output)
    assert len(dreamed) == 300
    energy = np.concatenate([layer_energy(vgg_hed, dreamed[k:k + 50]) for k in range(0, 300, 50)])
    strength = energy.mean(axis=(1, 2))
    deltas = dreamed.astype(np.float32) / 255 - frames.astype(np.float32) / 255
    detail = np.array([high_frequency(delta) for delta in deltas])
    brightness = dreamed.reshape(300, -1).mean(axis=1)
    first, last = slice(0, 100), slice(200, 300)
    for name, values in (("strength", strength), ("detail", detail), ("brightness", brightness)):
        ratio = values[last].mean() / values[first].mean()
        assert 0.9 <= ratio <= 1.1, (name, ratio)


# --- the carried dream: interpolation, catch-up, limit (pure functions) -------------------------------

def test_repeated_sub_pixel_warps_keep_the_carried_detail():
    """The carried dream is warped again every frame: its fine detail must neither fade (bilinear) nor
    build up (bicubic's overshoot) over 30 warps of 0.37 px."""
    from dreamvid.flow import CARRY_INTERPOLATION, warp

    rng = np.random.default_rng(0)
    delta = cv2.GaussianBlur(rng.standard_normal((64, 96, 3)).astype(np.float32), (0, 0), 1.0)
    backward = np.zeros((64, 96, 2), np.float32)
    backward[..., 0] = 0.37
    carried = delta
    for _ in range(30):
        carried = warp(carried, backward, CARRY_INTERPOLATION)
    # 30 x 0.37 = 11.1 px: compare with the same part of the original, away from the replicated border
    kept = high_frequency(carried[:, :60]) / high_frequency(delta[:, 11:71])
    assert 0.8 <= kept <= 1.25, kept
    assert 0.9 <= carried[:, :60].std() / delta[:, 11:71].std() <= 1.1


def test_fresh_pixels_take_larger_steps_and_nothing_carried_means_a_plain_dream():
    from dreamvid.flow import CARRIED_GAIN, FRESH_GAIN, catch_up

    mask = np.array([[1.0, 0.0, 0.5]], np.float32)
    steps = catch_up(1.0 - mask * 0.9, blend=0.9)
    assert steps[0, 0] == pytest.approx(CARRIED_GAIN) and steps[0, 1] == pytest.approx(FRESH_GAIN)
    assert CARRIED_GAIN < steps[0, 2] < FRESH_GAIN
    assert np.all(catch_up(np.ones((2, 2), np.float32), blend=0.0) == 1.0)  # blend 0: per-frame dreams
    # a carried frame that skips coarse octaves takes larger steps on the ones it dreams
    assert catch_up(1.0 - mask * 0.9, 0.9, octaves=1, all_octaves=3)[0, 0] > CARRIED_GAIN


def test_the_carried_delta_is_held_to_its_limit_and_a_weak_one_counts_as_partly_fresh():
    from dreamvid.flow import DELTA_LIMIT, dream_rms, freshness, limited, rms

    delta = np.full((4, 4, 3), 0.2, np.float32)
    limit = DELTA_LIMIT * dream_rms(steps=10, step_size=0.01, octaves=3)
    assert rms(limited(delta, limit)) == pytest.approx(limit, rel=1e-5)
    small = delta * 0.01
    assert limited(small, limit) is small
    assert dream_rms(10, 0.02, 3) == pytest.approx(2 * dream_rms(10, 0.01, 3))
    mask = np.array([[1.0, 0.0]], np.float32)
    assert freshness(mask, 0.9, 1.3) == pytest.approx(np.array([[0.1, 1.0]]))  # a full dream: only the fade
    assert freshness(mask, 0.9, 0.5) == pytest.approx(np.array([[0.55, 1.0]]))  # half a dream: half fresh
