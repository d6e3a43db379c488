"""Drawing a sheet and writing it: tiles in a grid over their captions, a title, and the file (checked
before any work, written with its record, replacing only a sheet dreamvid wrote)."""
from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Sequence

import cv2
import numpy as np
from PIL import Image, ImageDraw, ImageFont

from ..atomic import writing
from ..errors import UserError
from ..outputs import check_owner, check_writable
from ..sidecar import sidecar_path, write_sidecar


SHEET_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp")


GAP = 6  # pixels between cells and around the sheet


BACKGROUND, INK = (24, 24, 24), (235, 235, 235)


def font_size(cell_width: int) -> int:
    """Captions stay legible on small cells and modest on large ones."""
    return max(12, min(20, round(cell_width / 24)))


def wrap(text: str, font, width: int) -> list[str]:
    """Lines of at most `width` pixels, broken at spaces, and inside a word too long for a line."""
    lines: list[str] = []
    for word in text.split(" "):
        candidate = f"{lines[-1]} {word}" if lines else word
        if lines and font.getlength(candidate) <= width:
            lines[-1] = candidate
            continue
        lines.append("")
        for char in word:
            if lines[-1] and font.getlength(lines[-1] + char) > width:
                lines.append("")
            lines[-1] += char
    return lines


def compose_sheet(tiles: Sequence[np.ndarray], captions: Sequence[str], columns: int,
                  title: str | None = None) -> Image.Image:
    """Tiles (H x W x 3 uint8) in a grid, row by row, each over its caption; the title on top.

    Each cell is as large as the largest tile; a tile sits at its cell's top-left corner."""
    if len(tiles) != len(captions) or not tiles:
        raise ValueError("one caption per tile, and at least one tile")
    rows = math.ceil(len(tiles) / columns)
    cell_w = max(tile.shape[1] for tile in tiles)
    cell_h = max(tile.shape[0] for tile in tiles)
    font = ImageFont.load_default(size=font_size(cell_w))
    line_h = round(font.size * 1.25)
    caption_lines = [wrap(text, font, cell_w) for text in captions]
    caption_h = max(len(lines) for lines in caption_lines) * line_h + GAP // 2
    width = columns * cell_w + (columns + 1) * GAP
    title_lines = wrap(title, font, width - 2 * GAP) if title else []
    top = len(title_lines) * line_h + (GAP if title_lines else 0)
    height = top + rows * (cell_h + caption_h) + (rows + 1) * GAP
    sheet = Image.new("RGB", (width, height), BACKGROUND)
    draw = ImageDraw.Draw(sheet)
    for number, line in enumerate(title_lines):
        draw.text((GAP, GAP + number * line_h), line, fill=INK, font=font)
    for index, (tile, lines) in enumerate(zip(tiles, caption_lines)):
        x, y = cell_origin(index, columns, cell_w, cell_h + caption_h, top)
        sheet.paste(Image.fromarray(np.ascontiguousarray(tile)), (x, y))
        for number, line in enumerate(lines):
            draw.text((x, y + cell_h + GAP // 2 + number * line_h), line, fill=INK, font=font)
    return sheet


def cell_origin(index: int, columns: int, cell_w: int, cell_h: int, top: int = 0) -> tuple[int, int]:
    """Top-left pixel of cell `index` (row by row) on a sheet whose title takes `top` pixels."""
    row, column = divmod(index, columns)
    return GAP + column * (cell_w + GAP), top + GAP + row * (cell_h + GAP)


def neutral_picture(height: int, width: int, seed: int = 0) -> np.ndarray:
    """Soft grey noise, RGB float in [0, 1]: no content of its own, so a layer shows what it likes."""
    rng = np.random.default_rng(seed)
    grey = rng.standard_normal((height, width, 1)) + 0.3 * rng.standard_normal((height, width, 3))
    noise = cv2.GaussianBlur(grey.astype(np.float32), (0, 0), 2.0)
    noise /= noise.std() + 1e-8
    return np.clip(0.5 + 0.06 * noise, 0.0, 1.0)


def sheet_path(source: Path | None, output: Path | None, suffix: str, default_name: str = "sheet") -> Path:
    """Where a sheet goes: -o, else INPUT<suffix>.png beside the input (a folder's or pattern's
    beside its folder), else `default_name`<suffix>.png here. Checked before any work."""
    if output is None:
        if source is None:
            output = Path(f"{default_name}{suffix}.png")
        else:
            base = source.parent if "%" in source.name else source
            base = base.resolve() if base.name in ("", ".", "..") else base
            output = base.with_name(f"{base.stem if base.is_file() else base.name}{suffix}.png")
    if output.suffix.lower() not in SHEET_SUFFIXES:
        raise UserError(f"sheet {output} must end in {', '.join(SHEET_SUFFIXES)}")
    if source is not None and output.resolve() == source.resolve():
        raise UserError(f"output {output} is the input: choose another with -o")
    if not output.parent.is_dir():
        raise UserError(f"cannot write {output}: folder {output.parent} does not exist")
    if output.is_dir():
        raise UserError(f"output {output} exists and is a folder")
    check_owner(output, None, overwrite=True)  # replaces only a sheet dreamvid wrote
    check_writable(output, output.parent)
    return output


def write_sheet(path: Path, sheet: Image.Image, params: dict[str, Any], **extra: Any) -> None:
    """The record first, then the picture under a temporary name renamed into place: a kill leaves the
    old sheet or the new one, and a sheet that dreamvid may replace next time."""
    write_sidecar(sidecar_path(path, folder=False), params, **extra)
    with writing(path) as temporary:
        options = {"quality": 85} if path.suffix.lower() in (".jpg", ".jpeg", ".webp") else {}
        sheet.save(temporary, **options)
