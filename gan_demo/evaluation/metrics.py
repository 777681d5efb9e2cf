"""Quality measures for generated samples: mode coverage and grid divergences for 2D sets, classifier-based image metrics."""
from __future__ import annotations

import math

import numpy as np
import torch

from gan_demo.render.viz import default_bounds

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
      mode_kl        KL(p || uniform over the K modes), natural log, where p is the histogram
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
        "mode_kl": max(kl, 0.0),
        "counts": [int(c) for c in counts],
        "min_count": int(min_count),
    }


def mode_histogram(labels, n_modes: int) -> dict:
    """Modes covered and the mode histogram's KL from uniform, for samples already read as modes
    (stacked digits: 1,000 modes, each sample's three digits read by a classifier).

    labels: (N,) mode indices in 0..n_modes-1. A mode is *covered* when at least one sample lands
    in it (the VEEGAN / PacGAN count, on 26,000 samples for stacked MNIST). kl_uniform =
    KL(histogram || uniform), natural log: 0 when every mode gets the same share, ln(n_modes)
    when all samples are one mode (and for no sample at all: the worst value, finite for JSON).
    Even a perfect generator has kl_uniform > 0 from counting noise, about (K - 1) / 2N.
    """
    y = labels.detach().cpu().numpy() if isinstance(labels, torch.Tensor) else np.asarray(labels)
    y = y.reshape(-1).astype(np.int64)
    if n_modes < 1:
        raise ValueError(f"n_modes must be at least 1 (got {n_modes})")
    if len(y) and (y.min() < 0 or y.max() >= n_modes):
        raise ValueError(f"mode labels must be in 0..{n_modes - 1}")
    counts = np.bincount(y, minlength=n_modes)
    n = int(counts.sum())
    if n == 0:
        kl = math.log(n_modes)
    else:
        p = counts / n
        nz = p > 0
        kl = float(np.sum(p[nz] * np.log(p[nz] * n_modes)))
    return {"n_samples": n, "n_modes": n_modes, "modes_covered": int((counts > 0).sum()),
            "kl_uniform": max(kl, 0.0), "counts": [int(c) for c in counts]}


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
# Image metrics work on features and class probabilities from gan_demo.evaluation.classifier (a small CNN
# the project trains itself), so they need no downloaded weights. Inputs may be torch tensors
# or numpy arrays; every function returns plain Python numbers (JSON-friendly).

def _matrix(x, name: str, dtype=np.float64) -> np.ndarray:
    """A (N, D) tensor or array as a numpy array of `dtype`."""
    if isinstance(x, torch.Tensor):
        x = x.detach().to("cpu", torch.float64).numpy()
    a = np.asarray(x, dtype=dtype)
    if a.ndim != 2:
        raise ValueError(f"{name} must have shape (N, D), got {tuple(a.shape)}")
    return a


def _sqrt_psd(m: np.ndarray) -> np.ndarray:
    """Square root of a symmetric positive semi-definite matrix (negative rounding noise clipped to 0)."""
    w, v = np.linalg.eigh((m + m.T) / 2)
    return (v * np.sqrt(np.clip(w, 0, None))) @ v.T


def frechet_distance(feats_a, feats_b) -> float:
    """Frechet distance between Gaussians fitted to two feature sets (the formula of FID):

        |mu_a - mu_b|^2 + tr(S_a) + tr(S_b) - 2 tr((S_a^1/2 S_b S_a^1/2)^1/2)

    With classifier features this is "FD_classifier", the FID analogue. It is biased upward
    for small sets, so compare figures computed on the same number of samples.
    """
    a, b = _matrix(feats_a, "feats_a"), _matrix(feats_b, "feats_b")
    if a.shape[1] != b.shape[1]:
        raise ValueError(f"feature sizes differ: {a.shape[1]} and {b.shape[1]}")
    if len(a) < 2 or len(b) < 2:
        raise ValueError("frechet_distance needs at least 2 samples in each set")
    mu_a, mu_b = a.mean(0), b.mean(0)
    s_a, s_b = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    root_a = _sqrt_psd(s_a)
    # tr sqrt(S_a S_b) = sum of sqrt eigenvalues of the symmetric PSD S_a^1/2 S_b S_a^1/2
    middle = root_a @ s_b @ root_a
    tr_covmean = float(np.sqrt(np.clip(np.linalg.eigvalsh((middle + middle.T) / 2), 0, None)).sum())
    fd = float(((mu_a - mu_b) ** 2).sum() + np.trace(s_a) + np.trace(s_b) - 2 * tr_covmean)
    return max(fd, 0.0)


