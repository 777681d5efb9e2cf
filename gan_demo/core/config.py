"""Run configuration: one dataclass per concern, validated in one place, and the registry of family settings.

The shared sections (data, model, train) live here; each model family owns the rest. A family tells the config
about itself with a FamilySpec (its own settings dataclass, the shared fields only it reads, its live settings,
its defaults and checks) that gan_demo.families registers into FAMILY_SPECS at import: core imports no family,
arrows point down. RunConfig holds one section per registered family that has settings of its own (cfg.vae,
config.json's "vae"), so the CLI flags, section_of() and the checkpoints read a family's settings from the
registry. gan_demo/__init__.py hands the registry a loader that imports gan_demo.families, so the built-in
families are registered before anything reads it (and not before: they bring torch, which `--help` does without). The GAN's settings (loss, lr_g, d_norm, ...) stay in the shared model and train sections,
where every config.json since format 1 has them; its FamilySpec names them as its own (`shared`).
"""
from __future__ import annotations

import copy
import dataclasses
import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Callable

FORMAT_VERSION = 1

TOY_DATASETS = ("ring8", "grid25", "spiral", "moons")
STACKED_DIGITS = "stacked-digits"  # three bundled digits per image, 1,000 modes (gan_demo.data.stacked)
IMAGE_DATASETS = ("digits", "mnist", "fashion-mnist", "cifar10", STACKED_DIGITS)  # the web app offers these
CLI_DATASETS = ("celeba",)  # image sets too large to decode inside a web server: the command line loads them
LABELLED_DATASETS = ("digits", "mnist", "fashion-mnist", "cifar10")  # stacked-digits' 1,000 modes are for G to find unaided
LOSSES = ("nonsaturating", "minimax", "hinge", "lsgan", "wgan-gp")
ARCHS = ("auto", "mlp", "dcgan")
ACTIVATIONS = ("relu", "leaky_relu", "elu", "tanh", "silu")
D_NORMS = ("auto", "batch", "spectral", "none")
IMG_SIZES = (16, 32, 64)
DEVICES = ("auto", "cpu", "cuda", "mps")
OPERATIONS = ("color", "translation", "cutout")  # DiffAugment's three groups (gan_demo.families.augment), in the order they are applied
DEFAULT_POLICY = "color,translation,cutout"  # the paper's choice for small sets (its "policy color,translation,cutout")
# Adam's default rate for image runs with the nonsaturating loss (other losses: 2e-4), measured for the image GAN
# (BENCHMARKS.md section 10; gan_demo.families.gan holds the rest of its recipe).
IMAGE_GAN_LR = 5e-4
# augment="auto" augments image GAN sets with fewer training images than this. 0: never yet. Measured (BENCHMARKS.md
# section 10): on 300 digits, 2,000 steps of the defaults, DiffAugment kept D from memorising (r_t 0.46 against
# 1.0) but its FD was worse (58.7 against 46.9), so no size has been shown to gain within the default steps.
AUGMENT_BELOW = 0
AUGMENT_CHOICES = ("auto", "none", "color,translation,cutout", "translation,cutout", "translation", "color")  # the web app's list


class ConfigError(ValueError):
    """A bad configuration value; the message names the field."""


def dataset_kind(dataset: str) -> str:
    """'2d' for point sets (toy mixtures, CSV files), 'image' for everything else."""
    if dataset in TOY_DATASETS or str(dataset).lower().endswith(".csv"):
        return "2d"
    return "image"


def own_images(dataset: str) -> bool:
    """A visitor's own pictures: a folder or a .zip of images, not a set the app bundles or downloads."""
    return dataset_kind(dataset) == "image" and dataset not in IMAGE_DATASETS + CLI_DATASETS


@dataclass
class DataConfig:
    dataset: str = "ring8"  # registry name (ring8, grid25, spiral, moons, digits, stacked-digits, mnist, ..., celeba) or a path (.csv of x,y points, image folder, .zip)
    data_dir: str = "~/.cache/gan_demo"  # where torchvision sets and CelebA are downloaded and looked for, and big image sets are cached decoded
    img_size: int = 32  # side of image sets in pixels: 16, 32 or 64
    channels: int | None = None  # 1 (grayscale) or 3 (RGB); auto (None) keeps the dataset's own (1 for digits/mnist, 3 for cifar10 and folders)
    n_points: int = 20000  # points drawn from a 2D mixture (its whole training set)


@dataclass
class ModelConfig:
    arch: str = "auto"  # mlp (2D sets), dcgan (images); auto picks by dataset kind
    z_dim: int | None = None  # noise (GAN) or latent (VAE) dimensions; auto (None) picks the default (GAN: 8 for 2D, 2 in ring8's and grid25's recipes, 100 for images, 32 on your own images with R1; VAE: 2 and 16)
    width: int | None = None  # MLP hidden units per layer; auto (None) picks the default (a ring8 or grid25 GAN with the nonsaturating loss: 128, else 256)
    depth: int = 3  # MLP hidden layers
    activation: str = "relu"  # MLP hidden activation: relu, leaky_relu, elu, tanh, silu
    ngf: int | None = None  # DCGAN generator base channels (widths ngf * 2^k); auto (None) picks the default (an image GAN: 32, a VAE: 64)
    ndf: int | None = None  # DCGAN discriminator base channels; auto (None) picks the default (an image GAN: 32, a VAE: 64)
    d_norm: str = "auto"  # D normalisation: batch, spectral, none; auto = batch (none for wgan-gp / R1, which penalise per-sample gradients)
    conditional: bool = False  # class-conditional G and D (labelled sets only)
    mbstd_group: int | None = None  # minibatch standard deviation (Karras et al. 2018): D appends the spread of its features over groups of this many samples as one more feature near its end, so it sees a collapsed batch; 0 = off; auto (None) is off; configs saved before it existed read 0
    pack: int | None = None  # PacGAN packing (Lin et al. 2018): D judges this many samples at once, concatenated along channels (images) or features (points); 0 = off; auto (None) picks the default (a GAN on your own images, a folder or zip, with R1: 2, else 0); configs saved before it existed read 0
    # Filled from the dataset by resolve(); stored so a checkpoint rebuilds without the data.
    data_dim: int = 2  # output size of an MLP generator (2 for points)
    channels: int = 1  # image channels
    img_size: int = 32  # image side
    n_classes: int = 0  # number of labels when conditional, else 0
    data_scale: float = 1.0  # spread (std) of 2D data; the MLP works in units of it


