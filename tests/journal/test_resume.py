"""What a resume must match: the parameters (a changed one refused unless --fresh; the crf of encoded
chunks; the guide's content), the source (a changed video or a replaced frame that was dreamed already)
and the version that made the plan; which frames count as used."""
from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

import dreamvid
from clips import moving_clip, translating_frames, write_frames
from doubles import StubDreamer
from dreamvid.engine.catalog import resolved_parameters
from dreamvid.errors import UserError
from dreamvid.jobs import plan_jobs
from dreamvid.journal.names import chunk_name
from dreamvid.journal.resume import _used, identity_change, job_plan
from dreamvid.settings import build_settings
from dreamvid.sidecar import write_json
from helpers import FAST, guide_picture, interrupted_folder_render, snapshot, write_picture


ONE_STEP = dict(model="vgg16-hed", steps=1, octaves=1, flow_steps=1, jitter=4)
QUICK = ["--model", "vgg16-hed", "--steps", "1", "--octaves", "1", "--flow-steps", "1", "--jitter", "4", "-q"]


def test_changed_parameter_is_refused_unless_fresh(tmp_path):
    source = tmp_path / "clip.mp4"
    moving_clip(source, frames=4)
    output = tmp_path / "out.mp4"
    dreamvid.render(source, output, keep_parts=True, dreamer=StubDreamer(), **FAST)
    with pytest.raises(UserError, match="steps"):
        dreamvid.render(source, output, overwrite=True, dreamer=StubDreamer(), **{**FAST, "steps": 4})
    # the chunks were encoded with the crf the render started with: another one is refused too
    with pytest.raises(UserError, match="encoded with --crf 18: run with --crf 18 to resume it, or add --fresh"):
        dreamvid.render(source, output, overwrite=True, crf=30, dreamer=StubDreamer(), **FAST)
    # audio only: the checkpoints still fit, and not one frame is dreamed again
    [result] = dreamvid.render(source, output, overwrite=True, keep_parts=True, audio=False, dreamer=StubDreamer(),
                               **FAST)
    assert result.status == "done" and result.frames == 0
    [result] = dreamvid.render(source, output, overwrite=True, fresh=True, dreamer=StubDreamer(),
                               **{**FAST, "steps": 4})
    assert result.frames == 4  # --fresh dreams every frame again

RENDER = ["--model", "vgg16-hed", "--steps", "2", "--octaves", "1", "--jitter", "4", "--quiet"]


def test_changed_parameter_refuses_to_resume_unless_fresh(tmp_path, command):
    _, work = interrupted_folder_render(tmp_path, steps=3)
    before = snapshot(tmp_path)
    run = command(tmp_path, "frames", "-o", "out", *RENDER, "--batch", "1")
    assert run.status == 2
    assert len(run.stderr.splitlines()) == 1 and "Traceback" not in run.stderr
    assert "steps: 3 -> 2" in run.stderr and "--fresh" in run.stderr
    assert snapshot(tmp_path) == before and not (tmp_path / "out").exists()

    run = command(tmp_path, "frames", "-o", "out", *RENDER, "--batch", "1", "--fresh")
    assert run.status == 0, run.stderr
    redone = cv2.imread(str(tmp_path / "out" / "frame1.png"))
    assert not (redone[..., 1] == 0).all()  # the stale magenta frame was dreamed again
    assert json.loads((tmp_path / "out" / "dreamvid.json").read_text())["parameters"]["steps"] == 2


def test_a_resume_with_another_crf_is_refused_before_any_work(tmp_path, command, short_chunks):
    moving_clip(tmp_path / "clip.mp4", frames=4, size=(64, 48))
    dreamvid.render(tmp_path / "clip.mp4", tmp_path / "out.mp4", keep_parts=True, dreamer=StubDreamer(), **ONE_STEP)
    args = ["clip.mp4", "-o", "out.mp4", "--overwrite", "--model", "vgg16-hed", "--steps", "1", "--octaves", "1",
            "--flow-steps", "1", "--jitter", "4"]
    run = command(tmp_path, *args, "--crf", "30")
    assert run.status == 2 and run.loaded == []
    assert run.stderr.strip().endswith("holds frames encoded with --crf 18: run with --crf 18 to resume it, "
                                       "or add --fresh to start over"), run.stderr


