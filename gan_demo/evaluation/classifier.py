"""A small CNN the project trains itself on a labelled image set: features and class probabilities for image metrics."""
from __future__ import annotations

import dataclasses
import json
import math
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import torch
import torch.nn.functional as F
from safetensors.torch import load_file as load_safetensors
from safetensors.torch import save as safetensors_bytes
from torch import nn

from gan_demo.core.files import write_atomic
from gan_demo.core.config import LABELLED_DATASETS, DataConfig

CLASSIFIER_VERSION = 1  # bump when the architecture or the recipe changes: older caches are retrained
SUBDIR = "classifiers"  # under DataConfig.data_dir
TRAIN_BATCH = 64  # images per training step
TRAIN_LR = 3e-3  # Adam learning rate, cosine-decayed to 0
TRAIN_IMAGES = 24_000  # images seen in training (~17 epochs of digits) ...
MAX_TRAIN_IMAGES = 120_000  # ... at least 1 epoch of a larger set, but never more than this (2 epochs of MNIST)
FEATURE_BATCH = 500  # images per forward pass when computing features
_locks: dict[str, threading.Lock] = {}  # one lock per cache file: two threads never train the same classifier
_locks_guard = threading.Lock()
_loaded: dict[tuple[str, str], "Classifier"] = {}  # (cache file, device) -> classifier, per process


class ClassifierNet(nn.Module):
    """Conv3x3 + BatchNorm + ReLU + MaxPool stages halving the side down to 4 x 4, then a hidden
    layer whose activations are the features, then the class logits.

    32 px, width 16: (C) x 32 x 32 -> 16 x 16 x 16 -> 32 x 8 x 8 -> 64 x 4 x 4 -> feature_dim -> n_classes.
    """

    def __init__(self, channels: int, img_size: int, n_classes: int, width: int = 16, feature_dim: int = 64):
        super().__init__()
        if img_size not in (16, 32, 64) or channels < 1 or n_classes < 2:
            raise ValueError(f"classifier needs img_size 16/32/64, channels >= 1 and >= 2 classes "
                             f"(got {img_size}, {channels}, {n_classes})")
        self.channels, self.img_size, self.n_classes = channels, img_size, n_classes
        self.width, self.feature_dim = width, feature_dim
        layers: list[nn.Module] = []
        in_ch, ch, side = channels, width, img_size
        while side > 4:
            layers += [nn.Conv2d(in_ch, ch, 3, padding=1, bias=False), nn.BatchNorm2d(ch), nn.ReLU(), nn.MaxPool2d(2)]
            in_ch, side = ch, side // 2
            ch = min(ch * 2, width * 4)
        # state size: (in_ch) x 4 x 4
        self.conv = nn.Sequential(*layers)
        self.hidden = nn.Sequential(nn.Flatten(), nn.Linear(in_ch * 16, feature_dim), nn.ReLU())
        self.dropout = nn.Dropout(0.2)
        self.head = nn.Linear(feature_dim, n_classes)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """(B, C, H, W) images in [-1, 1] -> (B, feature_dim) penultimate activations."""
        return self.hidden(self.conv(x))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.dropout(self.features(x)))  # (B, n_classes) logits


@dataclass
class Classifier:
    """A trained ClassifierNet (eval mode, on `device`) and what it was trained on."""

    net: ClassifierNet
    dataset: str  # digits, mnist, fashion-mnist, cifar10
    img_size: int
    channels: int
    n_classes: int
    class_names: list[str]
    test_accuracy: float  # accuracy on the held-out split (load_dataset(split="test"))
    train_seconds: float  # wall time of its training (when it was trained, maybe earlier)
    path: Path | None  # cache file (.safetensors), or None when not cached
    trained_now: bool  # False when read from the cache
    device: torch.device

    @property
    def feature_dim(self) -> int:
        return self.net.feature_dim

    @torch.no_grad()
    def features_and_probs(self, x: torch.Tensor, batch_size: int = FEATURE_BATCH) -> tuple[torch.Tensor, torch.Tensor]:
        """(N, C, H, W) images in [-1, 1] on any device -> ((N, feature_dim), (N, n_classes)) float32 on the CPU."""
        self._check(x)
        feats, probs = [], []
        for start in range(0, x.shape[0], batch_size):
            chunk = x[start:start + batch_size].to(self.device, torch.float32)
            h = self.net.features(chunk)
            feats.append(h.cpu())
            probs.append(torch.softmax(self.net.head(h), dim=1).cpu())
        if not feats:
            return torch.zeros(0, self.feature_dim), torch.zeros(0, self.n_classes)
        return torch.cat(feats), torch.cat(probs)

    def probs(self, x: torch.Tensor) -> torch.Tensor:
        """(N, C, H, W) images in [-1, 1] -> (N, n_classes) class probabilities on the CPU."""
        return self.features_and_probs(x)[1]

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """(N, C, H, W) images in [-1, 1] -> (N, feature_dim) features on the CPU."""
        return self.features_and_probs(x)[0]

    def _check(self, x: torch.Tensor) -> None:
        want = (self.channels, self.img_size, self.img_size)
        if x.dim() != 4 or tuple(x.shape[1:]) != want:
            raise ValueError(f"the {self.dataset} classifier takes images of shape (N, {', '.join(map(str, want))}), "
                             f"got {tuple(x.shape)}")

    def summary(self) -> dict:
        """What a report shows about the classifier (JSON-friendly)."""
        return {
            "dataset": self.dataset, "img_size": self.img_size, "channels": self.channels,
            "n_classes": self.n_classes, "feature_dim": self.feature_dim,
            "test_accuracy": round(self.test_accuracy, 4), "train_seconds": round(self.train_seconds, 1),
            "trained_now": self.trained_now, "path": str(self.path) if self.path else None,
        }


