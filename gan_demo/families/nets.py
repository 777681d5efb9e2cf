"""Generators and discriminators (MLP for 2D points, DCGAN for images), built from a ModelConfig."""
from __future__ import annotations

import contextlib
import contextvars
import math
from dataclasses import dataclass

import torch
from torch import nn
from torch.nn.utils.parametrizations import spectral_norm

from gan_demo.core.config import ModelConfig, RunConfig

# ---------------------------------------------------------------- (leaky) ReLUs for gradient penalties
_constant_slopes = contextvars.ContextVar("constant_slopes", default=False)


@contextlib.contextmanager
def constant_slopes():
    """Inside (in this thread): D's ReLUs and LeakyReLUs run as their input times a slope mask that has no gradient
    (slope_masked): the same numbers. For the forward whose input gradient gets a gradient (R1, the gradient
    penalty): autograd's double backward of relu sends zero tensors back through the whole forward graph (two
    matmuls or convolutions a layer, on zeros); the constant mask cuts that path."""
    token = _constant_slopes.set(True)
    try:
        yield
    finally:
        _constant_slopes.reset(token)


def slope_masked(layer: nn.Module, h: torch.Tensor) -> torch.Tensor | None:
    """h through a ReLU or LeakyReLU layer as h times its slope there (a mask without a gradient: the same numbers
    up to the sign of a zero); None for other layers (their second derivatives are real)."""
    if isinstance(layer, nn.ReLU):
        return h * (h > 0).to(h.dtype)
    if isinstance(layer, nn.LeakyReLU):
        return h * torch.where(h > 0, 1.0, layer.negative_slope).to(h.dtype)
    return None


class ReLU(nn.ReLU):
    """nn.ReLU, with slope_masked's form inside constant_slopes()."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return slope_masked(self, x) if _constant_slopes.get() else super().forward(x)


class LeakyReLU(nn.LeakyReLU):
    """nn.LeakyReLU, with slope_masked's form inside constant_slopes()."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return slope_masked(self, x) if _constant_slopes.get() else super().forward(x)


MLP_ACTIVATIONS = {
    "relu": ReLU,
    "leaky_relu": lambda: LeakyReLU(0.2),
    "elu": nn.ELU,
    "tanh": nn.Tanh,
    "silu": nn.SiLU,
}
D_NORM_KINDS = ("batch", "spectral", "none")
DCGAN_SIZES = (16, 32, 64)
MAX_EMBED_DIM = 50  # size of G's class embedding: min(z_dim, 50), as in common cGAN examples


# ---------------------------------------------------------------- helpers
def count_params(module: nn.Module) -> int:
    """Number of parameters (every element of every parameter tensor)."""
    return sum(p.numel() for p in module.parameters())


def _activation(name: str) -> nn.Module:
    if name not in MLP_ACTIVATIONS:
        raise ValueError(f"activation must be one of {', '.join(MLP_ACTIVATIONS)} (got {name!r})")
    return MLP_ACTIVATIONS[name]()


def mlp_layers(in_dim: int, width: int, depth: int, activation: str) -> list[nn.Module]:
    """`depth` hidden layers (Linear + activation) of `width` units: (B, in_dim) -> (B, width).
    The body of the MLP generator and of the VAE's MLP encoder and decoder."""
    layers: list[nn.Module] = []
    for _ in range(depth):
        layers += [nn.Linear(in_dim, width), _activation(activation)]
        in_dim = width
    return layers


def _check_d_norm(d_norm: str) -> None:
    if d_norm not in D_NORM_KINDS:
        raise ValueError(f"d_norm must be one of {', '.join(D_NORM_KINDS)} (got {d_norm!r}); resolve the config first")


def embed_dim(z_dim: int) -> int:
    return min(z_dim, MAX_EMBED_DIM)


