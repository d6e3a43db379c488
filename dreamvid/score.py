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

from dreamvid.errors import UserError
from dreamvid.flow import Motion, MotionEstimator, warp


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
    estimator = estimator or MotionEstimator()
    errors: list[float | None] = []
    prev_output = prev_source = None
    for index, (output, source) in enumerate(zip_longest(outputs, sources)):
        if output is None or source is None:
            raise UserError(f"output and source differ in length: one ends after {index} frames")
        height, width = output.shape[:2]
        if source.shape[:2] != (height, width):
            source = cv2.resize(source, (width, height), interpolation=cv2.INTER_AREA)
        if prev_output is not None:
            errors.append(pair_error(prev_output, output, estimator.estimate(prev_source, source)))
        prev_output, prev_source = output, source
    return errors


def warping_error(
    outputs: Iterable[np.ndarray],
    sources: Iterable[np.ndarray],
    estimator: MotionEstimator | None = None,
) -> float:
    """Mean E_t over the pairs that count (not across a cut); 0.0 when there is none."""
    errors = [e for e in frame_errors(outputs, sources, estimator) if e is not None]
    return float(np.mean(errors)) if errors else 0.0


def score_videos(source_path, dreamed_path, start: int | None = None) -> dict:
    """Warping error of a render and of its source over the same frames, for comparing settings.

    `start` is the render's first source frame; by default it is read from the render's sidecar
    (a render of `--frames 100:200` starts at 100), else 0."""
    import json
    from pathlib import Path

    from dreamvid.video import probe_video, read_frames

    dreamed_info = probe_video(dreamed_path)
    if start is None:
        sidecar = Path(str(dreamed_path) + ".json")
        start = json.loads(sidecar.read_text())["frames"][0] if sidecar.is_file() else 0
    end = start + dreamed_info.frame_count
    source_info = probe_video(source_path)
    if end > source_info.frame_count:
        raise UserError(f"{dreamed_path} has more frames than {source_path} from frame {start}")

    def sources():
        return read_frames(source_path, start, end, info=source_info)

    dreamed = warping_error(read_frames(dreamed_path, info=dreamed_info), sources())
    own = warping_error(_resized(sources(), dreamed_info.height, dreamed_info.width), sources())
    return {"dreamed": dreamed, "source": own, "frames": dreamed_info.frame_count, "start": start,
            "size": [dreamed_info.width, dreamed_info.height]}


def _resized(frames: Iterable[np.ndarray], height: int, width: int):
    for frame in frames:
        yield cv2.resize(frame, (width, height), interpolation=cv2.INTER_AREA) if frame.shape[:2] != (height, width) else frame
