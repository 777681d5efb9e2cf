"""What one web run may use: limits per field and a budget of work and memory per training step."""
from __future__ import annotations

from ..config import ConfigError, RunConfig
from ..models import step_cost

# Bigger runs belong on the command line. Applied to the Train tab, the 2D lab and API runs.
WEB_LIMITS = {"steps": 100_000, "batch_size": 4096, "width": 1024, "depth": 8, "ngf": 256, "ndf": 256,
              "z_dim": 512, "n_points": 200_000}
MODEL_FIELDS = ("width", "depth", "ngf", "ndf", "z_dim")  # what an uploaded run is checked against
# One training step (n_critic D updates and a G update) as models.step_cost estimates it. Measured on
# the 2-core CPU this was written on: digits' default (28.6 GFLOP) takes 124 ms a step; a DCGAN runs
# ~300 GFLOP/s (bf16), an MLP ~23 GFLOP/s (fp32), so a step at the budget takes ~0.7 s or ~9 s. The
# per-field limits alone allowed ~1,000 TFLOP and ~43 GiB a step (64 px, ngf = ndf = 256, batch 4,096).
STEP_FLOPS = 200e9
STEP_BYTES = 2**30


def check_web_limits(cfg: RunConfig) -> None:
    """Refuse runs too big for a shared web server: each field, then the work and memory of one step."""
    resolved = cfg.resolved()
    _check_fields(resolved, WEB_LIMITS)
    cost = step_cost(resolved)
    lower = ("batch_size, width, depth or n_critic" if resolved.kind == "2d"
             else "batch_size, ngf, ndf, img_size or n_critic")
    if cost.flops > STEP_FLOPS:
        raise ConfigError(f"too much work per step: these settings need about {cost.flops / 1e9:,.0f} GFLOP "
                          f"per training step (the web app allows {STEP_FLOPS / 1e9:,.0f}); lower {lower}, "
                          "or train bigger runs with the command line")
    if cost.memory_bytes > STEP_BYTES:
        raise ConfigError(f"too much memory: these settings need about {cost.memory_bytes / 2**20:,.0f} MiB "
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
