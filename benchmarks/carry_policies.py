"""Candidate carry-over policies on synthetic clips, simulated in one process (no files): how strong
the dream is in freshly revealed pixels and overall, how steady it is, and how many gradient steps it
costs. Used to choose the defaults of issue 12 (catch-up of fresh pixels, octaves of carried frames,
interpolation of the carried dream). Its chain is a sketch of dreamvid.temporal's (no limit on the
carried delta); benchmarks/motion.py measures the real one.

    python benchmarks/carry_policies.py --clip crossing --frames 24 --policies base,c1.5,c1.5-f5,c2-t2-f10

A policy is `noflow`, `base`, or dash-separated keys: c (step size of carried pixels), f (of fresh
pixels), t (top octaves a carried frame dreams), b (blend), s (flow steps), i (linear, cubic, lanczos).
Results: results/carry_policies_<label>.json; --no-flow's dream is cached beside them (.npz).
"""
from __future__ import annotations

import argparse
import json
import time
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np


def texture(height: int, width: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    detail = cv2.GaussianBlur(rng.random((height, width)).astype(np.float32), (0, 0), 1.5)
    colour = cv2.GaussianBlur(rng.random((height, width, 3)).astype(np.float32), (0, 0), 8.0)
    detail = (detail - detail.min()) / np.ptp(detail)
    colour = (colour - colour.min()) / np.ptp(colour)
    return np.clip(0.6 * detail[..., None] + 0.4 * colour, 0, 1).astype(np.float32)


def clip(name: str, frames: int, size: tuple[int, int]) -> tuple[np.ndarray, list[np.ndarray]]:
    """Frames (float RGB) and, per frame, the mask of pixels revealed in it (for the crossing clip)."""
    width, height = size
    revealed = [np.zeros((height, width), bool) for _ in range(frames)]
    if name == "crossing":  # a still background, an object crossing at 12 px per frame
        background, thing = texture(height, width, 1), texture(height // 2, width // 3, 2)[..., ::-1]
        out, boxes = [], []
        for i in range(frames):
            frame = background.copy()
            left = -width // 3 + 12 * i
            box = np.zeros((height, width), bool)
            a, b = max(0, left), min(width, left + width // 3)
            if a < b:
                frame[height // 4:height // 4 + height // 2, a:b] = thing[:, a - left:b - left]
                box[height // 4:height // 4 + height // 2, a:b] = True
            if boxes:
                revealed[i] = boxes[-1] & ~box
            boxes.append(box)
            out.append(frame)
        return np.stack(out), revealed
    if name in ("pan", "slowpan"):  # fast pan 8 px per frame, or a sub-pixel one (0.37 px)
        speed = 8.0 if name == "pan" else 0.37
        canvas = texture(height + 8, int(width + speed * frames + 16), 3)
        out = []
        for i in range(frames):
            matrix = np.float32([[1, 0, -speed * i], [0, 1, 0]])
            out.append(cv2.warpAffine(canvas, matrix, (canvas.shape[1], canvas.shape[0]),
                                      flags=cv2.INTER_CUBIC)[4:4 + height, 4:4 + width])
        return np.clip(np.stack(out), 0, 1), revealed
    if name == "cuts":  # shots of 10 frames, each a slow pan over another picture
        out = []
        for i in range(frames):
            shot = i // 10
            canvas = texture(height, width + 40, 10 + shot)
            out.append(canvas[:, 2 * (i % 10):2 * (i % 10) + width])
        return np.stack(out), revealed
    raise SystemExit(f"unknown clip {name}")


@dataclass(frozen=True)
class Policy:
    name: str
    flow: bool = True
    carried: float = 1.0  # step size of carried pixels (mask 1), relative to --step-size
    fresh: float = 1.0  # step size of fresh pixels (mask 0)
    top_octaves: int | None = None
    interpolation: int = cv2.INTER_LINEAR
    blend: float = 0.9
    flow_steps: int = 1


def parse_policy(text: str) -> Policy:
    """noflow, base, or keys like c1.5-f5-t1-b0.95-icubic (carried, fresh, top octaves, blend, interpolation)."""
    if text == "noflow":
        return Policy(text, flow=False)
    fields = {}
    for part in text.split("-"):
        key, value = part[0], part[1:]
        if part == "base":
            continue
        if key == "c":
            fields["carried"] = float(value)
        elif key == "f":
            fields["fresh"] = float(value)
        elif key == "t":
            fields["top_octaves"] = int(value)
        elif key == "b":
            fields["blend"] = float(value)
        elif key == "s":
            fields["flow_steps"] = int(value)
        elif key == "i":
            fields["interpolation"] = {"cubic": cv2.INTER_CUBIC, "lanczos": cv2.INTER_LANCZOS4,
                                       "linear": cv2.INTER_LINEAR}[value]
        else:
            raise SystemExit(f"bad policy part {part}")
    return Policy(text, **fields)


def run(policy: Policy, frames: np.ndarray, dreamer, params, steps: int) -> tuple[list[np.ndarray], int, float]:
    """Dream the clip as a chain; returns the dreamed frames, gradient steps x pixels, seconds."""
    from dreamvid.flow import MotionEstimator, warp

    estimator = MotionEstimator()
    outputs, prev_u8, prev_src, prev_dream = [], None, None, None
    work, tick = 0, time.monotonic()
    for frame in frames:
        u8 = (frame * 255).round().astype(np.uint8)
        motion = estimator.estimate(prev_u8, u8) if prev_u8 is not None else None
        prev_u8 = u8
        start, step_map, carried = frame, None, False
        if policy.flow and motion is not None and not motion.cut:
            added = warp(prev_dream - prev_src, motion.backward, policy.interpolation)
            kept = motion.mask * policy.blend
            start = np.clip(frame + added * kept[..., None], 0, 1)
            step_map = (policy.carried + (policy.fresh - policy.carried) * (1.0 - motion.mask))[None]
            carried = True
        before = dreamer.steps_run
        dreamed = dreamer.dream(start[None], params, policy.flow_steps if carried else steps, step_map=step_map,
                                top_octaves=policy.top_octaves if carried else None)[0]
        work += dreamer.steps_run - before
        dreamed = np.rint(dreamed * 255) / 255
        prev_src, prev_dream = frame, dreamed.astype(np.float32)
        outputs.append(prev_dream)
    return outputs, work, time.monotonic() - tick


def activation_energy(dreamer, images: list[np.ndarray]) -> np.ndarray:
    """Per frame, the mean over channels of the squared activation of the dreamed layer, per position."""
    import tensorflow as tf

    model, layer = dreamer.features, dreamer.layers[0].name
    maps = []
    for k in range(0, len(images), 8):
        batch = tf.constant(np.stack(images[k:k + 8]) * 2.0 - 1.0)
        acts = model.model(model.preprocess(batch), training=False)[layer]
        maps.append(tf.reduce_mean(tf.square(tf.cast(acts, tf.float32)), axis=-1).numpy())
    return np.concatenate(maps)


def high_frequency(delta: np.ndarray) -> float:
    """Energy of the dream delta above a Gaussian blur (sigma 1.5): its fine detail."""
    return float(np.mean((delta - cv2.GaussianBlur(delta, (0, 0), 1.5)) ** 2))


def region_strength(energy: np.ndarray, region: np.ndarray) -> float | None:
    small = cv2.resize(region.astype(np.float32), energy.shape[::-1], interpolation=cv2.INTER_AREA) > 0.75
    return float(energy[small].mean()) if small.any() else None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clip", default="crossing")
    parser.add_argument("--frames", type=int, default=24)
    parser.add_argument("--size", default="160x96")
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--octaves", type=int, default=3)
    parser.add_argument("--policies", default="noflow,base,gain5,top1")
    parser.add_argument("--label", default=None)
    args = parser.parse_args()
    from dreamvid.engine import load_dreamer
    from dreamvid.score import warping_error
    from dreamvid.settings import DreamParams, build_settings

    width, height = map(int, args.size.split("x"))
    frames, revealed = clip(args.clip, args.frames, (width, height))
    dreamer = load_dreamer(build_settings({"model": "vgg16-hed", "layers": ["block4_conv3"]}))
    params = DreamParams(octaves=args.octaves, steps=args.steps, step_size=0.01, jitter=32, tile=512, seed=0)
    src_u8 = [(f * 255).round().astype(np.uint8) for f in frames]
    source_error = warping_error(src_u8, src_u8)
    source_energy = activation_energy(dreamer, list(frames))
    cache = Path(__file__).with_name("results") / (
        f"carry_noflow_{args.clip}_{len(frames)}_{width}x{height}_{args.steps}x{args.octaves}.npz")
    if cache.is_file():
        saved = np.load(cache)
        noflow = {"energy": saved["energy"], "warping_error": float(saved["werr"]), "work": int(saved["work"]),
                  "seconds": float(saved["seconds"])}
    else:
        outputs, work, seconds = run(Policy("noflow", flow=False), frames, dreamer, params, args.steps)
        noflow = {"energy": activation_energy(dreamer, outputs), "work": work, "seconds": seconds,
                  "warping_error": warping_error([(o * 255).round().astype(np.uint8) for o in outputs], src_u8)}
        np.savez(cache, energy=noflow["energy"], werr=noflow["warping_error"], work=work, seconds=seconds)
    nf_strength = noflow["energy"].mean(axis=(1, 2))
    rows = []
    background = np.zeros((height, width), bool)
    background[:height // 4 - 8] = True
    background[height // 4 + height // 2 + 8:] = True
    for name in args.policies.split(","):
        policy = parse_policy(name)
        outputs, work, seconds = run(policy, frames, dreamer, params, args.steps)
        energy = activation_energy(dreamer, outputs)
        strength = energy.mean(axis=(1, 2))
        deltas = [out - src for out, src in zip(outputs, frames)]
        hf = [high_frequency(d) for d in deltas]
        out_u8 = [(o * 255).round().astype(np.uint8) for o in outputs]
        third = max(1, len(outputs) // 3)
        row = dict(policy=name, strength=float(strength.mean() / nf_strength.mean()),
                   steady=float(strength[-third:].mean() / nf_strength[-third:].mean()),
                   werr=warping_error(out_u8, src_u8) / noflow["warping_error"], work=work,
                   speedup=noflow["work"] / max(work, 1), seconds=round(seconds, 1),
                   werr_src=warping_error(out_u8, src_u8) / max(source_error, 1e-12))
        tenth = max(1, len(outputs) // 10)
        row["drift"] = {"strength": float(strength[-tenth:].mean() / strength[1:tenth + 1].mean()),
                        "hf": float(np.mean(hf[-tenth:]) / np.mean(hf[1:tenth + 1])),
                        "brightness": float(np.mean([o.mean() for o in outputs[-tenth:]])
                                            / np.mean([o.mean() for o in outputs[1:tenth + 1]]))}
        if args.clip == "crossing":
            # pixels revealed at frame t, at t, t+1, t+2: their strength relative to a per-frame dream's,
            # over the same ratio of the never-covered rows
            ratios = {k: [] for k in range(3)}
            for t, mask in enumerate(revealed):
                for k in range(3):
                    if mask.any() and t + k < len(outputs) and region_strength(energy[t + k], mask) is not None:
                        here = region_strength(energy[t + k], mask) / region_strength(noflow["energy"][t + k], mask)
                        ref = (region_strength(energy[t + k], background)
                               / region_strength(noflow["energy"][t + k], background))
                        ratios[k].append(here / ref)
            row["fresh"] = [round(float(np.mean(v)), 3) if v else None for v in ratios.values()]
        rows.append(row)
        print(" ".join(f"{k}={round(v, 3) if isinstance(v, float) else v}" for k, v in row.items()), flush=True)
    out = Path(__file__).with_name("results") / f"carry_policies_{args.label or args.clip}.json"
    out.write_text(json.dumps({"clip": args.clip, "frames": len(frames), "size": [width, height],
                               "steps": args.steps, "octaves": args.octaves, "rows": rows}, indent=1))


if __name__ == "__main__":
    main()
