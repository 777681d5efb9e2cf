"""Run configuration: one dataclass per concern, validated in one place."""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field, fields
from pathlib import Path

FORMAT_VERSION = 1

TOY_DATASETS = ("ring8", "grid25", "spiral", "moons")
IMAGE_DATASETS = ("digits", "mnist", "fashion-mnist", "cifar10", "stacked-digits")
LABELLED_DATASETS = ("digits", "mnist", "fashion-mnist", "cifar10")  # stacked-digits' 1,000 modes are for G to find unaided
LOSSES = ("nonsaturating", "minimax", "hinge", "lsgan", "wgan-gp")
ARCHS = ("auto", "mlp", "dcgan")
ACTIVATIONS = ("relu", "leaky_relu", "elu", "tanh", "silu")
D_NORMS = ("auto", "batch", "spectral", "none")
IMG_SIZES = (16, 32, 64)
DEVICES = ("auto", "cpu", "cuda", "mps")


class ConfigError(ValueError):
    """A bad configuration value; the message names the field."""


def dataset_kind(dataset: str) -> str:
    """'2d' for point sets (toy mixtures, CSV files), 'image' for everything else."""
    if dataset in TOY_DATASETS or str(dataset).lower().endswith(".csv"):
        return "2d"
    return "image"


@dataclass
class DataConfig:
    dataset: str = "ring8"  # registry name (ring8, grid25, spiral, moons, digits, stacked-digits, mnist, ...) or a path (.csv of x,y points, image folder, .zip)
    data_dir: str = "~/.cache/gan_demo"  # where torchvision sets are downloaded and looked for
    img_size: int = 32  # side of image sets in pixels: 16, 32 or 64
    channels: int = 0  # 1 (grayscale) or 3 (RGB); 0 keeps the dataset's own (1 for digits/mnist, 3 for cifar10 and folders)
    n_points: int = 20000  # points drawn from a 2D mixture (its whole training set)


@dataclass
class ModelConfig:
    arch: str = "auto"  # mlp (2D sets), dcgan (images); auto picks by dataset kind
    z_dim: int = 0  # noise dimensions; 0 picks the default for the dataset kind (2D: 8, images: 100)
    width: int = 256  # MLP hidden units per layer
    depth: int = 3  # MLP hidden layers
    activation: str = "relu"  # MLP hidden activation: relu, leaky_relu, elu, tanh, silu
    ngf: int = 64  # DCGAN generator base channels (widths ngf * 2^k)
    ndf: int = 64  # DCGAN discriminator base channels
    d_norm: str = "auto"  # D normalisation: batch, spectral, none; auto = batch (none for wgan-gp / R1, which penalise per-sample gradients)
    conditional: bool = False  # class-conditional G and D (labelled sets only)
    # Filled from the dataset by resolve(); stored so a checkpoint rebuilds without the data.
    data_dim: int = 2  # output size of an MLP generator (2 for points)
    channels: int = 1  # image channels
    img_size: int = 32  # image side
    n_classes: int = 0  # number of labels when conditional, else 0
    data_scale: float = 1.0  # spread (std) of 2D data; the MLP works in units of it


@dataclass
class TrainConfig:
    loss: str = "nonsaturating"  # nonsaturating, minimax, hinge, lsgan, wgan-gp
    lr_g: float = 0.0  # generator Adam learning rate; 0 picks the default (2D: 1e-3, images: 2e-4)
    lr_d: float = 0.0  # discriminator Adam learning rate; 0 picks the default (2D: 1e-3, images: 2e-4)
    beta1: float = -1.0  # Adam beta1; -1 picks the default (0.5, or 0.0 for wgan-gp)
    beta2: float = 0.999  # Adam beta2 (0.9 is common for wgan-gp)
    batch_size: int = 0  # samples per step for D and G; 0 picks the default (2D: 512, images: 64)
    n_critic: int = 1  # D steps per G step (5 is usual for wgan-gp)
    gp_weight: float = 10.0  # WGAN-GP gradient-penalty weight (lambda)
    r1_gamma: float = -1.0  # R1 penalty weight on real data; 0 disables; -1 picks the default (2D: 0.1, images: 0)
    mode_seeking: float = -1.0  # weight of the mode-seeking term (MSGAN) against within-class collapse; -1 picks the default (1 for conditional models, else 0)
    ema_decay: float = 0.999  # decay of the generator's moving average G_ema (0 disables it)
    steps: int = 0  # G steps to train; 0 picks the default (2D: 5000, images: 3000)
    seed: int = 0  # seed for weights, data order and noise
    device: str = "auto"  # auto (cuda, then mps, then cpu), cpu, cuda or mps
    amp: bool = True  # bf16 autocast for image models where bf16 is native (CUDA from Ampere on, CPUs with AVX512-BF16 or AMX); false: fp32 everywhere


