"""A run (Trainer), the loop that steps runs, checkpoints and comparisons."""
