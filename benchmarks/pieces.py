"""What a worker without the source is sent (io/pieces.py): for segments of the bundled clip and of a
synthetic 720p clip (x264, 3 B-frames, a keyframe every 2 s), the piece's bytes against the raw frames it
stands for, the seconds to cut it, to decode the segment from it and from the source, and whether the
frames are the same, bit for bit.

    python benchmarks/pieces.py                      # the bundled clip, and 40 s of 1280x720 at 25 fps
    python benchmarks/pieces.py --seconds 10 --label quick

Raw frames are uint8 RGB at the source's size (what shipping decoded frames would send; the float32
frames a chain works in are four times that). Writes benchmarks/results/pieces[-LABEL].json. A
measurement, never a test.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import subprocess
import tempfile
import time
from pathlib import Path

import imageio_ffmpeg
import numpy as np

import machine  # benchmarks/machine.py, next to this file
from dreamvid.io.pieces import PieceCutter, open_pieces
from dreamvid.io.sources import VideoSource

RESULTS = Path(__file__).resolve().parent / "results"
BUNDLED = Path(__file__).resolve().parents[1] / "samples" / "bigbuckbunny.mp4"


def synthetic_clip(path: Path, seconds: int) -> Path:
    """A noisy moving test pattern (so packets are not trivially small), x264 with B-frames and 2 s GOPs."""
    subprocess.run([imageio_ffmpeg.get_ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-y", "-f", "lavfi",
                    "-i", f"testsrc2=size=1280x720:rate=25:duration={seconds},noise=alls=6:allf=t",
                    "-c:v", "libx264", "-preset", "veryfast", "-crf", "23", "-bf", "3", "-g", "50",
                    "-pix_fmt", "yuv420p", str(path)], check=True)
    return path


def segments(count: int) -> list[tuple[int, int]]:
    """Segments as a render has them (about 500 frames), one starting mid-GOP (a resume), one frame."""
    cuts = [(start, min(start + 500, count)) for start in range(0, count, 500)]
    return sorted(set(cuts + [(min(237, count - 1), min(737, count)), (count - 1, count)]))


def digests(frames) -> list[str]:
    """Each frame's sha256, so that a 500-frame segment is never held in memory."""
    return [hashlib.sha256(np.ascontiguousarray(frame).tobytes()).hexdigest() for frame in frames]


def measure(path: Path) -> dict:
    source = VideoSource.open(path)
    cutter = PieceCutter(source.info)
    frame_bytes = source.width * source.height * 3
    rows = []
    for first, end in segments(source.frame_count):
        began = time.perf_counter()
        piece, data = cutter.cut(first, end)
        cut = time.perf_counter() - began
        data = data if data is not None else path.read_bytes()
        began = time.perf_counter()
        with open_pieces(source, (piece,), (data,)) as piece_for:
            from_piece = digests(piece_for(first, end).read(first, end))
        piece_seconds = time.perf_counter() - began
        began = time.perf_counter()
        from_source = digests(source.read(first, end))
        source_seconds = time.perf_counter() - began
        same = len(from_piece) == end - first and from_piece == from_source
        rows.append({"frames": [first, end], "whole_file": piece.whole, "piece_bytes": len(data),
                     "raw_bytes": (end - first) * frame_bytes, "share": len(data) / ((end - first) * frame_bytes),
                     "cut_s": round(cut, 3), "decode_piece_s": round(piece_seconds, 2),
                     "decode_source_s": round(source_seconds, 2), "identical": same})
    return {"clip": str(path.name), "size": [source.width, source.height], "frames": source.frame_count,
            "keyframes": len(source.info.keyframes), "file_bytes": path.stat().st_size, "segments": rows}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=40, help="length of the synthetic clip")
    parser.add_argument("--label", default="")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        clips = [BUNDLED, synthetic_clip(Path(folder) / "synthetic720.mp4", args.seconds)]
        results = [measure(clip) for clip in clips]
    out = RESULTS / f"pieces{'-' + args.label if args.label else ''}.json"
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    out.write_text(json.dumps({"machine": {"cpu": machine.cpu_model(), "cores": os.cpu_count(),
                                           "usable_cores": usable}, "clips": results}, indent=1))
    for clip in results:
        print(f"{clip['clip']}: {clip['size'][0]}x{clip['size'][1]}, {clip['frames']} frames, "
              f"{clip['keyframes']} keyframes, {clip['file_bytes'] / 1e6:.1f} MB")
        for row in clip["segments"]:
            first, end = row["frames"]
            print(f"  [{first:4d},{end:4d}) piece {row['piece_bytes'] / 1e6:6.2f} MB, raw {row['raw_bytes'] / 1e6:7.1f} MB "
                  f"({100 * row['share']:5.2f}%), cut {1000 * row['cut_s']:4.0f} ms, decode from piece "
                  f"{row['decode_piece_s']:5.2f} s / source {row['decode_source_s']:5.2f} s, "
                  f"{'identical' if row['identical'] else 'DIFFERENT'}")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
