"""Seconds per N gradient steps on one frame, with and without XLA.

One frame (batch 1), one octave, a tile as large as the frame (so one tile), dreamed through
dreamvid's own engine (`Dreamer.dream`). The first call of each configuration traces (and with XLA
compiles) the step loop, so it is run once untimed; the median of several timed repeats is kept.

    python benchmarks/steps.py                      # 640x360, 10 steps, inception mixed5 and vgg16-hed
    python benchmarks/steps.py --size 320x180 --steps 5 --repeats 2 --models vgg16-hed

Writes benchmarks/results/steps.json. A measurement, never a test: nothing here gates CI.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402

import machine  # noqa: E402  (benchmarks/machine.py, next to this file)

RESULTS = Path(__file__).resolve().parent / "results"

# model name -> (weights, layer): random weights where real ones need a download; timing does not
# depend on the values of the weights.
MODELS = {
    "inception_v3": ("random", "mixed5"),
    "vgg16-hed": (None, "block4_conv3"),
}


def parse_size(text: str) -> tuple[int, int]:
    """'640x360' -> (height, width) = (360, 640)."""
    width, height = (int(part) for part in text.lower().split("x"))
    return height, width


def time_steps(model: str, weights: str | None, layer: str, xla: bool, size: tuple[int, int],
               steps: int, repeats: int) -> dict:
    from dreamvid.engine import load_dreamer
    from dreamvid.settings import DreamParams, build_settings

    height, width = size
    settings = build_settings({"model": model, "weights": weights, "layers": [layer], "xla": xla})
    dreamer = load_dreamer(settings)
    params = DreamParams(octaves=1, steps=steps, tile=max(64, height, width))
    frame = np.random.default_rng(0).random((1, height, width, 3), dtype=np.float32)
    started = time.perf_counter()
    dreamer.dream(frame, params)  # traces, and with XLA compiles, for this shape
    first = time.perf_counter() - started
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        dreamer.dream(frame, params)
        times.append(time.perf_counter() - started)
    return {"model": model, "weights": settings.weights or "default", "layer": layer, "xla": xla,
            "size": [width, height], "steps": steps, "first_call_s": round(first, 3),
            "times_s": [round(t, 4) for t in times], "median_s": round(statistics.median(times), 4),
            "ms_per_step": round(1000 * statistics.median(times) / max(steps, 1), 2)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", default="640x360", help="WIDTHxHEIGHT of the frame (default 640x360)")
    parser.add_argument("--steps", type=int, default=10, help="gradient steps per timed call (default 10)")
    parser.add_argument("--repeats", type=int, default=3, help="timed calls after the warm-up (default 3)")
    parser.add_argument("--models", nargs="+", default=list(MODELS), choices=list(MODELS))
    parser.add_argument("--xla", choices=["both", "on", "off"], default="both")
    parser.add_argument("--output", type=Path, default=RESULTS / "steps.json")
    args = parser.parse_args()

    size = parse_size(args.size)
    flags = {"both": [False, True], "on": [True], "off": [False]}[args.xla]
    rows = []
    for model in args.models:
        weights, layer = MODELS[model]
        for xla in flags:
            try:
                rows.append(time_steps(model, weights, layer, xla, size, args.steps, args.repeats))
            except Exception as error:  # e.g. XLA cannot compile the loop: record it, go on
                rows.append({"model": model, "layer": layer, "xla": xla, "size": [size[1], size[0]],
                             "steps": args.steps, "error": f"{type(error).__name__}: {str(error)[:300]}"})
            print_row(rows[-1])
    record = {"benchmark": "steps", "machine": machine.info(), "results": rows}
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
    print(f"\n{'model':<14}{'layer':<14}{'xla':<6}{'size':<10}{'steps':>6}{'median s':>10}{'ms/step':>9}{'1st call s':>11}")
    for row in rows:
        size_text = "x".join(map(str, row["size"]))
        if "error" in row:
            print(f"{row['model']:<14}{row['layer']:<14}{str(row['xla']):<6}{size_text:<10}{row['steps']:>6}  failed: {row['error'][:80]}")
        else:
            print(f"{row['model']:<14}{row['layer']:<14}{str(row['xla']):<6}{size_text:<10}{row['steps']:>6}"
                  f"{row['median_s']:>10.3f}{row['ms_per_step']:>9.1f}{row['first_call_s']:>11.2f}")
    print(f"\nwrote {args.output}")


def print_row(row: dict) -> None:
    """One line as each configuration finishes, so a long run shows progress."""
    print(f"done: {row['model']} xla={row['xla']}: " + (row["error"][:120] if "error" in row else f"{row['median_s']:.3f} s"),
          flush=True)


if __name__ == "__main__":
    main()
