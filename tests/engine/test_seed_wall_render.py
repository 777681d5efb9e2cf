"""Tests for gan_demo.render.seed_wall: the wall's size, where cells, points, frames and empty cells land."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from gan_demo.render.seed_wall import EMPTY_COLOR, MARK_COLOR, WALL_BACKGROUND, seed_wall
from gan_demo.render.viz import FAKE_COLOR

BOUNDS = (-1.0, 1.0, -1.0, 1.0)


@pytest.mark.parametrize("n,cols,cell,gap", [(16, 4, 40, 6), (5, 4, 24, 2), (1, 4, 16, 0), (3, 1, 20, 3)])
def test_wall_size(n, cols, cell, gap):
    wall = seed_wall([np.zeros((4, 2))] * n, BOUNDS, cols=cols, cell=cell, gap=gap)
    rows = -(-n // cols)
    assert wall.mode == "RGB"
    assert wall.size == (cols * cell + (cols + 1) * gap, rows * cell + (rows + 1) * gap)


def test_wall_golden_pixels():
    # cell 0: one point at the centre; cell 1: nothing yet (grey), framed as marked
    cell, gap = 32, 4
    wall = np.asarray(seed_wall([torch.zeros(1, 2), None], BOUNDS, cols=2, cell=cell, gap=gap,
                                marked=[False, True], radius=3.0)).astype(int)
    assert wall.shape == (40, 76, 3)
    centre0 = (gap + cell // 2, gap + cell // 2)  # (row, column)
    assert (wall[centre0] == FAKE_COLOR).all()
    assert (wall[gap + 2, gap + 2] != FAKE_COLOR).any()  # the cell's corner: no point there
    x1 = gap + cell + gap  # cell 1's left edge
    assert (wall[gap + cell // 2, x1 + cell // 2] == EMPTY_COLOR).all()
    assert (wall[gap + cell // 2, x1 - 1] == MARK_COLOR).all()  # the frame just outside cell 1
    assert (wall[gap + cell // 2, gap - 1] == WALL_BACKGROUND).all()  # cell 0 is not framed
    assert (wall[0, 0] == WALL_BACKGROUND).all()


def test_wall_captions_and_bad_input():
    plain = np.asarray(seed_wall([np.zeros((0, 2))], BOUNDS, cell=48))
    captioned = np.asarray(seed_wall([np.zeros((0, 2))], BOUNDS, cell=48, captions=["7"]))
    assert (plain != captioned).any()
    with pytest.raises(ValueError):
        seed_wall([], BOUNDS)
    with pytest.raises(ValueError):
        seed_wall([np.zeros((1, 2))] * 2, BOUNDS, marked=[True])
    with pytest.raises(ValueError):
        seed_wall([np.zeros((1, 3))], BOUNDS)
