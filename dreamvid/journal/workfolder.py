"""The work folder of a long render: the plan that made it (written once, see resume.py) and the
finished pieces (each written to a temporary name, then renamed). Resume is "plan minus what is there"."""
from __future__ import annotations

import contextlib
import json
import os
import shutil
from pathlib import Path
from typing import Any

from ..sidecar import write_json
from .resume import PLAN, check_resumable, read_plan


class WorkFolder:
    def __init__(self, path: Path, plan: dict[str, Any]):
        self.path = path
        self.plan = plan

    @classmethod
    def open(cls, path: Path, plan: dict[str, Any], fresh: bool = False) -> "WorkFolder":
        """Create the folder, or reopen it when its plan matches `plan` (same version, source and fingerprint)."""
        if path.exists() and fresh:
            shutil.rmtree(path)
        if path.exists():
            check_resumable(path, plan)
            # Its own plan (e.g. its segments) wins over a new one, but the source is as it is now.
            plan = {**read_plan(path), "identity": plan.get("identity")}
            write_json(path / PLAN, plan)
        else:
            path.mkdir(parents=True)
            write_json(path / PLAN, plan)
        return cls(path, plan)

    def update_plan(self, **fields: Any) -> None:
        """Add to the plan (e.g. the segments, decided once the folder exists)."""
        self.plan = {**self.plan, **fields}
        write_json(self.path / PLAN, self.plan)

    def piece(self, name: str) -> Path:
        return self.path / name

    def has(self, name: str) -> bool:
        return (self.path / name).is_file()

    def remove(self) -> None:
        """Renamed aside, then deleted: a kill during a long deletion (a sequence keeps every frame) leaves
        no half work folder where a rerun looks for one, only a hidden one that the next command sweeps."""
        sweep(self.path)
        with contextlib.suppress(FileNotFoundError):
            os.replace(self.path, _trash(self.path))
        sweep(self.path)


def _trash(path: Path) -> Path:
    return path.with_name(f".{path.name}.removing")


def sweep(path: Path) -> None:
    """Delete what a kill left of the removal of the work folder `path` (see WorkFolder.remove)."""
    shutil.rmtree(_trash(path), ignore_errors=True)


FRAME_LOG = "frames.jsonl"


def log_frames(work: WorkFolder, finished) -> None:
    """Append (fsynced, one line per frame) how long each frame took and whether it begins a shot, so
    the record of a resumed render still tells where the time of every frame went."""
    lines = "".join(json.dumps({"frame": done.index, "seconds": round(done.seconds, 4), "cut": done.cut}) + "\n"
                    for done in finished)
    with open(work.piece(FRAME_LOG), "a", encoding="utf-8") as log:
        log.write(lines)
        log.flush()
        os.fsync(log.fileno())


def frame_log(work: WorkFolder, start: int, end: int) -> tuple[list[float | None], list[int]]:
    """Seconds spent on each frame of [start, end) (a frame dreamed twice, as a warm-up and as a kept
    frame, or again after a kill, counts both; None where unknown) and the frames that began a shot."""
    seconds: list[float | None] = [None] * (end - start)
    cuts = set()
    path = work.piece(FRAME_LOG)
    for line in path.read_text(encoding="utf-8").splitlines() if path.is_file() else []:
        try:
            entry = json.loads(line)
        except ValueError:  # the last line of a log cut short by a kill
            continue
        if start <= entry["frame"] < end:
            seconds[entry["frame"] - start] = round((seconds[entry["frame"] - start] or 0.0) + entry["seconds"], 4)
        if entry["cut"]:
            cuts.add(entry["frame"])
    return seconds, sorted(cuts)
