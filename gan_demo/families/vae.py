"""The VAE family (Kingma & Welling 2014): encoder q(z|x), decoder p(x|z), an ELBO step with Adam."""
from __future__ import annotations

import contextlib
from dataclasses import dataclass

import torch
from torch import nn

from gan_demo.core import distributed
from gan_demo.core.config import ConfigError, FamilySpec, RunConfig
from gan_demo.core.faces import Face, Place
from gan_demo.core.step_utils import StepContext, data_scale, grad_norm
from gan_demo.families.losses import RECONSTRUCTIONS, bernoulli_nll, gaussian_kl, gaussian_nll, kl_weight
from gan_demo.families.nets import (DCGANGenerator, MLPGenerator, StepCost, checked_labels, count_params, dcgan_down,
                                    dcgan_init, embed_dim, forward_cost, mlp_layers)
from gan_demo.families.plots import Plot
DEFAULT_Z_DIM = {"2d": 2, "image": 16}  # 2 for 2D sets (the manifold picture), 16 for images
DEFAULT_RECON = {"2d": "gaussian", "image": "bernoulli"}
IMAGE_SIGMA = 0.1  # default std of a Gaussian image decoder, on the [-1, 1] pixel scale
POINT_SIGMA = 0.1  # default std of a Gaussian point decoder, in units of the data's spread
# What train_step returns, in this order; all per-sample means over the batch, in nats.
SERIES = ("loss", "recon", "kl", "elbo", "kl_weight", "grad_norm")


@dataclass
class VAESettings:
    """The VAE family's own settings (RunConfig's "vae" section); it shares the rest (z_dim, width, depth, ngf,
    ndf, conditional, batch_size, steps, beta1, beta2, seed, device, amp) with the model and train sections."""

    recon: str | None = None  # reconstruction term: bernoulli (BCE, images only) or gaussian (MSE); None = bernoulli for images, gaussian for 2D
    recon_sigma: float | None = None  # std of the Gaussian decoder in data units; None = 0.1 for images ([-1, 1] pixels), 0.1 x the data's spread for 2D
    beta: float = 1.0  # weight of the KL term (beta-VAE); 1 trains on the ELBO itself
    kl_warmup: int = 0  # steps over which the KL weight ramps up linearly from 0 to beta; 0 = no warm-up
    lr_vae: float | None = None  # Adam learning rate of the encoder and decoder; None = 1e-3


LIVE = ("beta", "lr_vae")  # what a run may change while it trains


def check_vae_settings(check, recon, recon_sigma, beta, kl_warmup, kind: str) -> None:
    """The ranges of the VAE's own settings (check(ok, name, msg))."""
    check(recon is None or recon in RECONSTRUCTIONS, "recon",
          f"must be one of {', '.join(RECONSTRUCTIONS)}, or None for auto (got {recon!r})")
    check(not (recon == "bernoulli" and kind == "2d"), "recon", "bernoulli needs pixels in [0, 1]; points use gaussian")
    check(recon_sigma is None or 0 < recon_sigma < 1e6, "recon_sigma",
          f"must be positive, or None for auto (got {recon_sigma})")
    check(0 <= beta <= 1000, "beta", f"must be between 0 and 1000 (got {beta})")
    check(0 <= kl_warmup <= 100_000_000, "kl_warmup", f"must be between 0 and 100,000,000 (got {kl_warmup})")


def check_settings(check, v: VAESettings, kind: str) -> None:
    """A RunConfig's vae section (FamilySpec.check): the ranges above and the learning rate."""
    check(0 <= v.beta <= 1000, "beta", f"must be between 0 and 1000 (got {v.beta})")
    check(v.lr_vae is None or 0 < v.lr_vae < 1e6, "lr_vae", f"must be positive, or None for auto (got {v.lr_vae})")
    check_vae_settings(check, v.recon, v.recon_sigma, v.beta, v.kl_warmup, kind)