@dataclass
class TrainConfig:
    loss: str = "nonsaturating"  # nonsaturating, minimax, hinge, lsgan, wgan-gp
    lr_g: float | None = None  # generator Adam learning rate; auto (None) picks the default (ring8 with the nonsaturating loss: 4e-3, grid25 with it: 2e-3, other 2D runs: 1e-3, a GAN on your own images with R1: 1e-3, other images with the nonsaturating loss: 5e-4, other images: 2e-4)
    lr_d: float | None = None  # discriminator Adam learning rate; auto (None) picks the default (ring8 with the nonsaturating loss: 4e-3, grid25 with it: 2e-3, other 2D runs: 1e-3, images with the nonsaturating loss: 5e-4, other images: 2e-4)
    beta1: float | None = None  # Adam beta1; auto (None) picks the default (GAN: 0.5, or 0.0 for wgan-gp; VAE: 0.9)
    beta2: float = 0.999  # Adam beta2 (0.9 is common for wgan-gp)
    batch_size: int | None = None  # samples per step for D and G, the global batch: under torchrun each of N processes takes batch_size / N; auto (None) picks the default (a ring8 or grid25 GAN with the nonsaturating loss: 128, other 2D runs: 512, images: 64)
    n_critic: int = 1  # D steps per G step (5 is usual for wgan-gp)
    gp_weight: float = 10.0  # WGAN-GP gradient-penalty weight (lambda)
    r1_gamma: float | None = None  # R1 penalty weight on real data; 0 disables; auto (None) picks the default (2D: 0.1, images: 0)
    r1_every: int | None = None  # R1 on the D updates of every this many steps only, weighted by it (StyleGAN2's lazy regularisation: about the same penalty for a fraction of its cost); auto (None) picks the default (a GAN on your own images: 16, else 1); configs saved before it existed read 1
    mode_seeking: float | None = None  # weight of the mode-seeking term (MSGAN) against within-class collapse; auto (None) picks the default (1 for conditional models, else 0)
    lr_decay: float | None = None  # share of the last steps over which both learning rates fall linearly to a tenth (0 = constant); auto (None) picks the default (ring8 with the nonsaturating loss: 0.5, grid25 with it: 0.75, else 0); configs saved before it existed read 0
    ema_decay: float = 0.999  # decay of the generator's moving average G_ema (0 disables it); early on it is capped at (1 + step) / (10 + step), which stays under 0.999 until step 8,990
    augment: str = "auto"  # differentiable augmentation of real and generated images before D (DiffAugment): none, or a comma-separated policy of color, translation, cutout; auto = color,translation,cutout for image sets smaller than config.AUGMENT_BELOW (0 for now: none)
    steps: int | None = None  # training steps (a GAN: G steps; a VAE: ELBO steps); auto (None) picks the default (2D: 5000, ring8's GAN: 11000, grid25's GAN: 20000, image GANs: 4000, on your own images 8000, image VAEs: 3000)
    seed: int = 0  # seed for weights, data order and noise
    device: str = "auto"  # auto (cuda, then mps, then cpu), cpu, cuda or mps
    amp: bool | None = None  # bf16 autocast for image models: true = wherever bf16 is native (CUDA from Ampere on, CPUs with AVX512-BF16 or AMX); false = fp32 everywhere; auto (None) = on native CUDA GPUs only (on a CPU, oneDNN's bf16 kernels slow ~60x while another process shares the cores: BENCHMARKS.md section 17)
    sync_bn: bool = False  # under torchrun: BatchNorm statistics over the global batch (all processes) instead of each process's share
    world_size: int = 1  # processes the global batch was split across (set from torchrun, not a flag)


@dataclass(frozen=True)
class FamilySpec:
    """What the config knows of a model family, registered by the family (gan_demo.families) into FAMILY_SPECS."""

    name: str  # the family's key (RunConfig.family, gan_demo.families.FAMILIES)
    z_dim: dict  # the default z_dim by dataset kind: {"2d": ..., "image": ...}
    settings: type | None = None  # its own settings dataclass: RunConfig's section of the family's name (cfg.vae)
    shared: tuple[str, ...] = ()  # model / train fields only this family reads (left out of another family's command)
    live: tuple[str, ...] = ()  # the settings a run may change while it trains: its own or shared ones
    defaults: Callable[["RunConfig", int | None], None] | None = None  # (cfg, n_images): fill its auto values in place, before the shared defaults
    check: Callable[[Callable, Any, str], None] | None = None  # (check, its settings, kind): its own section's ranges; check(ok, name, msg)
    choices: dict = field(default_factory=dict)  # its own fields whose values come from a fixed list (CLI choices)
    faces: dict = field(default_factory=dict)  # setting -> core.faces.Face (None: no control): its controls in the web app
    title: str = ""  # its choice in the web app's family picker ("GAN: generator + discriminator"); default: its name


