"""Temporal warping error (Lai et al., ECCV 2018): how much an output flickers against its source's motion.

Each output frame is compared with the previous output frame warped along the *source* flow, only
where that flow is reliable; a flicker-free output of a moving scene scores near zero. Frames are
streamed, so a whole clip is never held in memory.
"""

from __future__ import annotations

from collections.abc import Iterable
from itertools import zip_longest

import cv2
import numpy as np

from pathlib import Path

from .errors import UserError
from .flow import Motion, MotionEstimator, warp
from .imageops import MIN_FLOW_SIDE, flow_fits


def pair_error(prev_output: np.ndarray, output: np.ndarray, motion: Motion) -> float | None:
    """E_t: masked mean over pixels of the channel-averaged squared difference, values in [0, 1].

    None when the pair says nothing about flicker: a cut, or no reliable pixel at all.
    """
    weight = float(motion.mask.sum())
    if motion.cut or weight == 0.0:
        return None
    current = output.astype(np.float32) / 255.0
    carried = warp(prev_output, motion.backward).astype(np.float32) / 255.0
    squared = np.mean((current - carried) ** 2, axis=2)
    return float(np.sum(motion.mask * squared) / weight)


def frame_errors(
    outputs: Iterable[np.ndarray],
    sources: Iterable[np.ndarray],
    estimator: MotionEstimator | None = None,
) -> list[float | None]:
    """E_t for each consecutive pair t-1 -> t (None across a cut); RGB uint8 frames in order.

    Sources of another size than the outputs (dreamed smaller, or padded to even) are resized to
    the output size before the flow is computed.
    """
    return frame_scores(outputs, sources, estimator)[0]


def frame_scores(
    outputs: Iterable[np.ndarray],
    sources: Iterable[np.ndarray],
    estimator: MotionEstimator | None = None,
) -> tuple[list[float | None], list[int]]:
    """frame_errors, and the frames t (counted from 0) that begin a new shot: the cuts the errors skip."""
    estimator = estimator or MotionEstimator()
    errors: list[float | None] = []
    cuts: list[int] = []
    prev_output = prev_source = None
    for index, (output, source) in enumerate(zip_longest(outputs, sources)):
        if output is None or source is None:
            raise UserError(f"output and source differ in length: one ends after {index} frames")
        height, width = output.shape[:2]
        if source.shape[:2] != (height, width):
            source = cv2.resize(source, (width, height), interpolation=cv2.INTER_AREA)
        if prev_output is not None:
            motion = estimator.estimate(prev_source, source)
            errors.append(pair_error(prev_output, output, motion))
            if motion.cut:
                cuts.append(index)
        prev_output, prev_source = output, source
    return errors, cuts


def warping_error(
    outputs: Iterable[np.ndarray],
    sources: Iterable[np.ndarray],
    estimator: MotionEstimator | None = None,
) -> float:
    """Mean E_t over the pairs that count (not across a cut); 0.0 when there is none."""
    return _mean(frame_errors(outputs, sources, estimator))


def score_videos(source_path, dreamed_path, start: int | None = None) -> dict:
    """Warping error of a render and of its source over the same frames, for comparing settings.

    `start` is the render's first source frame; by default it is read from the render's sidecar
    (a render of `--frames 100:200` starts at 100), else 0."""
    from .io.decode import probe_video, read_frames

    dreamed_info = probe_video(dreamed_path)
    if not flow_fits(dreamed_info.height, dreamed_info.width):
        raise UserError(f"{dreamed_path}: frames of {dreamed_info.width}x{dreamed_info.height} are too small for "
                        f"the optical flow that scoring needs ({MIN_FLOW_SIDE} pixels a side at least)")
    if start is None:
        start = (_render_record(dreamed_path) or {}).get("frames", [0])[0]
    end = start + dreamed_info.frame_count
    source_info = probe_video(source_path)
    if end > source_info.frame_count:
        raise UserError(f"{dreamed_path} has more frames than {source_path} from frame {start}")

    def sources():
        return read_frames(source_path, start, end, info=source_info)

    dreamed, cuts = frame_scores(read_frames(dreamed_path, info=dreamed_info), sources())
    own, _ = frame_scores(_resized(sources(), dreamed_info.height, dreamed_info.width), sources())
    return {"dreamed": _mean(dreamed), "source": _mean(own), "frames": dreamed_info.frame_count, "start": start,
            "size": [dreamed_info.width, dreamed_info.height], "cuts": [start + cut for cut in cuts],
            "per_frame": {"dreamed": dreamed, "source": own}}


