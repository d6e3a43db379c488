"""Chunked checkpoints: a video render keeps its finished frames encoded, a few seconds per file, so its work
folder stays about the size of the output; a resume after a crash or a kill still gives the same frames,
and dreams none of the finished ones again."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import cv2
import numpy as np
import pytest

import dreamvid
from clips import moving_clip
from doubles import StubDreamer
from dreamvid.io.decode import probe_video, read_frames
from dreamvid.io.sinks import VideoSink
from dreamvid.journal.names import chunk_name, parse_chunk
from dreamvid.temporal.checkpoints import CheckpointStore
from dreamvid.temporal.chunks import plan_chunks
from dreamvid.temporal.plan import Segment
from helpers import TESTS, done_frames, kill_when, power_cut_at_round


QUICK = dict(model="vgg16-hed", steps=1, octaves=1, flow_steps=1, jitter=4)


SIDE_BY_SIDE = dict(QUICK, streams=2, batch=2, warmup=2)


def folder(output):
    return output.with_name(output.name + ".parts")


def test_chunks_lie_inside_segments_and_short_ones_join_a_neighbour():
    segments = [Segment(0, 0, 7), Segment(1, 7, 14, warmup=2)]
    assert plan_chunks(segments, 3) == ((0, 3), (3, 7), (7, 10), (10, 14))  # 6:7 is too short alone
    assert plan_chunks([Segment(0, 0, 1), Segment(1, 1, 2), Segment(2, 2, 9)], 3) == ((0, 5), (5, 9))
    assert plan_chunks([Segment(0, 5, 7)], 50) == ((5, 7),)
    covered = [i for a, b in plan_chunks(segments, 4) for i in range(a, b)]
    assert covered == list(range(14))
    assert parse_chunk(chunk_name(12, 345)) == (12, 345) and parse_chunk("frame_000001.png") is None


def test_a_render_crashed_midway_resumes_to_the_same_frames_without_dreaming_them_again(
        tmp_path, short_chunks):
    source = tmp_path / "clip.mp4"
    moving_clip(source, frames=16, size=(96, 64), audio=True)
    dreamvid.render(source, tmp_path / "whole.mp4", dreamer=StubDreamer(), **SIDE_BY_SIDE)

    output = tmp_path / "resumed.mp4"
    with power_cut_at_round(7):
        dreamvid.render(source, output, dreamer=StubDreamer(), **SIDE_BY_SIDE)
    assert not output.exists()
    chunked = [name for path in folder(output).iterdir() if (name := parse_chunk(path.name))]
    done = done_frames(output)
    assert chunked and len(done) >= 8  # two chains, 6 rounds: 12 frames less the second one's warm-up
    # a piece that a chunk holds is deleted, but for each chain's last frame (its resume goes on from it);
    # how many wait for a chunk depends on how far the encoder had come (it lags on a busy machine)
    pieces = sorted(int(path.stem.split("_")[1]) for path in folder(output).glob("frame_*.png"))
    covered = {index for a, b in chunked for index in range(a, b)}
    assert len([index for index in pieces if index in covered]) <= 2, (pieces, chunked)
    [result] = dreamvid.render(source, output, dreamer=StubDreamer(), **SIDE_BY_SIDE)
    assert result.frames == 16 - len(done)  # no finished frame is dreamed again
    assert np.array_equal(np.stack(list(read_frames(output))), np.stack(list(read_frames(tmp_path / "whole.mp4"))))
    info = probe_video(output)
    assert info.frame_count == 16 and info.has_audio and abs(info.duration - 1.6) < 1e-6
    assert not folder(output).exists()


def _files(work) -> list[tuple[str, int]]:
    """Pieces and chunks in a work folder with their sizes (the assembly thread may delete one meanwhile)."""
    found = []
    for path in work.iterdir():
        try:
            found.append((path.suffix, path.stat().st_size))
        except FileNotFoundError:
            continue
    return [(suffix, size) for suffix, size in found if suffix in (".png", ".mp4")]


@pytest.mark.parametrize("encoder", ["fast", pytest.param("slow", marks=pytest.mark.slow), "stalling"])  # slow: 10 s
def test_the_work_folder_stays_about_the_size_of_the_output(tmp_path, monkeypatch, short_chunks, encoder):
    """Sampled at every saved frame: a few pieces per chain and the chunks, not a piece per frame; with
    an encoder slower than the dreaming too, and one that stalls for seconds on its first chunk (the
    driver waits for it as soon as a second chunk is complete)."""
    if encoder != "fast":
        real_encode, calls = VideoSink.encode_chunk, []

        def slow_encode(self, path, frames, first=None):
            calls.append(path)
            time.sleep(0.5 if encoder == "slow" else 4.0 if len(calls) == 1 else 0.0)
            real_encode(self, path, frames, first)

        monkeypatch.setattr(VideoSink, "encode_chunk", slow_encode)
    source = tmp_path / "clip.mp4"
    moving_clip(source, frames=60, size=(96, 64))
    samples, png_bytes = [], []
    real_save = CheckpointStore.save

    def measured_save(self, segment, index, pixels, reference=None):
        real_save(self, segment, index, pixels, reference)
        png_bytes.append(len(cv2.imencode(".png", pixels[..., ::-1])[1]))  # as the piece was written
        files = _files(self.work.path)
        samples.append((sum(suffix == ".png" for suffix, _ in files), sum(size for _, size in files)))

    monkeypatch.setattr(CheckpointStore, "save", measured_save)
    output = tmp_path / "out.mp4"
    dreamvid.render(source, output, keep_parts=True, dreamer=StubDreamer(), **SIDE_BY_SIDE)
    most_pieces, most_bytes = max(count for count, _ in samples), max(size for _, size in samples)
    # The chunk being encoded and one more waiting (then the driver waits for the encoder), a chunk being
    # filled per chain, the second chain's 2 warm-up frames, and the frames on their way to the disk (a
    # round of 2, a writer queue of 4): 20, however slow the encoder. A piece per frame would be 62.
    bound = 3 + 3 + 2 * 3 + 2 + 6
    assert most_pieces <= bound
    chunk_bytes = sum(path.stat().st_size for path in folder(output).glob("chunk_*"))
    assert most_bytes < chunk_bytes + bound * max(png_bytes)
    assert most_bytes < sum(png_bytes) / 2  # a piece per frame took all of it (20 of 62 pieces: about a third)
    assert not list(folder(output).glob("*.png"))  # finished: only chunks are left
    assert probe_video(output).frame_count == 60


# A render in a process of its own, to be killed: the stub dreamer takes a tenth of a second a frame.
KILLABLE = """
import json, sys
import dreamvid
from doubles import StubDreamer
from dreamvid.temporal import chunks
chunks.CHUNK_SECONDS = 0.3
source, output, options = sys.argv[1:]
dreamvid.render(source, output, dreamer=StubDreamer(delay=0.1), **json.loads(options))
"""


def killable(source, output, **options) -> tuple[list[str], dict[str, str]]:
    """The command line and environment of a KILLABLE render (its folder of doubles on the PYTHONPATH)."""
    return ([sys.executable, "-c", KILLABLE, str(source), str(output), json.dumps(options)],
            {**os.environ, "PYTHONPATH": str(TESTS)})


def test_a_render_killed_with_sigkill_resumes_to_the_same_frames(tmp_path, short_chunks):
    source = tmp_path / "clip.mp4"
    moving_clip(source, frames=18, size=(96, 64))
    reference = tmp_path / "reference.mp4"
    dreamvid.render(source, reference, dreamer=StubDreamer(), **SIDE_BY_SIDE)
    output = tmp_path / "killed.mp4"
    command, env = killable(source, output, **SIDE_BY_SIDE)
    process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    kill_when(process, lambda: len(done_frames(output)) >= 8 and bool(list(folder(output).glob("chunk_*"))), 240)
    assert len(done_frames(output)) < 18 and not output.exists()
    assert len(list(folder(output).glob("*.png"))) <= 2 * 4 + 2  # the rest is in chunks
    subprocess.run(command, env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=240)
    assert np.array_equal(np.stack(list(read_frames(output))), np.stack(list(read_frames(reference))))
    assert probe_video(output).frame_count == 18


def test_the_resume_dreams_only_what_was_not_on_disk(tmp_path, short_chunks):
    """After a kill, the frame log tells which frames the resumed run dreamed: none that was done."""
    source = tmp_path / "clip.mp4"
    moving_clip(source, frames=12, size=(96, 64))
    output = tmp_path / "out.mp4"
    command, env = killable(source, output, **QUICK, batch=1, keep_parts=True)  # batch: a CPU's, not asked of TF
    process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    kill_when(process, lambda: bool(list(folder(output).glob("chunk_*"))) and len(done_frames(output)) >= 5, 240)
    done = set(done_frames(output))
    log = folder(output) / "frames.jsonl"
    before = len(log.read_text().splitlines())
    subprocess.run(command, env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=240)
    dreamed_again = {json.loads(line)["frame"] for line in log.read_text().splitlines()[before:]}
    assert dreamed_again == set(range(12)) - done
    assert probe_video(output).frame_count == 12


def test_before_the_first_chunk_the_crf_may_still_change(tmp_path, short_chunks):
    source = tmp_path / "clip.mp4"
    moving_clip(source, frames=6, size=(64, 48))
    output = tmp_path / "out.mp4"
    with power_cut_at_round(3):
        dreamvid.render(source, output, dreamer=StubDreamer(), **QUICK)
    assert done_frames(output) == [0, 1] and not list(folder(output).glob("chunk_*"))
    [result] = dreamvid.render(source, output, crf=30, dreamer=StubDreamer(), **QUICK)
    assert result.frames == 4 and json.loads((tmp_path / "out.mp4.json").read_text())["parameters"]["crf"] == 30


def test_a_folder_of_frames_keeps_its_pieces_until_the_end(tmp_path, short_chunks):
    """A folder output is not chunked: each finished frame waits lossless, as before."""
    source = tmp_path / "clip.mp4"
    moving_clip(source, frames=6, size=(64, 48))
    dreamvid.render(source, tmp_path / "frames", keep_parts=True, dreamer=StubDreamer(), **QUICK)
    work = tmp_path / "frames.parts"
    assert len(list(work.glob("frame_*.png"))) == 6 and not list(work.glob("chunk_*"))
    assert len(list((tmp_path / "frames").glob("*.png"))) == 6
