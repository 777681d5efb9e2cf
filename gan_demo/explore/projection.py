"""Projecting real images (or 2D points) into a generator's latent space: z such that G(z) looks like them.

A VAE has an encoder: z is the mean of q(z|x) (for a conditional VAE without a given label, the class
whose reconstruction is nearest). A GAN has no encoder, so z is searched for: the best of a few random latents (and, for a conditional
generator without a given label, the best class), then Adam on z against a pixel loss, optionally plus a
feature loss in D's last hidden layer (what D looks at), with a small pull of |z| towards its typical
length so the latent stays one the generator was trained on. Batched: B targets are projected at once.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import torch
import torch.nn.functional as F

from gan_demo.explore.latent import z_from_seed

PROJECT_STEPS = 300  # Adam steps on z
PROJECT_LR = 0.05  # Adam learning rate on z
CANDIDATES = 32  # random latents tried per target (per class, for a conditional G with no label) before Adam
NORM_WEIGHT = 1e-3  # pull of |z|^2 / z_dim towards 1 (the typical length of a N(0, I) latent)


@dataclass
class Projection:
    """What projecting B targets found."""

    z: torch.Tensor  # (B, z_dim) CPU latents
    labels: torch.Tensor | None  # (B,) classes used (conditional generators), else None
    reconstruction: torch.Tensor  # (B, C, H, W) in [0, 1], or (B, 2) data coordinates
    error: torch.Tensor  # (B,) mean absolute pixel error in [0, 1] units (2D: distance in data units)
    losses: list[float]  # the mean loss after each Adam step (the curve)
    stopped: bool = False  # should_stop() ended it early


def _to_model_space(sampler, target: torch.Tensor) -> torch.Tensor:
    """[0, 1] images (the Sampler's output space) -> G's own output space ([-1, 1]); 2D points stay."""
    return target if sampler.kind == "2d" else target * 2 - 1


def _from_model_space(sampler, x: torch.Tensor) -> torch.Tensor:
    return x if sampler.kind == "2d" else ((x + 1) / 2).clamp(0, 1)


def _error(sampler, recon: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    if sampler.kind == "2d":
        return (recon - target).norm(dim=1)
    return (recon - target).abs().flatten(1).mean(1)


def _features(D, x: torch.Tensor, y) -> torch.Tensor:
    """D's last hidden layer (the input of its output layer) for x: (B, features)."""
    seen = {}

    def keep(module, inputs, output) -> None:  # a hook that returned a value would replace D's output
        seen["h"] = inputs[0]

    handle = D.out.register_forward_hook(keep)
    try:
        D(x, y)
    finally:
        handle.remove()
    return seen["h"].flatten(1)


@torch.no_grad()
def _best_start(G, target: torch.Tensor, z_dim: int, n_classes: int, labels, device, seed: int):
    """For each target, the candidate latent (and class) whose sample is nearest: (z0 (B, z_dim), labels or None).

    The same CANDIDATES latents for every target; a conditional generator tries each target's own class,
    or every class when none is given.
    """
    z_all = z_from_seed(seed, z_dim, CANDIDATES).to(device)
    flat = target.flatten(1)
    best_err = torch.full((target.shape[0],), math.inf, device=device)
    best_z = torch.zeros(target.shape[0], z_dim, device=device)
    best_y = torch.zeros(target.shape[0], dtype=torch.long, device=device) if n_classes else None
    if not n_classes:
        classes = [None]
    else:
        classes = range(n_classes) if labels is None else [int(c) for c in labels.unique()]
    for c in classes:
        y = None if c is None else torch.full((CANDIDATES,), c, dtype=torch.long, device=device)
        err = torch.cdist(flat, G(z_all, y).flatten(1), p=1) / flat.shape[1]  # (B, K) mean absolute error
        value, index = err.min(1)
        better = value < best_err
        if labels is not None:
            better &= labels == c  # a target keeps its own class
        best_err = torch.where(better, value, best_err)
        best_z[better] = z_all[index[better]]
        if best_y is not None:
            best_y[better] = c
    return best_z, best_y


def project(sampler, target: torch.Tensor, labels: torch.Tensor | None = None, steps: int = PROJECT_STEPS,
            lr: float = PROJECT_LR, feature_weight: float = 0.0, seed: int = 0,
            progress: Callable[[int, float], None] | None = None,
            should_stop: Callable[[], bool] | None = None) -> Projection:
    """Project B targets into the sampler's latent space (a GAN: search, then Adam on z).

    target: (B, C, H, W) in [0, 1] like the Sampler's images (or (B, 2) data points for a 2D generator).
    labels: (B,) classes for a conditional generator (None: the best class is searched for).
    feature_weight: weight of the loss on D's last hidden features (0: pixels only).
    progress(step, loss) after each Adam step; should_stop() is polled each step (the app's Stop).
    """
    if sampler.encoder is not None:
        return _encode(sampler, target, labels)
    G, D, device = sampler.G, sampler.D, sampler.device
    n_classes = sampler.n_classes
    goal = _to_model_space(sampler, target.float()).to(device)
    if labels is not None:
        labels = labels.to(device)
    with sampler.lock:
        g_mode, d_mode = G.training, D.training
        G.eval()
        D.eval()
        try:
            z0, y = _best_start(G, goal, sampler.z_dim, n_classes, labels, device, seed)
            z = z0.clone().requires_grad_(True)
            opt = torch.optim.Adam([z], lr=lr)
            params = list(G.parameters()) + list(D.parameters())
            was = [p.requires_grad for p in params]
            for p in params:
                p.requires_grad_(False)  # gradients flow to z only
            goal_features = _features(D, goal, y).detach() if feature_weight > 0 else None
            curve, stopped = [], False
            try:
                for step in range(steps):
                    if should_stop is not None and should_stop():
                        stopped = True
                        break
                    x = G(z, y)
                    loss = F.mse_loss(x, goal, reduction="none").flatten(1).mean(1)  # (B,)
                    if goal_features is not None:
                        loss = loss + feature_weight * F.mse_loss(
                            _features(D, x, y), goal_features, reduction="none").mean(1)
                    loss = loss + NORM_WEIGHT * (z.pow(2).mean(1) - 1).pow(2)
                    opt.zero_grad(set_to_none=True)
                    loss.sum().backward()
                    opt.step()
                    curve.append(float(loss.detach().mean()))
                    if progress is not None:
                        progress(step + 1, curve[-1])
            finally:
                for p, flag in zip(params, was):
                    p.requires_grad_(flag)
            with torch.no_grad():
                recon = _from_model_space(sampler, G(z, y).float())
        finally:
            G.train(g_mode)
            D.train(d_mode)
    recon = recon.cpu()
    return Projection(z=z.detach().cpu(), labels=None if y is None else y.cpu(), reconstruction=recon,
                      error=_error(sampler, recon, target.float().cpu()), losses=curve, stopped=stopped)


@torch.no_grad()
def _encode(sampler, target: torch.Tensor, labels: torch.Tensor | None) -> Projection:
    """A VAE's projection: the encoder's mean (one pass; per class for a conditional VAE without labels)."""
    device = sampler.device
    goal = _to_model_space(sampler, target.float()).to(device)
    classes = [None] if not sampler.n_classes else (
        [labels.to(device)] if labels is not None else
        [torch.full((goal.shape[0],), c, dtype=torch.long, device=device) for c in range(sampler.n_classes)])
    best = None
    with sampler.lock:
        modes = sampler.encoder.training, sampler.decoder.training
        sampler.encoder.eval()
        sampler.decoder.eval()
        try:
            for y in classes:
                mu, _ = sampler.encoder(goal, y)
                recon = _from_model_space(sampler, sampler.decoder(mu, y).float()).cpu()
                error = _error(sampler, recon, target.float().cpu())
                if best is None:
                    best = [mu, y, recon, error]
                else:
                    better = error < best[3]
                    best[0][better], best[2][better], best[3][better] = mu[better], recon[better], error[better]
                    if y is not None:
                        best[1] = torch.where(better.to(device), y, best[1])
        finally:
            sampler.encoder.train(modes[0])
            sampler.decoder.train(modes[1])
    mu, y, recon, error = best
    return Projection(z=mu.cpu(), labels=None if y is None else y.cpu(), reconstruction=recon, error=error, losses=[])


def image_target(image, sampler) -> torch.Tensor:
    """A picture (a PIL image, or a file path) as a (1, C, H, W) target in [0, 1] for this sampler's generator:
    centre square crop, resized to its img_size, in its channels (transparency over white)."""
    import numpy as np
    from PIL import Image

    from gan_demo.data.image_decode import Skip, decode_image

    m = sampler.cfg.model
    if sampler.kind != "image":
        raise ValueError("this generator makes 2D points: project a point (x, y), not an image")
    if isinstance(image, Image.Image):
        import io

        buffer = io.BytesIO()
        image.save(buffer, format="PNG")
        buffer.seek(0)
        image = buffer
    try:
        pixels = decode_image(image, m.img_size, m.channels, MAX_TARGET_PIXELS)  # (H, W, C) uint8
    except Skip as why:
        raise ValueError(f"cannot use this image: {why}") from None
    return torch.from_numpy(np.array(pixels.transpose(2, 0, 1))).float().div(255).unsqueeze(0)  # a writable copy


MAX_TARGET_PIXELS = 40_000_000  # a picture to project may be a photo, but not a decompression bomb