class FamilyRegistry(dict):
    """name -> FamilySpec. Its first read calls `loader` (set by gan_demo/__init__.py: import gan_demo.families, whose
    families register themselves), so the built-in families are known to whoever reads it first, and only then."""

    loader: Callable[[], None] | None = None

    def load(self) -> None:
        loader, self.loader = self.loader, None  # once; a read while it loads sees what has registered so far
        if loader is not None:
            loader()

    def __getitem__(self, name):
        self.load()
        return super().__getitem__(name)

    def __contains__(self, name) -> bool:
        self.load()
        return super().__contains__(name)

    def __iter__(self):
        self.load()
        return super().__iter__()

    def __len__(self) -> int:
        self.load()
        return super().__len__()

    def get(self, name, default=None):
        self.load()
        return super().get(name, default)

    def keys(self):
        self.load()
        return super().keys()

    def values(self):
        self.load()
        return super().values()

    def items(self):
        self.load()
        return super().items()


FAMILY_SPECS = FamilyRegistry()  # name -> FamilySpec, filled by gan_demo.families


def register_family(spec: FamilySpec) -> None:
    """Make a family known to the config (its flags, sections, defaults and checks); unregister_family undoes it."""
    FAMILY_SPECS.load()  # the built-in families first, whoever registers first
    FAMILY_SPECS[spec.name] = spec


def unregister_family(name: str) -> None:
    FAMILY_SPECS.pop(name, None)


class RegistryView(Mapping):
    """A read-only mapping built from a registry (FAMILY_SPECS, families.FAMILIES) on every read, so that a module
    which took it at import (the Train tab's LIVE_SETTINGS, SECTION_OF) also sees a family registered after it."""

    def __init__(self, build: Callable[[], dict]):
        self._build = build

    def __getitem__(self, key):
        return self._build()[key]

    def __iter__(self):
        return iter(self._build())

    def __len__(self) -> int:
        return len(self._build())

    def __repr__(self) -> str:
        return repr(self._build())


def family_settings_classes() -> dict[str, type]:
    """{family name: its own settings dataclass} for every registered family that has one."""
    return {name: spec.settings for name, spec in FAMILY_SPECS.items() if spec.settings is not None}


def family_spec(name: str) -> FamilySpec:
    """The registered family `name`; ConfigError names the family field otherwise."""
    if name not in FAMILY_SPECS:
        raise ConfigError(f"family: must be one of {', '.join(FAMILY_SPECS)} (got {name!r})")
    return FAMILY_SPECS[name]


# Settings a run can change while it trains (the app's live controls, --schedule), per family.
LIVE_SETTINGS = RegistryView(lambda: {name: spec.live for name, spec in FAMILY_SPECS.items()})


def __getattr__(name: str):
    if name == "FAMILY_NAMES":  # the registered families' names, in registration order
        return tuple(FAMILY_SPECS)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


