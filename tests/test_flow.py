"""Flow, warp, occlusion mask and cut detection on tiny synthetic frames with known motion."""

import cv2
import numpy as np
import pytest

from dreamvid.flow import MotionEstimator, consistency_mask, cut_score, is_cut, warp

HEIGHT, WIDTH = 64, 96
INTERIOR = (slice(12, -12), slice(12, -12))


def texture(seed: int, height: int = HEIGHT, width: int = WIDTH, sigma: float = 2.5) -> np.ndarray:
    """Blurred colour noise: trackable everywhere, different for every seed."""
    noise = np.random.default_rng(seed).random((height, width, 3)).astype(np.float32)
    noise = cv2.GaussianBlur(noise, (0, 0), sigma)
    noise = (noise - noise.min()) / (noise.max() - noise.min())
    return (noise * 255).round().astype(np.uint8)


def shift(image: np.ndarray, dx: float, dy: float) -> np.ndarray:
    """The image moved by (dx, dy) pixels: shift(image)(x + d) = image(x)."""
    matrix = np.float32([[1, 0, dx], [0, 1, dy]])
    size = (image.shape[1], image.shape[0])
    return cv2.warpAffine(image, matrix, size, flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)


@pytest.fixture
def estimator() -> MotionEstimator:
    return MotionEstimator()


def test_flow_recovers_a_known_translation(estimator):
    prev = texture(0)
    motion = estimator.estimate(prev, shift(prev, 2.5, -1.5))
    assert not motion.cut
    assert motion.backward.shape == (HEIGHT, WIDTH, 2) and motion.backward.dtype == np.float32
    median = np.median(motion.backward[INTERIOR], axis=(0, 1))
    np.testing.assert_allclose(median, [-2.5, 1.5], atol=0.5)


def test_flow_on_a_downscaled_copy_is_in_full_size_pixels():
    prev = texture(1, height=128, width=192, sigma=5.0)
    motion = MotionEstimator(max_side=96).estimate(prev, shift(prev, 4.0, 2.0))
    assert motion.backward.shape == (128, 192, 2)
    median = np.median(motion.backward[24:-24, 24:-24], axis=(0, 1))
    np.testing.assert_allclose(median, [-4.0, -2.0], atol=0.5)


def test_warp_follows_the_backward_convention():
    prev = texture(2)
    backward = np.zeros((HEIGHT, WIDTH, 2), np.float32)
    backward[..., 0], backward[..., 1] = -3.0, 2.0  # every pixel came from 3 px left, 2 px below
    warped = warp(prev, backward)
    expected = shift(prev, 3.0, -2.0)
    assert np.abs(warped[INTERIOR].astype(int) - expected[INTERIOR]).max() <= 1
    assert warp(prev.astype(np.float32), np.zeros_like(backward)).dtype == np.float32


def test_warp_along_estimated_flow_reproduces_the_current_frame(estimator):
    prev = texture(3)
    cur = shift(prev, 3.0, 2.0)
    motion = estimator.estimate(prev, cur)
    reliable = motion.mask[INTERIOR] == 1
    assert reliable.mean() > 0.9
    error = np.abs(warp(prev, motion.backward).astype(np.float32) - cur)[INTERIOR][reliable]
    unwarped = np.abs(prev.astype(np.float32) - cur)[INTERIOR][reliable]
    assert error.mean() < 2.0 < unwarped.mean() / 5


def test_consistency_mask_pure():
    zero = np.zeros((HEIGHT, WIDTH, 2), np.float32)
    assert consistency_mask(zero, zero).min() == 1.0
    right = zero.copy()
    right[..., 0] = 3.0
    mask = consistency_mask(forward=right, backward=-right)
    assert mask[:, :3].max() == 0.0  # came from outside the frame
    assert mask[:, 3:].min() == 1.0
    assert consistency_mask(forward=zero, backward=-right).max() == 0.0  # round trip misses by 3 px


def test_mask_is_zero_where_a_moving_square_uncovers_the_background(estimator):
    background = texture(4)
    square = texture(5)[:20, :20]
    prev, cur = background.copy(), background.copy()
    prev[20:40, 30:50] = square
    cur[20:40, 38:58] = square  # moved 8 px right: columns 30..37 are revealed
    mask = estimator.estimate(prev, cur).mask
    assert mask.dtype == np.float32 and mask.min() >= 0.0 and mask.max() <= 1.0
    assert mask[22:38, 31:37].mean() < 0.2
    far = np.ones_like(mask, bool)
    far[10:50, 20:68] = False
    assert mask[far].mean() > 0.9


def test_mask_is_zero_where_the_content_came_from_outside_the_frame(estimator):
    prev = texture(6)
    mask = estimator.estimate(prev, shift(prev, 6.0, 0.0)).mask
    assert mask[16:-16, :4].mean() < 0.2
    assert mask[16:-16, 16:-16].mean() > 0.9


def test_hard_cut_is_detected(estimator):
    prev, cur = texture(7), texture(8)
    assert is_cut(prev, cur)
    motion = estimator.estimate(prev, cur)
    assert motion.cut and motion.mask.max() == 0.0


@pytest.mark.parametrize("dx, dy", [(2, 1), (4, -3), (7, 5)])
def test_fast_motion_is_not_a_cut(estimator, dx, dy):
    prev = texture(9)
    cur = shift(prev, dx, dy)
    motion = estimator.estimate(prev, cur)
    assert not motion.cut
    assert cut_score(prev, cur, motion.backward) < cut_score(prev, cur)  # compensation helps


def test_small_brightness_fade_is_not_a_cut(estimator):
    prev = texture(10)
    for cur in (np.clip(prev.astype(int) + 20, 0, 255).astype(np.uint8), (prev * 0.85).astype(np.uint8)):
        assert cut_score(prev, cur) < 27
        assert not estimator.estimate(prev, cur).cut


def test_unknown_preset_is_refused():
    with pytest.raises(ValueError, match="preset"):
        MotionEstimator(preset="slowest")
