"""Tiny synthetic clips whose content and motion are known exactly, so tests can check pixels and flow, and
what ffmpeg measures of a file.

Each generator writes a file with the bundled ffmpeg and returns the frames as displayed (N, H, W, 3 RGB uint8),
i.e. what a perfect decoder would give back (H.264 at low crf comes within a few levels).
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import cv2
import imageio_ffmpeg
import numpy as np

FFMPEG = imageio_ffmpeg.get_ffmpeg_exe()


def texture(height: int, width: int, seed: int = 0) -> np.ndarray:
    """Fine grey detail over slowly varying colour: detail everywhere, so motion is unambiguous, but little
    chroma detail, which yuv420p would blur away and make pixel comparisons loose."""
    rng = np.random.default_rng(seed)
    detail = cv2.GaussianBlur(rng.random((height, width)).astype(np.float32), (0, 0), 1.5)
    colour = cv2.GaussianBlur(rng.random((height, width, 3)).astype(np.float32), (0, 0), 8.0)
    image = 0.6 * _stretch(detail)[..., None] + 0.4 * _stretch(colour)
    return (image * 255).round().astype(np.uint8)


def blurred_noise(seed: int, height: int = 64, width: int = 96, sigma: float = 2.5) -> np.ndarray:
    """Blurred colour noise: trackable everywhere, different for every seed."""
    noise = np.random.default_rng(seed).random((height, width, 3)).astype(np.float32)
    noise = cv2.GaussianBlur(noise, (0, 0), sigma)
    noise = (noise - noise.min()) / (noise.max() - noise.min())
    return (noise * 255).round().astype(np.uint8)


def shift(image: np.ndarray, dx: float, dy: float) -> np.ndarray:
    """The image moved by (dx, dy) pixels: shift(image)(x + d) = image(x)."""
    matrix = np.float32([[1, 0, dx], [0, 1, dy]])
    size = (image.shape[1], image.shape[0])
    return cv2.warpAffine(image, matrix, size, flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)


def _stretch(values: np.ndarray) -> np.ndarray:
    return (values - values.min()) / (values.max() - values.min())


def translating_frames(frames: int, size: tuple[int, int], dx: int, dy: int, seed: int = 0) -> np.ndarray:
    """Frames in which every pixel at (x, y) moves to (x + dx, y + dy) in the next frame."""
    width, height = size
    margin_x, margin_y = abs(dx) * frames, abs(dy) * frames
    canvas = texture(height + 2 * margin_y, width + 2 * margin_x, seed)
    out = []
    for i in range(frames):
        top, left = margin_y - i * dy, margin_x - i * dx
        out.append(canvas[top:top + height, left:left + width])
    return np.stack(out)


def encode(path: Path, frames: np.ndarray, fps: float | str = 10, *, audio: bool = False, crf: int = 10) -> None:
    """Write RGB frames as H.264 (yuv420p); with audio, a stereo AAC sine as long as the video."""
    count, height, width = frames.shape[:3]
    args = [FFMPEG, "-hide_banner", "-loglevel", "error", "-y",
            "-f", "rawvideo", "-pix_fmt", "rgb24", "-s", f"{width}x{height}", "-framerate", str(fps), "-i", "pipe:0"]
    if audio:
        seconds = count / float(rate_as_float(fps))
        args += ["-f", "lavfi", "-i", f"sine=frequency=440:sample_rate=48000:duration={seconds}",
                 "-c:a", "aac", "-ac", "2"]
    args += ["-c:v", "libx264", "-pix_fmt", "yuv420p", "-crf", str(crf), str(path)]
    subprocess.run(args, input=np.ascontiguousarray(frames).tobytes(), check=True, capture_output=True)


def rate_as_float(fps: float | str) -> float:
    numerator, _, denominator = str(fps).partition("/")
    return float(numerator) / float(denominator or 1)


def moving_clip(path: Path, frames: int = 12, size: tuple[int, int] = (96, 64), fps: float | str = 10,
                dx: int = 2, dy: int = 1, audio: bool = False) -> np.ndarray:
    """A texture translating by (dx, dy) pixels per frame; size is (width, height)."""
    source = translating_frames(frames, size, dx, dy)
    encode(Path(path), source, fps, audio=audio)
    return source


def cut_clip(path: Path, frames: int = 12, cut_at: int = 6, size: tuple[int, int] = (96, 64),
             fps: float | str = 10, audio: bool = False) -> np.ndarray:
    """Two unrelated moving scenes with a hard cut at frame `cut_at` (the first frame of the second scene)."""
    first = translating_frames(cut_at, size, 2, 1, seed=1)
    second = 255 - translating_frames(frames - cut_at, size, -1, 2, seed=2)  # inverted: different brightness too
    source = np.concatenate([first, second])
    encode(Path(path), source, fps, audio=audio)
    return source


def rotated_clip(path: Path, frames: int = 6, size: tuple[int, int] = (96, 64), fps: float | str = 10) -> np.ndarray:
    """A clip stored as `size` with display-matrix rotation metadata (rotate 90 degrees clockwise to display,
    like a phone held upright); returns the frames as displayed, i.e. (width, height) sized."""
    path = Path(path)
    stored = translating_frames(frames, size, 2, 1, seed=3)
    plain = path.with_name(path.stem + "-unrotated" + path.suffix)
    encode(plain, stored, fps)
    # ffmpeg >= 6 takes -display_rotation (degrees counter-clockwise) as an input option; -c copy keeps pixels.
    subprocess.run([FFMPEG, "-hide_banner", "-loglevel", "error", "-y", "-display_rotation", "-90", "-i", str(plain),
                    "-c", "copy", str(path)], check=True, capture_output=True)
    plain.unlink()
    return np.stack([np.rot90(frame, k=-1) for frame in stored])


def audio_only(path: Path, seconds: float = 1.0) -> None:
    """An AAC file with no video stream (works for .m4a and .mp4 names)."""
    subprocess.run([FFMPEG, "-hide_banner", "-loglevel", "error", "-y", "-f", "lavfi",
                    "-i", f"sine=frequency=440:sample_rate=48000:duration={seconds}", "-c:a", "aac", "-ac", "2",
                    str(path)], check=True, capture_output=True)


# A codec for each container the bundled ffmpeg writes, with its pixel format.
CONTAINER_CODECS = {
    ".mp4": ("libx264", "yuv420p"), ".mov": ("libx264", "yuv420p"), ".mkv": ("libx264", "yuv420p"),
    ".m4v": ("libx264", "yuv420p"), ".flv": ("libx264", "yuv420p"), ".ts": ("libx264", "yuv420p"),
    ".mts": ("libx264", "yuv420p"), ".m2ts": ("libx264", "yuv420p"), ".webm": ("libvpx", "yuv420p"),
    ".avi": ("mpeg4", "yuv420p"), ".mpg": ("mpeg2video", "yuv420p"), ".mpeg": ("mpeg2video", "yuv420p"),
    ".mxf": ("mpeg2video", "yuv422p"), ".wmv": ("wmv2", "yuv420p"), ".3gp": ("libx264", "yuv420p"),
    ".ogv": ("libtheora", "yuv420p"), ".vob": ("mpeg2video", "yuv420p"),
}


def container_clip(path: Path, frames: int = 8, size: tuple[int, int] = (96, 64), fps: int = 25,
                   sar: str | None = None) -> np.ndarray:
    """A moving clip in the container that the suffix names, with a codec it takes, at high quality so the
    decoded pixels stay close to the returned frames; `sar` (e.g. "2") makes its pixels that much wider."""
    path = Path(path)
    source = translating_frames(frames, size, 2, 1, seed=4)
    codec, pixels = CONTAINER_CODECS[path.suffix.lower()]
    quality = ["-crf", "10"] if codec == "libx264" else ["-b:v", "4M", "-qmin", "1", "-qmax", "4"]
    if codec in ("libvpx", "libtheora"):
        quality = ["-b:v", "4M", "-crf", "4"] if codec == "libvpx" else ["-q:v", "10"]
    width, height = size
    subprocess.run([FFMPEG, "-hide_banner", "-loglevel", "error", "-y", "-f", "rawvideo", "-pix_fmt", "rgb24",
                    "-s", f"{width}x{height}", "-framerate", str(fps), "-i", "pipe:0",
                    *(["-vf", f"setsar={sar}"] if sar else []), "-c:v", codec, "-pix_fmt", pixels, *quality,
                    str(path)],
                   input=np.ascontiguousarray(source).tobytes(), check=True, capture_output=True)
    return source


def vfr_clip(path: Path, times: list[float], size: tuple[int, int] = (96, 64), audio: bool = False) -> np.ndarray:
    """A variable-rate clip whose frame k is shown from times[k] seconds (a phone that slowed down): the frames
    go in at 1000 fps and setpts moves each to its time; with audio, a 440 Hz sine as long as the clip plus
    one frame."""
    path = Path(path)
    source = translating_frames(len(times), size, 2, 1, seed=5)
    width, height = size
    table = "+".join(f"eq(N\\,{k})*{t}" for k, t in enumerate(times))
    args = [FFMPEG, "-hide_banner", "-loglevel", "error", "-y", "-f", "rawvideo", "-pix_fmt", "rgb24",
            "-s", f"{width}x{height}", "-framerate", "1000", "-i", "pipe:0"]
    if audio:
        seconds = times[-1] + (times[-1] - times[-2])
        args += ["-f", "lavfi", "-i", f"sine=frequency=440:sample_rate=48000:duration={seconds}",
                 "-c:a", "aac", "-ac", "2"]
    args += ["-vf", f"setpts=({table})/TB", "-fps_mode", "vfr", "-c:v", "libx264", "-pix_fmt", "yuv420p",
             "-crf", "10", "-video_track_timescale", "90000", str(path)]
    subprocess.run(args, input=np.ascontiguousarray(source).tobytes(), check=True, capture_output=True)
    return source


def timed_tone_clip(path: Path, frames: int, tone_at: float, fps: int = 10, video_delay: float = 0.0,
                    audio_seconds: float | None = None) -> np.ndarray:
    """A moving clip with silence that turns into a 440 Hz tone at `tone_at` seconds, so the audio tells the
    time. `video_delay` starts the picture that late after the audio (as cameras do); `audio_seconds` ends
    the audio early."""
    path = Path(path)
    source = translating_frames(frames, (96, 64), 2, 1, seed=6)
    seconds = audio_seconds if audio_seconds is not None else video_delay + frames / fps
    tone = f"aevalsrc=exprs=if(gte(t\\,{tone_at})\\,0.5*sin(2*PI*440*t)\\,0):s=48000:d={seconds}"
    args = [FFMPEG, "-hide_banner", "-loglevel", "error", "-y"]
    args += ["-itsoffset", str(video_delay)] if video_delay else []
    args += ["-f", "rawvideo", "-pix_fmt", "rgb24", "-s", "96x64", "-framerate", str(fps), "-i", "pipe:0",
             "-f", "lavfi", "-i", tone, "-c:v", "libx264", "-pix_fmt", "yuv420p", "-crf", "10",
             "-c:a", "aac", "-ac", "1", str(path)]
    subprocess.run(args, input=np.ascontiguousarray(source).tobytes(), check=True, capture_output=True)
    return source


def audio_onset(path: Path, threshold: float = 0.1) -> float | None:
    """Seconds from the start of a file's audio to the first loud sample (None: silent throughout)."""
    raw = subprocess.run([FFMPEG, "-v", "error", "-i", str(path), "-vn", "-ac", "1", "-ar", "8000",
                          "-f", "f32le", "-"], capture_output=True, check=True).stdout
    samples = np.frombuffer(raw, np.float32)
    loud = np.flatnonzero(np.abs(samples) > threshold)
    return float(loud[0] / 8000) if loud.size else None


