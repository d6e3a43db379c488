"""Looks on a Ray cluster: a worker dreams the --color-match reference (the driver has no model) and reads
the matte itself; the frames are the local render's, bit for bit."""
from __future__ import annotations

import json
import os
from pathlib import Path

import cv2
import numpy as np
import pytest

import dreamvid
from clips import moving_clip
from stub_dreamer import StubDreamer, StubFactory
from helpers import half_matte

TESTS = Path(__file__).resolve().parents[1]  # where stub_dreamer is, for the workers
LOOKS = dict(steps=3, step_size=0.02, flow_steps=1, colors=0.5, color_match="first", streams=3, warmup=2)


@pytest.fixture(scope="module")
def ray_runtime():
    ray = pytest.importorskip("ray")
    os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(TESTS), os.environ.get("PYTHONPATH")]))
    started = not ray.is_initialized()
    if started:
        ray.init(address="local", num_cpus=2, include_dashboard=False, logging_level="error", log_to_driver=False)
    yield
    if started:
        ray.shutdown()


def test_looks_on_ray_are_the_local_frames(tmp_path, ray_runtime):
    from dreamvid.temporal.cluster import RayOptions

    moving_clip(tmp_path / "clip.mp4", frames=12, size=(64, 48), dx=3, dy=0)
    half_matte(tmp_path / "matte.png", 64, 48, soft=8)
    looks = dict(mask=tmp_path / "matte.png", **LOOKS)
    dreamvid.render(tmp_path / "clip.mp4", tmp_path / "local/", dreamer=StubDreamer(), **looks)
    dreamvid.render(tmp_path / "clip.mp4", tmp_path / "ray/", ray=RayOptions("auto", workers=2, dreamer=StubFactory()),
                    **looks)
    local, remote = (sorted((tmp_path / name).glob("*.png")) for name in ("local", "ray"))
    assert [p.name for p in local] == [p.name for p in remote] and len(local) == 12
    for a, b in zip(local, remote):
        assert np.array_equal(cv2.imread(str(a)), cv2.imread(str(b))), a.name
    records = [json.loads((tmp_path / name / "dreamvid.json").read_text()) for name in ("local", "ray")]
    assert records[0]["colour_reference"] == records[1]["colour_reference"]
