"""Stacked image GANs: R unconditional DCGAN runs of one shape trained as one step, BatchNorm per run included.

R runs' channels sit side by side, (B, R*C, H, W). Each BatchNorm2d becomes one batch norm over R*C channels,
which is exactly every run's own batch norm (statistics per channel over the batch), its running statistics
the runs' buffers concatenated; activations act on every channel alike. Each Conv2d / ConvTranspose2d runs
either as one convolution with groups=R whose weight is the runs' weights concatenated (the stacked
(R, out, in, k, k) tensor seen as (R*out, in, k, k): one kernel for all runs, the path on GPUs), or once per
run on its channels with its own weight row (on CPU: the solo run's very kernels, as fast there as the
grouped one, and ~1e-8 from the solo run where the grouped one sums in another order, ~1e-7).
Each run's modules hold views of the stacked weights and buffers (as in gan_demo.training.stacked), so a
save, a rollback or the progress grid sees the run as trained. Equivalence to the solo run is pinned by
tests/engine/test_pool_images.py. Never imports gradio.
"""
from __future__ import annotations

import copy

import torch
import torch.nn.functional as F
from torch import nn

from gan_demo.training.stacked import StackedGAN, _StackedAdam, _StackedNet

__all__ = ["StackedImageGAN", "why_not_stackable"]

# Where image runs pool. On a CPU a pool of image runs is no faster than the runs alone (convolutions are the
# time) and a pool of one is ~20% slower than its solo run (benchmarks/pool_speed.py --dataset digits), so there
# they train alone; a GPU runs one grouped convolution for all runs, where a small run alone leaves it idle.
POOL_DEVICES = ("cuda",)

_ELEMENTWISE = (nn.ReLU, nn.LeakyReLU, nn.Tanh)  # layers that act on (B, R*C, H, W) as on each run's (B, C, H, W)


def why_not_stackable(trainer) -> str | None:
    """Why this image GAN run cannot be stacked by StackedImageGAN (None if it can)."""
    from gan_demo.families.nets import DCGANDiscriminator, DCGANGenerator

    cfg, family = trainer.cfg, trainer.family
    if trainer.device.type not in POOL_DEVICES:
        return (f"image runs pool on a GPU only: on a {trainer.device.type.upper()} a pool of them is no faster than "
                "each alone")
    if cfg.model.arch != "dcgan" or not isinstance(family.G, DCGANGenerator) or not isinstance(family.D, DCGANDiscriminator):
        return "only DCGAN image models are pooled"
    if cfg.model.d_norm == "spectral":
        return "spectral norm keeps a power-iteration state per layer: the run trains alone"
    if cfg.model.mbstd_group or cfg.model.pack:
        return "a D that sees several samples at once (minibatch stddev, packing) trains alone"
    if getattr(family, "policy", None):
        return "augmentation (DiffAugment) draws inside D's passes: the run trains alone"
    if trainer.use_amp:  # measured: a pooled bf16 run is 1e-4 off its solo run after 2 steps, 1e-2 after 10
        return "bf16 autocast runs train alone (pooled, bf16 rounding takes them off their solo numbers; amp false pools)"
    if cfg.train.mode_seeking:
        return "the mode-seeking term trains alone"
    for net in (family.G, family.D):
        for layer in net.modules():
            if isinstance(layer, nn.BatchNorm2d) and (layer.momentum is None or not layer.track_running_stats):
                return "BatchNorm without a fixed momentum trains alone"
    return None


