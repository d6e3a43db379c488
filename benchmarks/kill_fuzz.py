"""Kill renders at random moments and resume them; check that the resumed output is the reference's.

For each kind of tiny input made here (videos from tests/clips.py, a folder of stills with alpha and
EXIF rotation, a numbered sequence, a zoom, a queue of two), the real `dreamvid` command runs once
uninterrupted (the reference), then per trial: it is started again in a fresh folder, sent SIGKILL,
SIGTERM or SIGINT (to the process, or to its group as a terminal's Ctrl-C does) at a random moment
(a random time, which covers the model load; a moment after the k-th checkpoint; a moment after a hidden
temporary output appeared, which covers encoding, the swap and the exit), sometimes killed again during
the resume, and run again with the same command until it completes. The stage it was killed in is read
from the disk: startup, first-frame, mid-render, encoding (a hidden output beside the work folder),
swap, after (the output complete), finished-before. Each trial is replayable from its seed and number.

    python benchmarks/kill_fuzz.py --trials 45 --seed 2            # all kinds, round robin
    python benchmarks/kill_fuzz.py --trials 45 --seed 2 --only 15  # replay trial 15 of that run

Checks per trial: the output after completion equals the reference (decoded frames and their
timestamps via ffmpeg framemd5 for videos, pixels and mode for images), the audio stream is there as in
the reference, the folder holds the reference's names and nothing else (no work folder, no hidden
.partial), no output exists after the kill unless it is complete, a SIGINT/SIGTERM exits 130/143 with one
line, and the inputs are untouched. Writes benchmarks/results/kill-fuzz.json. Never a test.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
import clips  # noqa: E402  (tests/clips.py: synthetic clips with the bundled ffmpeg)

FFMPEG = clips.FFMPEG
DREAMVID = str(Path(sys.executable).with_name("dreamvid"))
SMALL = ["--model", "vgg16-hed", "--steps", "2", "--flow-steps", "1", "--octaves", "1", "--max-side", "96",
         "-q"]
NOISE = ("WARNING: All log messages", "I0000", "W0000", "E0000", "To enable the following", "oneDNN")


# ---------------------------------------------------------------- inputs


def _photo(seed: int, size=(96, 64)) -> np.ndarray:
    return clips.texture(size[1], size[0], seed)


def make_stills(folder: Path) -> None:
    """Six stills: plain PNGs and JPEGs, an RGBA PNG with a gradient alpha, a JPEG with EXIF orientation 6."""
    folder.mkdir()
    for k in range(3):
        Image.fromarray(_photo(10 + k)).save(folder / f"plain{k}.png")
    Image.fromarray(_photo(20)).save(folder / "photo.jpg", quality=95)
    rgba = np.dstack([_photo(21), np.tile(np.linspace(0, 255, 96).astype(np.uint8), (64, 1))])
    Image.fromarray(rgba, "RGBA").save(folder / "alpha.png")
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise to display
    Image.fromarray(_photo(22, (80, 64))).save(folder / "rotated.jpg", quality=95, exif=exif.tobytes())


def make_sequence(folder: Path) -> None:
    folder.mkdir()
    for k, frame in enumerate(clips.translating_frames(8, (96, 64), 2, 1, seed=6)):
        Image.fromarray(frame).save(folder / f"shot_{k + 1:04d}.png")


def kinds(base: Path) -> dict[str, dict]:
    """name -> how to make its inputs in a folder, and the command (relative paths, run in that folder)."""
    return {
        "video_audio": dict(make=lambda d: clips.moving_clip(d / "clip.mp4", frames=12, audio=True),
                            args=["clip.mp4"]),
        "video_cut": dict(make=lambda d: clips.cut_clip(d / "cut.mp4", frames=12, cut_at=6),
                          args=["cut.mp4"]),
        "video_vfr": dict(make=lambda d: clips.vfr_clip(d / "vfr.mp4", [0, 0.1, 0.25, 0.3, 0.5, 0.55, 0.7, 0.9, 1.0],
                                                        audio=True),
                          args=["vfr.mp4"]),
        "video_mkv": dict(make=lambda d: clips.container_clip(d / "clip.mkv", frames=10), args=["clip.mkv"]),
        "video_mov": dict(make=lambda d: clips.container_clip(d / "clip.mov", frames=10), args=["clip.mov"]),
        "stills": dict(make=lambda d: make_stills(d / "stills"), args=["stills"]),
        "sequence": dict(make=lambda d: make_sequence(d / "shot"), args=["shot", "--sequence"]),
        "zoom": dict(make=lambda d: Image.fromarray(_photo(30)).save(d / "photo.png"),
                     args=["zoom", "photo.png", "-o", "zoom.mp4", "--frames", "8", "--zoom", "1.05"]),
        "queue": dict(make=lambda d: (clips.moving_clip(d / "a.mp4", frames=8, audio=True),
                                      clips.cut_clip(d / "b.mov", frames=8, cut_at=4), (d / "renders").mkdir()),
                      args=["a.mp4", "b.mov", "-o", "renders/"]),
    }


def command(kind: dict) -> list[str]:
    return [DREAMVID, *kind["args"], *SMALL]


# ---------------------------------------------------------------- looking at a folder


def tree(folder: Path) -> dict[str, str]:
    """Relative path -> sha256 of every file (and 'dir' for folders), hidden ones included."""
    out = {}
    for path in sorted(folder.rglob("*")):
        rel = str(path.relative_to(folder))
        out[rel] = "dir" if path.is_dir() else hashlib.sha256(path.read_bytes()).hexdigest()
    return out


def video_digest(path: Path) -> dict:
    """Decoded frames with their timestamps (framemd5), and the streams as ffmpeg names them."""
    frames = subprocess.run([FFMPEG, "-hide_banner", "-loglevel", "error", "-i", str(path), "-map", "0:v:0",
                             "-f", "framemd5", "-"], capture_output=True, text=True)
    lines = [line for line in frames.stdout.splitlines() if line and not line.startswith("#")]
    probe = subprocess.run([FFMPEG, "-hide_banner", "-i", str(path)], capture_output=True, text=True).stderr
    streams = [line.strip().split(": ", 1)[1].split(",")[0] for line in probe.splitlines() if "Stream #" in line]
    fps = [part.strip() for line in probe.splitlines() if "Video:" in line
           for part in line.split(",") if part.strip().endswith(("fps", "tbr"))]
    audio = subprocess.run([FFMPEG, "-hide_banner", "-loglevel", "error", "-i", str(path), "-map", "0:a?",
                            "-f", "md5", "-"], capture_output=True, text=True).stdout.strip()
    return {"frames": lines, "count": len(lines), "streams": streams, "fps": fps, "audio_md5": audio,
            "decode_error": frames.stderr.strip()[:200]}


def image_digest(path: Path) -> dict:
    with Image.open(path) as image:
        return {"mode": image.mode, "size": image.size,
                "pixels": hashlib.sha256(np.asarray(image).tobytes()).hexdigest()}


def outputs(folder: Path, inputs: set[str]) -> dict[str, dict]:
    """What a render wrote into `folder`: videos and images by content, records by their presence."""
    out = {}
    for rel, digest in tree(folder).items():
        if rel in inputs or digest == "dir":
            continue
        path = folder / rel
        suffix = path.suffix.lower()
        if suffix in (".mp4", ".mov", ".mkv", ".m4v"):
            out[rel] = video_digest(path)
        elif suffix in (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".webp"):
            out[rel] = image_digest(path)
        else:
            out[rel] = {"file": True}
    return out


def compare(reference: dict[str, dict], got: dict[str, dict]) -> list[str]:
    problems = []
    for rel in sorted(set(reference) | set(got)):
        if rel not in got:
            problems.append(f"missing {rel}")
        elif rel not in reference:
            problems.append(f"leftover {rel}")
        elif reference[rel] != got[rel]:
            fields = [key for key in reference[rel] if reference[rel][key] != got[rel].get(key)]
            detail = ""
            if "frames" in fields:
                same = sum(a == b for a, b in zip(reference[rel]["frames"], got[rel]["frames"]))
                detail = f" ({same}/{reference[rel]['count']} frames equal, got {got[rel]['count']})"
            problems.append(f"differs {rel}: {','.join(fields)}{detail}")
    return problems


def stage(folder: Path, inputs: set[str]) -> str:
    """Where a render was when it was killed, from what is on disk."""
    names = [p for p in folder.rglob("*") if str(p.relative_to(folder)) not in inputs]
    if not names:
        return "startup"  # model load, probing: nothing written yet
    work = [p for p in names if p.name.endswith((".parts", ".partial")) and p.is_dir()]
    hidden = [p for p in names if p.name.startswith(".") and not any(w in p.parents for w in work)]
    pieces = sum(1 for p in names if any(w in p.parents for w in work) and p.suffix in (".png", ".mp4", ".jpg"))
    if hidden:
        return "encoding" if work else "swap"  # the output being written beside its work folder, or swapped in
    if work and not pieces:
        return "first-frame"
    if work:
        return "mid-render"
    return "after"  # the output complete; the clean-up or the process's exit


# ---------------------------------------------------------------- running


def run(cmd: list[str], cwd: Path, timeout: float = 600) -> tuple[int, str, float]:
    start = time.monotonic()
    done = subprocess.run(["taskset", "-c", "1", "nice", "-n", "10", *cmd], cwd=cwd, capture_output=True,
                          text=True, timeout=timeout, env=_env())
    return done.returncode, done.stderr, time.monotonic() - start


def _env() -> dict:
    return {**os.environ, "CUDA_VISIBLE_DEVICES": ""}


def run_killed(cmd: list[str], cwd: Path, trigger: tuple, number: int, group: bool, inputs: set[str]):
    """Start `cmd` and send it signal `number` (to its process group when `group`) when `trigger` holds:
    ("time", s) after s seconds; ("pieces", k, s) s seconds after k finished pieces are in the work folder;
    ("hidden", s) s seconds after a hidden temporary output appears. Returns (status, stderr, stage)."""
    process = subprocess.Popen(["taskset", "-c", "1", "nice", "-n", "10", *cmd], cwd=cwd, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True, env=_env(), start_new_session=True,
                               preexec_fn=_default_sigint)
    start, fired = time.monotonic(), None
    while process.poll() is None:
        now = time.monotonic() - start
        if fired is None and (trigger[0] == "time"
                              or (trigger[0] == "pieces" and _pieces(cwd, inputs) >= trigger[1])
                              or (trigger[0] == "hidden" and _hidden(cwd, inputs))):
            fired = now
        if fired is not None and now >= fired + trigger[-1]:
            break
        time.sleep(0.01)
    else:
        _, err = process.communicate()
        return process.returncode, err, "finished-before"
    where = stage(cwd, inputs)
    if group:
        os.killpg(process.pid, number)
    else:
        os.kill(process.pid, number)
    _, err = process.communicate(timeout=300)
    _reap_group(process.pid)
    return process.returncode, err, where


def _default_sigint() -> None:
    """A command started in the background (nohup, &) inherits SIGINT ignored, and Python keeps it so;
    a render started from a terminal takes Ctrl-C."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _pieces(folder: Path, inputs: set[str]) -> int:
    return sum(1 for p in folder.rglob("*") if p.parent.name.endswith((".parts", ".partial"))
               and p.suffix in (".png", ".mp4", ".jpg"))