def frame_times(path: Path) -> list[float]:
    """Presentation time of each video frame in seconds, sorted, from ffmpeg's packet list."""
    out = subprocess.run([FFMPEG, "-v", "error", "-i", str(path), "-map", "0:v:0", "-c", "copy", "-f", "framecrc",
                          "-"], capture_output=True, text=True, check=True).stdout
    numerator, denominator = next(line for line in out.splitlines() if line.startswith("#tb 0:")).split()[-1].split("/")
    stamps = [int(line.split(",")[2]) for line in out.splitlines() if line and not line.startswith("#")]
    return sorted(s * int(numerator) / int(denominator) for s in stamps)


def truncated_clip(path: Path, frames: int = 26, keep: float = 0.45) -> int:
    """A clip whose index (at the front: +faststart) promises `frames` frames, cut off after `keep` of its
    bytes, as a half-finished download is; returns how many frames ffmpeg itself decodes from it."""
    whole = Path(path).with_name("whole-" + Path(path).name)
    subprocess.run([FFMPEG, "-v", "error", "-f", "lavfi", "-i", "testsrc=size=64x48:rate=10", "-frames:v", str(frames),
                    "-c:v", "libx264", "-g", "5", "-pix_fmt", "yuv420p", "-movflags", "+faststart", str(whole)],
                   check=True)
    data = whole.read_bytes()
    Path(path).write_bytes(data[: int(len(data) * keep)])
    whole.unlink()
    decoded = subprocess.run([FFMPEG, "-v", "quiet", "-i", str(path), "-map", "0:v:0", "-f", "framecrc", "-"],
                             capture_output=True, text=True).stdout
    return sum(1 for line in decoded.splitlines() if line.strip() and not line.startswith("#"))