def test_a_guide_replaced_under_the_same_name_is_not_resumed_into(tmp_path):
    import dreamvid
    from clips import moving_clip
    from dreamvid.errors import UserError

    moving_clip(tmp_path / "clip.mp4", frames=3, size=(64, 48))
    guide = tmp_path / "guide.png"
    cv2.imwrite(str(guide), (guide_picture(48)[..., ::-1] * 255).astype(np.uint8))
    settings = dict(model="vgg16-hed", steps=1, octaves=1, guide=guide)
    dreamvid.render(tmp_path / "clip.mp4", keep_parts=True, dreamer=StubDreamer(), **settings)
    cv2.imwrite(str(guide), np.zeros((48, 48, 3), np.uint8))  # another picture, the same name
    with pytest.raises(UserError, match="guide_sha256"):
        dreamvid.render(tmp_path / "clip.mp4", overwrite=True, dreamer=StubDreamer(), **settings)


def test_fps_joins_the_fingerprint_only_when_a_schedule_counts_seconds(tmp_path):
    """A sequence's seconds are counted at --fps: resuming at another rate would shift the keys."""
    from dreamvid.job import Job
    from dreamvid.engine.catalog import resolved_parameters
    from dreamvid.journal.resume import job_fingerprint
    from dreamvid.settings import build_settings

    job = Job("sequence", tmp_path, tmp_path / "out")

    def key(**options):
        return job_fingerprint(job, resolved_parameters(build_settings({"model": "vgg16-hed", **options})))

    assert key(fps=24.0) == key(fps=30.0)  # plain numbers: the rate changes no frame
    assert key(step_size="0:(0.01), 48:(0.02)", fps=24.0) == key(step_size="0:(0.01), 48:(0.02)", fps=30.0)
    assert key(step_size="0:(0.01), 2s:(0.02)", fps=24.0) != key(step_size="0:(0.01), 2s:(0.02)", fps=30.0)
    assert key(layers=["block4_conv3=0:(1), 2s:(0)"], fps=24.0) != key(layers=["block4_conv3=0:(1), 2s:(0)"],
                                                                       fps=30.0)


# ---- a source that changed since the partial render ------------------------------------------------

def _partial(source: Path, output: Path, pieces: list[str]) -> Path:
    """The work folder a render of `source` leaves when killed after `pieces`."""
    settings = build_settings(FAST)
    [job] = plan_jobs([source], settings, output)
    job.work_folder.mkdir()
    write_json(job.work_folder / "plan.json", job_plan(job, {**resolved_parameters(settings), "batch": 1}))
    for name in pieces:
        write_picture(job.work_folder / name)
    return job.work_folder


def test_changed_video_is_refused_unless_fresh(tmp_path, command):
    clip = tmp_path / "clip.mp4"
    moving_clip(clip, frames=4, size=(64, 48))
    _partial(clip, tmp_path / "out.mp4", ["frame_000000.png"])
    moving_clip(clip, frames=3, size=(64, 48))  # re-encoded: another length
    before = snapshot(tmp_path)
    args = ["clip.mp4", "-o", "out.mp4", "--model", "vgg16-hed", "--steps", "3", "--octaves", "1",
            "--flow-steps", "1", "--jitter", "8", "-q"]
    run = command(tmp_path, *args)
    assert run.status == 2 and run.loaded == []
    assert run.stderr.splitlines() == [
        "dreamvid: error: clip.mp4 changed since its partial render (4 -> 3 frames): add --fresh to start over"]
    assert snapshot(tmp_path) == before

    run = command(tmp_path, *args, "--fresh")
    assert run.status == 0, run.stderr
    from dreamvid.io.decode import probe_video

    assert probe_video(tmp_path / "out.mp4").frame_count == 3 and not (tmp_path / "out.mp4.parts").exists()


def test_same_length_video_with_other_content_is_refused(tmp_path, command):
    clip = tmp_path / "clip.mp4"
    moving_clip(clip, frames=4, size=(64, 48))
    _partial(clip, tmp_path / "out.mp4", ["frame_000000.png"])
    moving_clip(clip, frames=4, size=(64, 48), dx=-3)
    run = command(tmp_path, "clip.mp4", "-o", "out.mp4", "--model", "vgg16-hed", "--steps", "3", "--octaves", "1",
                  "--flow-steps", "1", "--jitter", "8")
    assert run.status == 2 and "clip.mp4 changed since its partial render (size" in run.stderr, run.stderr


