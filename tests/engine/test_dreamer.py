"""The engine on real (vgg16-hed) and random (InceptionV3) weights, at sizes a CPU handles in seconds."""
import numpy as np
import pytest

from dreamvid.settings import DreamParams

FEW = DreamParams(octaves=1, steps=4, step_size=0.02, jitter=8, tile=512, seed=0)


def test_dreaming_raises_the_objective_and_visibly_changes_the_image(vgg_hed, natural):
    source = natural(96, 96)[None]
    dreamed = vgg_hed.dream(source, FEW, steps=8)
    before, after = vgg_hed.objective(source)[0], vgg_hed.objective(dreamed)[0]
    assert after > before * 1.2
    assert dreamed.shape == source.shape and dreamed.dtype == np.float32
    assert 0.0 <= dreamed.min() and dreamed.max() <= 1.0
    assert np.abs(dreamed - source).mean() > 4 / 255  # more than a few grey levels on average


def test_more_steps_raise_the_objective_more(vgg_hed, natural):
    source = natural(96, 96, seed=1)[None]
    objectives = [vgg_hed.objective(vgg_hed.dream(source, FEW, steps=steps))[0] for steps in (0, 2, 6)]
    assert objectives[0] == pytest.approx(vgg_hed.objective(source)[0], rel=1e-4)  # 0 steps: no change
    assert objectives[0] < objectives[1] < objectives[2]


def test_zero_steps_and_one_octave_returns_the_source(vgg_hed, natural):
    source = natural(64, 80)[None]
    assert np.allclose(vgg_hed.dream(source, FEW, steps=0), source, atol=1e-6)


def test_octaves_reinject_detail_and_still_raise_the_objective(vgg_hed, natural):
    source = natural(96, 128, seed=2)[None]
    params = DreamParams(octaves=2, octave_scale=1.5, steps=3, step_size=0.02, jitter=8, tile=512, seed=0)
    dreamed = vgg_hed.dream(source, params)
    assert dreamed.shape == source.shape
    assert vgg_hed.objective(dreamed)[0] > vgg_hed.objective(source)[0]
    # With no steps the detail lost by downscaling is put back: the source comes out unchanged.
    assert np.allclose(vgg_hed.dream(source, params, steps=0), source, atol=1e-5)


def test_a_batch_equals_each_image_dreamed_alone(vgg_hed, natural):
    batch = np.stack([natural(64, 64, seed=seed) for seed in (3, 4, 5)])
    batch[2] = batch[2] * 0.5  # different brightness: per-image normalisation must not mix images
    together = vgg_hed.dream(batch, FEW)
    alone = np.concatenate([vgg_hed.dream(batch[i:i + 1], FEW) for i in range(3)])
    assert np.abs(together - alone).max() < 1e-4
    assert np.abs(together[0] - together[1]).mean() > 0.01  # the images did stay different


def test_same_seed_is_deterministic_and_another_seed_differs(vgg_hed, natural):
    source = natural(64, 64, seed=6)[None]
    first, again = vgg_hed.dream(source, FEW), vgg_hed.dream(source, FEW)
    other = vgg_hed.dream(source, DreamParams(**{**FEW.__dict__, "seed": 1}))
    assert np.array_equal(first, again)
    assert np.abs(first - other).max() > 0.01


def _neighbour_correlation(change: np.ndarray, axis: int) -> np.ndarray:
    """Correlation of the dream's change between each column (axis=1) or row (axis=0) and the next one.
    Inside a tile neighbours are strongly correlated; across a seam they come from two independent
    gradient computations (each with its own zero padding) and the correlation collapses."""
    lines = np.moveaxis(change, axis, 0).reshape(change.shape[axis], -1)
    lines = lines - lines.mean(axis=1, keepdims=True)
    a, b = lines[:-1], lines[1:]
    return (a * b).sum(1) / np.sqrt((a * a).sum(1) * (b * b).sum(1))


# 160 px in tiles of at most 64: 3 tiles of ceil(160 / 3) = 54 px, so borders after pixels 53 and 107.
BORDERS = [53, 107]


@pytest.fixture(scope="module")
def tiled_source(natural):
    return natural(160, 160, seed=7)[None]


def _profiles(vgg_hed, source, jitter, tile, steps):
    params = DreamParams(octaves=1, steps=steps, step_size=0.02, jitter=jitter, tile=tile, seed=0)
    change = (vgg_hed.dream(source, params) - source)[0]
    return _neighbour_correlation(change, 1), _neighbour_correlation(change, 0)


def test_the_seam_metric_sees_seams_when_tiles_do_not_move(vgg_hed, tiled_source):
    """jitter=0 keeps tile borders in place: the metric must find them, or the next test proves nothing."""
    for profile in _profiles(vgg_hed, tiled_source, jitter=0, tile=64, steps=8):
        assert profile[BORDERS].max() < 0.5 * np.median(profile)
        assert set(np.argsort(profile)[:2]) == set(BORDERS)


