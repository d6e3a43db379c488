"""Resume identity, in one place: what a work folder's plan records of the job (dreamvid version,
fingerprint of the parameters, the source's identity) and the check that a rerun may go on with it.
A changed parameter, source or dreamvid version is refused rather than silently mixing two renders."""
from __future__ import annotations

import hashlib
import json
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import UserError
from ..schedule import Schedule
from ..settings import FIELDS, SCHEDULED, parse_layer_spec, schedule
from ..sidecar import fingerprint, version
from .names import parse_chunk

if TYPE_CHECKING:  # pragma: no cover
    from ..job import Job

PLAN = "plan.json"
# Parameters that do not change the dreamed frames: a resume may change them (but see ENCODED). The codec
# does not either: a video's frames are dreamed and checkpointed at its source's depth whatever it is written as.
NOT_IN_FRAMES = ("crf", "codec", "audio", "fps", "batch")
# Parameters that a video's chunks are encoded with. Once a chunk is on disk its lossless frames are gone,
# so a resume with another value is refused (naming --fresh) rather than mixing two qualities (or codecs,
# which could not even be joined) in one file or quietly ignoring the option; before the first chunk, it
# may still change.
ENCODED = ("crf", "codec")
SAMPLE = 1 << 20  # bytes of a video hashed at its start, middle and end


def check_resumable(path: Path, plan: dict[str, Any]) -> None:
    """A UserError unless `path` is absent or holds pieces that `plan` can go on with: made by the same
    dreamvid version, from the same source, with the same fingerprint."""
    if not path.exists():
        return
    old = read_plan(path)
    if old.get("dreamvid") != plan["dreamvid"]:
        maker = f"dreamvid {old['dreamvid']}" if old.get("dreamvid") else "an older dreamvid"
        raise UserError(f"{path} holds a partial render made by {maker} (this is dreamvid {plan['dreamvid']}): "
                        f"add --fresh to start over")
    change = identity_change(old.get("identity") or {}, plan.get("identity") or {}, _used(path, old))
    if change:
        raise UserError(f"{plan['source']} changed since its partial render ({change}): add --fresh to start over")
    if old.get("fingerprint") != plan["fingerprint"]:
        changed = _changed(old.get("parameters", {}), plan.get("parameters", {}))
        raise UserError(f"{path} holds a render made with other parameters ({changed}): "
                        f"run with those parameters to resume it, or add --fresh to start over")
    before, after = old.get("parameters", {}), plan.get("parameters", {})
    for key in ENCODED:
        # a parameter left out of the record is at its default (Settings.to_dict)
        was, now = (params.get(key, FIELDS[key].default) for params in (before, after))
        if was != now and any(parse_chunk(p.name) for p in path.glob("chunk_*")):
            raise UserError(f"{path} holds frames encoded with --{key} {was}: run with --{key} "
                            f"{was} to resume it, or add --fresh to start over")


def _used(path: Path, plan: dict[str, Any]) -> set[str]:
    """The source files that the pieces in a work folder were made from: an image of a folder by its
    own name; a frame of a chain (named by its index, e.g. frame_000003.png) depends on every frame
    of its segment up to it, and so does the last frame of a chunk (chunk_000000-000050.mp4 holds frames
    0 to 49, and the warm-up frames of the next segment up to 49). A file not used yet may change (say,
    a broken frame repaired) without harm."""
    names = list((plan.get("identity") or {}).get("files", {}))
    if plan.get("kind") == "stills":
        return {name for name in names if (path / name).is_file()}
    made = {int(index) for piece in path.glob("*.png") if (index := piece.stem.rpartition("_")[2]).isdigit()}
    made |= {chunk[1] - 1 for piece in path.glob("chunk_*") if (chunk := parse_chunk(piece.name))}
    used: set[str] = set()
    for segment in plan.get("segments") or [{"start": 0, "end": len(names)}]:
        first = segment["start"] - segment.get("warmup", 0)
        last = max((index for index in made if first <= index < segment["end"]), default=first - 1)
        used.update(names[first:last + 1])
    return used


