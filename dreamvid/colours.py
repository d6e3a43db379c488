"""Colour looks, as pure numpy/OpenCV functions: keeping the source's colours under a dream (--colors) and
holding a clip's colour statistics to its first dreamed frame's (--color-match first).

Both work in CIELAB (sRGB, D65), where lightness and colour are separate axes and distances roughly follow
what the eye sees. The conversion is computed here rather than by OpenCV's cvtColor, whose float Lab darkens
a picture by about 0.2 levels per round trip: harmless once, but a carried dream goes through it every frame
and the blend lets that add up over a shot."""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

# linear sRGB -> CIE XYZ (D65), each row divided by the white point's, so that white maps to (1, 1, 1)
_RGB_TO_XYZ = np.array([[0.4124564, 0.3575761, 0.1804375],
                        [0.2126729, 0.7151522, 0.0721750],
                        [0.0193339, 0.1191920, 0.9503041]])
_WHITE = np.array([0.95047, 1.0, 1.08883])
_TO_XYZ = (_RGB_TO_XYZ / _WHITE[:, None]).astype(np.float32)
_FROM_XYZ = np.linalg.inv(_RGB_TO_XYZ / _WHITE[:, None]).astype(np.float32)
_EPSILON, _KAPPA = 216 / 24389, 24389 / 27  # CIE's exact constants of the cube-root curve's linear foot
# A frame's spread (standard deviation) of a channel is scaled by at most this, or its inverse, to match the
# reference: a nearly flat frame (a fade to black) is not blown up into noise.
MAX_SPREAD_SCALE = 2.0


def _linear(rgb: np.ndarray) -> np.ndarray:
    """The sRGB transfer undone (values outside [0, 1] too: a float picture's)."""
    curve = cv2.pow((np.maximum(rgb, 0.04045) + 0.055) * (1 / 1.055), 2.4)
    return np.where(rgb <= 0.04045, rgb * (1 / 12.92), curve)


def _encoded(linear: np.ndarray) -> np.ndarray:
    curve = cv2.pow(np.maximum(linear, 0.0031308), 1 / 2.4) * 1.055 - 0.055
    return np.where(linear <= 0.0031308, linear * 12.92, curve)


def to_lab(rgb: np.ndarray) -> np.ndarray:
    """sRGB float (H x W x 3, in [0, 1]) -> CIELAB: L in 0..100, a and b about -110..110 (OpenCV's 8-bit Lab
    holds a + 128 and b + 128, so one unit of a or b is one of its levels)."""
    xyz = cv2.transform(_linear(np.asarray(rgb, np.float32)), _TO_XYZ)
    f = np.where(xyz > _EPSILON, cv2.pow(np.maximum(xyz, _EPSILON), 1 / 3), (_KAPPA * xyz + 16) / 116)
    fx, fy, fz = cv2.split(f)
    return cv2.merge([116 * fy - 16, 500 * (fx - fy), 200 * (fy - fz)])


def from_lab(lab: np.ndarray) -> np.ndarray:
    """CIELAB -> sRGB float; colours outside sRGB come out outside [0, 1] (the caller clips)."""
    lightness, a, b = cv2.split(np.asarray(lab, np.float32))
    fy = (lightness + 16) / 116
    f = cv2.merge([fy + a / 500, fy, fy - b / 200])
    cubed = f * f * f
    xyz = np.where(cubed > _EPSILON, cubed, (116 * f - 16) / _KAPPA)
    return _encoded(cv2.transform(xyz, _FROM_XYZ))


def keep_colours(dreamed: np.ndarray, source: np.ndarray, share: float) -> np.ndarray:
    """The dream's lightness with `share` of the source's colour: its a and b moved that far from the dream's
    towards the source's (1: the source's own, as "preserving colour" in style transfer, Gatys et al. 2016).
    So the dream changes light and texture, not hue. Where that colour has no sRGB (a saturated red made very
    light), it is moved towards the source pixel's own colour until it has one (into_gamut): the hue is kept
    and the dream's change of lightness gives way, rather than clipping each channel, which shifts the hue."""
    if share <= 0.0:
        return dreamed
    lab, own = to_lab(dreamed), to_lab(source)
    lab[..., 1:] += share * (own[..., 1:] - lab[..., 1:])
    rgb = from_lab(lab)
    outside = _outside(rgb)
    if outside.any():
        rgb[outside] = into_gamut(lab[outside], own[outside])
    return np.clip(rgb, 0.0, 1.0)


# How far outside [0, 1] a channel may lie and count as inside (a tenth of an 8-bit level): clipped after.
_GAMUT_SLACK = 0.1 / 255


def _outside(rgb: np.ndarray) -> np.ndarray:
    return ((rgb < -_GAMUT_SLACK) | (rgb > 1.0 + _GAMUT_SLACK)).any(axis=-1)


def into_gamut(target: np.ndarray, own: np.ndarray, steps: int = 12) -> np.ndarray:
    """For N CIELAB colours `target` without sRGB: the sRGB of the first colour on the line from each to
    `own` (a colour with sRGB: the source pixel's) that has one, found by bisection (1/4096 of the line)."""
    near, far = np.zeros(len(target), np.float32), np.ones(len(target), np.float32)  # outside, inside
    line = own - target
    for _ in range(steps):
        middle = (near + far) / 2
        inside = ~_outside(from_lab((target + middle[:, None] * line)[:, None, :])[:, 0])
        far, near = np.where(inside, middle, far), np.where(inside, near, middle)
    return from_lab((target + far[:, None] * line)[:, None, :])[:, 0]


def colour_statistics(rgb: np.ndarray) -> tuple[float, ...]:
    """(mean L, mean a, mean b, spread L, spread a, spread b) over the picture, in CIELAB."""
    lab = to_lab(rgb).reshape(-1, 3).astype(np.float64)
    return tuple(round(float(value), 6) for value in (*lab.mean(axis=0), *lab.std(axis=0)))


def match_statistics(rgb: np.ndarray, reference: tuple[float, ...]) -> np.ndarray:
    """The picture with each CIELAB channel's mean and spread moved to the reference's (Reinhard et al. 2001,
    as Deforum's colour coherence): a frame whose colours wandered is brought back. The spread is scaled by
    at most MAX_SPREAD_SCALE either way. Clipped to [0, 1]."""
    lab = to_lab(rgb)
    flat = lab.reshape(-1, 3).astype(np.float64)
    mean, spread = flat.mean(axis=0), flat.std(axis=0)
    target_mean, target_spread = np.asarray(reference[:3]), np.asarray(reference[3:])
    scale = np.clip(target_spread / np.maximum(spread, 1e-6), 1 / MAX_SPREAD_SCALE, MAX_SPREAD_SCALE)
    lab = (lab - mean.astype(np.float32)) * scale.astype(np.float32) + target_mean.astype(np.float32)
    return np.clip(from_lab(lab), 0.0, 1.0)


@dataclass(frozen=True)
class ColourLook:
    """What happens to a dreamed frame's colours before it is stored (and carried): `share` of the source's
    colours kept (--colors), then the statistics held to the `reference` (--color-match first: the first
    dreamed frame's, as the render's plan recorded them)."""

    share: float = 0.0
    reference: tuple[float, ...] | None = None

    def apply(self, dreamed: np.ndarray, source: np.ndarray) -> np.ndarray:
        looked = keep_colours(dreamed, source, self.share)
        return looked if self.reference is None else match_statistics(looked, self.reference)
