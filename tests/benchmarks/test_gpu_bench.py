"""The GPU benchmark's CPU dry run: the same script as on the GPU machine, at tiny sizes, so that it
cannot rot between the sessions that are lent a GPU. It measures nothing that matters here."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_the_gpu_benchmark_runs_through_at_tiny_sizes(tmp_path):
    path = f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"  # run.sh calls python3
    run = subprocess.run(["bash", str(ROOT / "benchmarks/gpu/run.sh"), "--dry-run"], check=False, cwd=ROOT,
                         env={**os.environ, "OUT": str(tmp_path), "PATH": path},
                         capture_output=True, text=True, timeout=900)
    assert run.returncode == 0, run.stderr[-3000:]
    result = json.loads((tmp_path / "gpu-bench.json").read_text())
    assert result["dry_run"] and result["machine"]["cores"] >= 1
    timed = [entry for entry in result["step"] if "ms_per_step" in entry]
    assert {entry["backend"] for entry in timed} == {"jax", "torch"}
    assert {entry["precision"] for entry in timed} == {"float32", "bfloat16"}
    assert all(entry["ms_per_step"] > 0 and entry["forward_gflops_per_image"] > 0 for entry in timed)
    assert [entry["run"] for entry in result["render"]] == ["cold", "warm"]
    assert all(entry["frames"] == 6 and entry["frames_per_second"] > 0 for entry in result["render"])
    assert set(result["render"][1]["stage_shares"]) == {"dream", "decode", "flow", "write", "encode", "wait"}
    assert result["pipeline"] and result["pipeline"][0]["frames"] == 6
