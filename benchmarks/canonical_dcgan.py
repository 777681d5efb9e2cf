"""The canonical PyTorch DCGAN training loop (pytorch/examples dcgan/main.py) on gan_demo's own G and D.

What a user would otherwise write: a torchvision-style dataset with per-image transforms
(Resize, ToTensor, Normalize), a DataLoader with num_workers=2, fp32, one D step and one G step
with BCELoss on sigmoid outputs, and `.item()` each step for the log line. The models are the
project's own (the same sizes and the same initial weights as the Trainer builds for the same
config), so the benchmark compares loops, not models.

Run alone:  python benchmarks/canonical_dcgan.py --steps 20 --device cpu
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn
import torch.optim as optim
import torch.utils.data
from PIL import Image

try:  # run as a script from a checkout: make gan_demo importable
    import gan_demo  # noqa: F401
except ImportError:  # pragma: no cover
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from gan_demo.core.config import RunConfig
from gan_demo.families.nets import build_models


class DigitsImages(torch.utils.data.Dataset):
    """A torchvision-style dataset: PIL images and int targets, transformed one image at a time."""

    def __init__(self, images: list[Image.Image], targets: list[int], transform=None):
        self.images, self.targets, self.transform = images, targets, transform

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, index: int):
        img, target = self.images[index], self.targets[index]
        if self.transform is not None:
            img = self.transform(img)
        return img, target


def make_dataset(cfg: RunConfig) -> DigitsImages:
    """The training images of cfg's dataset as PIL images, with the example's transforms to cfg's size.

    digits: the original 8 x 8 scikit-learn images (the same 80% training split as gan_demo.data.datasets),
    resized by the transform like MNIST in the example. Other image sets: the project's loaded
    training tensor turned back into PIL images.
    """
    import torchvision.transforms as transforms

    size, channels = cfg.model.img_size, cfg.model.channels
    if cfg.data.dataset == "digits":
        from sklearn.datasets import load_digits

        from gan_demo.data.datasets import _digits_split  # the project's fixed train/test split

        bunch = load_digits()
        idx = _digits_split(len(bunch.images), "train")
        pixels = (bunch.images[idx] * (255.0 / 16.0)).round().astype(np.uint8)  # 0..16 -> 0..255
        images = [Image.fromarray(p, mode="L") for p in pixels]
        if channels == 3:
            images = [im.convert("RGB") for im in images]
        targets = [int(t) for t in bunch.target[idx]]
    else:
        from gan_demo.data.datasets import load_dataset

        ds = load_dataset(cfg.data, "cpu", split="train")
        pixels = ((ds.x + 1) * 127.5).round().clamp(0, 255).to(torch.uint8).permute(0, 2, 3, 1).numpy()
        images = [Image.fromarray(p[..., 0] if channels == 1 else p) for p in pixels]
        targets = ds.y.tolist() if ds.y is not None else [0] * len(images)
    mean_std = (0.5,) * channels
    transform = transforms.Compose([
        transforms.Resize(size),
        transforms.ToTensor(),
        transforms.Normalize(mean_std, mean_std),
    ])
    return DigitsImages(images, targets, transform)


class SigmoidD(nn.Module):
    """The example's D ends in nn.Sigmoid() and trains with BCELoss; ours returns logits, so wrap it."""

    def __init__(self, D: nn.Module):
        super().__init__()
        self.D = D

    def forward(self, x):
        return torch.sigmoid(self.D(x))


