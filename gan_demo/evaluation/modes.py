"""Reading stacked digits' 1,000 modes: each channel read by the project's digits classifier, counted as modes,
at the end of a run (`eval`) and live while it trains (LiveModes)."""
from __future__ import annotations

import torch

from gan_demo.evaluation.classifier import classifier_path, load_classifier
from gan_demo.explore.latent import z_from_seed
from gan_demo.evaluation.metrics import mode_histogram
from gan_demo.data.stacked import CHANNELS, N_MODES, NAME, mode_of_digits

READ_BATCH = 3000  # images read by the classifier per call: 1,000 triples


@torch.no_grad()
def read_digits(images: torch.Tensor, classifier) -> tuple[torch.Tensor, torch.Tensor]:
    """(N, 3, H, W) images in [-1, 1] -> ((N, 3) digits read channel by channel, (N, 3) their probabilities),
    on the CPU. classifier: the project's 1-channel digits classifier (gan_demo.evaluation.classifier) at this size."""
    if images.dim() != 4 or images.shape[1] != CHANNELS:
        raise ValueError(f"stacked images must be (N, {CHANNELS}, H, W), got {tuple(images.shape)}")
    digits, confidence = [], []
    per_call = max(1, READ_BATCH // CHANNELS)
    for start in range(0, images.shape[0], per_call):
        chunk = images[start:start + per_call]
        flat = chunk.reshape(-1, 1, *chunk.shape[-2:])  # (B, 3, H, W) -> (3B, 1, H, W): each channel one digit
        probs = classifier.probs(flat)  # (3B, 10)
        best = probs.max(1)
        digits.append(best.indices.view(-1, CHANNELS))
        confidence.append(best.values.view(-1, CHANNELS))
    if not digits:
        return torch.zeros(0, CHANNELS, dtype=torch.int64), torch.zeros(0, CHANNELS)
    return torch.cat(digits), torch.cat(confidence)


def read_modes(images: torch.Tensor, classifier) -> torch.Tensor:
    """(N, 3, H, W) images in [-1, 1] -> (N,) int64 mode labels 0..999 as the classifier reads them."""
    return mode_of_digits(read_digits(images, classifier)[0])


def stacked_classifier(img_size: int, data_dir=None, device="cpu", progress=None):
    """The project's digits classifier (1 channel, this size) that reads each channel: cached, or trained now."""
    return load_classifier("digits", img_size, 1, data_dir, device=device, progress=progress)


# ----------------------------------------------------------------------------------- live, while training
LIVE_EVERY = 500  # steps between the Trainer's live mode counts
LIVE_SAMPLES = 2600  # a tenth of eval's 26,000: a perfect generator covers ~925 of 1,000 modes with these


class LiveModes:
    """The Trainer's live measure for stacked-digits: G_ema on a fixed batch of LIVE_SAMPLES latents,
    each channel read by the cached digits classifier, counted into modes covered and KL from uniform.

    About 3 s of CPU time at 16 px on the project's 2-core CPU: 1.4-2.6% of the 500 steps between two
    counts (BENCHMARKS.md section 8).
    """

    every = LIVE_EVERY  # steps between two counts

    def __init__(self, classifier, z_dim: int, seed: int):
        self.classifier = classifier
        self.z = z_from_seed(seed, z_dim, LIVE_SAMPLES)  # (LIVE_SAMPLES, z_dim) on the CPU, fixed for the run

    @classmethod
    def for_run(cls, cfg, device) -> "LiveModes | None":
        """For a resolved stacked-digits RunConfig: None when its classifier is not cached yet (training it
        would stall the run for minutes; the Quality tab or `eval` trains and caches it once)."""
        if cfg.data.dataset != NAME or not classifier_path(cfg.data.data_dir, "digits", cfg.model.img_size, 1).is_file():
            return None
        return cls(stacked_classifier(cfg.model.img_size, cfg.data.data_dir, device=device), cfg.model.z_dim,
                   cfg.train.seed + 2)

    def measure(self, generate) -> dict:
        """generate: (B, z_dim) latents -> (B, 3, H, W) images in [0, 1]. Returns modes_covered, n_modes, mode_kl."""
        chunk = 500
        modes = torch.cat([read_modes(generate(self.z[i:i + chunk]) * 2 - 1, self.classifier)
                           for i in range(0, len(self.z), chunk)])
        hist = mode_histogram(modes, N_MODES)
        return {"modes_covered": hist["modes_covered"], "n_modes": N_MODES, "mode_kl": hist["kl_uniform"]}
