"""Shared fixtures: each model is built once per session, pictures are small synthetic ones, the command runs
in this process (`command`, for the many cases that end before any work) or as the installed command with
a probe that records whether it loaded TensorFlow (`cli`, for what only a real process shows), and
`saved` keeps the pixels of every piece a render saves."""
from __future__ import annotations

import os
import subprocess
from pathlib import Path

import numpy as np
import pytest

from helpers import PROBE, framework_imports, installed_command, natural_picture, snapshot  # noqa: F401 (shared)

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

_command = installed_command  # the name older test files import


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


@pytest.fixture(scope="session")
def moving(tmp_path_factory):
    """A 12-frame clip at 10 fps with a stereo soundtrack, and its frames."""
    from clips import moving_clip

    path = tmp_path_factory.mktemp("clips") / "moving.mp4"
    return path, moving_clip(path, frames=12, size=(96, 64), fps=10, audio=True)


@pytest.fixture(scope="session")
def rotated(tmp_path_factory):
    """A clip stored sideways with rotation metadata, and its frames as displayed."""
    from clips import rotated_clip

    path = tmp_path_factory.mktemp("clips") / "rotated.mp4"
    return path, rotated_clip(path, frames=6, size=(96, 64))


@pytest.fixture(scope="session")
def silence_loud_quiet(tmp_path_factory):
    """A clip whose soundtrack is a second of silence, a loud second and a quiet one (30 frames)."""
    from clips import sound_clip

    path = tmp_path_factory.mktemp("sound") / "music.mp4"
    sound_clip(path, [0.0, 0.5, 0.05])  # 1 s each: 30 frames
    return path


@pytest.fixture(scope="session")
def probe_dir(tmp_path_factory):
    folder = tmp_path_factory.mktemp("probe")
    (folder / "sitecustomize.py").write_text(PROBE)
    return folder


class Run:
    """A command's exit status, its output and error output, and the numerics frameworks it loaded."""

    def __init__(self, result: subprocess.CompletedProcess, loaded: list[str]):
        self.status, self.stdout, self.stderr, self.loaded = result.returncode, result.stdout, result.stderr, loaded


@pytest.fixture
def cli(probe_dir, tmp_path_factory):
    """Run the installed command in a folder, in a fresh Python: its status, output and the heavy modules it
    loaded. For what only a real process shows: the import probe, signals, the exit."""

    def run(folder: Path, *args: str) -> Run:
        record = tmp_path_factory.mktemp("loaded") / "modules.txt"
        env = {**os.environ, "PYTHONPATH": str(probe_dir), "DREAMVID_IMPORT_PROBE": str(record),
               "TF_CPP_MIN_LOG_LEVEL": "2", "COLUMNS": "250"}
        result = subprocess.run(installed_command() + list(args), cwd=folder, env=env, capture_output=True,
                                text=True, timeout=300)
        loaded = record.read_text().split() if record.exists() else None
        assert loaded is not None, f"the import probe did not run: {result.stderr}"
        return Run(result, loaded)

    return run


@pytest.fixture
def command(capfd, monkeypatch):
    """Run the `dreamvid` command in this process (for the many cases that fail before any work, where a
    fresh interpreter would cost half a second each): its status, its output and error output as the
    file descriptors got them (what C libraries print too), and every numerics framework it imported
    (see helpers.framework_imports: noted even when an earlier test loaded it)."""
    import signal

    from dreamvid.cli import main

    def run(folder: Path, *args: str) -> Run:
        monkeypatch.chdir(folder)
        monkeypatch.setenv("COLUMNS", "250")
        capfd.readouterr()  # what came before is not the command's
        handler = signal.getsignal(signal.SIGTERM)
        with framework_imports() as loaded:
            try:
                main(list(args))
                status = 0
            except SystemExit as done:
                status = done.code if isinstance(done.code, int) else 0 if done.code is None else 1
            finally:
                signal.signal(signal.SIGTERM, handler)
        said = capfd.readouterr()
        return Run(subprocess.CompletedProcess(args, status, said.out, said.err), list(loaded))

    return run


@pytest.fixture
def short_chunks(monkeypatch):
    """Chunks of 3 frames at the test clips' 10 fps, so that tiny clips have several."""
    from dreamvid.temporal import chunks

    monkeypatch.setattr(chunks, "CHUNK_SECONDS", 0.3)


@pytest.fixture
def saved(monkeypatch):
    """Every piece that renders in this process save, lossless, as RGB: {output name: {piece name: pixels}}
    (a video's work folder keeps its frames encoded in chunks, and only each chain's last one as a piece)."""
    from dreamvid.temporal.checkpoints import CheckpointStore
    from dreamvid.journal.names import piece_name

    pieces: dict[str, dict[str, np.ndarray]] = {}
    real = CheckpointStore.save

    def save(self, segment, index, pixels, reference=None):
        real(self, segment, index, pixels, reference)
        name = self.work.path.name.removesuffix(".parts")
        pieces.setdefault(name, {})[piece_name(index, warm=index < segment.start)] = pixels.copy()

    monkeypatch.setattr(CheckpointStore, "save", save)
    return pieces
