"""Decode work of reads that seek to a keyframe near their start, against decoding from the first frame
(the same reader with the probe's keyframes removed, which is how every read decoded before).

    python benchmarks/seek.py                          # the bundled clip and a 30 s 1280x720 synthetic clip
    python benchmarks/seek.py --seconds 10 --size 640x360 --label small
    python benchmarks/seek.py --suffix .mkv --label mkv          # the synthetic clip in Matroska

For each clip: seconds to read its last 10 frames (median of --repeats), and the frames the decoder
produced to read the whole clip in --segments segments. Writes benchmarks/results/seek[-LABEL].json.
A measurement, never a test.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import imageio_ffmpeg
import numpy as np

import machine  # benchmarks/machine.py, next to this file
from dreamvid.io.sources import VideoSource
from dreamvid.io.decode import DecodeCount, probe_video, read_frames
from dreamvid.io.probe import VideoInfo

RESULTS = Path(__file__).resolve().parent / "results"
BUNDLED = Path(__file__).resolve().parents[1] / "samples" / "bigbuckbunny.mp4"


def synthetic_clip(path: Path, seconds: int, size: str) -> Path:
    """ffmpeg's moving test pattern as H.264 with x264's defaults (a keyframe every 250 frames at most)."""
    subprocess.run([imageio_ffmpeg.get_ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-y", "-f", "lavfi",
                    "-i", f"testsrc2=size={size}:rate=25:duration={seconds}", "-c:v", "libx264",
                    "-pix_fmt", "yuv420p", "-crf", "23", str(path)], check=True)
    return path


def read_tail(info: VideoInfo, repeats: int) -> tuple[float, int]:
    """Median seconds to read the last 10 frames, and the frames decoded for one such read."""
    start = max(0, info.frame_count - 10)
    timings, count = [], DecodeCount()
    for repeat in range(repeats):
        began = time.perf_counter()
        frames = sum(1 for _ in read_frames(info.path, start, info.frame_count, info=info,
                                            count=count if repeat == 0 else None))
        timings.append(time.perf_counter() - began)
        assert frames == info.frame_count - start
    return statistics.median(timings), count.frames


def read_segments(info: VideoInfo, segments: int) -> int:
    """Frames decoded to read the whole clip in equal segments, one read each."""
    source = VideoSource(info)
    bounds = np.linspace(0, info.frame_count, segments + 1).astype(int)
    for start, end in zip(bounds, bounds[1:]):
        for _ in source.read(int(start), int(end)):
            pass
    return source.decoded.frames


def measure(name: str, info: VideoInfo, segments: int, repeats: int) -> dict:
    row = {"clip": name, "size": f"{info.width}x{info.height}", "frames": info.frame_count,
           "keyframes": len(info.keyframes), "segments": segments}
    for mode, probed in (("seek", info), ("from_first", replace(info, keyframes=()))):
        seconds, decoded = read_tail(probed, repeats)
        row[f"{mode}_last10_s"] = round(seconds, 3)
        row[f"{mode}_last10_decoded"] = decoded
        row[f"{mode}_segments_decoded"] = read_segments(probed, segments)
    return row


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=int, default=30)
    parser.add_argument("--size", default="1280x720")
    parser.add_argument("--segments", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--suffix", default=".mp4", help="container of the synthetic clip")
    parser.add_argument("--label", default="")
    args = parser.parse_args()
    rows = [measure(BUNDLED.name, probe_video(BUNDLED), args.segments, args.repeats)]
    with tempfile.TemporaryDirectory() as folder:
        clip = synthetic_clip(Path(folder) / f"synthetic{args.suffix}", args.seconds, args.size)
        began = time.perf_counter()
        info = probe_video(clip)
        probe_s = time.perf_counter() - began
        rows.append(measure(f"testsrc2 {args.seconds} s {args.suffix}", info, args.segments, args.repeats) | {
            "probe_s": round(probe_s, 3)})
    header = list(rows[0]) + ["probe_s"]
    print(" | ".join(header))
    for row in rows:
        print(" | ".join(str(row.get(key, "")) for key in header))
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / f"seek{'-' + args.label if args.label else ''}.json"
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    out.write_text(json.dumps({"machine": {"cpu": machine.cpu_model(), "cores": os.cpu_count(), "usable_cores": usable,
                                           "python": platform.python_version(), "platform": platform.platform()},
                               "rows": rows}, indent=2) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
