"""The shared sections of a run's config, step utilities (devices, autocast, EMA, noise) and torchrun plumbing."""
