"""Colours and mattes on the bundled clip, with vgg16-hed: the README's pictures (docs/colours.jpg,
docs/matte.jpg) and what they measure.

- chroma (CIELAB a and b, in 8-bit Lab levels) of a frame and of its dream, with the dream's colours and
  with --colors source: how far each output's a/b lie from the source's, and how much its lightness changed;
- the same over a carried render of 24 frames;
- a matte (a soft ellipse over the bunny, --mask-invert: the background dreams, the bunny stays): how much
  the pixels where the matte is black differ from the source's, on the still and through the carried render
  (the bunny moves across the matte's edge), next to what the same pixels change without a matte.

    python benchmarks/looks.py                 # frame 60 at 640x360, 20 steps x 5 octaves; 24 frames at 320 px
    python benchmarks/looks.py --quick         # 160 px, 3 steps, 8 frames: a minute
    python benchmarks/looks.py --pictures      # also write docs/colours.jpg and docs/matte.jpg

Every picture and render is made by the command printed beside it (run through the API, as the CLI does).
Output: results/looks.json (results/looks-quick.json with --quick)."""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from machine import info  # noqa: E402

import dreamvid  # noqa: E402
from dreamvid.colours import to_lab  # noqa: E402
from dreamvid.imageops import from_float, output_size, resize, to_float  # noqa: E402
from dreamvid.io.decode import read_frames  # noqa: E402
from dreamvid.io.mattes import open_matte  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
CLIP = ROOT / "samples" / "bigbuckbunny.mp4"
STILL_FRAME = 60
CLIP_FRAMES = (36, 60)  # the bunny stands up across the matte's edge


def rgb(path: Path) -> np.ndarray:
    return cv2.imread(str(path))[..., ::-1]


def colour_gaps(output: np.ndarray, source: np.ndarray) -> dict:
    """How far an 8-bit output's colours and lightness lie from the source's (CIELAB)."""
    out, own = to_lab(output / 255.0), to_lab(source / 255.0)
    chroma = np.abs(out[..., 1:] - own[..., 1:])
    return {"chroma_mean": float(np.hypot(out[..., 1], out[..., 2]).mean()),
            "ab_gap_mean": float(chroma.mean()), "ab_gap_p99": float(np.percentile(chroma, 99)),
            "ab_gap_max": float(chroma.max()), "lightness_change_mean": float(np.abs(out[..., 0] - own[..., 0]).mean())}


def ellipse_matte(width: int, height: int) -> np.ndarray:
    """White over the bunny of frame 60 (a soft ellipse), black elsewhere."""
    plane = np.zeros((height, width), np.float32)
    centre, axes = (round(0.3 * width), round(0.47 * height)), (round(0.2 * width), round(0.46 * height))
    cv2.ellipse(plane, centre, axes, 0, 0, 360, 1.0, -1)
    plane = cv2.GaussianBlur(plane, (0, 0), 0.015 * width)
    return (plane * 255).round().astype(np.uint8)


def command(args: list[str]) -> str:
    return "dreamvid " + " ".join(args)


