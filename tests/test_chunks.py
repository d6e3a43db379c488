"""Chunked checkpoints: a video render keeps its finished frames encoded, a few seconds per file, so its work
folder stays about the size of the output; a resume after a crash or a kill still gives the same frames,
and dreams none of the finished ones again."""
from __future__ import annotations

import json
import subprocess
import sys
import threading
import time

import cv2
import numpy as np
import pytest

import dreamvid
from clips import moving_clip, translating_frames
from dreamvid.io.sinks import VideoSink
from dreamvid.temporal import chunks
from dreamvid.temporal.checkpoints import CheckpointStore
from dreamvid.journal.names import chunk_name, parse_chunk
from dreamvid.temporal.chunks import plan_chunks
from dreamvid.temporal.plan import Segment
from dreamvid.journal.resume import _used
from dreamvid.io.ffmpeg import list_audio
from dreamvid.io.decode import probe_video, read_frames
from helpers import done_frames, kill_when, power_cut_at_round

QUICK = dict(model="vgg16-hed", steps=1, octaves=1, flow_steps=1, jitter=4)
SIDE_BY_SIDE = dict(QUICK, streams=2, batch=2, warmup=2)


@pytest.fixture
def short_chunks(monkeypatch):
    """Chunks of 3 frames at the test clips' 10 fps, so that tiny clips have several."""
    monkeypatch.setattr(chunks, "CHUNK_SECONDS", 0.3)


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


def test_a_render_crashed_midway_resumes_to_the_same_frames_without_dreaming_them_again(
        tmp_path, short_chunks):
    source = tmp_path / "clip.mp4"
    moving_clip(source, frames=16, size=(96, 64), audio=True)
    dreamvid.render(source, tmp_path / "whole.mp4", **SIDE_BY_SIDE)

    output = tmp_path / "resumed.mp4"
    with power_cut_at_round(7):
        dreamvid.render(source, output, **SIDE_BY_SIDE)
    assert not output.exists()
    chunked = [name for path in folder(output).iterdir() if (name := parse_chunk(path.name))]
    done = done_frames(output)
    assert chunked and len(done) >= 8  # two chains, 6 rounds: 12 frames less the second one's warm-up
    pieces = sorted(path.name for path in folder(output).glob("*.png"))
    assert len(pieces) <= 2 * 4, pieces  # per chain: the frames of the chunk it fills and its last frame
    [result] = dreamvid.render(source, output, **SIDE_BY_SIDE)
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


@pytest.mark.parametrize("encoder", ["fast", "slow", "stalling"])
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

    def measured_save(self, segment, index, pixels):
        real_save(self, segment, index, pixels)
        png_bytes.append(len(cv2.imencode(".png", pixels[..., ::-1])[1]))  # as the piece was written
        files = _files(self.work.path)
        samples.append((sum(suffix == ".png" for suffix, _ in files), sum(size for _, size in files)))

    monkeypatch.setattr(CheckpointStore, "save", measured_save)
    output = tmp_path / "out.mp4"
    dreamvid.render(source, output, keep_parts=True, **SIDE_BY_SIDE)
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


KILLABLE = """
import sys
from dreamvid.temporal import chunks
chunks.CHUNK_SECONDS = 0.3
from dreamvid.cli import main
main(sys.argv[1:])
"""


def test_a_render_killed_with_sigkill_resumes_to_the_same_frames(tmp_path, short_chunks):
    source = tmp_path / "clip.mp4"
    moving_clip(source, frames=18, size=(96, 64))
    reference = tmp_path / "reference.mp4"
    dreamvid.render(source, reference, **SIDE_BY_SIDE)
    output = tmp_path / "killed.mp4"
    command = [sys.executable, "-c", KILLABLE, str(source), "-o", str(output), "-q", "--model", "vgg16-hed",
               "--steps", "1", "--octaves", "1", "--flow-steps", "1", "--jitter", "4", "--streams", "2",
               "--batch", "2", "--warmup", "2"]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    kill_when(process, lambda: len(done_frames(output)) >= 8 and bool(list(folder(output).glob("chunk_*"))), 240)
    assert len(done_frames(output)) < 18 and not output.exists()
    assert len(list(folder(output).glob("*.png"))) <= 2 * 4 + 2  # the rest is in chunks
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=240)
    assert np.array_equal(np.stack(list(read_frames(output))), np.stack(list(read_frames(reference))))
    assert probe_video(output).frame_count == 18


