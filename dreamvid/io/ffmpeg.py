"""The ffmpeg binary every video read and write goes through, and how it is run: argument lists, a
time limit, and paths it cannot misread. The binary is imageio-ffmpeg's, or DREAMVID_FFMPEG's where that
is set (a machine without imageio-ffmpeg), or an ffmpeg on the PATH."""
from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

from ..errors import UserError


def ffmpeg_exe() -> str:
    """The ffmpeg to run: $DREAMVID_FFMPEG, else imageio-ffmpeg's bundled binary, else one on the PATH."""
    if os.environ.get("DREAMVID_FFMPEG"):
        return os.environ["DREAMVID_FFMPEG"]
    try:
        import imageio_ffmpeg
    except ImportError:
        found = shutil.which("ffmpeg")
        if found is None:
            raise UserError("no ffmpeg: pip install imageio-ffmpeg, or set DREAMVID_FFMPEG to an ffmpeg binary") from None
        return found
    return imageio_ffmpeg.get_ffmpeg_exe()


def ffmpeg_path(path: Path | str) -> str:
    """A file as ffmpeg must be given it: absolute, so that a name such as `-clip.mp4` is not read as an
    option nor `pipe:1.mp4` as a protocol."""
    return str(Path(path).absolute())


def describe(path: Path) -> str:
    """ffmpeg's description of the input (stream list, rotation), which it prints on stderr."""
    return run_ffmpeg([ffmpeg_exe(), "-hide_banner", "-nostdin", "-i", ffmpeg_path(path)], path, 120).stderr


def run_ffmpeg(args: list[str], path: Path, seconds: float) -> subprocess.CompletedProcess:
    """ffmpeg reading `path`, given `seconds` at most: a file it cannot get through is the user's to check."""
    try:
        return subprocess.run(args, capture_output=True, text=True, errors="replace", timeout=seconds)
    except subprocess.TimeoutExpired:
        raise UserError(f"ffmpeg could not read {path} within {seconds:.0f} s (a stalled network drive or a "
                        f"damaged file?)") from None


def list_audio(path: Path | str) -> list[str]:
    """Codec names of the audio streams in a file, in order (empty when it has none)."""
    return re.findall(r"Stream #\d+:\d+.*?: Audio: (\w+)", describe(Path(path)))