def test_replaced_frame_of_a_sequence_is_refused(tmp_path, command):
    """A frame already dreamed was replaced (a frame not dreamed yet may change: tests/cli/test_commands.py)."""
    paths = [tmp_path / "shot" / name
             for name in write_frames(tmp_path / "shot", translating_frames(4, (64, 48), dx=2, dy=1))]
    _partial(tmp_path / "shot" / "frame_%04d.png", tmp_path / "out", ["frame_000000.png", "frame_000001.png"])
    paths[1].write_bytes(paths[2].read_bytes())
    before = snapshot(tmp_path)
    run = command(tmp_path, "shot/frame_%04d.png", "-o", "out", *QUICK)
    assert run.status == 2 and run.loaded == []
    assert "frame_%04d.png changed since its partial render (frame_0001.png changed: " in run.stderr, run.stderr
    assert snapshot(tmp_path) == before


def test_plan_of_another_dreamvid_version_is_refused(tmp_path, command):
    clip = tmp_path / "clip.mp4"
    moving_clip(clip, frames=3, size=(64, 48))
    work = _partial(clip, tmp_path / "out.mp4", [])
    plan = json.loads((work / "plan.json").read_text())
    write_json(work / "plan.json", {**plan, "dreamvid": "0.0.1"})
    run = command(tmp_path, "clip.mp4", "-o", "out.mp4", "--model", "vgg16-hed", "--steps", "3", "--octaves", "1",
                  "--flow-steps", "1", "--jitter", "8")
    assert run.status == 2 and run.loaded == []
    assert "made by dreamvid 0.0.1 (this is dreamvid " in run.stderr and "--fresh" in run.stderr, run.stderr


def test_identity_change_names_what_changed():
    video = {"frames": 10, "size": [96, 64], "bytes": 1234, "modified": 0, "sample": "aa"}
    assert identity_change(video, video, set()) is None
    assert identity_change(video, {**video, "bytes": 999}, set()) == "size 1234 -> 999 bytes"
    assert identity_change(video, {**video, "size": [48, 32]}, set()) == "picture 96x64 -> 48x32"
    assert identity_change(video, {**video, "sample": "bb"}, set()) == "content changed"
    assert identity_change(video, {**video, "modified": 10**18}, set()).startswith("modified 1970-01-01")
    frames = {"frames": 2, "size": [8, 8], "files": {"a.png": [1, 0], "b.png": [1, 0]}}
    changed = {**frames, "files": {"a.png": [1, 0], "b.png": [2, 0]}}
    assert identity_change(frames, changed, {"a.png"}) is None  # b.png was not dreamed yet
    assert identity_change(frames, changed, {"a.png", "b.png"}) == "b.png changed: size 1 -> 2 bytes"
    gone = {**frames, "frames": 2, "files": {"a.png": [1, 0]}}
    assert identity_change(frames, gone, {"b.png"}) == "b.png is gone"


def test_a_frame_counts_as_used_once_its_segment_dreamed_it(tmp_path):
    names = {f"f{index}.png": [1, 0] for index in range(6)}
    plan = {"kind": "sequence", "identity": {"files": names},
            "segments": [{"index": 0, "start": 0, "end": 3, "warmup": 0},
                         {"index": 1, "start": 3, "end": 6, "warmup": 1}]}
    for piece in ("frame_000000.png", "frame_000004.png"):  # the second segment warmed up on f2
        (tmp_path / piece).write_bytes(b"")
    assert _used(tmp_path, plan) == {"f0.png", "f2.png", "f3.png", "f4.png"}  # f1 may still be repaired
    plan["segments"] = None  # one chain from the start
    assert _used(tmp_path, plan) == {"f0.png", "f1.png", "f2.png", "f3.png", "f4.png"}
    assert _used(tmp_path, {**plan, "kind": "stills"}) == set()


def test_a_frame_counts_as_used_once_a_chunk_holds_it(tmp_path):
    names = {f"f{index}.png": [1, 0] for index in range(8)}
    plan = {"kind": "sequence", "identity": {"files": names},
            "segments": [{"index": 0, "start": 0, "end": 4, "warmup": 0},
                         {"index": 1, "start": 4, "end": 8, "warmup": 2}]}
    (tmp_path / chunk_name(0, 3)).write_bytes(b"")  # frames 0-2, and the second chain's warm-up frame 2
    (tmp_path / "frame_000005.png").write_bytes(b"")
    assert _used(tmp_path, plan) == {"f0.png", "f1.png", "f2.png", "f3.png", "f4.png", "f5.png"}
