"""Pure loss functions: GAN losses and gradient penalties of discriminator logits; the VAE's ELBO terms."""
from __future__ import annotations

import math
from typing import Callable

import torch
import torch.nn.functional as F

from gan_demo.families.nets import constant_slopes

LOSS_KINDS = ("nonsaturating", "minimax", "hinge", "lsgan", "wgan-gp")

# kind -> (L_D, L_G) in LaTeX, for the lessons tab. D(x) is the discriminator's output: a
# probability sigma(logit) for the logistic losses, the raw logit (a score) for the others.
LOSS_FORMULAS: dict[str, tuple[str, str]] = {
    "nonsaturating": (
        r"L_D = -\mathbb{E}_{x}\left[\log D(x)\right] - \mathbb{E}_{z}\left[\log\left(1 - D(G(z))\right)\right]",
        r"L_G = -\mathbb{E}_{z}\left[\log D(G(z))\right]",
    ),
    "minimax": (
        r"L_D = -\mathbb{E}_{x}\left[\log D(x)\right] - \mathbb{E}_{z}\left[\log\left(1 - D(G(z))\right)\right]",
        r"L_G = \mathbb{E}_{z}\left[\log\left(1 - D(G(z))\right)\right]",
    ),
    "hinge": (
        r"L_D = \mathbb{E}_{x}\left[\max(0, 1 - D(x))\right] + \mathbb{E}_{z}\left[\max(0, 1 + D(G(z)))\right]",
        r"L_G = -\mathbb{E}_{z}\left[D(G(z))\right]",
    ),
    "lsgan": (
        r"L_D = \tfrac{1}{2}\mathbb{E}_{x}\left[(D(x) - 1)^2\right] + \tfrac{1}{2}\mathbb{E}_{z}\left[D(G(z))^2\right]",
        r"L_G = \tfrac{1}{2}\mathbb{E}_{z}\left[(D(G(z)) - 1)^2\right]",
    ),
    "wgan-gp": (
        r"L_D = \mathbb{E}_{z}\left[D(G(z))\right] - \mathbb{E}_{x}\left[D(x)\right]"
        r" + \lambda\,\mathbb{E}_{\hat{x}}\left[\left(\lVert \nabla_{\hat{x}} D(\hat{x}) \rVert_2 - 1\right)^2\right]",
        r"L_G = -\mathbb{E}_{z}\left[D(G(z))\right]",
    ),
}

# kind -> one plain sentence on what the loss is and why it exists, for the lessons tab.
LOSS_NOTES: dict[str, str] = {
    "nonsaturating": "Goodfellow et al. 2014's practical choice: G maximises log D(G(z)), which keeps "
                     "a strong gradient even when D confidently rejects the fakes.",
    "minimax": "The textbook game: G minimises log(1 - D(G(z))). Early in training D rejects the fakes "
               "easily, this curve is flat there, and G's gradient vanishes.",
    "hinge": "Used by SNGAN, SAGAN and BigGAN: D only pushes real scores above +1 and fake scores "
             "below -1; G raises the score of its samples.",
    "lsgan": "Mao et al. 2017: least squares pull D's outputs to 1 for real and 0 for fake, so fakes "
             "far from the target still get a gradient.",
    "wgan-gp": "Gulrajani et al. 2017: D is a critic estimating the Wasserstein distance; a gradient "
               "penalty keeps it 1-Lipschitz. Its loss tracks sample quality.",
}


def _check_kind(kind: str) -> None:
    if kind not in LOSS_KINDS:
        raise ValueError(f"unknown loss {kind!r}; choose one of {', '.join(LOSS_KINDS)}")


