"""Throughput of a video render, against a plain per-frame DeepDream loop.

Renders a short clip with dreamvid's pipeline (decode and flow in the background, carried dreams, batches),
then dreams the same frames the way the TensorFlow DeepDream tutorial would: each frame on its own, with
the full steps, one at a time, no flow. Reports frames/s, where the render's time went, ms and FLOP/s
per gradient step at each octave size, peak memory, dream strength and warping error of both, and the
issue's targets (pipeline >= 3x the baseline's frames/s, strength >= 0.8x, lower warping error).

    python benchmarks/bench.py                                  # vgg16-hed, 24 frames at 320 px
    python benchmarks/bench.py --model inception_v3 --weights random --layer mixed5 --label inception
    python benchmarks/bench.py --frames 8 --steps 4 --octaves 2 --label quick

Writes benchmarks/results/bench-<label>.json. A measurement, never a test: nothing here gates CI.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import os
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402

import machine  # noqa: E402  (benchmarks/machine.py, next to this file)

RESULTS = Path(__file__).resolve().parent / "results"
BUNDLED_CLIP = Path(__file__).resolve().parents[1] / "samples/bigbuckbunny.mp4"
# A DeepDream step is one forward pass and one backward pass to the input. The backward pass costs
# about one forward (gradients with respect to activations only: the weights are not differentiated,
# and the graph prunes their gradients), so a step is about 2 forwards, not the 3 of a training step.
DEFAULT_FLOP_FACTOR = 2.0


def peak_memory_mib() -> float:
    """The process' peak resident memory so far (Linux reports ru_maxrss in KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


# --- inputs -----------------------------------------------------------------------------------------

