"""Tiny run configs that several test files build: a ring8 MLP of a few steps (CPU, seconds)."""
from gan_demo.core.config import DataConfig, ModelConfig, RunConfig, TrainConfig


def toy_cfg(**train) -> RunConfig:
    """ring8, 1,000 points, a 32-wide 2-layer MLP, batch 64, 20 steps, seed 0, on the CPU; `train` overrides."""
    t = dict(batch_size=64, steps=20, seed=0, device="cpu")
    t.update(train)
    return RunConfig(data=DataConfig(dataset="ring8", n_points=1000), model=ModelConfig(width=32, depth=2),
                     train=TrainConfig(**t))


def ring_cfg(steps: int = 3, **train) -> RunConfig:
    """ring8, 500 points, a 16-wide 2-layer MLP, batch 32, `steps` steps; `train` overrides."""
    return RunConfig(data=DataConfig(dataset="ring8", n_points=500), model=ModelConfig(width=16, depth=2),
                     train=TrainConfig(**{"batch_size": 32, "steps": steps, **train}))