def _class_counts(probs_or_labels, n_classes: int | None) -> tuple[np.ndarray, int]:
    x = probs_or_labels
    if isinstance(x, torch.Tensor):
        x = x.detach().cpu().numpy()
    x = np.asarray(x)
    if x.ndim == 2:  # (N, K) probabilities: the predicted class is the most probable one
        k = n_classes or x.shape[1]
        labels = x.argmax(1)
    elif x.ndim == 1:
        if n_classes is None:
            raise ValueError("n_classes is needed with (N,) labels")
        k, labels = n_classes, x.astype(np.int64)
    else:
        raise ValueError(f"expected (N, K) probabilities or (N,) labels, got shape {tuple(x.shape)}")
    if len(labels) and (labels.min() < 0 or labels.max() >= k):
        raise ValueError(f"labels must be in 0..{k - 1}")
    return np.bincount(labels, minlength=k)[:k], k


def class_histogram(probs_or_labels, n_classes: int | None = None, min_share: float | None = None) -> dict:
    """How the predicted classes of a sample set spread over the classes (mode collapse made visible).

    probs_or_labels: (N, K) class probabilities (the argmax is the predicted class) or (N,) labels.
    A class is *covered* when its share of the predictions is at least ``min_share``
    (default: 10% of a uniform share, 0.1 / K, as mode_metrics does for 2D modes).

    Returns n_samples, n_classes, classes_covered, counts, shares, min_share and class_kl =
    KL(histogram || uniform), natural log: 0 when every class gets the same share, log(K) when
    every sample is predicted as one class.
    """
    counts, k = _class_counts(probs_or_labels, n_classes)
    if min_share is None:
        min_share = 0.1 / k
    n = int(counts.sum())
    if n == 0:
        return {"n_samples": 0, "n_classes": k, "classes_covered": 0, "counts": [0] * k, "shares": [0.0] * k,
                "min_share": float(min_share), "class_kl": math.log(k)}
    p = counts / n
    nz = p > 0
    kl = float(np.sum(p[nz] * np.log(p[nz] * k)))
    return {
        "n_samples": n,
        "n_classes": k,
        "classes_covered": int((p >= min_share).sum()),
        "counts": [int(c) for c in counts],
        "shares": [float(s) for s in p],
        "min_share": float(min_share),
        "class_kl": max(kl, 0.0),
    }


def classifier_score(probs, eps: float = 1e-12) -> float:
    """The Inception Score formula with our classifier: exp(E_x[KL(p(y|x) || p(y))]).

    1 (worst) when every sample gets the same prediction or every prediction is unsure;
    K (best) when each sample is confidently one class and the classes are used equally.
    """
    p = _matrix(probs, "probs")
    if len(p) == 0:
        raise ValueError("classifier_score needs at least one sample")
    p = np.clip(p, eps, 1.0)
    p = p / p.sum(1, keepdims=True)
    marginal = p.mean(0, keepdims=True)
    kl = (p * (np.log(p) - np.log(marginal))).sum(1)
    return float(np.exp(kl.mean()))


def label_accuracy(probs, labels) -> float:
    """Share of samples whose most probable class is the requested label (for a conditional generator)."""
    p = _matrix(probs, "probs")
    y = labels.detach().cpu().numpy() if isinstance(labels, torch.Tensor) else np.asarray(labels)
    if len(y) != len(p):
        raise ValueError(f"{len(p)} predictions but {len(y)} labels")
    return float((p.argmax(1) == y.reshape(-1)).mean()) if len(y) else 0.0


def _flat(x, name: str) -> torch.Tensor:
    t = x if isinstance(x, torch.Tensor) else torch.as_tensor(np.asarray(x))
    if t.dim() < 2:
        raise ValueError(f"{name} must hold one sample per row, got shape {tuple(t.shape)}")
    return t.detach().to("cpu", torch.float32).reshape(t.shape[0], -1)


def _kth_distance(x: torch.Tensor, k: int) -> torch.Tensor:
    """(N,) distance of each row of x to its k-th nearest other row."""
    out = torch.empty(x.shape[0])
    for start in range(0, x.shape[0], 1024):
        d = torch.cdist(x[start:start + 1024], x)  # (B, N); each row's own distance 0 is the first smallest
        out[start:start + 1024] = d.topk(k + 1, dim=1, largest=False).values[:, k]
    return out