def _hidden(folder: Path, inputs: set[str]) -> bool:
    return any(p.name.startswith(".") and "partial" in p.name for p in folder.rglob("*"))


def _reap_group(pgid: int) -> None:
    """Wait for orphans of a kill -9 (ffmpeg encoders) to finish, as they would on their own."""
    for _ in range(100):
        try:
            os.killpg(pgid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.1)


def clear_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.strip() and not line.startswith(NOISE)]


def trial(kind_name: str, kind: dict, inputs_dir: Path, reference: dict, ref_seconds: float, seed: int,
          work: Path, inputs: set[str], input_tree: dict) -> dict:
    rng = random.Random(seed)
    number = rng.choice([signal.SIGKILL, signal.SIGTERM, signal.SIGINT])
    group = rng.random() < (0.8 if number == signal.SIGINT else 0.4)  # Ctrl-C reaches the whole group
    mode = rng.random()
    if mode < 0.3:
        trigger = ("time", round(ref_seconds * rng.uniform(0.0, 1.0), 2))  # model load included
    elif mode < 0.65:
        trigger = ("pieces", rng.randint(1, 7), round(rng.uniform(0.0, 0.3), 2))
    else:
        trigger = ("hidden", round(rng.uniform(0.0, 1.5), 2))  # encoding, assembly, the swap
    again = rng.random() < 0.25  # kill the first resume too
    trigger2 = ("pieces", rng.randint(1, 7), round(rng.uniform(0.0, 0.3), 2))
    folder = work / f"{kind_name}-{seed}"
    shutil.copytree(inputs_dir, folder, copy_function=shutil.copy2)
    cmd = command(kind)
    record = {"kind": kind_name, "seed": seed, "signal": signal.Signals(number).name, "group": group,
              "trigger": trigger, "problems": [], "cmd": " ".join(cmd[0:1] + [c for c in cmd[1:]])}
    status, err, where = run_killed(cmd, folder, trigger, number, group, inputs)
    record.update(status=status, stage=where, stderr=clear_lines(err)[-3:])
    record["problems"] += check_after_kill(number, status, err, folder, inputs, reference)
    if again and status != 0:
        number2 = rng.choice([signal.SIGKILL, signal.SIGTERM, signal.SIGINT])
        status2, err2, where2 = run_killed(cmd, folder, trigger2, number2, False, inputs)
        record["second_kill"] = {"signal": signal.Signals(number2).name, "trigger": trigger2,
                                 "status": status2, "stage": where2}
        record["problems"] += [f"second kill: {p}" for p in
                               check_after_kill(number2, status2, err2, folder, inputs, reference)]
    resumes = []
    for _ in range(3):
        status, err, seconds = run(cmd, folder)
        resumes.append({"status": status, "seconds": round(seconds, 1), "stderr": clear_lines(err)[-3:]})
        if status == 0:
            break
    record["resumes"] = resumes
    if status != 0:
        record["problems"].append(f"resume failed: status {status}: {clear_lines(err)[-2:]}")
    got = outputs(folder, inputs)
    record["problems"] += compare(reference, got)
    now = {rel: digest for rel, digest in tree(folder).items() if rel in inputs}
    if now != input_tree:
        record["problems"].append(f"inputs changed: {sorted(k for k in input_tree if now.get(k) != input_tree[k])}")
    if not record["problems"]:
        shutil.rmtree(folder)
    else:
        record["folder"] = str(folder)
    return record


