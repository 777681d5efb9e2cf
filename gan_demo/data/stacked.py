"""Stacked digits: three independent bundled digits per image (1,000 equally likely modes); gan_demo.evaluation.modes reads them."""
from __future__ import annotations

import numpy as np
import torch

from gan_demo.core.config import STACKED_DIGITS as NAME
N_MODES = 1000  # 10 digits ** 3 channels
CHANNELS = 3
# Triples per split. They are stored as indices into the split's source digits (a few MB) and stacked
# per batch, so the count costs no image memory: 100,000 keeps the training set's own mode histogram
# within KL ~0.005 of uniform ((K - 1) / 2N), and the held-out 26,000 matches the evaluation's sample
# count (the VEEGAN / PacGAN protocol), so both columns of a report are counted on equal footing.
SPLIT_TRIPLES = {"train": 100_000, "test": 26_000}
SPLIT_SEEDS = {"train": 0, "test": 1}  # the triples are the same for the same split on every machine
EVAL_N = 26_000  # generated samples scored by `eval` (VEEGAN and PacGAN count modes on 26,000)


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
    from gan_demo.data.datasets import Dataset, DataError, _digits

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
