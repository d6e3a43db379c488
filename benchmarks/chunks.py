"""Checkpoint disk of a video render: chunks (now) against a lossless PNG per frame (before).

Renders a clip with chunked checkpoints and samples the work folder's size at every saved frame and
every 20 ms; the PNG figure is the size of every piece the render saved, which the PNG scheme kept
until the end (its peak). With --baseline, a checkout of the PNG scheme renders the same clip too and
its work folder is measured directly. Then the render's final frames are encoded again in chunks of
several lengths, to show what a keyframe per chunk costs.

    python benchmarks/chunks.py                                     # bundled clip, --max-side 320, 2 steps
    python benchmarks/chunks.py --max-side 1280 --steps 0 --label 720p
    python benchmarks/chunks.py --baseline /tmp/base                 # /tmp/base/dreamvid: the PNG scheme

Writes benchmarks/results/chunks-LABEL.json. A measurement, never a test: nothing here gates CI.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import cv2  # noqa: E402
import numpy as np  # noqa: E402

import machine  # noqa: E402  (benchmarks/machine.py, next to this file)

RESULTS = Path(__file__).resolve().parent / "results"
SAMPLE = Path(__file__).resolve().parents[1] / "samples/bigbuckbunny.mp4"


def folder_bytes(folder: Path) -> tuple[int, int]:
    """(bytes of pieces and chunks, pieces) in a work folder; files deleted meanwhile are skipped."""
    total = pieces = 0
    for path in list(folder.iterdir()) if folder.is_dir() else []:
        try:
            size = path.stat().st_size
        except FileNotFoundError:
            continue
        total += size
        pieces += path.suffix == ".png"
    return total, pieces


def render_chunked(source: Path, output: Path, options: dict) -> dict:
    import dreamvid
    from dreamvid.temporal.checkpoints import CheckpointStore

    work = output.with_name(output.name + ".parts")
    peak = {"bytes": 0, "pieces": 0}
    png = {"bytes": 0, "count": 0}
    kept: dict[int, np.ndarray] = {}
    real_save = CheckpointStore.save

    def sample() -> None:
        size, pieces = folder_bytes(work)
        peak["bytes"], peak["pieces"] = max(peak["bytes"], size), max(peak["pieces"], pieces)

    def save(self, segment, index, pixels):
        real_save(self, segment, index, pixels)
        png["bytes"] += len(cv2.imencode(".png", np.ascontiguousarray(pixels[..., ::-1]))[1])
        png["count"] += 1
        if index >= segment.start:
            kept[index] = pixels
        sample()

    stop = threading.Event()

    def poll() -> None:
        while not stop.wait(0.02):
            sample()

    CheckpointStore.save = save
    poller = threading.Thread(target=poll, daemon=True)
    poller.start()
    try:
        dreamvid.render(source, output, keep_parts=True, overwrite=True, fresh=True, **options)
    finally:
        stop.set()
        poller.join()
        CheckpointStore.save = real_save
    chunks = sum(path.stat().st_size for path in work.glob("chunk_*"))
    return {"peak_bytes": peak["bytes"], "peak_pieces": peak["pieces"], "png_bytes": png["bytes"],
            "pieces_saved": png["count"], "chunk_bytes": chunks, "output_bytes": output.stat().st_size,
            "kept": kept}


def render_baseline(checkout: Path, source: Path, output: Path, args: list[str]) -> int:
    """Bytes of the work folder that the PNG scheme leaves with --keep-parts (it only grows: its peak)."""
    program = f"import sys; sys.path.insert(0, {str(checkout)!r}); from dreamvid.cli import main; main(sys.argv[1:])"
    subprocess.run([sys.executable, "-c", program, str(source), "-o", str(output), "--keep-parts", "--fresh",
                    "--overwrite", "-q", *args], check=True)
    return folder_bytes(output.with_name(output.name + ".parts"))[0]


def chunk_lengths(frames: dict[int, np.ndarray], fps, folder: Path, lengths: list[float]) -> dict[str, int]:
    """Bytes of the same frames joined from chunks of each length in seconds (0: one chunk)."""
    from dreamvid.io.sinks import VideoSink
    from dreamvid.journal.names import chunk_name

    order = sorted(frames)
    height, width = frames[order[0]].shape[:2]
    sizes = {}
    for seconds in lengths:
        step = len(order) if not seconds else max(3, round(seconds * float(fps)))
        out = folder / f"len{seconds}.mp4"
        sink = VideoSink(out, (height, width), fps, 18, 0, len(order), lambda _: None, None)
        paths = []
        for a in range(0, len(order), step):
            b = min(a + step, len(order))
            paths.append(folder / chunk_name(a, b))
            sink.encode_chunk(paths[-1], (frames[order[k]].astype(np.float32) / 255 for k in range(a, b)))
        sink.join(paths, {})
        sizes[f"{seconds:g} s" if seconds else "one chunk"] = out.stat().st_size
        for path in paths:
            path.unlink()
    return sizes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--source", type=Path, default=SAMPLE)
    parser.add_argument("--max-side", type=int, default=320)
    parser.add_argument("--steps", type=int, default=2)
    parser.add_argument("--frames", default=None, help="a range such as 0:50 (default: the whole clip)")
    parser.add_argument("--baseline", type=Path, default=None, help="a checkout of the PNG scheme to run too")
    parser.add_argument("--lengths", default="1,2,4,0", help="chunk lengths in seconds to compare (0: one chunk)")
    parser.add_argument("--label", default=None)
    args = parser.parse_args()

    from dreamvid.io.decode import probe_video

    options = dict(model="vgg16-hed", max_side=args.max_side, steps=args.steps, flow_steps=min(args.steps, 1),
                   octaves=1)
    if args.frames:
        options["frames"] = args.frames
    cli = ["--model", "vgg16-hed", "--max-side", str(args.max_side), "--steps", str(args.steps),
           "--flow-steps", str(min(args.steps, 1)), "--octaves", "1"] + (["--frames", args.frames] if args.frames else [])
    with tempfile.TemporaryDirectory() as folder:
        folder = Path(folder)
        result = render_chunked(args.source, folder / "chunked.mp4", options)
        kept = result.pop("kept")
        info = probe_video(folder / "chunked.mp4")
        minutes = info.duration / 60
        result.update(frames=info.frame_count, size=[info.width, info.height], seconds=round(info.duration, 3),
                      peak_bytes_per_minute=round(result["peak_bytes"] / minutes),
                      png_bytes_per_minute=round(result["png_bytes"] / minutes),
                      output_bytes_per_minute=round(result["output_bytes"] / minutes))
        if args.baseline:
            result["baseline_work_bytes"] = render_baseline(args.baseline, args.source, folder / "pngs.mp4", cli)
        result["chunk_lengths"] = chunk_lengths(kept, info.fps, folder, [float(x) for x in args.lengths.split(",")])
    label = args.label or f"{args.max_side}-steps{args.steps}"
    RESULTS.mkdir(exist_ok=True)
    record = {"options": options, "source": str(args.source), "result": result, "machine": machine.info()}
    (RESULTS / f"chunks-{label}.json").write_text(json.dumps(record, indent=2) + "\n")
    mb = 1e6
    print(f"{result['frames']} frames {result['size'][0]}x{result['size'][1]}, {result['seconds']} s")
    print(f"{'':32}{'MB':>10}{'MB/min':>10}")
    rows = [("work folder peak, chunks", result["peak_bytes"]), ("every piece as PNG (before)", result["png_bytes"]),
            ("output video", result["output_bytes"])]
    if "baseline_work_bytes" in result:
        rows.append(("PNG scheme's work folder", result["baseline_work_bytes"]))
    for name, value in rows:
        print(f"{name:32}{value / mb:10.2f}{value / mb / minutes:10.1f}")
    print(f"peak pieces on disk: {result['peak_pieces']} of {result['pieces_saved']} saved")
    for name, value in result["chunk_lengths"].items():
        print(f"joined from chunks of {name}: {value / mb:.3f} MB")


if __name__ == "__main__":
    main()
