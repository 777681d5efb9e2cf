"""Stacked digits: three independent bundled digits per image (1,000 equally likely modes), and the mode reader."""
from __future__ import annotations

import numpy as np
import torch

NAME = "stacked-digits"
N_MODES = 1000  # 10 digits ** 3 channels
CHANNELS = 3
# Triples per split. They are stored as indices into the split's source digits (a few MB) and stacked
# per batch, so the count costs no image memory: 100,000 keeps the training set's own mode histogram
# within KL ~0.005 of uniform ((K - 1) / 2N), and the held-out 26,000 matches the evaluation's sample
# count (the VEEGAN / PacGAN protocol), so both columns of a report are counted on equal footing.
SPLIT_TRIPLES = {"train": 100_000, "test": 26_000}
SPLIT_SEEDS = {"train": 0, "test": 1}  # the triples are the same for the same split on every machine
EVAL_N = 26_000  # generated samples scored by `eval` (VEEGAN and PacGAN count modes on 26,000)
READ_BATCH = 3000  # images read by the classifier per call: 1,000 triples


class StackView:
    """An (N, 3, H, W) float32 image set that is never stored: row i stacks sources[index[i, 0..2]].

    It indexes like a tensor (an int, a slice or an index tensor gives a real tensor of those rows),
    so Dataset.sample() and everything that reads rows by index work unchanged, while the images of a
    batch are built when it is drawn. shape, device, dtype, dim() and len() answer without building.
    """

    def __init__(self, sources: torch.Tensor, index: torch.Tensor):
        if sources.dim() != 4 or sources.shape[1] != 1:
            raise ValueError(f"sources must be (M, 1, H, W) images, got {tuple(sources.shape)}")
        if index.dim() != 2 or index.shape[1] != CHANNELS:
            raise ValueError(f"index must be (N, {CHANNELS}) source rows, got {tuple(index.shape)}")
        self.sources = sources  # (M, 1, H, W) float32 in [-1, 1]
        self.index = index.to(sources.device, torch.int64)  # (N, 3) rows of sources, one per channel

    @property
    def shape(self) -> torch.Size:
        return torch.Size((self.index.shape[0], CHANNELS, *self.sources.shape[-2:]))

    @property
    def device(self) -> torch.device:
        return self.sources.device

    @property
    def dtype(self) -> torch.dtype:
        return self.sources.dtype

    def dim(self) -> int:
        return 4

    def __len__(self) -> int:
        return self.index.shape[0]

    def __getitem__(self, key) -> torch.Tensor:
        if isinstance(key, torch.Tensor):
            key = key.to(self.index.device)
        rows = self.index[key]  # (B, 3) or (3,)
        return self.sources[rows].squeeze(-3)  # (B, 3, 1, H, W) -> (B, 3, H, W); (3, 1, H, W) -> (3, H, W)

    def __repr__(self) -> str:
        return f"StackView(shape={tuple(self.shape)}, sources={self.sources.shape[0]}, device={self.device})"


def draw_triples(source_labels: np.ndarray, n: int, seed: int) -> np.ndarray:
    """(n, 3) int64 rows of the source digits: each channel picks a digit class uniformly (so all
    1,000 modes are equally likely, whatever the class balance of the sources), then an image of
    that class uniformly, independently of the other channels."""
    labels = np.asarray(source_labels, dtype=np.int64)
    by_class = [np.flatnonzero(labels == d) for d in range(10)]
    if any(len(rows) == 0 for rows in by_class):
        raise ValueError("stacked digits need source images of all 10 digits")
    rng = np.random.default_rng(seed)
    digits = rng.integers(0, 10, size=(n, CHANNELS))  # (n, 3) the mode, channel by channel
    within = rng.random((n, CHANNELS))  # (n, 3) which image of that digit, as a fraction of the class
    out = np.empty((n, CHANNELS), dtype=np.int64)
    for d, rows in enumerate(by_class):
        hit = digits == d
        out[hit] = rows[np.minimum((within[hit] * len(rows)).astype(np.int64), len(rows) - 1)]
    return out


