"""Masters: --codec h264|h265|prores|ffv1, each written, decoded back and described by ffmpeg; a 10-bit
source kept in 10 bits (decoded, checkpointed and piped in 16); ProRes 4444 and FFV1 keeping a sequence's
alpha; a render cut short and resumed gives the frames of an uninterrupted one with every codec; the
pairings that cannot work are refused before any work; numbered TIFF and EXR frames keep their depth."""
from __future__ import annotations

import json
import subprocess
from pathlib import Path

import cv2
import numpy as np
import pytest

import dreamvid
from clips import FFMPEG, frame_times, moving_clip, translating_frames, vfr_clip
from dreamvid.errors import UserError
from dreamvid.io.decode import probe_video, read_frames
from dreamvid.io.ffmpeg import describe
from dreamvid.temporal import chunks
from helpers import Warnings, done_frames, power_cut_at_round
from stub_dreamer import StubDreamer

STUB = dict(model="vgg16-hed", steps=1, octaves=1, flow_steps=1, jitter=4)
SIDE_BY_SIDE = dict(STUB, streams=2, batch=2, warmup=2)
SIZE = (64, 48)  # width, height

# codec: (ffmpeg's name for it, pixel format from an 8-bit source, from a 10-bit one, default container)
WRITTEN = {"h264": ("h264 (High)", "yuv420p", "yuv420p", ".mp4"),
           "h265": ("hevc (Main", "yuv420p", "yuv420p10le", ".mp4"),
           "prores": ("prores (HQ)", "yuv422p10le", "yuv422p10le", ".mov"),
           "ffv1": ("ffv1", "yuv444p", "yuv444p10le", ".mkv")}


def video_line(path: Path) -> str:
    return next(line for line in describe(path).splitlines() if ": Video:" in line)


def deep_clip(path: Path, frames: int = 6, fps: int = 10, seed: int = 0) -> np.ndarray:
    """A moving 10-bit clip (yuv420p10le) of a texture over a slow ramp: a picture whose 10 bits matter, as
    its 16-bit RGB frames (N, H, W, 3 uint16)."""
    width, height = SIZE
    texture = translating_frames(frames, SIZE, 2, 1, seed=seed).astype(np.float32) / 255
    ramp = np.linspace(0.2, 0.3, width, dtype=np.float32)[None, None, :, None]
    rgb = np.round((0.5 * ramp + 0.5 * (0.4 + 0.2 * texture)) * 65535).astype(np.uint16)
    subprocess.run([FFMPEG, "-v", "error", "-y", "-f", "rawvideo", "-pix_fmt", "rgb48le", "-s", f"{width}x{height}",
                    "-framerate", str(fps), "-i", "pipe:0", "-c:v", "libx264", "-pix_fmt", "yuv420p10le", "-qp", "0",
                    str(path)], input=rgb.tobytes(), check=True)
    return rgb


def decoded16(path: Path) -> np.ndarray:
    return np.stack(list(read_frames(path, dtype=np.uint16)))


def record(output: Path) -> dict:
    return json.loads(output.with_name(output.name + ".json").read_text())


@pytest.fixture(scope="module")
def clips(tmp_path_factory):
    folder = tmp_path_factory.mktemp("masters")
    moving_clip(folder / "clip.mp4", frames=6, size=SIZE, audio=True)
    deep_clip(folder / "deep.mp4")
    return folder


@pytest.fixture
def short_chunks(monkeypatch):
    """Chunks of 3 frames at 10 fps, so that a 12-frame clip has several."""
    monkeypatch.setattr(chunks, "CHUNK_SECONDS", 0.3)


# ---- each codec --------------------------------------------------------------------------------------


