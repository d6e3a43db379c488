"""Does `--guide` move the dream towards the guide? The cosine similarity of the dream's channel profile
(the mean activation of each channel of a layer) to the guide's, for the plain dream, the guided dream,
and candidate guide objectives (issue "--guide looks the same as the plain dream").

    python benchmarks/guide.py                          # every pair and candidate, 176x144, 3 octaves x 10 steps
    python benchmarks/guide.py --pairs tuned --candidates plain notebook profile --label quick
    python benchmarks/guide.py --pictures pictures/     # only writes frame60.png and the guides, for the README

Pictures: crops of frames of samples/bigbuckbunny.mp4, and synthetic textures, as content and guide.
Each candidate is a guide objective (act [batch, h, w, c], guide features [n, c]) -> [batch], and the size
the guide's features are taken at: "fixed" (shrunk to at most 256 px, as the engine did), or "octave"
(resized to each octave's own size, so the guide is seen at the scale the dream is). The candidates run
inside the engine's own compiled step loop: the objective is swapped in dreamvid.engine.objective.

Figures (per pair, per candidate):
  profile@L      cosine of the dream's channel profile at layer L to the guide's (the guide resized to the
                 content's size); L: the dreamed layer and one other (block3_conv3 / block5_conv3)
  match@L        mean over positions of the largest cosine to any guide feature vector (tests/test_guide.py)
  change         mean |dream - content| in 0..255 (did it dream at all)

Writes benchmarks/results/guide-LABEL.json. A measurement, not a test.
"""
from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import cv2  # noqa: E402
import numpy as np  # noqa: E402

import machine  # noqa: E402  (benchmarks/machine.py, next to this file)
from dreamvid.engine import objective as engine_objective  # noqa: E402

ENGINE_GUIDED = engine_objective.guided  # the engine's guide objective (candidates swap the module's own)

ROOT = Path(__file__).resolve().parent.parent
RESULTS = Path(__file__).resolve().parent / "results"
CLIP = ROOT / "samples" / "bigbuckbunny.mp4"
PROBE_LAYERS = ("block3_conv3", "block4_conv3", "block5_conv3")


# --- pictures -------------------------------------------------------------------------------------------

def frame(index: int) -> np.ndarray:
    from dreamvid.io.decode import read_frames

    return next(iter(read_frames(CLIP, index, index + 1))).astype(np.float32) / 255.0


def crop(picture: np.ndarray, top: int, left: int, height: int, width: int) -> np.ndarray:
    return picture[top:top + height, left:left + width]


def fit(picture: np.ndarray, width: int, height: int) -> np.ndarray:
    interpolation = cv2.INTER_AREA if picture.shape[1] > width else cv2.INTER_LINEAR
    return np.ascontiguousarray(cv2.resize(picture, (width, height), interpolation=interpolation), np.float32)


