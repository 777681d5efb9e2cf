"""The figures a run measures while it trains: a 2D run's grid divergence and modes covered against a fixed draw
of real points, stacked digits' 1,000 modes. The Trainer is handed `live_quality` as a callback (it never imports
the metrics); the CLI and the app hand it in."""
from __future__ import annotations

import torch

from gan_demo.evaluation.metrics import grid_divergence, mode_metrics
from gan_demo.evaluation.modes import LiveModes

QUALITY_EVERY = 25  # 2D runs: steps between quality figures (modes covered, grid KL/JS) in quality_history
QUALITY_REAL_POINTS = 2048  # 2D runs: real points the generated ones are compared with


class PointQuality:
    """A 2D run's live figures: its sampling net on the run's fixed noise batch against a fixed draw of real points."""

    def __init__(self, dataset, seed: int, fixed_z: torch.Tensor, every: int | None = None):
        order = torch.randperm(len(dataset), generator=torch.Generator().manual_seed(seed))[:QUALITY_REAL_POINTS]
        self.real = dataset.x[order.to(dataset.x.device)].float().cpu()  # (<= 2048, 2) on the CPU
        self.modes, self.sigma = dataset.modes, dataset.sigma
        self.fixed_z = fixed_z
        self.every = QUALITY_EVERY if every is None else every

    def measure(self, generate) -> dict:
        """generate: (B, z_dim) latents -> (B, 2) points. Returns QualityRecord's fields."""
        fake = generate(self.fixed_z)
        grid = grid_divergence(self.real, fake)
        out = {"grid_kl": grid["kl"], "grid_js": grid["js"]}
        if self.modes is not None:
            m = mode_metrics(fake, self.modes, self.sigma)
            out.update({k: m[k] for k in ("modes_covered", "n_modes", "high_quality", "mode_kl")})
        return out


def live_quality(trainer):
    """What this run measures while it trains (None: nothing): 2D runs every QUALITY_EVERY steps; stacked digits
    every LIVE_EVERY steps once the digits classifier is cached (training it would stall the run for minutes)."""
    if trainer.kind == "2d":
        return PointQuality(trainer.dataset, trainer.cfg.train.seed, trainer.fixed_z)
    return LiveModes.for_run(trainer.cfg, trainer.device)
