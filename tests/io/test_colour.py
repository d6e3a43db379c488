"""Colour: 10-bit and HDR decoded with their matrix and tagged again; HD written as BT.709 and read as
such, tagged or not."""
from __future__ import annotations

import subprocess
from fractions import Fraction
from pathlib import Path

import numpy as np

from clips import FFMPEG, mean_abs_diff, translating_frames, video_line
from dreamvid.io.colour import Colour
from dreamvid.io.decode import probe_video, read_frames
from dreamvid.io.encode import VideoWriter
from helpers import sink_copy


def graded(path: Path, frames: np.ndarray, pixels: str, tags: str) -> None:
    """Encode RGB frames with the BT.2020 matrix into `pixels`, tagged as `tags` (setparams options)."""
    count, height, width = frames.shape[:3]
    subprocess.run([FFMPEG, "-v", "error", "-y", "-f", "rawvideo", "-pix_fmt", "rgb24", "-s", f"{width}x{height}",
                    "-framerate", "10", "-i", "pipe:0", "-vf",
                    f"scale=out_color_matrix=bt2020:out_range=tv,format={pixels},setparams={tags}",
                    "-c:v", "libx264", "-crf", "4", str(path)],
                   input=np.ascontiguousarray(frames).tobytes(), check=True)


def test_ten_bit_hdr_is_decoded_with_its_matrix_and_tagged_again(tmp_path):
    source = translating_frames(3, (96, 64), 1, 1, seed=7)
    path = tmp_path / "hdr.mkv"
    graded(path, source, "yuv420p10le", "colorspace=bt2020nc:color_primaries=bt2020:color_trc=smpte2084")
    info = probe_video(path)
    assert info.colour == Colour("bt2020nc", "bt2020", "smpte2084", 10)
    frames = list(read_frames(path, info=info))
    assert max(mean_abs_diff(f, s) for f, s in zip(frames, source)) < 3  # BT.601 would be far off
    output = tmp_path / "out.mp4"
    warnings = sink_copy(path, output)
    assert "bt2020nc/bt2020/smpte2084" in video_line(output)
    assert any("10-bit" in w and "HDR" in w for w in warnings)
    assert max(mean_abs_diff(f, s) for f, s in zip(read_frames(output), source)) < 3


def test_hd_output_is_bt709_converted_and_tagged(tmp_path):
    """A flat patch through encode -> decode keeps its colour, and the tags say BT.709."""
    colour = np.array([40, 180, 60], np.uint8)
    frame = np.broadcast_to(colour, (720, 1280, 3))
    output = tmp_path / "hd.mp4"
    with VideoWriter(output, 1280, 720, Fraction(25)) as writer:
        for _ in range(2):
            writer.write(np.array(frame))
    assert "yuv420p(tv, bt709, progressive)" in video_line(output)
    decoded = next(read_frames(output))
    assert np.abs(decoded[300:400, 600:700].reshape(-1, 3).mean(0) - colour).max() < 2
    import cv2  # OpenCV's own decoder honours the BT.709 tag as well

    capture = cv2.VideoCapture(str(output))
    ok, bgr = capture.read()
    capture.release()
    assert ok and np.abs(bgr[300:400, 600:700, ::-1].reshape(-1, 3).mean(0) - colour).max() < 2
    # an untagged HD stream converted with BT.709 is read as BT.709 too, as players read untagged HD
    untagged = tmp_path / "untagged.mp4"
    subprocess.run([FFMPEG, "-v", "error", "-f", "rawvideo", "-pix_fmt", "rgb24", "-s", "1280x720", "-i", "pipe:0",
                    "-vf", "scale=out_color_matrix=bt709:out_range=tv,format=yuv420p", "-c:v", "libx264",
                    "-bsf:v", "h264_metadata=matrix_coefficients=2", str(untagged)],
                   input=np.ascontiguousarray(frame).tobytes(), check=True)
    assert "yuv420p(tv, progressive)" in video_line(untagged)
    decoded = next(read_frames(untagged))
    assert np.abs(decoded[300:400, 600:700].reshape(-1, 3).mean(0) - colour).max() < 2
    small = tmp_path / "sd.mp4"
    with VideoWriter(small, 96, 64, Fraction(25)) as writer:
        writer.write(np.array(np.broadcast_to(colour, (64, 96, 3))))
    assert "smpte170m" in video_line(small)
    assert np.abs(next(read_frames(small))[20:40, 30:60].reshape(-1, 3).mean(0) - colour).max() < 2
