"""Latent-space tools: seeded noise, truncation, lerp/slerp paths and principal directions."""
from __future__ import annotations

from typing import Callable

import torch

from gan_demo.core.step_utils import z_from_seed  # noqa: F401  (seeded noise lives below the trainer and the families; a seed's latent)

INTERPOLATIONS = ("slerp", "lerp")
_PARALLEL_EPS = 1e-4  # sin(angle) below this: the great circle is undefined, use lerp


def truncate(z: torch.Tensor, psi: float) -> torch.Tensor:
    """The truncation trick: z * psi pulls latents toward the mean of N(0, I) (0). psi < 1 trades
    variety for typical, cleaner samples; psi = 1 leaves z unchanged.
    """
    return z * psi


def _endpoints(a: torch.Tensor, b: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(z_dim,) or (1, z_dim) -> (z_dim,) each."""
    if a.numel() != b.numel() or a.dim() > 2 or b.dim() > 2 or (a.dim() == 2 and a.shape[0] != 1):
        raise ValueError(f"endpoints must both be (z_dim,) or (1, z_dim), got {tuple(a.shape)} and {tuple(b.shape)}")
    return a.reshape(-1), b.reshape(-1)


def _weights(t, like: torch.Tensor) -> tuple[torch.Tensor, bool]:
    """t (float or (T,)) -> ((T, 1) float64 on like's device, whether t was a scalar)."""
    t = torch.as_tensor(t, dtype=torch.float64, device=like.device)
    if t.dim() > 1:
        raise ValueError(f"t must be a float or a (T,) tensor, got shape {tuple(t.shape)}")
    return t.reshape(-1, 1), t.dim() == 0


def _shape_out(path: torch.Tensor, a: torch.Tensor, scalar: bool, dtype: torch.dtype) -> torch.Tensor:
    """(T, z_dim) float64 -> the caller's dtype; a scalar t gives a's own shape back."""
    path = path.to(dtype)
    return path.reshape(a.shape) if scalar else path


def lerp(a: torch.Tensor, b: torch.Tensor, t) -> torch.Tensor:
    """Straight line (1 - t) a + t b. a, b: (z_dim,) or (1, z_dim); t a float (result shaped like a)
    or a (T,) tensor (result (T, z_dim)).
    """
    a_flat, b_flat = _endpoints(a, b)
    w, scalar = _weights(t, a_flat)
    path = (1 - w) * a_flat.double() + w * b_flat.double()  # (T, z_dim)
    return _shape_out(path, a, scalar, torch.promote_types(a.dtype, b.dtype))


def slerp(a: torch.Tensor, b: torch.Tensor, t) -> torch.Tensor:
    """Spherical interpolation: the direction moves along the great circle from a to b at constant
    angular speed while the norm goes linearly from |a| to |b|. Gaussian latents live near a sphere
    of radius sqrt(z_dim); a straight line cuts through its inside, where G has seen few latents.
    Falls back to lerp when a and b are (nearly) parallel or antiparallel, or one is zero.
    Shapes as lerp.
    """
    a_flat, b_flat = _endpoints(a, b)
    a64, b64 = a_flat.double(), b_flat.double()
    norm_a, norm_b = a64.norm(), b64.norm()
    if float(norm_a) < 1e-12 or float(norm_b) < 1e-12:
        return lerp(a, b, t)
    u, v = a64 / norm_a, b64 / norm_b
    omega = torch.arccos(torch.clamp(u @ v, -1.0, 1.0))
    sin_omega = torch.sin(omega)
    if float(sin_omega) < _PARALLEL_EPS:
        return lerp(a, b, t)
    w, scalar = _weights(t, a_flat)
    direction = (torch.sin((1 - w) * omega) * u + torch.sin(w * omega) * v) / sin_omega  # (T, z_dim), unit
    norm = (1 - w) * norm_a + w * norm_b  # (T, 1)
    return _shape_out(direction * norm, a, scalar, torch.promote_types(a.dtype, b.dtype))


def interpolate(z_a: torch.Tensor, z_b: torch.Tensor, frames: int, mode: str = "slerp",
                pingpong: bool = False) -> torch.Tensor:
    """(frames, z_dim) latents from z_a to z_b, both ends included. pingpong appends the path
    back without repeating the ends (frames * 2 - 2 in all), so a GIF of it loops seamlessly.
    """
    if mode not in INTERPOLATIONS:
        raise ValueError(f"mode must be one of {', '.join(INTERPOLATIONS)} (got {mode!r})")
    if frames < 2:
        raise ValueError(f"frames must be at least 2 (got {frames})")
    t = torch.linspace(0.0, 1.0, frames, dtype=torch.float64)
    path = (slerp if mode == "slerp" else lerp)(z_a, z_b, t)  # (frames, z_dim)
    if pingpong:
        path = torch.cat([path, path[1:-1].flip(0)], dim=0)
    return path


@torch.no_grad()
def principal_directions(sample_fn: Callable[[torch.Tensor], torch.Tensor], z_dim: int, n: int = 2000,
                         k: int = 8, seed: int = 0, batch_size: int = 500) -> tuple[torch.Tensor, torch.Tensor]:
    """Directions in z-space that move the outputs along their main axes of variation (the
    GANSpace idea, Harkonen et al. 2020).

    1. Draw n seeded latents z (CPU) and outputs X = sample_fn(z) flattened to (n, F)
       (called in chunks of batch_size; sample_fn moves z to its own device).
    2. PCA of X: top-k components V (F, k) and their coordinates C = (X - mean) V (n, k).
    3. Least squares z ~ C A: row i of A (k, z_dim) is how z moves per unit of component i.
    Returns (directions (k, z_dim) unit rows, explained variance ratio (k,) of the outputs), both
    CPU float32; k is capped at min(z_dim, F, n - 1). The sign of each direction is arbitrary;
    it is fixed so that its largest entry is positive.
    """
    if n < 2 or k < 1 or z_dim < 1 or batch_size < 1:
        raise ValueError(f"need n >= 2, k >= 1, z_dim >= 1, batch_size >= 1 (got n={n}, k={k}, z_dim={z_dim})")
    z = z_from_seed(seed, z_dim, n)  # (n, z_dim)
    chunks = [sample_fn(z[i:i + batch_size]) for i in range(0, n, batch_size)]
    x = torch.cat([c.detach().reshape(c.shape[0], -1).float().cpu() for c in chunks])  # (n, F)
    if x.shape[0] != n:
        raise ValueError(f"sample_fn returned {x.shape[0]} outputs for {n} latents")
    n_features = x.shape[1]
    k = min(k, z_dim, n_features, n - 1)
    x = x - x.mean(dim=0)
    total_var = float(x.double().pow(2).sum())

    if min(n, n_features) <= 512:
        _, s, vh = torch.linalg.svd(x, full_matrices=False)
        s, v = s[:k], vh[:k].T  # (k,), (F, k)
    else:  # randomized PCA; its random draws seeded and kept off the global RNG
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            _, s, v = torch.pca_lowrank(x, q=min(k + 10, n, n_features), center=False, niter=6)
        s, v = s[:k], v[:, :k]

    coords = (x @ v).double()  # (n, k) PCA coordinates
    z_centred = (z - z.mean(dim=0)).double()
    directions = torch.linalg.lstsq(coords, z_centred).solution  # (k, z_dim)
    directions = directions / directions.norm(dim=1, keepdim=True).clamp_min(1e-12)
    largest = directions.gather(1, directions.abs().argmax(dim=1, keepdim=True))  # (k, 1)
    directions = directions * torch.where(largest < 0, -1.0, 1.0)
    explained = s.double().pow(2) / total_var if total_var > 0 else torch.zeros(k, dtype=torch.float64)
    return directions.float(), explained.float()
