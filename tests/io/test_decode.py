"""A video's frames as displayed: every container the bundled ffmpeg reads, rotation and anamorphic pixels
honoured, a missing frame or two at the very end filled; reads seek to a keyframe near their start and
give the frames of a decode from the first, bit for bit."""
from __future__ import annotations

import subprocess
from dataclasses import replace
from fractions import Fraction

import numpy as np
import pytest

from clips import CONTAINER_CODECS, FFMPEG, GOP, container_clip, mean_abs_diff, rotate, short_gop_clip
from dreamvid.errors import UserError
from dreamvid.io.decode import DecodeCount, FrameDecodeError, probe_video, read_frames
from helpers import BIG_BUCK_BUNNY


def test_read_frames_matches_source(moving):
    path, source = moving
    frames = list(read_frames(path))
    assert len(frames) == 12
    assert frames[0].shape == (64, 96, 3) and frames[0].dtype == np.uint8
    assert max(mean_abs_diff(f, s) for f, s in zip(frames, source)) < 3


def test_read_frames_range_starts_at_the_right_frame(moving):
    path, source = moving
    frames = list(read_frames(path, start=5, end=8))
    assert len(frames) == 3
    for frame, expected in zip(frames, source[5:8]):
        # the right frame is close; its neighbours (shifted by 2 px) are clearly not
        assert mean_abs_diff(frame, expected) < 3
    assert mean_abs_diff(frames[0], source[4]) > 10
    assert list(read_frames(path, start=4, end=4)) == []


def test_read_frames_past_the_end_raises_with_index(moving):
    with pytest.raises(FrameDecodeError) as caught:
        list(read_frames(moving[0], start=10, end=14))
    assert caught.value.index == 12 and "12" in str(caught.value)


def test_rotation_is_honoured_once(rotated):
    path, displayed = rotated
    info = probe_video(path)
    assert info.rotation == 90
    assert (info.width, info.height) == (64, 96)
    frames = list(read_frames(path))
    assert frames[0].shape == (96, 64, 3)
    assert max(mean_abs_diff(f, d) for f, d in zip(frames, displayed)) < 3
    assert mean_abs_diff(frames[0], np.rot90(displayed[0], 2)) > 20  # not upside down
    # and ffmpeg (which applies the display matrix itself) sees the same picture
    raw = subprocess.run([FFMPEG, "-v", "error", "-i", str(path), "-frames:v", "1", "-f", "rawvideo",
                          "-pix_fmt", "rgb24", "-"], capture_output=True, check=True).stdout
    assert mean_abs_diff(np.frombuffer(raw, np.uint8).reshape(96, 64, 3), frames[0]) < 1


def test_big_buck_bunny_sample():
    info = probe_video(BIG_BUCK_BUNNY)
    assert (info.width, info.height, info.fps, info.frame_count) == (1280, 720, Fraction(25), 132)
    assert info.rotation == 0 and info.has_audio
    assert info.duration == pytest.approx(5.28)
    frames = list(read_frames(BIG_BUCK_BUNNY, start=3, end=5, info=info))
    assert len(frames) == 2 and frames[0].shape == (720, 1280, 3)
    assert 20 < frames[0].mean() < 235 and mean_abs_diff(frames[0], frames[1]) < 20


def test_matroska_frame_count_is_counted_not_estimated(tmp_path):
    # Matroska has no frame count; OpenCV estimates 133 from the duration for these 132 frames.
    mkv = tmp_path / "bbb.mkv"
    subprocess.run([FFMPEG, "-v", "error", "-i", str(BIG_BUCK_BUNNY), "-an", "-c", "copy", str(mkv)], check=True)
    info = probe_video(mkv)
    assert info.frame_count == 132 and info.fps == 25 and not info.variable_rate
    assert sum(1 for _ in read_frames(mkv, start=128, end=132, info=info)) == 4
    with pytest.raises(FrameDecodeError):
        list(read_frames(mkv, start=128, end=136, info=info))


