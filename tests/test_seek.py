"""Reads seek to a keyframe near their start: the frames are those of a decode from the first frame, bit for
bit, and the decode work of a clip read in segments stays linear in its length."""

from __future__ import annotations

import subprocess
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from clips import FFMPEG, translating_frames
from dreamvid.io.sources import VideoSource
from dreamvid.io.decode import FrameDecodeError, DecodeCount, probe_video, read_frames

BIG_BUCK_BUNNY = Path(__file__).resolve().parents[1] / "samples" / "bigbuckbunny.mp4"
GOP = 6


def short_gop_clip(path: Path, frames: int = 24, *, gop: int = GOP, rate: str = "25", before: tuple = (),
                   filters: tuple = (), after: tuple = ()) -> Path:
    """A moving H.264 clip with a keyframe every `gop` frames and two B-frames between references; `before`
    goes before the input, `filters` and `after` after it."""
    width, height = 96, 64
    source = translating_frames(frames, (width, height), 2, 1, seed=7)
    args = [FFMPEG, "-hide_banner", "-loglevel", "error", "-y", *before, "-f", "rawvideo", "-pix_fmt", "rgb24",
            "-s", f"{width}x{height}", "-framerate", rate, "-i", "pipe:0"]
    args += ["-vf", ",".join(filters)] if filters else []
    args += ["-c:v", "libx264", "-pix_fmt", "yuv420p", "-crf", "20", "-g", str(gop), "-keyint_min", str(gop),
             "-sc_threshold", "0", "-bf", "2", *after, str(path)]
    subprocess.run(args, input=source.tobytes(), check=True, capture_output=True)
    return path


def rotate(path: Path) -> Path:
    """The same stream with display-matrix rotation (90 degrees clockwise to display), pixels untouched."""
    turned = path.with_name("turned-" + path.name)
    subprocess.run([FFMPEG, "-hide_banner", "-loglevel", "error", "-y", "-display_rotation", "-90", "-i", str(path),
                    "-c", "copy", str(turned)], check=True, capture_output=True)
    return turned


VFR_TIMES = [0.0, 0.04, 0.06, 0.16, 0.2, 0.22, 0.26, 0.36, 0.38, 0.42, 0.52, 0.54, 0.58, 0.62, 0.72, 0.74, 0.78,
             0.88, 0.9, 0.94, 0.98, 1.08, 1.1, 1.14]
_VFR = "+".join(f"eq(N\\,{k})*{t}" for k, t in enumerate(VFR_TIMES))

CLIPS = {
    "b-frames.mp4": lambda tmp: short_gop_clip(tmp / "clip.mp4"),
    "open-gop.mp4": lambda tmp: short_gop_clip(tmp / "clip.mp4", after=("-x264-params", "open-gop=1")),
    "open-gop.mkv": lambda tmp: short_gop_clip(tmp / "clip.mkv", after=("-x264-params", "open-gop=1")),
    "mpeg-ts.ts": lambda tmp: short_gop_clip(tmp / "clip.ts"),
    "open-gop.ts": lambda tmp: short_gop_clip(tmp / "clip.ts", after=("-x264-params", "open-gop=1")),
    "variable-rate.mp4": lambda tmp: short_gop_clip(
        tmp / "clip.mp4", rate="1000", filters=(f"setpts=({_VFR})/TB",),
        after=("-fps_mode", "vfr", "-video_track_timescale", "90000")),
    "rotated.mp4": lambda tmp: rotate(short_gop_clip(tmp / "clip.mp4")),
    "anamorphic.mkv": lambda tmp: short_gop_clip(tmp / "clip.mkv", filters=("setsar=2",)),
    "late-start.mp4": lambda tmp: short_gop_clip(tmp / "clip.mp4", before=("-itsoffset", "3.5")),
    "late-start.mkv": lambda tmp: short_gop_clip(tmp / "clip.mkv", after=("-output_ts_offset", "2.25")),
}


@pytest.mark.parametrize("kind", CLIPS)
def test_every_start_gives_the_frames_of_a_decode_from_the_first(tmp_path, kind):
    path = CLIPS[kind](tmp_path)
    info = probe_video(path)
    assert info.frame_count == 24 and info.keyframes == (0, 6, 12, 18)
    if kind == "variable-rate.mp4":
        assert info.variable_rate and info.times == pytest.approx(VFR_TIMES, abs=2e-3)
    assert (info.rotation, info.sar) == ((90, 1) if kind == "rotated.mp4" else (0, 2) if kind == "anamorphic.mkv"
                                         else (0, 1))
    full = np.stack(list(read_frames(path, info=info)))
    for start in range(info.frame_count):
        count = DecodeCount()
        end = min(start + 2, info.frame_count)
        frames = np.stack(list(read_frames(path, start, end, info=info, count=count)))
        assert np.array_equal(frames, full[start:end]), f"frames [{start}, {end}) differ"
        # From the keyframe at or before start (Matroska's index may land one earlier), not from frame 0.
        assert count.frames <= 2 * GOP + end - start + 3 or start < 2 * GOP


