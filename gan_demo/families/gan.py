"""The GAN family (Goodfellow et al. 2014): G, D and G_ema, their Adam optimizers, the D and G phases (losses, R1/GP, MSGAN, DiffAugment), EMA."""
from __future__ import annotations

import copy

import torch
from torch import nn

from gan_demo.core import distributed
from gan_demo.families.augment import augment, overfit_sign, parse_policy
from gan_demo.core.config import (AUGMENT_CHOICES, D_NORMS, LOSSES, MAX_MBSTD_GROUP, MAX_PACK, MAX_R1_EVERY, OWN_IMAGES_R1,
                                  OWN_IMAGES_R1_EVERY, FamilySpec, RunConfig, auto_augment, own_images,
                                  r1_set)
from gan_demo.core.faces import Face, Place
from gan_demo.core.step_utils import StepContext, frozen, grad_norm, lr_factor, update_ema
from gan_demo.families.losses import (PROBABILITY_LOSSES, d_loss, d_score, g_loss, gradient_penalty, r1_penalty,
                                      r1_weight)
from gan_demo.families.plots import Plot
from gan_demo.families.nets import StepCost, build_models, step_cost

# What train_step returns, in this order (the Train tab, /train_poll and the CLI read these names).
SERIES = ("loss_d", "loss_g", "d_real", "d_fake", "grad_norm_d", "grad_norm_g", "r_t")
BOUNDED = ("loss_d", "loss_g", "grad_norm_d", "grad_norm_g")  # beyond engine.BLOWUP these have exploded

# The GAN's settings sit in the shared model and train sections (where every config.json has them); these
# are the ones only it reads, so another family's command line leaves them out.
SETTINGS = ("d_norm", "mbstd_group", "pack", "loss", "lr_g", "lr_d", "lr_decay", "n_critic", "gp_weight", "r1_gamma",
            "r1_every", "mode_seeking", "ema_decay", "augment")
LIVE = ("lr_g", "lr_d", "n_critic", "loss", "r1_gamma", "gp_weight")  # what a run may change while it trains
DEFAULT_Z_DIM = {"2d": 8, "image": 100}
# ring8's own defaults for the nonsaturating GAN: half the width, half the batch and 4x the
# learning rate, decayed to a tenth over the second half of the run (lr_decay), train 5,000 steps in about a
# quarter of the time of the 2D defaults (~12 against ~50 CPU-ms a step) and sharper (BENCHMARKS.md, "The 2D
# defaults"; RECIPES_2D, below). spiral and moons keep the 2D defaults; grid25 has its own recipe (GRID25_RECIPE):
# on grid25 ring8's first recipe (z_dim 8, batch 256, 5,000 steps) lost modes (20-22 of 25 after 3,000-4,000 steps).
FAST_2D_WIDTH = 80  # MLP hidden units (G and D); 128 until 2026-12-07 (below)
# Since 2026-12-05 half that batch again and 8,000 steps, for about the same CPU time: over seeds 0-2 the worst
# seed's high-quality share rose from 94.6% (batch 256, 5,000 steps) to 95.2% (median 95.6%), since the share grows
# with the number of steps far more than with the batch (BENCHMARKS.md section 12, ring8 at one thread).
# Since 2026-12-07 width 80 (from 128) and 11,000 steps (from 8,000), for the same time solo: over seeds 0-5 (solo
# runs, one thread, an Intel Xeon VM) the worst seed's high-quality share rose from 95.7% to 97.4% (median 96.4% to
# 97.6%), 8/8 modes in all, 38 s of training against 35-37 s; its grid KL rose (median 0.09 to 0.14, worst 0.21 to
# 0.26). A pooled step costs half as much at width 80 (24 runs as two stacks: 1,430 against 760 steps/s), so a
# class of ring8 runs trains in less time despite the added steps (BENCHMARKS.md section 34).
FAST_2D_BATCH = 128
FAST_2D_STEPS = 11000
FAST_2D_LR = 4e-3  # Adam learning rate of G and D
# Since 2026-12-06 G draws from 2 noise dimensions, not 8, at the same cost a step: over seeds 0-2 (solo runs, one
# thread) the worst seed's high-quality share rose from 95.2% to 96.1% (median 96.4%): G folds a 2D Gaussian onto
# the ring with less of its mass between the modes (BENCHMARKS.md section 25).
FAST_2D_Z_DIM = 2
# grid25's own recipe for the nonsaturating GAN since 2026-12-07: ring8's batch and noise, width 96, half ring8's
# learning rate, 20,000 steps with the rates decayed over the last three quarters, and no minibatch stddev. Over
# seeds 0-5 (solo runs, one thread, an Intel Xeon VM) all 25 modes in every seed, high quality median 96.4%, worst
# 95.1%, in 74-78 s of training. The same recipe at width 128 and 16,000 steps, the same time, lost a mode in one
# seed (median 94.2%, worst 89.2%), with a lower worst grid KL (0.47 against 0.73); the 2D defaults with minibatch
# stddev (the recipe before) lost 3 modes in two seeds of three (31.8-79.8%) in 165-178 s; with minibatch stddev
# (tried with lr_decay 0.5) the worst seed was lower (93.4%) and a step took 43% longer (BENCHMARKS.md sections 33, 34).
GRID25_RECIPE = {"width": 96, "z_dim": 2, "mbstd_group": 0, "batch_size": 128, "lr_g": 2e-3, "lr_d": 2e-3,
                 "lr_decay": 0.75, "steps": 20000}