class _GroupedNet(_StackedNet):
    """A DCGAN generator or discriminator of every run stacked: params and buffers name -> (R, ...) tensors, each
    run's module holding views of its row; one forward runs them all (convolutions grouped or per run: conv_loop).

    G: z (R, B, z_dim) -> images (R, B, C, H, W); D: images (R, B, C, H, W) -> logits (R, B)."""

    conv_loop = None  # convolutions once per run (True) or grouped (False); None: per run on CPU, grouped elsewhere

    def __init__(self, modules: list[nn.Module], grad: bool):
        from gan_demo.families.nets import DCGANGenerator

        self.base = copy.deepcopy(modules[0])  # the layer structure (its own weights unused)
        self.runs = len(modules)
        self.is_generator = isinstance(self.base, DCGANGenerator)
        self.layers = self.base.net if self.is_generator else nn.Sequential(*self.base.features, self.base.out)
        self.prefixes = {id(layer): name + "." for name, layer in self.base.named_modules() if name}
        first = next(modules[0].parameters())
        # the solo family keeps conv weights and activations in NHWC on CPU (oneDNN's native layout): so does the stack
        self.channels_last = first.device.type == "cpu" and any(
            p.dim() == 4 and p.is_contiguous(memory_format=torch.channels_last) and not p.is_contiguous()
            for p in modules[0].parameters())
        if self.conv_loop is None:
            self.conv_loop = first.device.type == "cpu"
        self.names = [name for name, _ in modules[0].named_parameters()]
        self.params = {name: self._stacked([dict(m.named_parameters())[name].detach() for m in modules])
                       .requires_grad_(grad) for name in self.names}
        self.buffer_names = [name for name, _ in modules[0].named_buffers()]
        self.buffers = {name: torch.stack([dict(m.named_buffers())[name].detach() for m in modules]).contiguous()
                        for name in self.buffer_names}
        for i, module in enumerate(modules):
            for name, p in module.named_parameters():
                p.data = self.params[name].data[i]
            for name, b in module.named_buffers():
                b.data = self.buffers[name][i]

    def _stacked(self, rows: list[torch.Tensor]) -> torch.Tensor:
        """(R, ...) of the rows; conv weights in NHWC on CPU as (R*out, in, k, k) seen as (R, out, in, k, k), so the
        grouped weight is a view in the layout oneDNN runs fastest (3x on G's first layer) and each row is NHWC too."""
        if not (self.channels_last and rows[0].dim() == 4):
            return torch.stack(rows).contiguous()
        flat = torch.empty((len(rows) * rows[0].shape[0], *rows[0].shape[1:]), dtype=rows[0].dtype,
                           device=rows[0].device, memory_format=torch.channels_last)
        stacked = flat.unflatten(0, (len(rows), rows[0].shape[0]))
        stacked.copy_(torch.stack(rows))
        return stacked

    def __call__(self, x: torch.Tensor, detached: bool = False) -> torch.Tensor:
        params = {n: p.detach() for n, p in self.params.items()} if detached else self.params
        runs, batch = x.shape[:2]
        if self.is_generator:  # (R, B, z_dim) -> (B, R*z_dim, 1, 1)
            h = x.reshape(runs, batch, -1).transpose(0, 1).reshape(batch, -1, 1, 1)
        else:  # (R, B, C, H, W) -> (B, R*C, H, W)
            h = x.transpose(0, 1).reshape(batch, runs * x.shape[2], *x.shape[3:])
        if self.channels_last:
            h = h.contiguous(memory_format=torch.channels_last)
        for layer in self.layers:
            h = self._layer(layer, params, h)
        if self.is_generator:  # (B, R*C, H, W) -> (R, B, C, H, W)
            return h.reshape(batch, runs, -1, *h.shape[2:]).transpose(0, 1)
        return h.reshape(batch, runs).t().float()  # (B, R, 1, 1) -> (R, B) logits

    def _layer(self, layer: nn.Module, params: dict, h: torch.Tensor) -> torch.Tensor:
        prefix = self.prefixes[id(layer)]
        weight, bias = params.get(prefix + "weight"), params.get(prefix + "bias")
        weight = None if weight is None else weight.flatten(0, 1)  # (R, a, ...) -> (R*a, ...): the groups' layout
        bias = None if bias is None else bias.flatten()
        if isinstance(layer, (nn.Conv2d, nn.ConvTranspose2d)) and self.conv_loop:
            return self._conv_per_run(layer, params[prefix + "weight"], params.get(prefix + "bias"), h)
        if isinstance(layer, nn.ConvTranspose2d):  # weight (R*in, out, k, k)
            return F.conv_transpose2d(h, weight, bias, layer.stride, layer.padding, layer.output_padding,
                                      self.runs, layer.dilation)
        if isinstance(layer, nn.Conv2d):  # weight (R*out, in, k, k)
            return F.conv2d(h, weight, bias, layer.stride, layer.padding, layer.dilation, self.runs)
        if isinstance(layer, nn.BatchNorm2d):  # training mode, as the solo step runs it: batch statistics per run
            self.buffers[prefix + "num_batches_tracked"].add_(1)
            return F.batch_norm(h, self.buffers[prefix + "running_mean"].view(-1),
                                self.buffers[prefix + "running_var"].view(-1), weight, bias, True, layer.momentum,
                                layer.eps)
        if isinstance(layer, _ELEMENTWISE):
            return layer(h)
        raise TypeError(f"a stacked DCGAN cannot run a {type(layer).__name__} layer")

    def _conv_per_run(self, layer: nn.Module, weight: torch.Tensor, bias: torch.Tensor | None, h: torch.Tensor):
        """The layer run once per run on its channels, through its own weight row: the solo run's very kernels."""
        outs = []
        for i, x in enumerate(h.chunk(self.runs, dim=1)):
            b = None if bias is None else bias[i]
            if isinstance(layer, nn.ConvTranspose2d):
                outs.append(F.conv_transpose2d(x, weight[i], b, layer.stride, layer.padding, layer.output_padding, 1,
                                               layer.dilation))
            else:
                outs.append(F.conv2d(x, weight[i], b, layer.stride, layer.padding, layer.dilation))
        return torch.cat(outs, dim=1)

    def release_runs(self, modules: list[nn.Module]) -> None:
        """The runs' modules own their weights and buffers again (copies of their rows, in the layout they had)."""
        layout = torch.channels_last if self.channels_last else torch.contiguous_format
        for module in modules:
            for t in list(module.parameters()) + list(module.buffers()):
                t.data = t.data.clone(memory_format=layout if t.dim() == 4 else torch.contiguous_format)


class StackedImageGAN(StackedGAN):
    """The GAN family's train_step for R unconditional DCGAN runs at once in fp32 (BatchNorm or no normalisation
    in D, any loss, R1 or the gradient penalty, per-run learning rates, decays and EMA): StackedGAN's step
    through grouped convolutions, G's BatchNorm buffers copied into G_ema as update_ema does."""

    def __init__(self, families: list):
        super().__init__(families, net=_GroupedNet)

    def release(self) -> None:
        """The families own their weights, BatchNorm buffers and optimizer moments again."""
        for name in ("G", "D", "G_ema"):
            getattr(self, name).release_runs([getattr(f, name) for f in self.families])
        _StackedAdam.release([f.opt_G for f in self.families], [f.G for f in self.families])
        _StackedAdam.release([f.opt_D for f in self.families], [f.D for f in self.families])

    @torch.no_grad()
    def _update_ema(self) -> None:
        """Each run's moving average of G's weights (StackedGAN), and G's BatchNorm buffers copied as update_ema does."""
        super()._update_ema()
        for name in self.G.buffer_names:
            self.G_ema.buffers[name].copy_(self.G.buffers[name])
