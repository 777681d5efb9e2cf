"""What the Trainer and every model family share: devices, bf16 autocast, seeded noise, the blow-up threshold, gradient norms, EMA, the step context.

Arrows point down: trainer.py and families/* import from here; this module imports neither.
"""
from __future__ import annotations

import contextlib
import copy
from dataclasses import dataclass
from typing import Callable

import torch
from torch import nn

LR_DECAY_END = 0.1  # what the learning rates fall to, as a share of theirs, by the end of a run's decay (config lr_decay)
BLOWUP = 1e6  # a loss or gradient norm beyond this has exploded even if it is still a finite float


def z_from_seed(seed: int, z_dim: int, n: int = 1) -> torch.Tensor:
    """(n, z_dim) float32 standard normal noise on the CPU, drawn with a CPU generator seeded
    with `seed`, so a seed names the same latent (the same image) on every device.
    """
    if z_dim < 1 or n < 0:
        raise ValueError(f"z_dim must be >= 1 and n >= 0 (got z_dim={z_dim}, n={n})")
    generator = torch.Generator(device="cpu").manual_seed(int(seed))
    return torch.randn(n, z_dim, generator=generator, dtype=torch.float32)


def native_bf16(device: torch.device) -> bool:
    """True where bf16 matrix maths runs natively, so autocast pays: CUDA GPUs from Ampere on,
    x86 CPUs with AVX512-BF16 or AMX. Elsewhere bf16 would be emulated (slower than fp32)."""
    if device.type == "cuda":
        return torch.cuda.get_device_capability(device)[0] >= 8
    if device.type == "cpu":
        cpu = getattr(torch, "cpu", None)
        return any(bool(getattr(cpu, check, lambda: False)())
                   for check in ("_is_avx512_bf16_supported", "_is_amx_tile_supported"))
    return False


def bf16_autocast(amp: bool | None, device: torch.device) -> bool:
    """Whether image models train under bf16 autocast on `device` (TrainConfig.amp): True where bf16 is native;
    auto (None) on native CUDA GPUs only. On a CPU, auto is fp32: oneDNN's bf16 kernels at several threads took
    ~75x longer a step (60 ms -> 4.5 s) while another process wanted one of the cores, as a browser or a second
    visitor's run does, against +34% for fp32, which is as fast alone (BENCHMARKS.md section 17)."""
    if amp is False:
        return False
    if amp is None and device.type != "cuda":
        return False
    return native_bf16(device)


def resolve_device(name: str | torch.device = "auto") -> torch.device:
    """'auto' picks cuda, then mps, then cpu; other names are checked, not guessed."""
    if isinstance(name, torch.device):
        return name
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise ValueError("device: cuda was asked for but no CUDA GPU is available (use --device cpu or auto)")
    if name == "mps" and not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
        raise ValueError("device: mps was asked for but is not available (use --device cpu or auto)")
    return torch.device(name)


def autocast(device: torch.device, enabled: bool):
    """bf16 autocast on `device` when enabled, else a no-op context (nanoGPT's pattern)."""
    if enabled:
        return torch.autocast(device.type, dtype=torch.bfloat16)
    return contextlib.nullcontext()


def grad_norm(params) -> torch.Tensor:
    """L2 norm of all gradients together, on the device (no host sync)."""
    grads = [p.grad for p in params if p.grad is not None]
    if not grads:
        return torch.zeros(())
    return torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(g.float()) for g in grads]))


@contextlib.contextmanager
def frozen(module: nn.Module):
    """Build the graph without weight gradients for module (D in the G step: they would be discarded)."""
    module.requires_grad_(False)
    try:
        yield
    finally:
        module.requires_grad_(True)  # autograd fixed what it needs when the graph was built


def all_finite(module: nn.Module) -> bool:
    """No NaN or infinity in the module's floating-point weights and buffers (one host sync, not one per tensor)."""
    checks = [torch.isfinite(t).all() for t in module.state_dict().values() if t.is_floating_point()]
    return bool(torch.stack(checks).all()) if checks else True