# A 2D set's own recipe for the nonsaturating GAN: auto values (ModelConfig's or TrainConfig's fields, by name)
# that a run leaves None; other sets and losses keep the 2D defaults.
RECIPES_2D = {
    "ring8": {"width": FAST_2D_WIDTH, "batch_size": FAST_2D_BATCH, "lr_g": FAST_2D_LR, "lr_d": FAST_2D_LR,
              "lr_decay": 0.5, "steps": FAST_2D_STEPS, "z_dim": FAST_2D_Z_DIM},
    "grid25": GRID25_RECIPE,
}
# The image GAN's defaults (BENCHMARKS.md section 10), measured on 1,438 digits as a zip
# of files: a DCGAN with a quarter of the FLOPs (ngf = ndf = 32 instead of 64) and Adam at 5e-4 instead of
# 2e-4 (the nonsaturating loss, the one measured: config.IMAGE_GAN_LR), 4,000 steps: 620 CPU-seconds, FD 2.35x
# real (2.97x with two threads instead of one), recall 0.94, precision 0.45, where the old defaults (64, 2e-4) had
# FD 5.7x, recall 0.93, precision 0.41 after 718 CPU-seconds (1,500 steps). R1 raised precision on the digits (0.54
# at 3,000 steps) but takes BatchNorm out of D, and on stacked-digits that collapsed G (328 of 1,000 modes against
# 989), so images keep no R1. Other image losses keep 2e-4; the VAE keeps 64 channels and 3,000 steps.
IMAGE_GAN_CHANNELS = 32
IMAGE_GAN_STEPS = 4000
# On a visitor's own images (a folder or a zip, the nonsaturating loss) R1 is lazy (config.OWN_IMAGES_R1_EVERY:
# a step costs ~20% less) and the run twice as long: on the bundled digits as a zip, precision and FD kept improving
# from 4,000 to 8,000 steps in every seed measured, and 8,000 lazy steps take ~9 minutes at two threads on a slow
# 2-core CPU (BENCHMARKS.md section 30).
OWN_IMAGES_STEPS = 8000
# ... and G learns at twice D's rate (Adam 1e-3 for G, D keeps config.IMAGE_GAN_LR's 5e-4): on the bundled digits as
# a zip, three seeds at one thread and three at two, worst precision 0.685 against 0.646 and worst FD 1.38x real
# against 1.96x (BENCHMARKS.md section 37). D at four times G's rate instead memorised the digits sooner and lost on
# every figure.
OWN_IMAGES_LR_G = 1e-3
# ... and G draws z from 32 dimensions instead of 100: on the bundled digits as a zip, three seeds at one thread and
# three at two on a 2-core AMD EPYC with AVX-512, the worst of six runs has precision 0.696 against 0.666 and FD
# 1.52x real against 1.89x, the medians level (precision 0.723 against 0.726; BENCHMARKS.md section 40).
OWN_IMAGES_Z_DIM = 32
# stacked-digits takes lazy R1 too, with minibatch stddev instead of packs (config.default_mbstd_group), and as many
# steps: with packs, over seeds 0-2 at one thread, its KL from uniform fell from 0.27-0.31 at 4,000 steps to
# 0.15-0.17 at 8,000, and only to 0.15-0.17 at 12,000; with minibatch stddev it is 0.08-0.11 at 8,000
# (BENCHMARKS.md section 35).
STACKED_DIGITS_STEPS = 8000