@pytest.mark.parametrize("codec", WRITTEN)
def test_each_codec_is_written_in_its_container_and_decodes_back(clips, tmp_path, codec):
    """A default output takes the codec's container where the source's does not (ProRes: .mov, FFV1: .mkv);
    the frames are the dream of the lossless FFV1 render within what each codec loses."""
    name, pixels, _, suffix = WRITTEN[codec]
    source = tmp_path / "clip.mp4"
    source.write_bytes((clips / "clip.mp4").read_bytes())
    dreamvid.render(source, codec=codec, dreamer=StubDreamer(), **STUB)
    output = tmp_path / f"clip_dream{suffix}"
    line = video_line(output)
    assert f"Video: {name}" in line and f"{pixels}(tv, smpte170m" in line, line
    assert ("hvc1" in line) == (codec == "h265")  # the tag Apple's players want, in MP4
    info = probe_video(output)
    assert info.frame_count == 6 and info.has_audio
    assert record(output)["video"] == {"codec": codec, "encoder": {"h264": "libx264", "h265": "libx265",
                                                                   "prores": "prores_ks", "ffv1": "ffv1"}[codec],
                                       "profile": {"h264": "high", "h265": "main", "prores": "422 HQ",
                                                   "ffv1": "version 3"}[codec],
                                       "pixel_format": pixels, "bits": 8 if codec != "prores" else 10, "alpha": False}
    lossless = tmp_path / "lossless.mkv"
    dreamvid.render(source, lossless, codec="ffv1", dreamer=StubDreamer(), **STUB)
    error = np.abs(np.stack(list(read_frames(output))).astype(int) - np.stack(list(read_frames(lossless)))).mean()
    assert error < {"h264": 4, "h265": 4, "prores": 2, "ffv1": 0.01}[codec], error  # prores: 4:2:2 chroma


@pytest.mark.parametrize("codec", WRITTEN)
def test_a_ten_bit_source_is_written_in_ten_bits_where_the_codec_holds_them(clips, tmp_path, codec):
    name, _, pixels, suffix = WRITTEN[codec]
    warnings = Warnings()
    output = tmp_path / f"deep{suffix}"
    dreamvid.render(clips / "deep.mp4", output, codec=codec, dreamer=StubDreamer(), reporter=warnings, **STUB)
    assert f"{pixels}(tv" in video_line(output)
    assert probe_video(output).colour.bits == (8 if codec == "h264" else 10)
    assert record(output)["video"]["bits"] == (8 if codec == "h264" else 10)
    said = [message for message in warnings.messages if "10-bit source" in message]
    assert said == (["10-bit source written as 8-bit H.264 (--codec h265, prores or ffv1 keeps 10 bits)"]
                    if codec == "h264" else [])


def test_ten_bits_are_not_quantised_to_eight_on_the_way(clips, tmp_path):
    """Dreaming nothing (0 steps), a 10-bit source written as lossless FFV1 comes back within a fraction of an
    8-bit level of its own 16-bit decode; rounded through 8 bits anywhere it would be a quarter level off or
    more."""
    output = tmp_path / "master.mkv"
    dreamvid.render(clips / "deep.mp4", output, codec="ffv1", dreamer=StubDreamer(), **{**STUB, "steps": 0,
                                                                                       "flow_steps": 0})
    source, master = decoded16(clips / "deep.mp4").astype(float), decoded16(output).astype(float)
    eight_bit = np.abs(source - np.round(source / 257) * 257).mean()  # what rounding to 8 bits costs
    assert eight_bit > 50 and np.abs(master - source).mean() < eight_bit / 3


@pytest.mark.parametrize("source, depth", [("deep.mp4", np.uint16), ("clip.mp4", np.uint8)])
def test_checkpoints_keep_the_sources_depth(clips, tmp_path, source, depth):
    """A render cut short keeps the last frame of its chain lossless: 16-bit for a 10-bit source, 8-bit for
    an 8-bit one (as before)."""
    output = tmp_path / "out.mp4"
    with power_cut_at_round(3):
        dreamvid.render(clips / source, output, dreamer=StubDreamer(), **STUB)
    pieces = list(output.with_name(output.name + ".parts").glob("frame_*.png"))
    assert pieces and all(cv2.imread(str(piece), cv2.IMREAD_UNCHANGED).dtype == depth for piece in pieces)


