"""Mean pixel error of projecting held-out real digits into a checkpoint's latent space (not a pytest test).

    .venv/bin/python benchmarks/projection_error.py --checkpoint checkpoints/digits [--n 100] [--steps 300]

The first N digits of the bundled set's held-out split (never trained on), in the checkpoint's image size;
the class label is given to a conditional generator (the label of each digit). Prints one JSON object:
the mean, median and 90th percentile of the per-image mean absolute pixel error in [0, 1] units, the same
for the best random start alone (before Adam), the seconds it took, and the machine's load.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from gan_demo.core.config import DataConfig  # noqa: E402
from gan_demo.data.datasets import load_dataset  # noqa: E402
from gan_demo.explore.projection import project  # noqa: E402
from gan_demo.explore.sampler import Sampler  # noqa: E402


def summary(errors: torch.Tensor) -> dict:
    return {"mean": round(float(errors.mean()), 4), "median": round(float(errors.median()), 4),
            "p90": round(float(errors.quantile(0.9)), 4)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--checkpoint", default="checkpoints/digits")
    parser.add_argument("--n", type=int, default=100)
    parser.add_argument("--steps", type=int, default=300)
    args = parser.parse_args()
    sampler = Sampler.from_checkpoint(args.checkpoint, "cpu")
    m = sampler.cfg.model
    held_out = load_dataset(DataConfig(dataset="digits", img_size=m.img_size, channels=m.channels), "cpu", split="test")
    index = torch.arange(args.n)
    x, y = held_out.x[index], held_out.y[index]
    target = ((x.float() + 1) / 2).clamp(0, 1) if x.dtype.is_floating_point else x.float() / 255
    labels = y if m.n_classes else None
    out = {"checkpoint": args.checkpoint, "n": args.n, "steps": args.steps, "load_before": os.getloadavg()}
    start = project(sampler, target, labels, steps=0)
    t0 = time.perf_counter()
    found = project(sampler, target, labels, steps=args.steps)
    out["seconds"] = round(time.perf_counter() - t0, 1)
    out["error_best_random_start"] = summary(start.error)
    out["error_after_adam"] = summary(found.error)
    out["load_after"] = os.getloadavg()
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
