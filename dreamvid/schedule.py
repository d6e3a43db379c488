"""Keyframed parameters: a number, or a schedule in the syntax AI-animation users know from Deforum,
`"0:(0.005), 48:(0.02), 120:(0.005)"`. Keys are frame numbers or times (`2.5s`); values between two
keys are interpolated linearly; before the first key the first value holds, after the last the last."""
from __future__ import annotations

import bisect
import math
import re
from dataclasses import dataclass
from fractions import Fraction

from .errors import UserError

_AUDIO = re.compile(r"\s*audio\s*:\s*(?P<low>[-+0-9.eE]+)\s*\.\.\s*(?P<high>[-+0-9.eE]+)\s*")
_KEY = re.compile(r"\s*(?P<key>\d+(?:\.\d+)?)(?P<seconds>s?)\s*:\s*\(\s*(?P<value>[-+0-9.eE]+)\s*\)\s*")


@dataclass(frozen=True)
class Schedule:
    """Keyframes (frame or time, value), sorted by key; times are turned into frames with `at(frame, fps)`."""

    keys: tuple[tuple[float, bool, float], ...]  # (key, key is in seconds, value); for audio: (0, LOW), (1, HIGH)
    text: str
    audio: bool = False  # the value follows the soundtrack's loudness between the two keys' values

    @classmethod
    def parse(cls, text: str, name: str = "value") -> "Schedule":
        """A plain number is a constant schedule; anything else must be keyframes, or a UserError."""
        stripped = str(text).strip()
        try:
            number = float(stripped)
        except ValueError:
            pass
        else:
            if not math.isfinite(number):
                raise UserError(f"{name} must be a finite number (got {stripped})")
            return cls(((0.0, False, number),), stripped)
        audio = _AUDIO.fullmatch(stripped)
        if audio:
            try:
                low, high = float(audio["low"]), float(audio["high"])
            except ValueError:
                raise UserError(f"bad number in the schedule for {name}: '{text}'") from None
            return cls(((0.0, False, low), (1.0, False, high)), stripped, audio=True)
        parts = stripped.split(",") if stripped else []
        keys = []
        for part in parts:
            match = _KEY.fullmatch(part)
            if not match:
                raise UserError(f"bad schedule for {name}: '{text}': write KEY:(VALUE) pairs separated by commas, "
                                f"keys in frames or seconds, e.g. \"0:(0.005), 48:(0.02), 5s:(0.005)\", "
                                f"or audio:LOW..HIGH")
            try:
                keys.append((float(match["key"]), bool(match["seconds"]), float(match["value"])))
                if not math.isfinite(keys[-1][2]):
                    raise ValueError
            except ValueError:
                raise UserError(f"bad number in the schedule for {name}: '{part.strip()}'") from None
        if not keys:
            raise UserError(f"empty schedule for {name}")
        return cls(tuple(keys), stripped)

    @property
    def constant(self) -> float | None:
        """The value when there is a single key (the schedule does not change), else None."""
        return self.keys[0][2] if len(self.keys) == 1 else None

    def values(self) -> list[float]:
        """Every value the schedule names (for audio: LOW and HIGH), e.g. to check bounds."""
        return [value for _, _, value in self.keys]

    def at(self, frame: int, fps: float | Fraction = 25, envelope=None, times=None) -> float:
        """The value at a frame: linear between keys, held before the first and after the last; an audio
        schedule reads `envelope[frame]` (loudness in [0, 1] per source frame). A key in seconds is the
        frame at that time: `times` (each frame's start, from the first frame; a variable-rate clip's
        own) where given, else the nominal `fps`."""
        if self.audio:
            if envelope is None:
                raise UserError(f"'{self.text}' follows a soundtrack: only a video with audio has one")
            low, high = self.values()
            return low + (high - low) * float(envelope[min(max(frame, 0), len(envelope) - 1)])
        points = sorted((_frame_at(key, fps, times) if seconds else key, value) for key, seconds, value in self.keys)
        if frame <= points[0][0]:
            return points[0][1]
        for (left, low), (right, high) in zip(points, points[1:]):
            if frame <= right:
                return low + (high - low) * (frame - left) / (right - left) if right > left else high
        return points[-1][1]

    def __str__(self) -> str:
        return self.text


def _frame_at(seconds: float, fps: float | Fraction, times) -> float:
    """The (fractional) frame shown at `seconds`: from the frames' own times where given, else at `fps`."""
    if not times:
        return seconds * float(fps)
    after = bisect.bisect_right(times, seconds)
    if after == 0:
        return 0.0
    if after == len(times):  # past the last frame: continue at the last frame's spacing
        step = times[-1] - times[-2] if len(times) > 1 else 1 / float(fps)
        return len(times) - 1 + (seconds - times[-1]) / step
    left, right = times[after - 1], times[after]
    return after - 1 + (seconds - left) / (right - left)
