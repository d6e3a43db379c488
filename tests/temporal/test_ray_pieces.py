"""No shared folder: a driver whose source the workers cannot read (here: a private mount namespace of the
driver's, with the head started outside it, and another file at the same path outside) sends them its
segments' packets, and the frames are those of a local render, a killed worker's resumed segment included;
where they read the source, nothing is sent.
The shipper cuts each segment from where its chain reads, and keeps no more pieces than calls."""
from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from clips import moving_clip
from ray_heads import clean_env, running_head
from stub_dreamer import StubFactory
from dreamvid.io.sources import VideoSource
from dreamvid.jobs import plan_jobs
from dreamvid.progress import Reporter
from dreamvid.settings import build_settings
from dreamvid.temporal import ray_pieces
from dreamvid.temporal.chain import ResumePoint
from dreamvid.temporal.plan import Segment
from dreamvid.temporal.ray_pieces import PieceShipper
from dreamvid.temporal.run import run_temporal

TESTS = Path(__file__).resolve().parents[1]  # where stub_dreamer is, for the workers
# Four segments with a warm-up, two workers each dreaming two in turn (as in test_cluster.py).
OPTIONS = dict(model="vgg16-hed", steps="0:(1), 20:(3)", step_size="0:(0.005), 23:(0.03)", octaves=1, streams=4,
               warmup=2)
FRAMES = 30

# In the driver's private mount namespace: a tmpfs over the source's folder, the source copied in, a render
# on the cluster at ADDRESS in which worker 0 is killed after a few frames.
DRIVER = """
import json, os, shutil, signal, subprocess, sys, threading, time
from pathlib import Path
clip, private, output, address = sys.argv[1:]
subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64m", "dreamvid-private", private], check=True)
shutil.copy2(clip, private)
source = Path(private) / Path(clip).name
import ray
from stub_dreamer import StubFactory
from dreamvid.jobs import plan_jobs
from dreamvid.progress import Reporter
from dreamvid.settings import build_settings
from dreamvid.temporal.cluster import RayOptions, WorkerPool
from dreamvid.temporal.run import run_temporal

settings = build_settings({options})
job = plan_jobs([source], settings, Path(output))[0]
pool = WorkerPool(RayOptions(address, 2, dreamer=StubFactory(delay=0.1)), settings)
pids = ray.get([worker.pid.remote() for worker in pool.workers])
errors = []

def render():
    try:
        run_temporal(job, None, settings, Reporter(), pool.batch, keep_parts=True, pool=pool)
    except BaseException as error:
        errors.append(repr(error))

thread = threading.Thread(target=render)
thread.start()
log = Path(output + ".parts") / "frames.jsonl"
deadline = time.monotonic() + 120
while (not log.exists() or len(log.read_text().splitlines()) < 6) and time.monotonic() < deadline:
    time.sleep(0.02)
killed_at = len(log.read_text().splitlines()) if log.exists() else 0
os.kill(pids[0], signal.SIGKILL)
thread.join(timeout=240)
shipped = vars(pool.shipped)
# The same clip where the workers read it too: nothing is sent.
shared = plan_jobs([Path(clip)], settings, Path(output + "-shared"))[0]
run_temporal(shared, None, settings, Reporter(), pool.batch, pool=pool)
pool.close()
print(json.dumps({{"errors": errors, "alive": thread.is_alive(), "killed_at": killed_at, "shipped": shipped,
                  "shipped_shared": vars(pool.shipped)}}))
"""


def private_namespace() -> list[str] | None:
    """unshare's arguments for a private mount namespace, where this machine allows one (root, or user
    namespaces); None where it does not."""
    for extra in ([], ["--map-root-user"]):
        args = ["unshare", "--mount", *extra, "--propagation", "private"]
        try:
            if subprocess.run([*args, "true"], capture_output=True, timeout=30).returncode == 0:
                return args
        except (OSError, subprocess.TimeoutExpired):
            return None
    return None


def frames(folder: Path) -> dict[str, np.ndarray]:
    import cv2

    return {path.name: cv2.imread(str(path)) for path in sorted(folder.glob("*.png"))}


