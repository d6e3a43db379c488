"""The work folder of a long render: the plan that made it (written once) and the finished pieces
(each written to a temporary name, then renamed). Resume is "plan minus what is there"; a changed
parameter is refused rather than silently mixing two renders."""
from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

from .errors import UserError
from .sidecar import write_json

PLAN = "plan.json"


class WorkFolder:
    def __init__(self, path: Path, plan: dict[str, Any]):
        self.path = path
        self.plan = plan

    @classmethod
    def open(cls, path: Path, plan: dict[str, Any], fresh: bool = False) -> "WorkFolder":
        """Create the folder, or reopen it when its plan matches `plan` (same fingerprint)."""
        if path.exists() and fresh:
            shutil.rmtree(path)
        if path.exists():
            check_resumable(path, plan["fingerprint"], plan.get("parameters", {}))
            plan = _read_plan(path)  # its own plan (e.g. its segments) wins over a new one
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
        shutil.rmtree(self.path, ignore_errors=True)


def check_resumable(path: Path, fingerprint: str, parameters: dict[str, Any] | None = None) -> None:
    """A UserError unless `path` is absent or holds pieces made with the same fingerprint."""
    if not path.exists():
        return
    old = _read_plan(path)
    if old.get("fingerprint") != fingerprint:
        changed = _changed(old.get("parameters", {}), parameters) if parameters else "see its plan.json"
        raise UserError(f"{path} holds a render made with other parameters ({changed}): "
                        f"run with those parameters to resume it, or add --fresh to start over")


def _read_plan(path: Path) -> dict[str, Any]:
    try:
        return json.loads((path / PLAN).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        raise UserError(f"{path} exists but is not a dreamvid work folder: move it away or add --fresh") from None


def _changed(old: dict[str, Any], new: dict[str, Any]) -> str:
    keys = sorted(key for key in old.keys() | new.keys() if old.get(key) != new.get(key) and key != "batch")
    if not keys:
        return "a different source or version"
    return ", ".join(f"{key}: {old.get(key)!r} -> {new.get(key)!r}" for key in keys[:4])