def build(cfg: RunConfig, device: torch.device) -> tuple[nn.Module, nn.Module]:
    """(netG, netD): gan_demo's models for a resolved cfg, with the Trainer's initial weights."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(cfg.train.seed)
        G, D = build_models(cfg.model)
    return G.to(device), SigmoidD(D).to(device)


def training_loop(netG, netD, dataloader, nz: int, device: torch.device, lr: float = 0.0002, beta1: float = 0.5):
    """pytorch/examples dcgan/main.py's loop, epoch after epoch; yields (batch size, log line) after every iteration."""
    criterion = nn.BCELoss()
    fixed_noise = torch.randn(64, nz, 1, 1, device=device)  # noqa: F841  (the example's progress-grid noise)
    real_label = 1
    fake_label = 0

    # setup optimizer
    optimizerD = optim.Adam(netD.parameters(), lr=lr, betas=(beta1, 0.999))
    optimizerG = optim.Adam(netG.parameters(), lr=lr, betas=(beta1, 0.999))

    epoch = 0
    while True:
        for i, data in enumerate(dataloader, 0):
            ############################
            # (1) Update D network: maximize log(D(x)) + log(1 - D(G(z)))
            ###########################
            # train with real
            netD.zero_grad()
            real_cpu = data[0].to(device)
            batch_size = real_cpu.size(0)
            label = torch.full((batch_size,), real_label, dtype=real_cpu.dtype, device=device)

            output = netD(real_cpu)
            errD_real = criterion(output, label)
            errD_real.backward()
            D_x = output.mean().item()

            # train with fake
            noise = torch.randn(batch_size, nz, 1, 1, device=device)
            fake = netG(noise)
            label.fill_(fake_label)
            output = netD(fake.detach())
            errD_fake = criterion(output, label)
            errD_fake.backward()
            D_G_z1 = output.mean().item()
            errD = errD_real + errD_fake
            optimizerD.step()

            ############################
            # (2) Update G network: maximize log(D(G(z)))
            ###########################
            netG.zero_grad()
            label.fill_(real_label)  # fake labels are real for generator cost
            output = netD(fake)
            errG = criterion(output, label)
            errG.backward()
            D_G_z2 = output.mean().item()
            optimizerG.step()

            log = ('[%d][%d/%d] Loss_D: %.4f Loss_G: %.4f D(x): %.4f D(G(z)): %.4f / %.4f'
                   % (epoch, i, len(dataloader), errD.item(), errG.item(), D_x, D_G_z1, D_G_z2))
            yield batch_size, log
        epoch += 1


def make_loop(cfg: RunConfig, device: torch.device | str, workers: int = 2):
    """A running canonical loop for a resolved image cfg: an iterator of (batch size, log line), one per step."""
    device = torch.device(device)
    dataset = make_dataset(cfg)
    dataloader = torch.utils.data.DataLoader(dataset, batch_size=cfg.train.batch_size, shuffle=True,
                                             num_workers=workers)
    netG, netD = build(cfg, device)
    return training_loop(netG, netD, dataloader, cfg.model.z_dim, device, lr=cfg.train.lr_g, beta1=cfg.train.beta1)


def time_loop(loop, steps: int, device: torch.device | str = "cpu") -> dict:
    """Run `steps` iterations of a canonical loop; images, seconds and images/s."""
    device = torch.device(device)
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    images, start = 0, time.perf_counter()
    for _ in range(steps):
        batch, _log = next(loop)
        images += batch
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    seconds = time.perf_counter() - start
    return {"steps": steps, "images": images, "seconds": seconds, "images_per_s": images / seconds}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="digits")
    parser.add_argument("--img-size", type=int, default=32)
    parser.add_argument("--ngf", type=int, default=64)
    parser.add_argument("--ndf", type=int, default=64)
    parser.add_argument("--z-dim", type=int, default=100)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args(argv)

    from gan_demo.data.datasets import load_dataset

    cfg = RunConfig()
    cfg.data.dataset, cfg.data.img_size = args.dataset, args.img_size
    cfg.model.ngf, cfg.model.ndf, cfg.model.z_dim = args.ngf, args.ndf, args.z_dim
    cfg.train.batch_size = args.batch_size
    ds = load_dataset(cfg.data, "cpu")
    cfg = cfg.resolved(channels=ds.channels, n_classes=ds.n_classes)
    loop = make_loop(cfg, args.device, workers=args.workers)
    time_loop(loop, args.warmup, args.device)
    result = time_loop(loop, args.steps, args.device)
    print(f"canonical DCGAN loop: {result['images_per_s']:.1f} images/s "
          f"({result['steps']} steps in {result['seconds']:.2f} s on {args.device})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