def _mean(errors: list[float | None]) -> float:
    counted = [e for e in errors if e is not None]
    return float(np.mean(counted)) if counted else 0.0


def _render_record(dreamed_path) -> dict | None:
    """The record dreamvid wrote beside a render (None for a video it did not write)."""
    from .sidecar import read_record, sidecar_path

    return read_record(sidecar_path(Path(dreamed_path), folder=False))


PLOT_HINT = "pip install 'dreamvid[plot]'"


def check_plotting(path) -> None:
    """Before any work: a plot needs matplotlib (an extra) and a PNG name."""
    import importlib.util

    if importlib.util.find_spec("matplotlib") is None:
        raise UserError(f"--plot needs matplotlib: {PLOT_HINT}")
    if Path(path).suffix.lower() != ".png":
        raise UserError(f"--plot writes a PNG: give a name ending in .png (got {path})")
    if not Path(path).parent.is_dir():
        raise UserError(f"cannot write {path}: folder {Path(path).parent} does not exist")


def read_timing(dreamed_path) -> dict | None:
    """The seconds per frame and the cuts from the record beside a render, if it has them."""
    found = _render_record(dreamed_path)
    if not found or "frame_seconds" not in found:
        return None
    return {"seconds": found["frame_seconds"], "start": found.get("frames", [0])[0], "cuts": found.get("cuts", [])}


def plot_scores(scores: dict, path, timing: dict | None = None) -> None:
    """Per-frame warping error of the source and the render by source frame number, cuts as dashed
    lines, so flicker shows as a spike; below it, when the render's record has them, the seconds each
    frame took. 1000 px wide, 400 px high (700 with timing)."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot

    panels = 2 if timing else 1
    figure, axes = pyplot.subplots(panels, 1, figsize=(10, 4 if panels == 1 else 7), dpi=100, sharex=True,
                                   squeeze=False)
    top = axes[0][0]
    start = scores["start"]
    for name, style in (("source", "tab:grey"), ("dreamed", "tab:purple")):
        values = [np.nan if e is None else e for e in scores["per_frame"][name]]
        top.plot(range(start + 1, start + 1 + len(values)), values, color=style, label=f"{name} ({scores[name]:.6f})")
    top.set_ylabel("warping error")
    top.set_title("temporal warping error per frame (lower is steadier)")
    cuts = sorted(set(scores["cuts"]) | set(timing["cuts"] if timing else ()))
    for axis in [row[0] for row in axes]:
        for cut in cuts:
            axis.axvline(cut, color="tab:red", linestyle="--", linewidth=1)
    if cuts:
        top.plot([], [], color="tab:red", linestyle="--", label="cut")
    top.legend(loc="upper right")
    if timing:
        bottom = axes[1][0]
        seconds = [np.nan if s is None else s for s in timing["seconds"]]
        bottom.bar(range(timing["start"], timing["start"] + len(seconds)), seconds, color="tab:blue", width=1.0)
        bottom.set_ylabel("seconds")
        bottom.set_title("time spent dreaming each frame")
    axes[-1][0].set_xlabel("frame")
    figure.tight_layout()
    from .atomic import writing

    with writing(Path(path)) as temporary:
        figure.savefig(temporary, format="png")
    pyplot.close(figure)


def _resized(frames: Iterable[np.ndarray], height: int, width: int):
    for frame in frames:
        yield cv2.resize(frame, (width, height), interpolation=cv2.INTER_AREA) if frame.shape[:2] != (height, width) else frame