# -- containers -------------------------------------------------------------------------------------------

@pytest.mark.parametrize("suffix", sorted(CONTAINER_CODECS))
def test_every_container_is_probed_counted_and_decoded(tmp_path, suffix):
    path = tmp_path / f"clip{suffix}"
    source = container_clip(path, frames=8)
    info = probe_video(path)
    assert (info.width, info.height, info.fps, info.frame_count) == (96, 64, Fraction(25), 8)
    assert not info.variable_rate and info.duration == pytest.approx(0.32, abs=1e-3)
    frames = list(read_frames(path, info=info))
    assert len(frames) == 8
    for index, frame in enumerate(frames):
        assert mean_abs_diff(frame, source[index]) < 4  # the right frame...
    assert mean_abs_diff(frames[4], source[3]) > 2 * mean_abs_diff(frames[4], source[4])  # ...not a neighbour


def test_matroska_and_webm_counts_are_what_is_there(tmp_path):
    """Their headers only give a duration; duration x fps overestimates (OpenCV said 9 here)."""
    for suffix in (".mkv", ".webm"):
        path = tmp_path / f"clip{suffix}"
        source = container_clip(path, frames=8, fps=30)
        # a duration in the header longer than the frames, as cameras and editors write
        padded = tmp_path / f"padded{suffix}"
        subprocess.run([FFMPEG, "-v", "error", "-i", str(path), "-f", "lavfi", "-i", "anullsrc=d=0.4",
                        "-map", "0:v", "-map", "1:a", "-c:v", "copy", "-c:a", "libopus", str(padded)], check=True)
        info = probe_video(padded)
        assert info.frame_count == 8
        frames = list(read_frames(padded, info=info))
        assert len(frames) == 8 and mean_abs_diff(frames[-1], source[-1]) < 4


def test_a_frame_or_two_missing_at_the_very_end_is_filled_not_fatal(tmp_path):
    path = tmp_path / "clip.mp4"
    container_clip(path, frames=6)
    info = probe_video(path)
    promised = replace(info, frame_count=8)  # two packets that do not decode
    frames = list(read_frames(path, info=promised))
    assert len(frames) == 8
    assert np.array_equal(frames[6], frames[5]) and np.array_equal(frames[7], frames[5])
    with pytest.raises(FrameDecodeError) as caught:  # more than that is damage
        list(read_frames(path, info=replace(info, frame_count=9)))
    assert caught.value.index == 6


def test_truncated_matroska_is_caught(tmp_path):
    path = tmp_path / "clip.mkv"
    container_clip(path, frames=30, size=(128, 96))
    data = path.read_bytes()
    (tmp_path / "cut.mkv").write_bytes(data[: len(data) * 2 // 3])
    info = None
    try:
        info = probe_video(tmp_path / "cut.mkv")
    except UserError as error:
        assert "truncated" in str(error) or "corrupt" in str(error)
    if info is not None:  # what is there is counted, and all of it decodes
        assert info.frame_count < 30
        assert len(list(read_frames(tmp_path / "cut.mkv", info=info))) == info.frame_count


def test_anamorphic_pixels_are_widened_to_the_display_shape(tmp_path):
    path = tmp_path / "dv.mp4"
    source = container_clip(path, frames=3, size=(48, 64), sar="2")
    info = probe_video(path)
    assert (info.width, info.height, info.sar) == (96, 64, 2)
    frames = list(read_frames(path, info=info))
    assert frames[0].shape == (64, 96, 3)
    wide = np.repeat(source, 2, axis=2)
    assert max(mean_abs_diff(f, w) for f, w in zip(frames, wide)) < 6
    pal = tmp_path / "pal.mp4"
    container_clip(pal, frames=2, size=(720, 576), sar="64/45")
    assert (probe_video(pal).width, probe_video(pal).height) == (1024, 576)


# -- seeking ----------------------------------------------------------------------------------------------

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