def resolve_defaults(cfg: RunConfig, n_images: int | None) -> None:
    """The GAN's own auto values (RunConfig.resolved fills the rest with the shared defaults): ring8's and
    grid25's recipes with the nonsaturating loss, the image GAN's channels and steps, R1 (lazy) and longer runs on
    a visitor's own images and stacked-digits, G's faster rate and smaller z on a visitor's own images, and
    augment="auto" once n_images is known."""
    d, m, t = cfg.data, cfg.model, cfg.train
    if cfg.kind == "2d":
        recipe = RECIPES_2D.get(d.dataset, {}) if t.loss == "nonsaturating" else {}
        for name, value in recipe.items():
            section = m if hasattr(m, name) else t
            if getattr(section, name) is None:
                setattr(section, name, value)
        return
    recipe = r1_set(d.dataset) and t.loss == "nonsaturating"  # R1 (lazy): own images (with packs), stacked-digits
    own = own_images(d.dataset)
    steps = (OWN_IMAGES_STEPS if own else STACKED_DIGITS_STEPS) if recipe else IMAGE_GAN_STEPS
    for section, name, value in ((m, "ngf", IMAGE_GAN_CHANNELS), (m, "ndf", IMAGE_GAN_CHANNELS), (t, "steps", steps)):
        if getattr(section, name) is None:
            setattr(section, name, value)
    if recipe:
        if t.r1_gamma is None:
            t.r1_gamma = OWN_IMAGES_R1  # so d_norm auto is none; pack auto is 2 on own images, mbstd_group 4 on stacked
        if t.r1_every is None:
            t.r1_every = OWN_IMAGES_R1_EVERY
        if own and t.r1_gamma > 0:  # measured with R1's D, not BatchNorm's
            if t.lr_g is None:
                t.lr_g = OWN_IMAGES_LR_G
            if m.z_dim is None:
                m.z_dim = OWN_IMAGES_Z_DIM
    if t.augment == "auto" and n_images is not None:
        t.augment = auto_augment(n_images)


R_T = "r_t (ADA)"  # the legend's name of the r_t series (gan_demo.families.augment.overfit_sign)
SCORE_REAL, SCORE_FAKE = "critic on real", "critic on generated"  # a score loss's D outputs (not probabilities)
LOSS_PLOT = Plot({"loss_d": "loss_D", "loss_g": "loss_G"}, "Losses: loss_D and loss_G", "loss")
PROBABILITY_PLOT = Plot({"d_real": "D(x)", "d_fake": "D(G(z))"},
                        "D(x) on real data, D(G(z)) on generated: D's probability that a sample is real", "probability")
