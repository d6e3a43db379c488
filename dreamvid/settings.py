"""Every parameter of a render in one frozen dataclass, with the bounds and the precedence
(command line > config file > default) applied in one place for the CLI, config files and the API.

Longer than 400 lines on purpose: it is the one table of every parameter, its default, its help and its
bounds, and the code that applies them (STYLE.md's CONFIG_MAP); split in two, a new option would have to
be written into both halves."""
from __future__ import annotations

import dataclasses
import functools
import math
import re
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .coherence import FADE, FLOW_OCTAVES, coherence_values  # noqa: F401 (FADE, FLOW_OCTAVES: their home was here)
from .errors import UserError
from .io.codecs import DEFAULT_CODEC, check_codec_choice
from .schedule import Schedule


@dataclass(frozen=True)
class LayerSpec:
    """One term of the objective: a layer, optionally one of its channels, and a weight."""

    name: str
    channel: int | None = None
    weight: float | str = 1.0  # a number, or the text of a schedule (keyframes or audio:LOW..HIGH)

    def __str__(self) -> str:
        text = self.name if self.channel is None else f"{self.name}:{self.channel}"
        if isinstance(self.weight, str):
            return f"{text}={self.weight}"
        return text if self.weight == 1.0 else f"{text}={self.weight:g}"

    @property
    def schedule(self) -> Schedule:
        return schedule(self.weight, f"the weight of {self.name}")


_LAYER_SPEC = re.compile(r"^(?P<name>[A-Za-z_][\w./-]*)(?::(?P<channel>-?\d+))?(?:=(?P<weight>.+))?$")


def parse_layer_spec(text: str) -> LayerSpec:
    """Parse `mixed5`, `mixed4:97` or `mixed3=0.5` (or `mixed4:97=0.5`); the weight may be a schedule,
    `mixed3=0:(1), 100:(0)`, which cross-fades layers."""
    match = _LAYER_SPEC.match(text.strip())
    if not match:
        raise UserError(f"bad layer '{text}': expected NAME, NAME:CHANNEL or NAME=WEIGHT, e.g. mixed4:97=0.5")
    weight: float | str = 1.0
    if match["weight"] is not None:
        parsed = schedule(match["weight"], f"the weight of {match['name']}")
        weight = parsed.constant if parsed.constant is not None else parsed.text
    channel = int(match["channel"]) if match["channel"] is not None else None
    return LayerSpec(match["name"], channel, weight)


@functools.lru_cache(maxsize=256)
def schedule(value: float | str, name: str = "value") -> Schedule:
    """A parameter's schedule (a number is a constant one); parsed once per text."""
    return Schedule.parse(str(value), name)


@dataclass(frozen=True)
class DreamParams:
    """What the engine needs for one batch: nothing about files, models or video."""

    octaves: int = 4
    octave_scale: float = 1.3
    steps: int = 10
    step_size: float | tuple[float, ...] = 0.01  # one for the batch, or one per image
    jitter: int = 32
    tile: int | None = None  # None: the engine chooses it from free memory
    seed: int = 0
    # None: the layers' own (constant) weights; else one weight per layer, for the batch or per image
    layer_weights: tuple[float, ...] | tuple[tuple[float, ...], ...] | None = None


@dataclass(frozen=True)
class FrameValues:
    """The scheduled parameters resolved at one frame (integers rounded)."""

    step_size: float
    steps: int
    flow_steps: int
    blend: float
    jitter: int
    layer_weights: tuple[float, ...] | None  # None: no --layer given, the model's defaults (weight 1)
    flow_octaves: int = 0  # the largest octaves a carried frame dreams; 0: all


# Parameters that may be a schedule instead of a number, and the type each value takes.
SCHEDULED: dict[str, type] = {"step_size": float, "steps": int, "flow_steps": int, "blend": float, "jitter": int}


def _option(default: Any, help: str, shown: str | None = None):
    """A parameter's default and the help the CLI shows for it (with `shown` as its default, where the
    default is worked out rather than a value), so the CLI never retypes either."""
    return dataclasses.field(default=default, metadata={"help": help, "shown": shown})