def test_h265_in_quicktime_and_matroska(clips, tmp_path):
    for suffix, tagged in ((".mov", True), (".mkv", False)):
        output = tmp_path / f"out{suffix}"
        dreamvid.render(clips / "deep.mp4", output, codec="h265", dreamer=StubDreamer(), **STUB)
        line = video_line(output)
        assert "hevc (Main 10)" in line and ("hvc1" in line) == tagged, line


def test_a_variable_rate_clip_keeps_its_times_in_prores(tmp_path):
    times = [0.0, 0.1, 0.2, 0.5, 1.0]
    vfr_clip(tmp_path / "phone.mp4", times, size=SIZE)
    dreamvid.render(tmp_path / "phone.mp4", codec="prores", dreamer=StubDreamer(), **STUB)
    output = tmp_path / "phone_dream.mov"
    assert "prores (HQ)" in video_line(output)
    assert frame_times(output) == pytest.approx(times, abs=1e-3)


def test_a_zoom_in_prores(tmp_path):
    cv2.imwrite(str(tmp_path / "photo.png"), translating_frames(1, SIZE, 0, 0)[0])
    dreamvid.render_zoom(tmp_path / "photo.png", frames=3, codec="prores", dreamer=StubDreamer(), **STUB)
    assert "prores (HQ)" in video_line(tmp_path / "photo_zoom.mov")


# ---- alpha ------------------------------------------------------------------------------------------


def rgba_sequence(folder: Path, frames: int = 4) -> np.ndarray:
    """Numbered RGBA PNGs whose alpha is a ramp with a hole; returns the alpha planes (uint8)."""
    folder.mkdir()
    width, height = SIZE
    alpha = np.tile(np.linspace(0, 255, width).round().astype(np.uint8), (height, 1))
    alpha[10:20, 10:30] = 0
    for index, rgb in enumerate(translating_frames(frames, SIZE, 2, 1)):
        cv2.imwrite(str(folder / f"f_{index:03d}.png"), np.dstack([rgb[..., ::-1], alpha]))
    return np.broadcast_to(alpha, (frames, height, width))


def decoded_alpha(path: Path) -> np.ndarray:
    width, height = SIZE
    raw = subprocess.run([FFMPEG, "-v", "error", "-i", str(path), "-f", "rawvideo", "-pix_fmt", "rgba64le", "-"],
                         capture_output=True, check=True).stdout
    return np.frombuffer(raw, "<u2").reshape(-1, height, width, 4)[..., 3] / 257.0


@pytest.mark.parametrize("codec, suffix, pixels", [("prores", ".mov", "yuva444p10le"), ("ffv1", ".mkv", "yuva444p")])
def test_a_sequence_with_alpha_keeps_it(tmp_path, codec, suffix, pixels):
    alpha = rgba_sequence(tmp_path / "shot")
    output = tmp_path / f"shot{suffix}"
    dreamvid.render(tmp_path / "shot", output, sequence=True, codec=codec, dreamer=StubDreamer(), **STUB)
    line = video_line(output)  # ffmpeg's ProRes decoder describes 4444 in 12 bits, whatever was encoded
    assert pixels.replace("p10le", "p12le") in line and ("prores (4444)" in line) == (codec == "prores"), line
    written = record(output)["video"]
    assert written["alpha"] is True and written["pixel_format"] == pixels
    assert written["profile"] == ("4444" if codec == "prores" else "version 3")
    assert np.abs(decoded_alpha(output) - alpha).max() <= 1


