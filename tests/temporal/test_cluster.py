"""The Ray runner on one machine: Ray started once for the session (2 CPUs, no dashboard) and a stub
dreamer (tests/doubles.py) where the model is not the point. Ray frames equal local frames; a killed
worker is replaced without dreaming a finished frame again; a killed driver resumes; a node is lost in a
simulated two-node cluster; --ray without Ray is one line, exit 2, before TensorFlow."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path

import cv2
import numpy as np
import pytest

from clips import moving_clip
from doubles import StubFactory
from dreamvid.api import run_queue
from dreamvid.jobs import plan_jobs
from dreamvid.progress import Reporter
from dreamvid.settings import build_settings
from dreamvid.temporal.chain import ResumePoint
from dreamvid.temporal.cluster import RayOptions, WorkerPool, longest_first
from dreamvid.temporal.plan import Segment
from dreamvid.temporal.run import run_temporal
from helpers import TESTS, kill_when


# Four segments with a warm-up: segments cross-fade, and two workers each dream two in turn. The
# schedules must reach each frame on the workers as they do here.
OPTIONS = dict(model="vgg16-hed", steps="0:(1), 20:(3)", step_size="0:(0.005), 23:(0.03)", octaves=1, streams=4,
               warmup=2)


FRAMES = 24


@pytest.fixture(scope="session")
def ray_address():
    """One Ray runtime for the whole file; its workers import the stub from this folder."""
    import ray

    os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(TESTS), os.environ.get("PYTHONPATH")]))
    ray.init(address="local", num_cpus=2, include_dashboard=False, logging_level="error", log_to_driver=False)
    yield ray.get_runtime_context().gcs_address
    ray.shutdown()


@pytest.fixture(scope="module")
def clip(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("clip") / "clip.mp4"
    moving_clip(path, frames=FRAMES, size=(96, 64))
    return path


@pytest.fixture(scope="module")
def reference(clip, tmp_path_factory) -> dict[str, np.ndarray]:
    """The frames of an uninterrupted local render."""
    output = tmp_path_factory.mktemp("local") / "out"
    settings = build_settings(OPTIONS)
    job = plan_jobs([clip], settings, output)[0]
    run_temporal(job, StubFactory()(2), settings, Reporter(), 1)
    return frames(output)


def frames(folder: Path) -> dict[str, np.ndarray]:
    return {path.name: cv2.imread(str(path)) for path in sorted(folder.glob("*.png"))}


def assert_same_frames(output: Path, reference: dict[str, np.ndarray]) -> None:
    made = frames(output)
    assert sorted(made) == sorted(reference) and len(made) == FRAMES
    for name, pixels in reference.items():
        assert np.array_equal(made[name], pixels), f"{name} differs"


def parts(output: Path) -> Path:
    return output.with_name(output.name + ".parts")


def logged(output: Path) -> list[int]:
    """The frames the driver received, one line each, in the work folder's log."""
    log = parts(output) / "frames.jsonl"
    return [json.loads(line)["frame"] for line in log.read_text().splitlines()] if log.exists() else []


def each_frame_once(output: Path) -> Counter:
    """How often a render dreams each frame when none is dreamed twice: once per segment holding it
    (a warm-up frame belongs to two)."""
    plan = json.loads((parts(output) / "plan.json").read_text())
    return Counter(index for segment in plan["segments"]
                   for index in range(segment["start"] - segment["warmup"], segment["end"]))


def on_ray(clip: Path, output: Path, workers: int, **stub) -> None:
    settings = build_settings(OPTIONS)
    jobs = plan_jobs([clip], settings, output)
    run_queue(jobs, settings, Reporter(), keep_parts=True,
              cluster=RayOptions("auto", workers, dreamer=StubFactory(**stub)))


@pytest.mark.parametrize("workers", [1, 2])
def test_ray_frames_equal_local_frames(ray_address, clip, reference, tmp_path, workers):
    output = tmp_path / "out"
    on_ray(clip, output, workers)
    assert_same_frames(output, reference)
    assert Counter(logged(output)) == each_frame_once(output)


def test_killed_worker_is_replaced_and_no_finished_frame_is_dreamed_again(ray_address, clip, reference, tmp_path):
    import ray

    output = tmp_path / "out"
    settings = build_settings(OPTIONS)
    job = plan_jobs([clip], settings, output)[0]
    pool = WorkerPool(RayOptions("auto", 2, dreamer=StubFactory(delay=0.15)), settings)
    first = [worker._actor_id for worker in pool.workers]
    pids = ray.get([worker.pid.remote() for worker in pool.workers])
    outcome: list = []
    render = threading.Thread(target=lambda: outcome.append(_run(job, settings, pool)))
    try:
        render.start()
        deadline = time.monotonic() + 60
        while len(logged(output)) < 4 and time.monotonic() < deadline:
            time.sleep(0.02)
        os.kill(pids[0], signal.SIGKILL)
        kept = {path.name: (path.stat().st_ino, path.stat().st_mtime_ns) for path in parts(output).iterdir()
                if path.name not in ("plan.json", "frames.jsonl") and not path.name.startswith(".")}
        render.join(timeout=120)
        after = [worker._actor_id for worker in pool.workers]
    finally:
        pool.close()
    assert outcome and outcome[0] is None, outcome
    assert kept and 4 <= len(kept) < FRAMES + 6
    assert after[0] != first[0] and after[1] == first[1]  # the killed worker, and only it, was replaced
    assert_same_frames(output, reference)
    for name, (inode, modified) in kept.items():  # finished before the kill: untouched
        path = parts(output) / name
        assert (path.stat().st_ino, path.stat().st_mtime_ns) == (inode, modified), name
    assert Counter(logged(output)) == each_frame_once(output)  # nothing dreamed twice