@dataclass(frozen=True)
class Settings:
    """All parameters that shape the output. Run-control flags (--quiet, --overwrite...) live elsewhere."""

    model: str = _option("inception_v3", "inception_v3, vgg16-hed, or a .keras/.h5 file.")
    # None: the model's own default (imagenet, or the bundled HED weights)
    weights: str | None = _option(None, "imagenet (inception_v3), random (seeded), or a weights file.",
                                  "the model's own")
    layers: tuple[LayerSpec, ...] = _option((), "Layer to dream, repeatable: mixed5, mixed4:97 (a channel), mixed3=0.5 "
                                            "(a weight; a schedule cross-fades: \"mixed3=0:(1), 100:(0)\").",
                                            "the model's: mixed3, mixed5 / block4_conv3")
    backend: str | None = _option(None, "Keras backend to dream on: tensorflow, jax or torch.",
                                  "$KERAS_BACKEND, else tensorflow")
    # the engine's parameters, with DreamParams' defaults
    octaves: int = _option(DreamParams.octaves, "Number of octaves (scales the dream grows at).")
    octave_scale: float = _option(DreamParams.octave_scale, "Size ratio between octaves, > 1.")
    # these five (and layer weights) are a number or the text of a schedule (see schedule.py)
    steps: int | str = _option(DreamParams.steps, "Gradient steps per octave, or a schedule (see --step-size).")
    step_size: float | str = _option(
        DreamParams.step_size, "Step size in [-1, 1] image units, or a schedule: keyframes \"0:(0.005), 48:(0.02), "
        "5s:(0.005)\" (keys in source frames or seconds; linear between keys, the first and last values held before "
        "and after, whole-number parameters rounded), or \"audio:0.005..0.03\" (the soundtrack's smoothed loudness "
        "per frame, quietest to loudest).")
    jitter: int | str = _option(DreamParams.jitter, "Pixels of random roll per step, or a schedule (see --step-size).")
    tile: int = _option(DreamParams.tile, "Tile size for gradients of large frames.", "chosen from free memory")
    seed: int = _option(DreamParams.seed, "Random seed.")
    max_side: int | None = _option(None, "Dream at this longer side; a still keeps its own size, a video is written "
                                         "at it.", "full size")
    batch: int | None = _option(None, "Frames dreamed at once.", "4 on a GPU, 1 on a CPU")  # None: from the device
    xla: bool = _option(False, "Compile the step loop with XLA (TensorFlow; JAX always compiles).")
    precision: str = _option("float32", "float32, or bfloat16 activations: faster where the hardware has bfloat16, "
                                        "a slightly different dream.")  # image and gradients stay float32
    lap_norm: int = _option(0, "Normalise the gradient band by band over this many levels of a Laplacian "
                               "pyramid, as the original DeepDream notebook did: smoother, larger patterns; 0: off.")
    guide: str | None = _option(None, "A picture to dream towards: the dream takes on the guide's mix of features "
                                      "(each layer's channel profile), instead of amplifying its own.", "none")
    # looks: colours and mattes (colours.py, io/mattes.py)
    colors: float = _option(0.0, "The output's colours: dream (the dream's own), source (each frame keeps its own: "
                                 "the dream changes light and texture, not hue), or a share of the source's between, "
                                 "0..1 (0.5: halfway).", "dream")
    color_match: str | None = _option(None, "first: hold every frame's colour statistics (CIELAB mean and spread) to "
                                            "the first dreamed frame's, so a long shot's colours do not wander "
                                            "(videos and sequences); none: off.", "none")
    mask: str | None = _option(None, "A matte, aligned frame by frame with the input: a picture, a folder or %d "
                                     "pattern of numbered frames, or a video. White dreams, black stays the source "
                                     "exactly, grey blends. Scaled to the dream's size: its aspect ratio must be the "
                                     "input's (within 1%), and a video or sequence needs a frame for every input "
                                     "frame.", "none")
    mask_invert: bool = _option(False, "Swap the matte's white and black.")
    # video
    flow: bool = _option(True, "Carry the dream along the optical flow.", "on")
    coherence: float = _option(0.9, "0 dreams every frame afresh, 1 carries the dream along the flow as much as it "
                                    "can; sets --blend, --flow-steps and --flow-octaves, which override it.")
    blend: float | str | None = _option(None, "Share of the previous dream carried, 0..1, or a schedule (see "
                                              "--step-size).", "from --coherence, 0.95")
    flow_steps: int | str | None = _option(None, "Steps per octave for frames that start from a carried dream, or "
                                                 "a schedule (see --step-size).", "from --coherence, 1")
    flow_octaves: int | None = _option(None, "Octaves a carried frame dreams, the largest first; 0: all.",
                                       "from --coherence, 2")
    flow_zoom: float = _option(1.0, "Zoom the carried dream by this per frame, about the centre (a feedback zoom).")
    hold_strength: bool = _option(False, "Hold a carried frame's dream at its shot's fresh strength (what a preview "
                                         "shows): its carried pixels take only the steps it still lacks, measured "
                                         "inside the step loop (no slower).", "off")
    streams: int | None = _option(None, "Segments of the video dreamed side by side, their frames batched.",
                                  "as --batch")
    warmup: int = _option(8, "Frames a segment dreams before its first kept frame, to cross-fade from the one "
                             "before.")
    cut_threshold: float = _option(27.0, "Scene-cut threshold, 0..255, lower cuts more.")  # PySceneDetect's, after motion compensation
    frames: str | None = _option(None, "Frame range START:END (half-open).", "all")
    crf: int = _option(18, "Quality of H.264 and H.265, 0..51, lower is better (ProRes and FFV1 have none to set).")
    codec: str = _option(DEFAULT_CODEC, "Video codec: h264; h265 (10-bit from a deeper source, tagged hvc1 for Apple); "
                                 "prores (422 HQ, 10-bit; 4444 keeps a sequence's alpha; in .mov); ffv1 (lossless, "
                                 "the source's depth, alpha kept; in .mkv or .mov).")
    audio: bool = _option(True, "Keep the source's audio.", "on")
    fps: float = _option(25.0, "Frame rate of a sequence written as a video.")  # for image sequences

    def dream_params(self, values: FrameValues | None = None) -> DreamParams:
        """The engine's parameters at one frame's values (default: frame 0, as stills use)."""
        values = values or self.at(0)
        return DreamParams(self.octaves, self.octave_scale, values.steps, values.step_size, values.jitter,
                           self.tile, self.seed, values.layer_weights)

    def at(self, frame: int, fps: float = 25.0, envelope=None, times=None) -> FrameValues:
        """Every scheduled parameter at a source frame; `envelope` is the soundtrack's loudness per
        frame, needed only by audio schedules; `times` the frames' own times (variable-rate clips)."""
        value = {name: schedule(getattr(self, name), option_name(name)).at(frame, fps, envelope, times)
                 for name in SCHEDULED if getattr(self, name) is not None}
        value.update({name: math.floor(value[name] + 0.5) for name, kind in SCHEDULED.items()
                      if kind is int and name in value})
        blend, flow_steps, flow_octaves = coherence_values(self.coherence, value["steps"])
        value.setdefault("blend", blend)
        value.setdefault("flow_steps", flow_steps)
        weights = tuple(layer.schedule.at(frame, fps, envelope, times) for layer in self.layers) or None
        return FrameValues(**value, layer_weights=weights,
                           flow_octaves=flow_octaves if self.flow_octaves is None else self.flow_octaves)

    def schedules(self) -> dict[str, Schedule]:
        """The parameters that change over time, by option name (a layer's weight by its layer)."""
        found = {option_name(name): schedule(getattr(self, name), option_name(name)) for name in SCHEDULED
                 if getattr(self, name) is not None}
        found.update({f"--layer {layer.name}": layer.schedule for layer in self.layers})
        return {name: plan for name, plan in found.items() if plan.constant is None}

    def timeline(self, start: int, end: int, fps: float = 25.0, envelope=None, times=None) -> dict[str, list[float]]:
        """Every changing parameter's value at frames [start, end), by the names `schedules` gives."""
        changing = self.schedules()
        if not changing:
            return {}
        frames = [self.at(index, fps, envelope, times) for index in range(start, end)]
        found = {option_name(name): [getattr(value, name) for value in frames] for name in SCHEDULED}
        found.update({f"--layer {layer.name}": [value.layer_weights[k] for value in frames]
                      for k, layer in enumerate(self.layers)})
        return {name: [round(v, 8) for v in found[name]] for name in changing}

    def check_frames(self, frames: range, fps: float = 25.0, times=None, envelope=None) -> None:
        """Evaluate every schedule with an expression at each of `frames` (all of a render's, before any work)
        and check its value against BOUNDS: an expression's values are known only at the frames it is used
        at. Without the `envelope` (known once a render decodes its sound), an expression reading the
        loudness `a` is evaluated at silence and at the loudest, 0 and 1."""
        plans = {key: schedule(getattr(self, key), option_name(key)) for key in SCHEDULED
                 if isinstance(getattr(self, key), str)}
        plans.update({f"layer {layer.name}": layer.schedule for layer in self.layers if isinstance(layer.weight, str)})
        for key, plan in plans.items():
            if not plan.expressions:
                continue
            for loudness in [envelope] if envelope is not None or not plan.sound else [(0.0,), (1.0,)]:
                for frame in frames:
                    value = plan.at(frame, fps, loudness, times)
                    if key in BOUNDS:
                        heard = f", loudness a = {loudness[0]:g}" if envelope is None and plan.sound else ""
                        _check_bounds(key, value, f" at frame {frame}{heard} of '{plan.text}'")

    @property
    def audio_driven(self) -> bool:
        """Whether a schedule follows the input's soundtrack."""
        return any(plan.sound for plan in self.schedules().values())

    def for_zoom(self) -> "Settings":
        """A zoom is one chain with no optical flow: its carry-over is the transform."""
        return dataclasses.replace(self, flow=False, streams=1, frames=None,
                                   flow_octaves=0 if self.flow_octaves is None else self.flow_octaves)

    def to_dict(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["layers"] = [str(spec) for spec in self.layers]
        # Options added later are left out at their defaults, so earlier renders keep their fingerprint.
        for key, default in (("guide", None), ("flow_zoom", 1.0), ("backend", None), ("lap_norm", 0),
                             ("codec", DEFAULT_CODEC), ("colors", 0.0), ("color_match", None), ("mask", None),
                             ("mask_invert", False), ("hold_strength", False)):
            if data[key] == default:
                del data[key]
        return data


# Bounds, checked for values from the command line, config files and the API alike.
# name: (minimum, maximum, strictly greater than minimum?)
BOUNDS: dict[str, tuple[float | None, float | None, bool]] = {
    "seed": (0, 2**31 - 1, False),  # TensorFlow's stateless seeds are 32-bit signed
    "octaves": (1, 20, False),
    "octave_scale": (1.0, 4.0, True),
    "steps": (0, 10_000, False),
    "step_size": (0.0, 1.0, True),
    "jitter": (0, 4096, False),
    "tile": (64, 16384, False),
    "lap_norm": (0, 8, False),
    "colors": (0.0, 1.0, False),
    "max_side": (32, 65536, False),
    "batch": (1, 1024, False),
    "blend": (0.0, 1.0, False),
    "flow_steps": (0, 10_000, False),
    "coherence": (0.0, 1.0, False),
    "flow_octaves": (0, 20, False),
    "flow_zoom": (0.0, 10.0, True),
    "streams": (1, 1024, False),
    "warmup": (0, 1000, False),
    "cut_threshold": (0.0, 255.0, True),
    "crf": (0, 51, False),
    "fps": (0.0, 1000.0, True),
}

PRECISIONS = ("float32", "bfloat16")
COLOR_MATCHES = ("first", "none")
# --colors in words: the share of the source's colours
COLOR_WORDS = {"dream": 0.0, "source": 1.0}
BACKENDS = ("tensorflow", "jax", "torch")  # Keras backends (engine/backend.py)
FIELDS = {f.name: f for f in dataclasses.fields(Settings)}


def option_name(key: str) -> str:
    return "--" + key.replace("_", "-")


def _check_bounds(key: str, value: Any, where: str = "") -> None:
    """A UserError for a value outside BOUNDS; `where` says at which frame of which expression."""
    if isinstance(value, str) and key in SCHEDULED:  # every number a schedule names (expressions: check_frames)
        for number in schedule(value, option_name(key)).values():
            _check_bounds(key, number)
        return
    if key not in BOUNDS or value is None:
        return
    if isinstance(value, float) and not math.isfinite(value):  # nan slips past every comparison
        raise UserError(f"{option_name(key)} must be a finite number (got {value}){where}")
    low, high, strict = BOUNDS[key]
    if low is not None and (value <= low if strict else value < low):
        relation = ">" if strict else ">="
        raise UserError(f"{option_name(key)} must be {relation} {_number(low)} (got {_number(value)}){where}")
    if high is not None and value > high:
        raise UserError(f"{option_name(key)} must be <= {_number(high)} (got {_number(value)}){where}")


def _number(value: float) -> str:
    return str(value) if isinstance(value, int) else f"{value:g}"


def _coerce(key: str, value: Any, source: str) -> Any:
    """Turn a config-file or API value into the field's type, or say clearly what is wrong."""
    default = FIELDS[key].default
    if key == "layers":
        items = [value] if isinstance(value, str) else value
        if not isinstance(items, (list, tuple)):
            raise UserError(f"{source}: 'layers' must be a list of strings like \"mixed4:97=0.5\"")
        return tuple(item if isinstance(item, LayerSpec) else parse_layer_spec(str(item)) for item in items)
    if key in SCHEDULED:
        return _coerce_scheduled(key, value, source)
    if key == "colors":
        return _colour_share(value, source)
    if key in ("guide", "mask") and isinstance(value, Path):
        value = str(value)
    expected = {"model": str, "weights": str, "frames": str, "precision": str, "guide": str, "backend": str,
                "codec": str, "mask": str, "color_match": str}.get(key) or type(default)
    if isinstance(default, bool) or expected is bool:
        if not isinstance(value, bool):
            raise UserError(f"{source}: '{key}' must be true or false (got {value!r})")
        return value
    if key in ("max_side", "batch", "streams", "tile", "flow_octaves"):
        expected = int
    if expected is float and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    if not isinstance(value, expected) or isinstance(value, bool):
        raise UserError(f"{source}: '{key}' must be {expected.__name__} (got {value!r})")
    return value


def _colour_share(value: Any, source: str) -> float:
    """`--colors`: dream (0), source (1), or the share of the source's colours as a number."""
    number = value
    if isinstance(value, str):
        word = value.strip().lower()
        if word in COLOR_WORDS:
            return COLOR_WORDS[word]
        try:
            number = float(word)
        except ValueError:
            number = None
    if isinstance(number, bool) or not isinstance(number, (int, float)):
        where = "--colors" if source == "option" else f"{source}: 'colors'"
        raise UserError(f"{where} must be dream, source, or the share of the source's colours from 0 to 1 "
                        f"(got {value!r})")
    return float(number)


def _coerce_scheduled(key: str, value: Any, source: str) -> int | float | str:
    """A number stays a number (so a render's fingerprint is as before schedules); a schedule is kept as
    its text. Integer parameters take whole numbers, or schedules whose values are rounded per frame."""
    kind = SCHEDULED[key]
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise UserError(f"{source}: '{key}' must be {kind.__name__} or a schedule (got {value!r})")
    if isinstance(value, str):
        try:
            parsed = schedule(value, f"'{option_name(key)}'")  # quoted, as the command line's own errors are
        except UserError as error:
            if source == "option":  # the command line: the schedule's own message names the option
                raise
            raise UserError(f"{source}: '{key}' must be {kind.__name__} or a schedule: {error}") from None
        if parsed.constant is None:
            return parsed.text
        value = parsed.constant
    if kind is int:
        if float(value) != int(value):
            raise UserError(f"{option_name(key)} must be a whole number or a schedule (got {value!r})")
        return int(value)
    return float(value)


def load_config(path: Path) -> dict[str, Any]:
    """Read a TOML preset; keys are option names with - or _ (e.g. octave-scale = 1.4)."""
    if not path.is_file():
        raise UserError(f"config file not found: {path}")
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as error:
        raise UserError(f"config file {path} is not valid TOML: {error}") from None
    values = {}
    for raw_key, value in raw.items():
        key = raw_key.replace("-", "_")
        if key == "layer":
            key = "layers"
        if key not in FIELDS:
            known = ", ".join(sorted(k.replace("_", "-") for k in FIELDS))
            raise UserError(f"config file {path}: unknown key '{raw_key}' (known: {known})")
        values[key] = _coerce(key, value, f"config file {path}")
    return values


def build_settings(overrides: dict[str, Any] | None = None, config: Path | None = None) -> Settings:
    """Defaults, then the config file, then `overrides` (None values mean 'not given'); validated."""
    values: dict[str, Any] = load_config(config) if config else {}
    for key, value in (overrides or {}).items():
        if key not in FIELDS:
            raise UserError(f"unknown parameter '{key}'")
        if value is not None and not (key == "layers" and not value):
            values[key] = _coerce(key, value, "option")
    for key, value in values.items():
        _check_bounds(key, value)
    if "frames" in values:
        parse_frame_range(values["frames"])
    if values.get("guide") is not None:
        if any(layer.channel is not None for layer in values.get("layers", ())):
            raise UserError("--guide matches whole feature vectors: name layers without a channel")
        check_guide(Path(values["guide"]))
    if values.get("color_match") is not None:
        if values["color_match"] not in COLOR_MATCHES:
            raise UserError(f"--color-match must be one of {', '.join(COLOR_MATCHES)} (got {values['color_match']!r})")
        if values["color_match"] == "none":
            values["color_match"] = None
    if values.get("mask") is not None:
        from .io.mattes import check_matte

        check_matte(values["mask"])
    elif values.get("mask_invert"):
        raise UserError("--mask-invert swaps the white and black of a --mask: give one")
    if values.get("flow_zoom", 1.0) != 1.0 and values.get("flow") is False:
        raise UserError("--flow-zoom zooms the dream carried along the flow: it needs --flow")
    if values.get("coherence") == 0.0 and "flow" not in values:
        values["flow"] = False  # per-frame dreams: no flow to estimate
    if values.get("backend") is not None and values["backend"] not in BACKENDS:
        raise UserError(f"--backend must be one of {', '.join(BACKENDS)} (got {values['backend']!r})")
    if values.get("precision", "float32") not in PRECISIONS:
        raise UserError(f"--precision must be one of {', '.join(PRECISIONS)} (got {values['precision']!r})")
    check_codec_choice(values.get("codec", DEFAULT_CODEC), crf_given="crf" in values)
    return Settings(**values)


def check_guide(path: Path) -> None:
    """A guide picture must be there and readable, checked before TensorFlow loads."""
    from .io.images import ImageDecodeError, inspect_image, read_image

    if not path.is_file():
        raise UserError(f"--guide: picture not found: {path}")
    try:
        inspect_image(path)
        read_image(path)
    except (UserError, ImageDecodeError) as error:
        raise UserError(f"--guide: {error}") from None


def parse_frame_range(text: str | None) -> tuple[int, int | None]:
    """`START:END` (half-open; either side may be empty) -> (start, end or None)."""
    if text is None:
        return 0, None
    match = re.fullmatch(r"\s*(\d*)\s*:\s*(\d*)\s*", text)
    if not match:
        raise UserError(f"--frames must be START:END, e.g. 0:100 (got '{text}')")
    start = int(match[1]) if match[1] else 0
    end = int(match[2]) if match[2] else None
    if end is not None and end <= start:
        raise UserError(f"--frames {text}: END must be greater than START")
    return start, end


def frame_range(text: str | None, frame_count: int) -> tuple[int, int]:
    """The half-open range that `--frames` selects from a clip of `frame_count` frames."""
    start, end = parse_frame_range(text)
    end = frame_count if end is None else end
    if start >= frame_count or end > frame_count:
        raise UserError(f"--frames {text} is outside the clip, which has {frame_count} frames (0:{frame_count})")
    return start, end


def option_help(key: str, extra: str = "") -> str:
    """The CLI's help for a parameter, with its default, from the field itself."""
    field = FIELDS[key]
    shown = field.metadata["shown"]
    if shown is None:
        default = field.default
        shown = ("on" if default else "off") if isinstance(default, bool) else _number(default) \
            if isinstance(default, (int, float)) else str(default)
    return f"{field.metadata['help']}{extra} \\[default: {shown}]."