def stripes(size: int = 320) -> np.ndarray:
    """Bold red and green diagonal stripes with blue dots (tests/test_guide.py's guide, larger)."""
    y, x = np.mgrid[0:size, 0:size]
    picture = np.where((((x + y) // 12) % 2 == 0)[..., None], [0.9, 0.1, 0.1], [0.1, 0.8, 0.2]).astype(np.float32)
    for cy in range(16, size, 48):
        for cx in range(16, size, 48):
            cv2.circle(picture, (cx, cy), 10, (0.1, 0.1, 0.9), -1)
    return picture


def blobs(size: int = 320, seed: int = 1) -> np.ndarray:
    """Flower-like blobs: yellow discs with dark centres and orange rings on dark green."""
    rng = np.random.default_rng(seed)
    picture = np.full((size, size, 3), (0.05, 0.25, 0.08), np.float32)
    for _ in range(size * size // 900):
        cx, cy, r = int(rng.integers(0, size)), int(rng.integers(0, size)), int(rng.integers(8, 20))
        cv2.circle(picture, (cx, cy), r, (1.0, 0.55, 0.05), -1)
        cv2.circle(picture, (cx, cy), int(r * 0.7), (1.0, 0.9, 0.1), -1)
        cv2.circle(picture, (cx, cy), int(r * 0.25), (0.2, 0.1, 0.05), -1)
    return picture


def checks(size: int = 320) -> np.ndarray:
    """A blue and white checkerboard, rotated."""
    y, x = np.mgrid[0:size, 0:size].astype(np.float32)
    u, v = (x + y) / 20.0, (x - y) / 20.0
    mask = (np.floor(u) + np.floor(v)) % 2 == 0
    return np.where(mask[..., None], [0.95, 0.95, 0.95], [0.1, 0.2, 0.8]).astype(np.float32)


def pairs(width: int, height: int) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """name -> (content at width x height, guide at its own size). "tuned" is the pair candidates were
    chosen on; the others are held out."""
    f0, f60, f120 = frame(0), frame(60), frame(120)
    return {
        # the bunny, guided by a crop of the grass (of another frame)
        "tuned": (fit(crop(f60, 0, 280, 720, 880), width, height), crop(f0, 420, 0, 300, 560)),
        # the stone wall, sky and tree of a late frame, guided by stripes and dots
        "heldout-stripes": (fit(crop(f120, 0, 560, 580, 720), width, height), stripes()),
        # the burrow and rocks of the first frame, guided by flower-like blobs
        "heldout-blobs": (fit(crop(f0, 60, 0, 600, 740), width, height), blobs()),
    }


# --- candidate objectives (keras.ops, so they run in the compiled loop) --------------------------------
# Each takes the activations [batch, h, w, c] and the guide's data for the layer as one flat vector: its
# feature vectors [n * c] ("vectors") or its unit channel profile [c] ("profile"), as the guide is given
# to the compiled loop (a 1-D tensor per layer).

def _flat(act):
    from keras import ops

    return ops.reshape(act, (ops.shape(act)[0], -1, act.shape[-1]))


def _unit(x, axis=-1):
    from keras import ops

    return x / (ops.sqrt(ops.sum(ops.square(x), axis=axis, keepdims=True)) + 1e-6)


def _vectors(act, guide):
    from keras import ops

    return ops.reshape(guide, (-1, act.shape[-1]))


def notebook(act, guide):
    """The engine's before: mean over positions of max_j <x_i, g_j> (raw dot products)."""
    from keras import ops

    return ops.mean(ops.max(ops.einsum("bpc,nc->bpn", _flat(act), _vectors(act, guide)), axis=2), axis=1)


def cos_match(act, guide):
    """Matched by cosine, the matched unit guide vector's dot product maximised: mean_i <x_i, g^_j*>."""
    from keras import ops

    dots = ops.einsum("bpc,nc->bpn", _flat(act), _unit(_vectors(act, guide)))  # |x_i| cos: argmax = cosine's
    return ops.mean(ops.max(dots, axis=2), axis=1)


def cos_cos(act, guide):
    """Mean over positions of max_j cos(x_i, g_j)."""
    from keras import ops

    return ops.mean(ops.max(ops.einsum("bpc,nc->bpn", _unit(_flat(act)), _unit(_vectors(act, guide))), axis=2),
                    axis=1)


def profile_dot(act, guide):
    """Linear: the profile projected on the guide's unit profile, <mean_i x_i, p^_g> (a channel-weighted plain)."""
    from keras import ops

    return ops.sum(ops.mean(_flat(act), axis=1) * guide[None], axis=1)


def gram(act, guide):
    """The cosine of the Gram matrices (Gatys et al.'s style): cos(X^T X / n, G^T G / m)."""
    from keras import ops

    x, g = _flat(act), _vectors(act, guide)
    ours = ops.einsum("bpc,bpd->bcd", x, x) / ops.cast(ops.shape(x)[1], "float32")
    theirs = ops.einsum("pc,pd->cd", g, g) / ops.cast(ops.shape(g)[0], "float32")
    return ops.sum(_unit(ops.reshape(ours, (ops.shape(x)[0], -1))) * _unit(ops.reshape(theirs, (1, -1))), axis=1)


def with_plain(weight):
    """The engine's guided objective + weight x the plain one (mean activation over its current value, so
    both are about 1 and their gradients of a like scale before the step's normalisation)."""
    def fn(act, guide):
        from keras import ops

        plain = ops.mean(_flat(act), axis=(1, 2))
        return ENGINE_GUIDED(act, guide) + weight * plain / ops.stop_gradient(plain + 1e-6)
    return fn


B3, B4, B5 = "block3_conv3", "block4_conv3", "block5_conv3"
# name -> (objective or None for the plain dream, guide data, guide size, dreamed layer). Guide size
# "fixed": shrunk to at most 256 px (the engine before); "octave": scaled to each octave's area (the fix).
CANDIDATES = {
    "plain": (None, None, None, B4),
    "notebook": (notebook, "vectors", "fixed", B4),
    "notebook-octave": (notebook, "vectors", "octave", B4),
    "cos_match": (cos_match, "vectors", "fixed", B4),
    "cos_match-octave": (cos_match, "vectors", "octave", B4),
    "cos_cos": (cos_cos, "vectors", "fixed", B4),
    "cos_cos-octave": (cos_cos, "vectors", "octave", B4),
    "profile_dot-octave": (profile_dot, "profile", "octave", B4),
    "profile-fixed": (ENGINE_GUIDED, "profile", "fixed", B4),
    "profile": (ENGINE_GUIDED, "profile", "octave", B4),  # the engine's now
    "gram-octave": (gram, "vectors", "octave", B4),
    "profile+0.3plain": (with_plain(0.3), "profile", "octave", B4),
    "profile+1plain": (with_plain(1.0), "profile", "octave", B4),
    "plain-b3": (None, None, None, B3),
    "notebook-b3": (notebook, "vectors", "fixed", B3),
    "profile-b3": (ENGINE_GUIDED, "profile", "octave", B3),
    "plain-b5": (None, None, None, B5),
    "notebook-b5": (notebook, "vectors", "fixed", B5),
    "profile-b5": (ENGINE_GUIDED, "profile", "octave", B5),
}


# --- running -------------------------------------------------------------------------------------------

_FEATURES: dict = {}


def features(layers: tuple[str, ...]):
    from dreamvid.engine.models import load_feature_model
    from dreamvid.settings import LayerSpec

    if layers not in _FEATURES:
        _FEATURES[layers] = load_feature_model("vgg16-hed", None, tuple(LayerSpec(name) for name in layers))
    return _FEATURES[layers]


def guide_at(guide: np.ndarray, shape: tuple[int, int], size: str, min_side: int = 32) -> np.ndarray:
    """The guide as a candidate sees it for a picture of `shape`: at most 256 px ("fixed"), or scaled, its
    aspect kept, to the picture's area ("octave", as Dreamer.guide_profiles does)."""
    from dreamvid.imageops import resize

    height, width = guide.shape[:2]
    if size == "fixed":
        scale = min(1.0, 256 / max(height, width))
    else:
        scale = (shape[0] * shape[1] / (height * width)) ** 0.5
    return resize(guide, max(min_side, round(height * scale)), max(min_side, round(width * scale)))


def make_dreamer(objective_fn, data: str | None, size: str | None, layer: str, guide: np.ndarray | None):
    """The engine's Dreamer, with the candidate's objective and the guide's data at the candidate's size."""
    import dreamvid.engine.objective as objective_module
    from dreamvid.engine import dreamer as dreamer_module
    from dreamvid.settings import LayerSpec

    class Trial(dreamer_module.Dreamer):
        def guide_profiles(self, shape, tile=None):
            if self.guide is None:
                return None
            if data == "profile" and size == "octave":
                return super().guide_profiles(shape, tile)
            key = (size, data) if size == "fixed" else (tuple(shape), data)
            if key not in self._guide_profiles:
                picture = guide_at(self.guide, tuple(shape), size, self.features.min_side)
                maps = self.features.model(self.features.preprocess(
                    dreamer_module._tensor(picture[None] * 2.0 - 1.0)), training=False)
                act = np.asarray(maps[layer], np.float32).reshape(-1, maps[layer].shape[-1])
                if data == "profile":
                    mean = act.mean(axis=0)
                    self._guide_profiles[key] = (dreamer_module._tensor(mean / np.linalg.norm(mean)),)
                else:
                    self._guide_profiles[key] = (dreamer_module._tensor(act.reshape(-1)),)
            return self._guide_profiles[key]

    if objective_fn is not None:
        objective_module.guided = objective_fn
    return Trial(features((layer,)), [LayerSpec(layer)], guide=guide)


def measure(dream: np.ndarray, guide: np.ndarray) -> dict:
    """profile@L and match@L of a dream [h, w, 3] against the guide seen at the dream's area (aspect kept)."""
    probe = features(PROBE_LAYERS)
    height, width = dream.shape[:2]
    ours = probe.model(probe.preprocess(dream[None] * 2.0 - 1.0), training=False)
    theirs = probe.model(probe.preprocess(guide_at(guide, (height, width), "octave")[None] * 2.0 - 1.0),
                         training=False)
    out = {}
    for layer in PROBE_LAYERS:
        a, b = (np.asarray(maps[layer], np.float64).reshape(-1, maps[layer].shape[-1]) for maps in (ours, theirs))
        pa, pb = a.mean(0), b.mean(0)
        out[f"profile@{layer}"] = float(pa @ pb / (np.linalg.norm(pa) * np.linalg.norm(pb) + 1e-12))
        ua, ub = (v / (np.linalg.norm(v, axis=-1, keepdims=True) + 1e-9) for v in (a, b))
        out[f"match@{layer}"] = float((ua @ ub.T).max(axis=1).mean())
    return out


def run(args) -> list[dict]:
    import dreamvid.engine.objective as objective_module
    from dreamvid.settings import DreamParams

    original = objective_module.guided
    params = DreamParams(octaves=args.octaves, steps=args.steps, step_size=args.step_size, jitter=args.jitter,
                         tile=1024, seed=0)
    rows = []
    for pair_name, (content, guide) in pairs(args.width, args.height).items():
        if pair_name not in args.pairs:
            continue
        source = measure(content, guide)
        rows.append({"pair": pair_name, "candidate": "source", **{k: round(v, 4) for k, v in source.items()}})
        print(pair_name, "source", _short(rows[-1]), flush=True)
        for name in args.candidates:
            objective_fn, data, guide_size, layer = CANDIDATES[name]
            try:
                dreamer = make_dreamer(objective_fn, data, guide_size, layer, None if objective_fn is None else guide)
                started = time.perf_counter()
                dream = dreamer.dream(content[None], params)[0]
                seconds = time.perf_counter() - started
            finally:
                objective_module.guided = original
            figures = measure(dream, guide)
            rows.append({"pair": pair_name, "candidate": name, "guide": data, "guide_size": guide_size, "layer": layer,
                         **{k: round(v, 4) for k, v in figures.items()},
                         "change": round(float(np.abs(dream - content).mean() * 255), 2),
                         "seconds": round(seconds, 1)})
            print(pair_name, name, _short(rows[-1]), flush=True)
            if args.save:
                args.save.mkdir(parents=True, exist_ok=True)
                cv2.imwrite(str(args.save / f"{pair_name}-{name}.png"), (dream[..., ::-1] * 255).round().astype(np.uint8))
        if args.save:
            cv2.imwrite(str(args.save / f"{pair_name}-content.png"), (content[..., ::-1] * 255).astype(np.uint8))
            cv2.imwrite(str(args.save / f"{pair_name}-guide.png"), (guide[..., ::-1] * 255).astype(np.uint8))
    return rows


def _short(row: dict) -> str:
    keys = [k for k in row if k.startswith(("profile@", "match@"))] + [k for k in ("change", "seconds") if k in row]
    return "  ".join(f"{k.replace('block', 'b').replace('_conv3', '')}={row[k]}" for k in keys)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", default="176x144", help="WIDTHxHEIGHT of the content (default 176x144, as carphone)")
    parser.add_argument("--octaves", type=int, default=3)
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--step-size", type=float, default=0.01)
    parser.add_argument("--jitter", type=int, default=32)
    parser.add_argument("--pairs", nargs="+", default=["tuned", "heldout-stripes", "heldout-blobs"])
    parser.add_argument("--candidates", nargs="+", default=list(CANDIDATES), choices=list(CANDIDATES))
    parser.add_argument("--label", default="all")
    parser.add_argument("--save", type=Path, help="write each dream as a PNG into this folder")
    parser.add_argument("--pictures", type=Path, help="only write frame 60 of the clip (frame60.png) and the "
                                                      "synthetic guides (flowers.png, stripes.png) into this folder")
    args = parser.parse_args()
    if args.pictures:
        args.pictures.mkdir(parents=True, exist_ok=True)
        for name, picture in (("frame60", frame(60)), ("flowers", blobs()), ("stripes", stripes())):
            cv2.imwrite(str(args.pictures / f"{name}.png"), np.rint(picture[..., ::-1] * 255).astype(np.uint8))
        print("wrote", ", ".join(str(args.pictures / f"{name}.png") for name in ("frame60", "flowers", "stripes")))
        return
    args.width, args.height = (int(part) for part in args.size.lower().split("x"))
    rows = run(args)
    RESULTS.mkdir(exist_ok=True)
    output = RESULTS / f"guide-{args.label}.json"
    output.write_text(json.dumps({"machine": machine.info(), "settings": {
        "size": args.size, "octaves": args.octaves, "steps": args.steps, "step_size": args.step_size,
        "jitter": args.jitter, "model": "vgg16-hed"}, "rows": rows}, indent=1) + "\n")
    print("wrote", output)


if __name__ == "__main__":
    main()
