"""What several test files share: quick render settings, small pictures, a reporter that keeps warnings,
the state of a folder, the work folder's finished frames, a crash or a kill at a chosen moment, the
installed command and the probes that tell whether a numerics framework was loaded."""
from __future__ import annotations

import ast
import builtins
import contextlib
import hashlib
import importlib
import importlib.util
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Callable, Iterator

import cv2
import numpy as np
import pytest
from PIL import Image

from dreamvid.imageops import from_float
from dreamvid.progress import Reporter

TESTS = Path(__file__).resolve().parent  # on the PYTHONPATH of every process a test starts (Ray workers too)
PACKAGE = TESTS.parent / "dreamvid"
BIG_BUCK_BUNNY = TESTS.parent / "samples" / "bigbuckbunny.mp4"

# Real vgg16-hed weights, but few steps on tiny frames: enough to dream, quick on 2 cores.
FAST = dict(model="vgg16-hed", steps=3, octaves=1, flow_steps=1, jitter=8)


class Warnings(Reporter):
    """Keeps every warning the library reports."""

    def __init__(self):
        self.messages: list[str] = []

    def warn(self, message: str) -> None:
        self.messages.append(message)


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


def write_picture(path: Path, height: int = 40, width: int = 48, seed: int = 0) -> None:
    """A natural_picture as an 8-bit file (the suffix chooses the format)."""
    assert cv2.imwrite(str(path), np.rint(natural_picture(height, width, seed)[..., ::-1] * 255).astype(np.uint8))


ORIENTATION = 0x0112  # the EXIF tag

# What a viewer shows for each orientation, written out independently of dreamvid's table.
SEEN = {3: lambda a: np.rot90(a, 2), 6: lambda a: np.rot90(a, -1), 8: lambda a: np.rot90(a, 1),
        2: lambda a: np.fliplr(a), 5: lambda a: np.transpose(a, (1, 0, 2))}


def blocks(height: int = 4, width: int = 6, scale: int = 8) -> np.ndarray:
    """An asymmetric uint8 RGB picture of flat blocks (each a different colour), so every turn and
    mirror gives other pixels, and JPEG keeps the blocks' colours."""
    rng = np.random.default_rng(7)
    cells = rng.integers(0, 256, (height, width, 3), dtype=np.uint8)
    return np.repeat(np.repeat(cells, scale, axis=0), scale, axis=1)


def save_oriented(path, data: np.ndarray, orientation: int, mode: str | None = None) -> None:
    """A picture as a phone stores it: the pixels as they are, with the EXIF orientation that turns them."""
    exif = Image.Exif()
    exif[ORIENTATION] = orientation
    image = Image.fromarray(data)
    image = image.convert(mode) if mode else image
    options = {".jpg": {"quality": 100, "subsampling": 0}, ".webp": {"lossless": True}}.get(path.suffix, {})
    image.save(path, exif=exif, **options)