# ------------------------------------------------------------------------------ training
def _width(channels: int) -> int:
    return 16 if channels == 1 else 32


def _augment(x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Small random affine jitter (+-8% shift, +-10 degrees, 0.9-1.1 scale) so the classifier
    does not hinge on exact pixel positions that a generator only approximates."""
    b = x.shape[0]
    rand = torch.rand(b, 4, generator=generator, device=generator.device).to(x.device) * 2 - 1  # (B, 4) in [-1, 1]
    angle = rand[:, 0] * math.radians(10)
    scale = 1 + 0.1 * rand[:, 1]
    cos, sin = angle.cos() / scale, angle.sin() / scale
    theta = torch.stack([torch.stack([cos, -sin, 0.16 * rand[:, 2]], 1),
                         torch.stack([sin, cos, 0.16 * rand[:, 3]], 1)], 1)  # (B, 2, 3); 0.16 = 8% of the width [-1, 1]
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False)


@torch.no_grad()
def accuracy(net: nn.Module, x: torch.Tensor, y: torch.Tensor, batch_size: int = FEATURE_BATCH) -> float:
    """Share of images whose most probable class is their label."""
    was_training = net.training
    net.eval()
    correct = 0
    for start in range(0, x.shape[0], batch_size):
        logits = net(x[start:start + batch_size])
        correct += int((logits.argmax(1) == y[start:start + batch_size]).sum())
    net.train(was_training)
    return correct / max(1, x.shape[0])


def train_classifier(train, test=None, seed: int = 0, images: int | None = None,
                     progress: Callable[[float], None] | None = None) -> tuple[ClassifierNet, dict]:
    """Train a ClassifierNet on a labelled gan_demo Dataset (on its device); returns (net in eval mode, info).

    info: test_accuracy (on `test`, or nan without it), train_accuracy, train_seconds, steps, images.
    Deterministic for a seed on one machine: weights, order and augmentation come from seeded generators.
    `images` (default: TRAIN_IMAGES, at least one epoch, at most MAX_TRAIN_IMAGES) sets the training length.
    """
    if train.y is None or train.n_classes < 2:
        raise ValueError(f"{train.name}: the classifier needs a labelled dataset")
    device = train.x.device
    n = train.x.shape[0]
    if images is None:
        images = min(max(TRAIN_IMAGES, n), MAX_TRAIN_IMAGES)
    steps = max(1, math.ceil(images / TRAIN_BATCH))
    start_time, start_cpu = time.perf_counter(), time.process_time()
    with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
        torch.manual_seed(seed)  # weights and dropout; the caller's RNG is left as it was
        net = ClassifierNet(train.channels, train.img_size, train.n_classes, width=_width(train.channels)).to(device)
        opt = torch.optim.Adam(net.parameters(), lr=TRAIN_LR)
        sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: 0.5 * (1 + math.cos(math.pi * s / steps)))
        gen = torch.Generator(device="cpu").manual_seed(seed)  # order and augmentation
        net.train()
        order = torch.randperm(n, generator=gen)
        pos = 0
        for step in range(steps):
            if pos + TRAIN_BATCH > n:  # a new epoch: reshuffle
                order, pos = torch.randperm(n, generator=gen), 0
            idx = order[pos:pos + TRAIN_BATCH].to(device)
            pos += TRAIN_BATCH
            x = _augment(train.x[idx], gen)
            loss = F.cross_entropy(net(x), train.y[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            if progress is not None and (step % 20 == 0 or step == steps - 1):
                progress((step + 1) / steps)
    net.eval().requires_grad_(False)
    info = {
        "test_accuracy": accuracy(net, test.x, test.y) if test is not None else float("nan"),
        "train_accuracy": accuracy(net, train.x, train.y),
        "train_seconds": time.perf_counter() - start_time,
        "train_cpu_seconds": time.process_time() - start_cpu,  # all threads of this process
        "steps": steps,
        "images": steps * TRAIN_BATCH,
    }
    return net, info


# ------------------------------------------------------------------------------ cache
def classifier_path(data_dir: str | Path, dataset: str, img_size: int, channels: int) -> Path:
    """Where the classifier for (dataset, img_size, channels) is cached: <data_dir>/classifiers/<name>.safetensors."""
    return Path(data_dir).expanduser() / SUBDIR / f"{dataset}-{img_size}px-{channels}c.safetensors"


def _write_atomic(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(path, lambda f: f.write(data))


def _read_cache(path: Path, meta_path: Path, seed: int, device: torch.device) -> tuple[ClassifierNet, dict] | None:
    """The cached net and its meta when both files are there and match this version and seed, else None."""
    try:
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
        if meta.get("version") != CLASSIFIER_VERSION or meta.get("seed") != seed:
            return None
        net = ClassifierNet(meta["channels"], meta["img_size"], meta["n_classes"], meta["width"], meta["feature_dim"])
        net.load_state_dict(load_safetensors(str(path), device="cpu"), strict=True)
    except Exception:  # missing, half-written by an older version, or from another architecture: retrain
        return None
    return net.to(device).eval().requires_grad_(False), meta


def load_classifier(dataset: str, img_size: int, channels: int, data_dir: str | Path | None = None,
                    device: str | torch.device = "cpu", seed: int = 0, retrain: bool = False,
                    images: int | None = None, progress: Callable[[float], None] | None = None) -> Classifier:
    """The classifier for a labelled set at this size: from the cache, or trained now (and cached).

    Trains on load_dataset(split="train") and reports its accuracy on split="test". The cache
    lives in <data_dir>/classifiers/ (data_dir defaults to DataConfig.data_dir). `images` sets the
    training length when it trains (see train_classifier); a cached classifier is used whatever it was.
    """
    from gan_demo.data.datasets import load_dataset

    if dataset not in LABELLED_DATASETS:
        raise ValueError(f"the classifier needs a labelled dataset ({', '.join(LABELLED_DATASETS)}), not {dataset!r}")
    device = torch.device(device)
    data_dir = Path(data_dir if data_dir is not None else DataConfig().data_dir).expanduser()
    path = classifier_path(data_dir, dataset, img_size, channels)
    meta_path = path.with_suffix(".json")
    key = (str(path), str(device))
    with _locks_guard:
        lock = _locks.setdefault(str(path), threading.Lock())
    with lock:
        if not retrain and key in _loaded:
            return dataclasses.replace(_loaded[key], trained_now=False)
        cached = None if retrain else _read_cache(path, meta_path, seed, device)
        if cached is not None:
            net, meta = cached
            trained_now = False
        else:
            cfg = DataConfig(dataset=dataset, data_dir=str(data_dir), img_size=img_size, channels=channels)
            train = load_dataset(cfg, device, split="train")
            test = load_dataset(cfg, device, split="test")
            net, info = train_classifier(train, test, seed=seed, images=images, progress=progress)
            meta = {
                "version": CLASSIFIER_VERSION, "dataset": dataset, "img_size": img_size, "channels": channels,
                "n_classes": train.n_classes, "class_names": train.class_names, "width": net.width,
                "feature_dim": net.feature_dim, "seed": seed, "n_train": len(train), "n_test": len(test),
                **{k: (round(v, 5) if isinstance(v, float) else v) for k, v in info.items()},
            }
            state = {k: v.detach().cpu().contiguous() for k, v in net.state_dict().items()}
            _write_atomic(path, safetensors_bytes(state, metadata={"format": "pt"}))
            _write_atomic(meta_path, (json.dumps(meta, indent=2) + "\n").encode("utf-8"))
            trained_now = True
        clf = Classifier(
            net=net, dataset=dataset, img_size=img_size, channels=channels, n_classes=meta["n_classes"],
            class_names=list(meta.get("class_names") or [str(i) for i in range(meta["n_classes"])]),
            test_accuracy=float(meta["test_accuracy"]), train_seconds=float(meta.get("train_seconds", 0.0)),
            path=path, trained_now=trained_now, device=device,
        )
        _loaded[key] = clf
        return clf
