"""Quality measures for generated samples: mode coverage and grid divergences for 2D sets (image metrics to come)."""
from __future__ import annotations

import math

import numpy as np
import torch

from .viz import default_bounds

# Distances are computed this many samples at a time, so 100k x 25 never builds a huge array.
_CHUNK = 16384


def _points(x, name: str) -> np.ndarray:
    """A torch tensor or array-like of 2D points as a (N, 2) float64 numpy array."""
    if isinstance(x, torch.Tensor):
        x = x.detach().to("cpu", torch.float64).numpy()
    a = np.asarray(x, dtype=np.float64)
    if a.ndim != 2 or a.shape[1] != 2:
        raise ValueError(f"{name} must have shape (N, 2), got {tuple(a.shape)}")
    return a


# ---------------------------------------------------------------------------------- 2D metrics
def mode_metrics(samples, modes, sigma: float, min_count: int | None = None) -> dict:
    """Mode coverage of 2D samples from a Gaussian mixture (ring8, grid25), as in VEEGAN and PacGAN.

    Each sample is assigned to its nearest mode. It is *high quality* when it lies within
    3 * sigma of that mode. A mode is *covered* when at least ``min_count`` high-quality
    samples are assigned to it.

    Default ``min_count``: 10% of a uniform share of the samples, at least 5, i.e.
    ``max(5, int(0.1 * N / K))``, but never more than the uniform share ``N // K`` itself (and
    at least 1), so that a small sample set can still cover every mode. For 2,500 samples on
    ring8 this is 31, on grid25 it is 10. (PacGAN uses a fixed 20 of 2,500 for grid25.)

    Returns a dict:
      n_samples      N (non-finite samples count as samples that are not high quality)
      n_modes        K
      modes_covered  number of covered modes, 0..K
      high_quality   fraction of all N samples within 3 sigma of their nearest mode
      kl_uniform     KL(p || uniform over the K modes), natural log, where p is the histogram
                     of the high-quality samples over the modes (empty modes contribute 0).
                     0 means every mode gets the same share; log(K) means all high-quality
                     samples sit on one mode. With no high-quality sample at all (early in
                     training) it is log(K) too: the worst value, finite so it plots and
                     serialises to JSON.
      counts         list[int]: high-quality samples per mode
      min_count      the threshold used
    """
    x = _points(samples, "samples")
    m = _points(modes, "modes")
    n, k = len(x), len(m)
    if k == 0:
        raise ValueError("modes must hold at least one mode")
    if not sigma > 0:
        raise ValueError(f"sigma must be positive (got {sigma})")
    if min_count is None:
        min_count = max(1, min(max(5, int(0.1 * n / k)), n // k))
    radius2 = (3.0 * float(sigma)) ** 2

    counts = np.zeros(k, dtype=np.int64)
    m_sq = (m * m).sum(1)  # (K,)
    for start in range(0, n, _CHUNK):
        chunk = x[start:start + _CHUNK]
        # |x - m|^2 = |x|^2 - 2 x.m + |m|^2: (B, K) without a (B, K, 2) temporary
        d2 = (chunk * chunk).sum(1, keepdims=True) - 2.0 * chunk @ m.T + m_sq
        d2 = np.where(np.isfinite(d2), d2, np.inf)
        nearest = d2.argmin(1)
        best = d2[np.arange(len(chunk)), nearest]
        good = best <= radius2 + 1e-12  # tolerance for the rounding of the expansion above
        counts += np.bincount(nearest[good], minlength=k)

    n_good = int(counts.sum())
    if n_good > 0:
        p = counts / n_good
        nz = p > 0
        kl = float(np.sum(p[nz] * np.log(p[nz] * k)))
    else:
        kl = math.log(k)
    return {
        "n_samples": n,
        "n_modes": k,
        "modes_covered": int((counts >= min_count).sum()),
        "high_quality": n_good / n if n else 0.0,
        "kl_uniform": max(kl, 0.0),
        "counts": [int(c) for c in counts],
        "min_count": int(min_count),
    }


def grid_divergence(real, fake, bins: int = 20, bounds=None, eps: float = 1e-10) -> dict:
    """KL and Jensen-Shannon divergence between two point sets binned on a grid (GAN Lab's measure).

    Both sets are counted on a ``bins x bins`` grid over ``bounds`` = (xmin, xmax, ymin, ymax)
    (default: square bounds around the real points with a 15% margin). Points outside the
    bounds are counted in the nearest edge cell, so a generator that throws points far away
    is still penalised; non-finite points are dropped. Each histogram is normalised, ``eps``
    is added to every cell and it is normalised again.

    Returns {"kl": KL(real || fake), "js": JS(real, fake), "bounds": bounds}, natural log;
    js lies in [0, ln 2]. With no finite fake point at all, js = ln 2 and kl = -ln(eps)
    (about the largest values they can take).
    """
    r = _points(real, "real")
    f = _points(fake, "fake")
    r = r[np.isfinite(r).all(1)]
    f = f[np.isfinite(f).all(1)]
    if len(r) == 0:
        raise ValueError("real must hold at least one finite point")
    if bins < 1:
        raise ValueError(f"bins must be at least 1 (got {bins})")
    if bounds is None:
        bounds = default_bounds(r)
    bounds = tuple(float(b) for b in bounds)
    if len(f) == 0:
        return {"kl": float(-math.log(eps)), "js": math.log(2.0), "bounds": bounds}

    xmin, xmax, ymin, ymax = bounds

    def histogram(p: np.ndarray) -> np.ndarray:
        # (N, 2) points -> (bins * bins,) smoothed probabilities; clip in float first, since
        # casting a huge float to int is undefined
        u = np.clip((p[:, 0] - xmin) / (xmax - xmin) * bins, 0, bins - 1).astype(np.int64)
        v = np.clip((p[:, 1] - ymin) / (ymax - ymin) * bins, 0, bins - 1).astype(np.int64)
        h = np.bincount(v * bins + u, minlength=bins * bins).astype(np.float64)
        h = h / h.sum() + eps
        return h / h.sum()

    p, q = histogram(r), histogram(f)
    mix = 0.5 * (p + q)
    kl = float(np.sum(p * np.log(p / q)))
    js = float(0.5 * np.sum(p * np.log(p / mix)) + 0.5 * np.sum(q * np.log(q / mix)))
    return {"kl": max(kl, 0.0), "js": min(max(js, 0.0), math.log(2.0)), "bounds": bounds}


# -------------------------------------------------------------------------------- image metrics
# (FID-style and classifier-based measures for image sets are added here later.)
