"""Tests for gan_demo.evaluation.metrics: mode coverage and grid divergences on hand-made 2D point sets."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from gan_demo.evaluation.metrics import grid_divergence, mode_metrics

SIGMA = 0.01


def ring8() -> np.ndarray:
    angles = np.arange(8) * 2 * np.pi / 8
    return np.stack([np.cos(angles), np.sin(angles)], 1)


def mixture(modes: np.ndarray, n: int, sigma: float, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return modes[rng.integers(0, len(modes), n)] + rng.normal(0, sigma, (n, 2))


def test_perfect_samples_cover_every_mode():
    modes = ring8()
    out = mode_metrics(mixture(modes, 4000, SIGMA), modes, SIGMA)
    assert out["n_samples"] == 4000 and out["n_modes"] == 8
    assert out["modes_covered"] == 8
    # a 2D Gaussian puts 1 - exp(-9/2) = 98.9% of its samples within 3 sigma
    assert out["high_quality"] == pytest.approx(1 - math.exp(-4.5), abs=0.006)
    assert out["mode_kl"] < 0.01
    assert len(out["counts"]) == 8 and sum(out["counts"]) == round(out["high_quality"] * 4000)
    assert out["min_count"] == max(5, int(0.1 * 4000 / 8))


def test_torch_input_matches_numpy():
    modes = ring8()
    x = mixture(modes, 1000, SIGMA, seed=1)
    a = mode_metrics(x, modes, SIGMA)
    b = mode_metrics(torch.tensor(x, dtype=torch.float32), torch.tensor(modes, dtype=torch.float32), SIGMA)
    assert a["counts"] == b["counts"] and a["modes_covered"] == b["modes_covered"]


def test_collapse_to_one_mode():
    modes = ring8()
    x = mixture(modes[2:3], 2000, SIGMA)
    out = mode_metrics(x, modes, SIGMA)
    assert out["modes_covered"] == 1
    assert out["counts"][2] == sum(out["counts"])
    assert out["mode_kl"] == pytest.approx(math.log(8))


def test_far_away_points_are_not_high_quality():
    modes = ring8()
    x = np.random.default_rng(0).normal(0, 0.05, (1000, 2))  # all near the centre of the ring
    out = mode_metrics(x, modes, SIGMA)
    assert out["high_quality"] == 0 and out["modes_covered"] == 0
    assert out["mode_kl"] == pytest.approx(math.log(8))  # documented worst value, finite
    assert math.isfinite(out["mode_kl"])


def test_non_finite_samples_and_min_count():
    modes = ring8()
    x = mixture(modes, 800, SIGMA)
    x[:400] = np.nan
    out = mode_metrics(x, modes, SIGMA, min_count=1000)
    assert out["n_samples"] == 800
    assert 0.45 < out["high_quality"] <= 0.5
    assert out["modes_covered"] == 0 and out["min_count"] == 1000
    # a tiny sample set can still cover every mode with the default threshold
    small = mode_metrics(modes.repeat(2, 0), modes, SIGMA)
    assert small["modes_covered"] == 8 and small["min_count"] == 2


def test_mode_metrics_is_fast_on_100k_samples():
    modes = np.stack(np.meshgrid(np.arange(-2, 3), np.arange(-2, 3)), -1).reshape(-1, 2).astype(float)
    out = mode_metrics(mixture(modes, 100_000, 0.05), modes, 0.05)
    assert out["modes_covered"] == 25 and out["mode_kl"] < 0.01


def test_grid_divergence_identical_and_disjoint():
    modes = ring8()
    real = mixture(modes, 5000, 0.05)
    same = grid_divergence(real, real)
    assert same["kl"] == pytest.approx(0, abs=1e-9) and same["js"] == pytest.approx(0, abs=1e-9)

    close = grid_divergence(real, mixture(modes, 5000, 0.05, seed=1))
    assert close["js"] < 0.05

    far = grid_divergence(real, real + 100.0, bounds=(-2, 2, -2, 2))  # all in one corner cell
    assert far["js"] > 0.9 * math.log(2) and far["js"] <= math.log(2)
    assert far["kl"] > 10

    disjoint = grid_divergence(real, mixture(np.zeros((1, 2)), 5000, 0.05), bins=20)
    assert disjoint["js"] == pytest.approx(math.log(2), rel=1e-3)
    assert len(disjoint["bounds"]) == 4


def test_grid_divergence_handles_bad_fake_points():
    real = mixture(ring8(), 500, 0.05)
    out = grid_divergence(real, np.full((10, 2), np.nan))
    assert out["js"] == pytest.approx(math.log(2)) and math.isfinite(out["kl"])
    with pytest.raises(ValueError):
        grid_divergence(real, np.zeros((10, 3)))