def checked_labels(y, batch: int, n_classes: int, device: torch.device, who: str) -> torch.Tensor | None:
    """Checked class labels as a (B,) long tensor, or None for an unconditional model.

    An unconditional model ignores y, so a trainer may always pass the dataset's labels.
    """
    if n_classes == 0:
        return None
    if y is None:
        raise ValueError(f"{who} is class-conditional ({n_classes} classes): pass labels y of shape ({batch},)")
    y = torch.as_tensor(y, device=device)
    if y.dim() == 0:  # one label for the whole batch: "a 7"
        y = y.expand(batch)
    if y.shape != (batch,):
        raise ValueError(f"{who}: labels y must have shape ({batch},), got {tuple(y.shape)}")
    if y.dtype.is_floating_point or y.dtype == torch.bool:
        raise ValueError(f"{who}: labels y must be integers, got {y.dtype}")
    # A range check needs the values on the host: cheap on CPU, a sync on CUDA (skipped there,
    # and under torch.compile, where it would break the graph).
    if y.device.type == "cpu" and not torch.compiler.is_compiling() and batch > 0:
        lo, hi = int(y.min()), int(y.max())
        if lo < 0 or hi >= n_classes:
            raise ValueError(f"{who}: labels must be in 0..{n_classes - 1}, got values in {lo}..{hi}")
    return y.long()


def _noise(z: torch.Tensor, z_dim: int) -> torch.Tensor:
    """(B, z_dim) or (B, z_dim, 1, 1) -> (B, z_dim)."""
    if z.dim() < 2 or math.prod(z.shape[1:]) != z_dim:
        raise ValueError(f"z must have shape (B, {z_dim}), got {tuple(z.shape)}")
    return z.reshape(z.shape[0], z_dim)


def dcgan_init(module: nn.Module) -> None:
    """Radford et al.: conv weights N(0, 0.02), BatchNorm weight N(1, 0.02), biases 0.

    The pytorch/examples `weights_init`, matched by type rather than by class name.
    """
    if isinstance(module, (nn.Conv2d, nn.ConvTranspose2d)):
        nn.init.normal_(module.weight, 0.0, 0.02)
        if module.bias is not None:
            nn.init.zeros_(module.bias)
    elif isinstance(module, nn.BatchNorm2d):
        nn.init.normal_(module.weight, 1.0, 0.02)
        nn.init.zeros_(module.bias)


def _spectral_norm_all(module: nn.Module) -> None:
    """Wrap every linear, conv and embedding weight of `module` in spectral normalisation.

    Call after the weights are initialised: the power iteration starts from them.
    """
    for child in list(module.modules()):
        if isinstance(child, (nn.Linear, nn.Conv2d, nn.Embedding)):
            spectral_norm(child)