@dataclass(init=False)
class RunConfig:
    """The shared sections plus each registered family's own settings (cfg.vae); cfg.settings is the chosen
    family's. RunConfig(family="vae", vae=VAESettings(beta=2)) names a family's section by the family."""

    family: str = "gan"  # model family: gan (generator + discriminator) or vae (encoder + decoder); checkpoints without one are GANs
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    step: int = 0  # training steps already taken (set when saved)
    schedule: list = field(default_factory=list)  # settings changed during the run: [{"step": N, "lr_d": 0.01, ...}], applied when the run reaches step N (LIVE_SETTINGS)
    format_version: int = FORMAT_VERSION  # checkpoint format
    sections: dict = field(default_factory=dict)  # family name -> its own settings, for every registered family with some (config.json: one key each)

    def __init__(self, family: str = "gan", data: DataConfig | None = None, model: ModelConfig | None = None,
                 train: TrainConfig | None = None, step: int = 0, schedule: list | None = None,
                 format_version: int = FORMAT_VERSION, sections: dict | None = None, **settings):
        classes = family_settings_classes()
        unknown = set(settings) - set(classes)
        if unknown:
            raise TypeError(f"RunConfig has no section {', '.join(sorted(unknown))} (registered families with "
                            f"settings: {', '.join(classes) or 'none'})")
        self.family = family
        self.data = DataConfig() if data is None else data
        self.model = ModelConfig() if model is None else model
        self.train = TrainConfig() if train is None else train
        self.step = step
        self.schedule = [] if schedule is None else schedule
        self.format_version = format_version
        self.sections = {name: klass() for name, klass in classes.items()}
        self.sections.update(sections or {})
        self.sections.update(settings)

    def __getattr__(self, name: str):
        """A family's own section by the family's name: cfg.vae."""
        sections = self.__dict__.get("sections")
        if sections is not None and name in sections:
            return sections[name]
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

    @property
    def settings(self):
        """The chosen family's own settings (None for a family without a section of its own, such as the GAN)."""
        return self.sections.get(self.family)

    # ------------------------------------------------------------------ io
    def to_dict(self) -> dict:
        out = {"family": self.family, "data": dataclasses.asdict(self.data), "model": dataclasses.asdict(self.model),
               "train": dataclasses.asdict(self.train)}
        out.update({name: dataclasses.asdict(section) for name, section in self.sections.items()})
        out.update(step=self.step, schedule=copy.deepcopy(self.schedule), format_version=self.format_version)
        return out

    @classmethod
    def from_dict(cls, d: dict) -> "RunConfig":
        if not isinstance(d, dict):
            raise ConfigError("config must be a JSON object")
        version = d.get("format_version", FORMAT_VERSION)
        if version != FORMAT_VERSION:
            raise ConfigError(f"format_version {version} is not supported (this version reads {FORMAT_VERSION})")

        def build(klass, sub):
            sub = sub or {}
            if not isinstance(sub, dict):
                raise ConfigError(f"{klass.__name__} must be a JSON object")
            names = {f.name: f for f in fields(klass)}
            unknown = set(sub) - set(names)
            if unknown:
                raise ConfigError(f"unknown {klass.__name__} field(s): {', '.join(sorted(unknown))}")
            legacy = LEGACY_AUTO.get(klass.__name__, {})
            if sub:  # a section written before a field existed meant what the code did then
                sub = {**ADDED_LATER.get(klass.__name__, {}), **sub}
            sub = {k: (None if k in legacy and v == legacy[k] else v) for k, v in sub.items()}  # 0 / -1 meant auto
            return klass(**sub)

        cfg = cls(
            family=d.get("family", "gan"),  # format 1 before the VAE: every checkpoint was a GAN
            data=build(DataConfig, d.get("data")),
            model=build(ModelConfig, d.get("model")),
            train=build(TrainConfig, d.get("train")),
            sections={name: build(klass, d.get(name)) for name, klass in family_settings_classes().items()},
            step=int(d.get("step", 0)),
            schedule=d.get("schedule") or [],
        )
        return cfg

    @property
    def kind(self) -> str:
        return dataset_kind(self.data.dataset)

    # ------------------------------------------------------------ defaults
    def resolved(self, *, channels: int | None = None, n_classes: int = 0, data_dim: int = 2,
                 data_scale: float | None = None, n_images: int | None = None) -> "RunConfig":
        """A copy with every 'pick the default' value filled in and checked.

        channels / n_classes / data_dim / n_images describe the dataset once it is loaded
        (the Trainer passes them); a resolved config rebuilds the models alone. Without
        n_images an image GAN's augment stays "auto".
        """
        cfg = RunConfig.from_dict(self.to_dict())
        d, m, t = cfg.data, cfg.model, cfg.train
        cfg.validate()  # the family first: its name picks the defaults below
        spec = FAMILY_SPECS[cfg.family]
        two_d = cfg.kind == "2d"
        if m.arch == "auto":
            m.arch = "mlp" if two_d else "dcgan"
        # What the dataset says, before the family's defaults (a 2D VAE's recon_sigma is in units of the spread)
        m.img_size = d.img_size
        m.data_dim = data_dim
        if channels is not None:
            m.channels = channels
        elif d.channels:
            m.channels = d.channels
        m.n_classes = n_classes if m.conditional else 0
        if data_scale is not None:
            m.data_scale = data_scale
        if spec.defaults is not None:  # the family's own picks first (a ring8 GAN's recipe, a VAE's beta1, ...)
            spec.defaults(cfg, n_images)
        if m.z_dim is None:
            m.z_dim = spec.z_dim[cfg.kind]
        # The shared defaults for what the family left auto (another family's sections keep theirs as given)
        if m.width is None:
            m.width = 256
        if m.ngf is None:
            m.ngf = 64
        if m.ndf is None:
            m.ndf = 64
        image_lr = IMAGE_GAN_LR if t.loss == "nonsaturating" else 2e-4
        if t.lr_g is None:
            t.lr_g = 1e-3 if two_d else image_lr
        if t.lr_d is None:
            t.lr_d = 1e-3 if two_d else image_lr
        if t.beta1 is None:
            t.beta1 = 0.0 if t.loss == "wgan-gp" else 0.5
        if t.batch_size is None:
            t.batch_size = 512 if two_d else 64
        if t.r1_gamma is None:
            t.r1_gamma = 0.1 if (two_d and t.loss != "wgan-gp") else 0.0
        if t.r1_every is None:
            t.r1_every = 1
        if t.steps is None:
            t.steps = 5000 if two_d else 3000
        if t.lr_decay is None:
            t.lr_decay = 0.0
        if t.mode_seeking is None:
            t.mode_seeking = 1.0 if m.conditional else 0.0
        if m.pack is None:
            m.pack = default_pack(cfg)
        if m.mbstd_group is None:  # off unless chosen, but on stacked-digits (grid25's old recipe had 4: sections 12, 33)
            m.mbstd_group = default_mbstd_group(cfg)
        if m.d_norm == "auto":
            m.d_norm = "none" if (t.loss == "wgan-gp" or t.r1_gamma > 0) else "batch"
        if two_d or "augment" not in spec.shared:  # points are not images; a family without D has none to augment for
            t.augment = "none"
        cfg.validate()
        return cfg

    # ---------------------------------------------------------- validation
    def validate(self) -> None:
        """Raise ConfigError naming the first bad field."""
        d, m, t = self.data, self.model, self.train

        def check(ok: bool, name: str, msg: str):
            if not ok:
                raise ConfigError(f"{name}: {msg}")

        family_spec(self.family)

        check(isinstance(d.dataset, str) and d.dataset != "", "dataset", "must name a dataset or a path")
        check(d.img_size in IMG_SIZES, "img_size", f"must be one of {', '.join(map(str, IMG_SIZES))} (got {d.img_size})")
        check(d.channels in (None, 1, 3), "channels", f"must be 1, 3, or auto (the dataset's own) (got {d.channels})")
        check(100 <= d.n_points <= 10_000_000, "n_points", f"must be between 100 and 10,000,000 (got {d.n_points})")
        check(m.arch in ARCHS, "arch", f"must be one of {', '.join(ARCHS)} (got {m.arch!r})")
        if m.arch != "auto":
            want = "mlp" if self.kind == "2d" else "dcgan"
            check(m.arch == want, "arch", f"{m.arch} does not fit the {self.kind} dataset {d.dataset!r}; use {want}")
        auto = "or auto for the default"
        check(m.z_dim is None or 1 <= m.z_dim <= 1024, "z_dim", f"must be between 1 and 1024, {auto} (got {m.z_dim})")
        check(m.width is None or 1 <= m.width <= 4096, "width", f"must be between 1 and 4096, {auto} (got {m.width})")
        check(1 <= m.depth <= 16, "depth", f"must be between 1 and 16 (got {m.depth})")
        check(m.activation in ACTIVATIONS, "activation", f"must be one of {', '.join(ACTIVATIONS)} (got {m.activation!r})")
        check(m.ngf is None or 1 <= m.ngf <= 1024, "ngf", f"must be between 1 and 1024, {auto} (got {m.ngf})")
        check(m.ndf is None or 1 <= m.ndf <= 1024, "ndf", f"must be between 1 and 1024, {auto} (got {m.ndf})")
        check(m.d_norm in D_NORMS, "d_norm", f"must be one of {', '.join(D_NORMS)} (got {m.d_norm!r})")
        check_batch_view(check, self)
        if m.conditional:
            check(d.dataset != STACKED_DIGITS, "conditional",
                  "stacked-digits is unconditional: its 1,000 modes (three digits) are what the generator must "
                  "find by itself, which is what the dataset measures")
            check(self.kind == "image" and (d.dataset in LABELLED_DATASETS), "conditional",
                  f"needs a labelled dataset ({', '.join(LABELLED_DATASETS)}), not {d.dataset!r}")
        check_live_settings(check, self)
        check(t.beta1 is None or 0 <= t.beta1 < 1, "beta1", f"must be in [0, 1), {auto} (got {t.beta1})")
        check(0 <= t.beta2 < 1, "beta2", f"must be in [0, 1) (got {t.beta2})")
        check(t.batch_size is None or 1 <= t.batch_size <= 65536, "batch_size",
              f"must be between 1 and 65536, {auto} (got {t.batch_size})")
        check(1 <= t.world_size <= 65536, "world_size", f"must be between 1 and 65536 (got {t.world_size})")
        check(t.batch_size is None or t.batch_size % t.world_size == 0, "batch_size",
              f"the global batch ({t.batch_size}) must split evenly across the {t.world_size} processes "
              f"(use a multiple of {t.world_size})")
        check(t.mode_seeking is None or 0 <= t.mode_seeking <= 100, "mode_seeking",
              f"must be between 0 and 100, {auto} (got {t.mode_seeking})")
        check(t.lr_decay is None or 0 <= t.lr_decay <= 1, "lr_decay", f"must be between 0 and 1, {auto} (got {t.lr_decay})")
        check(0 <= t.ema_decay < 1, "ema_decay", f"must be in [0, 1) (got {t.ema_decay})")
        check_augment(check, t.augment, self.kind, self.family)
        check(t.steps is None or 1 <= t.steps <= 100_000_000, "steps",
              f"must be between 1 and 100,000,000, {auto} (got {t.steps})")
        check(0 <= t.seed < 2**63, "seed", f"must be between 0 and 2^63 - 1 (got {t.seed})")
        check(t.device in DEVICES, "device", f"must be one of {', '.join(DEVICES)} (got {t.device!r})")
        check_family_settings(check, self)
        check_schedule(self)

    # ----------------------------------------------------------------- cli
    def to_cli(self, out: str = "runs/my-run") -> str:
        """The `python -m gan_demo train ...` command that repeats this run headless.

        Only fields that differ from the defaults are written, so the command stays short.
        """
        base = RunConfig()
        launcher = "python -m gan_demo train"
        if self.train.world_size > 1:  # made by that many processes: say how to start them again
            launcher = f"torchrun --standalone --nproc_per_node={self.train.world_size} -m gan_demo train"
        parts = [launcher, f"--dataset {_quote(self.data.dataset)}"]
        if self.family != base.family:
            parts.append(f"--family {self.family}")
        others = owned_by_other_families(self.family)
        for section in ("data", "model", "train") + ((self.family,) if self.settings is not None else ()):
            mine, default = getattr(self, section), getattr(base, section)
            for f in fields(mine):
                if ((section == "model" and f.name in RESOLVED_ONLY) or (section == "train" and f.name in LAUNCH_ONLY)
                        or (section, f.name) == ("data", "dataset") or f.name in others):
                    continue
                value = getattr(mine, f.name)
                if value == getattr(default, f.name):
                    continue
                flag = "--" + f.name.replace("_", "-")
                if isinstance(value, bool):
                    parts.append(flag if value else f"--no-{f.name.replace('_', '-')}")
                else:
                    parts.append(f"{flag} {_quote(str(value))}")
        if self.schedule:
            parts.append(f"--schedule {_quote(json.dumps(self.schedule, separators=(',', ':')))}")
        parts.append(f"--out {_quote(out)}")
        return " ".join(parts)