def write_frames(folder: Path, frames: np.ndarray, names: list[str] | None = None) -> list[str]:
    """RGB(A) frames (uint8 or uint16) as images named frame_0000.png... unless names are given: an image
    sequence."""
    folder.mkdir(exist_ok=True)
    names = names or [f"frame_{index:04d}.png" for index in range(len(frames))]
    for name, frame in zip(names, frames):
        planes = frame[..., [2, 1, 0, 3]] if frame.shape[2] == 4 else frame[..., ::-1]
        assert cv2.imwrite(str(folder / name), np.ascontiguousarray(planes))
    return names


def read_rgb(path: Path) -> np.ndarray:
    data = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    assert data is not None, path
    return data[..., 2::-1] if data.ndim == 3 else data


# Frame k of the variable-rate clip is shown from VFR_TIMES[k] s: 10 fps, then 20 fps, then 30 fps.
VFR_TIMES = [0.0, 0.1, 0.2, 0.3, 0.4, 0.45, 0.5, 0.55, 0.6, 0.633, 0.667, 0.7]

GOP = 6


def short_gop_clip(path: Path, frames: int = 24, *, gop: int = GOP, rate: str = "25", before: tuple = (),
                   filters: tuple = (), after: tuple = ()) -> Path:
    """A moving H.264 clip with a keyframe every `gop` frames and two B-frames between references; `before`
    goes before the input, `filters` and `after` after it."""
    width, height = 96, 64
    source = translating_frames(frames, (width, height), 2, 1, seed=7)
    args = [FFMPEG, "-hide_banner", "-loglevel", "error", "-y", *before, "-f", "rawvideo", "-pix_fmt", "rgb24",
            "-s", f"{width}x{height}", "-framerate", rate, "-i", "pipe:0"]
    args += ["-vf", ",".join(filters)] if filters else []
    args += ["-c:v", "libx264", "-pix_fmt", "yuv420p", "-crf", "20", "-g", str(gop), "-keyint_min", str(gop),
             "-sc_threshold", "0", "-bf", "2", *after, str(path)]
    subprocess.run(args, input=source.tobytes(), check=True, capture_output=True)
    return path