# ------------------------------------------------- D's view of the batch
def minibatch_stddev(h: torch.Tensor, group: int) -> torch.Tensor:
    """Karras et al. 2018 (ProGAN; StyleGAN2's MinibatchStdLayer with one channel): h with one more
    channel, the standard deviation of each feature over a group of samples, averaged over the features.

    (N, C) -> (N, C + 1) or (N, C, H, W) -> (N, C + 1, H, W). Sample i is in group i mod (N / g), as in
    StyleGAN; g = group, or the largest size <= group that divides N (an odd batch outside training).
    A collapsed batch (every sample alike) has a spread near 0 where real data has a wide one: D can see that.
    """
    n = h.shape[0]
    g = max(1, min(group, n))
    while n % g:
        g -= 1
    y = h.float().reshape(g, n // g, *h.shape[1:])  # (g, N/g, C, ...)
    y = y - y.mean(dim=0)
    spread = (y.square().mean(dim=0) + 1e-8).sqrt().flatten(1).mean(dim=1)  # (N/g,): one number a group
    spread = spread.repeat(g).reshape(n, 1, *([1] * (h.dim() - 2)))  # (N, 1[, 1, 1])
    return torch.cat([h, spread.to(h.dtype).expand(n, 1, *h.shape[2:])], dim=1)


def pack_samples(x: torch.Tensor, pack: int, y: torch.Tensor | None = None):
    """PacGAN (Lin et al. 2018): m = pack consecutive samples as one input, concatenated along dim 1.

    (B, C, ...) -> (B/m, m*C, ...), and labels (B,) -> (B/m, m). A batch that is not a multiple of m (only
    outside training: config validation keeps training batches whole) is filled up by wrapping around."""
    b = x.shape[0]
    extra = -b % pack
    if extra and b:
        idx = torch.arange(b + extra, device=x.device) % b
        x = x[idx]
        y = None if y is None else y[idx]
    packed = x.reshape(-1, pack * x.shape[1], *x.shape[2:])
    return packed, None if y is None else y.reshape(-1, pack)


def pack_of(D: nn.Module) -> int:
    """How many samples D judges at once (1 for a D without packing)."""
    return max(1, getattr(D, "pack", 0))


def judge_each(D: nn.Module, x: torch.Tensor, y=None) -> torch.Tensor:
    """D's output for every sample, (B,): a packed D's verdict on a pack is given to each of its samples.
    For pictures of D's opinion (the 2D lab's map, a sample's score); training uses D's own output.
    A lone sample is packed with itself and has no spread, which a packed or minibatch-stddev D reads as a
    collapsed batch: its score says less than a score within a batch does."""
    logits = D(x, y)
    m = pack_of(D)
    return logits if m == 1 else logits.repeat_interleave(m)[:x.shape[0]]


def _projection(embed: nn.Embedding, y: torch.Tensor | None, pack: int, n_classes: int) -> torch.Tensor | None:
    """The class vectors a projection discriminator takes the inner product with: embed(y), (B, F); packed,
    labels (P, m) -> the sum over each pack of its samples' vectors, each position with its own table
    (rows j*n_classes ... for position j), so log p(y_1..y_m | pack) = sum_j log p(y_j | pack)."""
    if y is None:
        return None
    if pack <= 1:
        return embed(y)
    offsets = torch.arange(pack, device=y.device) * n_classes
    return embed(y + offsets).sum(dim=1)


# -------------------------------------------------------------------- MLP
class MLPGenerator(nn.Module):
    """z (B, z_dim) [+ class embedding] -> `depth` hidden layers of `width` -> (B, data_dim).

    The output layer is linear (no tanh): points live in data coordinates (grid25 spans [-4, 4]).
    The network works in units of `data_scale` (the data's spread), so ring8 (radius 1) and
    grid25 (side 8) look alike to it and share one set of hyperparameters.
    """

    def __init__(self, z_dim: int, data_dim: int = 2, width: int = 256, depth: int = 3,
                 activation: str = "relu", n_classes: int = 0, data_scale: float = 1.0):
        super().__init__()
        self.z_dim, self.n_classes, self.out_shape = z_dim, n_classes, (data_dim,)
        self.data_scale = data_scale
        in_dim = z_dim
        if n_classes > 0:
            self.embed = nn.Embedding(n_classes, embed_dim(z_dim))
            in_dim += self.embed.embedding_dim
        layers = mlp_layers(in_dim, width, depth, activation)
        layers.append(nn.Linear(width if depth else in_dim, data_dim))
        self.net = nn.Sequential(*layers)

    def forward(self, z: torch.Tensor, y: torch.Tensor | int | None = None) -> torch.Tensor:
        z = _noise(z, self.z_dim)
        y = checked_labels(y, z.shape[0], self.n_classes, z.device, "the generator")
        if y is not None:
            z = torch.cat([z, self.embed(y).to(z.dtype)], dim=1)  # (B, z_dim + embed_dim)
        return self.net(z) * self.data_scale  # (B, data_dim)


class MLPDiscriminator(nn.Module):
    """x (B, data_dim) -> `depth` hidden layers of `width` -> (B,) logits.

    d_norm "batch" puts BatchNorm1d after every hidden linear except the first (the DCGAN
    rule: no normalisation on D's input layer); "spectral" wraps every linear in spectral
    normalisation. Conditional (n_classes > 0): a projection discriminator (Miyato & Koyama
    2018), logit = out(h) + <embed(y), h> with h the last hidden features.
    mbstd_group > 0 appends the minibatch standard deviation before the last hidden layer (so the
    spread passes a nonlinearity); pack = m > 0 judges m points at once, (B, data_dim) -> (B/m, m*data_dim),
    and returns one logit per pack, (B/m,).
    """

    def __init__(self, data_dim: int = 2, width: int = 256, depth: int = 3, activation: str = "relu",
                 d_norm: str = "none", n_classes: int = 0, data_scale: float = 1.0, mbstd_group: int = 0,
                 pack: int = 0):
        super().__init__()
        _check_d_norm(d_norm)
        self.n_classes, self.in_shape = n_classes, (data_dim,)
        self.data_scale = data_scale  # inputs are divided by it (see MLPGenerator)
        self.mbstd_group, self.pack = mbstd_group, pack
        layers: list[nn.Module] = []
        in_dim = data_dim * max(pack, 1)
        for i in range(depth):
            batch_norm = d_norm == "batch" and i > 0
            if i == depth - 1:
                self.mbstd_at = len(layers)  # features[:mbstd_at] -> + spread -> the last hidden layer
                in_dim += 1 if mbstd_group else 0
            layers.append(nn.Linear(in_dim, width, bias=not batch_norm))
            if batch_norm:
                layers.append(nn.BatchNorm1d(width))
            layers.append(_activation(activation))
            in_dim = width
        self.features = nn.Sequential(*layers)
        self.out = nn.Linear(in_dim, 1)
        if n_classes > 0:
            # Same scale as the default init of `out` (uniform +-1/sqrt(fan_in)), so neither
            # term of the logit dominates at the start.
            self.embed = nn.Embedding(n_classes * max(pack, 1), in_dim)
            bound = 1.0 / math.sqrt(in_dim)
            nn.init.uniform_(self.embed.weight, -bound, bound)
        if d_norm == "spectral":
            _spectral_norm_all(self)

    def forward(self, x: torch.Tensor, y: torch.Tensor | int | None = None) -> torch.Tensor:
        x = x.reshape(x.shape[0], -1) / self.data_scale
        y = checked_labels(y, x.shape[0], self.n_classes, x.device, "the discriminator")
        if self.pack:
            x, y = pack_samples(x, self.pack, y)  # (B/m, m*data_dim), labels (B/m, m)
        if self.mbstd_group:
            h = minibatch_stddev(self.features[:self.mbstd_at](x), self.mbstd_group)
            h = self.features[self.mbstd_at:](h)  # (B, width)
        else:
            h = self.features(x)  # (B, width)
        logit = self.out(h).squeeze(1)  # (B,)
        e = _projection(self.embed, y, self.pack, self.n_classes) if self.n_classes else None
        if e is not None:
            logit = logit + (e * h).sum(dim=1)
        return logit.float()


# ------------------------------------------------------------------ DCGAN
def _check_image(img_size: int, channels: int) -> None:
    if img_size not in DCGAN_SIZES:
        raise ValueError(f"img_size must be one of {', '.join(map(str, DCGAN_SIZES))} (got {img_size})")
    if channels < 1:
        raise ValueError(f"channels must be at least 1 (got {channels})")


class DCGANGenerator(nn.Module):
    """Radford et al. 2016: ConvTranspose2d + BatchNorm2d + ReLU blocks, tanh output in [-1, 1].

    32 px (the canonical pytorch/examples layout one level smaller than its 64 px):
        z                 (z_dim [+ embed_dim]) x 1 x 1
        -> (ngf*4) x 4 x 4 -> (ngf*2) x 8 x 8 -> (ngf) x 16 x 16 -> (nc) x 32 x 32
    64 px starts at (ngf*8) x 4 x 4 (the canonical example), 16 px at (ngf*2) x 4 x 4.
    Conditional (n_classes > 0): a learned class embedding is concatenated to z.
    tanh=False leaves out the final tanh: the output is then the pre-activation (the VAE decoder's logits).
    """

    def __init__(self, z_dim: int = 100, channels: int = 3, img_size: int = 32, ngf: int = 64,
                 n_classes: int = 0, tanh: bool = True):
        super().__init__()
        _check_image(img_size, channels)
        self.z_dim, self.n_classes, self.out_shape = z_dim, n_classes, (channels, img_size, img_size)
        in_dim = z_dim
        if n_classes > 0:
            self.embed = nn.Embedding(n_classes, embed_dim(z_dim))  # N(0, 1) init, like z
            in_dim += self.embed.embedding_dim
        mult = img_size // 8  # 64 px: 8, 32 px: 4, 16 px: 2
        # input is Z, going into a convolution; state size: (z_dim [+ embed_dim]) x 1 x 1
        layers: list[nn.Module] = [
            nn.ConvTranspose2d(in_dim, ngf * mult, 4, 1, 0, bias=False),
            nn.BatchNorm2d(ngf * mult),
            nn.ReLU(),
        ]
        # state size: (ngf*mult) x 4 x 4
        side = 4
        while mult > 1:
            layers += [
                nn.ConvTranspose2d(ngf * mult, ngf * mult // 2, 4, 2, 1, bias=False),
                nn.BatchNorm2d(ngf * mult // 2),
                nn.ReLU(),
            ]
            mult, side = mult // 2, side * 2
            # state size: (ngf*mult) x side x side, e.g. (ngf*2) x 8 x 8, then (ngf) x 16 x 16 at 32 px
        layers.append(nn.ConvTranspose2d(ngf, channels, 4, 2, 1))
        if tanh:
            layers.append(nn.Tanh())
        # state size: (nc) x img_size x img_size
        self.net = nn.Sequential(*layers)
        self.apply(dcgan_init)

    def forward(self, z: torch.Tensor, y: torch.Tensor | int | None = None) -> torch.Tensor:
        z = _noise(z, self.z_dim)
        y = checked_labels(y, z.shape[0], self.n_classes, z.device, "the generator")
        if y is not None:
            z = torch.cat([z, self.embed(y).to(z.dtype)], dim=1)  # (B, z_dim + embed_dim)
        return self.net(z[:, :, None, None])  # (B, z_dim', 1, 1) -> (B, C, H, W)


def dcgan_down(channels: int, img_size: int, ndf: int, batch_norm: bool) -> tuple[list[nn.Module], int]:
    """The DCGAN discriminator's body: Conv2d + LeakyReLU(0.2) blocks halving the side down to 4 x 4,
    (B, nc, img_size, img_size) -> (B, ndf*mult, 4, 4). Returns the layers and ndf*mult (4 at 32 px).
    batch_norm puts BatchNorm2d in every block but the first. Also the VAE's convolutional encoder."""
    _check_image(img_size, channels)
    # input is (nc) x img_size x img_size
    layers: list[nn.Module] = [nn.Conv2d(channels, ndf, 4, 2, 1), LeakyReLU(0.2)]
    # state size: (ndf) x img_size/2 x img_size/2
    mult, side = 1, img_size // 2
    while side > 4:
        layers.append(nn.Conv2d(ndf * mult, ndf * mult * 2, 4, 2, 1, bias=not batch_norm))
        if batch_norm:
            layers.append(nn.BatchNorm2d(ndf * mult * 2))
        layers.append(LeakyReLU(0.2))
        mult, side = mult * 2, side // 2
        # state size: (ndf*mult) x side x side, e.g. (ndf*2) x 8 x 8, then (ndf*4) x 4 x 4 at 32 px
    return layers, ndf * mult


class DCGANDiscriminator(nn.Module):
    """Radford et al. 2016: Conv2d + LeakyReLU(0.2) blocks halving the side down to 4 x 4, then
    one 4 x 4 conv to a single logit per image.

    32 px: (nc) x 32 x 32 -> (ndf) x 16 x 16 -> (ndf*2) x 8 x 8 -> (ndf*4) x 4 x 4 -> logit.
    d_norm: "batch" puts BatchNorm2d in every block but the first (as the canonical example);
    "spectral" wraps every conv, the first and last included (SNGAN, Miyato et al. 2018), so the
    whole D is Lipschitz-bounded; "none" has no normalisation.
    Conditional (n_classes > 0): projection discriminator, logit = conv(h) + <embed(y), flat(h)>,
    with h the (ndf*k) x 4 x 4 features (the final 4 x 4 conv is a linear map of flat(h)).
    mbstd_group > 0 appends the minibatch standard deviation to h as one more 4 x 4 channel and mixes it
    into the features with one more 3 x 3 conv + LeakyReLU before the final conv (StyleGAN's epilogue;
    read by the final linear conv alone, the spread helped far less: BENCHMARKS.md, "Minibatch stddev and
    packing"); pack = m > 0 judges m images at once, (B, nc, H, W) -> (B/m, m*nc, H, W), and returns one
    logit per pack, (B/m,).
    """

    def __init__(self, channels: int = 3, img_size: int = 32, ndf: int = 64, d_norm: str = "batch",
                 n_classes: int = 0, mbstd_group: int = 0, pack: int = 0):
        super().__init__()
        _check_image(img_size, channels)
        _check_d_norm(d_norm)
        self.n_classes, self.in_shape = n_classes, (channels, img_size, img_size)
        self.mbstd_group, self.pack = mbstd_group, pack
        layers, width = dcgan_down(channels * max(pack, 1), img_size, ndf, batch_norm=d_norm == "batch")
        self.features = nn.Sequential(*layers)
        if mbstd_group:  # StyleGAN's epilogue: the spread joins the features in one more 3 x 3 conv before the last
            # state size: (ndf*mult + 1) x 4 x 4 -> (ndf*mult) x 4 x 4
            self.epilogue = nn.Sequential(nn.Conv2d(width + 1, width, 3, 1, 1), LeakyReLU(0.2))
        # state size: (ndf*mult) x 4 x 4 -> 1 x 1 x 1
        self.out = nn.Conv2d(width, 1, 4, 1, 0)
        self.apply(dcgan_init)
        if n_classes > 0:
            self.embed = nn.Embedding(n_classes * max(pack, 1), width * 4 * 4)
            nn.init.normal_(self.embed.weight, 0.0, 0.02)  # same scale as the final conv
        if d_norm == "spectral":
            _spectral_norm_all(self)

    def forward(self, x: torch.Tensor, y: torch.Tensor | int | None = None) -> torch.Tensor:
        if x.dim() != 4 or tuple(x.shape[1:]) != self.in_shape:
            raise ValueError(f"images must have shape (B, {', '.join(map(str, self.in_shape))}), got {tuple(x.shape)}")
        y = checked_labels(y, x.shape[0], self.n_classes, x.device, "the discriminator")
        if self.pack:
            x, y = pack_samples(x, self.pack, y)  # (B/m, m*nc, H, W), labels (B/m, m)
        h = self.features(x)  # (B, ndf*k, 4, 4)
        seen = self.epilogue(minibatch_stddev(h, self.mbstd_group)) if self.mbstd_group else h  # (B, ndf*k, 4, 4)
        logit = self.out(seen).reshape(x.shape[0])  # (B,)
        e = _projection(self.embed, y, self.pack, self.n_classes) if self.n_classes else None
        if e is not None:
            logit = logit + (e * h.flatten(1)).sum(dim=1)
        return logit.float()


# ------------------------------------------------------------------ build
def build_models(m: ModelConfig) -> tuple[nn.Module, nn.Module]:
    """(G, D) for a resolved ModelConfig, weights initialised (PyTorch default for MLPs, DCGAN
    init for convolutional models). Seed the global RNG first for reproducible weights.
    """
    if m.z_dim < 1:
        raise ValueError(f"z_dim must be at least 1 (got {m.z_dim}); resolve the config first")
    if m.n_classes < 0:
        raise ValueError(f"n_classes must be >= 0 (got {m.n_classes})")
    if m.arch == "mlp":
        G = MLPGenerator(m.z_dim, m.data_dim, m.width, m.depth, m.activation, m.n_classes, m.data_scale)
        D = MLPDiscriminator(m.data_dim, m.width, m.depth, m.activation, m.d_norm, m.n_classes, m.data_scale,
                             m.mbstd_group or 0, m.pack or 0)  # auto (None) is off until resolved
    elif m.arch == "dcgan":
        G = DCGANGenerator(m.z_dim, m.channels, m.img_size, m.ngf, m.n_classes)
        D = DCGANDiscriminator(m.channels, m.img_size, m.ndf, m.d_norm, m.n_classes, m.mbstd_group or 0, m.pack or 0)
    else:
        raise ValueError(f"arch must be mlp or dcgan (got {m.arch!r}); resolve the config first")
    return G, D


# ------------------------------------------------------------------- cost
@dataclass
class StepCost:
    """What one training step (n_critic D updates, then one G update) costs, estimated from layer shapes."""

    flops: float  # floating-point operations (a multiply-add is 2), forward and backward
    memory_bytes: float  # fp32 weights + gradients + Adam moments of G and D, G_ema, and the larger update's activations
    params: int  # parameters of G and D together


def step_cost(cfg: RunConfig) -> StepCost:
    """Estimate the work of one training step of a resolved config without allocating anything.

    G and D are built on the meta device and run forward on a meta batch; hooks count each linear
    and convolution layer's FLOPs and every layer's output (what autograd keeps for backward).
    A backward pass costs about twice its forward, so an update is ~3x its forward. Per step:
        D update (n_critic times): G forward (no grad) + D forward and backward on real and fake,
                                   + ~4 more D forwards for a gradient penalty (wgan-gp, R1: double backward)
        G update:                  G and D forward and backward on one batch
    """
    m, t = cfg.model, cfg.train
    b = t.batch_size
    with torch.random.fork_rng(devices=[]), torch.device("meta"):
        G, D = build_models(m)
        z = torch.zeros(b, m.z_dim)
        y = torch.zeros(b, dtype=torch.long) if m.n_classes else None
        g_flops, g_acts, fake = forward_cost(G, z, y)
        d_flops, d_acts, _ = forward_cost(D, fake, y)
    penalty = t.loss == "wgan-gp" or t.r1_gamma > 0
    every = 1 if t.loss == "wgan-gp" else (t.r1_every or 1)  # lazy R1 pays its passes on one step in r1_every
    d_update = g_flops + 3 * 2 * d_flops + (4 * d_flops / every if penalty else 0)
    g_update = 3 * (g_flops + d_flops)
    p_g, p_d = count_params(G), count_params(D)
    # (1) D update keeps D's activations for real and fake (and a penalty's extra pass);
    # (2) G update keeps G's and D's for one batch.
    activations = max((3 if penalty else 2) * d_acts, g_acts + d_acts)
    memory = 4 * (4 * (p_g + p_d) + p_g + activations)  # fp32: weight, grad, Adam m and v; G_ema
    return StepCost(flops=float(t.n_critic * d_update + g_update), memory_bytes=float(memory), params=p_g + p_d)


def forward_cost(net: nn.Module, x: torch.Tensor, y) -> tuple[float, int, torch.Tensor]:
    """(FLOPs, output elements of every leaf module, output) of one forward pass (meta tensors)."""
    totals = {"flops": 0.0, "acts": 0}

    def hook(module, inputs, output):
        if isinstance(module, nn.Linear):
            totals["flops"] += 2.0 * output.numel() * module.in_features
        elif isinstance(module, nn.Conv2d):
            k = module.kernel_size[0] * module.kernel_size[1]
            totals["flops"] += 2.0 * output.numel() * module.in_channels // module.groups * k
        elif isinstance(module, nn.ConvTranspose2d):  # every input element is spread over out_channels x k
            k = module.kernel_size[0] * module.kernel_size[1]
            totals["flops"] += 2.0 * inputs[0].numel() * module.out_channels // module.groups * k
        totals["acts"] += output.numel()

    # Layers with spectral norm hold their parametrization as children: hook layers, not only leaves,
    # and leave the parametrizations (weights, not activations) out.
    hooked = [mod for name, mod in net.named_modules() if "parametrizations" not in name.split(".")
              and (isinstance(mod, (nn.Linear, nn.Conv2d, nn.ConvTranspose2d)) or not list(mod.children()))]
    handles = [mod.register_forward_hook(hook) for mod in hooked]
    try:
        out = net(x, y)
    finally:
        for handle in handles:
            handle.remove()
    return totals["flops"], totals["acts"], out
