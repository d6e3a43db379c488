"""The JSON record of every output: enough to reproduce the render, and the proof of which files
dreamvid wrote (`<output>.json` beside a file, `dreamvid.json` inside a folder listing its files), so
that it never replaces a file it did not write."""
from __future__ import annotations

import hashlib
import json
import platform
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from .atomic import carry_over, naming, swap_folder, write_text

RECORD = "dreamvid.json"  # inside a folder output


def version() -> str:
    from importlib.metadata import PackageNotFoundError, version as package_version

    try:
        return package_version("dreamvid")
    except PackageNotFoundError:  # running from a source tree
        return "0+unknown"


def fingerprint(params: dict[str, Any], ignore: tuple[str, ...] = ()) -> str:
    """A short hash of the parameters that shape the frames (resume refuses a changed one)."""
    kept = {key: value for key, value in params.items() if key not in ignore}
    return hashlib.sha256(json.dumps(kept, sort_keys=True).encode()).hexdigest()[:16]


def write_json(path: Path, data: dict[str, Any]) -> None:
    write_text(path, json.dumps(data, indent=2, default=str) + "\n")


def sidecar_path(output: Path, folder: bool) -> Path:
    """The record of an output: beside a file, inside a folder."""
    return output / RECORD if folder else output.with_name(output.name + ".json")


def record(params: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {
        "dreamvid": version(),
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "python": platform.python_version(),
        "parameters": params,
        **extra,
    }


def write_sidecar(path: Path, params: dict[str, Any], **extra: Any) -> None:
    write_json(path, record(params, **extra))


def read_record(path: Path) -> dict[str, Any] | None:
    """The dreamvid record at `path`; None where there is none, or the file is not dreamvid's."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) and "dreamvid" in data and "parameters" in data else None


def owned_files(folder: Path) -> set[str]:
    """The files of a folder output that dreamvid wrote, as its record lists them."""
    found = read_record(folder / RECORD)
    return set(found.get("files", [])) if found else set()


def publish_folder(staging: Path, output: Path, names: list[str], data: dict[str, Any]) -> None:
    """Complete the new folder `staging`, which holds the `names` just made: the old output's other
    files (the user's, and dreamvid's not made again) are linked in, the record listing dreamvid's
    files is written last, and the whole folder is swapped in at `output` in one step."""
    owned = owned_files(output)
    kept = carry_over(output, staging, skip=set(names) | {RECORD})
    with naming(staging, output):
        write_json(staging / RECORD, {**data, "files": sorted(set(names) | (owned & set(kept)))})
    swap_folder(staging, output)
