"""Seeded latents, truncation, lerp/slerp paths and GANSpace-style principal directions."""
from __future__ import annotations

import math

import pytest
import torch

from gan_demo.explore.latent import interpolate, lerp, principal_directions, slerp, truncate, z_from_seed


def test_z_from_seed_is_deterministic():
    a = z_from_seed(42, 16, n=3)
    assert a.shape == (3, 16) and a.dtype == torch.float32 and a.device.type == "cpu"
    assert torch.equal(a, z_from_seed(42, 16, n=3))
    assert not torch.equal(a, z_from_seed(43, 16, n=3))
    assert torch.equal(z_from_seed(42, 16)[0], a[0])  # the first latent does not depend on n
    assert z_from_seed(7, 4).shape == (1, 4)


def test_z_from_seed_ignores_global_rng():
    torch.manual_seed(0)
    a = z_from_seed(5, 8)
    torch.manual_seed(123)
    torch.randn(10)
    b = z_from_seed(5, 8)
    assert torch.equal(a, b)
    state = torch.random.get_rng_state()
    z_from_seed(9, 8)
    assert torch.equal(state, torch.random.get_rng_state())


def test_truncate():
    z = z_from_seed(0, 8, 2)
    assert torch.equal(truncate(z, 1.0), z)
    assert torch.allclose(truncate(z, 0.5), z * 0.5)
    assert torch.equal(truncate(z, 0.0), torch.zeros_like(z))


def test_lerp():
    a, b = torch.tensor([0.0, 2.0]), torch.tensor([4.0, 0.0])
    assert torch.allclose(lerp(a, b, 0.25), torch.tensor([1.0, 1.5]))
    assert lerp(a, b, 0.5).shape == (2,)
    assert lerp(a[None], b[None], 0.5).shape == (1, 2)  # shaped like a for a scalar t
    path = lerp(a, b, torch.tensor([0.0, 0.5, 1.0]))
    assert path.shape == (3, 2) and path.dtype == torch.float32
    assert torch.equal(path[0], a) and torch.equal(path[-1], b)


def test_slerp_endpoints_and_norm():
    a, b = z_from_seed(1, 64)[0], 2 * z_from_seed(2, 64)[0]
    path = slerp(a, b, torch.linspace(0, 1, 5))
    assert path.shape == (5, 64) and path.dtype == torch.float32
    assert torch.allclose(path[0], a, atol=1e-5) and torch.allclose(path[-1], b, atol=1e-5)
    # the norm goes linearly from |a| to |b|
    norms = path.norm(dim=1)
    assert torch.allclose(norms, torch.linspace(0, 1, 5) * (b.norm() - a.norm()) + a.norm(), rtol=1e-5)
    mid = slerp(a, b, 0.5)
    assert a.norm() < mid.norm() < b.norm()
    # a straight line cuts inside the sphere: its midpoint is shorter than both ends here
    assert lerp(a, b, 0.5).norm() < mid.norm()


def test_slerp_moves_at_constant_angle():
    a, b = torch.tensor([1.0, 0.0]), torch.tensor([0.0, 1.0])
    path = slerp(a, b, torch.linspace(0, 1, 7))
    angles = torch.atan2(path[:, 1], path[:, 0])
    assert torch.allclose(angles, torch.linspace(0, math.pi / 2, 7), atol=1e-6)
    assert torch.allclose(path.norm(dim=1), torch.ones(7), atol=1e-6)
    assert slerp(a[None], b[None], 0.3).shape == (1, 2)


def test_slerp_falls_back_to_lerp_for_parallel_vectors():
    a = torch.tensor([1.0, 2.0, 3.0])
    t = torch.tensor([0.0, 0.3, 1.0])
    for b in (2 * a, a.clone(), -a, torch.zeros(3)):
        out = slerp(a, b, t)
        assert torch.isfinite(out).all()
        assert torch.allclose(out, lerp(a, b, t), atol=1e-6)