def rotate(path: Path) -> Path:
    """The same stream with display-matrix rotation (90 degrees clockwise to display), pixels untouched."""
    turned = path.with_name("turned-" + path.name)
    subprocess.run([FFMPEG, "-hide_banner", "-loglevel", "error", "-y", "-display_rotation", "-90", "-i", str(path),
                    "-c", "copy", str(turned)], check=True, capture_output=True)
    return turned


def sound_clip(path: Path, loudness: list[float], seconds: float = 1.0, fps: int = 10) -> None:
    """A moving 96x64 clip at `fps` whose soundtrack is a 440 Hz tone of each amplitude in `loudness` in
    turn, `seconds` each (0: silence)."""
    frames = translating_frames(round(len(loudness) * seconds * fps), (96, 64), 2, 1)
    level = "0"
    for index, amplitude in reversed(list(enumerate(loudness))):
        level = f"if(lt(t\\,{(index + 1) * seconds})\\,{amplitude}\\,{level})"
    tone = f"aevalsrc=exprs={level}*sin(2*PI*440*t):s=48000:d={len(loudness) * seconds}"
    subprocess.run([FFMPEG, "-hide_banner", "-loglevel", "error", "-y", "-f", "rawvideo", "-pix_fmt", "rgb24",
                    "-s", "96x64", "-framerate", str(fps), "-i", "pipe:0", "-f", "lavfi", "-i", tone,
                    "-c:v", "libx264", "-pix_fmt", "yuv420p", "-crf", "10", "-c:a", "aac", "-ac", "1", str(path)],
                   input=frames.tobytes(), check=True, capture_output=True)