def test_alpha_that_a_codec_cannot_hold_is_dropped_with_a_warning(tmp_path):
    rgba_sequence(tmp_path / "shot")
    warnings = Warnings()
    dreamvid.render(tmp_path / "shot", tmp_path / "shot.mp4", sequence=True, dreamer=StubDreamer(),
                    reporter=warnings, **STUB)
    assert "yuv420p(" in video_line(tmp_path / "shot.mp4") and record(tmp_path / "shot.mp4")["video"]["alpha"] is False
    assert any("alpha channel is dropped: H.264 holds none" in message for message in warnings.messages)


# ---- resume ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("codec", WRITTEN)
def test_a_render_cut_short_resumes_to_the_frames_of_an_uninterrupted_one(tmp_path, short_chunks, codec):
    """Two chains side by side over a 16-frame 10-bit clip, chunks of 3 frames in the codec's own container:
    cut at the 7th round, resumed, decoded in 16 bits, it is the uninterrupted render's, frame for frame."""
    deep_clip(tmp_path / "deep.mp4", frames=16)
    suffix = WRITTEN[codec][3]
    whole, output = tmp_path / f"whole{suffix}", tmp_path / f"resumed{suffix}"
    dreamvid.render(tmp_path / "deep.mp4", whole, codec=codec, dreamer=StubDreamer(), **SIDE_BY_SIDE)
    with power_cut_at_round(7):
        dreamvid.render(tmp_path / "deep.mp4", output, codec=codec, dreamer=StubDreamer(), **SIDE_BY_SIDE)
    work = output.with_name(output.name + ".parts")
    made = sorted(path.suffix for path in work.glob("chunk_*"))
    assert set(made) <= {suffix}  # chunks in the codec's own container (how many by the cut: the encoder's pace)
    assert all(cv2.imread(str(p), cv2.IMREAD_UNCHANGED).dtype == np.uint16 for p in work.glob("*.png"))
    done = done_frames(output)
    [result] = dreamvid.render(tmp_path / "deep.mp4", output, codec=codec, dreamer=StubDreamer(), **SIDE_BY_SIDE)
    assert result.frames == 16 - len(done)
    assert np.array_equal(decoded16(output), decoded16(whole))
    assert probe_video(output).frame_count == 16 and not work.exists()


def test_a_resume_refuses_another_codec_once_chunks_exist(tmp_path, short_chunks):
    moving_clip(tmp_path / "clip.mp4", frames=16, size=SIZE)
    output = tmp_path / "out.mov"
    with power_cut_at_round(7):
        dreamvid.render(tmp_path / "clip.mp4", output, dreamer=StubDreamer(), **SIDE_BY_SIDE)
    with pytest.raises(UserError, match=r"holds frames encoded with --codec h264: run with --codec h264"):
        dreamvid.render(tmp_path / "clip.mp4", output, codec="prores", dreamer=StubDreamer(), **SIDE_BY_SIDE)
    dreamvid.render(tmp_path / "clip.mp4", output, codec="prores", fresh=True, dreamer=StubDreamer(), **SIDE_BY_SIDE)
    assert "prores" in video_line(output)


def test_before_the_first_chunk_the_codec_may_change(tmp_path):
    moving_clip(tmp_path / "clip.mp4", frames=6, size=SIZE)
    output = tmp_path / "out.mov"
    with power_cut_at_round(3):
        dreamvid.render(tmp_path / "clip.mp4", output, dreamer=StubDreamer(), **STUB)
    assert not list(output.with_name(output.name + ".parts").glob("chunk_*"))  # 2 s chunks: none yet
    [result] = dreamvid.render(tmp_path / "clip.mp4", output, codec="prores", dreamer=StubDreamer(), **STUB)
    assert result.frames == 4 and "prores" in video_line(output)


# ---- refused up front --------------------------------------------------------------------------------