def test_the_probe_records_keyframes_in_presentation_order(tmp_path):
    info = probe_video(short_gop_clip(tmp_path / "clip.mp4", frames=30, gop=10))
    assert info.keyframes == (0, 10, 20)
    assert probe_video(BIG_BUCK_BUNNY).keyframes == (0,)


def test_decode_work_is_linear_in_the_clip_length_whatever_the_segments(tmp_path):
    length, segments, gop = 96, 8, 10
    info = probe_video(short_gop_clip(tmp_path / "clip.mp4", frames=length, gop=gop))
    bounds = np.linspace(0, length, segments + 1).astype(int)
    seeking, from_first = VideoSource(info), VideoSource(replace(info, keyframes=()))
    whole = np.stack(list(read_frames(info.path, info=info)))
    for source in (seeking, from_first):
        frames = [frame for start, end in zip(bounds, bounds[1:]) for frame in source.read(start, end)]
        assert np.array_equal(np.stack(frames), whole.astype(np.float32) / 255)
    assert length <= seeking.decoded.frames <= length + segments * gop
    # Without keyframes every segment decodes from frame 0: about segments x length / 2 in all.
    assert from_first.decoded.frames >= sum(bounds[1:])


@pytest.mark.parametrize("suffix", [".mkv", ".mp4"])
def test_an_indexed_container_lands_on_the_keyframe_itself(tmp_path, suffix):
    # ffmpeg moves a seek 3/23 s earlier when frames are reordered; told that much later, the read starts at
    # keyframe 12, not a whole keyframe interval before it (frames 6 to 15 would be 10 frames).
    path = short_gop_clip(tmp_path / f"clip{suffix}", frames=30, rate="10")
    info = probe_video(path)
    count = DecodeCount()
    frames = list(read_frames(path, 14, 16, info=info, count=count))
    assert np.array_equal(np.stack(frames), np.stack(list(read_frames(path, info=info)))[14:16])
    assert count.frames < 10


def test_a_seek_that_cannot_be_verified_decodes_from_the_first_frame(tmp_path):
    path = short_gop_clip(tmp_path / "clip.mp4")
    info = probe_video(path)
    full = np.stack(list(read_frames(path, info=info)))
    # Timestamps a third of a frame off match no decoded frame: the read goes back to frame 0.
    skewed = replace(info, times=tuple(t + 0.33 / 25 for t in info.times))
    count = DecodeCount()
    assert np.array_equal(np.stack(list(read_frames(path, 20, 22, info=skewed, count=count))), full[20:22])
    assert count.frames >= 22


def test_a_packet_flagged_key_that_decodes_as_none_is_not_started_from(tmp_path):
    path = short_gop_clip(tmp_path / "clip.mp4")  # MP4 seeks exactly to the packet flagged key
    info = probe_video(path)
    full = np.stack(list(read_frames(path, info=info)))
    # Frame 9 is a B- or P-frame: the decoder never marks it a keyframe, so the read does not trust the seek.
    misflagged = replace(info, keyframes=(0, 6, 9, 12, 18))
    count = DecodeCount()
    assert np.array_equal(np.stack(list(read_frames(path, 10, 12, info=misflagged, count=count))), full[10:12])
    assert count.frames >= 12
    count = DecodeCount()
    assert np.array_equal(np.stack(list(read_frames(path, 13, 15, info=misflagged, count=count))), full[13:15])
    assert count.frames < 13  # a true keyframe is still started from


def test_frames_missing_at_the_very_end_are_filled_when_seeking_too(tmp_path):
    path = short_gop_clip(tmp_path / "clip.mp4")
    info = probe_video(path)
    count = DecodeCount()
    frames = list(read_frames(path, 20, 26, info=replace(info, frame_count=26), count=count))
    assert len(frames) == 6 and all(np.array_equal(frame, frames[3]) for frame in frames[4:])
    assert count.frames < 12  # from keyframe 18
    with pytest.raises(FrameDecodeError) as caught:  # more than FRAME_COUNT_SLACK missing is damage
        list(read_frames(path, 20, 27, info=replace(info, frame_count=27)))
    assert caught.value.index == 24


def test_the_bundled_clip_reads_the_same_from_any_start():
    info = probe_video(BIG_BUCK_BUNNY)
    full = list(read_frames(BIG_BUCK_BUNNY, 120, 132, info=info))
    for start in (121, 122, 131):
        assert all(np.array_equal(a, b) for a, b in
                   zip(read_frames(BIG_BUCK_BUNNY, start, 132, info=info), full[start - 120:], strict=True))