def mode_of_digits(digits: torch.Tensor) -> torch.Tensor:
    """(N, 3) digits (channel 0, 1, 2) -> (N,) mode labels 100 * a + 10 * b + c in 0..999."""
    return digits[:, 0] * 100 + digits[:, 1] * 10 + digits[:, 2]


def load_stacked_digits(cfg, device: torch.device, split: str, n: int | None = None, seed: int | None = None):
    """The stacked-digits Dataset of a split: x a StackView over the digits split's images (the same
    preprocessing as `digits`), y the mode label of each triple, unconditional (n_classes 0).

    The train split stacks digits' train images, "test" its held-out images: no source digit is in both.
    """
    from .data import Dataset, DataError, _digits

    if cfg.channels not in (None, 0, CHANNELS):
        raise DataError(f"{NAME} has {CHANNELS} channels, one digit in each (got channels {cfg.channels})")
    digits = _digits(_one_channel(cfg), device, split)  # (M, 1, H, W) in [-1, 1], labels (M,)
    n = SPLIT_TRIPLES[split] if n is None else n
    seed = SPLIT_SEEDS[split] if seed is None else seed
    if n < 1:
        raise DataError(f"{NAME}: needs at least one triple (got {n})")
    labels = digits.y.cpu()
    index = torch.from_numpy(draw_triples(labels.numpy(), n, seed))  # (N, 3)
    modes = mode_of_digits(labels[index])  # (N,)
    return Dataset(name=NAME, kind="image", x=StackView(digits.x, index.to(device)), y=modes.to(device),
                   n_classes=0, class_names=[], modes=None, sigma=None)


def _one_channel(cfg):
    from dataclasses import replace

    return replace(cfg, dataset="digits", channels=1)


# ----------------------------------------------------------------------------------- reading modes
@torch.no_grad()
def read_digits(images: torch.Tensor, classifier) -> tuple[torch.Tensor, torch.Tensor]:
    """(N, 3, H, W) images in [-1, 1] -> ((N, 3) digits read channel by channel, (N, 3) their probabilities),
    on the CPU. classifier: the project's 1-channel digits classifier (gan_demo.classifier) at this size."""
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
    from .classifier import load_classifier

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

    def __init__(self, classifier, z_dim: int, seed: int):
        from .latent import z_from_seed

        self.classifier = classifier
        self.z = z_from_seed(seed, z_dim, LIVE_SAMPLES)  # (LIVE_SAMPLES, z_dim) on the CPU, fixed for the run

    @classmethod
    def for_run(cls, cfg, device) -> "LiveModes | None":
        """For a resolved stacked-digits RunConfig: None when its classifier is not cached yet (training it
        would stall the run for minutes; the Quality tab or `eval` trains and caches it once)."""
        from .classifier import classifier_path

        if cfg.data.dataset != NAME or not classifier_path(cfg.data.data_dir, "digits", cfg.model.img_size, 1).is_file():
            return None
        return cls(stacked_classifier(cfg.model.img_size, cfg.data.data_dir, device=device), cfg.model.z_dim,
                   cfg.train.seed + 2)

    def measure(self, generate) -> dict:
        """generate: (B, z_dim) latents -> (B, 3, H, W) images in [0, 1]. Returns modes_covered, n_modes, mode_kl."""
        from .metrics import mode_histogram

        chunk = 500
        modes = torch.cat([read_modes(generate(self.z[i:i + chunk]) * 2 - 1, self.classifier)
                           for i in range(0, len(self.z), chunk)])
        hist = mode_histogram(modes, N_MODES)
        return {"modes_covered": hist["modes_covered"], "n_modes": N_MODES, "mode_kl": hist["kl_uniform"]}
