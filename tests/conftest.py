"""Shared fixtures: each model is built once per session, pictures are small synthetic ones, and the
installed command runs with a probe that records whether it loaded TensorFlow."""
from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

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
    from dreamvid.engine import load_dreamer
    from dreamvid.settings import build_settings

    return load_dreamer(build_settings({"model": "inception_v3", "weights": "random", "layers": ["mixed3"],
                                               "precision": "float32"}))


@pytest.fixture(scope="session")
def vgg_hed():
    """VGG16 with the real (offline) HED weights, cut at block4_conv3: real dreaming."""
    from dreamvid.engine import load_dreamer
    from dreamvid.settings import build_settings

    return load_dreamer(build_settings({"model": "vgg16-hed", "layers": ["block4_conv3"], "precision": "float32"}))


# Imported by every Python the tests start: records at exit which heavy modules were loaded.
PROBE = """\
import atexit, os, sys

def _record(path=os.environ.get("DREAMVID_IMPORT_PROBE")):
    if path:
        with open(path, "w") as file:
            file.write("\\n".join(m for m in sys.modules if m.split(".")[0] in ("tensorflow", "keras")))

atexit.register(_record)
"""


def _command() -> list[str]:
    installed = Path(sys.executable).with_name("dreamvid")
    if installed.exists():
        return [str(installed)]
    found = shutil.which("dreamvid")
    assert found, "the dreamvid command is not installed (pip install -e .)"
    return [found]


@pytest.fixture(scope="session")
def probe_dir(tmp_path_factory):
    folder = tmp_path_factory.mktemp("probe")
    (folder / "sitecustomize.py").write_text(PROBE)
    return folder


class Run:
    def __init__(self, result: subprocess.CompletedProcess, loaded: list[str]):
        self.status, self.stdout, self.stderr, self.loaded = result.returncode, result.stdout, result.stderr, loaded


@pytest.fixture
def cli(probe_dir, tmp_path_factory):
    """Run the installed command in a folder; returns the status, output and the heavy modules it loaded."""

    def run(folder: Path, *args: str) -> Run:
        record = tmp_path_factory.mktemp("loaded") / "modules.txt"
        env = {**os.environ, "PYTHONPATH": str(probe_dir), "DREAMVID_IMPORT_PROBE": str(record),
               "TF_CPP_MIN_LOG_LEVEL": "2", "COLUMNS": "250"}
        result = subprocess.run(_command() + list(args), cwd=folder, env=env, capture_output=True, text=True,
                                timeout=300)
        loaded = record.read_text().split() if record.exists() else None
        assert loaded is not None, f"the import probe did not run: {result.stderr}"
        return Run(result, loaded)

    return run


def snapshot(folder: Path) -> dict[str, tuple]:
    """Every file and folder under `folder` with its bytes' hash and modification time."""
    state = {}
    for path in sorted(folder.rglob("*")):
        stat = path.stat()
        digest = hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else "dir"
        state[str(path.relative_to(folder))] = (digest, stat.st_mtime_ns)
    return state


@pytest.fixture
def saved(monkeypatch):
    """Every piece that renders in this process save, lossless, as RGB: {output name: {piece name: pixels}}
    (a video's work folder keeps its frames encoded in chunks, and only each chain's last one as a piece)."""
    from dreamvid.temporal.checkpoints import CheckpointStore
    from dreamvid.journal.names import piece_name

    pieces: dict[str, dict[str, np.ndarray]] = {}
    real = CheckpointStore.save

    def save(self, segment, index, pixels):
        real(self, segment, index, pixels)
        name = self.work.path.name.removesuffix(".parts")
        pieces.setdefault(name, {})[piece_name(index, warm=index < segment.start)] = pixels.copy()

    monkeypatch.setattr(CheckpointStore, "save", save)
    return pieces


@pytest.fixture
def command(capsys, monkeypatch):
    """Run the `dreamvid` command in this process (for the many cases that fail before any work, where a
    fresh interpreter would cost seconds each): its status, output and error output. The subprocess
    `cli` fixture stays for what only a real process shows (the import probe, signals, exit)."""
    import signal

    from dreamvid.cli import main

    def run(folder: Path, *args: str) -> Run:
        monkeypatch.chdir(folder)
        monkeypatch.setenv("COLUMNS", "250")
        handler = signal.getsignal(signal.SIGTERM)
        try:
            main(list(args))
            status = 0
        except SystemExit as done:
            status = done.code if isinstance(done.code, int) else 0 if done.code is None else 1
        finally:
            signal.signal(signal.SIGTERM, handler)
        said = capsys.readouterr()
        return Run(subprocess.CompletedProcess(args, status, said.out, said.err), [])

    return run
