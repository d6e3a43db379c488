"""Flow, warp, occlusion mask and cut detection on tiny synthetic frames with known motion; the carried
dream's interpolation, catch-up and limit (pure functions)."""
import cv2
import numpy as np
import pytest

from clips import blurred_noise, shift
from dreamvid.flow import MotionEstimator, consistency_mask, cut_score, is_cut, warp
from helpers import high_frequency


HEIGHT, WIDTH = 64, 96


INTERIOR = (slice(12, -12), slice(12, -12))


@pytest.fixture
def estimator() -> MotionEstimator:
    return MotionEstimator()


def test_flow_recovers_a_known_translation(estimator):
    prev = blurred_noise(0)
    motion = estimator.estimate(prev, shift(prev, 2.5, -1.5))
    assert not motion.cut
    assert motion.backward.shape == (HEIGHT, WIDTH, 2) and motion.backward.dtype == np.float32
    median = np.median(motion.backward[INTERIOR], axis=(0, 1))
    np.testing.assert_allclose(median, [-2.5, 1.5], atol=0.5)


def test_flow_on_a_downscaled_copy_is_in_full_size_pixels():
    prev = blurred_noise(1, height=128, width=192, sigma=5.0)
    motion = MotionEstimator(max_side=96).estimate(prev, shift(prev, 4.0, 2.0))
    assert motion.backward.shape == (128, 192, 2)
    median = np.median(motion.backward[24:-24, 24:-24], axis=(0, 1))
    np.testing.assert_allclose(median, [-4.0, -2.0], atol=0.5)


def test_warp_follows_the_backward_convention():
    prev = blurred_noise(2)
    backward = np.zeros((HEIGHT, WIDTH, 2), np.float32)
    backward[..., 0], backward[..., 1] = -3.0, 2.0  # every pixel came from 3 px left, 2 px below
    warped = warp(prev, backward)
    expected = shift(prev, 3.0, -2.0)
    assert np.abs(warped[INTERIOR].astype(int) - expected[INTERIOR]).max() <= 1
    assert warp(prev.astype(np.float32), np.zeros_like(backward)).dtype == np.float32


def test_warp_along_estimated_flow_reproduces_the_current_frame(estimator):
    prev = blurred_noise(3)
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
    background = blurred_noise(4)
    square = blurred_noise(5)[:20, :20]
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
    prev = blurred_noise(6)
    mask = estimator.estimate(prev, shift(prev, 6.0, 0.0)).mask
    assert mask[16:-16, :4].mean() < 0.2
    assert mask[16:-16, 16:-16].mean() > 0.9


def test_hard_cut_is_detected(estimator):
    prev, cur = blurred_noise(7), blurred_noise(8)
    assert is_cut(prev, cur)
    motion = estimator.estimate(prev, cur)
    assert motion.cut and motion.mask.max() == 0.0


@pytest.mark.parametrize("dx, dy", [(2, 1), (4, -3), (7, 5)])
def test_fast_motion_is_not_a_cut(estimator, dx, dy):
    prev = blurred_noise(9)
    cur = shift(prev, dx, dy)
    motion = estimator.estimate(prev, cur)
    assert not motion.cut
    assert cut_score(prev, cur, motion.backward) < cut_score(prev, cur)  # compensation helps


def test_small_brightness_fade_is_not_a_cut(estimator):
    prev = blurred_noise(10)
    for cur in (np.clip(prev.astype(int) + 20, 0, 255).astype(np.uint8), (prev * 0.85).astype(np.uint8)):
        assert cut_score(prev, cur) < 27
        assert not estimator.estimate(prev, cur).cut


def test_unknown_preset_is_refused():
    with pytest.raises(ValueError, match="preset"):
        MotionEstimator(preset="slowest")


# --- the carried dream: interpolation, catch-up, limit -----------------------------------------------

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
