"""dreamvid on a GPU, in one call of at most about 6 minutes (run through run.sh, which brings Keras and
ffmpeg to a machine that lacks them):

1. the dream step alone: InceptionV3 (random weights: the cost is ImageNet's), mixed3 + mixed5, at 1280x720,
   batch 1, 2, 4 and 8, float32 and bfloat16, on JAX and on PyTorch: ms per step, TFLOP/s and the share of
   the machine's bf16 matrix peak (--peak, 790 TFLOP/s measured on one H200);
2. the bundled clip rendered end to end at 1280x720 with the defaults on the faster backend: frames/s (the
   first render compiles; a second, warm, is the figure), each stage's share of the time, GPU utilisation
   sampled with nvidia-smi, the CPU cores the render kept busy, the peak GPU memory;
3. the CPU side alone (benchmarks/pipeline.py) against the thread count: the ceiling the GPU meets.

Each part runs in a process of its own (Keras takes one backend per process) and within its share of the
time budget; what did not fit is recorded as skipped. Everything goes to OUT/gpu-bench.json.

    OUT=/tmp/out bash benchmarks/gpu/run.sh            # on the GPU machine
    bash benchmarks/gpu/run.sh --dry-run               # here, on the CPU, at tiny sizes (CI runs this)

A step's FLOPs are 2 x the forward pass's convolutions (the backward pass goes to the input only, as
benchmarks/bench.py counts them)."""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
sys.path.insert(0, str(HERE.parent))
BUNDLED_CLIP = ROOT / "samples/bigbuckbunny.mp4"
FLOP_FACTOR = 2.0
LAYERS = ["mixed3", "mixed5"]


def full_plan() -> dict:
    return {"size": (720, 1280), "batches": [1, 2, 4, 8], "precisions": ["float32", "bfloat16"], "steps": 10,
            "render": {"frames": None, "max_side": None, "options": {}},
            "pipeline": {"threads": [1, 4, 8, 16], "frames": 132, "max_side": None},
            "budget": {"step": 170, "render": 130, "pipeline": 45}}


def dry_plan() -> dict:
    return {"size": (72, 128), "batches": [1, 2], "precisions": ["float32", "bfloat16"], "steps": 2,
            "render": {"frames": "0:6", "max_side": 96, "options": {"steps": 2, "octaves": 2}},
            "pipeline": {"threads": [1], "frames": 6, "max_side": 96},
            "budget": {"step": 240, "render": 240, "pipeline": 120}}


# --- 1. the dream step alone, in a child process per backend ---------------------------------------------

def forward_flops(model, height: int, width: int) -> float:
    """FLOPs of one forward pass of `model` on one height x width picture: its convolutions, 2 per
    multiply-add, from the output size each one has at that input size."""
    import keras
    import numpy as np

    convolutions = [layer for layer in model.layers if isinstance(layer, keras.layers.Conv2D)]
    probe = keras.Model(model.input, [layer.output for layer in convolutions])
    outputs = probe(np.zeros((1, height, width, 3), np.float32), training=False)
    total = 0.0
    for layer, output in zip(convolutions, outputs):
        kernel_h, kernel_w, channels_in, channels_out = layer.kernel.shape
        total += 2.0 * kernel_h * kernel_w * channels_in * channels_out * output.shape[1] * output.shape[2]
    return total


def gpu_memory_peak(backend: str) -> int | None:
    try:
        if backend == "torch":
            import torch

            return int(torch.cuda.max_memory_allocated()) if torch.cuda.is_available() else None
        if backend == "jax":
            import jax

            stats = jax.devices()[0].memory_stats() or {}
            return int(stats["peak_bytes_in_use"]) if "peak_bytes_in_use" in stats else None
    except Exception:  # a figure missing is not a failure of the benchmark
        return None
    return None