def d_loss(kind: str, real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
    """Discriminator loss (a scalar to minimise) from logits r = D(x) and f = D(G(z)).

    nonsaturating, minimax: softplus(-r) + softplus(f)  = -log sigma(r) - log(1 - sigma(f))
    hinge:                  relu(1 - r) + relu(1 + f)
    lsgan:                  0.5 (r - 1)^2 + 0.5 f^2
    wgan-gp:                f - r   (add gp_weight * gradient_penalty(...) outside)
    Each term is a mean over its own batch, so real and fake batches may differ in size. The batch is the last
    axis: (B,) logits give a scalar, (R, B) logits (R runs of a pool) one loss per run.
    """
    _check_kind(kind)
    r, f = real_logits.float(), fake_logits.float()
    if kind in ("nonsaturating", "minimax"):
        return F.softplus(-r).mean(-1) + F.softplus(f).mean(-1)
    if kind == "hinge":
        return F.relu(1.0 - r).mean(-1) + F.relu(1.0 + f).mean(-1)
    if kind == "lsgan":
        return 0.5 * (r - 1.0).pow(2).mean(-1) + 0.5 * f.pow(2).mean(-1)
    return f.mean(-1) - r.mean(-1)  # wgan-gp


def g_loss(kind: str, fake_logits: torch.Tensor) -> torch.Tensor:
    """Generator loss (a scalar to minimise) from logits f = D(G(z)).

    nonsaturating: softplus(-f)  = -log sigma(f)           (gradient -sigma(-f): ~ -1 when D rejects)
    minimax:       -softplus(f)  = log(1 - sigma(f))        (gradient -sigma(f): ~ 0 when D rejects)
    hinge:         -f
    lsgan:         0.5 (f - 1)^2
    wgan-gp:       -f
    A mean over the batch, the last axis (as d_loss).
    """
    _check_kind(kind)
    f = fake_logits.float()
    if kind == "nonsaturating":
        return F.softplus(-f).mean(-1)
    if kind == "minimax":
        return -F.softplus(f).mean(-1)
    if kind == "lsgan":
        return 0.5 * (f - 1.0).pow(2).mean(-1)
    return -f.mean(-1)  # hinge, wgan-gp


def _input_grad(D: Callable, x: torch.Tensor, y) -> torch.Tensor:
    """d sum_i D(x_i) / dx, kept in the graph so a penalty on it trains D (D's (leaky) ReLUs with constant slopes:
    the same numbers, without backpropagating relu's zero second derivative through D)."""
    x = x.detach().requires_grad_(True)
    with constant_slopes():
        out = D(x, y)
    (grad,) = torch.autograd.grad(out.sum(), x, create_graph=True)
    return grad.float().flatten(1)  # (B, data size)


def gradient_penalty(D: Callable, real: torch.Tensor, fake: torch.Tensor, y: torch.Tensor | None = None,
                     generator: torch.Generator | None = None, pack: int = 1) -> torch.Tensor:
    """WGAN-GP (Gulrajani et al. 2017): E[(||grad_x D(x_hat)||_2 - 1)^2] on x_hat = a x + (1 - a) G(z),
    a ~ U(0, 1) drawn per sample. `y` labels the pairs (same for real and fake) for a conditional D.

    A packed D (PacGAN, pack = m > 1) judges m samples as one input: a is drawn per pack and the norm is
    that of the gradient with respect to the whole packed input (its m samples together).
    The penalty is per sample, so it is meaningless with BatchNorm in D (use d_norm "none").
    """
    if real.shape != fake.shape:
        raise ValueError(f"real and fake must have the same shape, got {tuple(real.shape)} and {tuple(fake.shape)}")
    alpha_shape = (real.shape[0] // pack,) + (1,) * (real.dim() - 1)  # (B/m, 1, ...) broadcasts over a sample
    alpha = torch.rand(alpha_shape, generator=generator, device=real.device, dtype=real.dtype)
    if pack > 1:
        alpha = alpha.repeat_interleave(pack, dim=0)  # one mixing weight for every sample of a pack
    x_hat = alpha * real.detach() + (1 - alpha) * fake.detach()
    grad = _packed(_input_grad(D, x_hat, y), pack)
    norm = torch.sqrt(grad.pow(2).sum(dim=1) + 1e-12)  # eps: finite gradient at grad = 0
    return (norm - 1.0).pow(2).mean()


def r1_penalty(D: Callable, real: torch.Tensor, y: torch.Tensor | None = None, pack: int = 1) -> torch.Tensor:
    """R1 (Mescheder et al. 2018): E_x ||grad_x D(x)||^2 on real data; multiply by gamma / 2 outside.
    With a packed D (pack = m > 1) x is a pack of m samples: the squared norm is over the packed input."""
    grad = _packed(_input_grad(D, real, y), pack)
    return grad.pow(2).sum(dim=1).mean()


def r1_weight(r1_gamma: float, r1_every: int, step: int) -> float:
    """The factor of r1_penalty in loss_D at this step (0: not computed). Lazy R1 (StyleGAN2): gamma / 2 times
    r1_every on the steps divisible by r1_every, 0 between; r1_every 1 is R1 on every step."""
    return 0.5 * r1_gamma * r1_every if r1_gamma > 0 and step % r1_every == 0 else 0.0


def _packed(grad: torch.Tensor, pack: int) -> torch.Tensor:
    """(B, data size) per-sample gradients -> (B/m, m * data size): one row per packed input of D."""
    if pack <= 1:
        return grad
    if grad.shape[0] % pack:
        raise ValueError(f"a packed D's penalty needs whole packs: {grad.shape[0]} samples in packs of {pack}")
    return grad.reshape(grad.shape[0] // pack, -1)


PROBABILITY_LOSSES = ("nonsaturating", "minimax", "hinge")  # D's output reads as a probability through sigma


def d_prob(kind: str, logits: torch.Tensor) -> torch.Tensor:
    """D(x) per sample as the loss reads it (the one place D's output becomes "how real"):
    the probability sigma(logit) for nonsaturating, minimax and hinge; the raw output for lsgan
    (trained toward 1 for real, 0 for fake) and wgan-gp (a critic: higher = more real, no scale).
    Same shape as logits.
    """
    _check_kind(kind)
    return torch.sigmoid(logits) if kind in PROBABILITY_LOSSES else logits


def d_score(kind: str, logits: torch.Tensor) -> torch.Tensor:
    """What to show as "D(x)" (detached scalar): the batch mean of d_prob (the batch the last axis, as d_loss)."""
    return d_prob(kind, logits.detach().float()).mean(-1)


def display_prob(kind: str, logits: torch.Tensor) -> torch.Tensor:
    """d_prob squeezed into 0..1 for colouring (the 2D lab's map), whatever the loss.

    Probabilities stay as they are; least-squares outputs are clipped to their targets 0 (fake)
    and 1 (real); a WGAN critic has no scale, so its scores are standardised over the batch
    first (only their order means anything).
    """
    p = d_prob(kind, logits)
    if kind == "lsgan":
        return p.clamp(0, 1)
    if kind == "wgan-gp":
        return torch.sigmoid((p - p.mean()) / (p.std() + 1e-8))
    return p


# ------------------------------------------------------------ VAE (Kingma & Welling 2014)
# Each term is per sample, in nats, summed over the sample's numbers (pixels or coordinates):
# the ELBO is log p(x) - KL(q || posterior) <= log p(x) = -(reconstruction + KL) per sample.
RECONSTRUCTIONS = ("bernoulli", "gaussian")


def gaussian_kl(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """KL(N(mu, exp(logvar)) || N(0, I)) per sample, in closed form:
    0.5 * sum_j (mu_j^2 + exp(logvar_j) - 1 - logvar_j). (B, z_dim) each -> (B,)."""
    mu, logvar = mu.float(), logvar.float()
    return 0.5 * (mu.pow(2) + logvar.exp() - 1.0 - logvar).flatten(1).sum(dim=1)


def bernoulli_nll(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """-log p(x | z) for a Bernoulli decoder with the given logits, per sample: binary cross-entropy
    summed over the pixels. target in [0, 1] (grey levels are read as probabilities, as is usual
    for MNIST). (B, ...) each -> (B,)."""
    bce = F.binary_cross_entropy_with_logits(logits.float(), target.float(), reduction="none")
    return bce.flatten(1).sum(dim=1)


def gaussian_nll(mean: torch.Tensor, target: torch.Tensor, sigma: float) -> torch.Tensor:
    """-log p(x | z) for a Gaussian decoder N(mean, sigma^2 I) with a fixed sigma, per sample:
    sum (x - mean)^2 / (2 sigma^2) + D/2 log(2 pi sigma^2), D the numbers per sample.
    (B, ...) each -> (B,)."""
    if not sigma > 0:
        raise ValueError(f"sigma must be positive (got {sigma})")
    sq = (target.float() - mean.float()).pow(2).flatten(1)
    return sq.sum(dim=1) / (2.0 * sigma ** 2) + 0.5 * sq.shape[1] * math.log(2.0 * math.pi * sigma ** 2)


def kl_weight(beta: float, step: int, warmup_steps: int = 0) -> float:
    """The KL term's weight at `step` (0-based): beta, ramped up linearly from 0 over the first
    warmup_steps steps (KL annealing, Bowman et al. 2016) so the decoder learns to use z first."""
    if warmup_steps <= 0:
        return float(beta)
    return float(beta) * min(1.0, step / warmup_steps)
