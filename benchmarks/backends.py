"""TensorFlow against JAX against PyTorch on this machine: a still and a clip dreamed with each backend (each
in a process of its own, with the same seed and settings), their seconds (wall and CPU) and how many
8-bit levels each differs from TensorFlow's (mean absolute difference, and the largest).

    python benchmarks/backends.py                  # a frame of the bundled clip, and its first 24 frames, at 320 px
    python benchmarks/backends.py --frames 8 --label quick

Writes benchmarks/results/backends-<label>.json. A measurement, never a test."""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import machine  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"
BUNDLED_CLIP = Path(__file__).resolve().parents[1] / "samples/bigbuckbunny.mp4"
BACKENDS = ("tensorflow", "jax", "torch")

CHILD = """
import json, os, sys, time
import dreamvid
still, clip, folder, backend, options = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4], json.loads(sys.argv[5])
out = {}
for name, source, target in (("still", still, "still.png"), ("clip", clip, "clip.mp4")):
    started, cpu = time.monotonic(), sum(os.times()[:4])
    dreamvid.render(source, f"{folder}/{target}", backend=backend, overwrite=True, fresh=True, **options[name])
    out[name] = {"seconds": round(time.monotonic() - started, 2), "cpu_seconds": round(sum(os.times()[:4]) - cpu, 2)}
print(json.dumps(out))
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--frames", type=int, default=24)
    parser.add_argument("--max-side", type=int, default=320)
    parser.add_argument("--model", default="vgg16-hed")
    parser.add_argument("--label", default="cpu")
    args = parser.parse_args()
    import cv2

    from dreamvid.io.decode import read_frames

    with tempfile.TemporaryDirectory(prefix="dreamvid-backends-") as folder:
        folder = Path(folder)
        frame = next(iter(read_frames(BUNDLED_CLIP, 60, 61)))
        still = folder / "frame60.png"
        cv2.imwrite(str(still), np.ascontiguousarray(frame[..., ::-1]))
        common = {"model": args.model, "max_side": args.max_side}
        options = {"still": common, "clip": {**common, "frames": f"0:{args.frames}"}}
        runs = {}
        for backend in BACKENDS:
            out = folder / backend
            out.mkdir()
            env = {**os.environ, "XDG_CACHE_HOME": str(folder / "cache")}  # JAX compiles from scratch, as a first run
            env.pop("KERAS_BACKEND", None)
            done = subprocess.run([sys.executable, "-c", CHILD, str(still), str(BUNDLED_CLIP), str(out), backend,
                                   json.dumps(options)], capture_output=True, text=True, env=env)
            if done.returncode != 0:
                runs[backend] = {"error": done.stderr[-1000:]}
                continue
            runs[backend] = json.loads(done.stdout.strip().splitlines()[-1])
            print(backend, runs[backend], file=sys.stderr, flush=True)
        reference_still = cv2.imread(str(folder / "tensorflow/still.png")).astype(np.float64)
        reference_clip = np.stack(list(read_frames(folder / "tensorflow/clip.mp4"))).astype(np.float64)
        for backend in BACKENDS[1:]:
            if "error" in runs[backend]:
                continue
            still_diff = np.abs(cv2.imread(str(folder / backend / "still.png")).astype(np.float64) - reference_still)
            clip_diff = np.abs(np.stack(list(read_frames(folder / backend / "clip.mp4"))).astype(np.float64)
                               - reference_clip)
            runs[backend]["still"].update(levels_mean=round(float(still_diff.mean()), 4), levels_max=float(still_diff.max()))
            runs[backend]["clip"].update(levels_mean=round(float(clip_diff.mean()), 4), levels_max=float(clip_diff.max()),
                                         levels_mean_per_frame=[round(float(d.mean()), 3) for d in clip_diff])
    result = {"benchmark": "backends", "date": time.strftime("%Y-%m-%d"), "machine": machine.info(),
              "options": options, "runs": runs}
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / f"backends-{args.label}.json"
    path.write_text(json.dumps(result, indent=2) + "\n")
    print(path)


if __name__ == "__main__":
    main()
