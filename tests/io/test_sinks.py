"""Where finished frames go: a video (chunks joined into one, timestamps and audio kept, a range's audio from
its first frame) or a folder of frames (names, formats, bit depth and alpha kept; a kill at any step of
finishing it leaves the old folder or the new one)."""
from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

import dreamvid
from clips import (VFR_TIMES, audio_onset, decoded_seconds, frame_times, moving_clip, read_rgb, timed_tone_clip,
                   translating_frames, vfr_clip, write_frames)
from doubles import StubDreamer
from dreamvid import atomic
from dreamvid.io.decode import probe_video, read_frames
from dreamvid.io.ffmpeg import list_audio
from dreamvid.io.sinks import FramesSink, VideoSink
from dreamvid.journal.names import chunk_name
from dreamvid.sidecar import owned_files, read_record
from helpers import FAST, sink_copy


def test_joined_chunks_play_as_one_video_with_the_audio(tmp_path):
    """Chunks of uneven lengths at an NTSC rate: one stream, every frame once on a regular grid, the
    pixels of each chunk unchanged (no re-encoding), the audio span and the colour tags kept."""
    source = tmp_path / "source.mp4"
    moving_clip(source, frames=15, size=(96, 64), fps="30000/1001", audio=True)
    info = probe_video(source)
    frames = translating_frames(15, (96, 64), dx=3, dy=1).astype(np.float32) / 255
    sink = VideoSink(tmp_path / "out.mp4", (64, 96), info.fps, 18, 2, 15, print, source, info)
    assert sink.chunked
    paths = []
    for a, b in [(2, 5), (5, 9), (9, 12), (12, 15)]:
        paths.append(tmp_path / chunk_name(a, b))
        sink.encode_chunk(paths[-1], iter(frames[a:b]))
    sink.join(paths, {"note": "joined"})
    out = probe_video(tmp_path / "out.mp4")
    assert (out.frame_count, out.fps) == (13, info.fps)
    assert np.allclose(np.diff(out.times), float(1 / info.fps), atol=1e-4)
    assert abs(out.duration - 13 / float(info.fps)) < 1e-3
    assert list_audio(tmp_path / "out.mp4") == list_audio(source) and out.colour.matrix == "smpte170m"
    joined = np.stack(list(read_frames(tmp_path / "out.mp4")))
    apart = np.concatenate([np.stack(list(read_frames(path))) for path in paths])
    assert np.array_equal(joined, apart)
    assert np.abs(joined.astype(float) - frames[2:] * 255).mean() < 3
    assert json.loads((tmp_path / "out.mp4.json").read_text())["bytes"] == (tmp_path / "out.mp4").stat().st_size
    assert not list(tmp_path.glob(".*partial*"))


def test_variable_rate_timestamps_and_audio_survive_the_sink(tmp_path):
    path = tmp_path / "phone.mp4"
    vfr_clip(path, VFR_TIMES, audio=True)
    for suffix in (".mp4", ".mkv"):
        output = tmp_path / f"out{suffix}"
        sink_copy(path, output)
        assert np.allclose(frame_times(output), frame_times(path), atol=1.5e-3)
        assert decoded_seconds(output, "audio") == pytest.approx(decoded_seconds(path, "video"), abs=0.05)
    # a range keeps the timestamps of its frames, from its first
    sink_copy(path, tmp_path / "range.mp4", start=4, end=10)
    assert np.allclose(frame_times(tmp_path / "range.mp4"), np.array(VFR_TIMES[4:10]) - VFR_TIMES[4], atol=1.5e-3)
    assert not list(tmp_path.glob(".*"))  # the kept images are gone


def test_audio_shorter_than_the_picture_keeps_every_frame(tmp_path):
    path = tmp_path / "clip.mp4"
    timed_tone_clip(path, frames=10, tone_at=0.0, audio_seconds=0.5)
    sink_copy(path, tmp_path / "out.mp4")
    assert probe_video(tmp_path / "out.mp4").frame_count == 10
    assert decoded_seconds(tmp_path / "out.mp4", "video") == pytest.approx(1.0, abs=0.05)
    assert decoded_seconds(tmp_path / "out.mp4", "audio") == pytest.approx(0.5, abs=0.05)


def test_frame_range_audio_starts_at_its_first_frame(tmp_path):
    """The picture starts 0.5 s after the audio (as some cameras write); the tone begins with frame 5."""
    path = tmp_path / "camera.mp4"
    timed_tone_clip(path, frames=10, tone_at=1.0, video_delay=0.5)
    info = probe_video(path)
    assert info.times[0] == pytest.approx(0.5, abs=1e-3)
    sink_copy(path, tmp_path / "range.mp4", start=3, end=9)
    assert audio_onset(tmp_path / "range.mp4") == pytest.approx(0.2, abs=0.03)
    sink_copy(path, tmp_path / "whole.mp4")
    assert audio_onset(tmp_path / "whole.mp4") == pytest.approx(0.5, abs=0.03)


# ---- a folder of frames --------------------------------------------------------------------------------

