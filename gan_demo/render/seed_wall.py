"""Small multiples of 2D runs: many runs' generated points as one wall of little scatter pictures."""
from __future__ import annotations

import math

from PIL import Image, ImageDraw

from gan_demo.render.viz import FAKE_COLOR, REAL_COLOR, font, points_image

WALL_BACKGROUND = (255, 255, 255)
MARK_COLOR = (214, 39, 40)  # the frame of a marked cell (e.g. a run that collapsed)
EMPTY_COLOR = (235, 235, 235)  # a cell with nothing drawn yet (a run that has not started)


def seed_wall(samples, bounds, cols: int = 4, cell: int = 128, gap: int = 6, real=None,
              captions=None, marked=None, radius: float = 1.2) -> Image.Image:
    """One picture of many runs' 2D samples: cell i (row-major, `cols` a row) is samples[i] as a scatter.

    samples: a list of (N, 2) arrays or tensors in data coordinates, or None for a run with nothing to
    show yet (a grey cell). bounds = (xmin, xmax, ymin, ymax), shared by every cell so the cells compare.
    real: (M, 2) points drawn under every cell's samples (green), e.g. the data's modes.
    captions: a short text per cell, written in its top-left corner. marked: a bool per cell; a marked
    cell gets a red frame. Returns an RGB picture of cols * cell + (cols + 1) * gap pixels across and
    rows * cell + (rows + 1) * gap down.
    """
    n = len(samples)
    if n == 0:
        raise ValueError("seed_wall: no samples to draw")
    if cols < 1 or cell < 8 or gap < 0:
        raise ValueError(f"seed_wall: cols >= 1, cell >= 8 and gap >= 0 (got {cols}, {cell}, {gap})")
    for name, per_cell in (("captions", captions), ("marked", marked)):
        if per_cell is not None and len(per_cell) != n:
            raise ValueError(f"seed_wall: {name} has {len(per_cell)} entries for {n} cells")
    rows = math.ceil(n / cols)
    width, height = cols * cell + (cols + 1) * gap, rows * cell + (rows + 1) * gap
    wall = Image.new("RGB", (width, height), WALL_BACKGROUND)
    draw = ImageDraw.Draw(wall)
    text_font = font(max(9, cell // 10))
    frame = max(1, gap // 2)
    for i, fake in enumerate(samples):
        x0 = gap + (i % cols) * (cell + gap)
        y0 = gap + (i // cols) * (cell + gap)
        if fake is None:
            tile = Image.new("RGB", (cell, cell), EMPTY_COLOR)
        else:
            tile = points_image(real, fake, bounds, size=cell, real_color=REAL_COLOR, fake_color=FAKE_COLOR,
                                radius=radius, legend=False)
        wall.paste(tile, (x0, y0))
        if marked is not None and marked[i] and frame:
            draw.rectangle([x0 - frame, y0 - frame, x0 + cell + frame - 1, y0 + cell + frame - 1],
                           outline=MARK_COLOR, width=frame)
        if captions is not None and captions[i]:
            draw.text((x0 + 3, y0 + 2), str(captions[i]), fill=(60, 60, 60), font=text_font)
    return wall
