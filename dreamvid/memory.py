"""What dreaming a still costs in memory and what the machine has, read without any numerics framework,
so that a still too large for the machine is refused before the night, naming a --max-side that fits."""
from __future__ import annotations

import contextlib
import math
import os
from typing import TYPE_CHECKING

from .errors import UserError
from .imageops import processing_size

if TYPE_CHECKING:  # pragma: no cover
    from .io.images import ImageInfo

# Peak memory of dreaming a still, from benchmarks/still_memory.py (results/still-memory*.json:
# vgg16-hed, steps=1, octaves=1, 2 CPU cores, peak RSS): 0.8 GB for TensorFlow, the model and a 96x64
# still; with --tile 512, 1.92 GB at 1500x1000 and 2.87 GB at 3000x2000 (211 bytes per pixel), 2.12 GB
# at 3000x2000 dreamed at --max-side 1500 (44 bytes per full-size pixel, so 167 per dreamed pixel);
# 3.34 GB at 8000x6000 dreamed at --max-side 2000.
# The figures below are those, with a margin: the full-size picture's copies (decoded samples, floats,
# the dream put back, the samples written) and the engine's copies of the picture it dreams.
RUNTIME_BYTES = 1 << 30
FULL_BYTES_PER_PIXEL = 64
DREAM_BYTES_PER_PIXEL = 192


def still_bytes(width: int, height: int, max_side: int | None, batch: int = 1) -> int:
    """About the most memory that dreaming `batch` stills of this size holds at once, beyond the
    gradient tile (which the engine sizes to a third of the free memory)."""
    small_h, small_w = processing_size(height, width, max_side)
    return RUNTIME_BYTES + batch * (FULL_BYTES_PER_PIXEL * width * height + DREAM_BYTES_PER_PIXEL * small_h * small_w)


def available_memory() -> int:
    """The machine's available memory, read without TensorFlow so that planning stays fast."""
    with contextlib.suppress(OSError, ValueError, IndexError):
        for line in open("/proc/meminfo"):
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    with contextlib.suppress(OSError, ValueError, AttributeError):
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    return 4 << 30


def check_memory(info: ImageInfo, max_side: int | None, batch: int = 1, available: int | None = None) -> None:
    """Refuse, before any work, a still that would not fit in memory (an out-of-memory kill loses the
    night), suggesting a --max-side that fits. The engine sizes its gradient tile to a third of the
    free memory, so the picture's copies must fit in the other two thirds."""
    available = available_memory() if available is None else available
    need = still_bytes(info.width, info.height, max_side, batch) * 3 // 2
    if need <= available:
        return
    text = (f"{info.path} ({info.width}x{info.height}) needs about {_gib(need)} of memory to dream, "
            f"but {_gib(available)} is available")
    side = _fitting_side(info.width, info.height, available * 2 // 3, batch)
    if side is None:
        raise UserError(f"{text}, even with --max-side: close other programs or shrink the picture first")
    raise UserError(f"{text}: try --max-side {side} (the output keeps the picture's own size)")


def _fitting_side(width: int, height: int, budget: int, batch: int) -> int | None:
    """The largest --max-side (a multiple of 16, at least 32) whose dream fits in `budget` bytes."""
    spare = budget / batch - RUNTIME_BYTES / batch - FULL_BYTES_PER_PIXEL * width * height
    if spare <= 0:
        return None
    side = int(max(width, height) * math.sqrt(spare / (DREAM_BYTES_PER_PIXEL * width * height))) // 16 * 16
    return side if side >= 32 else None


def _gib(size: int) -> str:
    return f"{size / 2**30:.1f} GiB"