def auto_augment(n_images: int, below: int | None = None) -> str:
    """What augment="auto" means for an image GAN on n_images training images: the paper's policy under
    `below` (default AUGMENT_BELOW) images, else none."""
    below = AUGMENT_BELOW if below is None else below
    return DEFAULT_POLICY if n_images < below else "none"


def parse_policy(policy: str) -> tuple[str, ...]:
    """"color,translation" -> ("color", "translation"); "none" or "" -> (). ValueError names an unknown part."""
    if policy in ("none", ""):
        return ()
    parts = tuple(p.strip() for p in policy.split(","))
    unknown = [p for p in parts if p not in OPERATIONS]
    if unknown or len(set(parts)) != len(parts):
        raise ValueError(f"augment: {policy!r} is not a policy; use none, or a comma-separated list of "
                         f"{', '.join(OPERATIONS)} (each once), e.g. {DEFAULT_POLICY}")
    return tuple(op for op in OPERATIONS if op in parts)  # applied in a fixed order whatever the spelling


def check_live_settings(check, cfg: "RunConfig") -> None:
    """The ranges of the settings a run can change while it trains (LIVE_SETTINGS): validate() checks them
    with the rest, and check_schedule after each change (the other settings cannot change). The shared train
    section's here, each family's own section by its FamilySpec.check."""
    t = cfg.train
    auto = "or auto for the default"
    check(t.loss in LOSSES, "loss", f"must be one of {', '.join(LOSSES)} (got {t.loss!r})")
    check(t.lr_g is None or 0 < t.lr_g < 1e6, "lr_g", f"must be a positive number, {auto} (got {t.lr_g})")
    check(t.lr_d is None or 0 < t.lr_d < 1e6, "lr_d", f"must be a positive number, {auto} (got {t.lr_d})")
    check(1 <= t.n_critic <= 100, "n_critic", f"must be between 1 and 100 (got {t.n_critic})")
    check(t.gp_weight >= 0, "gp_weight", f"must be >= 0 (got {t.gp_weight})")
    check(t.r1_gamma is None or t.r1_gamma >= 0, "r1_gamma", f"must be >= 0 (0 disables it), {auto} (got {t.r1_gamma})")
    check(t.r1_every is None or 1 <= t.r1_every <= MAX_R1_EVERY, "r1_every",
          f"must be a whole number from 1 (every step) to {MAX_R1_EVERY}, {auto} (got {t.r1_every})")
    check_family_settings(check, cfg)