def test_rolled_tiles_leave_no_seam(vgg_hed, tiled_source):
    tiled = _profiles(vgg_hed, tiled_source, jitter=32, tile=64, steps=8)
    untiled = _profiles(vgg_hed, tiled_source, jitter=32, tile=512, steps=8)
    for profile, reference in zip(tiled, untiled):
        median = np.median(profile)
        assert profile[BORDERS].min() > 0.6 * median  # nothing at the fixed borders
        assert profile.min() > 0.3 * median  # nor anywhere the roll moved them to
        assert median > 0.8 * np.median(reference)  # and as smooth as dreaming without tiles


def test_tiled_dream_still_raises_the_objective(vgg_hed, tiled_source):
    params = DreamParams(octaves=1, steps=4, step_size=0.02, jitter=32, tile=64, seed=0)
    assert vgg_hed.objective(vgg_hed.dream(tiled_source, params))[0] > vgg_hed.objective(tiled_source)[0]


def test_image_smaller_than_the_network_comes_back_at_its_own_size(inception_random, natural):
    source = natural(20, 20, seed=8)[None]
    assert inception_random.features.min_side == 75
    dreamed = inception_random.dream(source, DreamParams(octaves=2, steps=2, jitter=4, tile=512))
    assert dreamed.shape == source.shape
    assert np.abs(dreamed - source).mean() > 1e-3


def test_inception_random_weights_dream_a_batch(inception_random, natural):
    batch = np.stack([natural(80, 96, seed=9), natural(80, 96, seed=10)])
    params = DreamParams(octaves=1, steps=3, step_size=0.02, jitter=8, tile=512, seed=0)
    dreamed = inception_random.dream(batch, params)
    assert dreamed.shape == batch.shape
    assert np.all(inception_random.objective(dreamed) > inception_random.objective(batch))


def test_bfloat16_activations_dream_the_same_picture(natural):
    """--precision bfloat16 is only worth having if it dreams as strongly and alike: compare with float32."""
    from dreamvid.engine import load_dreamer
    from dreamvid.settings import DreamParams, build_settings

    picture = natural(64, 96, seed=3)[None]
    params = DreamParams(octaves=2, steps=6, jitter=8)
    dreams = {}
    for precision in ("float32", "bfloat16"):
        dreamer = load_dreamer(build_settings({"model": "vgg16-hed", "precision": precision}))
        assert dreamer.features.precision == precision
        dreams[precision] = dreamer.dream(picture, params)
    other_seed = load_dreamer(build_settings({"model": "vgg16-hed", "precision": "float32"})).dream(
        picture, DreamParams(octaves=2, steps=6, jitter=8, seed=1))
    assert np.abs(dreams["float32"] - picture).mean() > 0.01
    # bfloat16 is another dream of the same strength, closer to float32's than another seed's
    # (measured: about half as far)
    seed_difference = np.abs(other_seed - dreams["float32"]).mean()
    assert np.abs(dreams["bfloat16"] - dreams["float32"]).mean() < 0.8 * seed_difference
    reference = load_dreamer(build_settings({"model": "vgg16-hed", "precision": "float32"}))
    strengths = reference.objective(np.concatenate([dreams["float32"], dreams["bfloat16"]]))
    assert abs(strengths[1] - strengths[0]) < 0.05 * strengths[0]


def test_tile_is_chosen_from_free_memory(vgg_hed, monkeypatch):
    import dreamvid.engine.dreamer as engine

    def tile_with(free_bytes: int, batch: int) -> int:
        monkeypatch.setattr(engine, "free_memory", lambda backend=None: free_bytes)
        vgg_hed._tiles.clear()
        return vgg_hed.auto_tile(batch)

    roomy, tight = tile_with(16 * 2**30, 1), tile_with(2 * 2**30, 1)
    assert engine.MIN_TILE <= tight < roomy <= engine.MAX_TILE
    assert tile_with(16 * 2**30, 4) < roomy  # a bigger batch gets smaller tiles
    # the gradient pass of one tile stays within the budget it was given
    assert 2 * tight**2 * vgg_hed._bytes_per_pixel() <= 2 * 2**30 / 3
    vgg_hed._tiles.clear()


def test_steps_split_into_short_calls_give_the_same_dream(vgg_hed, natural, monkeypatch):
    """The step loop runs in calls short enough for Ctrl-C to land within seconds; how the steps are
    split must not change a pixel (each step's roll depends on its index alone)."""
    import dreamvid.engine.dreamer as engine

    source = natural(64, 64, seed=3)[None]
    monkeypatch.setattr(engine, "MAX_CHUNK", 1000)
    monkeypatch.setattr(vgg_hed, "_chunk", 1000)
    whole = vgg_hed.dream(source, FEW, steps=5)
    calls = []
    real = vgg_hed._ascent.ascend
    monkeypatch.setattr(vgg_hed._ascent, "ascend", lambda *args: calls.append(int(args[2])) or real(*args))
    monkeypatch.setattr(engine, "CALL_SECONDS", 0.0)  # one step per call
    monkeypatch.setattr(vgg_hed, "_chunk", 1)
    split = vgg_hed.dream(source, FEW, steps=5)
    assert calls == [1, 1, 1, 1, 1]
    assert np.array_equal(whole, split)