def guide_picture(size: int = 96) -> np.ndarray:
    """Bold red and green diagonal stripes with blue dots: features unlike the test picture's."""
    y, x = np.mgrid[0:size, 0:size]
    stripes = ((x + y) // 6) % 2 == 0
    picture = np.where(stripes[..., None], [0.9, 0.1, 0.1], [0.1, 0.8, 0.2]).astype(np.float32)
    for cy in range(8, size, 24):
        for cx in range(8, size, 24):
            cv2.circle(picture, (cx, cy), 5, (0.1, 0.1, 0.9), -1)
    return picture


def high_frequency(delta: np.ndarray) -> float:
    """Energy of what dreaming added above a Gaussian blur: its fine detail."""
    return float(np.mean((delta - cv2.GaussianBlur(delta, (0, 0), 1.5)) ** 2))


def write_png(path: Path, rgb: np.ndarray) -> Path:
    """A float RGB picture in [0, 1] as an 8-bit PNG."""
    cv2.imwrite(str(path), from_float(rgb, np.uint8)[..., ::-1])
    return path


def kept_pieces(saved: dict, output: Path) -> list[np.ndarray]:
    """The kept frames of a render as its pieces were saved (the `saved` fixture: lossless, unlike an
    H.264 output), in order, as stored (8-bit RGB); none when it saved none."""
    pieces = saved.get(output.name, {})
    return [pieces[name] for name in sorted(pieces) if name.startswith("frame_")]


def checkpoints(saved: dict, output: Path) -> list[np.ndarray]:
    """The same as float RGB in [0, 1]."""
    return [pixels.astype(np.float32) / 255 for pixels in kept_pieces(saved, output)]


def snapshot(folder: Path) -> dict[str, tuple]:
    """Every file and folder under `folder` with its bytes' hash and modification time."""
    state = {}
    for path in sorted(folder.rglob("*")):
        stat = path.stat()
        digest = hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else "dir"
        state[str(path.relative_to(folder))] = (digest, stat.st_mtime_ns)
    return state


def interrupted_folder_render(tmp_path: Path, steps: int) -> tuple[Path, Path]:
    """A folder render interrupted after frame1: its work folder as the CLI would have left it."""
    from dreamvid.jobs import plan_jobs
    from dreamvid.engine.catalog import resolved_parameters
    from dreamvid.journal.resume import job_plan
    from dreamvid.settings import build_settings
    from dreamvid.sidecar import write_json

    frames = tmp_path / "frames"
    frames.mkdir()
    for index, name in enumerate(["frame1.png", "frame2.png", "frame10.png"]):
        write_picture(frames / name, 40, 40, seed=index + 5)
    settings = build_settings({"model": "vgg16-hed", "steps": steps, "octaves": 1, "jitter": 4, "batch": 1})
    params = {**resolved_parameters(settings), "batch": 1}
    [job] = plan_jobs([frames], settings, tmp_path / "out")
    work = tmp_path / "out.partial"
    work.mkdir()
    write_json(work / "plan.json", job_plan(job, params))
    marker = np.zeros((40, 40, 3), np.uint8)
    marker[..., 0] = marker[..., 2] = 255  # magenta: no dream looks like this
    cv2.imwrite(str(work / "frame1.png"), marker)
    return frames, work


def full_disk_at(path: Path) -> None:
    """Make the next write of `path` through its hidden temporary name (atomic.writing) hit a full
    disk: the temporary is a link to /dev/full, where every write fails with ENOSPC."""
    from dreamvid.atomic import partial_name

    if not Path("/dev/full").exists():
        pytest.skip("no /dev/full here")
    partial_name(path).symlink_to("/dev/full")


def done_frames(output) -> list[int]:
    """The kept frames that a render's work folder holds, as lossless pieces or in encoded chunks."""
    from dreamvid.journal.names import parse_chunk

    folder = output.with_name(output.name + ".parts")
    done = {int(p.stem.split("_")[1]) for p in folder.glob("frame_*.png")}
    for path in folder.glob("chunk_*"):
        if chunk := parse_chunk(path.name):
            done.update(range(*chunk))
    return sorted(done)


@contextlib.contextmanager
def power_cut_at_round(count: int) -> Iterator[None]:
    """A render inside the block crashes (RuntimeError "power cut") at its `count`-th dream round, as a
    render cut short mid-way; dreaming is itself again after the block."""
    from dreamvid.temporal import dreaming

    real, rounds = dreaming.dream_round, []

    def crashing(*args, **kwargs):
        rounds.append(1)
        if len(rounds) == count:
            raise RuntimeError("power cut")
        return real(*args, **kwargs)

    dreaming.dream_round = crashing
    try:
        with pytest.raises(RuntimeError, match="power cut"):
            yield
    finally:
        dreaming.dream_round = real


def kill_when(process: subprocess.Popen, ready: Callable[[], bool], seconds: float = 120) -> None:
    """SIGKILL `process` as soon as `ready()` holds; it must still be running then, within `seconds`
    (its stderr, when piped, tells why it ended early)."""
    deadline = time.monotonic() + seconds
    while not ready():
        if process.poll() is not None:
            said = process.stderr.read() if process.stderr else ""
            raise AssertionError(f"the process ended before it could be killed: "
                                 f"{said.decode(errors='replace') if isinstance(said, bytes) else said}"[-2000:])
        assert time.monotonic() < deadline, "the process never got far enough to be killed"
        time.sleep(0.02)
    process.send_signal(signal.SIGKILL)
    process.wait()


def sink_copy(source: Path, output: Path, start: int = 0, end: int | None = None, audio: bool = True) -> list[str]:
    """Pass a source's own frames through VideoSink as a render does; returns the warnings."""
    from dreamvid.io.decode import probe_video, read_frames
    from dreamvid.io.sinks import VideoSink

    info = probe_video(source)
    end = info.frame_count if end is None else end
    warnings: list[str] = []
    sink = VideoSink(output, (info.height, info.width), info.fps, 12, start, end, warnings.append,
                     source if audio and info.has_audio else None, info)
    for frame in read_frames(source, start, end, info=info):
        sink.write(frame.astype(np.float32) / 255)
    sink.close({"test": "sink_copy"})  # the record written beside the output
    return warnings


# ---- the command and what it loaded -----------------------------------------------------------------

FRAMEWORKS = {"tensorflow", "keras", "jax", "jaxlib", "torch"}

# Imported by every Python the `cli` fixture starts: records at exit which heavy modules were loaded.
PROBE = """\
import atexit, os, sys

def _record(path=os.environ.get("DREAMVID_IMPORT_PROBE")):
    if path:
        with open(path, "w") as file:
            file.write("\\n".join(m for m in sys.modules if m.split(".")[0] in ("tensorflow", "keras")))

atexit.register(_record)
"""


def installed_command() -> list[str]:
    """The `dreamvid` command of this Python's environment."""
    installed = Path(sys.executable).with_name("dreamvid")
    if installed.exists():
        return [str(installed)]
    found = shutil.which("dreamvid")
    assert found, "the dreamvid command is not installed (pip install -e .)"
    return [found]


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imported_on_import(path: Path) -> set[str]:
    """The modules a file imports as it is imported (its body and class bodies, not its functions)."""
    name = _module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()

    def visit(nodes) -> None:
        for node in nodes:
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                continue
            if isinstance(node, ast.Import):
                found.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom):
                module = importlib.util.resolve_name("." * node.level + (node.module or ""), package) \
                    if node.level else node.module or ""
                found.add(module)
                found.update(f"{module}.{alias.name}" for alias in node.names)
            visit(ast.iter_child_nodes(node))

    visit(ast.parse(path.read_text(encoding="utf-8")).body)
    return found