def synthetic_clip(path: Path, frames: int, width: int = 640, height: int = 360) -> Path:
    """A textured picture panning 3 px per frame to the right and 1 px down: real motion, no cut."""
    import cv2
    from fractions import Fraction

    from dreamvid.io.encode import VideoWriter

    rng = np.random.default_rng(0)
    big_h, big_w = height + frames + 8, width + 3 * frames + 8
    y, x = np.mgrid[0:big_h, 0:big_w] / max(big_h, big_w)
    picture = np.dstack([0.3 + 0.4 * x, 0.2 + 0.5 * y, 0.6 - 0.3 * x * y]).astype(np.float32)
    texture = cv2.GaussianBlur(rng.random((big_h, big_w, 3)).astype(np.float32), (0, 0), 4)
    picture = 0.5 * picture + 0.5 * texture
    for i in range(12):
        centre = (int(rng.integers(0, big_w)), int(rng.integers(0, big_h)))
        cv2.circle(picture, centre, int(rng.integers(10, height // 4)), rng.random(3).tolist(), -1)
    picture = (np.clip(picture, 0, 1) * 255).astype(np.uint8)
    with VideoWriter(path, width, height, Fraction(25)) as writer:
        for t in range(frames):
            writer.write(np.ascontiguousarray(picture[t:t + height, 3 * t:3 * t + width]))
    return path


def dream_size(height: int, width: int, max_side: int | None) -> tuple[int, int]:
    """(height, width) the pipeline dreams and writes a video at: the processing size, rounded down to
    even numbers when shrunk (H.264). Mirrors dreamvid's rule; the run checks it against the sidecar."""
    from dreamvid.imageops import processing_size

    small_h, small_w = processing_size(height, width, max_side)
    if (small_h, small_w) != (height, width):
        small_h, small_w = max(2, small_h // 2 * 2), max(2, small_w // 2 * 2)
    return small_h, small_w


# --- model arithmetic -------------------------------------------------------------------------------

def forward_flops(features, height: int, width: int) -> int:
    """Multiply-add FLOPs (2 per MAC) of one image through the feature model at this size.

    Counted from the convolutions and matrix products of the traced model, so the count covers exactly
    the layers up to the chosen ones: 2 * H_out * W_out * k_h * k_w * C_in * C_out per convolution."""
    import tensorflow as tf

    def forward(x):
        return features.model(features.preprocess(x), training=False)

    graph = tf.function(forward).get_concrete_function(tf.TensorSpec([1, height, width, 3], tf.float32)).graph
    total = 0
    for op in graph.get_operations():
        if op.type == "Conv2D":
            _, h_out, w_out, _ = op.outputs[0].shape
            k_h, k_w, c_in, c_out = op.inputs[1].shape
            total += 2 * h_out * w_out * k_h * k_w * c_in * c_out
        elif op.type == "DepthwiseConv2dNative":
            _, h_out, w_out, _ = op.outputs[0].shape
            k_h, k_w, c_in, multiplier = op.inputs[1].shape
            total += 2 * h_out * w_out * k_h * k_w * c_in * multiplier
        elif op.type in ("MatMul", "BatchMatMulV2"):
            a, out = op.inputs[0].shape, op.outputs[0].shape
            total += 2 * int(np.prod(out)) * a[-1]
    return int(total)


def time_call(call, repeats: int) -> float:
    """Median seconds of `call()` after one untimed call."""
    call()
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        call()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def octave_costs(dreamer, settings, size: tuple[int, int], batch: int, probe_steps: int, repeats: int,
                 flop_factor: float) -> list[dict]:
    """ms per gradient step at each octave size: a one-octave dream with `probe_steps` steps minus one with
    0 steps (what remains is the step loop), on a batch of the render's size."""
    from dreamvid.imageops import octave_shapes

    params = settings.dream_params()
    shapes = octave_shapes(*size, params.octaves, params.octave_scale, dreamer.features.min_side)
    rng = np.random.default_rng(0)
    rows = []
    for octave, (height, width) in enumerate(shapes):
        images = rng.random((batch, height, width, 3), dtype=np.float32)
        one = dataclasses.replace(params, octaves=1)
        with_steps = time_call(lambda: dreamer.dream(images, one, steps=probe_steps), repeats)
        without = time_call(lambda: dreamer.dream(images, one, steps=0), repeats)
        forward = time_call(lambda: dreamer.objective(images), repeats)
        step_s = max(with_steps - without, 1e-9) / max(probe_steps, 1)
        flops = forward_flops(dreamer.features, height, width)
        tiles = -(-height // params.tile) * -(-width // params.tile)
        rows.append({"octave": octave, "size": [width, height], "batch": batch, "tiles": tiles,
                     "ms_per_step": round(1000 * step_s, 2), "ms_forward": round(1000 * forward, 2),
                     "step_over_forward": round(step_s / forward, 2),
                     "forward_gflop_per_image": round(flops / 1e9, 3),
                     "step_gflop": round(flop_factor * flops * batch / 1e9, 3),
                     "achieved_gflops": round(flop_factor * flops * batch / step_s / 1e9, 1)})
    return rows


# --- the two ways of dreaming a clip ------------------------------------------------------------------

def run_pipeline(source: Path, output: Path, options: dict) -> dict:
    import dreamvid

    started = time.perf_counter()
    dreamvid.render(source, output, overwrite=True, fresh=True, **options)
    seconds = time.perf_counter() - started
    sidecar = json.loads(Path(str(output) + ".json").read_text())
    return {"seconds": seconds, "timings": sidecar["parameters"].get("timings", {}),
            "size": sidecar.get("size")}


def run_baseline(source: Path, output: Path, dreamer, settings, start: int, end: int,
                 size: tuple[int, int]) -> dict:
    """The tutorial's loop: decode a frame, dream it alone with all steps, write it; no flow, no batch."""
    from dreamvid.imageops import resize, to_float
    from dreamvid.io.encode import VideoWriter
    from dreamvid.io.decode import probe_video, read_frames

    info = probe_video(source)
    height, width = size
    params = settings.dream_params()
    timings = {"decode": 0.0, "dream": 0.0, "encode": 0.0}
    started = time.perf_counter()
    with VideoWriter(output, width, height, info.fps, crf=settings.crf) as writer:
        frames = read_frames(source, start, end, info=info)
        while True:
            tick = time.perf_counter()
            frame = next(frames, None)
            if frame is None:
                break
            small = to_float(resize(frame, height, width))
            timings["decode"] += time.perf_counter() - tick
            tick = time.perf_counter()
            dreamed = dreamer.dream(small[None], params)[0]
            timings["dream"] += time.perf_counter() - tick
            tick = time.perf_counter()
            writer.write(np.clip(np.rint(dreamed * 255.0), 0, 255).astype(np.uint8))
            timings["encode"] += time.perf_counter() - tick
        tick = time.perf_counter()
    timings["encode"] += time.perf_counter() - tick  # ffmpeg finishing the file
    return {"seconds": time.perf_counter() - started, "timings": {k: round(v, 2) for k, v in timings.items()},
            "size": [width, height]}


def strength(dreamer, path: Path, batch: int = 4, start: int = 0, end: int | None = None) -> float:
    """Mean objective per frame, at the size the frames are stored (the processing size for outputs)."""
    from dreamvid.imageops import to_float
    from dreamvid.io.decode import read_frames

    values, group = [], []
    for frame in read_frames(path, start, end):
        group.append(to_float(frame))
        if len(group) == batch:
            values.extend(dreamer.objective(np.stack(group)))
            group = []
    if group:
        values.extend(dreamer.objective(np.stack(group)))
    return float(np.mean(values))


def source_strength(dreamer, source: Path, size: tuple[int, int], start: int, end: int) -> float:
    """The objective of the undreamed frames at processing size: what dreaming starts from."""
    from dreamvid.imageops import resize, to_float
    from dreamvid.io.decode import read_frames

    height, width = size
    values = [dreamer.objective(to_float(resize(frame, height, width))[None])[0]
              for frame in read_frames(source, start, end)]
    return float(np.mean(values))


# --- report -------------------------------------------------------------------------------------------

def print_report(record: dict) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console(width=max(120, Console().width))
    s = record["settings"]
    console.print(f"[bold]{record['label']}[/]: {s['model']} {','.join(s['layers'])} weights={s['weights']} "
                  f"steps={s['steps']} octaves={s['octaves']} flow_steps={s['flow_steps']} batch={s['batch']} "
                  f"xla={s['xla']}; {record['frames']} frames at {record['size'][0]}x{record['size'][1]} "
                  f"from {Path(record['source']).name}")
    m = record["machine"]
    console.print(f"{m['cpu']}, {m['usable_cores']} cores, GPU: {', '.join(m['gpus']) or 'none'}, TF {m['tensorflow']}")

    runs = Table(title="Runs")
    for column in ("run", "seconds", "frames/s", "strength", "gain over source", "warping error"):
        runs.add_column(column, justify="right" if column != "run" else "left")
    src = record["source_scores"]
    runs.add_row("source (undreamed)", "", "", f"{src['strength']:.4f}", "", f"{src['warping_error']:.5f}")
    for name, run in record["runs"].items():
        runs.add_row(name, f"{run['seconds']:.1f}", f"{run['fps']:.3f}", f"{run['strength']:.4f}",
                     f"{run['strength'] - src['strength']:+.4f}", f"{run['warping_error']:.5f}")
    console.print(runs)

    shares = Table(title="Where the pipeline's time went (decode and flow run beside dream, so shares can exceed 100%)")
    for column in ("stage", "seconds", "share of wall"):
        shares.add_column(column, justify="right" if column != "stage" else "left")
    pipeline = record["runs"]["pipeline"]
    for stage, seconds in pipeline["timings"].items():
        shares.add_row(stage, f"{seconds:.2f}", f"{100 * seconds / pipeline['seconds']:.1f}%")
    console.print(shares)

    octaves = Table(title=f"Gradient steps per octave (FLOPs: {record['flop_factor']:g} x forward per step)")
    for column in ("octave", "size", "batch", "tiles", "ms/step", "ms forward", "step/fwd",
                   "fwd GFLOP/img", "GFLOP/step", "GFLOP/s"):
        octaves.add_column(column, justify="right")
    for row in record["octaves"]:
        octaves.add_row(str(row["octave"]), "x".join(map(str, row["size"])), str(row["batch"]), str(row["tiles"]),
                        f"{row['ms_per_step']:.1f}", f"{row['ms_forward']:.1f}", f"{row['step_over_forward']:.2f}",
                        f"{row['forward_gflop_per_image']:.2f}", f"{row['step_gflop']:.2f}", f"{row['achieved_gflops']:.1f}")
    console.print(octaves)
    if "baseline" in record["runs"]:
        console.print(f"baseline end to end: {record['runs']['baseline']['achieved_gflops']:.1f} GFLOP/s of model work")
    console.print("peak memory (ru_maxrss, MiB, peak so far): "
                  + ", ".join(f"{k.replace('_', ' ')} {v:.0f}" for k, v in record["peak_memory_mib"].items()))

    targets = Table(title="Targets (issue: Throughput)")
    for column in ("target", "value", "result"):
        targets.add_column(column)
    for target in record["targets"]:
        verdict = "[green]pass[/]" if target["pass"] else "[red]fail[/]"
        targets.add_row(target["name"], target["value"], verdict)
    console.print(targets if record["targets"] else "targets: not checked (--no-baseline)")


# --- main ---------------------------------------------------------------------------------------------

def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--source", type=Path, default=None,
                        help=f"clip to render (default: {BUNDLED_CLIP.name} when present, else a synthetic clip)")
    parser.add_argument("--synthetic", action="store_true", help="render a synthetic panning clip (640x360)")
    parser.add_argument("--model", default="vgg16-hed")
    parser.add_argument("--weights", default=None, help="default: the model's own; 'random' for timing only")
    parser.add_argument("--layer", action="append", dest="layers", default=None, help="repeatable; default: the model's")
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--octaves", type=int, default=3)
    parser.add_argument("--frames", type=int, default=24, help="dream frames [0, N) (default 24)")
    parser.add_argument("--max-side", type=int, default=320)
    parser.add_argument("--batch", type=int, default=None, help="default: dreamvid's choice for this device")
    parser.add_argument("--xla", action="store_true")
    parser.add_argument("--label", default=None, help="names the result file (default: the model)")
    parser.add_argument("--no-baseline", action="store_true", help="only the pipeline: no comparison, no targets")
    parser.add_argument("--render-baseline", action="store_true",
                        help="also time dreamvid itself with flow=False, batch=1 (costs as much as the baseline)")
    parser.add_argument("--probe-steps", type=int, default=3, help="steps per timed call in the per-octave timing")
    parser.add_argument("--repeats", type=int, default=2, help="timed repeats in the per-octave timing")
    parser.add_argument("--flop-factor", type=float, default=DEFAULT_FLOP_FACTOR,
                        help="FLOPs of a gradient step as a multiple of the forward pass (default 2)")
    parser.add_argument("--keep", type=Path, default=None, help="keep the rendered clips in this folder")
    args = parser.parse_args()

    from dreamvid.engine import default_batch, load_dreamer
    from dreamvid.engine.catalog import resolve_layers, resolve_weights
    from dreamvid.score import score_videos
    from dreamvid.settings import build_settings
    from dreamvid.io.decode import probe_video

    label = args.label or args.model.replace("/", "_")
    options = {"model": args.model, "weights": args.weights, "layers": args.layers or (), "steps": args.steps,
               "octaves": args.octaves, "max_side": args.max_side, "frames": f"0:{args.frames}",
               "batch": args.batch, "xla": args.xla}
    settings = build_settings(options)
    batch = settings.batch or default_batch()

    folder = args.keep or Path(tempfile.mkdtemp(prefix="dreamvid-bench-"))
    folder.mkdir(parents=True, exist_ok=True)
    if args.synthetic or (args.source is None and not BUNDLED_CLIP.is_file()):
        source = synthetic_clip(folder / "synthetic.mp4", args.frames)
    else:
        source = args.source or BUNDLED_CLIP
    info = probe_video(source)
    size = dream_size(info.height, info.width, settings.max_side)
    start, end = 0, args.frames

    log = lambda text: print(text, file=sys.stderr, flush=True)  # noqa: E731
    log(f"building {settings.model} and tracing the step loop ...")
    dreamer = load_dreamer(settings)
    warm = np.random.default_rng(1).random((batch, *size, 3), dtype=np.float32)
    dreamer.dream(warm, settings.dream_params(), steps=1)  # trace (and with XLA compile) every octave size
    dreamer.objective(warm[:1])
    memory = {"after_warm_up": round(peak_memory_mib(), 1)}

    log(f"pipeline: {args.frames} frames ...")
    runs = {"pipeline": run_pipeline(source, folder / "pipeline.mp4", options)}
    memory["after_pipeline"] = round(peak_memory_mib(), 1)
    if runs["pipeline"]["size"] and tuple(runs["pipeline"]["size"]) != (size[1], size[0]):
        log(f"note: the pipeline wrote {runs['pipeline']['size']}, not {[size[1], size[0]]}; benchmark uses its size")
        size = (runs["pipeline"]["size"][1], runs["pipeline"]["size"][0])
    outputs = {"pipeline": folder / "pipeline.mp4"}
    if args.render_baseline:
        log("dreamvid with flow=False, batch=1 ...")
        runs["render_no_flow"] = run_pipeline(source, folder / "render_no_flow.mp4",
                                              {**options, "flow": False, "batch": 1})
        outputs["render_no_flow"] = folder / "render_no_flow.mp4"
    if not args.no_baseline:
        log(f"baseline (per-frame loop): {args.frames} frames ...")
        runs["baseline"] = run_baseline(source, folder / "baseline.mp4", dreamer, settings, start, end, size)
        outputs["baseline"] = folder / "baseline.mp4"
        memory["after_baseline"] = round(peak_memory_mib(), 1)

    log("per-octave step timing ...")
    octaves = octave_costs(dreamer, settings, size, batch, args.probe_steps, args.repeats, args.flop_factor)

    log("scoring (strength and warping error) ...")
    for name, run in runs.items():
        run["seconds"] = round(run["seconds"], 3)
        run["fps"] = round(args.frames / run["seconds"], 4)
        run["strength"] = strength(dreamer, outputs[name])
        scores = score_videos(source, outputs[name], start=start)
        run["warping_error"] = scores["dreamed"]
        source_warping = scores["source"]
    if "baseline" in runs:
        frame_gflop = sum(args.flop_factor * row["forward_gflop_per_image"] for row in octaves) * settings.steps
        runs["baseline"]["achieved_gflops"] = round(frame_gflop * args.frames / runs["baseline"]["seconds"], 1)
    source_scores = {"strength": source_strength(dreamer, source, size, start, end), "warping_error": source_warping}

    targets = []
    if "baseline" in runs:
        pipe, base = runs["pipeline"], runs["baseline"]
        targets = [
            {"name": "pipeline frames/s >= 3x baseline", "value": f"{pipe['fps'] / base['fps']:.2f}x",
             "ratio": pipe["fps"] / base["fps"], "pass": pipe["fps"] >= 3 * base["fps"]},
            {"name": "strength >= 0.8x baseline", "value": f"{pipe['strength'] / base['strength']:.2f}x",
             "ratio": pipe["strength"] / base["strength"], "pass": pipe["strength"] >= 0.8 * base["strength"]},
            {"name": "warping error < baseline",
             "value": f"{pipe['warping_error']:.5f} vs {base['warping_error']:.5f}",
             "ratio": pipe["warping_error"] / base["warping_error"] if base["warping_error"] else None,
             "pass": pipe["warping_error"] < base["warping_error"]},
        ]
    settings_record = settings.to_dict()
    settings_record.update(layers=[str(layer) for layer in resolve_layers(settings.model, settings.layers)],
                           weights=resolve_weights(settings.model, settings.weights), batch=batch)
    record = {"benchmark": "bench", "label": label, "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
              "machine": machine.info(), "source": str(source), "frames": args.frames,
              "size": [size[1], size[0]], "settings": settings_record, "flop_factor": args.flop_factor,
              "runs": runs,
              "source_scores": source_scores, "octaves": octaves,
              "peak_memory_mib": memory, "targets": targets}
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"bench-{label}.json"
    path.write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
    print_report(record)
    print(f"wrote {path}" + (f"; clips in {folder}" if args.keep else ""))
    if not args.keep:
        for clip in folder.iterdir():
            clip.unlink()
        folder.rmdir()


if __name__ == "__main__":
    main()
