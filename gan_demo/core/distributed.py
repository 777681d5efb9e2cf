"""Many processes: torchrun's environment, the process group, rank-aware seeds, gradient all-reduce, master-only side effects.

A plain `python -m gan_demo train` never touches torch.distributed (SINGLE below). Under
`torchrun --nproc_per_node=N -m gan_demo train`, each process reads torchrun's RANK,
LOCAL_RANK and WORLD_SIZE once (from_environ), joins the group (gloo on CPU, NCCL on CUDA) and
trains on its share of the global batch. Gradients are averaged here, by hand, as one flat
buffer (StyleGAN3's way) instead of wrapping the networks in DistributedDataParallel: that also
holds for the double backward of the R1 and WGAN-GP penalties, which DDP does not support.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import timedelta
from typing import Callable, TypeVar

import torch
from torch import nn

T = TypeVar("T")
TIMEOUT_S = 600  # a collective that waits longer than this fails instead of hanging forever


@dataclass(frozen=True)
class Dist:
    """Where this process stands among the others (torchrun's words)."""

    rank: int = 0  # this process among all of them (RANK); 0 is the master
    local_rank: int = 0  # this process on its own machine (LOCAL_RANK): it trains on cuda:LOCAL_RANK
    world_size: int = 1  # processes in all (WORLD_SIZE); the global batch is split across them
    active: bool = False  # True under torchrun (a process group exists, even of one process)

    @property
    def master(self) -> bool:
        """The one process that prints, downloads and saves."""
        return self.rank == 0


SINGLE = Dist()  # a plain `python -m gan_demo`: no process group


class MasterError(RuntimeError):
    """Raised on the other ranks when the master failed at something it did for all (loading a
    dataset or a checkpoint): the master reports the error, the others exit quietly."""


def from_environ(environ: dict | None = None) -> Dist:
    """torchrun's environment, read once: SINGLE without RANK (a plain `python -m gan_demo`)."""
    env = os.environ if environ is None else environ
    if "RANK" not in env:
        return SINGLE
    try:
        rank, world = int(env["RANK"]), int(env.get("WORLD_SIZE", "1"))
        local = int(env.get("LOCAL_RANK", env["RANK"]))
    except ValueError:
        raise ValueError("RANK, LOCAL_RANK and WORLD_SIZE must be integers (start with torchrun)") from None
    if not (world >= 1 and 0 <= rank < world and local >= 0):
        raise ValueError(f"torchrun environment out of range: RANK={rank} LOCAL_RANK={local} WORLD_SIZE={world}")
    return Dist(rank=rank, local_rank=local, world_size=world, active=True)


def device_for(dist: Dist, requested: str = "auto") -> torch.device:
    """This process's device under torchrun: cuda:LOCAL_RANK when CUDA is there (or asked for), else cpu."""
    if requested == "mps":
        raise ValueError("device: torch.distributed has no backend for mps (use --device cpu)")
    if requested == "cpu" or (requested == "auto" and not torch.cuda.is_available()):
        return torch.device("cpu")
    if not torch.cuda.is_available():
        raise ValueError("device: cuda was asked for but no CUDA GPU is available (use --device cpu or auto)")
    if dist.local_rank >= torch.cuda.device_count():
        raise ValueError(f"device: LOCAL_RANK {dist.local_rank} but only {torch.cuda.device_count()} CUDA GPU(s) "
                         "here (use --nproc_per_node at most the GPU count)")
    return torch.device("cuda", dist.local_rank)


def init(dist: Dist, device: torch.device) -> None:
    """Join torchrun's process group (env:// rendezvous): NCCL for CUDA, gloo for the CPU."""
    if not dist.active or torch.distributed.is_initialized():
        return
    kwargs = {}
    if device.type == "cuda":
        torch.cuda.set_device(device)
        kwargs["device_id"] = device  # binds NCCL to this GPU (and lets object collectives find it)
    torch.distributed.init_process_group("nccl" if device.type == "cuda" else "gloo",
                                         timeout=timedelta(seconds=TIMEOUT_S), **kwargs)


def shutdown(dist: Dist, wait: bool = True) -> None:
    """Wait for every rank (the master may still be saving), then leave the group. After an error
    wait=False leaves at once: the other ranks may sit in another collective (torchrun stops them)."""
    if dist.active and torch.distributed.is_initialized():
        try:
            if wait:
                torch.distributed.barrier()
        finally:
            torch.distributed.destroy_process_group()


def seed_for(seed: int, dist: Dist) -> int:
    """The data and noise seed of this rank (seed + rank); weights are seeded with `seed` alone, so they agree."""
    return seed + dist.rank


def local_batch(global_batch: int, dist: Dist) -> int:
    """This rank's share of the global batch (the config validates that it divides evenly)."""
    return global_batch // dist.world_size


# ------------------------------------------------------------------ collectives
def average_gradients(module: nn.Module, dist: Dist) -> None:
    """After backward, before the optimizer step: replace each gradient of `module` by its mean over
    the ranks, as one flat all-reduce (one collective, not one per tensor).

    The floating-point buffers (BatchNorm running statistics) ride along and are averaged too, so
    every rank holds the same model, G_ema included; with per-rank BatchNorm each rank's training
    forward still normalises by its own share of the batch. Parameters without a gradient are left
    alone: they are the same on every rank because every rank runs the same code.
    """
    if not dist.active:
        return
    params = [p for p in module.parameters() if p.grad is not None]
    buffers = [b for b in module.buffers() if b.is_floating_point()]
    tensors = [p.grad for p in params] + buffers
    if not tensors:
        return
    flat = torch.cat([t.reshape(-1).float() for t in tensors])  # (total numel,) fp32, however the grads are stored
    torch.distributed.all_reduce(flat)
    flat /= dist.world_size
    for t, part in zip(tensors, flat.split([t.numel() for t in tensors])):
        t.copy_(part.view_as(t))  # copy_ keeps each tensor's dtype and memory format (channels_last)


def agree_on_read_back(rows: torch.Tensor, first_bad: int | None, stop: bool,
                       dist: Dist) -> tuple[list[list[float]], int | None, bool]:
    """The step numbers, divergence and stop flags of one read-back, agreed by all ranks in one all-reduce.

    rows: (n_steps, n_values) this rank's step numbers; first_bad: the first of them this rank found
    non-finite (or None); stop: this rank was asked to stop (Ctrl-C, SIGTERM). Returns the rows
    averaged over the ranks (the global batch's figures), the earliest step any rank found bad, and
    whether any rank wants to stop. Everyone then takes the same branch: roll back, stop or go on.
    """
    n = rows.shape[0]
    flags = torch.zeros(n + 1, dtype=torch.float64, device=rows.device)  # one-hot of first_bad, then stop
    if first_bad is not None:
        flags[first_bad] = 1.0
    flags[n] = float(stop)
    packed = torch.cat([rows.detach().double().reshape(-1), flags])
    torch.distributed.all_reduce(packed)  # sum: NaN anywhere stays NaN, a flag anywhere stays > 0
    packed = packed.tolist()  # one host sync
    values = [[v / dist.world_size for v in packed[i * rows.shape[1]:(i + 1) * rows.shape[1]]] for i in range(n)]
    agreed = packed[rows.numel():]
    bad = next((i for i in range(n) if agreed[i] > 0), None)
    return values, bad, agreed[n] > 0


def all_agree(flag: bool, dist: Dist, device: torch.device) -> bool:
    """True when `flag` holds on every rank (a known-good snapshot is taken only if all weights are finite)."""
    if not dist.active:
        return flag
    t = torch.tensor([0.0 if flag else 1.0], device=device)
    torch.distributed.all_reduce(t)
    return float(t) == 0.0


def from_master(fn: Callable[[], T], dist: Dist) -> T:
    """fn() run by the master alone, its result sent to every rank (a checkpoint read once).

    If fn raises on the master, the master raises it and the others raise MasterError, so nobody
    waits for a result that never comes.
    """
    if not dist.active:
        return fn()
    box: list = [None]
    error = None
    if dist.master:
        try:
            box[0] = ("ok", fn())
        except Exception as exc:  # sent on, then raised here too
            error = exc
            box[0] = ("error", f"{type(exc).__name__}: {exc}")
    torch.distributed.broadcast_object_list(box, src=0)
    if error is not None:
        raise error
    status, payload = box[0]
    if status == "error":
        raise MasterError(f"rank 0 failed: {payload}")
    return payload


def master_first(fn: Callable[[], T], dist: Dist) -> T:
    """fn() on the master first (it downloads or builds a cache), then on the others (they load what
    it left). If the master fails, the others raise MasterError instead of trying themselves."""
    if not dist.active:
        return fn()
    if dist.master:
        try:
            result = fn()
        except Exception as exc:
            torch.distributed.broadcast_object_list([f"{type(exc).__name__}: {exc}"], src=0)
            raise
        torch.distributed.broadcast_object_list([None], src=0)
        return result
    box = [None]
    torch.distributed.broadcast_object_list(box, src=0)  # the barrier: wait for the master's fn
    if box[0] is not None:
        raise MasterError(f"rank 0 failed: {box[0]}")
    return fn()


# ------------------------------------------------------------------ BatchNorm over the global batch
class _SumOverRanks(torch.autograd.Function):
    """all-reduce (sum) that autograd differentiates: every rank's output depends on every rank's input,
    so the gradient is again the sum over the ranks, itself differentiable (double backward)."""

    @staticmethod
    def forward(ctx, t: torch.Tensor) -> torch.Tensor:
        t = t.clone()
        torch.distributed.all_reduce(t)
        return t

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:
        return _SumOverRanks.apply(grad)


class GlobalBatchNorm(nn.modules.batchnorm._BatchNorm):
    """BatchNorm whose training statistics cover the global batch: every rank's share, through a
    differentiable all-reduce of per-channel sums (`--sync-bn`).

    Why not torch.nn.SyncBatchNorm: it refuses CPU tensors (so gloo runs and CI could never check
    it), and its hand-written backward has no double backward (R1 or WGAN-GP on a BatchNorm D).
    Here the all-reduce's backward is another all-reduce, so autograd differentiates through it
    as often as asked. In eval mode, or outside a process group of two or more, it is plain BatchNorm.
    """

    def _check_input_dim(self, input: torch.Tensor) -> None:
        if input.dim() < 2:
            raise ValueError(f"expected at least 2D input (got {input.dim()}D)")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self._check_input_dim(x)
        if not (self.training and torch.distributed.is_initialized() and torch.distributed.get_world_size() > 1):
            return super().forward(x)
        c = x.shape[1]
        dims = [0, *range(2, x.dim())]
        xf = x.float()  # statistics in fp32 under bf16 autocast, like BatchNorm itself
        count = xf.new_full((1,), xf.numel() / c)
        stats = _SumOverRanks.apply(torch.cat([xf.sum(dims), (xf * xf).sum(dims), count]))  # (2C + 1,) sums over all ranks
        n = stats[2 * c]
        mean = stats[:c] / n
        var = (stats[c:2 * c] / n - mean * mean).clamp_min(0)  # biased, as BatchNorm normalises with
        if self.track_running_stats:
            with torch.no_grad():
                self.num_batches_tracked.add_(1)
                momentum = 1.0 / float(self.num_batches_tracked) if self.momentum is None else self.momentum
                self.running_mean.lerp_(mean.detach().to(self.running_mean.dtype), momentum)
                unbiased = var.detach() * n / (n - 1).clamp_min(1)
                self.running_var.lerp_(unbiased.to(self.running_var.dtype), momentum)
        shape = (1, c) + (1,) * (x.dim() - 2)
        y = (xf - mean.view(shape)) * torch.rsqrt(var.view(shape) + self.eps)
        if self.affine:
            y = y * self.weight.view(shape) + self.bias.view(shape)
        return y.to(x.dtype)


def convert_sync_batchnorm(module: nn.Module) -> nn.Module:
    """Every BatchNorm layer inside `module` replaced by a GlobalBatchNorm with the same weights and
    statistics (state_dict keys unchanged, so checkpoints load into plain BatchNorm models).
    Call it on CPU modules, before they move to their device."""
    for name, child in module.named_children():
        if isinstance(child, nn.modules.batchnorm._BatchNorm) and not isinstance(child, GlobalBatchNorm):
            new = GlobalBatchNorm(child.num_features, child.eps, child.momentum, child.affine, child.track_running_stats)
            new.load_state_dict(child.state_dict())
            new.train(child.training)
            setattr(module, name, new)
        else:
            convert_sync_batchnorm(child)
    return module
