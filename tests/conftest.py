"""Shared fixtures: each model is built once per session, and pictures are small synthetic ones."""
from __future__ import annotations

import os

import cv2
import numpy as np
import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def natural_picture(height: int, width: int, seed: int = 0) -> np.ndarray:
    """A float RGB picture in [0, 1] with what photos have: smooth gradients, edges and soft texture."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width] / max(height, width)
    picture = np.dstack([0.3 + 0.4 * x, 0.2 + 0.5 * y, 0.6 - 0.3 * x * y]).astype(np.float32)
    texture = cv2.GaussianBlur(rng.random((height, width, 3)).astype(np.float32), (0, 0), 3)
    picture = 0.6 * picture + 0.4 * texture
    cv2.circle(picture, (width // 3 + seed % 7, height // 2), max(2, height // 6), (0.9, 0.8, 0.1), -1)
    cv2.rectangle(picture, (width // 2, height // 5), (width * 4 // 5, height // 2), (0.1, 0.3, 0.8), -1)
    return np.clip(picture, 0.0, 1.0)


@pytest.fixture(scope="session")
def natural():
    return natural_picture


@pytest.fixture(scope="session")
def inception_random():
    """InceptionV3 with random weights, cut at mixed3 (built once; api.load_dreamer caches it)."""
    from dreamvid.api import load_dreamer
    from dreamvid.settings import build_settings

    return load_dreamer(build_settings({"model": "inception_v3", "weights": "random", "layers": ["mixed3"],
                                               "precision": "float32"}))


@pytest.fixture(scope="session")
def vgg_hed():
    """VGG16 with the real (offline) HED weights, cut at block4_conv3: real dreaming."""
    from dreamvid.api import load_dreamer
    from dreamvid.settings import build_settings

    return load_dreamer(build_settings({"model": "vgg16-hed", "layers": ["block4_conv3"], "precision": "float32"}))
