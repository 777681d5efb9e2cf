"""Mean pixel error of projecting held-out real digits into a VAE checkpoint's latent space (not a pytest test).

    .venv/bin/python benchmarks/vae_projection_error.py --checkpoint checkpoints/digits-vae [--n 100]

The VAE's projection needs no search: z is the encoder's mean mu(x), and the reconstruction is the
decoder's mean at that z (what the Sampler draws). The same N digits as benchmarks/projection_error.py
(the GAN's Adam optimisation of z): the first N of the bundled set's held-out split, in the checkpoint's
image size, each digit's label given to a conditional VAE. Prints one JSON object: the mean, median and
90th percentile of the per-image mean absolute pixel error in [0, 1] units, the seconds and the load.
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

from gan_demo.training.checkpoint import load_checkpoint  # noqa: E402
from gan_demo.core.config import DataConfig  # noqa: E402
from gan_demo.data.datasets import load_dataset  # noqa: E402
from gan_demo.explore.sampler import Sampler  # noqa: E402


def summary(errors: torch.Tensor) -> dict:
    return {"mean": round(float(errors.mean()), 4), "median": round(float(errors.median()), 4),
            "p90": round(float(errors.quantile(0.9)), 4)}


@torch.no_grad()
def encoder_errors(run_dir: str, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """(B,) mean absolute pixel error in [0, 1] units of decode(mu(x)) against x, for [-1, 1] images x (B, C, H, W)."""
    ckpt = load_checkpoint(run_dir, "cpu", with_optimizer_state=False)
    if ckpt.cfg.family != "vae":
        raise SystemExit(f"{run_dir} is a {ckpt.cfg.family}, not a VAE: use benchmarks/projection_error.py")
    sampler = Sampler.from_checkpoint(run_dir, "cpu")
    labels = y if sampler.n_classes else None
    mu, _ = ckpt.networks["encoder"].eval()(x, labels)  # (B, z_dim): the projection of x into z
    errors = []
    for i in range(x.shape[0]):  # one at a time: a conditional VAE's label is the digit's own
        label = None if labels is None else int(labels[i])
        recon = sampler.generate(mu[i:i + 1], label)  # (1, C, H, W) in [0, 1]
        errors.append((recon - (x[i:i + 1] + 1) / 2).abs().mean())
    return torch.stack(errors)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--checkpoint", default="checkpoints/digits-vae")
    parser.add_argument("--n", type=int, default=100)
    args = parser.parse_args()
    cfg = load_checkpoint(args.checkpoint, "cpu", with_optimizer_state=False).cfg.model
    held_out = load_dataset(DataConfig(dataset="digits", img_size=cfg.img_size, channels=cfg.channels), "cpu",
                            split="test")
    x, y = held_out.x[:args.n], held_out.y[:args.n]
    x = x.float() if x.dtype.is_floating_point else x.float() / 127.5 - 1  # a uint8 store -> [-1, 1]
    out = {"checkpoint": args.checkpoint, "n": args.n, "load_before": os.getloadavg()}
    t0 = time.perf_counter()
    errors = encoder_errors(args.checkpoint, x, y)
    out["seconds"] = round(time.perf_counter() - t0, 2)
    out["error_encoder_mean"] = summary(errors)
    out["load_after"] = os.getloadavg()
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
