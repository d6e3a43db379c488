"""The motion benchmark's clips, made from frames of samples/bigbuckbunny.mp4 with numpy, OpenCV and the
bundled ffmpeg: a fast pan, objects crossing a still background, short shots joined by hard cuts, and a
long slow pan with sub-pixel motion that comes back along its path. Each is written once into a cache
folder and reused.

Every view is rendered by `cv2.warpAffine` from a large picture prefiltered for the view's scale, so a
sub-pixel offset changes where the picture is sampled, not how sharp it looks: the source itself never
flickers in sharpness, and whatever the benchmark measures comes from the dream."""
from __future__ import annotations

import os
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import cv2
import numpy as np

BUNNY = Path(__file__).resolve().parents[1] / "samples/bigbuckbunny.mp4"
CACHE = Path(__file__).resolve().parent / "clips"
VERSION = 2  # bump when a generator changes, so cached clips are made again
FPS = Fraction(25)
KINDS = ("fast_pan", "crossing", "short_shots", "slow_pan")
# hard-cut shot lengths, cycled (the issue: cuts every 20-40 frames)
SHOT_LENGTHS = (28, 36, 22, 34, 40, 20)


@dataclass(frozen=True)
class ClipSpec:
    """One clip to make: which generator, how long, how large. Speeds are given for a 320 px wide clip
    and scale with the width, so a smaller clip shows the same motion relative to its size."""

    kind: str
    frames: int
    width: int
    height: int

    @property
    def name(self) -> str:
        return f"{self.kind}-{self.width}x{self.height}-{self.frames}f-v{VERSION}"

    @property
    def scale(self) -> float:
        return self.width / 320


# --- pictures -----------------------------------------------------------------------------------------

def bunny_frames(indices: set[int]) -> dict[int, np.ndarray]:
    """The bundled clip's frames at these indices (RGB uint8, 1280x720), decoded in one pass."""
    from dreamvid.io.decode import read_frames

    found = {}
    for index, frame in enumerate(read_frames(BUNNY, 0, max(indices) + 1)):
        if index in indices:
            found[index] = frame
    return found


def prefiltered(picture: np.ndarray, zoom: float) -> np.ndarray:
    """The picture blurred for viewing `zoom` source pixels per output pixel (no aliasing when shrunk)."""
    if zoom <= 1.0:
        return picture
    return cv2.GaussianBlur(picture, (0, 0), 0.5 * zoom)


def view(picture: np.ndarray, x: float, y: float, zoom: float, width: int, height: int) -> np.ndarray:
    """The output pixel (u, v) shows picture(x + zoom * u, y + zoom * v); `picture` already prefiltered."""
    matrix = np.float32([[zoom, 0, x], [0, zoom, y]])
    return cv2.warpAffine(picture, matrix, (width, height), flags=cv2.INTER_CUBIC | cv2.WARP_INVERSE_MAP,
                          borderMode=cv2.BORDER_REFLECT)


def fitting_zoom(picture: np.ndarray, width: int, height: int) -> float:
    """The zoom at which the picture is just `width` x `height` output pixels in the larger ratio."""
    return min(picture.shape[1] / width, picture.shape[0] / height)


# --- generators: each yields the clip's frames ----------------------------------------------------------

def fast_pan(spec: ClipSpec, frames: dict[int, np.ndarray]):
    """A window speeding up from 8 to 16 px per frame to the right while it swings 40 px up and down."""
    n, w, h, s = spec.frames, spec.width, spec.height, spec.scale
    speed = s * (8 + 8 * np.arange(n) / max(n - 1, 1))
    xs = np.concatenate([[0.0], np.cumsum(speed)[:-1]])
    ys = 40 * s * (1 + np.sin(2 * np.pi * np.arange(n) / max(n, 1)))
    picture = frames[60]
    zoom = fitting_zoom(picture, w + xs[-1] + 2, h + 80 * s + 2)
    big = prefiltered(picture, zoom)
    for x, y in zip(xs, ys):
        yield view(big, zoom * x, zoom * y, zoom, w, h)