# ---- what ffmpeg measures ---------------------------------------------------------------------------------

def mean_abs_diff(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.abs(a.astype(np.int16) - b.astype(np.int16)).mean())


def describe(path: Path) -> str:
    return subprocess.run([FFMPEG, "-hide_banner", "-i", str(path)], capture_output=True, text=True).stderr


def video_line(path: Path) -> str:
    return next(line for line in describe(path).splitlines() if ": Video:" in line)


def decoded_seconds(path: Path, kind: str) -> float:
    """How long a file's video or audio lasts, as ffmpeg measures it by decoding."""
    out = subprocess.run([FFMPEG, "-hide_banner", "-nostdin", "-i", str(path), "-an" if kind == "video" else "-vn",
                          "-f", "null", "-"], capture_output=True, text=True).stderr
    h, m, s = re.findall(r"time=(\d+):(\d+):([\d.]+)", out)[-1]
    return int(h) * 3600 + int(m) * 60 + float(s)


def stream_durations(path: Path) -> dict[str, float]:
    """Seconds of each stream kind, as ffmpeg measures them by decoding."""
    stderr = subprocess.run([FFMPEG, "-hide_banner", "-nostdin", "-i", str(path), "-f", "null", "-"],
                            capture_output=True, text=True).stderr
    durations = {}
    for kind, flag in (("video", "-an"), ("audio", "-vn")):
        out = subprocess.run([FFMPEG, "-hide_banner", "-nostdin", "-i", str(path), flag, "-f", "null", "-"],
                             capture_output=True, text=True).stderr
        times = re.findall(r"time=(\d+):(\d+):([\d.]+)", out)
        if times and f": {kind.capitalize()}:" in stderr:
            h, m, s = times[-1]
            durations[kind] = int(h) * 3600 + int(m) * 60 + float(s)
    return durations


def encode_options(path: Path, options: list[str], frames: int, size: tuple[int, int] = (96, 64)) -> None:
    """A translating texture of `frames` frames encoded with the given ffmpeg output options (a codec, a GOP,
    B-frames, a container), yuv420p."""
    width, height = size
    pictures = translating_frames(frames, size, 2, 1, seed=7)
    subprocess.run([FFMPEG, "-v", "error", "-y", "-f", "rawvideo", "-pix_fmt", "rgb24", "-s", f"{width}x{height}",
                    "-framerate", "10", "-i", "pipe:0", *options, "-pix_fmt", "yuv420p", str(path)],
                   input=pictures.tobytes(), check=True)
