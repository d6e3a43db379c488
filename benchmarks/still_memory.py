"""Peak memory (process RSS) of dreaming one large still with the `dreamvid` command, to calibrate
the estimate that planning checks a still against (dreamvid/stills.py: still_bytes).

    python benchmarks/still_memory.py                       # 96x64, 1500x1000, 3000x2000; auto tile and --tile 512
    python benchmarks/still_memory.py --sizes 3000x2000 --options '[{"tile": 512, "max_side": 1500}]' --label max-side

Each size runs in its own process (the peak is the child's ru_maxrss and VmHWM). Writes
benchmarks/results/still-memory[-LABEL].json. A measurement, never a test.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image

import machine  # benchmarks/machine.py, next to this file

RESULTS = Path(__file__).resolve().parent / "results"
CHILD = """
import json, resource, sys, time
from dreamvid.api import render
started = time.monotonic()
render([sys.argv[1]], sys.argv[2], overwrite=True, model="vgg16-hed", steps=1, octaves=1, **json.loads(sys.argv[3]))
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
hwm = [line for line in open("/proc/self/status") if line.startswith("VmHWM")][0].split()[1]
print(json.dumps({"peak_rss": peak, "vmhwm": int(hwm) * 1024, "seconds": time.monotonic() - started}))
"""


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", default="96x64,1500x1000,3000x2000")
    parser.add_argument("--options", default='[{}, {"tile": 512}]', help="render options to try, as JSON")
    parser.add_argument("--label", default="")
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        for size in args.sizes.split(","):
            width, height = map(int, size.split("x"))
            rng = np.random.default_rng(0)
            y, x = np.mgrid[0:height, 0:width] / max(height, width)
            picture = np.dstack([x, y, 1 - x * y]) * 200 + rng.random((height, width, 3)) * 55
            source = Path(folder) / f"still_{size}.jpg"
            Image.fromarray(picture.astype(np.uint8)).save(source, quality=90)
            for options in json.loads(args.options):
                output = Path(folder) / f"out_{size}.png"
                result = subprocess.run([sys.executable, "-c", CHILD, str(source), str(output), json.dumps(options)],
                                        capture_output=True, text=True, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"})
                if result.returncode:
                    raise SystemExit(result.stderr)
                measured = json.loads(result.stdout.strip().splitlines()[-1])
                tile = json.loads(output.with_name(output.name + ".json").read_text()).get("parameters", {}).get("tile")
                row = {"width": width, "height": height, **options, "tile_used": tile, **measured}
                print(json.dumps(row), flush=True)
                rows.append(row)
    RESULTS.mkdir(exist_ok=True)
    record = {"benchmark": "still_memory", "machine": machine.info(), "runs": rows}
    name = f"still-memory{'-' + args.label if args.label else ''}.json"
    (RESULTS / name).write_text(json.dumps(record, indent=2) + "\n")


if __name__ == "__main__":
    main()
