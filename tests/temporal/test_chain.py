"""A segment's frames, each carried from the last along the flow: steadier than stills, a fresh start at a
cut, fresh pixels catching up, carried frames dreaming their top octaves, no drift over a long pan,
--flow-zoom zooming what is carried."""
from __future__ import annotations


import cv2
import numpy as np
import pytest

import dreamvid
from clips import cut_clip, moving_clip, read_rgb, translating_frames, write_frames
from doubles import StubDreamer
from dreamvid.score import frame_errors, score_videos, warping_error
from helpers import FAST, checkpoints, high_frequency, kept_pieces, write_png


def kept(pieces: dict[str, np.ndarray]) -> dict[int, np.ndarray]:
    """The kept frames among a render's saved pieces (see the `saved` fixture), by index."""
    return {int(name[6:12]): pixels for name, pixels in pieces.items() if name.startswith("frame_")}


def test_cut_restarts_the_dream(tmp_path, saved):
    source = tmp_path / "cut.mp4"
    cut_clip(source, frames=8, cut_at=4)
    dreamvid.render(source, tmp_path / "flow.mp4", dreamer=StubDreamer(), **FAST)
    dreamvid.render(source, tmp_path / "still.mp4", flow=False, dreamer=StubDreamer(), **FAST)
    flow, still = kept(saved["flow.mp4"]), kept(saved["still.mp4"])
    assert np.array_equal(flow[4], still[4])  # fresh start at the cut: as if dreamed alone
    assert np.array_equal(flow[0], still[0])
    assert not np.array_equal(flow[3], still[3])  # carried before the cut
    assert not np.array_equal(flow[5], still[5])  # and carried again after it


@pytest.mark.slow
def test_flow_lowers_the_warping_error(tmp_path):
    source = tmp_path / "pan.mp4"
    moving_clip(source, frames=10, size=(128, 80), dx=3, dy=1)
    settings = dict(model="vgg16-hed", steps=8, octaves=2)
    dreamvid.render(source, tmp_path / "flow.mp4", **settings)
    dreamvid.render(source, tmp_path / "still.mp4", flow=False, **settings)
    with_flow = score_videos(source, tmp_path / "flow.mp4")["dreamed"]
    without = score_videos(source, tmp_path / "still.mp4")["dreamed"]
    assert with_flow < 0.6 * without


@pytest.mark.slow
def test_sequence_is_steadier_than_stills(tmp_path):
    source = translating_frames(10, (128, 80), dx=3, dy=1)
    names = write_frames(tmp_path / "shot", source)
    settings = dict(model="vgg16-hed", steps=8, octaves=2)
    dreamvid.render(tmp_path / "shot", tmp_path / "clip", sequence=True, **settings)
    dreamvid.render(tmp_path / "shot", tmp_path / "stills", **settings)
    clip = [read_rgb(tmp_path / "clip" / name) for name in names]
    stills = [read_rgb(tmp_path / "stills" / name) for name in names]
    errors = frame_errors(clip, list(source))
    assert len(errors) == 9 and None not in errors  # one clip, no cut detected
    as_clip, as_stills = warping_error(clip, list(source)), warping_error(stills, list(source))
    # Measured: about 3.4e-5 as a clip against 4.1e-4 as stills (ratio 0.08).
    assert as_clip < 0.3 * as_stills
    assert np.abs(clip[0].astype(float) - source[0]).mean() > 2.0  # dreamed, not copied


def test_flow_zoom_zooms_the_carried_dream(tmp_path, natural, saved, monkeypatch):
    """A still shot (every frame the same): the second frame starts from the source plus what the first
    frame's dream added, which --flow-zoom scales about the centre; no steps then, so it shows as is."""
    monkeypatch.setattr("dreamvid.temporal.chain.DELTA_LIMIT", float("inf"))  # carried exactly, not held back
    shot = tmp_path / "shot"
    shot.mkdir()
    picture = natural(64, 96, seed=7)
    for index in range(2):
        write_png(shot / f"f_{index}.png", picture)
    source = cv2.imread(str(shot / "f_0.png"))[..., ::-1].astype(np.float32) / 255
    added = {}
    for zoom in (1.0, 1.25):
        output = tmp_path / f"out_{round(zoom * 100)}"
        dreamvid.render(shot, output, sequence=True, flow_zoom=zoom, blend=1.0, step_size=0.05,
                        model="vgg16-hed", octaves=1, steps=3, flow_steps=0, keep_parts=True)
        first, second = checkpoints(saved, output)
        added[zoom] = (first - source, second - source)
    plain_first, plain_second = added[1.0]
    first, second = added[1.25]
    assert np.array_equal(plain_first, first)  # the first frame has nothing carried
    assert np.abs(plain_second - plain_first).mean() < 0.1 * np.abs(plain_first).mean()  # carried as it was
    zoomed = cv2.warpAffine(first, cv2.getRotationMatrix2D((47.5, 31.5), 0, 1.25), (96, 64),
                            flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
    inside = (np.clip(source + zoomed, 0, 1) == source + zoomed).all(axis=2)  # where nothing was clipped
    assert np.abs(second - zoomed)[inside].mean() < 0.1 * np.abs(second - first)[inside].mean()


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


@pytest.mark.slow
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
    flow, noflow = (layer_energy(vgg_hed, np.stack(kept_pieces(saved, tmp_path / name)))
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


@pytest.mark.slow
def test_a_long_sub_pixel_pan_does_not_drift(tmp_path, vgg_hed, saved):
    """300 frames of a pan at 0.37 px per frame: every 100 frames show the same pictures as the first 100
    (the texture repeats every 100 frames), and their dream's strength, fine detail and brightness stay
    within 10% of the first's."""
    import dreamvid

    frames = periodic_pan(300, (48, 32), speed=0.37, period=37)
    folder = tmp_path / "pan"
    folder.mkdir()
    for index, frame in enumerate(frames):
        cv2.imwrite(str(folder / f"f{index:04d}.png"), frame[..., ::-1])
    output = tmp_path / "pan.mp4"
    dreamvid.render(folder, output, sequence=True, model="vgg16-hed", steps=10, octaves=1, jitter=4, batch=1,
                    streams=1)
    dreamed = np.stack(kept_pieces(saved, output))
    assert len(dreamed) == 300
    energy = np.concatenate([layer_energy(vgg_hed, dreamed[k:k + 50]) for k in range(0, 300, 50)])
    strength = energy.mean(axis=(1, 2))
    deltas = dreamed.astype(np.float32) / 255 - frames.astype(np.float32) / 255
    detail = np.array([high_frequency(delta) for delta in deltas])
    brightness = dreamed.reshape(300, -1).mean(axis=1)
    first = slice(0, 100)
    for name, values in (("strength", strength), ("detail", detail), ("brightness", brightness)):
        for window in (slice(100, 200), slice(200, 300)):  # every window, the middle one too
            ratio = values[window].mean() / values[first].mean()
            assert 0.9 <= ratio <= 1.1, (name, window, ratio)