def check_after_kill(number, status, err, folder, inputs, reference) -> list[str]:
    problems = []
    lines = clear_lines(err)
    expected = {signal.SIGINT: (130, -2), signal.SIGTERM: (143, -15), signal.SIGKILL: (-9,)}[number]
    if status not in expected and status != 0:
        problems.append(f"status {status} after {signal.Signals(number).name}, expected {expected[0]}: {lines[-3:]}")
    if status in (130, 143) and (len(lines) != 1 or "Traceback" in err):
        problems.append(f"{len(lines)} lines on stderr after {signal.Signals(number).name}: {lines[:2]} ... "
                        f"{lines[-1:]}")
    if status == 0 and [line for line in lines if "exists: skipped" not in line]:  # a finished output is skipped
        problems.append(f"status 0 with stderr {lines[-2:]}")
    got = outputs(folder, inputs)
    for rel in reference:
        if rel in got and not rel.endswith(".json") and got[rel] != reference[rel]:
            problems.append(f"after the kill, an incomplete {rel} exists ({compare({rel: reference[rel]}, {rel: got[rel]})})")
    return problems


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--trials", type=int, default=40)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--kinds", default="")
    parser.add_argument("--only", type=int, default=None, help="run only this trial number (replay)")
    parser.add_argument("--work", type=Path, default=None)
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks/results/kill-fuzz.json")
    args = parser.parse_args()
    work = args.work or Path(tempfile.mkdtemp(prefix="kill-fuzz-"))
    work.mkdir(parents=True, exist_ok=True)
    all_kinds = kinds(work)
    names = args.kinds.split(",") if args.kinds else list(all_kinds)
    prepared = {}
    records = []
    for number in range(args.trials):
        name = names[number % len(names)]
        seed = args.seed * 1000 + number
        if args.only is not None and number != args.only:
            continue
        if name not in prepared:
            inputs_dir = work / f"{name}-inputs"
            inputs_dir.mkdir()
            all_kinds[name]["make"](inputs_dir)
            input_tree = tree(inputs_dir)
            ref_dir = work / f"{name}-reference"
            shutil.copytree(inputs_dir, ref_dir, copy_function=shutil.copy2)
            status, err, seconds = run(command(all_kinds[name]), ref_dir)
            if status != 0:
                sys.exit(f"reference of {name} failed ({status}): {err[-2000:]}")
            reference = outputs(ref_dir, set(input_tree))
            prepared[name] = (inputs_dir, reference, seconds, set(input_tree), input_tree)
            print(f"reference {name}: {seconds:.1f} s, {sorted(reference)}", flush=True)
        inputs_dir, reference, seconds, inputs, input_tree = prepared[name]
        record = trial(name, all_kinds[name], inputs_dir, reference, seconds, seed, work, inputs, input_tree)
        record["trial"] = number
        records.append(record)
        print(json.dumps({k: record[k] for k in ("trial", "kind", "seed", "signal", "group", "trigger", "stage",
                                                  "status", "problems")}), flush=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"trials": records, "work": str(work)}, indent=1))
    bad = [r for r in records if r["problems"]]
    print(f"{len(records)} trials, {len(bad)} with problems; work folder {work}")


if __name__ == "__main__":
    main()