def test_the_resume_dreams_only_what_was_not_on_disk(tmp_path, short_chunks):
    """After a kill, the frame log tells which frames the resumed run dreamed: none that was done."""
    source = tmp_path / "clip.mp4"
    moving_clip(source, frames=12, size=(96, 64))
    output = tmp_path / "out.mp4"
    command = [sys.executable, "-c", KILLABLE, str(source), "-o", str(output), "-q", "--model", "vgg16-hed",
               "--steps", "1", "--octaves", "1", "--flow-steps", "1", "--jitter", "4", "--keep-parts"]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    kill_when(process, lambda: bool(list(folder(output).glob("chunk_*"))) and len(done_frames(output)) >= 5, 240)
    done = set(done_frames(output))
    log = folder(output) / "frames.jsonl"
    before = len(log.read_text().splitlines())
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=240)
    dreamed_again = {json.loads(line)["frame"] for line in log.read_text().splitlines()[before:]}
    assert dreamed_again == set(range(12)) - done
    assert probe_video(output).frame_count == 12


def test_a_resume_with_another_crf_is_refused_before_any_work(tmp_path, cli, short_chunks):
    moving_clip(tmp_path / "clip.mp4", frames=4, size=(64, 48))
    dreamvid.render(tmp_path / "clip.mp4", tmp_path / "out.mp4", keep_parts=True, **QUICK)
    args = ["clip.mp4", "-o", "out.mp4", "--overwrite", "--model", "vgg16-hed", "--steps", "1", "--octaves", "1",
            "--flow-steps", "1", "--jitter", "4"]
    run = cli(tmp_path, *args, "--crf", "30")
    assert run.status == 2 and run.loaded == []
    assert run.stderr.strip().endswith("holds frames encoded with --crf 18: run with --crf 18 to resume it, "
                                       "or add --fresh to start over"), run.stderr


def test_before_the_first_chunk_the_crf_may_still_change(tmp_path, short_chunks):
    source = tmp_path / "clip.mp4"
    moving_clip(source, frames=6, size=(64, 48))
    output = tmp_path / "out.mp4"
    with power_cut_at_round(3):
        dreamvid.render(source, output, **QUICK)
    assert done_frames(output) == [0, 1] and not list(folder(output).glob("chunk_*"))
    [result] = dreamvid.render(source, output, crf=30, **QUICK)
    assert result.frames == 4 and json.loads((tmp_path / "out.mp4.json").read_text())["parameters"]["crf"] == 30


def test_a_frame_counts_as_used_once_a_chunk_holds_it(tmp_path):
    names = {f"f{index}.png": [1, 0] for index in range(8)}
    plan = {"kind": "sequence", "identity": {"files": names},
            "segments": [{"index": 0, "start": 0, "end": 4, "warmup": 0},
                         {"index": 1, "start": 4, "end": 8, "warmup": 2}]}
    (tmp_path / chunk_name(0, 3)).write_bytes(b"")  # frames 0-2, and the second chain's warm-up frame 2
    (tmp_path / "frame_000005.png").write_bytes(b"")
    assert _used(tmp_path, plan) == {"f0.png", "f1.png", "f2.png", "f3.png", "f4.png", "f5.png"}


def test_a_folder_of_frames_keeps_its_pieces_until_the_end(tmp_path, short_chunks):
    """A folder output is not chunked: each finished frame waits lossless, as before."""
    source = tmp_path / "clip.mp4"
    moving_clip(source, frames=6, size=(64, 48))
    dreamvid.render(source, tmp_path / "frames", keep_parts=True, **QUICK)
    work = tmp_path / "frames.parts"
    assert len(list(work.glob("frame_*.png"))) == 6 and not list(work.glob("chunk_*"))
    assert len(list((tmp_path / "frames").glob("*.png"))) == 6


def test_an_abort_stops_a_chunk_between_frames_and_keeps_its_pieces(tmp_path, short_chunks):
    from dreamvid.temporal.assemble import open_output
    from dreamvid.journal.workfolder import WorkFolder

    work = WorkFolder(tmp_path, {})
    segment = Segment(0, 0, 6)
    store = CheckpointStore(work, (segment,), {})
    for index in range(6):
        store.save(segment, index, np.full((4, 6, 3), index * 40, np.uint8))

    opened = threading.Event()

    class Sink:
        chunked, fps, frames, chunk_suffix = True, 10, [], ".mp4"

        def encode_chunk(self, path, frames, first):
            opened.wait()
            for frame in frames:
                self.frames.append(frame)
                output._stop.wait(10)  # the abort arrives while the chunk is being encoded

        def abort(self):
            pass

    output = open_output(Sink(), store, 0, 6, {"encode": 0.0})
    opened.set()
    output.abort()
    output.raise_if_failed()
    assert len(Sink.frames) <= 1 and not store.has_chunk(0, 3)
    assert sorted(path.name for path in tmp_path.glob("*.png")) == [f"frame_{k:06d}.png" for k in range(6)]
