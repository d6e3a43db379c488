"""What Ray costs: the local pipeline against `--ray auto` with 1 and 2 workers on the bundled clip,
and a simulated two-node cluster that loses a node mid-render.

Each render runs in a child process of its own, so that its peak memory is the driver's alone (Ray's
own processes and the workers are other processes) and Ray starts fresh. Figures:

- frames/s of the render once the models are loaded (from the plan's first frame to the output);
- Ray's overhead as a share of dream time: (render seconds on Ray - local render seconds) / local
  dream seconds, for 1 worker (the same two cores as the local run); and the workers' busy share
  (dream, decode and flow seconds over workers x render seconds);
- start-up (Ray, the workers and their models) apart, since a queue pays it once;
- the driver's peak resident memory;
- whether the frames are the same as the local render's, bit for bit;
- what a source frame costs to decode against shipping it through the object store;
- with --node-loss: a two-node cluster (ray.cluster_utils.Cluster) with one node removed after a few
  frames: the render completes and no frame is dreamed twice.

    python benchmarks/ray_overhead.py                       # 48 frames at 192 px, vgg16-hed, 3 steps
    python benchmarks/ray_overhead.py --frames 12 --label quick

Writes benchmarks/results/ray-overhead[-label].json. A measurement, never a test.
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

RESULTS = Path(__file__).resolve().parent / "results"
STUB_DELAY = 0.1  # seconds per frame of the sleeping stub
BUNDLED_CLIP = Path(__file__).resolve().parents[1] / "samples/bigbuckbunny.mp4"


def settings_for(args) -> dict:
    return dict(model="vgg16-hed", steps=args.steps, octaves=1, flow_steps=1, jitter=16, max_side=args.max_side,
                frames=f"0:{args.frames}", streams=2, warmup=2, audio=False)


# --- one render, in a child process -----------------------------------------------------------------

def child(config: dict) -> dict:
    """Render once as `config` says; returns the timings of this process (the driver)."""
    from dreamvid.api import run_queue
    from dreamvid.jobs import plan_jobs
    from dreamvid.progress import Reporter
    from dreamvid.settings import build_settings

    class Clock(Reporter):
        """When the render starts (models loaded, plan made) and ends."""

        def start(self, job, total, resumed=0):
            self.started = time.monotonic()

        def finish(self):
            self.finished = time.monotonic()

    began = time.monotonic()
    cluster, node_loss, stub = None, config.get("node_loss"), None
    if config.get("stub_delay"):  # a dreamer that sleeps a fixed time per frame: Ray's cost alone shows
        tests = str(Path(__file__).resolve().parents[1] / "tests")
        sys.path.insert(0, tests)
        os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [tests, os.environ.get("PYTHONPATH")]))
        from stub_dreamer import StubFactory

        stub = StubFactory(delay=config["stub_delay"])
    if config["mode"] == "ray":
        import ray

        from dreamvid.temporal.cluster import RayOptions

        if node_loss:
            from ray.cluster_utils import Cluster

            simulated = Cluster(initialize_head=True, head_node_args={"num_cpus": 0, "include_dashboard": False})
            simulated.add_node(num_cpus=1)
            doomed = simulated.add_node(num_cpus=1)
            ray.init(address=simulated.address, logging_level="error", log_to_driver=False)
        cluster = RayOptions("auto", config["workers"], dreamer=stub)
    settings = build_settings(config["settings"])
    output = Path(config["output"])
    jobs = plan_jobs([Path(config["source"])], settings, output)
    clock = Clock()
    removed_at = None
    if node_loss:
        log = output.with_name(output.name + ".parts") / "frames.jsonl"
        thread = threading.Thread(target=run_queue, args=(jobs, settings, clock),
                                  kwargs=dict(keep_parts=True, cluster=cluster))
        thread.start()
        while thread.is_alive() and (not log.exists() or len(log.read_text().splitlines()) < 6):
            time.sleep(0.05)
        removed_at = len(log.read_text().splitlines())
        simulated.remove_node(doomed)
        thread.join()
    elif stub is not None and cluster is None:
        from dreamvid.temporal.run import run_temporal

        run_temporal(jobs[0], stub(2), settings, clock, 1, keep_parts=True)
    else:
        run_queue(jobs, settings, clock, keep_parts=True, cluster=cluster)
    record = json.loads(output.with_name(output.name + ".json").read_text()) if output.suffix else \
        json.loads((output / "dreamvid.json").read_text())
    result = {"startup_s": clock.started - began, "render_s": clock.finished - clock.started,
              "timings": record["parameters"]["timings"], "peak_rss_mib": peak_rss_mib(),
              "load_average": os.getloadavg()[0]}
    if node_loss:
        parts = output.with_name(output.name + ".parts")
        plan = json.loads((parts / "plan.json").read_text())
        expected = Counter(i for s in plan["segments"] for i in range(s["start"] - s["warmup"], s["end"]))
        received = Counter(json.loads(line)["frame"] for line in (parts / "frames.jsonl").read_text().splitlines())
        result.update(removed_after_frames=removed_at, completed=True,
                      dreamed_twice=sorted(i for i in received if received[i] > expected[i]),
                      missing=sorted(i for i in expected if received[i] < expected[i]))
    return result


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run_child(config: dict) -> dict:
    started = time.monotonic()
    run = subprocess.run([sys.executable, __file__, "--child", json.dumps(config)], capture_output=True, text=True)
    if run.returncode:
        raise SystemExit(f"{config['name']} failed:\n{run.stderr[-3000:]}")
    result = json.loads(run.stdout.strip().splitlines()[-1])
    result["wall_s"] = time.monotonic() - started
    return result


# --- decode here, or ship through the object store? --------------------------------------------------

def decode_against_shipping(source: Path, frames: int) -> dict:
    """Milliseconds per source frame (full size) to decode it, against a trip through Ray's object
    store to another process (put here, read there) as uint8 and as the float32 the chain works in."""
    import numpy as np
    import ray

    from dreamvid.io.sources import VideoSource

    video = VideoSource.open(source)
    tick = time.monotonic()
    decoded = list(video.read(0, frames))
    decode_ms = (time.monotonic() - tick) / frames * 1000
    ray.init(address="local", num_cpus=2, include_dashboard=False, logging_level="error", log_to_driver=False)

    @ray.remote
    def touch(frame):
        return float(frame[0, 0, 0])

    ray.get(touch.remote(decoded[0]))  # a worker process started
    trips = {}
    for name, kind in (("uint8", np.uint8), ("float32", np.float32)):
        batch = [(frame * 255).astype(np.uint8) if kind is np.uint8 else frame for frame in decoded]
        tick = time.monotonic()
        ray.get([touch.remote(ray.put(frame)) for frame in batch])
        trips[name] = (time.monotonic() - tick) / frames * 1000
    ray.shutdown()
    height, width = decoded[0].shape[:2]
    return {"size": [width, height], "decode_ms": round(decode_ms, 2),
            "object_store_ms_uint8": round(trips["uint8"], 2), "object_store_ms_float32": round(trips["float32"], 2),
            "frame_mb_uint8": round(width * height * 3 / 1e6, 2)}


def same_frames(a: Path, b: Path) -> bool:
    import cv2
    import numpy as np

    names = sorted(path.name for path in a.glob("*.png"))
    return names == sorted(path.name for path in b.glob("*.png")) and all(
        np.array_equal(cv2.imread(str(a / name)), cv2.imread(str(b / name))) for name in names)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--frames", type=int, default=48)
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--max-side", type=int, default=192)
    parser.add_argument("--source", type=Path, default=BUNDLED_CLIP)
    parser.add_argument("--no-node-loss", action="store_true", help="Skip the two-node cluster.")
    parser.add_argument("--label", default="")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(json.loads(args.child))))
        return
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    import machine

    settings = settings_for(args)
    runs = {}
    with tempfile.TemporaryDirectory() as folder:
        configs = [("local", "local", None), ("ray-1-worker", "ray", 1), ("ray-2-workers", "ray", 2),
                   ("stub-local", "local", None), ("stub-ray-1-worker", "ray", 1)]
        if not args.no_node_loss:
            configs.append(("two-nodes-one-lost", "ray", 2))
        for name, mode, workers in configs:
            config = {"name": name, "mode": mode, "workers": workers, "settings": settings,
                      "source": str(args.source), "output": str(Path(folder) / name),
                      "node_loss": name == "two-nodes-one-lost",
                      "stub_delay": STUB_DELAY if name.startswith("stub") else None}
            result = run_child(config)
            reference = Path(folder) / ("stub-local" if name.startswith("stub") else "local")
            result["same_frames_as_local"] = name.endswith("local") or same_frames(reference, Path(folder) / name)
            runs[name] = result
            print(name, json.dumps(result), flush=True)
        shipping = decode_against_shipping(args.source, 24)
    local = runs["local"]
    frames = args.frames + 2  # the second segment's warm-up frames are dreamed too
    for name, result in runs.items():
        result["frames_per_s"] = round(args.frames / result["render_s"], 3)
        workers = 2 if "2-workers" in name or "two-nodes" in name else 1
        busy = sum(result["timings"].get(stage, 0.0) for stage in ("dream", "decode", "flow"))
        result["workers_busy_share"] = round(busy / (workers * result["render_s"]), 3)
    overhead = (runs["ray-1-worker"]["render_s"] - local["render_s"]) / local["timings"]["dream"]
    # With a dreamer that sleeps, CPU contention hardly moves the dream time: the difference is Ray's.
    per_frame = (runs["stub-ray-1-worker"]["render_s"] - runs["stub-local"]["render_s"]) / frames
    dream_per_frame = local["timings"]["dream"] / frames
    summary = {"machine": machine.info(), "settings": settings, "dreamed_frames": frames, "runs": runs,
               "ray_overhead_share_of_dream_1_worker": round(overhead, 4),
               "ray_overhead_s_per_frame_stub": round(per_frame, 4),
               "ray_overhead_share_of_local_dream_per_frame": round(per_frame / dream_per_frame, 4),
               "decode_vs_object_store": shipping}
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / f"ray-overhead{'-' + args.label if args.label else ''}.json"
    path.write_text(json.dumps(summary, indent=2) + "\n")
    print(f"\n{'run':22} {'frames/s':>9} {'render s':>9} {'startup s':>10} {'busy':>6} {'driver MiB':>11} same")
    for name, result in runs.items():
        print(f"{name:22} {result['frames_per_s']:9.3f} {result['render_s']:9.1f} {result['startup_s']:10.1f} "
              f"{result['workers_busy_share']:6.2f} {result['peak_rss_mib']:11.0f} {result['same_frames_as_local']}")
    print(f"Ray overhead, 1 worker: {overhead:.1%} of dream time (real model); {per_frame * 1000:.1f} ms per frame "
          f"with a sleeping stub = {per_frame / dream_per_frame:.1%} of a local frame's dream time")
    print(f"decode vs object store: {shipping}")
    print(f"-> {path}")


if __name__ == "__main__":
    main()