@pytest.mark.parametrize("output, options, words", [
    ("out.mp4", {"codec": "prores"}, "output out.mp4: ProRes goes in .mov, not .mp4 (-o out.mov)"),
    ("out.m4v", {"codec": "prores"}, "ProRes goes in .mov, not .m4v"),
    ("out.mp4", {"codec": "ffv1"}, "FFV1 goes in .mkv or .mov, not .mp4 (-o out.mkv)"),
    ("frames/f_%04d.png", {"codec": "h265"}, "--codec h265 writes a video, but frames is a folder of images"),
    ("out.mov", {"codec": "prores", "crf": 10}, "--crf sets the quality of H.264 and H.265: --codec prores has none"),
    ("out.mkv", {"codec": "ffv1", "crf": 10}, "(always lossless)"),
    ("out.mp4", {"codec": "vp9"}, "--codec must be one of h264, h265, prores, ffv1 (got 'vp9')"),
])
def test_wrong_pairings_are_refused_before_any_work(clips, tmp_path, output, options, words):
    source = tmp_path / "clip.mp4"
    source.write_bytes((clips / "clip.mp4").read_bytes())
    (tmp_path / "frames").mkdir()
    with pytest.raises(UserError) as refused:
        dreamvid.render(source, str(tmp_path / output), **STUB, **options)
    assert words in str(refused.value).replace(str(tmp_path) + "/", "")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["clip.mp4", "frames"] and not any((tmp_path / "frames").iterdir())


def test_a_zoom_into_the_wrong_container_is_refused(tmp_path):
    cv2.imwrite(str(tmp_path / "photo.png"), translating_frames(1, SIZE, 0, 0)[0])
    with pytest.raises(UserError, match="ProRes goes in .mov, not .mp4"):
        dreamvid.render_zoom(tmp_path / "photo.png", tmp_path / "zoom.mp4", frames=3, codec="prores", **STUB)


def test_a_wrong_pairing_on_the_command_line_is_one_line_and_exit_2(clips, tmp_path, cli):
    (tmp_path / "clip.mp4").write_bytes((clips / "clip.mp4").read_bytes())
    run = cli(tmp_path, "clip.mp4", "--model", "vgg16-hed", "--codec", "prores", "-o", "out.mp4")
    assert run.status == 2 and len(run.stderr.strip().splitlines()) == 1, run.stderr
    assert "ProRes goes in .mov" in run.stderr and not run.loaded


# ---- numbered frames ---------------------------------------------------------------------------------


@pytest.mark.parametrize("source, suffix, depth", [("clip.mp4", ".tif", np.uint8), ("deep.mp4", ".tif", np.uint16),
                                                   ("deep.mp4", ".png", np.uint16)])
def test_numbered_frames_are_named_as_asked_and_keep_their_depth(clips, tmp_path, source, suffix, depth):
    dreamvid.render(clips / source, str(tmp_path / "out" / f"frame_%04d{suffix}"), dreamer=StubDreamer(), **STUB)
    names = sorted(path.name for path in (tmp_path / "out").iterdir())
    assert names == ["dreamvid.json"] + [f"frame_{k:04d}{suffix}" for k in range(6)]
    for name in names[1:]:
        assert cv2.imread(str(tmp_path / "out" / name), cv2.IMREAD_UNCHANGED).dtype == depth


def test_numbered_exr_frames_are_half_float(clips, tmp_path):
    pytest.importorskip("OpenEXR")
    from dreamvid.io.exr import read_exr

    dreamvid.render(clips / "deep.mp4", str(tmp_path / "out" / "frame_%04d.exr"), frames="2:5",
                    dreamer=StubDreamer(), **STUB)
    names = sorted(path.name for path in (tmp_path / "out").iterdir())
    assert names == ["dreamvid.json", "frame_0002.exr", "frame_0003.exr", "frame_0004.exr"]
    picture = read_exr(tmp_path / "out" / "frame_0002.exr")
    assert picture.dtype == np.float16 and picture.rgb.shape == (48, 64, 3)
    levels = picture.rgb * 255
    assert (np.abs(levels - np.round(levels)) > 0.05).mean() > 0.5  # mostly between the levels of 8 bits