def test_interpolate_frames_and_pingpong():
    za, zb = z_from_seed(0, 8), z_from_seed(1, 8)
    for mode in ("slerp", "lerp"):
        path = interpolate(za, zb, 10, mode=mode)
        assert path.shape == (10, 8)
        assert torch.allclose(path[0], za[0], atol=1e-5) and torch.allclose(path[-1], zb[0], atol=1e-5)
        loop = interpolate(za, zb, 10, mode=mode, pingpong=True)
        assert loop.shape == (18, 8)
        assert torch.equal(loop[:10], path)
        assert torch.equal(loop[10:], path[1:-1].flip(0))  # back without repeating the ends
    assert interpolate(za[0], zb[0], 2, pingpong=True).shape == (2, 8)
    with pytest.raises(ValueError, match="mode"):
        interpolate(za, zb, 4, mode="cubic")
    with pytest.raises(ValueError, match="frames"):
        interpolate(za, zb, 1)


def test_principal_directions_recover_dominant_direction():
    z_dim, n_features = 6, 20
    gen = torch.Generator().manual_seed(0)
    u = torch.randn(z_dim, generator=gen)
    u = u / u.norm()
    big = torch.randn(n_features, generator=gen)
    # outputs vary mostly along `big`, driven by the z-direction u
    weights = 10 * torch.outer(u, big) + 0.1 * torch.randn(z_dim, n_features, generator=gen)

    def sample_fn(z):
        return (z @ weights).reshape(-1, 4, 5)  # image-like outputs are flattened

    directions, explained = principal_directions(sample_fn, z_dim, n=500, k=3, seed=0)
    assert directions.shape == (3, z_dim) and explained.shape == (3,)
    assert torch.allclose(directions.norm(dim=1), torch.ones(3), atol=1e-5)
    assert abs(float(directions[0] @ u)) > 0.99
    assert explained[0] > 0.95 and explained.sum() <= 1.0 + 1e-5
    assert (explained[:-1] >= explained[1:]).all()
    again, _ = principal_directions(sample_fn, z_dim, n=500, k=3, seed=0)
    assert torch.equal(directions, again)


def test_principal_directions_caps_k():
    directions, explained = principal_directions(lambda z: z[:, :2] * 3, z_dim=4, n=100, k=8)
    assert directions.shape == (2, 4) and explained.shape == (2,)  # capped by F = 2
    directions, _ = principal_directions(lambda z: z.repeat(1, 5), z_dim=3, n=100, k=8)
    assert directions.shape == (3, 3)  # capped by z_dim
    # 2D points through a map with one z-axis per output axis: directions are those axes, up to
    # sampling noise of order 1/sqrt(n) from chance correlations with the unused z[:, 1]
    directions, explained = principal_directions(lambda z: torch.stack([5 * z[:, 2], z[:, 0]], 1),
                                                 z_dim=3, n=2000, k=2, batch_size=300)
    assert torch.allclose(directions.abs(), torch.eye(3)[[2, 0]], atol=0.06)
    assert explained[0] == pytest.approx(25 / 26, abs=0.02)


def test_principal_directions_large_outputs_use_randomized_pca():
    z_dim = 4
    gen = torch.Generator().manual_seed(1)
    weights = torch.randn(z_dim, 700, generator=gen) * torch.tensor([8.0, 4.0, 2.0, 1.0])[:, None]
    directions, explained = principal_directions(lambda z: z @ weights, z_dim, n=600, k=2, seed=3)
    assert directions.shape == (2, z_dim)
    # the top component is driven mostly by z[0], which has the largest weights
    assert directions[0].abs().argmax() == 0
    assert explained[0] > explained[1] > 0


def test_principal_directions_constant_outputs_do_not_crash():
    directions, explained = principal_directions(lambda z: torch.zeros(z.shape[0], 3), z_dim=2, n=50, k=2)
    assert torch.isfinite(directions).all() and torch.isfinite(explained).all()
    assert (explained == 0).all()