# A loss whose D gives a score, not a probability (wgan-gp, lsgan): its outputs get their own names and axis.
SCORE_PLOT = Plot({"d_real": SCORE_REAL, "d_fake": SCORE_FAKE},
                  "D's raw scores on real and generated data (not probabilities: the gap between them is what "
                  "counts)", "score")
# r_t has a chart of its own: it jumps between -1 and +1 and would bury D(x) and D(G(z)).
R_T_PLOT = Plot({"r_t": R_T}, "r_t: the average sign of D on real images (ADA). Near +1, D is sure of every "
                "real image: it memorises them; near 0 is healthy", "r_t")

# Its settings' controls in the web app: a student's words, the control, its place on the Train tab (the lesson's
# part or a fold, numbered among the shared controls of gan_demo.ui.forms) and its B field on Compare.
FACES = {
    "loss": Face("Game rules (loss)", "How the judge D and the generator G score each other.", "radio",
                 choices=LOSSES, train=Place("lesson", 30), compare=Place("open", 11, "family")),
    "lr_g": Face("Learning rate G", "How big the generator's update steps are.", minimum=0, step=1e-4,
                 train=Place("training", 20, "lr"), compare=Place("open", 20, "lr")),
    "lr_d": Face("Learning rate D", "How big the judge's update steps are.", minimum=0, step=1e-4,
                 train=Place("training", 21, "lr"), compare=Place("open", 21, "lr")),
    "n_critic": Face("D steps per G step", "Train the judge this many times per generator step.", "slider", 1, 10, 1,
                     train=Place("training", 31), compare=Place("open", 30, "critic")),
    "d_norm": Face("Judge normalisation", "Keeps the judge's numbers in check.", "dropdown", choices=D_NORMS,
                   train=Place("advanced", 20), compare=Place("more", 31, "augment")),
    "mbstd_group": Face("Judge sees the spread", "Minibatch stddev: D sees how alike groups of this size are; 0 = off.",
                        minimum=0, maximum=MAX_MBSTD_GROUP, whole=True, train=Place("advanced", 30, "view"),
                        compare=Place("more", 40, "view")),
    "pack": Face("Judge sees packs", "PacGAN: D judges this many samples at once; 0 or 1 = off.", minimum=0,
                 maximum=MAX_PACK, whole=True, train=Place("advanced", 31, "view"), compare=Place("more", 41, "view")),
    "gp_weight": Face("Gradient penalty", "WGAN-GP: keeps the critic smooth (1-Lipschitz).", minimum=0,
                      train=Place("advanced", 50, "penalty"), compare=Place("open", 31, "critic")),
    "r1_gamma": Face("R1 penalty", "Keeps the judge smooth on real data; 0 = off.", minimum=0, step=0.05,
                     train=Place("advanced", 51, "penalty"), compare=Place("open", 32, "critic")),
    "r1_every": Face("R1 every ... steps", "Lazy R1: the penalty every this many steps, as strong (faster).", minimum=1,
                     maximum=MAX_R1_EVERY, whole=True, train=Place("advanced", 52, "penalty"),
                     compare=Place("open", 33, "critic")),
    "ema_decay": Face("G_ema averaging", "The pictures come from an average of G; 0 = off.", minimum=0, maximum=0.9999,
                      step=0.0005, train=Place("advanced", 60, "average"), compare=Place("more", 20, "average")),
    "lr_decay": Face("Slow down at the end", "Share of the run over which the learning rates shrink.", minimum=0,
                     maximum=1, step=0.1, train=Place("advanced", 61, "average"), compare=Place("more", 21, "average")),
    "augment": Face("Augment images", "Shift and recolour images the judge sees (stops memorising).", "dropdown",
                    choices=AUGMENT_CHOICES, train=Place("advanced", 70), compare=Place("more", 30, "augment")),
}

SPEC = FamilySpec(name="gan", z_dim=DEFAULT_Z_DIM, shared=SETTINGS, live=LIVE, defaults=resolve_defaults, faces=FACES,
                  title="GAN: generator + discriminator")