def resolve_defaults(cfg: RunConfig, n_images: int | None) -> None:
    """The VAE's auto values (RunConfig.resolved fills the shared rest): its section, and Adam's beta1 0.9."""
    t, v, two_d = cfg.train, cfg.vae, cfg.kind == "2d"
    if t.beta1 is None:
        t.beta1 = 0.9
    if v.recon is None:
        v.recon = DEFAULT_RECON[cfg.kind]
    if v.recon_sigma is None:
        v.recon_sigma = POINT_SIGMA * cfg.model.data_scale if two_d else IMAGE_SIGMA
    if v.lr_vae is None:
        v.lr_vae = 1e-3


PLOTS = (Plot({"recon": "reconstruction", "kl": "KL"}, "Reconstruction −log p(x|z) and KL(q(z|x) ‖ p(z)), "
              "nats per sample", "nats"),
         Plot({"elbo": "ELBO"}, "ELBO = −(reconstruction + KL): a lower bound on log p(x), higher is better",
              "ELBO (nats)"))

# Its settings' controls in the web app (as the GAN's FACES); recon_sigma has none: the web app keeps its default.
FACES = {
    "recon": Face("Rebuild error", "How a rebuilt sample is compared with the real one.", "radio",
                  choices=RECONSTRUCTIONS, train=Place("lesson", 31), compare=None),
    "recon_sigma": None,
    "beta": Face("β (squeeze)", "More: smoother latent space, blurrier images.", minimum=0, step=0.1,
                 train=Place("lesson", 42, "run"), compare=Place("more", 70, "vae")),
    "kl_warmup": Face("KL warm-up steps", "Start with no squeeze and ramp up over these steps.", minimum=0, whole=True,
                      train=Place("training", 30), compare=None),
    "lr_vae": Face("Learning rate", "How big each update step is.", minimum=0, step=1e-4,
                   train=Place("training", 22, "lr"), compare=Place("more", 71, "vae")),
}

SPEC = FamilySpec(name="vae", z_dim=DEFAULT_Z_DIM, settings=VAESettings, live=LIVE, defaults=resolve_defaults,
                  check=check_settings, choices={"recon": RECONSTRUCTIONS}, faces=FACES, title="VAE: encoder + decoder")


def fit_to(cfg: RunConfig, dataset) -> RunConfig:
    """cfg (family "vae") resolved with the facts of `dataset` (a gan_demo.data.datasets.Dataset), as a Trainer
    resolves it: what a standalone VAE(cfg, device) is built from. ConfigError when a conditional VAE's set has no labels."""
    if cfg.model.conditional and not dataset.n_classes:
        raise ConfigError(f"conditional: dataset {dataset.name!r} has no labels")
    image = dataset.kind == "image"
    return cfg.resolved(channels=dataset.channels if image else None, n_classes=dataset.n_classes,
                        data_dim=2 if image else dataset.data_dim, data_scale=data_scale(dataset))


