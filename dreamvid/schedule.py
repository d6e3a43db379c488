"""Keyframed parameters: a number, or a schedule in the syntax AI-animation users know from Deforum,
`"0:(0.005), 48:(0.02), 120:(0.005)"`. Keys are frame numbers or times (`2.5s`); values between two
keys are interpolated linearly; before the first key the first value holds, after the last the last.

A key's value may be an expression (expressions.py) in the source frame `t`, its time `s` in seconds and
the soundtrack's loudness `a`: `"0:(0.01 + 0.005*sin(2*pi*t/48))"`. As in Deforum, every key's expression
is evaluated at the current frame, and between two keys the two values are interpolated linearly as
numbers are: from `0:(sin(t))` to `100:(0)` the sine fades out over 100 frames (a number key is an
expression that never changes). Before the first key and after the last, that key's expression goes on
being evaluated. (Deforum's own scheduler holds an expression key until the next one and jumps there;
interpolating keeps every schedule continuous, as schedules of numbers are.)"""
from __future__ import annotations

import bisect
import math
import re
from dataclasses import dataclass
from fractions import Fraction

from .errors import UserError
from .expressions import Expression

_AUDIO = re.compile(r"\s*audio\s*:\s*(?P<low>[-+0-9.eE]+)\s*\.\.\s*(?P<high>[-+0-9.eE]+)\s*")
_KEY = re.compile(r"\s*(?P<key>\d+(?:\.\d+)?)(?P<seconds>s?)\s*:\s*\((?P<value>.*)\)\s*", re.DOTALL)

Value = float | Expression


@dataclass(frozen=True)
class Schedule:
    """Keyframes (frame or time, value), sorted by key; times are turned into frames with `at(frame, fps)`."""

    keys: tuple[tuple[float, bool, Value], ...]  # (key, key is in seconds, value); for audio: (0, LOW), (1, HIGH)
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
        keys = []
        for part in _top_level_parts(stripped) if stripped else []:
            match = _KEY.fullmatch(part)
            if not match or not _balanced(match["value"]):
                raise UserError(f"bad schedule for {name}: '{text}': write KEY:(VALUE) pairs separated by commas, "
                                f"keys in frames or seconds, e.g. \"0:(0.005), 48:(0.02), 5s:(0.005)\", "
                                f"or audio:LOW..HIGH")
            keys.append((float(match["key"]), bool(match["seconds"]), _value(match["value"], part, name)))
        if not keys:
            raise UserError(f"empty schedule for {name}")
        return cls(tuple(keys), stripped)

    @property
    def constant(self) -> float | None:
        """The value when there is a single key (the schedule does not change), else None."""
        value = self.keys[0][2]
        return value if len(self.keys) == 1 and not isinstance(value, Expression) else None

    def values(self) -> list[float]:
        """Every number the schedule names (for audio: LOW and HIGH), e.g. to check bounds; expressions are
        checked where the frames they are evaluated at are known (Settings.check_frames)."""
        return [value for _, _, value in self.keys if not isinstance(value, Expression)]

    @property
    def expressions(self) -> tuple[Expression, ...]:
        return tuple(value for _, _, value in self.keys if isinstance(value, Expression))

    @property
    def sound(self) -> bool:
        """Whether the values follow the soundtrack: audio:LOW..HIGH, or an expression that reads `a`."""
        return self.audio or any("a" in value.names for value in self.expressions)

    @property
    def timed(self) -> bool:
        """Whether a value depends on the frame rate: a key in seconds, or an expression that reads `s`."""
        return any(seconds for _, seconds, _ in self.keys) or any("s" in value.names for value in self.expressions)

    def at(self, frame: int, fps: float | Fraction = 25, envelope=None, times=None) -> float:
        """The value at a frame: linear between keys, held before the first and after the last; an audio
        schedule reads `envelope[frame]` (loudness in [0, 1] per source frame). A key in seconds is the
        frame at that time: `times` (each frame's start, from the first frame; a variable-rate clip's
        own) where given, else the nominal `fps`; an expression's `s` is the frame's time, the same way."""
        if self.audio:
            if envelope is None:
                raise UserError(f"'{self.text}' follows a soundtrack: only a video with audio has one")
            low, high = self.values()
            return low + (high - low) * _loudness(envelope, frame)
        points = sorted((_frame_at(key, fps, times) if seconds else key, value) for key, seconds, value in self.keys)
        if frame <= points[0][0]:
            return self._value(points[0][1], frame, fps, envelope, times)
        for (left, low), (right, high) in zip(points, points[1:]):
            if frame <= right:
                if right <= left:
                    return self._value(high, frame, fps, envelope, times)
                low, high = (self._value(v, frame, fps, envelope, times) for v in (low, high))
                return low + (high - low) * (frame - left) / (right - left)
        return self._value(points[-1][1], frame, fps, envelope, times)

    def _value(self, value: Value, frame: int, fps, envelope, times) -> float:
        if not isinstance(value, Expression):
            return value
        loudness = None if envelope is None or "a" not in value.names else _loudness(envelope, frame)
        return value(frame, _seconds_at(frame, fps, times), loudness, f" at frame {frame}")

    def __str__(self) -> str:
        return self.text


def _value(text: str, part: str, name: str) -> Value:
    """A key's value: a number, or an expression (a constant one is folded into its number)."""
    try:
        number = float(text)
    except ValueError:
        expression = Expression.parse(text, name)
        return expression(0, 0.0) if expression.constant else expression
    if not math.isfinite(number):
        raise UserError(f"bad schedule for {name}: '{part.strip()}' is not a finite number")
    return number


def _top_level_parts(text: str) -> list[str]:
    """`text` split at the commas outside parentheses (an expression may hold `max(a, 0.2)`)."""
    parts, depth, start = [], 0, 0
    for index, char in enumerate(text):
        depth += {"(": 1, ")": -1}.get(char, 0)
        if char == "," and depth == 0:
            parts.append(text[start:index])
            start = index + 1
    return parts + [text[start:]]


def _balanced(text: str) -> bool:
    """Whether the parentheses of a key's value close in order: `1) 2:(3` is two keys missing a comma."""
    depth = 0
    for char in text:
        depth += {"(": 1, ")": -1}.get(char, 0)
        if depth < 0:
            return False
    return depth == 0


def _loudness(envelope, frame: int) -> float:
    return float(envelope[min(max(frame, 0), len(envelope) - 1)])


def _seconds_at(frame: int, fps: float | Fraction, times) -> float:
    """When source frame `frame` starts, from the first: its own time where given, else at `fps`."""
    if not times:
        return frame / float(fps)
    if frame < len(times):
        return times[max(frame, 0)]
    step = times[-1] - times[-2] if len(times) > 1 else 1 / float(fps)
    return times[-1] + (frame - len(times) + 1) * step


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