@dataclass
class RunConfig:
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    step: int = 0  # G steps already taken (set when saved)
    format_version: int = FORMAT_VERSION  # checkpoint format

    # ------------------------------------------------------------------ io
    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

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
            return klass(**sub)

        cfg = cls(
            data=build(DataConfig, d.get("data")),
            model=build(ModelConfig, d.get("model")),
            train=build(TrainConfig, d.get("train")),
            step=int(d.get("step", 0)),
        )
        return cfg

    @property
    def kind(self) -> str:
        return dataset_kind(self.data.dataset)

    # ------------------------------------------------------------ defaults
    def resolved(self, *, channels: int | None = None, n_classes: int = 0, data_dim: int = 2,
                 data_scale: float | None = None) -> "RunConfig":
        """A copy with every 'pick the default' value filled in and checked.

        channels / n_classes / data_dim describe the dataset once it is loaded
        (the Trainer passes them); a resolved config rebuilds the models alone.
        """
        cfg = RunConfig.from_dict(self.to_dict())
        d, m, t = cfg.data, cfg.model, cfg.train
        two_d = cfg.kind == "2d"
        if m.arch == "auto":
            m.arch = "mlp" if two_d else "dcgan"
        if m.z_dim == 0:
            m.z_dim = 8 if two_d else 100
        if t.lr_g == 0:
            t.lr_g = 1e-3 if two_d else 2e-4
        if t.lr_d == 0:
            t.lr_d = 1e-3 if two_d else 2e-4
        if t.beta1 == -1:
            t.beta1 = 0.0 if t.loss == "wgan-gp" else 0.5
        if t.batch_size == 0:
            t.batch_size = 512 if two_d else 64
        if t.r1_gamma == -1:
            t.r1_gamma = 0.1 if (two_d and t.loss != "wgan-gp") else 0.0
        if t.steps == 0:
            t.steps = 5000 if two_d else 3000
        if t.mode_seeking == -1:
            t.mode_seeking = 1.0 if m.conditional else 0.0
        if m.d_norm == "auto":
            m.d_norm = "none" if (t.loss == "wgan-gp" or t.r1_gamma > 0) else "batch"
        m.img_size = d.img_size
        m.data_dim = data_dim
        if channels is not None:
            m.channels = channels
        elif d.channels:
            m.channels = d.channels
        m.n_classes = n_classes if m.conditional else 0
        if data_scale is not None:
            m.data_scale = data_scale
        cfg.validate()
        return cfg

    # ---------------------------------------------------------- validation
    def validate(self) -> None:
        """Raise ConfigError naming the first bad field."""
        d, m, t = self.data, self.model, self.train

        def check(ok: bool, name: str, msg: str):
            if not ok:
                raise ConfigError(f"{name}: {msg}")

        check(isinstance(d.dataset, str) and d.dataset != "", "dataset", "must name a dataset or a path")
        check(d.img_size in IMG_SIZES, "img_size", f"must be one of {', '.join(map(str, IMG_SIZES))} (got {d.img_size})")
        check(d.channels in (0, 1, 3), "channels", f"must be 1 or 3 (got {d.channels})")
        check(100 <= d.n_points <= 10_000_000, "n_points", f"must be between 100 and 10,000,000 (got {d.n_points})")
        check(m.arch in ARCHS, "arch", f"must be one of {', '.join(ARCHS)} (got {m.arch!r})")
        if m.arch != "auto":
            want = "mlp" if self.kind == "2d" else "dcgan"
            check(m.arch == want, "arch", f"{m.arch} does not fit the {self.kind} dataset {d.dataset!r}; use {want}")
        check(0 <= m.z_dim <= 1024, "z_dim", f"must be between 1 and 1024 (got {m.z_dim})")
        check(1 <= m.width <= 4096, "width", f"must be between 1 and 4096 (got {m.width})")
        check(1 <= m.depth <= 16, "depth", f"must be between 1 and 16 (got {m.depth})")
        check(m.activation in ACTIVATIONS, "activation", f"must be one of {', '.join(ACTIVATIONS)} (got {m.activation!r})")
        check(1 <= m.ngf <= 1024, "ngf", f"must be between 1 and 1024 (got {m.ngf})")
        check(1 <= m.ndf <= 1024, "ndf", f"must be between 1 and 1024 (got {m.ndf})")
        check(m.d_norm in D_NORMS, "d_norm", f"must be one of {', '.join(D_NORMS)} (got {m.d_norm!r})")
        if m.conditional:
            check(d.dataset != "stacked-digits", "conditional",
                  "stacked-digits is unconditional: its 1,000 modes (three digits) are what the generator must "
                  "find by itself, which is what the dataset measures")
            check(self.kind == "image" and (d.dataset in LABELLED_DATASETS), "conditional",
                  f"needs a labelled dataset ({', '.join(LABELLED_DATASETS)}), not {d.dataset!r}")
        check(t.loss in LOSSES, "loss", f"must be one of {', '.join(LOSSES)} (got {t.loss!r})")
        check(t.lr_g >= 0 and t.lr_g < 1e6, "lr_g", f"must be positive (got {t.lr_g})")
        check(t.lr_d >= 0 and t.lr_d < 1e6, "lr_d", f"must be positive (got {t.lr_d})")
        check(t.beta1 == -1 or 0 <= t.beta1 < 1, "beta1", f"must be in [0, 1) (got {t.beta1})")
        check(0 <= t.beta2 < 1, "beta2", f"must be in [0, 1) (got {t.beta2})")
        check(0 <= t.batch_size <= 65536, "batch_size", f"must be between 1 and 65536 (got {t.batch_size})")
        check(1 <= t.n_critic <= 100, "n_critic", f"must be between 1 and 100 (got {t.n_critic})")
        check(t.gp_weight >= 0, "gp_weight", f"must be >= 0 (got {t.gp_weight})")
        check(t.r1_gamma == -1 or t.r1_gamma >= 0, "r1_gamma", f"must be >= 0 (got {t.r1_gamma})")
        check(t.mode_seeking == -1 or 0 <= t.mode_seeking <= 100, "mode_seeking", f"must be between 0 and 100 (got {t.mode_seeking})")
        check(0 <= t.ema_decay < 1, "ema_decay", f"must be in [0, 1) (got {t.ema_decay})")
        check(0 <= t.steps <= 100_000_000, "steps", f"must be between 1 and 100,000,000 (got {t.steps})")
        check(0 <= t.seed < 2**63, "seed", f"must be between 0 and 2^63 (got {t.seed})")
        check(t.device in DEVICES, "device", f"must be one of {', '.join(DEVICES)} (got {t.device!r})")

    # ----------------------------------------------------------------- cli
    def to_cli(self, out: str = "runs/my-run") -> str:
        """The `python -m gan_demo train ...` command that repeats this run headless.

        Only fields that differ from the defaults are written, so the command stays short.
        """
        base = RunConfig()
        parts = ["python -m gan_demo train", f"--dataset {_quote(self.data.dataset)}"]
        for section in ("data", "model", "train"):
            mine, default = getattr(self, section), getattr(base, section)
            for f in fields(mine):
                if (section == "model" and f.name in RESOLVED_ONLY) or (section, f.name) == ("data", "dataset"):
                    continue
                value = getattr(mine, f.name)
                if value == getattr(default, f.name):
                    continue
                flag = "--" + f.name.replace("_", "-")
                if isinstance(value, bool):
                    parts.append(flag if value else f"--no-{f.name.replace('_', '-')}")
                else:
                    parts.append(f"{flag} {_quote(str(value))}")
        parts.append(f"--out {_quote(out)}")
        return " ".join(parts)


# ModelConfig fields derived from the dataset, never set by the user.
RESOLVED_ONLY = ("data_dim", "channels", "img_size", "n_classes", "data_scale")


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


CHOICES = {  # fields whose values come from a fixed list
    "arch": ARCHS, "activation": ACTIVATIONS, "d_norm": D_NORMS, "loss": LOSSES,
    "device": DEVICES, "img_size": IMG_SIZES, "channels": (0, 1, 3),
}