def step_child(backend: str, plan: dict, deadline: float, peak: float) -> None:
    """One JSON line per configuration on stdout."""
    import numpy as np

    from dreamvid.engine.backend import activate

    activate(backend)  # before Keras is imported
    from dreamvid.engine import load_dreamer
    from dreamvid.engine.dreamer import _finished, _tensor, _to_model_range
    from dreamvid.engine.steps import roll_shifts
    from dreamvid.settings import build_settings

    if backend == "torch":
        import torch

        torch.backends.cudnn.benchmark = True
    height, width = plan["size"]
    steps = plan["steps"]
    rng = np.random.default_rng(0)
    flops = None
    for precision in plan["precisions"]:
        if time.monotonic() > deadline:
            print(json.dumps({"backend": backend, "precision": precision, "skipped": "out of time"}), flush=True)
            continue
        built = time.monotonic()
        dreamer = load_dreamer(build_settings({"model": "inception_v3", "weights": "random", "layers": LAYERS,
                                               "backend": backend, "precision": precision}))
        built = time.monotonic() - built
        if flops is None:
            flops = forward_flops(dreamer.features.model, height, width)
        for batch in plan["batches"]:
            entry = {"backend": backend, "precision": precision, "batch": batch, "size": [width, height]}
            if time.monotonic() > deadline:
                print(json.dumps({**entry, "skipped": "out of time"}), flush=True)
                continue
            try:
                image = _tensor(_to_model_range(rng.random((batch, height, width, 3), dtype=np.float32)))
                sizes, ones = _tensor(np.full(batch, 0.01, np.float32)), _tensor(np.ones((batch, 1, 1, 1), np.float32))
                weights = dreamer._weights(None, batch)
                shifts = roll_shifts(0, 0, 0, steps, 32)
                tick = time.monotonic()  # the first call compiles (JAX) or autotunes (cuDNN)
                _finished(dreamer._ascent.ascend(image, shifts, 1, sizes, ones, 2048, weights))
                first = time.monotonic() - tick
                times = []
                for _ in range(2):
                    tick = time.monotonic()
                    _finished(dreamer._ascent.ascend(image, shifts, steps, sizes, ones, 2048, weights))
                    times.append((time.monotonic() - tick) / steps)
                per_step = min(times)
                achieved = FLOP_FACTOR * flops * batch / per_step / 1e12
                entry.update(ms_per_step=round(per_step * 1000, 3), ms_per_image_step=round(per_step * 1000 / batch, 3),
                             tflops=round(achieved, 2), share_of_peak=round(achieved / peak, 4),
                             first_call_seconds=round(first, 2), model_seconds=round(built, 2),
                             forward_gflops_per_image=round(flops / 1e9, 2), gpu_memory_peak=gpu_memory_peak(backend))
            except Exception as error:  # out of memory at batch 8, say: recorded, the next goes on
                entry["error"] = f"{type(error).__name__}: {str(error)[:300]}"
            print(json.dumps(entry), flush=True)


# --- 2. the clip end to end ------------------------------------------------------------------------------

def cpu_seconds() -> float:
    times = os.times()
    return times.user + times.system + times.children_user + times.children_system


def render_child(backend: str, precision: str, plan: dict, out: Path) -> None:
    """A cold render (it compiles), then a warm one of the same clip: one JSON line each."""
    import dreamvid

    render = plan["render"]
    options = {"backend": backend, "precision": precision, "model": "inception_v3", "weights": "random",
               "max_side": render["max_side"], "frames": render["frames"], **render["options"]}
    for run in ("cold", "warm"):
        output = out / f"render-{run}.mp4"
        started, cpu = time.monotonic(), cpu_seconds()
        [result] = dreamvid.render(BUNDLED_CLIP, output, overwrite=True, fresh=True, **options)
        wall, cpu = time.monotonic() - started, cpu_seconds() - cpu
        record = json.loads(output.with_name(output.name + ".json").read_text())
        timings = record["parameters"]["timings"]
        total = sum(timings.values()) or 1.0
        print(json.dumps({"run": run, "backend": backend, "precision": precision, "frames": result.frames,
                          "seconds": round(wall, 2), "frames_per_second": round(result.frames / wall, 2),
                          "cpu_cores_busy": round(cpu / wall, 2), "size": record["size"],
                          "batch": record["parameters"].get("batch"), "tile": record["parameters"].get("tile"),
                          "stage_seconds": timings, "stage_shares": {k: round(v / total, 3) for k, v in timings.items()},
                          "gpu_memory_peak": gpu_memory_peak(backend)}), flush=True)
        output.unlink(missing_ok=True)