def framework_loaders() -> set[str]:
    """The dreamvid modules whose import loads a numerics framework (directly, or through another such
    module), read from the source: importing one of them is loading the framework."""
    imports = {_module_name(path): _imported_on_import(path) for path in PACKAGE.rglob("*.py")}
    heavy: set[str] = set()
    while True:
        more = {module for module, names in imports.items() if module not in heavy and any(
            name.split(".")[0] in FRAMEWORKS or name in heavy for name in names)}
        if not more:
            return heavy
        heavy |= more


@contextlib.contextmanager
def framework_imports() -> Iterator[list[str]]:
    """Inside the block, every import of a numerics framework, or of a dreamvid module that loads one, is
    noted in the list it gives, even when the framework is loaded already (as in a test process, where
    an earlier test loaded it): in this process, what the `cli` fixture's probe tells of a fresh one."""
    heavy, seen = framework_loaders(), []
    real_import, real_import_module = builtins.__import__, importlib.import_module

    def note(full: str, fromlist=()) -> None:
        for name in [full, *(f"{full}.{item}" for item in fromlist or () if item != "*")]:
            if name.split(".")[0] in FRAMEWORKS or name in heavy:
                seen.append(name)

    def noted_import(name, globals=None, locals=None, fromlist=(), level=0):
        if level:
            package = (globals or {}).get("__package__") or ""
            full = importlib.util.resolve_name("." * level + name, package) if package else name
        else:
            full = name
        note(full, fromlist)
        return real_import(name, globals, locals, fromlist, level)

    def noted_import_module(name, package=None):
        note(importlib.util.resolve_name(name, package) if name.startswith(".") else name)
        return real_import_module(name, package)

    builtins.__import__, importlib.import_module = noted_import, noted_import_module
    try:
        yield seen
    finally:
        builtins.__import__, importlib.import_module = real_import, real_import_module


def half_matte(path, width: int, height: int, soft: int = 0) -> np.ndarray:
    """Black on the left half, white on the right (with a ramp `soft` pixels wide across the middle)."""
    x = np.arange(width, dtype=np.float32)
    ramp = np.clip((x - (width / 2 - soft / 2)) / max(soft, 1e-6), 0, 1) if soft else (x >= width // 2)
    plane = np.repeat((ramp * 255).round().astype(np.uint8)[None], height, axis=0)
    cv2.imwrite(str(path), plane)
    return plane
