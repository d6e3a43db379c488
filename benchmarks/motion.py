"""Strength, steadiness and speed of the flow-carried dream in motion (issues 12 and 23), on a generated clip set.

For each clip of benchmarks/clipset.py (a fast pan, objects crossing, short shots between hard cuts, a
long slow pan) it renders (a) dreamvid as it is (flow), (b) dreamvid with flow=False, (c) the tutorial's
per-frame loop (bench.run_baseline), and reports frames/s, dream strength (mean squared activation of the
dreamed layer, measured by a second copy of the model built apart from the dreamer), warping error
(dreamvid.score), their ratios and issue 23's targets; on the slow pan also drift (every window of its
frames against the first, and the last against the first).

(b) and (c) dream every frame with all steps and octaves, and each frame alone: their figures are
measured on sampled frames (see --no-flow-pairs, --loop-frames) and compared with (a) on the same ones.
Each warping target also gets a floor: what (a) would score if no frame changed anything of the dream it
carried (frozen_dream), so that a target no carried dream can reach shows as one.

    python benchmarks/motion.py                     # 13 minutes on 2 quiet CPU cores (8 no-flow pairs a clip)
    python benchmarks/motion.py --quick             # smaller and shorter clips: about 3 minutes
    python benchmarks/motion.py --clips fast_pan,crossing --set coherence=0.8 --label coherence-0.8

Writes benchmarks/results/motion-<label>.json. A measurement, never a test: targets never fail the run.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402

import clipset  # noqa: E402  (benchmarks/, next to this file)
import machine  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"

# (frames, width, height) per clip: the full set, and --quick's
FULL = {"fast_pan": (60, 320, 136), "crossing": (60, 320, 136), "short_shots": (120, 320, 136),
        "slow_pan": (1000, 160, 68)}
QUICK = {"fast_pan": (30, 160, 68), "crossing": (30, 160, 68), "short_shots": (60, 160, 68),
         "slow_pan": (200, 160, 68)}
# issue 23's targets: strength within [MIN, MAX] x no-flow's, warping error at most MAX_WARP_VS_FLOOR x its
# floor (frozen_dream) and MAX_WARP_VS_SOURCE x the source's where the floor allows it
MIN_STRENGTH_RATIO, MAX_STRENGTH_RATIO, MAX_WARP_VS_FLOOR, MAX_WARP_VS_SOURCE = 0.9, 1.15, 1.3, 2.0
MIN_SPEEDUP = {"slow_pan": 10.0}  # others: 5x
DRIFT_WINDOW, MAX_DRIFT = 100, 0.10
STRIDE = 2  # flow's strength over a clip: every STRIDE-th frame (and every sampled one)
RECENT = 3  # frames a revealed pixel counts as recent (the test: 0.8x strength within 3 frames)


def log(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


# --- measuring ------------------------------------------------------------------------------------------

class StrengthMeter:
    """Mean squared activation of the dreamed layers, per frame, from a feature model built apart from the
    dreamer (its own weights loaded again), so the dreamer cannot grade its own work."""

    def __init__(self, settings):
        import tensorflow as tf

        from dreamvid.engine.models import load_feature_model
        from dreamvid.engine.catalog import resolve_layers

        self.names = [layer.name for layer in resolve_layers(settings.model, settings.layers)]
        layers = tuple(dict.fromkeys(resolve_layers(settings.model, settings.layers)))
        features = load_feature_model(settings.model, settings.weights, layers, seed=settings.seed)

        def maps(images):
            activations = features.model(features.preprocess(images * 2.0 - 1.0), training=False)
            return [tf.reduce_mean(tf.square(tf.cast(activations[name], tf.float32)), axis=-1) for name in self.names]

        self._maps = tf.function(maps, input_signature=[tf.TensorSpec([None, None, None, 3], tf.float32)])

    def maps(self, frames: list[np.ndarray], batch: int = 8) -> list[list[np.ndarray]]:
        """Per frame, per layer: the squared activation averaged over channels (a map at the layer's size)."""
        found = []
        for start in range(0, len(frames), batch):
            group = np.stack(frames[start:start + batch]).astype(np.float32) / 255.0
            layers = [m.numpy() for m in self._maps(group)]
            found.extend([layer[i] for layer in layers] for i in range(len(group)))
        return found

    def strengths(self, frames: list[np.ndarray]) -> np.ndarray:
        return np.array([np.mean([m.mean() for m in maps]) for maps in self.maps(frames)])


def region_strength(maps: list[np.ndarray], weight: np.ndarray) -> tuple[float, float]:
    """(sum of weighted strength, sum of weights) of one frame's maps, `weight` a HxW map in [0, 1] at frame
    size shrunk to each layer's size; kept as sums so frames can be pooled."""
    import cv2

    total = mass = 0.0
    for layer in maps:
        small = cv2.resize(weight.astype(np.float32), (layer.shape[1], layer.shape[0]), interpolation=cv2.INTER_AREA)
        total += float((small * layer).sum()) / len(maps)
        mass += float(small.sum()) / len(maps)
    return total, mass


def delta_sharpness(output: np.ndarray, source: np.ndarray) -> float:
    """High-frequency energy of the dream delta: the variance of the Laplacian of (output - source), grey."""
    import cv2

    delta = output.astype(np.float32).mean(axis=2) - source.astype(np.float32).mean(axis=2)
    return float(cv2.Laplacian(delta, cv2.CV_32F).var())


def sample_pairs(kind: str, frames: int, count: int) -> list[int]:
    """First frames t of `count` pairs (t, t+1) spread evenly over the clip; on the slow pan half in its first
    DRIFT_WINDOW frames and half in its last, where drift is measured, and one in each window between (the
    content each window's drift is told apart from). count 0: every pair."""
    if count <= 0:
        return list(range(frames - 1))
    window = min(DRIFT_WINDOW, frames // 4)
    spans = [(0, window), (frames - window, frames)] if kind == "slow_pan" else [(0, frames)]
    middle = [low + window // 2 for low in range(window, frames - 2 * window + 1, window)] if kind == "slow_pan" \
        else []
    count += count % len(spans)
    shares = [count // len(spans) + (i < count % len(spans)) for i in range(len(spans))]
    found = []
    for (low, high), share in zip(spans, shares):
        for i in range(share):
            found.append(min(max(low, low + round((i + 0.5) * (high - low) / share) - 1), high - 2))
    return sorted(set(found) | set(middle))


def mean_or_none(values) -> float | None:
    values = [v for v in values if v is not None]
    return float(np.mean(values)) if values else None


def ratio(a: float | None, b: float | None) -> float | None:
    return None if a is None or b is None or b == 0 else a / b


# --- running --------------------------------------------------------------------------------------------

class Clock:
    """Wall and CPU seconds (this process, all its threads) of what runs inside `with`, added up over every
    `with`. On a shared machine the CPU seconds are the steadier figure: other processes stretch the wall
    time, not this one's CPU time."""

    def __init__(self):
        self.wall = self.cpu = 0.0

    def __enter__(self):
        self._started = (time.perf_counter(), time.process_time())
        return self

    def __exit__(self, *exc):
        self.wall += time.perf_counter() - self._started[0]
        self.cpu += time.process_time() - self._started[1]


def render(source: Path, output: Path, options: dict) -> tuple[Clock, dict]:
    """dreamvid.render as the CLI runs it; its clock and the timings from its sidecar."""
    import dreamvid

    with Clock() as clock:
        dreamvid.render(source, output, overwrite=True, fresh=True, **options)
    sidecar = json.loads(Path(str(output) + ".json").read_text())
    return clock, sidecar.get("parameters", {}).get("timings", {})


def run_clip(spec: clipset.ClipSpec, source: Path, options: dict, settings, dreamer, meter: StrengthMeter,
             folder: Path, pairs_wanted: int, loop_frames: int) -> dict:
    """(a) on the whole clip, (b) and (c) on sampled frames, and every figure of one clip."""
    from bench import run_baseline
    from dreamvid.score import score_videos
    from dreamvid.io.decode import read_frames

    n = spec.frames
    sources = list(read_frames(source))
    log(f"{spec.kind}: (a) flow, {n} frames ...")
    out_a = folder / f"{spec.kind}-flow.mp4"
    stages = {}  # seconds the benchmark spent besides the renders
    clock_a, timings_a = render(source, out_a, options)
    tick = time.perf_counter()
    outputs_a = list(read_frames(out_a))
    if len(outputs_a) != n or outputs_a[0].shape != sources[0].shape:
        raise RuntimeError(f"{out_a}: {len(outputs_a)} frames of {outputs_a[0].shape}, expected {n} of {sources[0].shape}")
    score_a = score_videos(source, out_a, start=0)
    pairs = sample_pairs(spec.kind, n, pairs_wanted)
    sampled = sorted({t for p in pairs for t in (p, p + 1)})
    # A forward pass costs about a third of a gradient step: measure (a) on the sampled frames, on every
    # STRIDE-th frame of a short clip, and on the slow pan on every STRIDE-th frame of the drift windows.
    measured = set(range(0, n, STRIDE))
    measured = sorted(measured | set(sampled))
    maps_a = dict(zip(measured, meter.maps([outputs_a[t] for t in measured])))
    strength_a = {t: float(np.mean([m.mean() for m in maps])) for t, maps in maps_a.items()}
    strength_source = meter.strengths([sources[t] for t in sampled])
    stages["score_flow"] = time.perf_counter() - tick

    tick = time.perf_counter()
    frozen = frozen_dream(sources, outputs_a)
    stages["frozen"] = time.perf_counter() - tick

    loop = {}
    if loop_frames > 0:
        start, count = pairs[0], min(loop_frames, n - pairs[0])
        log(f"{spec.kind}: (c) per-frame loop, frames {start}:{start + count} ...")
        with Clock() as clock:
            loop = run_baseline(source, folder / f"{spec.kind}-loop.mp4", dreamer, settings, start, start + count,
                                sources[0].shape[:2])
        loop.update(frames=[start, start + count], fps=count / loop["seconds"], cpu_seconds=round(clock.cpu, 2),
                    fps_cpu=count / clock.cpu)

    outputs_b, errors_b, clock_b = run_no_flow(spec, source, {**options, "flow": False}, folder, pairs_wanted, pairs)
    tick = time.perf_counter()
    maps_b = dict(zip(sampled, meter.maps([outputs_b[t] for t in sampled])))
    strength_b = np.array([np.mean([m.mean() for m in maps_b[t]]) for t in sampled])

    regions = region_strengths(sources, sampled, maps_a, maps_b)
    stages["score_others"] = time.perf_counter() - tick
    errors_a = score_a["per_frame"]["dreamed"]
    errors_source, errors_frozen = score_a["per_frame"]["source"], frozen["per_frame"]["dreamed"]
    counted = [t for t in pairs if errors_a[t] is not None and errors_b.get(t) is not None]
    paired = [(errors_a[t], errors_b[t]) for t in counted]
    record = {
        "clip": spec.name, "kind": spec.kind, "frames": n, "size": [spec.width, spec.height],
        "source": str(source), "cuts_found": score_a["cuts"], "cuts_made": clipset.shot_starts(spec),
        "sampled_pairs": pairs,
        "flow": {"seconds": round(clock_a.wall, 2), "fps": n / clock_a.wall, "cpu_seconds": round(clock_a.cpu, 2),
                 "fps_cpu": n / clock_a.cpu, "timings": timings_a,
                 "strength": float(np.mean(list(strength_a.values()))), "strength_frames": len(strength_a),
                 "strength_sampled": float(np.mean([strength_a[t] for t in sampled])),
                 "warping_error": score_a["dreamed"],
                 "warping_error_sampled": mean_or_none(a for a, _ in paired)},
        "no_flow": {"seconds": round(clock_b.wall, 2), "frames_rendered": len(outputs_b),
                    "fps": len(outputs_b) / clock_b.wall, "cpu_seconds": round(clock_b.cpu, 2),
                    "fps_cpu": len(outputs_b) / clock_b.cpu, "strength_sampled": float(strength_b.mean()),
                    "warping_error_sampled": mean_or_none(b for _, b in paired)},
        "loop": loop,
        "source_scores": {"strength_sampled": float(strength_source.mean()), "warping_error": score_a["source"],
                          "warping_error_sampled": mean_or_none(errors_source[t] for t in counted)},
        "frozen": {"warping_error": frozen["dreamed"],
                   "warping_error_sampled": mean_or_none(errors_frozen[t] for t in counted)},
        "regions": regions,
    }
    record["ratios"] = {
        "strength_vs_no_flow": ratio(record["flow"]["strength_sampled"], record["no_flow"]["strength_sampled"]),
        "warping_vs_no_flow": ratio(record["flow"]["warping_error_sampled"], record["no_flow"]["warping_error_sampled"]),
        "warping_vs_source": ratio(score_a["dreamed"], score_a["source"]),
        "speed_vs_loop": ratio(record["flow"]["fps"], loop.get("fps")),
        "speed_vs_loop_cpu": ratio(record["flow"]["fps_cpu"], loop.get("fps_cpu")),
        "speed_vs_no_flow": ratio(record["flow"]["fps"], record["no_flow"]["fps"]),
        # floors: the same ratios for outputs no carried dream can beat (see frozen_dream)
        "source_vs_no_flow": ratio(record["source_scores"]["warping_error_sampled"],
                                   record["no_flow"]["warping_error_sampled"]),
        "frozen_vs_no_flow": ratio(record["frozen"]["warping_error_sampled"], record["no_flow"]["warping_error_sampled"]),
        "frozen_vs_source": ratio(frozen["dreamed"], score_a["source"]),
        # issue 23: the warping error against its floor, over all frames and over the sampled pairs
        "warping_vs_floor": ratio(score_a["dreamed"], frozen["dreamed"]),
        "warping_vs_floor_sampled": ratio(record["flow"]["warping_error_sampled"],
                                          record["frozen"]["warping_error_sampled"]),
    }
    if spec.kind == "slow_pan":
        record["drift"] = drift(spec, sources, outputs_a, strength_a, outputs_b, maps_b)
    record["targets"] = targets(record)
    record["stage_seconds"] = {name: round(seconds, 1) for name, seconds in stages.items()}
    return record


def frozen_dream(sources: list[np.ndarray], outputs: list[np.ndarray]) -> dict:
    """The warping error of (a)'s frames had each of them changed nothing of what it carried: frame t is its
    source plus (a)'s previous frame's dream moved along the flow as dreamvid carries it
    (flow.CARRY_INTERPOLATION) where the flow is reliable, scored against (a)'s previous frame. What is left
    is the source's own error and the metric's bilinear warp of a sharp dream (no second encode: the codec's
    noise of frame t is left out). A carried dream of this strength and sharpness can hardly score lower: a
    floor for the targets. Returns the mean and the per-pair
    errors, as score_videos does."""
    from dreamvid.flow import CARRY_INTERPOLATION, MotionEstimator, warp
    from dreamvid.score import pair_error

    estimator = MotionEstimator()
    errors = []
    for t in range(1, len(sources)):
        motion = estimator.estimate(sources[t - 1], sources[t])
        dream = outputs[t - 1].astype(np.float32) - sources[t - 1]
        frame = sources[t] + warp(dream, motion.backward, CARRY_INTERPOLATION)
        errors.append(pair_error(outputs[t - 1], np.clip(np.rint(frame), 0, 255).astype(np.uint8), motion))
    return {"dreamed": mean_or_none(errors) or 0.0, "per_frame": {"dreamed": errors}}


def run_no_flow(spec, source: Path, options: dict, folder: Path, pairs_wanted: int, pairs: list[int]):
    """(b): the sampled pairs, each its own render of frames t:t+1 (or the whole clip when pairs_wanted is 0).
    Returns the frames by index, the warping error of each pair by its first frame, and the summed clock."""
    from dreamvid.score import score_videos
    from dreamvid.io.decode import read_frames

    total = Clock()
    if pairs_wanted <= 0:
        log(f"{spec.kind}: (b) no flow, all {spec.frames} frames ...")
        output = folder / f"{spec.kind}-noflow.mp4"
        total, _ = render(source, output, options)
        errors = score_videos(source, output, start=0)["per_frame"]["dreamed"]
        return dict(enumerate(read_frames(output))), dict(enumerate(errors)), total
    log(f"{spec.kind}: (b) no flow, {len(pairs)} pairs of frames {pairs} ...")
    frames, errors = {}, {}
    for t in pairs:
        output = folder / f"{spec.kind}-noflow-{t}.mp4"
        with total:
            render(source, output, {**options, "frames": f"{t}:{t + 2}"})
        frames.update(zip((t, t + 1), read_frames(output)))
        errors[t] = score_videos(source, output, start=t)["per_frame"]["dreamed"][0]
    return frames, errors, total


def region_strengths(sources: list[np.ndarray], sampled: list[int], maps_a: dict, maps_b: dict) -> dict:
    """Strength of (a) and (b) on the sampled frames' pixels revealed at that frame (new), within the last
    RECENT frames (recent: reliability chained along the source's own flow; a cut makes all new), or carried
    longer; pooled over the frames, with each region's share of the frame and its (a)/(b) ratio."""
    from dreamvid.flow import MotionEstimator, warp

    estimator, motions = MotionEstimator(), {}

    def motion(u):
        if u not in motions:
            motions[u] = estimator.estimate(sources[u - 1], sources[u])
        return motions[u]

    pooled = {f"{mode}_{region}": [0.0, 0.0] for mode in "ab" for region in ("new", "recent", "carried")}
    shares = {"new": [], "recent": []}
    for t in sampled:
        if t == 0:
            continue
        reliable = np.ones(sources[t].shape[:2], np.float32)
        for u in range(max(1, t - RECENT + 1), t + 1):
            reliable = motion(u).mask * warp(reliable, motion(u).backward)
        weights = {"new": 1.0 - motion(t).mask, "recent": 1.0 - reliable, "carried": reliable}
        shares["new"].append(float(weights["new"].mean()))
        shares["recent"].append(float(weights["recent"].mean()))
        for mode, maps in (("a", maps_a[t]), ("b", maps_b[t])):
            for region, weight in weights.items():
                total, mass = region_strength(maps, weight)
                pooled[f"{mode}_{region}"][0] += total
                pooled[f"{mode}_{region}"][1] += mass
    regions = {key: (total / mass if mass > 1.0 else None) for key, (total, mass) in pooled.items()}
    regions.update({f"{region}_share": mean_or_none(values) for region, values in shares.items()})
    regions.update({f"{region}_ratio": ratio(regions[f"a_{region}"], regions[f"b_{region}"])
                    for region in ("new", "recent", "carried")})
    return regions


def drift_frames(frames: int) -> list[int]:
    """The frames drift is measured on: every STRIDE-th of the first and of the last window."""
    window = min(DRIFT_WINDOW, frames // 4)
    return list(range(0, window, STRIDE)) + list(range(frames - window, frames, STRIDE))


def drift(spec, sources, outputs, strength, outputs_b, maps_b) -> dict:
    """Last DRIFT_WINDOW frames over the first: strength, sharpness of the dream delta, brightness. The slow
    pan comes back along its path, so the content is the same at both ends; as a check each is also given
    for a reference that only the content would change: the no-flow dream on the sampled frames (strength,
    sharpness) and the source (brightness), both near 1."""
    n, window = spec.frames, min(DRIFT_WINDOW, spec.frames // 4)
    frames = drift_frames(n)
    first, last = [t for t in frames if t < window], [t for t in frames if t >= n - window]

    def change(values_first, values_last):
        return float(np.mean(values_last) / np.mean(values_first))

    sharp = {t: delta_sharpness(outputs[t], sources[t]) for t in frames}
    bright = {t: float(outputs[t].mean()) for t in frames}
    source_bright = {t: float(sources[t].mean()) for t in frames}
    b_first = [t for t in maps_b if t < window]
    b_last = [t for t in maps_b if t >= n - window]
    rows = {
        "strength": {"flow": change([strength[t] for t in first], [strength[t] for t in last])},
        "sharpness": {"flow": change([sharp[t] for t in first], [sharp[t] for t in last])},
        "brightness": {"flow": change([bright[t] for t in first], [bright[t] for t in last]),
                       "reference": change([source_bright[t] for t in first], [source_bright[t] for t in last]),
                       "reference_is": "source"},
    }
    if b_first and b_last:
        b_strength = {t: np.mean([m.mean() for m in maps_b[t]]) for t in maps_b}
        b_sharp = {t: delta_sharpness(outputs_b[t], sources[t]) for t in maps_b}
        rows["strength"].update(reference=change([b_strength[t] for t in b_first], [b_strength[t] for t in b_last]),
                                reference_is="no-flow, sampled frames")
        rows["sharpness"].update(reference=change([b_sharp[t] for t in b_first], [b_sharp[t] for t in b_last]),
                                 reference_is="no-flow, sampled frames")
    for row in rows.values():
        row["relative"] = row["flow"] / row["reference"] if row.get("reference") else row["flow"]
    # every window against the first (issue 23); the slow pan's middle shows other content than its ends
    measured = sorted(strength)
    windows = []
    for low in range(0, n - window + 1, window):
        inside = [t for t in measured if low <= t < low + window]
        windows.append({"frames": [low, low + window],
                        "strength": change([strength[t] for t in first], [strength[t] for t in inside]),
                        "sharpness": change([sharp[t] for t in first],
                                            [delta_sharpness(outputs[t], sources[t]) for t in inside]),
                        # the picture's brightness is mostly the source's: the dream's against the source's
                        "brightness": change([bright[t] for t in first], [float(outputs[t].mean()) for t in inside])
                        / change([source_bright[t] for t in first], [float(sources[t].mean()) for t in inside])})
    # against the no-flow dream of the window's sampled frames (the same content dreamed afresh)
    if b_first and b_last:
        for row in windows:
            inside = [t for t in maps_b if row["frames"][0] <= t < row["frames"][1]]
            if inside:
                row["strength_vs_no_flow"] = row["strength"] / change([b_strength[t] for t in b_first],
                                                                      [b_strength[t] for t in inside])
                row["sharpness_vs_no_flow"] = row["sharpness"] / change([b_sharp[t] for t in b_first],
                                                                        [b_sharp[t] for t in inside])
    worst = {name: max((row[name] for row in windows), key=lambda v: abs(v - 1.0))
             for name in ("strength", "sharpness", "brightness")}
    worst.update({name: max((row[name] for row in windows if name in row), key=lambda v: abs(v - 1.0),
                            default=None) for name in ("strength_vs_no_flow", "sharpness_vs_no_flow")})
    return {"window": window, "stride": STRIDE, **rows, "windows": windows, "worst_window": worst}


def targets(record: dict) -> list[dict]:
    """The issue's targets on one clip; the warping targets with their floor, the same ratio for the frozen
    frames (frozen_dream). A target under its floor cannot be met by a carried dream of this strength and
    sharpness."""
    r = record["ratios"]
    speedup = MIN_SPEEDUP.get(record["kind"], 5.0)
    rows = [(f"strength {MIN_STRENGTH_RATIO:g}x to {MAX_STRENGTH_RATIO:g}x no-flow", r["strength_vs_no_flow"],
             lambda v: MIN_STRENGTH_RATIO <= v <= MAX_STRENGTH_RATIO, None),
            (f"warping error <= {MAX_WARP_VS_FLOOR:g}x its floor (all frames)", r.get("warping_vs_floor"),
             lambda v: v <= MAX_WARP_VS_FLOOR, None),
            (f"warping error <= {MAX_WARP_VS_FLOOR:g}x its floor (sampled pairs)", r.get("warping_vs_floor_sampled"),
             lambda v: v <= MAX_WARP_VS_FLOOR, None),
            (f"warping error <= {MAX_WARP_VS_SOURCE:g}x source", r["warping_vs_source"],
             lambda v: v <= MAX_WARP_VS_SOURCE, r.get("frozen_vs_source")),
            (f"frames/s >= {speedup:g}x per-frame loop", r["speed_vs_loop"], lambda v: v >= speedup, None),
            ("the same by CPU time (steadier on a shared machine)", r.get("speed_vs_loop_cpu"), lambda v: v >= speedup,
             None)]
    for name in ("strength", "sharpness", "brightness"):
        if name in record.get("drift", {}):
            window = record["drift"]["window"]
            rows.append((f"{name} drift within ±10% (last/first {window})",
                         record["drift"][name]["flow"], lambda v: abs(v - 1.0) <= MAX_DRIFT, None))
            if "worst_window" in record["drift"]:
                rows.append((f"{name} drift within ±10% (worst {window}-frame window/first)",
                             record["drift"]["worst_window"][name], lambda v: abs(v - 1.0) <= MAX_DRIFT, None))
                if record["drift"]["worst_window"].get(f"{name}_vs_no_flow") is not None:
                    rows.append((f"{name} drift within ±10% (worst window/first, over no-flow's: content out)",
                                 record["drift"]["worst_window"][f"{name}_vs_no_flow"],
                                 lambda v: abs(v - 1.0) <= MAX_DRIFT, None))
    return [{"name": name, "value": value, "pass": None if value is None else bool(check(value)), "floor": floor,
             "reachable": None if floor is None else bool(check(floor))}
            for name, value, check, floor in rows]


# --- report ---------------------------------------------------------------------------------------------

def fmt(value, digits: int = 2, suffix: str = "") -> str:
    if value is None:
        return "-"
    if isinstance(value, float) and abs(value) < 0.01 and value != 0:
        return f"{value:.2e}{suffix}"
    return f"{value:.{digits}f}{suffix}"


def markdown(record: dict) -> str:
    s = record["settings"]
    lines = [f"**{record['label']}**: {s['model']} {','.join(s['layers'])}, {s['octaves']} octaves x {s['steps']} "
             f"steps, flow_steps={s['flow_steps']}, blend={s['blend']}"
             + (f", set: {record['set']}" if record["set"] else "")
             + f"; dreamvid {record['dreamvid'].get('branch', '')} {record['dreamvid']['commit']}; {record['machine']['cpu']}, "
             f"{record['machine']['usable_cores']} cores, GPU: {', '.join(record['machine']['gpus']) or 'none'}", ""]
    lines += ["| clip | frames | size | fps flow | fps no-flow | fps loop | speed flow/loop | (CPU time) | strength flow "
              "| strength no-flow | strength ratio | warp flow | warp no-flow | warp source | warp flow/no-flow "
              "| warp flow/source | frozen/no-flow | frozen/source | warp flow/floor (all) | warp flow/floor (sampled) "
              "| new px | recent px | strength new | strength recent | strength carried |",
              "|---" * 25 + "|"]
    for c in record["clips"].values():
        r, g = c["ratios"], c["regions"]
        lines.append(f"| {c['kind']} | {c['frames']} | {c['size'][0]}x{c['size'][1]} | {fmt(c['flow']['fps'], 3)} "
                     f"| {fmt(c['no_flow']['fps'], 3)} | {fmt(c['loop'].get('fps'), 3)} | {fmt(r['speed_vs_loop'], 1, 'x')} "
                     f"| {fmt(r['speed_vs_loop_cpu'], 1, 'x')} "
                     f"| {fmt(c['flow']['strength_sampled'], 1)} | {fmt(c['no_flow']['strength_sampled'], 1)} "
                     f"| {fmt(r['strength_vs_no_flow'], 2, 'x')} | {fmt(c['flow']['warping_error'])} "
                     f"| {fmt(c['no_flow']['warping_error_sampled'])} | {fmt(c['source_scores']['warping_error'])} "
                     f"| {fmt(r['warping_vs_no_flow'], 2, 'x')} | {fmt(r['warping_vs_source'], 2, 'x')} "
                     f"| {fmt(r.get('frozen_vs_no_flow'), 2, 'x')} | {fmt(r.get('frozen_vs_source'), 2, 'x')} "
                     f"| {fmt(r.get('warping_vs_floor'), 2, 'x')} | {fmt(r.get('warping_vs_floor_sampled'), 2, 'x')} "
                     f"| {fmt(g['new_share'], 3)} | {fmt(g['recent_share'], 3)} | {fmt(g['new_ratio'], 2, 'x')} "
                     f"| {fmt(g['recent_ratio'], 2, 'x')} | {fmt(g['carried_ratio'], 2, 'x')} |")
    drifts = [c for c in record["clips"].values() if "drift" in c]
    for c in drifts:
        d = c["drift"]
        lines += ["", f"Drift on {c['kind']} (mean of the last {d['window']} frames / the first {d['window']}):", "",
                  "| figure | flow, last/first | reference, last/first | flow/reference |", "|---|---|---|---|"]
        for name in ("strength", "sharpness", "brightness"):
            row = d[name]
            lines.append(f"| {name} | {fmt(row['flow'], 3)} | {fmt(row.get('reference'), 3)} "
                         f"({row.get('reference_is', '-')}) | {fmt(row['relative'], 3)} |")
    lines += ["", "| clip | target | value | floor (frozen frames) | result |", "|---|---|---|---|---|"]
    for c in record["clips"].values():
        for t in c["targets"]:
            verdict = "n/a" if t["pass"] is None else ("pass" if t["pass"] else "FAIL")
            if t["pass"] is False and t.get("reachable") is False:
                verdict += " (under the floor)"
            lines.append(f"| {c['kind']} | {t['name']} | {fmt(t['value'], 3)} | {fmt(t.get('floor'), 3)} | {verdict} |")
    return "\n".join(lines)


def dreamvid_version() -> dict:
    """Which dreamvid was measured: the package's folder, the last commit that changed it (+changes when it
    has uncommitted ones) and the branch."""
    import dreamvid

    folder = Path(dreamvid.__file__).resolve().parent
    try:
        commit = subprocess.run(["git", "-C", str(folder), "log", "-1", "--format=%h", "--", "."], capture_output=True,
                                text=True, timeout=10).stdout.strip()
        branch = subprocess.run(["git", "-C", str(folder), "rev-parse", "--abbrev-ref", "HEAD"], capture_output=True,
                                text=True, timeout=10).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(folder), "status", "--porcelain", "--", "."], capture_output=True,
                               text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        commit = dirty = branch = ""
    return {"path": str(folder), "branch": branch, "commit": (commit or "unknown") + ("+changes" if dirty else "")}


# --- main -----------------------------------------------------------------------------------------------

def parse_value(text: str):
    """A --set value: true/false/none, an int, a float, else the text (a schedule, a path)."""
    lowered = text.strip().lower()
    if lowered in ("true", "false"):
        return lowered == "true"
    if lowered == "none":
        return None
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


def parse_size(text: str) -> tuple[int, int]:
    width, _, height = text.lower().partition("x")
    return int(width), int(height)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true",
                        help="160x68 clips of 30/30/60 frames and a 200-frame slow pan, 4 sampled pairs, 1 loop frame")
    parser.add_argument("--clips", default=",".join(clipset.KINDS), help=f"comma-separated subset of {','.join(clipset.KINDS)}")
    parser.add_argument("--size", type=parse_size, default=None, help="WxH of fast_pan, crossing, short_shots (default 320x136)")
    parser.add_argument("--pan-size", type=parse_size, default=None, help="WxH of slow_pan (default 160x68)")
    parser.add_argument("--pan-frames", type=int, default=None, help="frames of slow_pan (default 1000)")
    parser.add_argument("--model", default="vgg16-hed")
    parser.add_argument("--weights", default=None)
    parser.add_argument("--layer", action="append", dest="layers", default=None, help="repeatable (default block4_conv3)")
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--octaves", type=int, default=3)
    parser.add_argument("--set", action="append", default=[], metavar="NAME=VALUE",
                        help="any Settings field, e.g. --set flow_steps=3 --set coherence=0.8 (repeatable)")
    parser.add_argument("--no-flow-pairs", type=int, default=None,
                        help="pairs of frames dreamed with flow=False per clip (default 8, --quick 4; the slow pan rounds up "
                             "to even); 0: whole clips")
    parser.add_argument("--loop-frames", type=int, default=None,
                        help="frames timed with the per-frame loop per clip (default 2, --quick 1); 0: skip")
    parser.add_argument("--label", default=None, help="names results/motion-<label>.json (default: full or quick)")
    parser.add_argument("--results", type=Path, default=RESULTS, help="folder of the JSON (default benchmarks/results)")
    parser.add_argument("--clip-dir", type=Path, default=clipset.CACHE, help="where generated clips are cached")
    parser.add_argument("--keep", type=Path, default=None, help="keep the renders in this folder")
    parser.add_argument("--table", type=Path, default=None, metavar="JSON",
                        help="only print the markdown table of an earlier result file")
    args = parser.parse_args()
    if args.table:
        print(markdown(json.loads(args.table.read_text(encoding="utf-8"))))
        return

    from dreamvid.errors import UserError
    from dreamvid.settings import build_settings

    plan = dict(QUICK if args.quick else FULL)
    kinds = [k.strip() for k in args.clips.split(",") if k.strip()]
    unknown = [k for k in kinds if k not in clipset.KINDS]
    if unknown or not kinds:
        parser.error(f"--clips: unknown {', '.join(unknown) or '(none)'}; choose from {', '.join(clipset.KINDS)}")
    specs = []
    for kind in kinds:
        frames, width, height = plan[kind]
        if kind == "slow_pan":
            width, height = args.pan_size or (width, height)
            frames = args.pan_frames or frames
        elif args.size:
            width, height = args.size
        specs.append(clipset.ClipSpec(kind, frames, width, height))
    pairs = args.no_flow_pairs if args.no_flow_pairs is not None else (4 if args.quick else 8)
    loop_frames = args.loop_frames if args.loop_frames is not None else (1 if args.quick else 2)

    overrides = {}
    for item in args.set:
        name, sep, value = item.partition("=")
        if not sep:
            parser.error(f"--set {item}: expected NAME=VALUE")
        overrides[name.strip().replace("-", "_")] = parse_value(value)
    options = {"model": args.model, "weights": args.weights, "layers": args.layers or (), "steps": args.steps,
               "octaves": args.octaves, **overrides}
    try:
        settings = build_settings(options)
        build_settings({**options, "flow": False})
    except UserError as error:
        print(f"error: {error}", file=sys.stderr)
        sys.exit(2)

    paths = clipset.make_clips(specs, args.clip_dir, log)

    from dreamvid.engine import default_batch, load_dreamer
    from dreamvid.engine.catalog import resolve_layers, resolve_weights

    log(f"building {settings.model}, tracing the step loop, and a second copy to measure strength ...")
    dreamer = load_dreamer(settings)
    warm = np.random.default_rng(1).random((settings.batch or default_batch(), specs[0].height, specs[0].width, 3),
                                           dtype=np.float32)
    dreamer.dream(warm, settings.dream_params(), steps=1)
    meter = StrengthMeter(settings)
    meter.maps([np.zeros((specs[0].height, specs[0].width, 3), np.uint8)])

    label = args.label or ("quick" if args.quick else "full")
    folder = args.keep or Path(tempfile.mkdtemp(prefix="dreamvid-motion-"))
    folder.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    clips = {}
    for spec in specs:
        clips[spec.kind] = run_clip(spec, paths[spec.kind], options, settings, dreamer, meter, folder, pairs, loop_frames)
    settings_record = settings.to_dict()
    settings_record.update(layers=[str(layer) for layer in resolve_layers(settings.model, settings.layers)],
                           weights=resolve_weights(settings.model, settings.weights))
    record = {"benchmark": "motion", "label": label, "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
              "command": sys.argv[1:], "machine": machine.info(), "dreamvid": dreamvid_version(),
              "settings": settings_record, "set": overrides, "quick": args.quick,
              "no_flow_pairs": pairs, "loop_frames": loop_frames,
              "seconds": round(time.perf_counter() - started, 1), "clips": clips}
    args.results.mkdir(parents=True, exist_ok=True)
    path = args.results / f"motion-{label}.json"
    path.write_text(json.dumps(record, indent=2, default=float) + "\n", encoding="utf-8")
    print(markdown(record))
    print(f"\nwrote {path} after {record['seconds']:.0f} s" + (f"; renders in {folder}" if args.keep else ""))
    if not args.keep:
        import shutil

        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