def test_sequence_keeps_names_and_jpeg_format(tmp_path):
    source = translating_frames(4, (64, 48), dx=2, dy=1)
    names = write_frames(tmp_path / "shot", source, [f"take2_{n}.jpg" for n in (7, 8, 9, 10)])
    results = dreamvid.render(tmp_path / "shot", sequence=True, dreamer=StubDreamer(), **FAST)
    output = tmp_path / "shot_dream"
    assert results[0].job.kind == "sequence" and results[0].job.output == output
    assert sorted(p.name for p in output.iterdir()) == sorted(names + ["dreamvid.json"])
    for name, frame in zip(names, source):
        assert (output / name).read_bytes()[:3] == b"\xff\xd8\xff"  # JPEG, not PNG under a .jpg name
        dreamed = read_rgb(output / name)
        assert dreamed.shape == frame.shape and dreamed.dtype == np.uint8
        assert np.abs(dreamed.astype(float) - frame).mean() > 2.0
    record = json.loads((output / "dreamvid.json").read_text())
    assert record["frames"] == [0, 4] and record["input"] == str(tmp_path / "shot")
    assert not (tmp_path / "shot_dream.parts").exists()


def test_sixteen_bit_sequence_stays_sixteen_bit(tmp_path):
    source = translating_frames(3, (64, 48), dx=2, dy=1).astype(np.uint16) * 257 + 100
    names = write_frames(tmp_path / "shot", source)
    dreamvid.render(tmp_path / "shot", sequence=True, dreamer=StubDreamer(), **FAST)
    for name, frame in zip(names, source):
        dreamed = cv2.imread(str(tmp_path / "shot_dream" / name), cv2.IMREAD_UNCHANGED)
        assert dreamed.dtype == np.uint16 and dreamed.shape == frame.shape
        assert (dreamed % 257 != 0).mean() > 0.5  # real 16-bit values, not 8-bit ones scaled up
        assert np.abs(dreamed[..., ::-1].astype(float) - frame).mean() > 1.5 * 257


def test_float_tiff_sequence_is_dreamed_not_blacked_out(tmp_path):
    """Checkpoints are PNGs: float frames go through them as 16-bit, never cast to 0/1 integers, and are
    written back as float (what the dream changed added to their own values)."""
    source = translating_frames(3, (64, 48), dx=2, dy=1).astype(np.float32) / 255
    shot = tmp_path / "shot"
    shot.mkdir()
    for index, frame in enumerate(source):
        assert cv2.imwrite(str(shot / f"f{index:03d}.tif"), np.ascontiguousarray(frame[..., ::-1]))
    dreamvid.render(shot, sequence=True, dreamer=StubDreamer(), **FAST)
    for index, frame in enumerate(source):
        dreamed = cv2.imread(str(tmp_path / "shot_dream" / f"f{index:03d}.tif"), cv2.IMREAD_UNCHANGED)
        assert dreamed.dtype == np.float32 and dreamed.shape == frame.shape
        values = dreamed[..., ::-1]
        assert abs(values.mean() - frame.mean()) < 0.1  # the picture, not black
        assert np.abs(values - frame).mean() > 1.5 / 255  # and dreamed


def test_alpha_is_kept(tmp_path):
    rgb = translating_frames(3, (64, 48), dx=2, dy=1)
    alpha = np.tile(np.linspace(0, 255, 64).round().astype(np.uint8), (48, 1))
    alpha[10:20, 10:30] = 0
    source = np.concatenate([rgb, np.broadcast_to(alpha[..., None], (3, 48, 64, 1))], axis=3)
    names = write_frames(tmp_path / "shot", source)
    dreamvid.render(tmp_path / "shot", sequence=True, dreamer=StubDreamer(), **FAST)
    for name, frame in zip(names, source):
        dreamed = cv2.imread(str(tmp_path / "shot_dream" / name), cv2.IMREAD_UNCHANGED)
        assert dreamed.shape == (48, 64, 4)
        assert np.array_equal(dreamed[..., 3], alpha)
        assert np.abs(dreamed[..., 2::-1].astype(float) - frame[..., :3]).mean() > 1.5


def _check_dreamed_frames(folder: Path, names: list[str], source: list[np.ndarray]) -> None:
    """Every frame once, in order: each dreamed frame is nearest to its own source frame."""
    assert sorted(p.name for p in folder.glob("*.png")) == names
    dreamed = [read_rgb(folder / name).astype(float) for name in names]
    for index, frame in enumerate(dreamed):
        distances = [np.abs(frame - other).mean() for other in source]
        assert distances[index] > 1.5  # dreamed, not copied (a copy is 0)
        assert int(np.argmin(distances)) == index, f"{names[index]} is not frame {index}"


def test_video_to_a_folder_of_frames(tmp_path):
    clip = tmp_path / "clip.mp4"
    moving_clip(clip, frames=5, size=(64, 48), dx=4, dy=2)
    source = list(read_frames(clip))
    new = tmp_path / "new"
    dreamvid.render(clip, new, dreamer=StubDreamer(), **FAST)
    _check_dreamed_frames(new, [f"clip_{index:05d}.png" for index in range(5)], source)
    assert (new / "dreamvid.json").is_file() and not (tmp_path / "new.parts").exists()

    existing = tmp_path / "existing"
    existing.mkdir()
    (existing / "notes.txt").write_text("keep me")
    dreamvid.render(clip, existing, dreamer=StubDreamer(), **FAST)
    _check_dreamed_frames(existing, [f"clip_{index:05d}.png" for index in range(5)], source)
    assert (existing / "notes.txt").read_text() == "keep me"