def test_workers_that_cannot_read_the_source_get_its_packets_and_dream_the_local_frames(tmp_path):
    unshare = private_namespace()
    if unshare is None:
        pytest.skip("no private mount namespace here (unshare --mount needs root or user namespaces)")
    clip = tmp_path / "clip.mp4"
    moving_clip(clip, frames=FRAMES, size=(96, 64))
    settings = build_settings(OPTIONS)
    run_temporal(plan_jobs([clip], settings, tmp_path / "local")[0], StubFactory()(2), settings, Reporter(), 1)
    reference = frames(tmp_path / "local")
    # Outside the driver's namespace the path holds another clip: there, but not the driver's file.
    private = tmp_path / "private"
    private.mkdir()
    moving_clip(private / "clip.mp4", frames=FRAMES, size=(96, 64), dx=-1)
    output = tmp_path / "out"
    with running_head(tmp_path / "head-home", token="t" * 64, cpus=2, env={"PYTHONPATH": str(TESTS)}) as head:
        run = subprocess.run([*unshare, sys.executable, "-c", DRIVER.format(options=OPTIONS), str(clip),
                              str(private), str(output), head.address],
                             env=clean_env(tmp_path / "driver-home", PYTHONPATH=str(TESTS), RAY_AUTH_TOKEN=head.token),
                             capture_output=True, text=True, timeout=300)
    assert run.returncode == 0 and run.stdout.strip(), run.stderr[-3000:]
    result = json.loads(run.stdout.strip().splitlines()[-1])
    assert result["errors"] == [] and not result["alive"], result
    assert 6 <= result["killed_at"] < FRAMES
    for folder in (output, tmp_path / "out-shared"):
        made = frames(folder)
        assert sorted(made) == sorted(reference) and len(made) == FRAMES
        for name, pixels in reference.items():
            assert np.array_equal(made[name], pixels), f"{folder.name}/{name} differs"
    assert result["shipped_shared"]["pieces"] == 0
    shipped = result["shipped"]
    assert shipped["pieces"] >= 5 and shipped["whole_file"] is None  # four segments, and a resumed one
    assert shipped["bytes"] < shipped["raw_bytes"] / 3
    assert shipped["most_in_flight"] <= 2 * 4  # one call per worker: its batch of segments at most
    assert (private / "clip.mp4").exists()  # the other file, untouched outside


def test_a_resumed_segments_piece_starts_where_its_chain_reads(tmp_path, monkeypatch):
    """A chain resumed at frame i decodes from frame i (it restores its state from it), so the piece starts
    there; refs are counted in flight until the call ends."""
    clip = tmp_path / "clip.mp4"
    moving_clip(clip, frames=FRAMES)
    monkeypatch.setattr("ray.put", lambda data: data)  # no Ray runtime: the bytes stand for their ref
    shipper = PieceShipper(VideoSource.open(clip))
    pixels = np.zeros((2, 2, 3), np.uint8)
    work = [(Segment(0, 0, 10), None), (Segment(1, 12, 20, 2), ResumePoint(15, pixels))]
    pieces, refs = shipper.pieces_for(work)
    assert [(piece.first, piece.end) for piece in pieces] == [(0, 10), (15, 20)]
    assert len(refs) == 2 and shipper.shipped.most_in_flight == 2
    shipper.call_ended(refs)
    shipper.pieces_for(work[:1])
    assert shipper.shipped.most_in_flight == 2 and shipper.shipped.pieces == 3


def test_a_source_without_keyframes_is_put_once_for_every_call(tmp_path, monkeypatch):
    from clips import encode_options

    clip = tmp_path / "clip.avi"
    encode_options(clip, ["-c:v", "mpeg4", "-bf", "2", "-g", "8"], 48)  # B-frames: AVI stores no presentation times
    puts = []
    monkeypatch.setattr("ray.put", lambda data: puts.append(len(data)) or f"ref{len(puts)}")
    shipper = PieceShipper(VideoSource.open(clip))
    first, refs = shipper.pieces_for([(Segment(0, 0, 10), None), (Segment(1, 10, 20), None)])
    again, refs_again = shipper.pieces_for([(Segment(2, 20, 30), None)])
    assert len(first) == 1 and first[0].whole and first == again and refs == refs_again == ["ref1"]
    assert puts == [clip.stat().st_size] and shipper.shipped.whole_file == "no keyframes to cut at"


def test_a_sequence_cannot_be_shipped(tmp_path):
    from dreamvid.io.sources import SequenceSource

    still = tmp_path / "frame_001.png"
    import cv2

    cv2.imwrite(str(still), np.zeros((8, 8, 3), np.uint8))
    source = SequenceSource.open(tmp_path, (still,), 10)
    assert not PieceShipper(source).can_ship
    stamps = ray_pieces.source_stamps(source)  # on the driver
    assert ray_pieces.sees_source(stamps)
    shutil.move(still, tmp_path / "moved.png")  # a node without the still
    assert not ray_pieces.sees_source(stamps)
