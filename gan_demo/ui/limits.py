"""What one web run may use: limits per field and a budget of work and memory per training step."""
from __future__ import annotations

import dataclasses

from gan_demo.core.config import ConfigError, RunConfig, apply_live, check_schedule
from gan_demo.families import step_cost

# Bigger runs belong on the command line. Applied to the Train tab, the 2D lab and API runs.
WEB_LIMITS = {"steps": 100_000, "batch_size": 4096, "width": 1024, "depth": 8, "ngf": 256, "ndf": 256,
              "z_dim": 512, "n_points": 200_000}
MODEL_FIELDS = ("width", "depth", "ngf", "ndf", "z_dim")  # what an uploaded run is checked against
# One training step (a GAN's n_critic D updates and a G update) as its family's step_cost estimates it. Measured on
# the 2-core CPU this was written on: digits' default (28.6 GFLOP) takes 124 ms a step; a DCGAN runs
# ~300 GFLOP/s (bf16), an MLP ~23 GFLOP/s (fp32), so a step at the budget takes ~0.7 s or ~9 s. The
# per-field limits alone allowed ~1,000 TFLOP and ~43 GiB a step (64 px, ngf = ndf = 256, batch 4,096).
STEP_FLOPS = 200e9
STEP_BYTES = 2**30


def check_web_limits(cfg: RunConfig) -> None:
    """Refuse runs too big for a shared web server: each field, then the work and memory of one step, as
    started and from each entry of its schedule on (a schedule's n_critic 100 is refused before it starts)."""
    resolved = cfg.resolved()
    _check_fields(resolved, WEB_LIMITS)
    budget = StepBudget(resolved)
    budget.check(resolved.train)
    check_schedule(resolved, each=lambda trial: budget.check(trial.train))


def check_live_change(cfg: RunConfig, changes: dict) -> None:
    """Refuse changing a running run's live settings (the Train tab's Apply) past the same budget as a start."""
    trial = RunConfig.from_dict({**cfg.to_dict(), "schedule": []})
    apply_live(trial, changes)
    check_web_limits(trial)


class StepBudget:
    """STEP_FLOPS and STEP_BYTES for one resolved run as its live settings change.

    models.step_cost builds the networks on the meta device (tens of ms); a step's work is n_critic D
    updates and one G update, and only a penalty (wgan-gp, R1, and how often a lazy R1 falls) changes a D
    update's cost, so two estimates per penalty state price any n_critic: a 1,000-entry schedule is checked in
    milliseconds."""

    def __init__(self, resolved: RunConfig):
        self.cfg = resolved
        self._parts: dict[tuple, tuple[float, float, float]] = {}  # (penalty, r1_every) -> (D update, G update, memory)

    def cost(self, train) -> tuple[float, float]:
        """(FLOPs, bytes) of one step with these train settings."""
        key = (train.loss == "wgan-gp" or (train.r1_gamma or 0) > 0, train.r1_every or 1)
        if key not in self._parts:
            one, two = (step_cost(dataclasses.replace(self.cfg, train=dataclasses.replace(train, n_critic=n)))
                        for n in (1, 2))
            d_update = two.flops - one.flops
            self._parts[key] = (d_update, one.flops - d_update, one.memory_bytes)
        d_update, g_update, memory = self._parts[key]
        return train.n_critic * d_update + g_update, memory

    def check(self, train) -> None:
        flops, memory = self.cost(train)
        lower = ("batch_size, width, depth or n_critic" if self.cfg.kind == "2d"
                 else "batch_size, ngf, ndf, img_size or n_critic")
        if flops > STEP_FLOPS:
            raise ConfigError(f"too much work per step: these settings need about {flops / 1e9:,.0f} GFLOP "
                              f"per training step (the web app allows {STEP_FLOPS / 1e9:,.0f}); lower {lower}, "
                              "or train bigger runs with the command line")
        if memory > STEP_BYTES:
            raise ConfigError(f"too much memory: these settings need about {memory / 2**20:,.0f} MiB "
                              f"to train (the web app allows {STEP_BYTES / 2**20:,.0f} MiB); lower {lower}, "
                              "or train bigger runs with the command line")


def check_model_limits(cfg: RunConfig) -> None:
    """Refuse an uploaded run whose networks are bigger than a web run may build."""
    _check_fields(cfg, {name: WEB_LIMITS[name] for name in MODEL_FIELDS})


def _check_fields(cfg: RunConfig, limits: dict) -> None:
    for name, limit in limits.items():
        section = next(s for s in (cfg.data, cfg.model, cfg.train) if hasattr(s, name))
        value = getattr(section, name)
        if value > limit:
            raise ConfigError(f"{name}: at most {limit:,} in the web app (got {value:,}); "
                              "train bigger runs with the command line")