def copied_state(state):
    """A deep copy of a (nested) state dict whose tensors are cloned one by one: each its own storage,
    where copy.deepcopy or torch.save would keep views sharing one (a pooled run's weights and Adam
    state are views of its pool's stacked tensors, and its Adam steps one tensor per run)."""
    if isinstance(state, torch.Tensor):
        return state.detach().clone()
    if isinstance(state, dict):
        return {k: copied_state(v) for k, v in state.items()}
    if isinstance(state, (list, tuple)):
        return type(state)(copied_state(v) for v in state)
    return copy.deepcopy(state)


def data_scale(ds) -> float:
    """The spread of a 2D set (std over both axes), rounded so configs stay readable; 1 for images."""
    if ds.kind != "2d":
        return 1.0
    std = float(ds.x.float().std())
    return float(f"{max(std, 1e-3):.3g}")


@torch.no_grad()
def update_ema(ema: nn.Module, net: nn.Module, decay: float, step: int) -> None:
    """Fold `net` into its moving average `ema` (StyleGAN's G_ema); buffers are copied as they are.
    The decay ramps up with `step`, so early snapshots are not dominated by the random initial weights."""
    decay = min(decay, (1 + step) / (10 + step))
    ema_p = list(ema.parameters())
    net_p = [p.detach() for p in net.parameters()]
    torch._foreach_lerp_(ema_p, net_p, 1.0 - decay)
    for b_ema, b in zip(ema.buffers(), net.buffers()):
        b_ema.copy_(b)


def lr_factor(step: int, steps: int, decay: float) -> float:
    """What the learning rates are multiplied by at `step` of a `steps`-step run whose last `decay` share
    of steps (0..1) brings them down linearly to LR_DECAY_END of their value (1.0 with decay 0, and
    before the decay begins). Past `steps` (the 2D lab's single steps after the end) it stays at LR_DECAY_END."""
    if decay <= 0 or steps <= 0:
        return 1.0
    span = max(1, round(decay * steps))
    done = min(1.0, max(0.0, (step - (steps - span)) / span))
    return 1.0 - (1.0 - LR_DECAY_END) * done


def no_sync(module: nn.Module) -> None:
    """sync_grads for one process: the gradients are already the whole batch's."""


def never() -> bool:
    return False


class StepInterrupted(Exception):
    """Stop was asked for between two phases of a step: the step is abandoned (not counted)."""


@dataclass
class StepContext:
    """What the Trainer hands a family so it can train without knowing the Trainer (minGPT's split).

    draw(n) -> (x, y): n real samples (and labels or None) on the device, from the run's seeded stream
    noise(n) -> (n, z_dim): standard normal noise on the device, from the same stream
    sync_grads(module): after backward, before the optimizer step: average module's gradients over the
        processes (torchrun) or do nothing (one process); every family calls it for every network it steps
    use_amp: bf16 autocast for the forward passes; generator: the stream itself (for penalties that draw)
    """

    device: torch.device
    generator: torch.Generator
    batch_size: int  # this process's share of the global batch
    draw: Callable[[int], tuple[torch.Tensor, torch.Tensor | None]]
    noise: Callable[[int], torch.Tensor]
    sync_grads: Callable[[nn.Module], None] = no_sync
    use_amp: bool = False  # the Trainer may switch it (bench); families read it at each step
    interrupted: Callable[[], bool] = never  # whether Stop was asked for while this step runs

    def autocast(self):
        return autocast(self.device, self.use_amp)

    def stop_point(self) -> None:
        """Between two phases of a step: raise StepInterrupted if Stop was asked for, so a long step
        (n_critic D updates, then G) ends within one phase instead of at the step's end."""
        if self.interrupted():
            raise StepInterrupted()
