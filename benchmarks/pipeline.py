"""The CPU side of a render alone: frames/s of decode, flow, carry, checkpoints and encode with a dreamer
that returns at once, against the number of threads the CPU side may use (DREAMVID_THREADS). That is the
ceiling an accelerator meets: a GPU that dreams a carried 720p frame in a few milliseconds renders no
faster than this.

    python benchmarks/pipeline.py                        # the bundled clip at 1280x720, 1, 2, 4 ... threads
    python benchmarks/pipeline.py --threads 1 2 --frames 48 --max-side 640

Writes benchmarks/results/pipeline-<label>.json. A measurement, never a test: nothing here gates CI."""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import machine  # noqa: E402  (benchmarks/machine.py, next to this file)

RESULTS = Path(__file__).resolve().parent / "results"
BUNDLED_CLIP = Path(__file__).resolve().parents[1] / "samples/bigbuckbunny.mp4"


class InstantDreamer:
    """Adds a faint, fixed pattern and returns: what dreamvid's CPU side does around a dreamer that costs
    nothing. The pattern keeps the carried dream non-zero, so the carry is warped as in a real render."""

    features = SimpleNamespace(precision="float32")

    def __init__(self):
        self.frames = 0

    def auto_tile(self, batch: int) -> int:
        return 2048

    def octave_shapes(self, height: int, width: int, params, top_octaves=None) -> list[tuple[int, int]]:
        return [(height, width)]

    def octave_strengths(self, images: np.ndarray, params, top_octaves=None, where=None) -> dict:
        return {images.shape[1:3]: np.full((len(images), 1), np.nan)}  # unknown: the hold takes every step

    def dream(self, images: np.ndarray, params, steps=None, step_map=None, top_octaves=None,
              held=None) -> np.ndarray:
        self.frames += len(images)
        width = images.shape[2]
        pattern = 0.02 * np.sin(np.arange(width, dtype=np.float32) / 7.0)[None, None, :, None]
        return np.clip(images + pattern, 0.0, 1.0)


def cpu_seconds() -> float:
    times = os.times()
    return times.user + times.system + times.children_user + times.children_system


def run(source: Path, folder: Path, threads: int, frames: int, max_side: int | None, batch: int) -> dict:
    """One render of `frames` frames with the CPU side on `threads` threads."""
    import cv2

    import dreamvid

    os.environ["DREAMVID_THREADS"] = str(threads)
    cv2.setNumThreads(threads)
    output = folder / f"pipeline-{threads}.mp4"
    dreamer = InstantDreamer()
    started, cpu = time.monotonic(), cpu_seconds()
    [result] = dreamvid.render(source, output, dreamer=dreamer, overwrite=True, fresh=True, model="inception_v3",
                               weights="random", batch=batch, frames=f"0:{frames}", max_side=max_side)
    wall, cpu = time.monotonic() - started, cpu_seconds() - cpu
    record = json.loads(output.with_name(output.name + ".json").read_text())
    timings = record["parameters"]["timings"]
    return {"threads": threads, "frames": result.frames, "seconds": round(wall, 2),
            "frames_per_second": round(result.frames / wall, 2), "cpu_cores_busy": round(cpu / wall, 2),
            "stage_seconds": timings, "size": record["size"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--source", type=Path, default=BUNDLED_CLIP)
    parser.add_argument("--frames", type=int, default=132)
    parser.add_argument("--max-side", type=int, default=None, help="default: the clip's own size (1280 for the bundled)")
    parser.add_argument("--batch", type=int, default=4, help="frames per dream call, as on a GPU (default 4)")
    parser.add_argument("--threads", type=int, nargs="*", default=None,
                        help="thread counts to try (default 1, 2, 4 ... up to the cores)")
    parser.add_argument("--label", default=None)
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    cores = os.cpu_count() or 1
    counts = args.threads or sorted({1, *[2**k for k in range(1, 8) if 2**k <= cores], cores})
    runs = []
    with tempfile.TemporaryDirectory(prefix="dreamvid-pipeline-") as folder:
        for threads in counts:
            runs.append(run(args.source, Path(folder), threads, args.frames, args.max_side, args.batch))
            print(json.dumps(runs[-1]), file=sys.stderr, flush=True)
    label = args.label or f"{cores}cores"
    result = {"benchmark": "pipeline", "date": time.strftime("%Y-%m-%d"), "machine": machine.info(),
              "source": str(args.source), "batch": args.batch, "runs": runs}
    args.out.mkdir(parents=True, exist_ok=True)
    path = args.out / f"pipeline-{label}.json"
    path.write_text(json.dumps(result, indent=2) + "\n")
    print(path)


if __name__ == "__main__":
    main()
