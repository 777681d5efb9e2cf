"""The 2D lab's numbers (GAN Lab): D's decision map, G's gradient on its samples, G's noise manifold."""
from __future__ import annotations

import torch

from gan_demo.explore.latent import z_from_seed
from gan_demo.families.losses import d_score, display_prob, g_loss
from gan_demo.families.nets import judge_each
from gan_demo.render.viz import grid_points


def noise_grid(z_dim: int, rows: int = 21, span: float = 2.5) -> torch.Tensor:
    """A regular grid over the first two noise dimensions (others 0): (rows, rows, z_dim)."""
    t = torch.linspace(-span, span, rows)
    a, b = torch.meshgrid(t, t, indexing="ij")
    z = torch.zeros(rows, rows, z_dim)
    z[..., 0] = a
    if z_dim > 1:
        z[..., 1] = b
    return z


def _gan_nets(trainer) -> tuple[torch.nn.Module, torch.nn.Module]:
    """The live G and D of a GAN run; other families have no discriminator for the lab to draw."""
    family = trainer.family
    if family.critic is None:
        raise ValueError(f"the 2D lab needs a GAN (a generator and a discriminator), not a {family.name} run")
    return family.decoder_net(ema=False), family.critic


def lab_state(trainer, bounds: tuple[float, float, float, float], res: int = 64, n_fake: int = 512,
              manifold_rows: int = 21, seed: int = 1) -> dict:
    """Everything the 2D lab draws, computed from the live G and D of a 2D run.

    Returns CPU tensors: heat (res, res) in [0, 1], fake (n_fake, 2), grads (n_fake, 2) = the
    direction each generated sample is pushed by the generator's loss (-dL_G/dx), and
    manifold (rows, rows, 2) = G over a grid of noise space.
    """
    if trainer.kind != "2d":
        raise ValueError("the 2D lab needs a 2D dataset (ring8, grid25, spiral, moons or a CSV of points)")
    G, D = _gan_nets(trainer)
    kind = trainer.cfg.train.loss
    z_dim = trainer.cfg.model.z_dim
    device = trainer.device
    with trainer.lock:
        modes = (G.training, D.training)
        G.eval()
        D.eval()
        try:
            with torch.no_grad():
                pts = torch.from_numpy(grid_points(bounds, res)).to(device)
                heat = display_prob(kind, judge_each(D, pts).float()).reshape(res, res).cpu()
                z = z_from_seed(seed, z_dim, n_fake).to(device)
                fake = G(z).float()
                zg = noise_grid(z_dim, manifold_rows).reshape(-1, z_dim).to(device)
                manifold = G(zg).float().reshape(manifold_rows, manifold_rows, -1).cpu()
            # The generator's gradient with respect to each of its samples (D's weights fixed).
            x = fake.detach().clone().requires_grad_(True)
            logits = D(x).float()  # one per sample, or one per pack for a packed D
            loss = g_loss(kind, logits) * logits.shape[0]  # per-sample (per-pack) gradients, not averaged away
            (grad,) = torch.autograd.grad(loss, x)
        finally:
            G.train(modes[0])
            D.train(modes[1])
    return {"heat": heat, "fake": fake.detach().cpu(), "grads": (-grad).cpu(), "manifold": manifold}


def mean_scores(trainer, real: torch.Tensor, fake: torch.Tensor) -> tuple[float, float]:
    """Mean D(real) and mean D(fake) as the run's loss reads D (losses.d_score), with D in eval mode.

    For nonsaturating, minimax and hinge these are probabilities of "real"; for lsgan and
    wgan-gp they are D's raw scores. Used to say what a single D or G step changed.
    """
    kind = trainer.cfg.train.loss
    _, D = _gan_nets(trainer)
    with trainer.lock, torch.no_grad():
        was_training = D.training
        D.eval()
        try:
            real_logits = D(real.to(trainer.device)).float()
            fake_logits = D(fake.to(trainer.device)).float()
        finally:
            D.train(was_training)
    return float(d_score(kind, real_logits)), float(d_score(kind, fake_logits))


def lab_change(before: dict, after: dict, real: torch.Tensor, bounds: tuple[float, float, float, float]) -> dict:
    """What one step changed between two lab states (lab_state dicts drawn with the same noise and bounds).

    real: (N, 2) CPU data points. Returns floats:
      moved_mean, moved_max  how far the generated points moved (data units)
      move_dx, move_dy       their mean displacement
      near_before, near_after  mean distance from a generated point to its nearest real point
      heat_mean_before, heat_mean_after  mean of the map (0 = all "fake", 1 = all "real")
      heat_up, heat_down     largest rise and fall of the map at one place
      heat_up_at, heat_down_at  (x, y) centres of where the map rose / fell the most
                             (weighted by the change; None when it did not move)
    """
    fb, fa = before["fake"].double(), after["fake"].double()
    move = fa - fb
    dist = move.norm(dim=1)
    real = real.double()

    def nearest(f: torch.Tensor) -> float:
        return float(torch.cdist(f, real).min(dim=1).values.mean())

    delta = (after["heat"] - before["heat"]).double()  # (res, res), row 0 = ymin
    res_y, res_x = delta.shape
    xmin, xmax, ymin, ymax = (float(b) for b in bounds)
    xs = xmin + (torch.arange(res_x, dtype=torch.float64) + 0.5) * (xmax - xmin) / res_x
    ys = ymin + (torch.arange(res_y, dtype=torch.float64) + 0.5) * (ymax - ymin) / res_y
    gy, gx = torch.meshgrid(ys, xs, indexing="ij")

    def centre(weight: torch.Tensor) -> tuple[float, float] | None:
        total = float(weight.sum())
        if total <= 1e-9:
            return None
        return float((weight * gx).sum() / total), float((weight * gy).sum() / total)

    rise, fall = delta.clamp(min=0), (-delta).clamp(min=0)
    return {
        "moved_mean": float(dist.mean()),
        "moved_max": float(dist.max()),
        "move_dx": float(move[:, 0].mean()),
        "move_dy": float(move[:, 1].mean()),
        "near_before": nearest(fb),
        "near_after": nearest(fa),
        "heat_mean_before": float(before["heat"].double().mean()),
        "heat_mean_after": float(after["heat"].double().mean()),
        "heat_up": float(rise.max()),
        "heat_down": float(fall.max()),
        "heat_up_at": centre(rise ** 2),
        "heat_down_at": centre(fall ** 2),
    }