class GpuSampler:
    """nvidia-smi's utilisation and memory every 200 ms while a part runs (nothing where there is none)."""

    def __init__(self):
        self.samples: list[tuple[float, float]] = []
        try:
            self._process = subprocess.Popen(["nvidia-smi", "--query-gpu=utilization.gpu,memory.used",
                                              "--format=csv,noheader,nounits", "-lms", "200"],
                                             stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        except OSError:
            self._process = None
            return
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        for line in self._process.stdout:
            try:
                utilisation, memory = (float(part) for part in line.split(",")[:2])
            except ValueError:
                continue
            self.samples.append((utilisation, memory))

    def stop(self) -> dict | None:
        if self._process is None:
            return None
        self._process.terminate()
        self._process.wait()
        if not self.samples:
            return None
        busy = [u for u, _ in self.samples]
        return {"samples": len(busy), "mean_utilisation": round(sum(busy) / len(busy), 1),
                "median_utilisation": sorted(busy)[len(busy) // 2], "max_memory_used_mib": max(m for _, m in self.samples)}


# --- the orchestra ---------------------------------------------------------------------------------------

def child(args_list: list[str], seconds: float) -> tuple[list[dict], str]:
    """Run this script as a child; its JSON lines, and what it said on stderr (the end of it)."""
    try:
        done = subprocess.run([sys.executable, __file__, *args_list], capture_output=True, text=True,
                              timeout=max(5.0, seconds))
        out, err = done.stdout, done.stderr[-3000:] + (f"\n(exit {done.returncode})" if done.returncode else "")
    except subprocess.TimeoutExpired as expired:
        out = (expired.stdout or b"").decode() if isinstance(expired.stdout, bytes) else (expired.stdout or "")
        err = f"timed out after {seconds:.0f} s"
    lines = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
    return lines, err


def installed(backend: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(backend if backend != "tensorflow" else "tensorflow") is not None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--dry-run", action="store_true", help="tiny sizes, on whatever device (CI)")
    parser.add_argument("--peak", type=float, default=790.0, help="the bf16 matrix peak, TFLOP/s (H200: 790)")
    parser.add_argument("--backends", nargs="*", default=["jax", "torch"])
    parser.add_argument("--section", choices=["step", "render"], help=argparse.SUPPRESS)
    parser.add_argument("--backend", help=argparse.SUPPRESS)
    parser.add_argument("--precision", help=argparse.SUPPRESS)
    parser.add_argument("--deadline", type=float, help=argparse.SUPPRESS)
    args = parser.parse_args()
    plan = dry_plan() if args.dry_run else full_plan()
    if args.section == "step":
        return step_child(args.backend, plan, time.monotonic() + args.deadline, args.peak)
    if args.section == "render":
        return render_child(args.backend, args.precision, plan, args.out)

    import machine

    args.out.mkdir(parents=True, exist_ok=True)
    result = {"benchmark": "gpu", "date": time.strftime("%Y-%m-%d"), "dry_run": args.dry_run, "machine": machine.info(),
              "peak_tflops": args.peak, "plan": plan, "step": [], "render": [], "pipeline": None, "notes": []}
    path = args.out / "gpu-bench.json"

    def save() -> None:
        path.write_text(json.dumps(result, indent=2) + "\n")

    backends = [backend for backend in args.backends if installed(backend)]
    result["notes"] += [f"{backend} is not installed: skipped" for backend in args.backends if backend not in backends]
    budget = plan["budget"]
    share = budget["step"] / max(1, len(backends))
    for backend in backends:
        flags = ["--section", "step", "--backend", backend, "--deadline", str(share - 10), "--peak", str(args.peak)]
        lines, said = child(flags + (["--dry-run"] if args.dry_run else []) + ["--out", str(args.out)], share + 30)
        result["step"] += lines
        if said.strip():
            result["notes"].append(f"step {backend}: {said.strip()[-600:]}")
        save()
    timed = [entry for entry in result["step"] if "tflops" in entry]
    best = max(timed, key=lambda entry: entry["tflops"], default=None)
    fastest = best["backend"] if best else (backends[0] if backends else None)
    fastest_f32 = max((e for e in timed if e["precision"] == "float32"), key=lambda e: e["tflops"], default=None)
    result["fastest"] = {"backend": fastest, "precision": best["precision"] if best else None,
                         "float32_backend": fastest_f32["backend"] if fastest_f32 else None}
    if fastest is not None:
        backend = fastest_f32["backend"] if fastest_f32 else fastest  # the defaults: float32
        sampler = GpuSampler()
        lines, said = child(["--section", "render", "--backend", backend, "--precision", "float32", "--out",
                             str(args.out)] + (["--dry-run"] if args.dry_run else []), budget["render"])
        result["render"] = lines
        result["render_gpu"] = sampler.stop()
        if said.strip():
            result["notes"].append(f"render: {said.strip()[-600:]}")
        save()
    pipeline = plan["pipeline"]
    flags = ["--frames", str(pipeline["frames"]), "--threads", *map(str, pipeline["threads"]), "--out", str(args.out),
             "--label", "gpu-machine" if not args.dry_run else "dry"]
    if pipeline["max_side"]:
        flags += ["--max-side", str(pipeline["max_side"])]
    try:
        subprocess.run([sys.executable, str(HERE.parent / "pipeline.py"), *flags], timeout=budget["pipeline"],
                       check=True, capture_output=True, text=True)
        found = sorted(args.out.glob("pipeline-*.json"))
        result["pipeline"] = json.loads(found[-1].read_text())["runs"] if found else None
    except (subprocess.SubprocessError, OSError) as error:
        result["notes"].append(f"pipeline: {type(error).__name__}: {str(error)[:300]}")
    save()
    print(path)


if __name__ == "__main__":
    main()