def crossing(spec: ClipSpec, frames: dict[int, np.ndarray]):
    """Two textured ellipses cross a still background: one 9 px per frame to the right, one 6.5 px per
    frame to the left, lower and smaller; both enter and leave the frame."""
    n, w, h, s = spec.frames, spec.width, spec.height, spec.scale
    background = frames[20]
    zoom = fitting_zoom(background, w, h)
    still = view(prefiltered(background, zoom), 0, (background.shape[0] - zoom * h) / 2, zoom, w, h)
    sprites = []
    for source, (sw, sh), top, start, speed in (
            (frames[110], (112, 80), 12, -112, 9.0),
            (cv2.cvtColor(frames[100], cv2.COLOR_RGB2BGR), (72, 56), 70, 320, -6.5)):  # swapped colours: distinct
        sw, sh = round(sw * s), round(sh * s)
        crop_zoom = fitting_zoom(source, sw, sh) / 1.5  # most of the frame: textured, unlike a close-up
        cx, cy = (source.shape[1] - crop_zoom * sw) / 2, (source.shape[0] - crop_zoom * sh) / 2
        texture = view(prefiltered(source, crop_zoom), cx, cy, crop_zoom, sw, sh).astype(np.float32)
        mask = np.zeros((sh, sw), np.float32)
        cv2.ellipse(mask, (sw // 2, sh // 2), (sw // 2 - 2, sh // 2 - 2), 0, 0, 360, 1.0, -1)
        mask = cv2.GaussianBlur(mask, (0, 0), 1.0)[..., None]
        sprites.append((texture, mask, top * s, start * s, speed * s))
    for t in range(n):
        frame = still.astype(np.float32)
        for texture, mask, top, start, speed in sprites:
            shift = np.float32([[1, 0, start + speed * t], [0, 1, top + 3 * s * np.sin(t / 5)]])
            layer = cv2.warpAffine(texture, shift, (w, h), flags=cv2.INTER_CUBIC)
            alpha = cv2.warpAffine(mask, shift, (w, h), flags=cv2.INTER_LINEAR)[..., None]
            frame = frame * (1 - alpha) + layer * alpha
        yield np.clip(np.rint(frame), 0, 255).astype(np.uint8)


def short_shots(spec: ClipSpec, frames: dict[int, np.ndarray]):
    """Shots of 20-40 frames (SHOT_LENGTHS), each another frame seen at another zoom and panning another
    way, joined by hard cuts; the last shot takes what is left."""
    n, w, h, s = spec.frames, spec.width, spec.height, spec.scale
    # (bunny frame, zoom relative to fitting, pan px/frame at 320 wide, where in the frame the pan starts)
    looks = [(8, 0.45, (3.0, 1.0), (0.1, 0.5)), (48, 0.7, (-4.0, 0.5), (0.8, 0.2)),
             (88, 0.35, (2.0, -2.0), (0.3, 0.8)), (128, 0.55, (-2.5, -1.5), (0.6, 0.6))]
    done, shot = 0, 0
    while done < n:
        length = min(SHOT_LENGTHS[shot % len(SHOT_LENGTHS)], n - done)
        index, relative, (vx, vy), (fx, fy) = looks[shot % len(looks)]
        picture = frames[index]
        zoom = fitting_zoom(picture, w, h) * relative
        big = prefiltered(picture, zoom)
        room_x, room_y = picture.shape[1] - zoom * w, picture.shape[0] - zoom * h
        travel_x, travel_y = zoom * s * vx * length, zoom * s * vy * length
        x0 = np.clip(fx * room_x, max(0, -travel_x), min(room_x, room_x - travel_x))
        y0 = np.clip(fy * room_y, max(0, -travel_y), min(room_y, room_y - travel_y))
        for t in range(length):
            yield view(big, x0 + zoom * s * vx * t, y0 + zoom * s * vy * t, zoom, w, h)
        done, shot = done + length, shot + 1


def slow_pan(spec: ClipSpec, frames: dict[int, np.ndarray]):
    """One continuous shot panning right and a little down, then back along the same path: on average 0.3 px
    per frame across and 0.05 px down (at most 0.47 px; not scaled with the width: the sub-pixel motion is
    the point), so a dream carried with a softening interpolation blurs frame after frame. The path is
    mirrored, frame n-1-t shows what frame t shows, so the last frames can be compared with the first ones
    with no change of content in between."""
    n, w, h = spec.frames, spec.width, spec.height
    across, down = 0.3 * (n - 1) / 2, 0.05 * (n - 1) / 2  # furthest point, reached at the middle
    phase = (1 - np.cos(2 * np.pi * np.arange(n) / max(n - 1, 1))) / 2
    picture = frames[70]
    zoom = fitting_zoom(picture, w + across + 2, h + down + 2)
    big = prefiltered(picture, zoom)
    for p in phase:
        yield view(big, zoom * across * p, zoom * down * p, zoom, w, h)


GENERATORS = {"fast_pan": fast_pan, "crossing": crossing, "short_shots": short_shots, "slow_pan": slow_pan}
PICTURES = {8, 20, 48, 60, 70, 88, 100, 110, 128}


def shot_starts(spec: ClipSpec) -> list[int]:
    """The frames that begin a new shot after a hard cut (short_shots only)."""
    if spec.kind != "short_shots":
        return []
    starts, done, shot = [], 0, 0
    while done < spec.frames:
        done += SHOT_LENGTHS[shot % len(SHOT_LENGTHS)]
        shot += 1
        if done < spec.frames:
            starts.append(done)
    return starts


def make_clips(specs: list[ClipSpec], folder: Path = CACHE, log=lambda text: None) -> dict[str, Path]:
    """Each spec's clip (H.264, crf 12, 25 fps, no audio) in `folder`, made only when not there yet.
    Written under a temporary name and renamed, so two benchmarks starting at once never read half a clip."""
    from dreamvid.io.encode import VideoWriter

    folder.mkdir(parents=True, exist_ok=True)
    paths = {spec.kind: folder / f"{spec.name}.mp4" for spec in specs}
    missing = [spec for spec in specs if not paths[spec.kind].is_file()]
    if missing:
        frames = bunny_frames(PICTURES)
        for spec in missing:
            log(f"making clip {spec.name} ...")
            temporary = folder / f".{spec.name}.{os.getpid()}.mp4"
            with VideoWriter(temporary, spec.width, spec.height, FPS, crf=12) as writer:
                for frame in GENERATORS[spec.kind](spec, frames):
                    writer.write(np.ascontiguousarray(frame))
            os.replace(temporary, paths[spec.kind])
    return paths