def source_identity(source: Path, frames: tuple[Path, ...], count: int,
                    size: tuple[int, int] | None) -> dict[str, Any]:
    """What a plan records of its source, without decoding: a video's length, date and a hash of
    three sampled blocks; the names, lengths and dates of a sequence's or folder's images; the frame
    count and (width, height)."""
    identity: dict[str, Any] = {"frames": count, "size": list(size) if size else None}
    if frames:
        identity["files"] = {frame.name: _stat(frame) for frame in frames}
    else:
        length, modified = _stat(source)
        identity.update(bytes=length, modified=modified, sample=_sample_hash(source, length))
    return identity


def _stat(path: Path) -> list[int]:
    stat = path.stat()
    return [stat.st_size, stat.st_mtime_ns]


def _sample_hash(path: Path, length: int) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as file:
        for offset in sorted({0, max(0, length // 2 - SAMPLE // 2), max(0, length - SAMPLE)}):
            file.seek(offset)
            digest.update(file.read(SAMPLE))
    return digest.hexdigest()[:16]


def identity_change(old: dict[str, Any], new: dict[str, Any], used: set[str]) -> str | None:
    """What differs between two source identities, in words; None when they match. Of the files of a
    sequence or folder, only the `used` ones count (a folder of stills may also gain images)."""
    if old.get("frames") != new.get("frames"):
        return f"{old.get('frames')} -> {new.get('frames')} frames"
    if old.get("size") != new.get("size"):
        return f"picture {_size(old.get('size'))} -> {_size(new.get('size'))}"
    if old.get("bytes") != new.get("bytes"):
        return f"size {old.get('bytes')} -> {new.get('bytes')} bytes"
    if old.get("sample") != new.get("sample"):
        return "content changed"
    if old.get("modified") != new.get("modified"):
        return f"modified {_date(old.get('modified'))} -> {_date(new.get('modified'))}"
    before, after = old.get("files", {}), new.get("files", {})
    for name in sorted(used & (before.keys() - after.keys())):
        return f"{name} is gone"
    for name in sorted(used & before.keys()):
        if before[name] != after[name]:
            return f"{name} changed: " + (f"size {before[name][0]} -> {after[name][0]} bytes"
                                          if before[name][0] != after[name][0] else
                                          f"modified {_date(before[name][1])} -> {_date(after[name][1])}")
    return None


def _size(size: list[int] | None) -> str:
    return f"{size[0]}x{size[1]}" if size else "unknown"


def _date(nanoseconds: int | None) -> str:
    if nanoseconds is None:
        return "unknown"
    return datetime.fromtimestamp(nanoseconds / 1e9, timezone.utc).isoformat(timespec="seconds")


def read_plan(path: Path) -> dict[str, Any]:
    try:
        return json.loads((path / PLAN).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        raise UserError(f"{path} exists but is not a dreamvid work folder: move it away or add --fresh") from None


def _changed(old: dict[str, Any], new: dict[str, Any]) -> str:
    keys = sorted(key for key in old.keys() | new.keys() if old.get(key) != new.get(key) and key != "batch")
    if not keys:
        return "a different source or version"
    return ", ".join(f"{key}: {old.get(key)!r} -> {new.get(key)!r}" for key in keys[:4])


def job_fingerprint(job: "Job", params: dict) -> str:
    """What a resumed job must share with the run that made its checkpoints. --fps changes no frame,
    unless a schedule counts seconds (a key in seconds, an expression of `s`), which a sequence counts at --fps."""
    timed = any(plan.timed for plan in _schedules(params))
    ignore = tuple(key for key in NOT_IN_FRAMES if not (key == "fps" and timed))
    return fingerprint({**params, "source": str(job.source.resolve())}, ignore=ignore)


def _schedules(params: dict) -> list[Schedule]:
    """The schedules among a render's recorded parameters (text values of the schedulable ones, and layer
    weights), parsed as the render parsed them."""
    texts = [params[key] for key in SCHEDULED if isinstance(params.get(key), str)]
    layers = [parse_layer_spec(text) for text in params.get("layers") or () if isinstance(text, str)]
    return [schedule(text) for text in texts] + [layer.schedule for layer in layers if isinstance(layer.weight, str)]


def job_plan(job: "Job", params: dict) -> dict:
    """The plan a work folder starts with: a resume must match its version, source and fingerprint."""
    return {"dreamvid": version(), "fingerprint": job_fingerprint(job, params), "parameters": params,
            "source": str(job.source), "kind": job.kind, "identity": job.identity}