def test_video_to_a_frame_pattern(tmp_path):
    clip = tmp_path / "clip.mp4"
    moving_clip(clip, frames=5, size=(64, 48), dx=4, dy=2)
    source = list(read_frames(clip))
    (tmp_path / "out").mkdir()
    dreamvid.render(clip, tmp_path / "out" / "f_%05d.png", dreamer=StubDreamer(), **FAST)
    _check_dreamed_frames(tmp_path / "out", [f"f_{index:05d}.png" for index in range(5)], source)


def test_video_frame_range_to_frames_is_numbered_by_source_frame(tmp_path):
    clip = tmp_path / "clip.mp4"
    moving_clip(clip, frames=6, size=(64, 48))
    dreamvid.render(clip, tmp_path / "out", frames="2:5", dreamer=StubDreamer(), **FAST)
    assert sorted(p.name for p in (tmp_path / "out").glob("*.png")) == [f"clip_{i:05d}.png" for i in (2, 3, 4)]
    results = dreamvid.render(clip, tmp_path / "out", frames="2:5", dreamer=StubDreamer(), **FAST)
    assert results[0].status == "skipped"  # the frames of that range are all there


# ---- a real kill at every step of finishing a folder ----------------------------------------------

LINUX = pytest.mark.skipif(sys.platform != "linux", reason="renameat2 is Linux's")


NAMES = ["f_0.png", "f_1.png", "f_2.png"]


# Runs FramesSink to the end, but SIGKILLs itself just before its N-th file-system step.
KILLED_AT = r"""
import os, shutil, signal, sys
from pathlib import Path
import numpy as np
from dreamvid import atomic
from dreamvid.io.sinks import FramesSink

output, kill_at, renameat2 = Path(sys.argv[1]), int(sys.argv[2]), sys.argv[3] == "yes"
calls = 0

def counted(function):
    def step(*args, **kwargs):
        global calls
        calls += 1
        if calls == kill_at:
            os.kill(os.getpid(), signal.SIGKILL)
        return function(*args, **kwargs)
    return step

for name in ("replace", "rename", "link", "unlink", "rmdir", "mkdir", "symlink"):
    setattr(os, name, counted(getattr(os, name)))
shutil.copy2 = counted(shutil.copy2)
atomic.exchange = counted(atomic.exchange if renameat2 else (lambda first, second: False))
sink = FramesSink(output, NAMES, np.uint8)
for _ in NAMES:
    sink.write(np.ones((8, 8, 3), np.float32))
sink.close({"dreamvid": "test", "parameters": {}, "run": "new"})
""".replace("NAMES", repr(NAMES))


def _finish_folder(output: Path, value: float, run: str) -> None:
    sink = FramesSink(output, tuple(NAMES), np.uint8)
    for _ in NAMES:
        sink.write(np.full((8, 8, 3), value, np.float32))
    sink.close({"dreamvid": "test", "parameters": {}, "run": run})


def _state(output: Path) -> str:
    """'old' or 'new' when the folder is one complete version with the user's file; fails otherwise."""
    record = read_record(output / "dreamvid.json")
    assert record is not None, sorted(p.name for p in output.iterdir())
    assert sorted(p.name for p in output.iterdir()) == sorted(NAMES + ["dreamvid.json", "notes.txt"])
    assert (output / "notes.txt").read_text() == "the user's"
    assert owned_files(output) == set(NAMES)
    pixels = {int(cv2.imread(str(output / name))[0, 0, 0]) for name in NAMES}
    assert pixels == ({0} if record["run"] == "old" else {255}), (record["run"], pixels)
    return record["run"]


@pytest.mark.parametrize("renameat2", [pytest.param("yes", marks=LINUX), "no"])
def test_a_kill_at_any_step_leaves_the_old_folder_or_the_new_one(renameat2, tmp_path):
    seen, kill_at = [], 1
    while True:
        base = tmp_path / str(kill_at)
        base.mkdir()
        output = base / "out"
        _finish_folder(output, 0.0, "old")
        (output / "notes.txt").write_text("the user's")
        run = subprocess.run([sys.executable, "-c", KILLED_AT, str(output), str(kill_at), renameat2],
                             capture_output=True, text=True, timeout=120)
        if run.returncode == 0:
            break
        assert run.returncode == -signal.SIGKILL, run.stderr
        if renameat2 == "no":
            atomic.recover_folder(output)  # what the next run's planning does first
        seen.append(_state(output))
        _finish_folder(output, 1.0, "new")  # the rerun completes from whatever the kill left
        assert _state(output) == "new" and sorted(p.name for p in base.iterdir()) == ["out"]
        kill_at += 1
    assert _state(output) == "new"
    assert "old" in seen and "new" in seen and len(seen) >= 8, seen  # killed before, during and after the swap
