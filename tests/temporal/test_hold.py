"""The hold of a carried dream at its shot's fresh strength, as arithmetic (dreamvid/hold.py), and the
reference it needs, kept in every checkpoint so that a resume holds alike."""
import math

import numpy as np
import pytest

from dreamvid.flow import CARRIED_GAIN, FRESH_GAIN, carried_share, catch_up
from dreamvid.temporal.checkpoints import load_piece, load_reference, save_piece
from dreamvid.hold import BAND, WEAK, WEAK_SPAN, hold, share


def test_a_dream_at_its_reference_takes_no_step_one_short_of_it_a_plain_step_a_weak_one_more():
    assert hold(1.0, 1.0) == 0.0
    assert hold(2.6, 2.0) == 0.0  # stronger than the preview: no step
    assert hold(1.0 - BAND / 2, 1.0) == pytest.approx(0.5)
    assert hold(1.0 - BAND, 1.0) == pytest.approx(1.0) == hold(WEAK, 1.0)
    assert hold(WEAK - WEAK_SPAN / 2, 1.0) == pytest.approx(1.0 + (FRESH_GAIN / CARRIED_GAIN - 1.0) / 2)
    assert hold(0.0, 1.0) == hold(WEAK - WEAK_SPAN, 1.0) == pytest.approx(FRESH_GAIN / CARRIED_GAIN)
    shares = [hold(s, 1.0) for s in np.linspace(0.0, 1.2, 61)]
    assert all(a >= b for a, b in zip(shares, shares[1:]))  # the stronger, the fewer steps
    # the step loop's own arithmetic (keras.ops on its tensors) is the same curve
    from keras import ops

    ratios = np.linspace(0.0, 1.2, 61)
    assert np.allclose(ops.convert_to_numpy(share(ops.convert_to_tensor(ratios), ops.clip)), shares)


@pytest.mark.parametrize("strength, reference", [(math.nan, 1.0), (1.0, None), (1.0, 0.0), (1.0, -2.0),
                                                 (1.0, math.inf)])
def test_without_a_usable_reference_every_step_is_taken(strength, reference):
    assert hold(strength, reference) == 1.0


def test_the_hold_scales_carried_pixels_only():
    mask = np.float32([[1.0, 0.0]])  # one carried pixel, one the flow lost
    fresh = 1.0 - mask * 0.9
    plain = catch_up(fresh, 0.9)
    held = catch_up(fresh, 0.9, hold=0.0)
    assert plain[0, 0] == pytest.approx(CARRIED_GAIN) and held[0, 0] == pytest.approx(0.0, abs=1e-6)
    assert held[0, 1] == plain[0, 1] == pytest.approx(FRESH_GAIN)
    assert carried_share(fresh, 0.9) == pytest.approx(np.float32([[1.0, 0.0]]), abs=1e-6)


def test_a_checkpoint_keeps_its_reference_exactly(tmp_path):
    """Per octave shape, one value per layer, each to the last bit; a piece without one (or with 0.4.0's
    single row of values) reads back as None."""
    from dreamvid.io.images import write_samples
    from dreamvid.temporal.checkpoints import REFERENCE_KEY

    pixels = np.random.default_rng(0).integers(0, 255, (6, 8, 3), dtype=np.uint8)
    references = [{(6, 8): (1 / 3,)}, {(4, 6): (0.1 + 2e-17 * 3, 2.0 / 7.0, 1e-300), (6, 8): (5.0, -0.0, 7e-5)}]
    save_piece(tmp_path / "frame_000001.png", pixels, references[0])
    save_piece(tmp_path / "frame_000002.png", pixels, references[1])
    save_piece(tmp_path / "frame_000003.png", pixels)
    assert np.array_equal(load_piece(tmp_path / "frame_000001.png"), pixels)
    assert load_reference(tmp_path / "frame_000001.png") == references[0]
    assert load_reference(tmp_path / "frame_000002.png") == references[1]
    assert load_reference(tmp_path / "frame_000003.png") is None
    write_samples(tmp_path / "frame_000004.png", pixels, text={REFERENCE_KEY: "2.5,1.25"})
    assert load_reference(tmp_path / "frame_000004.png") is None


def test_without_a_hold_the_step_map_is_exactly_as_before_the_hold():
    """catch_up at hold 1 is the expression of dreamvid 0.3.0, to the last bit."""
    fresh = np.random.default_rng(1).random((64, 64), dtype=np.float32)
    for blend, octaves, all_octaves in ((0.95, 2, 3), (0.875, 0, 0), (0.5, 1, 4)):
        carried = CARRIED_GAIN * math.sqrt(all_octaves / octaves) if 0 < octaves < all_octaves else CARRIED_GAIN
        unreliable = np.clip((fresh - (1.0 - blend)) / blend, 0.0, 1.0)
        before = (carried + max(FRESH_GAIN - carried, 0.0) * unreliable).astype(np.float32)
        assert np.array_equal(catch_up(fresh, blend, octaves, all_octaves), before)