def _run(job, settings, pool) -> BaseException | None:
    try:
        run_temporal(job, None, settings, Reporter(), pool.batch, keep_parts=True, pool=pool)
    except BaseException as error:
        return error
    return None


DRIVER = """
import sys
from pathlib import Path
from doubles import StubFactory
from dreamvid.api import run_queue
from dreamvid.jobs import plan_jobs
from dreamvid.progress import Reporter
from dreamvid.settings import build_settings
from dreamvid.temporal.cluster import RayOptions

clip, output, address = sys.argv[1:]
settings = build_settings({options})
jobs = plan_jobs([Path(clip)], settings, Path(output))
run_queue(jobs, settings, Reporter(), keep_parts=True,
          cluster=RayOptions(address, 2, dreamer=StubFactory(delay=0.15)))
"""


def test_killed_driver_resumes_with_the_same_frames(ray_address, clip, reference, tmp_path):
    output = tmp_path / "out"
    env = {**os.environ, "PYTHONPATH": str(TESTS)}
    driver = subprocess.Popen([sys.executable, "-c", DRIVER.format(options=OPTIONS), str(clip), str(output),
                               ray_address], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    kill_when(driver, lambda: len(logged(output)) >= 4)
    assert 4 <= len(logged(output)) < FRAMES and not output.exists()
    on_ray(clip, output, 2)  # the same command again, here
    assert_same_frames(output, reference)


def test_longest_remaining_segments_go_first():
    pixels = np.zeros((2, 2, 3), np.uint8)
    short, long, resumed, warm = Segment(0, 0, 10), Segment(1, 10, 40), Segment(2, 40, 80), Segment(3, 80, 100, 5)
    work = [(short, None), (long, None), (resumed, ResumePoint(69, pixels)), (warm, None)]
    order = [segment.index for segment, _ in longest_first(work)]
    assert order == [1, 3, 0, 2]  # 30 left, 25 (with its warm-up), then 10 and 10 after the resume: in frame order


def test_ray_without_ray_installed_is_one_line_before_tensorflow(command, clip, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)  # as if not installed: `import ray` fails
    run = command(tmp_path, str(clip), "-o", str(tmp_path / "out.mp4"), "--ray", "auto")
    assert run.status == 2
    assert run.stderr.strip() == "dreamvid: error: --ray needs Ray: pip install 'dreamvid[ray]'"
    assert run.loaded == []  # no TensorFlow
    assert not (tmp_path / "out.mp4.parts").exists()


def test_cluster_options_need_ray(command, clip, tmp_path):
    run = command(tmp_path, str(clip), "--workers", "2")
    assert run.status == 2 and run.loaded == []
    assert run.stderr.strip() == "dreamvid: error: --workers needs --ray (auto, or a cluster's HOST:PORT)"


LOCAL = """
import sys
from pathlib import Path
from doubles import StubFactory
from dreamvid import cli
from dreamvid.jobs import plan_jobs
from dreamvid.progress import Reporter
from dreamvid.settings import build_settings
from dreamvid.temporal.run import run_temporal

settings = build_settings({options})
job = plan_jobs([Path(sys.argv[1])], settings, Path(sys.argv[2]))[0]
run_temporal(job, StubFactory()(2), settings, Reporter(), 1)
print(sorted(name for name in sys.modules if name.split(".")[0] == "ray"))
"""


def test_without_ray_option_ray_is_never_imported(clip, tmp_path):
    env = {**os.environ, "PYTHONPATH": str(TESTS)}
    run = subprocess.run([sys.executable, "-c", LOCAL.format(options=OPTIONS), str(clip), str(tmp_path / "out")],
                         env=env, capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr[-2000:]
    assert run.stdout.strip() == "[]"
    assert len(frames(tmp_path / "out")) == FRAMES


NODE_LOSS = """
import json, sys, threading, time
from pathlib import Path
import ray
from ray.cluster_utils import Cluster
from doubles import StubFactory
from dreamvid.api import run_queue
from dreamvid.jobs import plan_jobs
from dreamvid.progress import Reporter
from dreamvid.settings import build_settings
from dreamvid.temporal.cluster import RayOptions

clip, output = Path(sys.argv[1]), Path(sys.argv[2])
cluster = Cluster(initialize_head=True, head_node_args={{"num_cpus": 0, "include_dashboard": False}})
cluster.add_node(num_cpus=1)
doomed = cluster.add_node(num_cpus=1)
ray.init(address=cluster.address, logging_level="error", log_to_driver=False)
settings = build_settings({options})
jobs = plan_jobs([clip], settings, output)
errors = []

def render():
    try:
        run_queue(jobs, settings, Reporter(), keep_parts=True,
                  cluster=RayOptions(cluster.address, 2, dreamer=StubFactory(delay=0.15)))
    except BaseException as error:
        errors.append(repr(error))

thread = threading.Thread(target=render)
thread.start()
log = output.with_name(output.name + ".parts") / "frames.jsonl"
deadline = time.monotonic() + 120
while (not log.exists() or len(log.read_text().splitlines()) < 4) and time.monotonic() < deadline:
    time.sleep(0.02)
at = len(log.read_text().splitlines())
cluster.remove_node(doomed)
thread.join(timeout=240)
print(json.dumps({{"removed_at": at, "errors": errors, "alive": thread.is_alive()}}))
ray.shutdown()
cluster.shutdown()
"""


@pytest.mark.slow
def test_lost_node_in_a_two_node_cluster(clip, reference, tmp_path):
    """In a child process: a cluster of its own (a head without CPUs, two one-CPU nodes)."""
    output = tmp_path / "out"
    env = {**os.environ, "PYTHONPATH": str(TESTS)}
    run = subprocess.run([sys.executable, "-c", NODE_LOSS.format(options=OPTIONS), str(clip), str(output)],
                         env=env, capture_output=True, text=True, timeout=280)
    assert run.returncode == 0, run.stderr[-3000:]
    result = json.loads(run.stdout.strip().splitlines()[-1])
    assert result["errors"] == [] and not result["alive"]
    assert 4 <= result["removed_at"] < FRAMES
    assert_same_frames(output, reference)
    assert Counter(logged(output)) == each_frame_once(output)  # no frame dreamed twice


@pytest.mark.slow
def test_real_engine_on_two_workers_gives_the_local_frames(ray_address, tmp_path):
    """The real model in each worker (TensorFlow held to the one CPU Ray gave it) against this process
    with both cores: on the CPU, the same frames bit for bit."""
    from dreamvid.engine import load_dreamer

    clip = tmp_path / "short.mp4"
    moving_clip(clip, frames=6, size=(96, 64))
    options = dict(model="inception_v3", weights="random", layers=("mixed3",), steps=2, octaves=1, streams=2,
                   warmup=1, jitter=8)
    settings = build_settings(options)
    job = plan_jobs([clip], settings, tmp_path / "local")[0]
    run_temporal(job, load_dreamer(settings), settings, Reporter(), 1)
    jobs = plan_jobs([clip], settings, tmp_path / "ray")
    run_queue(jobs, settings, Reporter(), cluster=RayOptions("auto", 2))
    local, remote = frames(tmp_path / "local"), frames(tmp_path / "ray")
    assert sorted(local) == sorted(remote) and len(local) == 6
    for name in local:
        assert np.array_equal(local[name], remote[name]), f"{name} differs"


def test_without_streams_the_segments_and_frames_do_not_depend_on_the_workers(ray_address, clip, tmp_path,
                                                                             monkeypatch):
    from dreamvid.temporal import plan

    monkeypatch.setattr(plan, "SEGMENT_FRAMES", 10)  # a "long" clip: 24 frames make 3 segments
    options = {key: value for key, value in OPTIONS.items() if key != "streams"}
    settings = build_settings(options)
    local = tmp_path / "local"
    run_temporal(plan_jobs([clip], settings, local)[0], StubFactory()(2), settings, Reporter(), 1, keep_parts=True)
    segments = json.loads((parts(local) / "plan.json").read_text())["segments"]
    assert len(segments) == 3
    for workers in (1, 2):
        output = tmp_path / f"ray{workers}"
        run_queue(plan_jobs([clip], settings, output), settings, Reporter(), keep_parts=True,
                  cluster=RayOptions("auto", workers, dreamer=StubFactory()))
        assert json.loads((parts(output) / "plan.json").read_text())["segments"] == segments
        made, expected = frames(output), frames(local)
        assert sorted(made) == sorted(expected) and all(np.array_equal(made[n], expected[n]) for n in expected)


def test_a_video_rendered_on_ray_is_the_local_video(ray_address, clip, tmp_path):
    """A video output keeps its frames in chunks on the driver (see checkpoints.py): same file content."""
    from dreamvid.io.decode import read_frames

    settings = build_settings({**OPTIONS, "audio": False})
    local, remote = tmp_path / "local.mp4", tmp_path / "ray.mp4"
    run_temporal(plan_jobs([clip], settings, local)[0], StubFactory()(2), settings, Reporter(), 1)
    run_queue(plan_jobs([clip], settings, remote), settings, Reporter(),
              cluster=RayOptions("auto", 2, dreamer=StubFactory()))
    made, expected = list(read_frames(remote)), list(read_frames(local))
    assert len(made) == len(expected) == FRAMES
    assert all(np.array_equal(a, b) for a, b in zip(made, expected))