class GAN:
    """A GAN as a model family: owns G, D, G_ema and their optimizers; knows nothing of the Trainer.

    Its phases (StyleGAN3's word) are "d", one discriminator update, and "g", one generator update
    that also folds G into G_ema and counts a step. train_step runs n_critic "d" phases then one "g";
    the 2D lab runs them one at a time. Data and noise come from the StepContext the Trainer hands it.
    """

    name = "gan"  # the key in families.FAMILIES, recorded in a checkpoint's config
    spec = SPEC  # what the config knows of it: its settings, live settings and defaults
    samples_caption = "**Samples** of G_ema from a fixed noise batch (the same z every time)"
    series = SERIES
    bounded = BOUNDED
    network_names = ("G", "G_ema", "D")  # model.safetensors key prefixes, in this order
    optimizer_names = ("opt_G", "opt_D")  # state.pt keys

    def __init__(self, cfg: RunConfig, ctx: StepContext, dist: distributed.Dist = distributed.SINGLE):
        """cfg: resolved (RunConfig.resolved with the dataset's facts); weights from cfg.train.seed alone."""
        self.cfg, self.ctx = cfg, ctx
        t = cfg.train
        with torch.random.fork_rng(devices=[]):  # weights from the seed alone, the caller's RNG untouched
            torch.manual_seed(t.seed)
            G, D = build_models(cfg.model)
        if t.sync_bn and dist.world_size > 1:
            G, D = distributed.convert_sync_batchnorm(G), distributed.convert_sync_batchnorm(D)
        self.G, self.D = G.to(ctx.device), D.to(ctx.device)
        if cfg.kind == "image" and ctx.device.type == "cpu":
            # oneDNN convolutions run natively in NHWC: faster on CPU (BENCHMARKS.md); saved weights stay contiguous
            self.G.to(memory_format=torch.channels_last)
            self.D.to(memory_format=torch.channels_last)
        self.G_ema = copy.deepcopy(self.G).eval().requires_grad_(False)
        adam = dict(betas=(t.beta1, t.beta2))
        if ctx.device.type == "cuda":
            adam["fused"] = True
        self.opt_G = torch.optim.Adam(self.G.parameters(), lr=t.lr_g, **adam)
        self.opt_D = torch.optim.Adam(self.D.parameters(), lr=t.lr_d, **adam)
        self.step = 0  # G updates taken (the Trainer sets it when resuming)
        if t.augment == "auto":
            raise ValueError("augment: 'auto' depends on the dataset's size; resolve the config with "
                             "RunConfig.resolved(n_images=...) first (the Trainer does)")
        self.policy = parse_policy(t.augment)  # () when off: D sees the images as they are

    def D_seen(self, x: torch.Tensor, y: torch.Tensor | None) -> torch.Tensor:
        """D's output on x as D trains on it: through a fresh draw of the augmentation policy, if any
        (DiffAugment: real and generated alike, in D's and G's updates and inside R1 and the gradient penalty)."""
        if self.policy:
            x = augment(x, self.policy, self.ctx.generator)
        return self.D(x, y)

    @staticmethod
    def step_cost(cfg: RunConfig) -> StepCost:
        """The work and memory of one step (n_critic D updates and a G update): nets.step_cost."""
        return step_cost(cfg)

    @staticmethod
    def plots(loss: str | None = None) -> tuple[Plot, Plot]:
        """The Train tab's two charts: the losses, then D's outputs (as scores for a loss that gives no probabilities)."""
        return LOSS_PLOT, (PROBABILITY_PLOT if loss is None or loss in PROBABILITY_LOSSES else SCORE_PLOT)

    @staticmethod
    def describe(cfg: RunConfig) -> str:
        """The run in a few words for the command line's first line: "dcgan, hinge"."""
        return f"{cfg.model.arch}, {cfg.train.loss}"

    @classmethod
    def empty_networks(cls, cfg: RunConfig) -> dict[str, nn.Module]:
        """The networks a checkpoint holds, built from its config for its weights to be loaded into."""
        with torch.random.fork_rng(devices=[]):  # building initialises weights; keep the caller's RNG as it was
            G, D = build_models(cfg.model)
        return {"G": G, "G_ema": copy.deepcopy(G), "D": D}

    @staticmethod
    def sampling_nets(cfg: RunConfig, networks: dict[str, nn.Module]) -> tuple[nn.Module, nn.Module]:
        """(decoder, critic) for gan_demo.explore.sampler.Sampler: G_ema and D."""
        return networks["G_ema"], networks["D"]

    # ------------------------------------------------------------------ facts
    @property
    def networks(self) -> dict[str, nn.Module]:
        """The modules to save (model.safetensors prefixes), check and move."""
        return {"G": self.G, "G_ema": self.G_ema, "D": self.D}

    @property
    def optimizers(self) -> dict[str, torch.optim.Optimizer | None]:
        return {"opt_G": self.opt_G, "opt_D": self.opt_D}

    @property
    def phases(self) -> dict:
        """name -> one update alone, returning its numbers as device tensors (the 2D lab's single steps)."""
        return {"d": self.d_update, "g": self.g_update}

    def decoder_net(self, ema: bool = True) -> nn.Module:
        """The net that turns (z, y) into samples: G_ema (for sampling) or G (the one training)."""
        return self.G_ema if ema else self.G

    @property
    def critic(self) -> nn.Module:
        """D: how real a sample looks (losses.d_prob reads its output with cfg.train.loss)."""
        return self.D

    def apply_settings(self, changes: dict) -> None:
        """Live settings (LIVE) from the next update on: the phases read cfg.train
        each update; the learning rates go into the optimizers. D's normalisation stays what it was built with."""
        for name, value in changes.items():
            setattr(self.cfg.train, name, value)
        for opt, name in ((self.opt_G, "lr_g"), (self.opt_D, "lr_d")):
            if name in changes and opt is not None:
                for group in opt.param_groups:
                    group["lr"] = changes[name]

    # ------------------------------------------------------------------ training
    def train_step(self) -> dict[str, torch.Tensor]:
        """One round: n_critic D updates, then one G update. SERIES as 0-d device tensors."""
        for _ in range(self.cfg.train.n_critic):
            self.ctx.stop_point()  # Stop lands within one phase, however many D updates a step takes
            d_out = self.d_update()
        self.ctx.stop_point()
        g_out = self.g_update()
        return {**d_out, **g_out}

    def d_update(self) -> dict[str, torch.Tensor]:
        """(1) Update D: maximise log D(x) + log(1 - D(G(z))) (or the chosen loss)."""
        t, ctx = self.cfg.train, self.ctx
        self.G.train()
        self.D.train()
        real, y = ctx.draw(ctx.batch_size)
        y = y if self.cfg.model.n_classes else None
        z = ctx.noise(ctx.batch_size)
        with ctx.autocast():
            with torch.no_grad():
                fake = self.G(z, y)
            real_logits = self.D_seen(real, y).float()
            fake_logits = self.D_seen(fake.detach(), y).float()
            loss = d_loss(t.loss, real_logits, fake_logits)
        # The penalties differentiate D as it is trained: through the augmentation, with respect to the
        # images before it (as StyleGAN2-ADA and the DiffAugment code do for R1).
        if t.loss == "wgan-gp":
            loss = loss + t.gp_weight * gradient_penalty(self.D_seen, real, fake.detach().to(real.dtype), y,
                                                         generator=ctx.generator, pack=max(1, self.cfg.model.pack or 0))
        r1 = r1_weight(t.r1_gamma, t.r1_every, self.step)
        if r1:  # a packed D: on the packed input (the m samples D judges together)
            loss = loss + r1 * r1_penalty(self.D_seen, real, y, pack=max(1, self.cfg.model.pack or 0))
        self.opt_D.zero_grad(set_to_none=True)
        loss.backward()
        ctx.sync_grads(self.D)  # no-op in one process
        gnorm = grad_norm(self.D.parameters())
        self._decayed_lr(self.opt_D, t.lr_d)
        self.opt_D.step()
        return {
            "loss_d": loss.detach(),
            "d_real": d_score(t.loss, real_logits.detach()),
            "d_fake": d_score(t.loss, fake_logits.detach()),
            "grad_norm_d": gnorm,
            "r_t": overfit_sign(t.loss, real_logits, fake_logits),  # ADA's heuristic: near +1, D memorises
        }

    def g_update(self) -> dict[str, torch.Tensor]:
        """(2) Update G: make D call its samples real, then fold G into G_ema; counts a step."""
        t, ctx = self.cfg.train, self.ctx
        self.G.train()
        self.D.train()
        y = None
        half = ctx.batch_size // 2
        if self.cfg.model.n_classes:
            _, y = ctx.draw(ctx.batch_size)
            if t.mode_seeking > 0 and half:
                y[half:2 * half] = y[:half]  # pairs (i, i + half) share a label for the mode-seeking term
        z = ctx.noise(ctx.batch_size)
        with ctx.autocast(), frozen(self.D):
            fake = self.G(z, y)
            fake_logits = self.D_seen(fake, y).float()
            loss = g_loss(t.loss, fake_logits)
            if t.mode_seeking > 0 and half:
                # MSGAN (Mao et al. 2019): two latents with the same label should give images as far
                # apart as the latents are; penalising the inverse ratio stops G from ignoring z.
                ratio = ((fake[:half] - fake[half:2 * half]).abs().mean()
                         / (z[:half] - z[half:2 * half]).abs().mean())
                loss = loss + t.mode_seeking / (ratio.float() + 1e-5)
        self.opt_G.zero_grad(set_to_none=True)
        loss.backward()
        ctx.sync_grads(self.G)
        gnorm = grad_norm(self.G.parameters())
        self._decayed_lr(self.opt_G, t.lr_g)
        self.opt_G.step()
        update_ema(self.G_ema, self.G, self.cfg.train.ema_decay, self.step)
        self.step += 1
        return {"loss_g": loss.detach(), "grad_norm_g": gnorm}

    def _decayed_lr(self, opt: torch.optim.Optimizer, lr: float) -> None:
        """The learning rate of this update: the set one (live changes included), times the end-of-run
        decay (cfg.train.lr_decay); without decay exactly the set one."""
        t = self.cfg.train
        lr = lr * lr_factor(self.step, t.steps, t.lr_decay)
        for group in opt.param_groups:
            group["lr"] = lr

    # ------------------------------------------------------------------ state
    def state_dict(self) -> dict:
        """Everything training changes: the three nets, both Adams and the step. References, as
        nn.Module.state_dict: copy.deepcopy it to keep a snapshot (divergence rollback)."""
        state = {name: net.state_dict() for name, net in self.networks.items()}
        state.update({name: opt.state_dict() for name, opt in self.optimizers.items() if opt is not None})
        state["step"] = self.step
        return state

    def load_state_dict(self, state: dict) -> None:
        """Back to a state_dict(); optimizer states it lacks (a checkpoint saved without them) are left as they are."""
        for name, net in self.networks.items():
            net.load_state_dict(state[name])
        for name, opt in self.optimizers.items():
            if opt is not None and state.get(name) is not None:
                opt.load_state_dict(state[name])
        self.step = int(state["step"])

    def release_optimizers(self) -> None:
        """Drop the Adam state once training is over (the nets stay for sampling and saving)."""
        self.opt_G = self.opt_D = None
