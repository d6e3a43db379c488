"""Temporal warping error on tiny synthetic clips with known motion, flicker and cuts."""

import cv2
import numpy as np
import pytest

from dreamvid.errors import UserError
from dreamvid.score import frame_errors, warping_error
from test_flow import shift, texture


def moving_clip(seed: int, frames: int = 5, sigma: float = 2.5, size: tuple[int, int] = (64, 96)) -> list:
    """A texture panning 2 px right and 1 px down per frame."""
    base = texture(seed, height=size[0], width=size[1], sigma=sigma)
    return [shift(base, 2.0 * t, 1.0 * t) for t in range(frames)]


def flicker(frames: list, amount: float = 12.0) -> list:
    """Independent noise on every frame: what a dream without temporal carry-over looks like."""
    rng = np.random.default_rng(99)
    return [np.clip(f + rng.normal(0, amount, f.shape), 0, 255).astype(np.uint8) for f in frames]


def test_identical_static_frames_score_zero():
    frame = texture(20)
    assert warping_error([frame] * 4, [frame] * 4) < 1e-6


def test_flicker_scores_far_above_a_clean_moving_clip():
    clip = moving_clip(21)
    clean = warping_error(iter(clip), iter(clip))  # any iterables, consumed once
    noisy = warping_error(flicker(clip), clip)
    assert clean < 2e-5
    assert noisy > 20 * clean
    # independent noise of sigma s on [0, 1] values gives about 2 s^2 per pixel
    assert noisy == pytest.approx(2 * (12.0 / 255) ** 2, rel=0.3)


def test_a_pair_across_a_cut_is_excluded():
    clip = moving_clip(22, frames=3) + moving_clip(23, frames=3)
    errors = frame_errors(clip, clip)
    assert len(errors) == 5
    assert errors[2] is None
    assert all(e is not None and e < 2e-5 for i, e in enumerate(errors) if i != 2)
    assert warping_error(clip, clip) < 2e-5


def test_no_pair_scores_zero():
    assert warping_error([texture(24)], [texture(24)]) == 0.0
    assert frame_errors([], []) == []


def test_sources_are_resized_to_the_output_size():
    sources = moving_clip(25, sigma=5.0, size=(128, 192))
    outputs = [cv2.resize(f, (96, 64), interpolation=cv2.INTER_AREA) for f in sources]
    assert warping_error(outputs, sources) < 1e-4
    assert warping_error(flicker(outputs), sources) > 20 * warping_error(outputs, sources)


def test_different_lengths_are_refused():
    clip = moving_clip(26, frames=3)
    with pytest.raises(UserError, match="length"):
        warping_error(clip, clip[:2])