def run(arguments: list[str], inputs, output, **options) -> tuple[str, float]:
    """Render as the CLI would; returns the command line and the seconds it took."""
    tick = time.monotonic()
    dreamvid.render(inputs, output, overwrite=True, **options)
    return command(arguments), time.monotonic() - tick


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--pictures", action="store_true", help="write docs/colours.jpg and docs/matte.jpg")
    args = parser.parse_args()
    side, steps, octaves, clip_side = (160, 3, 2, 160) if args.quick else (640, 20, 5, 320)
    first, last = (CLIP_FRAMES[0], CLIP_FRAMES[0] + 8) if args.quick else CLIP_FRAMES
    dream = dict(model="vgg16-hed", steps=steps, octaves=octaves)
    flags = ["--model", "vgg16-hed", "--steps", str(steps), "--octaves", str(octaves)]
    results: dict = {"machine": info(), "still": {}, "clip": {}, "commands": {}}
    with tempfile.TemporaryDirectory() as folder:
        work = Path(folder)
        frame = next(read_frames(CLIP, STILL_FRAME, STILL_FRAME + 1))
        height, width = output_size(frame.shape[1], frame.shape[0], side)
        still = cv2.resize(frame, (width, height), interpolation=cv2.INTER_AREA)
        cv2.imwrite(str(work / "bunny.png"), still[..., ::-1])
        cv2.imwrite(str(work / "matte.png"), ellipse_matte(width, height))

        # colours of a still
        for name, extra, more in (("dream", [], {}), ("source", ["--colors", "source"], {"colors": "source"})):
            line, seconds = run(["bunny.png", "-o", f"{name}.png", *flags, *extra], work / "bunny.png",
                                work / f"{name}.png", **dream, **more)
            results["commands"][f"still_{name}_colours"] = line
            results["still"][f"{name}_colours"] = {**colour_gaps(rgb(work / f"{name}.png"), still),
                                                   "seconds": round(seconds, 1)}
        results["still"]["source"] = {"chroma_mean": colour_gaps(still, still)["chroma_mean"]}

        # a matte on a still
        line, seconds = run(["bunny.png", "-o", "matted.png", *flags, "--mask", "matte.png", "--mask-invert"],
                            work / "bunny.png", work / "matted.png", mask=work / "matte.png", mask_invert=True, **dream)
        results["commands"]["still_matte"] = line
        matte = cv2.imread(str(work / "matte.png"), cv2.IMREAD_GRAYSCALE)
        used = open_matte(work / "matte.png", invert=True)  # the planes dreamvid reads from it
        plane = used.frame(0, still.shape[:2])
        dreamed, plain = rgb(work / "matted.png").astype(int), rgb(work / "dream.png").astype(int)
        results["still"]["matte"] = {
            "leak_max": int(np.abs(dreamed - still)[plane == 0].max()),
            "unmasked_change_there_mean": float(np.abs(plain - still)[plane == 0].mean()),
            "dreamed_change_mean": float(np.abs(dreamed - still)[plane == 1].mean()), "seconds": round(seconds, 1)}

        # the clip: plain, source colours, and the matte, carried along the flow
        span = f"{first}:{last}"
        source = [from_float(resize(to_float(f), *output_size(1280, 720, clip_side)), np.uint8)
                  for f in read_frames(CLIP, first, last)]
        black = used.frame(0, source[0].shape[:2]) == 0
        near = black & (cv2.dilate((~black).astype(np.uint8), np.ones((17, 17), np.uint8)) > 0)  # within 8 px
        clip_flags = ["--frames", span, "--max-side", str(clip_side), "--no-audio", *flags]
        for name, extra, more in (("dream", [], {}), ("source", ["--colors", "source"], {"colors": "source"}),
                                  ("matte", ["--mask", "matte.png", "--mask-invert"],
                                   {"mask": work / "matte.png", "mask_invert": True})):
            out = work / f"clip-{name}"
            line, seconds = run([str(CLIP.relative_to(ROOT)), "-o", f"clip-{name}/", *clip_flags, *extra], CLIP,
                                f"{out}/", frames=span, max_side=clip_side, audio=False, **dream, **more)
            results["commands"][f"clip_{name}"] = line
            frames = [rgb(path) for path in sorted(out.glob("*.png"))]
            if name == "matte":
                plain = [rgb(path).astype(int) for path in sorted((work / "clip-dream").glob("*.png"))]
                results["clip"]["matte"] = {
                    "leak_max": int(max(np.abs(f.astype(int) - s)[black].max() for f, s in zip(frames, source))),
                    "leak_max_within_8px_of_the_edge": int(max(np.abs(f.astype(int) - s)[near].max()
                                                               for f, s in zip(frames, source))),
                    "unmasked_change_there_mean": float(np.mean([np.abs(p - s)[black].mean()
                                                                 for p, s in zip(plain, source)])),
                    "seconds": round(seconds, 1)}
            else:
                gaps = [colour_gaps(f, s) for f, s in zip(frames, source)]
                results["clip"][f"{name}_colours"] = {
                    **{key: float(np.mean([g[key] for g in gaps])) for key in gaps[0] if not key.endswith("max")},
                    "ab_gap_max": float(max(g["ab_gap_max"] for g in gaps)), "seconds": round(seconds, 1)}
        results["clip"]["source"] = {"chroma_mean": float(np.mean([colour_gaps(s, s)["chroma_mean"] for s in source]))}

        if args.pictures:  # three panels of 480x270 each, under 150 kB
            shown = (plane * 255).round().astype(np.uint8)  # the matte as used: white dreams
            for name, panels in (("colours", [still, rgb(work / "dream.png"), rgb(work / "source.png")]),
                                 ("matte", [still, np.repeat(shown[..., None], 3, axis=2), rgb(work / "matted.png")])):
                strip = np.hstack([cv2.resize(panel, (480, 270), interpolation=cv2.INTER_AREA) for panel in panels])
                cv2.imwrite(str(ROOT / "docs" / f"{name}.jpg"), strip[..., ::-1], [cv2.IMWRITE_JPEG_QUALITY, 85])
    name = "looks-quick.json" if args.quick else "looks.json"
    (Path(__file__).resolve().parent / "results" / name).write_text(json.dumps(results, indent=2) + "\n")
    print(json.dumps({key: value for key, value in results.items() if key != "machine"}, indent=2))


if __name__ == "__main__":
    main()