def check_family_settings(check, cfg: "RunConfig") -> None:
    """Every registered family's own section, checked by its FamilySpec.check (a GAN's config keeps a VAE
    section too, checked alike)."""
    for name, section in cfg.sections.items():
        spec = FAMILY_SPECS.get(name)
        if spec is not None and spec.check is not None:
            spec.check(check, section, cfg.kind)


def owned_by_other_families(family: str) -> set[str]:
    """Shared model / train fields that only other families read (a VAE's command leaves out the GAN's loss)."""
    mine = set(FAMILY_SPECS[family].shared) if family in FAMILY_SPECS else set()
    return {name for spec in FAMILY_SPECS.values() for name in spec.shared} - mine


def check_augment(check, augment, kind: str, family: str) -> None:
    """augment is auto, none or a policy (parse_policy); points are never augmented."""
    try:
        policy = parse_policy(augment) if isinstance(augment, str) and augment != "auto" else ()
    except ValueError as exc:
        check(False, "augment", str(exc).removeprefix("augment: "))
    check(isinstance(augment, str), "augment", f"must be auto, none or a policy such as {DEFAULT_POLICY} (got {augment!r})")
    check(not (policy and kind == "2d" and "augment" in family_spec(family).shared), "augment",
          "augments images only; a 2D run trains on its points as they are (use auto or none)")


MAX_PACK = 16  # samples one packed D input may hold
MAX_MBSTD_GROUP = 256  # samples one minibatch-stddev group may hold
# A GAN on a visitor's own images (a folder or a zip, the nonsaturating loss) trains with R1 at this weight, so D
# has no BatchNorm (d_norm auto), and D judges packs of OWN_IMAGES_PACK. On the bundled digits as a zip, three seeds
# at one thread and at two, its worst seed beat the BatchNorm D's worst in precision (0.482-0.496 against
# 0.396-0.421) and FD (2.77-3.35x real against 3.68-4.12x), the two figures the old default missed most; recall's
# worst stayed far above its goal of 0.75 (0.917 against 0.938 at two threads, 0.956 against 0.933 at one), for
# ~15% more time (BENCHMARKS.md sections 15 and 18).
OWN_IMAGES_R1 = 0.1
OWN_IMAGES_PACK = 2
# Since 2026-12-06 it takes R1 lazily (StyleGAN2's lazy regularisation): on every OWN_IMAGES_R1_EVERY-th step, that
# many times as strong, a fifth less time a step, as good at every step measured; with the 8,000 steps that buys
# (families.gan.OWN_IMAGES_STEPS), three seeds at two threads: worst precision 0.641 against 0.565, FD 2.32x against
# 2.36x, recall 0.933 against 0.930, in ~9 minutes (BENCHMARKS.md section 30).
OWN_IMAGES_R1_EVERY = 16
MAX_R1_EVERY = 64  # the lazy R1 penalty's longest interval (r1_every), in steps


# stacked-digits' GAN takes R1 too (families.gan sets it lazily, as on your own images, with its steps), and D sees
# the batch through minibatch stddev over groups of STACKED_MBSTD_GROUP instead of packs. Its BatchNorm D of before
# covered 789-1,000 of the 1,000 modes (KL 0.27-0.89) over three seeds at one thread and at two on an Intel Xeon VM
# and collapsed to 3-4 modes in two seeds of three at two threads on an AMD one; R1 with packs of 2, 999-1,000 modes
# (KL 0.15-0.23); R1 with minibatch stddev, all 1,000 modes in every seed, KL 0.08-0.11 (five runs of six <= 0.1),
# in 12-13 minutes at two threads on the Xeon (a step costs 1.7x the packed one's; BENCHMARKS.md section 35).
STACKED_MBSTD_GROUP = 4


def r1_set(dataset: str) -> bool:
    """Whether a GAN on dataset trains with R1 by default (OWN_IMAGES_R1, every OWN_IMAGES_R1_EVERY steps): a
    visitor's own images, and stacked-digits."""
    return own_images(dataset) or dataset == STACKED_DIGITS


def default_pack(cfg: "RunConfig") -> int:
    """What pack=None means: OWN_IMAGES_PACK for a GAN on a visitor's own images with R1 and the nonsaturating
    loss, so long as each process's batch splits into packs; else 0 (off)."""
    return _default_view(cfg, "pack", OWN_IMAGES_PACK, own_images(cfg.data.dataset), per=1)


def default_mbstd_group(cfg: "RunConfig") -> int:
    """What mbstd_group=None means (pack resolved first): STACKED_MBSTD_GROUP for a GAN on stacked-digits with R1
    and the nonsaturating loss, so long as what D sees a step on each process splits into groups; else 0 (off)."""
    return _default_view(cfg, "mbstd_group", STACKED_MBSTD_GROUP, cfg.data.dataset == STACKED_DIGITS,
                         per=max(cfg.model.pack or 0, 1))


