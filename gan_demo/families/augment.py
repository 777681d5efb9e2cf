"""Differentiable augmentation for small image sets (DiffAugment, Zhao et al. 2020) and ADA's overfitting heuristic r_t.

With a few hundred or thousand images D soon memorises the training set: it calls every real
image real, whatever G does, and its gradient stops telling G anything about the data. DiffAugment
shows D only transformed images, real and generated alike (the same kinds of transform, fresh random
draws), in both D's and G's updates; the transforms are differentiable, so G still learns through
them, and G never learns to produce them, because D never sees an untransformed image.

Pure functions of (B, C, H, W) images in [-1, 1]; every random draw comes from the generator passed
in, so a seed gives the same run. No learned parameters, nothing kept between calls.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from gan_demo.core.config import DEFAULT_POLICY, OPERATIONS, parse_policy  # noqa: F401  (a policy's names are a run setting, checked in config)

TRANSLATION_RATIO = 0.125  # shift by up to 1/8 of the side, each way (the paper's value)
CUTOUT_RATIO = 0.5  # a square of half the side is blanked (the paper's value)


def _uniform(x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """(B, 1, 1, 1) draws from U(0, 1): one per image, broadcast over its pixels."""
    return torch.rand((x.shape[0], 1, 1, 1), generator=generator, device=x.device, dtype=x.dtype)


def color(x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Random brightness (add U(-0.5, 0.5)), saturation (scale the distance from the pixel's channel mean by
    U(0, 2); a no-op on one channel) and contrast (scale the distance from the image's mean by U(0.5, 1.5))."""
    x = x + (_uniform(x, generator) - 0.5)
    mean = x.mean(dim=1, keepdim=True)
    x = (x - mean) * (_uniform(x, generator) * 2) + mean
    mean = x.mean(dim=(1, 2, 3), keepdim=True)
    return (x - mean) * (_uniform(x, generator) + 0.5) + mean


def translation(x: torch.Tensor, generator: torch.Generator, ratio: float = TRANSLATION_RATIO) -> torch.Tensor:
    """Shift each image by a whole number of pixels in [-s, s] along each axis (s = ratio x side, rounded);
    what comes in from outside is 0 (mid-grey in [-1, 1]), as in the paper."""
    b, c, h, w = x.shape
    sy, sx = int(h * ratio + 0.5), int(w * ratio + 0.5)
    if sy == 0 and sx == 0:
        return x
    dy = torch.randint(-sy, sy + 1, (b, 1), generator=generator, device=x.device)
    dx = torch.randint(-sx, sx + 1, (b, 1), generator=generator, device=x.device)
    padded = F.pad(x, (sx, sx, sy, sy))  # (B, C, H + 2 sy, W + 2 sx)
    rows = torch.arange(h, device=x.device).unsqueeze(0) + sy - dy  # (B, H): output row i reads padded row i + sy - dy
    cols = torch.arange(w, device=x.device).unsqueeze(0) + sx - dx  # (B, W)
    batch = torch.arange(b, device=x.device).view(b, 1, 1, 1)
    chans = torch.arange(c, device=x.device).view(1, c, 1, 1)
    return padded[batch, chans, rows.view(b, 1, h, 1), cols.view(b, 1, 1, w)]  # gathered: gradients flow back


def cutout(x: torch.Tensor, generator: torch.Generator, ratio: float = CUTOUT_RATIO) -> torch.Tensor:
    """Set a square of side ratio x side (rounded) to 0, centred on a uniformly drawn pixel (clipped at the border)."""
    b, _, h, w = x.shape
    size_y, size_x = int(h * ratio + 0.5), int(w * ratio + 0.5)
    cy = torch.randint(0, h, (b, 1), generator=generator, device=x.device)
    cx = torch.randint(0, w, (b, 1), generator=generator, device=x.device)
    top, left = cy - size_y // 2, cx - size_x // 2
    ys = torch.arange(h, device=x.device).unsqueeze(0)  # (1, H)
    xs = torch.arange(w, device=x.device).unsqueeze(0)
    in_rows = (ys >= top) & (ys < top + size_y)  # (B, H)
    in_cols = (xs >= left) & (xs < left + size_x)  # (B, W)
    keep = ~(in_rows.unsqueeze(2) & in_cols.unsqueeze(1))  # (B, H, W)
    return x * keep.unsqueeze(1).to(x.dtype)


_FUNCTIONS = {"color": color, "translation": translation, "cutout": cutout}


def augment(x: torch.Tensor, policy: tuple[str, ...], generator: torch.Generator) -> torch.Tensor:
    """x (B, C, H, W) in [-1, 1] through each operation of the parsed policy, in order; x itself for ()."""
    for name in policy:
        x = _FUNCTIONS[name](x, generator)
    return x


def overfit_sign(kind: str, real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
    """ADA's overfitting heuristic r_t = E[sign(D(x_real))] (Karras et al. 2020), a 0-d tensor in [-1, 1].

    sign is taken against the score where D's loss changes its verdict from fake to real: 0 for the
    logistic losses (sigma(0) = 1/2) and hinge (real pushed above +1, fake below -1); 0.5 for lsgan
    (targets 1 and 0). A WGAN critic has no such point (adding a constant changes nothing), so for
    wgan-gp the midpoint of this batch's mean real and mean generated scores stands in: r_t then says
    how cleanly D separates the two. Near +1: D is sure every real image is real, i.e. it memorises;
    ADA keeps it near 0.6 by augmenting more. The batch is the last axis: (R, B) logits (R runs of a pool)
    give one r_t per run.
    """
    real = real_logits.detach().float()
    if kind == "lsgan":
        threshold = 0.5
    elif kind == "wgan-gp":
        threshold = 0.5 * (real.mean(-1, keepdim=True) + fake_logits.detach().float().mean(-1, keepdim=True))
    else:
        threshold = 0.0
    return torch.sign(real - threshold).mean(-1)