def _inside_any_ball(queries: torch.Tensor, centres: torch.Tensor, radii: torch.Tensor) -> torch.Tensor:
    """(Q,) bool: query within radius of at least one centre."""
    inside = torch.zeros(queries.shape[0], dtype=torch.bool)
    for start in range(0, queries.shape[0], 1024):
        d = torch.cdist(queries[start:start + 1024], centres)  # (B, N)
        inside[start:start + 1024] = (d <= radii[None, :]).any(1)
    return inside


def knn_precision_recall(real_feats, fake_feats, k: int = 3) -> dict:
    """Improved precision and recall (Kynkaanniemi et al. 2019) in a feature space.

    Each real sample gets a ball reaching its k-th nearest real neighbour; the union of the
    balls estimates the real manifold. Precision = share of fake samples inside the real
    manifold (fidelity); recall = share of real samples inside the fake manifold built the
    same way (diversity). Both in [0, 1], higher is better; they depend on the set sizes, so
    compare sets of equal size.
    """
    real, fake = _flat(real_feats, "real_feats"), _flat(fake_feats, "fake_feats")
    if real.shape[1] != fake.shape[1]:
        raise ValueError(f"feature sizes differ: {real.shape[1]} and {fake.shape[1]}")
    if min(len(real), len(fake)) <= k:
        raise ValueError(f"knn_precision_recall needs more than k={k} samples in each set")
    precision = _inside_any_ball(fake, real, _kth_distance(real, k)).float().mean()
    recall = _inside_any_ball(real, fake, _kth_distance(fake, k)).float().mean()
    return {"precision": float(precision), "recall": float(recall), "k": k}


def nearest_neighbours(queries, references, k: int = 1) -> dict:
    """The k nearest references of each query by Euclidean distance over flattened values.

    Pass images for pixel space (is a generated image a copy of a training image?) or
    features for feature space. Returns {"indices": (Q, k) list, "distances": (Q, k) list}.
    """
    q, r = _flat(queries, "queries"), _flat(references, "references")
    if q.shape[1] != r.shape[1]:
        raise ValueError(f"queries and references differ in size: {q.shape[1]} and {r.shape[1]}")
    k = min(k, r.shape[0])
    indices, distances = [], []
    for start in range(0, q.shape[0], 256):
        d = torch.cdist(q[start:start + 256], r)
        top = d.topk(k, dim=1, largest=False)
        indices.append(top.indices)
        distances.append(top.values)
    if not indices:
        return {"indices": [], "distances": []}
    return {"indices": torch.cat(indices).tolist(), "distances": torch.cat(distances).tolist()}


FID_WEIGHTS_FILE = "weights-inception-2015-12-05-6726825d.pth"  # the Inception weights torchmetrics loads (via torch-fidelity)
FID_NEEDS = "(needs torchmetrics and the Inception weights)"


def standard_fid(real_images, fake_images, device: str | torch.device = "cpu") -> dict:
    """The standard FID (torchmetrics' Inception-v3, 2048 features) when it can run offline.

    Images: (N, C, H, W) in [-1, 1], C 1 or 3 (gray is repeated to RGB). Nothing is ever
    downloaded: without torchmetrics, or without the Inception weights already in torch hub's
    cache (<torch hub dir>/checkpoints/weights-inception-2015-12-05-6726825d.pth), the result
    is {"value": None, "note": "standard FID not computed: ..."}; never an error.
    """
    from pathlib import Path

    def skipped(why: str) -> dict:
        return {"value": None, "note": f"standard FID not computed: {why} {FID_NEEDS}"}

    try:
        from torchmetrics.image.fid import FrechetInceptionDistance
    except Exception as e:  # not installed, or a broken install
        return skipped(f"torchmetrics cannot be imported ({type(e).__name__})")
    weights = Path(torch.hub.get_dir()) / "checkpoints" / FID_WEIGHTS_FILE
    if not weights.is_file():
        return skipped(f"the Inception weights are not in {weights.parent} (nothing is downloaded)")
    try:
        fid = FrechetInceptionDistance(feature=2048, normalize=True).to(device)
        for images, real in ((real_images, True), (fake_images, False)):
            for start in range(0, images.shape[0], 100):
                x = ((images[start:start + 100].to(device, torch.float32) + 1) / 2).clamp(0, 1)
                if x.shape[1] == 1:
                    x = x.expand(-1, 3, -1, -1)
                fid.update(x, real=real)
        return {"value": float(fid.compute()), "note": "standard FID (torchmetrics, Inception-v3 2048 features)"}
    except Exception as e:
        return skipped(f"{type(e).__name__}: {' '.join(str(e).split())[:160]}")
