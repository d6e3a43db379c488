"""Temporal warping error on tiny synthetic clips with known motion, flicker and cuts; the score command's
plot."""
import json

import cv2
import numpy as np
import pytest

from clips import blurred_noise, cut_clip, encode, shift, translating_frames
from dreamvid.errors import UserError
from dreamvid.score import (check_plotting, frame_errors, frame_scores, plot_scores, read_timing, score_videos,
                            warping_error)
from helpers import FAST, power_cut_at_round


def moving_clip(seed: int, frames: int = 5, sigma: float = 2.5, size: tuple[int, int] = (64, 96)) -> list:
    """A texture panning 2 px right and 1 px down per frame."""
    base = blurred_noise(seed, height=size[0], width=size[1], sigma=sigma)
    return [shift(base, 2.0 * t, 1.0 * t) for t in range(frames)]


def flicker(frames: list, amount: float = 12.0) -> list:
    """Independent noise on every frame: what a dream without temporal carry-over looks like."""
    rng = np.random.default_rng(99)
    return [np.clip(f + rng.normal(0, amount, f.shape), 0, 255).astype(np.uint8) for f in frames]


def test_identical_static_frames_score_zero():
    frame = blurred_noise(20)
    assert warping_error([frame] * 4, [frame] * 4) < 1e-6


def test_flicker_scores_far_above_a_clean_moving_clip():
    clip = moving_clip(21)
    clean = warping_error(iter(clip), iter(clip))  # any iterables, consumed once
    noisy = warping_error(flicker(clip), clip)
    assert clean < 2e-5
    assert noisy > 20 * clean
    # independent noise of sigma s on [0, 1] values gives about 2 s^2 per pixel
    assert noisy == pytest.approx(2 * (12.0 / 255) ** 2, rel=0.3)


def test_a_pair_across_a_cut_is_excluded():
    clip = moving_clip(22, frames=3) + moving_clip(23, frames=3)
    errors = frame_errors(clip, clip)
    assert len(errors) == 5
    assert errors[2] is None
    assert all(e is not None and e < 2e-5 for i, e in enumerate(errors) if i != 2)
    assert warping_error(clip, clip) < 2e-5


def test_no_pair_scores_zero():
    assert warping_error([blurred_noise(24)], [blurred_noise(24)]) == 0.0
    assert frame_errors([], []) == []


def test_sources_are_resized_to_the_output_size():
    sources = moving_clip(25, sigma=5.0, size=(128, 192))
    outputs = [cv2.resize(f, (96, 64), interpolation=cv2.INTER_AREA) for f in sources]
    assert warping_error(outputs, sources) < 1e-4
    assert warping_error(flicker(outputs), sources) > 20 * warping_error(outputs, sources)


def test_different_lengths_are_refused():
    clip = moving_clip(26, frames=3)
    with pytest.raises(UserError, match="length"):
        warping_error(clip, clip[:2])


def test_frame_scores_also_give_the_cuts():
    clip = moving_clip(22, frames=3) + moving_clip(23, frames=3)
    errors, cuts = frame_scores(clip, clip)
    assert len(errors) == 5 and errors[2] is None
    assert cuts == [3]


def test_scoring_a_video_too_small_for_the_flow_is_one_line(tmp_path):
    from dreamvid.errors import UserError
    from dreamvid.score import score_videos

    encode(tmp_path / "strip.mp4", translating_frames(3, (64, 8), 1, 0))
    try:
        score_videos(tmp_path / "strip.mp4", tmp_path / "strip.mp4")
    except UserError as error:
        assert "frames of 64x8 are too small for the optical flow" in str(error)
    else:
        raise AssertionError("a 64x8 video was scored")


@pytest.fixture(scope="module")
def rendered_cut(tmp_path_factory):
    """A clip with a cut at frame 6, dreamed, with a crash after 8 frames (the cut among them) and a resume."""
    import dreamvid

    folder = tmp_path_factory.mktemp("scored")
    cut_clip(folder / "clip.mp4", frames=12, cut_at=6)
    with power_cut_at_round(9):
        dreamvid.render(folder / "clip.mp4", batch=1, streams=1, **FAST)
    dreamvid.render(folder / "clip.mp4", batch=1, streams=1, **FAST)
    return folder


def test_the_record_of_a_resumed_render_has_seconds_per_frame_and_the_cuts(rendered_cut):
    record = json.loads((rendered_cut / "clip_dream.mp4.json").read_text())
    assert len(record["frame_seconds"]) == 12
    assert all(seconds > 0 for seconds in record["frame_seconds"])
    assert record["cuts"] == [6]


def test_score_gives_per_frame_errors_and_cuts(rendered_cut):
    scores = score_videos(rendered_cut / "clip.mp4", rendered_cut / "clip_dream.mp4")
    assert scores["cuts"] == [6]
    for name in ("source", "dreamed"):
        errors = scores["per_frame"][name]
        assert len(errors) == 11 and errors[5] is None
        assert scores[name] == pytest.approx(np.mean([e for e in errors if e is not None]))


def test_the_plot_has_an_error_panel_and_a_time_panel(rendered_cut, command):
    run = command(rendered_cut, "score", "clip.mp4", "clip_dream.mp4", "--plot", "score.png")
    assert run.status == 0, run.stderr
    assert json.loads(run.stdout)["cuts"] == [6] and "per_frame" not in run.stdout
    assert cv2.imread(str(rendered_cut / "score.png")).shape == (700, 1000, 3)
    assert run.loaded == []  # no TensorFlow to score


def test_without_a_record_the_plot_has_the_error_panel_only(tmp_path):
    cut_clip(tmp_path / "a.mp4", frames=6, cut_at=3)
    scores = score_videos(tmp_path / "a.mp4", tmp_path / "a.mp4")
    assert read_timing(tmp_path / "a.mp4") is None
    plot_scores(scores, tmp_path / "a.png", None)
    assert cv2.imread(str(tmp_path / "a.png")).shape == (400, 1000, 3)


def test_plot_without_matplotlib_says_how_to_install_it(tmp_path, monkeypatch):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "matplotlib" else real(name, *a))
    with pytest.raises(UserError, match=r"pip install 'dreamvid\[plot\]'"):
        check_plotting(tmp_path / "p.png")
