"""Sampler: any family's trained decoder ready to explore (latents in, pictures and, with a critic, its score out); UI-free."""
from __future__ import annotations

import contextlib
import threading
from pathlib import Path

import torch

from gan_demo.training.checkpoint import Checkpoint, load_checkpoint
from gan_demo.explore.latent import interpolate, principal_directions, truncate, z_from_seed
from gan_demo.families.losses import d_prob
from gan_demo.families.nets import judge_each
from gan_demo.render.viz import to_unit

BOUNDS_SAMPLES = 2000  # samples used to frame a 2D generator's picture
SMALL_BATCH = 16  # on the CPU, batches this small run on one thread (see _one_thread)


@contextlib.contextmanager
def _one_thread(n: int, device: torch.device):
    """Run a tiny CPU forward pass on the calling thread alone, then restore the thread count.

    A slider move generates one sample; splitting it over several OpenMP threads gains nothing
    and, on a small machine that is also training, makes them wait on each other (measured on a
    busy 2-core box: 2 ms on one thread, 200 ms on two).
    """
    previous = torch.get_num_threads()
    if device.type != "cpu" or n > SMALL_BATCH or previous == 1:
        yield
        return
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


class Sampler:
    """One run's decoder (a GAN's G_ema, a VAE's decoder mean) and critic (a GAN's D; None for a
    family without one), in eval mode on one device, for sliders, interpolation and the API.

    Built from a checkpoint folder of any family or from a live Trainer (then it reads the
    trainer's current networks under its lock). Every method takes CPU latents and returns CPU
    tensors. Without a critic, scores are None.
    """

    def __init__(self, decoder, critic=None, cfg=None, dataset_info: dict | None = None,
                 device: torch.device | str = "cpu", lock=None, name: str = "", encoder=None):
        if cfg is None:
            raise ValueError("Sampler needs the run's resolved config (cfg)")
        dataset_info = dataset_info or {}
        device = torch.device(device)
        self.decoder, self.critic, self.cfg = decoder, critic, cfg
        self.encoder = encoder  # q(z|x) of a family that has one (a VAE): (x, y) -> (mu, logvar); else None
        self.info = dataset_info
        self.device = device
        self.lock = lock if lock is not None else threading.RLock()
        self.name = name
        self.kind = dataset_info.get("kind") or ("2d" if cfg.model.arch == "mlp" else "image")
        self._directions: dict[int, tuple[torch.Tensor, torch.Tensor]] = {}
        self._cloud: torch.Tensor | None = None

    @classmethod
    def from_checkpoint(cls, run_dir: str | Path, device: torch.device | str = "cpu") -> "Sampler":
        ckpt: Checkpoint = load_checkpoint(run_dir, device, with_optimizer_state=False)
        decoder, critic = ckpt.sampling_nets()
        encoder = ckpt.networks.get("encoder")
        return cls(decoder.eval(), None if critic is None else critic.eval(), ckpt.cfg, ckpt.dataset_info,
                   torch.device(device), name=Path(run_dir).name, encoder=None if encoder is None else encoder.eval())

    @classmethod
    def from_trainer(cls, trainer, name: str = "current run") -> "Sampler":
        from gan_demo.training.checkpoint import dataset_info_of

        family = trainer.family
        sampler = cls(family.decoder_net(), family.critic, trainer.cfg, dataset_info_of(trainer.dataset),
                      trainer.device, lock=trainer.lock, name=name, encoder=family.networks.get("encoder"))
        sampler.trainer = trainer
        return sampler

    # ------------------------------------------------------------------ facts
    trainer = None  # the live Trainer this sampler reads, if any

    @property
    def step(self) -> int:
        """Training steps behind the weights shown (live runs keep counting)."""
        return self.trainer.step if self.trainer is not None else self.cfg.step

    @property
    def G(self):
        """The decoder under a GAN's name (older callers)."""
        return self.decoder

    @property
    def D(self):
        """The critic under a GAN's name (None for a family without one)."""
        return self.critic

    @property
    def has_critic(self) -> bool:
        """False for a family without a discriminator (a VAE): its samples get no score."""
        return self.critic is not None

    @property
    def z_dim(self) -> int:
        return self.cfg.model.z_dim

    @property
    def n_classes(self) -> int:
        return self.cfg.model.n_classes

    @property
    def class_names(self) -> list[str]:
        names = self.info.get("class_names") or []
        return list(names) if names else [str(i) for i in range(self.n_classes)]

    # --------------------------------------------------------------- generate
    def _labels(self, label: int | None, n: int) -> torch.Tensor | None:
        if not self.n_classes:
            return None
        if label is None:
            return torch.arange(n) % self.n_classes
        if not 0 <= int(label) < self.n_classes:
            raise ValueError(f"label must be between 0 and {self.n_classes - 1} (got {label})")
        return torch.full((n,), int(label), dtype=torch.long)

    @torch.no_grad()
    def generate(self, z: torch.Tensor, label: int | None = None, truncation: float = 1.0,
                 with_score: bool = False):
        """(n, z_dim) CPU latents -> CPU samples ([0, 1] images or data coordinates) [, the critic's scores
        (losses.d_prob: the scale of the Train tab's D(x) curve), or None without a critic]."""
        z = truncate(z.reshape(-1, self.z_dim).float(), truncation)
        y = self._labels(label, z.shape[0])
        y_dev = None if y is None else y.to(self.device)
        nets = [net for net in (self.decoder, self.critic) if net is not None]
        with self.lock, _one_thread(z.shape[0], self.device):
            modes = [net.training for net in nets]
            for net in nets:
                net.eval()
            try:
                x = self.decoder(z.to(self.device), y_dev).float()
                score = None
                if with_score and self.critic is not None:
                    score = d_prob(self.cfg.train.loss, judge_each(self.critic, x, y_dev).float())
            finally:
                for net, mode in zip(nets, modes):
                    net.train(mode)
        out = x.cpu() if self.kind == "2d" else to_unit(x).cpu()
        if not with_score:
            return out
        return out, None if score is None else score.cpu()

    def from_seed(self, seed: int, label: int | None = None, truncation: float = 1.0):
        """One sample and the critic's score for it (None without a critic): the image (or point) a seed
        names, on every device."""
        x, score = self.generate(z_from_seed(seed, self.z_dim), label, truncation, with_score=True)
        return x[0], None if score is None else float(score[0])

    def cloud(self) -> torch.Tensor:
        """A fixed cloud of samples from a 2D generator (its whole distribution at a glance)."""
        if self._cloud is None:
            self._cloud = self.generate(z_from_seed(0, self.z_dim, BOUNDS_SAMPLES))
        return self._cloud

    def refresh(self) -> None:
        """Forget the cached cloud and directions (a live run's weights have moved on)."""
        self._directions.clear()
        self._cloud = None

    # ------------------------------------------------------------- directions
    def directions(self, k: int = 8, n: int = 1000) -> tuple[torch.Tensor, torch.Tensor]:
        """GANSpace: the generator's k principal directions in z-space and their variance ratios."""
        if k not in self._directions:
            y_fixed = 0 if self.n_classes else None

            def sample_fn(z):
                return self.generate(z, y_fixed)

            self._directions[k] = principal_directions(sample_fn, self.z_dim, n=n, k=k, seed=0)
        return self._directions[k]

    # ------------------------------------------------------------ interpolate
    def interpolation(self, z_a: torch.Tensor, z_b: torch.Tensor, frames: int = 16, mode: str = "slerp",
                      pingpong: bool = False, label: int | None = None, truncation: float = 1.0) -> torch.Tensor:
        """Samples along the path from z_a to z_b: (frames, ...) on the CPU."""
        if not 2 <= frames <= 256:
            raise ValueError(f"frames must be between 2 and 256 (got {frames})")
        if mode not in ("slerp", "lerp"):
            raise ValueError(f"mode must be 'slerp' or 'lerp' (got {mode!r})")
        path = interpolate(z_a.reshape(-1), z_b.reshape(-1), frames, mode=mode, pingpong=pingpong)
        return self.generate(path, label, truncation)