# ------------------------------------------------------------------ networks
class MLPEncoder(nn.Module):
    """q(z|x): x (B, data_dim) [+ class embedding] -> `depth` hidden layers of `width` -> (mu, logvar),
    each (B, z_dim). Works in units of `data_scale`, as the GAN's MLPs do."""

    def __init__(self, z_dim: int, data_dim: int = 2, width: int = 256, depth: int = 3, activation: str = "relu",
                 n_classes: int = 0, data_scale: float = 1.0):
        super().__init__()
        self.z_dim, self.n_classes, self.data_scale = z_dim, n_classes, data_scale
        in_dim = data_dim
        if n_classes > 0:
            self.embed = nn.Embedding(n_classes, embed_dim(z_dim))
            in_dim += self.embed.embedding_dim
        self.features = nn.Sequential(*mlp_layers(in_dim, width, depth, activation))
        self.out = nn.Linear(width, 2 * z_dim)

    def forward(self, x: torch.Tensor, y: torch.Tensor | int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        h = x.reshape(x.shape[0], -1) / self.data_scale  # (B, data_dim)
        y = checked_labels(y, x.shape[0], self.n_classes, x.device, "the encoder")
        if y is not None:
            h = torch.cat([h, self.embed(y).to(h.dtype)], dim=1)  # (B, data_dim + embed_dim)
        mu, logvar = self.out(self.features(h)).chunk(2, dim=1)  # (B, 2 z_dim) -> 2 x (B, z_dim)
        return mu, logvar


class ConvEncoder(nn.Module):
    """q(z|x) for images: the DCGAN discriminator's body, then a linear map to (mu, logvar).

    32 px: (nc) x 32 x 32 -> (ndf) x 16 x 16 -> (ndf*2) x 8 x 8 -> (ndf*4) x 4 x 4 -> flat
    [+ class embedding] -> (B, 2 z_dim) -> mu, logvar, each (B, z_dim). BatchNorm in every
    block but the first, DCGAN init.
    """

    def __init__(self, z_dim: int, channels: int = 1, img_size: int = 32, ndf: int = 64, n_classes: int = 0):
        super().__init__()
        self.z_dim, self.n_classes, self.in_shape = z_dim, n_classes, (channels, img_size, img_size)
        layers, width = dcgan_down(channels, img_size, ndf, batch_norm=True)
        self.features = nn.Sequential(*layers)
        self.apply(dcgan_init)
        in_dim = width * 4 * 4
        if n_classes > 0:
            self.embed = nn.Embedding(n_classes, embed_dim(z_dim))
            in_dim += self.embed.embedding_dim
        self.out = nn.Linear(in_dim, 2 * z_dim)

    def forward(self, x: torch.Tensor, y: torch.Tensor | int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        if x.dim() != 4 or tuple(x.shape[1:]) != self.in_shape:
            raise ValueError(f"images must have shape (B, {', '.join(map(str, self.in_shape))}), got {tuple(x.shape)}")
        h = self.features(x).flatten(1)  # (B, ndf*k, 4, 4) -> (B, ndf*k*16)
        y = checked_labels(y, x.shape[0], self.n_classes, x.device, "the encoder")
        if y is not None:
            h = torch.cat([h, self.embed(y).to(h.dtype)], dim=1)
        mu, logvar = self.out(h).chunk(2, dim=1)
        return mu, logvar


def build_vae_nets(cfg: RunConfig) -> tuple[nn.Module, nn.Module]:
    """(encoder, decoder) for a resolved RunConfig (its model section). The decoders are the GAN's generators:
    the MLP one outputs the mean in data coordinates; the DCGAN one without its tanh outputs logits (B, C, S, S)."""
    m = cfg.model
    if cfg.kind == "2d":
        encoder = MLPEncoder(m.z_dim, m.data_dim, m.width, m.depth, m.activation, m.n_classes, m.data_scale)
        decoder = MLPGenerator(m.z_dim, m.data_dim, m.width, m.depth, m.activation, m.n_classes, m.data_scale)
    else:
        encoder = ConvEncoder(m.z_dim, m.channels, m.img_size, m.ndf, m.n_classes)
        decoder = DCGANGenerator(m.z_dim, m.channels, m.img_size, m.ngf, m.n_classes, tanh=False)
    return encoder, decoder


def reparameterize(mu: torch.Tensor, logvar: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
    """z = mu + sigma * eps with eps ~ N(0, I) given: a sample of q(z|x) that gradients flow through."""
    return mu + torch.exp(0.5 * logvar) * noise


class DecoderMean(nn.Module):
    """The decoder as a sampler sees it: (z, y) -> the mean of p(x|z), images in [-1, 1] (B, C, H, W)
    like the GAN's G, or points (B, data_dim). Wraps the decoder (its weights are the decoder's)."""

    def __init__(self, decoder: nn.Module, cfg: RunConfig):
        super().__init__()
        self.decoder, self.kind, self.recon = decoder, cfg.kind, cfg.vae.recon

    def forward(self, z: torch.Tensor, y: torch.Tensor | int | None = None) -> torch.Tensor:
        return decoder_mean(self.decoder(z, y), self.kind, self.recon)


def decoder_mean(out: torch.Tensor, kind: str, recon: str) -> torch.Tensor:
    """The decoder's raw output -> the mean of p(x|z): [-1, 1] pixels or data coordinates."""
    if kind == "2d":
        return out
    if recon == "bernoulli":
        return 2 * torch.sigmoid(out) - 1  # Bernoulli mean in [0, 1], on the GAN's [-1, 1] scale
    return torch.tanh(out)  # like the GAN's G


@contextlib.contextmanager
def _eval(*modules: nn.Module):
    """Eval mode (BatchNorm's running statistics) for a forward pass, then each module's mode as it was."""
    modes = [m.training for m in modules]
    for m in modules:
        m.eval()
    try:
        yield
    finally:
        for m, mode in zip(modules, modes):
            m.train(mode)


# ------------------------------------------------------------------ the family
class VAE:
    """A VAE as a model family: owns its encoder, decoder and Adam optimizer; knows nothing of the
    Trainer. One train_step is one Adam step on a batch, minimising
    recon + kl_weight * KL  (per sample, averaged), with kl_weight = beta after the warm-up.
    """

    name = "vae"  # the key in families.FAMILIES, recorded in a checkpoint's config
    spec = SPEC  # what the config knows of it: its settings section, live settings, defaults and checks
    samples_caption = "**Samples**: the decoder on a fixed noise batch z ~ N(0, I) (the same z every time)"
    series = SERIES  # the curves train_step's dict holds
    bounded = ("loss",)  # beyond engine.BLOWUP per sample it has exploded
    network_names = ("encoder", "decoder")  # model.safetensors key prefixes
    optimizer_names = ("opt",)  # state.pt keys

    def __init__(self, cfg: RunConfig, device: str | torch.device | StepContext = "cpu",
                 generator: torch.Generator | None = None, dist: distributed.Dist = distributed.SINGLE):
        """cfg: a resolved RunConfig of family "vae" (a Trainer's, or fit_to(cfg, dataset)); weights from its seed.
        Standalone: VAE(cfg, device[, generator]); train_step(batch) on batches you draw.
        From a Trainer: VAE(cfg, StepContext, dist=...); train_step() draws its own batch through the context,
        averages gradients over the processes and autocasts as it says."""
        if cfg.family != "vae" or cfg.model.z_dim is None or cfg.vae.recon is None or cfg.vae.lr_vae is None:
            raise ValueError("a VAE is built from a resolved RunConfig of family vae (fit_to(cfg, dataset) or "
                             "cfg.resolved(...) with the dataset's facts)")
        self.ctx = device if isinstance(device, StepContext) else None
        if self.ctx is not None:
            device, generator = self.ctx.device, self.ctx.generator
        self.cfg = cfg
        self.device = torch.device(device)
        t = cfg.train
        with torch.random.fork_rng(devices=[]):  # weights from the seed alone, the caller's RNG untouched
            torch.manual_seed(t.seed)
            encoder, decoder = build_vae_nets(cfg)
        if t.sync_bn and dist.world_size > 1:
            encoder, decoder = distributed.convert_sync_batchnorm(encoder), distributed.convert_sync_batchnorm(decoder)
        self.encoder, self.decoder = encoder.to(self.device), decoder.to(self.device)
        self._decoder_mean = DecoderMean(self.decoder, cfg)  # one object: a live Sampler knows it by identity
        adam = dict(lr=cfg.vae.lr_vae, betas=(t.beta1, t.beta2))
        if self.device.type == "cuda":
            adam["fused"] = True
        self.opt = torch.optim.Adam([*self.encoder.parameters(), *self.decoder.parameters()], **adam)
        # The reparameterization noise: the caller's generator (a Trainer shares its own), else one seeded here.
        self.gen = generator if generator is not None else torch.Generator(device=self.device).manual_seed(t.seed)
        self.step = 0  # train_steps taken (drives the KL warm-up; part of the state dict)

    # ------------------------------------------------------------------ facts
    @property
    def z_dim(self) -> int:
        return self.cfg.model.z_dim

    @property
    def n_classes(self) -> int:
        return self.cfg.model.n_classes

    @property
    def networks(self) -> dict[str, nn.Module]:
        """The modules to save (model.safetensors prefixes) and to move or wrap."""
        return {"encoder": self.encoder, "decoder": self.decoder}

    @property
    def optimizers(self) -> dict[str, torch.optim.Optimizer | None]:
        return {"opt": self.opt}

    @property
    def phases(self) -> dict:
        """name -> one update alone (a VAE has one: the ELBO step)."""
        return {"elbo": self.train_step}

    def apply_settings(self, changes: dict) -> None:
        """Live settings (LIVE: beta, lr_vae) from the next step on."""
        for name in ("beta", "lr_vae"):
            if name in changes:
                setattr(self.cfg.vae, name, changes[name])
        if "lr_vae" in changes:
            if self.opt is not None:
                for group in self.opt.param_groups:
                    group["lr"] = changes["lr_vae"]

    def decoder_net(self, ema: bool = True) -> nn.Module:
        """(z, y) -> samples, as gan_demo.explore.sampler.Sampler and the Trainer's progress grid use it (no EMA: ema is ignored)."""
        return self._decoder_mean

    @property
    def critic(self) -> None:
        """A VAE has no discriminator: samples get no 'how real' score."""
        return None

    @staticmethod
    def step_cost(cfg: RunConfig) -> StepCost:
        """The work of one ELBO step of a resolved config, from layer shapes on the meta device (nothing allocated):
        encoder and decoder forward, then backward (~2x forward), on one batch. Memory: fp32 weights, gradients
        and Adam's two moments of both nets, and their activations (what autograd keeps for backward)."""
        b, z_dim = cfg.train.batch_size, cfg.model.z_dim
        with torch.random.fork_rng(devices=[]), torch.device("meta"):
            encoder, decoder = build_vae_nets(cfg)
            x = (torch.zeros(b, cfg.model.data_dim) if cfg.kind == "2d"
                 else torch.zeros(b, cfg.model.channels, cfg.model.img_size, cfg.model.img_size))
            y = torch.zeros(b, dtype=torch.long) if cfg.model.n_classes else None
            e_flops, e_acts, _ = forward_cost(encoder, x, y)
            d_flops, d_acts, _ = forward_cost(decoder, torch.zeros(b, z_dim), y)
        params = count_params(encoder) + count_params(decoder)
        return StepCost(flops=3.0 * (e_flops + d_flops), memory_bytes=4.0 * (4 * params + e_acts + d_acts),
                        params=params)

    @staticmethod
    def plots(loss: str | None = None) -> tuple[Plot, Plot]:
        """The Train tab's two charts: reconstruction and KL, then the ELBO (loss: unused, a VAE has one)."""
        return PLOTS

    @staticmethod
    def describe(cfg: RunConfig) -> str:
        """The run in a few words for the command line's first line: "vae, mlp, gaussian"."""
        return f"vae, {cfg.model.arch}, {cfg.vae.recon}"

    @classmethod
    def empty_networks(cls, cfg: RunConfig) -> dict[str, nn.Module]:
        """The networks a checkpoint holds, built from its (resolved) config for its weights to be loaded into."""
        with torch.random.fork_rng(devices=[]):
            encoder, decoder = build_vae_nets(cfg)
        return {"encoder": encoder, "decoder": decoder}

    @staticmethod
    def sampling_nets(cfg: RunConfig, networks: dict[str, nn.Module]) -> tuple[nn.Module, None]:
        """(decoder, critic) for gan_demo.explore.sampler.Sampler: the decoder's mean, no critic."""
        return DecoderMean(networks["decoder"], cfg), None

    def release_optimizers(self) -> None:
        """Drop the Adam state once training is over (the nets stay for sampling and saving)."""
        self.opt = None

    # ------------------------------------------------------------------ training
    def _labels(self, y):
        return y if self.cfg.model.n_classes else None  # an unconditional VAE ignores the dataset's labels

    def _nll(self, out: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """-log p(x|z) per sample (B,) from the decoder's raw output."""
        if self.cfg.vae.recon == "bernoulli":
            return bernoulli_nll(out, (x + 1) / 2)  # [-1, 1] pixels -> [0, 1] grey levels
        return gaussian_nll(self._mean(out), x, self.cfg.vae.recon_sigma)

    def _mean(self, out: torch.Tensor) -> torch.Tensor:
        """The decoder's raw output -> the mean of p(x|z): [-1, 1] pixels or data coordinates."""
        return decoder_mean(out, self.cfg.kind, self.cfg.vae.recon)

    def _autocast(self):
        return self.ctx.autocast() if self.ctx is not None else contextlib.nullcontext()

    def train_step(self, batch: tuple[torch.Tensor, torch.Tensor | None] | None = None) -> dict[str, torch.Tensor]:
        """One Adam step on a batch (x, y) (y None or ignored when unconditional); x on the device,
        images in [-1, 1] (B, C, H, W) or points (B, data_dim). Without a batch (a Trainer's run) it
        draws one of the context's batch size. Returns SERIES as 0-d tensors on the device (reading
        them is a host sync: the caller reads them back in batches)."""
        x, y = batch if batch is not None else self.ctx.draw(self.ctx.batch_size)
        y = self._labels(y)
        self.encoder.train()
        self.decoder.train()
        with self._autocast():  # bf16 forward passes where the Trainer says so; the terms in fp32
            mu, logvar = self.encoder(x, y)  # (B, z_dim) each
        mu, logvar = mu.float(), logvar.float()
        if self.ctx is not None:  # the run's noise stream (a Trainer under torchrun: seed + rank)
            noise = self.ctx.noise(mu.shape[0]).to(mu.dtype)
        else:
            noise = torch.randn(mu.shape, generator=self.gen, device=self.device, dtype=mu.dtype)
        z = reparameterize(mu, logvar, noise)
        with self._autocast():
            out = self.decoder(z, y)
        recon = self._nll(out.float(), x)  # (B,)
        kl = gaussian_kl(mu, logvar)  # (B,)
        weight = kl_weight(self.cfg.vae.beta, self.step, self.cfg.vae.kl_warmup)
        loss = (recon + weight * kl).mean()
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        if self.ctx is not None:  # torchrun: the gradients of the whole global batch, on every rank
            self.ctx.sync_grads(self.encoder)
            self.ctx.sync_grads(self.decoder)
        gnorm = grad_norm([*self.encoder.parameters(), *self.decoder.parameters()])
        self.opt.step()
        self.step += 1
        recon, kl = recon.detach().mean(), kl.detach().mean()
        return {
            "loss": loss.detach(),
            "recon": recon,
            "kl": kl,
            "elbo": -(recon + kl),  # the bound on log p(x) per sample (beta 1, whatever the training weight)
            "kl_weight": torch.full((), weight, device=self.device),
            "grad_norm": gnorm,
        }

    # ------------------------------------------------------------------ using it
    @torch.no_grad()
    def encode(self, x: torch.Tensor, y: torch.Tensor | int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """q(z|x): (mu, logvar), each (B, z_dim) on the device, in eval mode. mu is the projection of x into z."""
        with _eval(self.encoder):
            return self.encoder(x.to(self.device), self._labels(y))

    @torch.no_grad()
    def decode(self, z: torch.Tensor, y: torch.Tensor | int | None = None) -> torch.Tensor:
        """The mean of p(x|z) for (B, z_dim) latents, in eval mode, on the device: images in [-1, 1]
        (B, C, H, W) like the GAN's G, or points (B, data_dim) in data coordinates. Sampling is decode(z ~ N(0, I))."""
        z = z.reshape(z.shape[0], self.z_dim).to(self.device)
        with _eval(self.decoder):
            return self._mean(self.decoder(z, self._labels(y)).float())

    def reconstruct(self, x: torch.Tensor, y: torch.Tensor | int | None = None) -> torch.Tensor:
        """decode(encode(x).mu): x through the bottleneck without the sampling noise."""
        mu, _ = self.encode(x, y)
        return self.decode(mu, y)

    # ------------------------------------------------------------------ state
    def state_dict(self) -> dict:
        """Everything training changes: both nets, Adam's state and the step. References, as
        nn.Module.state_dict: copy.deepcopy it to keep a snapshot (divergence rollback)."""
        state = {"encoder": self.encoder.state_dict(), "decoder": self.decoder.state_dict(), "step": self.step}
        if self.opt is not None:
            state["opt"] = self.opt.state_dict()
        return state

    def load_state_dict(self, state: dict) -> None:
        """Back to a state_dict(); an optimizer state it lacks (a checkpoint saved without one) is left as it is."""
        self.encoder.load_state_dict(state["encoder"])
        self.decoder.load_state_dict(state["decoder"])
        if self.opt is not None and state.get("opt") is not None:
            self.opt.load_state_dict(state["opt"])
        self.step = int(state["step"])
