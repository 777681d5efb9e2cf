"""Run pools on ring8 at its defaults: steps/s of a solo run and of pools of R runs, and the stacked step's two ways.

    python benchmarks/pool_speed.py solo  [--steps N]          # a solo run through Trainer.run (run_solo)
    python benchmarks/pool_speed.py pool  --runs 1 4 12 24     # R runs in one RunPool: steps/s each and in total
    python benchmarks/pool_speed.py pool  --family vae         # the same for ring8 VAEs (solo too; not kernels)
    python benchmarks/pool_speed.py threads --runs 4 12        # R solo runs at once, each its own thread (unpooled)
    python benchmarks/pool_speed.py kernels --runs 1 4 12 24   # the stacked D+G step alone: vmap(functional_call)
                                                               # against weights (R, in, out) with baddbmm
    python benchmarks/pool_speed.py bare --runs 24 [--no-r1]   # StackedGAN.train_step in a loop (draws, forward,
                                                               # backward, Adam, EMA; no RunPool), R1 on or off
    python benchmarks/pool_speed.py bare --runs 24 --split 2 --intra-op 1  # the same runs as 2 stacks, each
                                                               # stepped by its own thread with 1 intra-op thread
    python benchmarks/pool_speed.py pool --dataset digits --runs 1 4 16 [--img-size 16]
        # digits DCGANs at their defaults: a solo run as the app trains it (bf16 autocast where native) and in fp32,
        # then R fp32 runs in one RunPool (grouped convolutions; bf16 runs train alone), each after a warm-up
Prints one JSON line per measurement. Uses torch's default threads unless OMP_NUM_THREADS is set.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from gan_demo.core.config import DataConfig, RunConfig, TrainConfig  # noqa: E402
from gan_demo.training.trainer import Trainer  # noqa: E402


def ring8(seed: int, steps: int, family: str = "gan") -> RunConfig:
    return RunConfig(family=family, data=DataConfig(dataset="ring8"), train=TrainConfig(seed=seed, steps=steps, device="cpu"))


def machine() -> dict:
    return {"threads": torch.get_num_threads(), "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS"),
            "load": os.getloadavg()}


def solo(steps: int, family: str = "gan") -> dict:
    tr = Trainer(ring8(0, steps, family))
    start, cpu = time.perf_counter(), time.process_time()
    tr.run(steps)
    seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
    return {"what": "solo", "family": family, "steps": steps, "seconds": round(seconds, 2), "steps_per_s": round(steps / seconds, 1),
            "cpu_ms_per_step": round(1000 * cpu / steps, 2), **machine()}


def digits(seed: int, steps: int, img_size: int | None, amp: bool = True) -> RunConfig:
    """The digits GAN at the defaults `python -m gan_demo train --dataset digits` resolves to (img_size: 32 unless set)."""
    data = DataConfig(dataset="digits") if img_size is None else DataConfig(dataset="digits", img_size=img_size)
    return RunConfig(data=data, train=TrainConfig(seed=seed, steps=steps, device="cpu", amp=amp))


IMAGE_WARMUP = 3  # steps before the clock starts (oneDNN picks and caches its kernels on the first passes)


def image_solo(steps: int, img_size: int | None, amp: bool) -> dict:
    tr = Trainer(digits(0, IMAGE_WARMUP + steps, img_size, amp))
    tr.run(IMAGE_WARMUP)
    start, cpu = time.perf_counter(), time.process_time()
    tr.run(IMAGE_WARMUP + steps)
    seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
    return {"what": "solo", "dataset": "digits", "img_size": tr.cfg.model.img_size, "precision": tr.precision,
            "steps": steps, "seconds": round(seconds, 2), "steps_per_s": round(steps / seconds, 2),
            "cpu_ms_per_step": round(1000 * cpu / steps, 1), **machine()}


def image_pool(runs: int, steps: int, img_size: int | None) -> dict:
    """R digits runs in fp32 (amp off: bf16 runs train alone) in one RunPool, timed after a warm-up."""
    from gan_demo.training import stacked_conv
    from gan_demo.training.pool import RunPool, pool_key, why_not_poolable

    stacked_conv.POOL_DEVICES = ("cuda", "cpu")  # measured here although the app trains image runs alone on a CPU
    trainers = [Trainer(digits(seed, IMAGE_WARMUP + steps, img_size, amp=False)) for seed in range(runs)]
    if why_not_poolable(trainers[0]):
        raise SystemExit(f"digits runs do not pool: {why_not_poolable(trainers[0])}")
    p = RunPool(pool_key(trainers[0]))
    timed = None
    for target in (IMAGE_WARMUP, IMAGE_WARMUP + steps):
        timed = time.perf_counter(), time.process_time()
        for tr in trainers:
            p.add(tr, target)
        for tr in trainers:
            tr.join()
        assert all(tr.state == "finished" for tr in trainers), [tr.state for tr in trainers]
    seconds, cpu = time.perf_counter() - timed[0], time.process_time() - timed[1]
    each = steps / seconds
    return {"what": "pool", "dataset": "digits", "img_size": trainers[0].cfg.model.img_size, "precision": "fp32",
            "runs": runs, "steps": steps, "seconds": round(seconds, 2), "steps_per_s_each": round(each, 2),
            "steps_per_s_total": round(each * runs, 2), "cpu_ms_per_run_step": round(1000 * cpu / (steps * runs), 1),
            **machine()}


def pool(runs: int, steps: int, vmap: bool = False, family: str = "gan") -> dict:
    from gan_demo.training.pool import RunPool, _StackedNet, pool_key

    _StackedNet.fast_mlp = not vmap

    trainers = [Trainer(ring8(seed, steps, family)) for seed in range(runs)]
    p = RunPool(pool_key(trainers[0]))
    start, cpu = time.perf_counter(), time.process_time()
    for tr in trainers:
        p.add(tr, steps)
    for tr in trainers:
        tr.join()
    seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
    assert all(tr.state == "finished" for tr in trainers), [tr.state for tr in trainers]
    each = steps / seconds
    return {"what": "pool", "family": family, "runs": runs, "stacked_forward": "vmap" if vmap else "baddbmm", "steps": steps, "seconds": round(seconds, 2),
            "steps_per_s_each": round(each, 1), "steps_per_s_total": round(each * runs, 1),
            "cpu_ms_per_run_step": round(1000 * cpu / (steps * runs), 2), **machine()}


def threads(runs: int, steps: int, family: str = "gan") -> dict:
    """R runs trained alone at once, each in its own thread (Trainer.start): what a class gets unpooled."""
    trainers = [Trainer(ring8(seed, steps, family)) for seed in range(runs)]
    start, cpu = time.perf_counter(), time.process_time()
    for tr in trainers:
        tr.start(steps)
    for tr in trainers:
        tr.join()
    seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
    assert all(tr.state == "finished" for tr in trainers), [tr.state for tr in trainers]
    return {"what": "threads", "family": family, "runs": runs, "steps": steps, "seconds": round(seconds, 2),
            "steps_per_s_total": round(steps * runs / seconds, 1),
            "cpu_ms_per_run_step": round(1000 * cpu / (steps * runs), 2), **machine()}


# ------------------------------------------------------------------ the stacked step alone, two ways
def kernels(runs: int, steps: int) -> dict:
    """One D update's (nonsaturating + R1) and one G update's forward and backward for R stacked runs, no
    optimizer: through vmap(functional_call) and through one baddbmm per layer (pool._StackedNet.fast_mlp)."""
    from gan_demo.training import pool as pool_module

    trainers = [Trainer(ring8(seed, 10)) for seed in range(runs)]
    cfg = trainers[0].cfg
    z = torch.randn(runs, cfg.train.batch_size, cfg.model.z_dim)
    real = torch.randn(runs, cfg.train.batch_size, 2)
    result = {"what": "kernels", "runs": runs, "width": cfg.model.width, "depth": cfg.model.depth,
              "batch": cfg.train.batch_size}
    for name, fast in (("vmap", False), ("baddbmm", True)):
        pool_module._StackedNet.fast_mlp = fast
        stack = pool_module.StackedGAN([tr.family for tr in trainers])

        def step():
            with torch.no_grad():
                fake = stack.G(z, detached=True)
            x = real.detach().requires_grad_(True)
            real_logits = stack.D(x)
            (grad,) = torch.autograd.grad(real_logits.sum(), x, create_graph=True)
            loss = stack._d_loss(real_logits, stack.D(fake)) + 0.05 * grad.pow(2).sum(2).mean(1)
            loss.sum().backward()
            stack._g_loss(stack.D(stack.G(z), detached=True)).sum().backward()

        for _ in range(5):
            step()
        start = time.perf_counter()
        for _ in range(steps):
            step()
        result[f"{name}_steps_per_s"] = round(steps / (time.perf_counter() - start), 1)
        stack.release()
    pool_module._StackedNet.fast_mlp = True
    return {**result, **machine()}


def bare(runs: int, steps: int, r1: bool, split: int = 1, intra_op: int | None = None) -> dict:
    """The pool's whole stacked step (StackedGAN.train_step with each run's draws) in a loop, without the
    RunPool around it: its upper bound. Without R1 the D has no BatchNorm either (d_norm none), as with R1.
    split: the runs as that many stacks, each stepped `steps` times by a thread of its own (as RunPools spreads a
    class over a pool per core); intra_op: torch's intra-op threads of each (None: torch's count)."""
    import threading

    from gan_demo.core.config import ModelConfig
    from gan_demo.training.pool import StackedGAN

    cfgs = [ring8(seed, 8000) for seed in range(runs)]
    for cfg in cfgs:
        cfg.model = ModelConfig(d_norm="none")
        if not r1:
            cfg.train.r1_gamma = 0.0
    families = [Trainer(cfg).family for cfg in cfgs]
    groups = [families[i::split] for i in range(split)]
    stacks = [(StackedGAN(group), group) for group in groups]

    def loop(stack, group, n: int) -> None:
        if intra_op:
            torch.set_num_threads(intra_op)
        for _ in range(n):
            stack.train_step([stack.draw(f) for f in group])

    for stack, group in stacks:
        loop(stack, group, 10)
    threads = [threading.Thread(target=loop, args=(stack, group, steps)) for stack, group in stacks]
    start = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    seconds = time.perf_counter() - start
    return {"what": "bare", "runs": runs, "split": split, "intra_op": intra_op or torch.get_num_threads(),
            "r1_gamma": families[0].cfg.train.r1_gamma, "steps": steps,
            "steps_per_s_total": round(runs * steps / seconds, 1), **machine()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("what", choices=("solo", "pool", "threads", "kernels", "bare"))
    parser.add_argument("--runs", type=int, nargs="+", default=[1, 4, 12, 24])
    parser.add_argument("--steps", type=int, default=None, help="steps per run (default: solo 2000, pool 300)")
    parser.add_argument("--vmap", action="store_true", help="pool: the stacked forward through vmap, not baddbmm")
    parser.add_argument("--family", choices=("gan", "vae"), default="gan", help="solo and pool: ring8 GANs or VAEs")
    parser.add_argument("--no-r1", action="store_true", help="bare: without R1 (and without BatchNorm in D)")
    parser.add_argument("--split", type=int, default=1, help="bare: the runs as this many stacks, a thread each")
    parser.add_argument("--intra-op", type=int, default=None, help="bare: torch's intra-op threads of each stack's thread")
    parser.add_argument("--dataset", choices=("ring8", "digits"), default="ring8",
                        help="pool: digits DCGANs at their defaults (with the solo runs to compare) instead of ring8")
    parser.add_argument("--img-size", type=int, default=None, help="pool --dataset digits: image side (default 32)")
    args = parser.parse_args()
    if args.dataset == "digits":
        if args.what != "pool" or args.family != "gan":
            parser.error("--dataset digits measures GAN pools (pool) only")
        for amp in (True, False):
            print(json.dumps(image_solo(args.steps or 20, args.img_size, amp)), flush=True)
        for runs in args.runs:
            print(json.dumps(image_pool(runs, args.steps or 20, args.img_size)), flush=True)
        return
    if args.what in ("kernels", "bare") and args.family != "gan":
        parser.error(f"{args.what} measures the GAN's stacked step only")
    if args.what == "solo":
        print(json.dumps(solo(args.steps or 2000, args.family)), flush=True)
        return
    for runs in args.runs:
        if args.what == "pool":
            print(json.dumps(pool(runs, args.steps or 300, args.vmap, args.family)), flush=True)
        elif args.what == "threads":
            print(json.dumps(threads(runs, args.steps or 300, args.family)), flush=True)
        elif args.what == "bare":
            print(json.dumps(bare(runs, args.steps or 60, not args.no_r1, args.split, args.intra_op)), flush=True)
        else:
            print(json.dumps(kernels(runs, args.steps or 50)), flush=True)


if __name__ == "__main__":
    main()