def _default_view(cfg: "RunConfig", name: str, size: int, on_this_set: bool, per: int) -> int:
    """size where D's batch view `name` is on by default (a GAN with R1 and the nonsaturating loss, on_this_set)
    and each process's batch, in units of `per` samples, splits into whole units of it; else 0 (off)."""
    t = cfg.train
    if name not in family_spec(cfg.family).shared or t.loss != "nonsaturating" or not on_this_set \
            or not (t.r1_gamma or 0) > 0:
        return 0
    seen = (t.batch_size or 0) // max(t.world_size, 1) // per
    return size if seen and seen % size == 0 else 0


def check_batch_view(check, cfg: "RunConfig") -> None:
    """mbstd_group and pack: the GAN's D options that let D see more than one sample at a time.

    The batch must split into whole packs on every process, and the packs into whole groups, so that
    every training sample is judged (the evaluation's odd batches are padded by the model itself)."""
    m, t = cfg.model, cfg.train
    reads = set(family_spec(cfg.family).shared)  # the family whose D these shape (the GAN) names them as its own
    group = 0 if m.mbstd_group is None else m.mbstd_group  # auto: off until resolved()
    pack = 0 if m.pack is None else m.pack
    for name, value, top in (("mbstd_group", group, MAX_MBSTD_GROUP), ("pack", pack, MAX_PACK)):
        check(isinstance(value, int) and not isinstance(value, bool) and (value == 0 or 2 <= value <= top), name,
              f"must be 0 (off) or a whole number between 2 and {top} (got {value!r})")
        check(value == 0 or name in reads, name, f"changes the GAN's discriminator; a {cfg.family.upper()} has none (use 0)")
    if t.batch_size is None or not {"mbstd_group", "pack"} <= reads or t.world_size < 1 or t.batch_size % t.world_size:
        return  # the batch's own checks speak first
    share = t.batch_size // t.world_size
    if pack:
        check(share % pack == 0, "pack",
              f"D judges packs of {pack} samples, so the batch each process draws ({share}) must be a multiple "
              f"of {pack}")
    seen = share // pack if pack else share
    if m.mbstd_group:
        check(seen % m.mbstd_group == 0, "mbstd_group",
              f"D sees {seen} {'packs' if pack else 'samples'} a step, which must split into groups of "
              f"{m.mbstd_group} (pick a group size that divides {seen})")


MAX_SCHEDULE = 1000  # changes one run may record


def live_section(cfg: "RunConfig", name: str, family: str | None = None):
    """The section of cfg that holds live setting `name` of `family` (default: cfg's own): that family's
    settings when the field is theirs, else train."""
    own = cfg.sections.get(cfg.family if family is None else family)
    return own if own is not None and name in {f.name for f in fields(own)} else cfg.train


def live_type(family: str, name: str) -> type:
    """The value type (int, float or str) of a registered family's live setting, from the field that holds it."""
    own = FAMILY_SPECS[family].settings
    return field_type(own if own is not None and name in {f.name for f in fields(own)} else TrainConfig, name)


def apply_live(cfg: "RunConfig", changes: dict) -> None:
    """Set live settings (LIVE_SETTINGS) on cfg in place, each in its section (live_section)."""
    for name, value in changes.items():
        setattr(live_section(cfg, name), name, value)


def check_live_values(family: str, changes: dict, where: str = "") -> None:
    """Raise ConfigError (one sentence naming the setting) unless every change is a live setting of this
    family with a value of its field's type: ints are ints, numbers are numbers, text is text.

    validate() compares values with numbers, so a "0.01" or a [1, 2] would raise a TypeError there, and a
    2.5 for n_critic would pass it and fail inside the training step."""
    allowed = LIVE_SETTINGS.get(family, ())
    prefix = f"{where}: " if where else ""
    unknown = set(changes) - set(allowed)
    if unknown or not changes:
        raise ConfigError(f"{prefix}a {family} run can change {', '.join(allowed)} while it trains"
                          + (f" (not {', '.join(sorted(map(str, unknown)))[:200]})" if unknown else ""))
    for name, value in changes.items():
        kind = live_type(family, name)
        if value is None:
            raise ConfigError(f"{prefix}give {name} a value (auto cannot be a change)")
        if kind is int:
            ok, want = isinstance(value, int) and not isinstance(value, bool), "a whole number"
            if ok and abs(value) >= 10**9:  # validate() would quote all of its digits
                raise ConfigError(f"{prefix}{name} is out of range (got {_short(value)})")
        elif kind is float:
            ok = (isinstance(value, (int, float)) and not isinstance(value, bool)
                  and abs(value) < 1e300 and math.isfinite(value))  # abs() first: a 400-digit int overflows isfinite
            want = "a finite number"
        else:
            ok, want = isinstance(value, str), "a text"
        if not ok:
            raise ConfigError(f"{prefix}{name} must be {want} (got {_short(value)})")


