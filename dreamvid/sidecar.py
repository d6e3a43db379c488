"""The JSON record written beside every output: enough to reproduce the render."""
from __future__ import annotations

import hashlib
import json
import os
import platform
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from .settings import Settings


def version() -> str:
    from importlib.metadata import PackageNotFoundError, version as package_version

    try:
        return package_version("dreamvid")
    except PackageNotFoundError:  # running from a source tree
        return "0+unknown"


def parameters(settings: Settings, **resolved: Any) -> dict[str, Any]:
    """Every parameter, with the model defaults resolved (layers, weights, batch)."""
    data = settings.to_dict()
    data.update({key: value for key, value in resolved.items() if value is not None})
    return data


def fingerprint(params: dict[str, Any], ignore: tuple[str, ...] = ()) -> str:
    """A short hash of the parameters that shape the frames (resume refuses a changed one)."""
    kept = {key: value for key, value in params.items() if key not in ignore}
    return hashlib.sha256(json.dumps(kept, sort_keys=True).encode()).hexdigest()[:16]


def write_json(path: Path, data: dict[str, Any]) -> None:
    temporary = path.with_name(f".{path.name}.partial")
    temporary.write_text(json.dumps(data, indent=2, default=str) + "\n", encoding="utf-8")
    os.replace(temporary, path)


def write_sidecar(path: Path, params: dict[str, Any], **extra: Any) -> None:
    record = {
        "dreamvid": version(),
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "python": platform.python_version(),
        "parameters": params,
        **extra,
    }
    write_json(path, record)