def test_per_image_step_sizes_in_one_batch_equal_each_image_dreamed_alone(vgg_hed, natural):
    """Scheduled step sizes differ from frame to frame: a batch takes one per image, as if each were
    dreamed alone, and a new value never retraces the compiled step loop."""
    batch = np.stack([natural(64, 64, seed=seed) for seed in (11, 12)])
    sizes = (0.005, 0.03)
    traces = vgg_hed._ascent.compiled()
    together = vgg_hed.dream(batch, DreamParams(**{**FEW.__dict__, "step_size": sizes}))
    alone = np.concatenate([vgg_hed.dream(batch[i:i + 1], DreamParams(**{**FEW.__dict__, "step_size": sizes[i]}))
                            for i in range(2)])
    assert np.abs(together - alone).max() < 1e-4
    changes = np.abs(together - batch).mean(axis=(1, 2, 3))
    assert changes[1] > 2 * changes[0]  # the larger step dreams more
    assert vgg_hed._ascent.compiled() == max(traces, 1)


def test_layer_weights_per_image_cross_fade_layers_without_retracing(natural):
    """Weights (1, 0) dream only the first layer and (0, 1) only the second, in one batch."""
    from dreamvid.engine import load_dreamer
    from dreamvid.settings import build_settings

    both = load_dreamer(build_settings({"model": "vgg16-hed", "layers": ["block3_conv3", "block4_conv3"],
                                        "precision": "float32"}))
    batch = np.stack([natural(64, 64, seed=13)] * 2)
    mixed = both.dream(batch, DreamParams(**{**FEW.__dict__, "layer_weights": ((1.0, 0.0), (0.0, 1.0))}))
    traces = both._ascent.compiled()
    first = both.dream(batch[:1], DreamParams(**{**FEW.__dict__, "layer_weights": (1.0, 0.0)}))
    second = both.dream(batch[:1], DreamParams(**{**FEW.__dict__, "layer_weights": (0.0, 1.0)}))
    assert np.abs(mixed[0] - first[0]).max() < 1e-4 and np.abs(mixed[1] - second[0]).max() < 1e-4
    assert np.abs(mixed[0] - mixed[1]).mean() > 0.01  # the two layers dream differently
    assert both._ascent.compiled() == traces == 1
    # the objective takes the same weights: (1, 0) scores the first layer alone
    objectives = both.objective(batch[:1], DreamParams(layer_weights=(1.0, 0.0)))
    alone = load_dreamer(build_settings({"model": "vgg16-hed", "layers": ["block3_conv3"], "precision": "float32"}))
    assert objectives[0] == pytest.approx(alone.objective(batch[:1])[0], rel=1e-5)


def test_strength_is_the_objective_and_measured_where_asked(vgg_hed, natural):
    """Dreamer.strength over the whole frame is the plain objective; over a region, the dream's strength
    there: a picture dreamed on its left half only is stronger on the left (the carried frames' hold
    measures where the dream is carried)."""
    source = natural(64, 96, seed=3)[None]
    assert vgg_hed.strength(source)[0] == pytest.approx(vgg_hed.objective(source)[0], rel=1e-3)
    left = np.zeros((1, 64, 96), np.float32)
    left[:, :, :48] = 1.0
    half = vgg_hed.dream(source, FEW, steps=8, step_map=left)
    on_left, on_right = vgg_hed.strength(half, left)[0], vgg_hed.strength(half, 1.0 - left)[0]
    assert on_left > 1.1 * on_right
    assert vgg_hed.strength(half, np.ones_like(left))[0] == pytest.approx(vgg_hed.strength(half)[0], rel=1e-6)
    assert np.isnan(vgg_hed.strength(half, np.zeros_like(left))[0])  # nowhere: unknown
    weighted = DreamParams(layer_weights=(2.5,))
    assert vgg_hed.strength(half, left, weighted)[0] == pytest.approx(2.5 * vgg_hed.layer_strengths(half, left)[0, 0])


def test_strength_in_tiles_is_about_the_strength_untiled(vgg_hed, natural):
    """Within the tiles' border effects (the hold compares strengths measured in the same tiles)."""
    source = natural(128, 256, seed=4)[None]
    whole = vgg_hed.strength(source, params=DreamParams(tile=512))[0]
    assert vgg_hed.strength(source, params=DreamParams(tile=128))[0] == pytest.approx(whole, rel=0.05)