def check_schedule(cfg: "RunConfig", each=None) -> None:
    """Raise ConfigError naming the first bad entry of cfg.schedule (steps in order, known settings, values
    of the right type and range); each(trial), when given, is called with the settings in force from each
    entry on (e.g. the web app's work-per-step budget) and may raise ConfigError too.

    The entries are applied in turn to one copy of the config, so the check is linear in the schedule's
    length, which is capped at MAX_SCHEDULE."""
    schedule = cfg.schedule
    if not isinstance(schedule, list) or len(schedule) > MAX_SCHEDULE:
        raise ConfigError(f"schedule: must be a list of at most {MAX_SCHEDULE} changes")
    if not schedule:
        return
    trial = RunConfig(family=cfg.family, data=dataclasses.replace(cfg.data), model=dataclasses.replace(cfg.model),
                      train=dataclasses.replace(cfg.train), step=cfg.step,
                      sections={name: dataclasses.replace(section) for name, section in cfg.sections.items()})

    def check(ok: bool, name: str, msg: str):
        if not ok:
            raise ConfigError(f"{name}: {msg}")

    last = -1
    for i, entry in enumerate(schedule):
        where = f"schedule[{i}]"
        step = entry.get("step") if isinstance(entry, dict) else None
        if not isinstance(step, int) or isinstance(step, bool) or not 0 <= step <= 10**12:
            raise ConfigError(f"{where}: must be an object with a whole-number \"step\" (0 or more)")
        if step < last:
            raise ConfigError(f"{where}: steps must not go back (step {step} after {last})")
        last = step
        changes = {k: v for k, v in entry.items() if k != "step"}
        check_live_values(cfg.family, changes, where)
        apply_live(trial, changes)
        try:
            check_live_settings(check, trial)  # only live settings change along a schedule
            if each is not None:
                each(trial)
        except ConfigError as exc:
            raise ConfigError(f"{where}: {exc}") from None


def _short(value) -> str:
    """A visitor's value as an error quotes it: its type for containers, at most 40 characters otherwise."""
    if isinstance(value, (list, dict)):
        return f"a JSON {'list' if isinstance(value, list) else 'object'}"
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) >= 10**40:
        return f"a {len(str(abs(value)))}-digit number" if abs(value) < 10**4000 else "a huge number"
    return repr(value)[:40]


# ModelConfig fields derived from the dataset, never set by the user.
# Auto fields were written as these sentinels before None meant "auto" (config.json of older runs, APIs).
LEGACY_AUTO = {
    "DataConfig": {"channels": 0},
    "ModelConfig": {"z_dim": 0},
    "TrainConfig": {"lr_g": 0, "lr_d": 0, "beta1": -1, "batch_size": 0, "r1_gamma": -1, "mode_seeking": -1,
                    "steps": 0},
}
# Fields added after FORMAT_VERSION 1 whose auto value is not what older runs did: a config.json without
# one (a checkpoint saved before it existed) gets the value that reproduces how that run trained.
ADDED_LATER = {"TrainConfig": {"lr_decay": 0.0, "augment": "none", "r1_every": 1}, "ModelConfig": {"mbstd_group": 0, "pack": 0}}
RESOLVED_ONLY = ("data_dim", "channels", "img_size", "n_classes", "data_scale")
# TrainConfig fields the launcher sets (torchrun's WORLD_SIZE), never a flag.
LAUNCH_ONLY = ("world_size",)
# Fields the server decides for web runs (where data lives, what it trains on), never a web visitor.
SERVER_ONLY = ("data_dir", "device")


def section_of() -> dict[str, str]:
    """{field name: "data" | "model" | "train" | a family's name ("vae") | "run"} for every field a run's settings can name.

    The one map from a flat setting to its config section (the Train tab, the API and their tests use
    it); a name in two sections (img_size, channels) belongs to data: the model's copy is derived.
    """
    out = {f.name: name for name, klass in family_settings_classes().items() for f in fields(klass)}
    out.update({f.name: "train" for f in fields(TrainConfig) if f.name not in LAUNCH_ONLY})
    out.update({f.name: "model" for f in fields(ModelConfig) if f.name not in RESOLVED_ONLY})
    out.update({f.name: "data" for f in fields(DataConfig)})
    out["family"] = "run"  # RunConfig.family itself
    return out


def web_settings() -> Mapping[str, str]:
    """section_of() less what the server decides: the settings a web visitor may choose (read from the
    registry on every use, so a module may keep it)."""
    return RegistryView(lambda: {name: section for name, section in section_of().items() if name not in SERVER_ONLY})


def section_classes() -> Mapping[str, type]:
    """{section: its dataclass} for every section a setting can live in (section_of's values): the shared
    ones, each family's own, and "run" (RunConfig); read from the registry on every use."""
    return RegistryView(lambda: {"data": DataConfig, "model": ModelConfig, "train": TrainConfig,
                                 **family_settings_classes(), "run": RunConfig})


def field_type(klass, name: str) -> type:
    """The value type of a config field: int, float, bool or str (an auto field, `X | None`, gives X)."""
    import typing

    hint = typing.get_type_hints(klass)[name]
    args = [a for a in typing.get_args(hint) if a is not type(None)]
    return args[0] if args else hint


def _quote(s: str) -> str:
    import shlex

    return shlex.quote(s)


def data_dir(cfg: DataConfig) -> Path:
    return Path(cfg.data_dir).expanduser()


def field_docs(klass) -> dict[str, str]:
    """The one-line comment beside each field of a config dataclass (used as CLI help)."""
    import inspect
    import re

    docs = {}
    for line in inspect.getsource(klass).splitlines():
        match = re.match(r"\s+(\w+): [^=]+=.*?  # (.+)$", line)
        if match:
            docs[match.group(1)] = match.group(2).strip()
    return docs


SHARED_CHOICES = {  # shared fields whose values come from a fixed list
    "arch": ARCHS, "activation": ACTIVATIONS, "d_norm": D_NORMS, "loss": LOSSES,
    "device": DEVICES, "img_size": IMG_SIZES, "channels": (1, 3),
}
# Every field whose values come from a fixed list: the shared ones, each family's own (FamilySpec.choices), family.
CHOICES = RegistryView(lambda: {**SHARED_CHOICES, **{name: values for spec in FAMILY_SPECS.values()
                                                       for name, values in spec.choices.items()},
                                "family": tuple(FAMILY_SPECS)})
