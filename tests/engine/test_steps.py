"""--lap-norm: the gradient normalised band by band of a Laplacian pyramid, as the original DeepDream
notebook did, inside every backend's compiled step loop; it changes the dream and still raises the objective."""
from __future__ import annotations

import numpy as np
import pytest

from dreamvid.settings import DreamParams, build_settings

PARAMS = DreamParams(octaves=2, steps=6, step_size=0.01, jitter=4, seed=1)


def test_the_pyramid_normalisation_flattens_the_bands():
    """A gradient whose coarse band is 100x weaker than its fine one comes out with bands of equal RMS."""
    from keras import ops

    from dreamvid.engine.steps import lap_normalize

    rng = np.random.default_rng(0)
    coarse = np.kron(rng.standard_normal((1, 8, 8, 3)), np.ones((1, 8, 8, 1))).astype(np.float32)
    fine = rng.standard_normal((1, 64, 64, 3)).astype(np.float32)
    mixed = 0.01 * coarse + fine
    out = ops.convert_to_numpy(lap_normalize(ops.convert_to_tensor(mixed), 3))
    assert out.shape == mixed.shape and np.isfinite(out).all()

    def low_share(image):  # the energy of an 8x8 box average against the whole
        boxed = image.reshape(1, 8, 8, 8, 8, 3).mean(axis=(2, 4))
        return float(np.square(boxed).mean() / np.square(image).mean())

    assert low_share(out) > 3 * low_share(mixed)


@pytest.mark.parametrize("shape", [(64, 64), (63, 77)])
def test_odd_sizes_come_back_at_their_size(shape):
    from keras import ops

    from dreamvid.engine.steps import lap_normalize

    gradient = np.random.default_rng(1).standard_normal((2, *shape, 3)).astype(np.float32)
    assert ops.convert_to_numpy(lap_normalize(ops.convert_to_tensor(gradient), 4)).shape == gradient.shape


def test_lap_norm_changes_the_dream_and_the_objective_still_rises(vgg_hed, natural):
    from dreamvid.engine import load_dreamer

    picture = natural(80, 96, seed=4)[None]
    lap = load_dreamer(build_settings({"model": "vgg16-hed", "layers": ["block4_conv3"], "lap_norm": 4,
                                       "precision": "float32"}))
    plain, pyramid = vgg_hed.dream(picture, PARAMS), lap.dream(picture, PARAMS)
    assert np.abs(pyramid - plain).mean() > 0.002  # another dream
    before, after = lap.objective(picture)[0], lap.objective(pyramid)[0]
    assert after > before * 1.05


def test_lap_norm_is_recorded_and_bounded():
    from dreamvid.engine.catalog import resolved_parameters
    from dreamvid.errors import UserError

    assert resolved_parameters(build_settings({"model": "vgg16-hed", "lap_norm": 4}))["lap_norm"] == 4
    assert "lap_norm" not in resolved_parameters(build_settings({"model": "vgg16-hed"}))  # old fingerprints hold
    with pytest.raises(UserError, match="--lap-norm must be <= 8"):
        build_settings({"lap_norm": 9})
