"""Benchmarks: the training step against the canonical PyTorch DCGAN loop, FLOPs, share of peak, UI polling cost."""
from __future__ import annotations

import contextlib
import importlib.util
import os
import statistics
import threading
import time
from pathlib import Path

import torch

from gan_demo.core.config import RunConfig

DEFAULT_STEPS = 50  # timed steps when --steps is not given
POLL_INTERVAL_S = 0.75  # the Train tab's TICK_S: one snapshot + one progress grid per tick
CANONICAL_FILE = Path(__file__).resolve().parents[2] / "benchmarks" / "canonical_dcgan.py"

# Dense bf16 tensor-core peaks (TFLOP/s) from the vendors' datasheets, matched on torch.cuda.get_device_name()
# in this order (first match wins, so "H100 PCIe" comes before "H100").
PEAK_TFLOPS_BF16 = (
    ("H200", 989.0),
    ("H100 PCIe", 756.0),
    ("H100 NVL", 835.0),
    ("H100", 989.0),  # SXM
    ("GH200", 989.0),
    ("A100", 312.0),
    ("L40S", 362.0),
    ("L40", 181.0),
    ("L4", 121.0),
    ("A10G", 70.0),
    ("A10", 125.0),
    ("RTX 4090", 165.0),
    ("RTX 3090", 71.0),
    ("V100", 125.0),  # fp16: V100 has no bf16
    ("T4", 65.0),  # fp16: T4 has no bf16
)


# ------------------------------------------------------------------------------ helpers
def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def peak_tflops(device: torch.device) -> tuple[float | None, str]:
    """(dense bf16 peak in TFLOP/s or None, device name) for a CUDA device; (None, cpu name) elsewhere."""
    if device.type != "cuda":
        return None, _cpu_name()
    name = torch.cuda.get_device_name(device)
    return peak_for_name(name), name


def peak_for_name(name: str) -> float | None:
    """Dense bf16 peak (TFLOP/s) of the first PEAK_TFLOPS_BF16 entry whose key is in the GPU name, or None."""
    for key, peak in PEAK_TFLOPS_BF16:
        if key.lower() in name.lower():
            return peak
    return None


def _cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    import platform

    return platform.processor() or platform.machine()


def step_flops(fn) -> int:
    """FLOPs of one call of fn, counted per operator with torch.utils.flop_counter's formulas (matmuls and
    convolutions, forward and backward; elementwise work is not counted).

    FlopCounterMode itself tracks modules with backward hooks that fail inside torch.autograd.grad (R1 and the
    gradient penalty: "A leaf node was passed to _will_engine_execute_node"), so the same formulas are
    applied here by a dispatch mode without the module tracking; the totals are the same.
    """
    from torch.utils._python_dispatch import TorchDispatchMode
    from torch.utils.flop_counter import flop_registry

    class Count(TorchDispatchMode):
        total = 0

        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            kwargs = kwargs or {}
            out = func(*args, **kwargs)
            formula = flop_registry.get(func._overloadpacket)
            if formula is not None:
                self.total += int(formula(*args, **kwargs, out_val=out))
            return out

    with Count() as counter:
        fn()
    return counter.total


def load_canonical():
    """The benchmarks/canonical_dcgan.py module of this checkout, or None when it is not there (an installed package)."""
    if not CANONICAL_FILE.is_file():
        return None
    spec = importlib.util.spec_from_file_location("gan_demo_canonical_dcgan", CANONICAL_FILE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def machine() -> dict:
    """The facts that go beside a timing: CPU threads, load average, torch version."""
    load = os.getloadavg() if hasattr(os, "getloadavg") else (float("nan"),) * 3
    return {"cpu": _cpu_name(), "cpu_count": os.cpu_count(), "torch_threads": torch.get_num_threads(),
            "load_average": [round(x, 2) for x in load], "torch": torch.__version__}


# ------------------------------------------------------------------------------ project loop
def build_trainer(cfg: RunConfig):
    """A Trainer for cfg, on cfg.train.device; `bench` is a command-line tool, so its data paths are trusted."""
    from gan_demo.data.datasets import load_dataset
    from gan_demo.evaluation.live_quality import live_quality
    from gan_demo.training.trainer import Trainer, resolve_device

    return Trainer(cfg, dataset=load_dataset(cfg.data, resolve_device(cfg.train.device), trusted=True),
                   live_quality=live_quality)


def _time_project(trainer, steps: int) -> dict:
    """`steps` steps of the Trainer's own run loop (what the CLI and the app run: numbers read back in batches)."""
    _sync(trainer.device)
    wall, cpu = time.perf_counter(), time.process_time()
    trainer.run(trainer.step + steps)
    _sync(trainer.device)
    return {"seconds": time.perf_counter() - wall, "cpu_seconds": time.process_time() - cpu,
            "images": steps * trainer.cfg.train.batch_size}  # images generated for G's updates


def _time_canonical(canonical, loop, steps: int, device: torch.device) -> dict:
    cpu = time.process_time()
    result = canonical.time_loop(loop, steps, device)
    return {"seconds": result["seconds"], "cpu_seconds": time.process_time() - cpu, "images": result["images"]}


def _totals(parts: list[dict], steps: int) -> dict:
    seconds = sum(p["seconds"] for p in parts)
    cpu = sum(p["cpu_seconds"] for p in parts)
    images = sum(p["images"] for p in parts)
    return {
        "steps": steps,
        "seconds": round(seconds, 3),
        "steps_per_s": round(steps / seconds, 3),
        "images_per_s": round(images / seconds, 2),
        "cpu_seconds_per_step": round(cpu / steps, 4),  # this process only (DataLoader workers excluded)
    }


def run_bench(cfg: RunConfig, steps: int = DEFAULT_STEPS, warmup: int = 5, canonical: bool = True,
              compile: bool = False, rounds: int = 3, workers: int = 2) -> dict:
    """Time the project's Trainer.step_once (after `warmup` steps; with compile, G and D wrapped in
    torch.compile first, compilation reported apart) and, for image sets, the canonical
    pytorch/examples DCGAN loop on identical models, in alternating rounds so that a change in the
    machine's load hits both alike. Returns JSON-ready figures (see BENCHMARKS.md for their meaning).
    """
    if steps < 1 or warmup < 0 or rounds < 1:
        raise ValueError(f"steps must be >= 1, warmup >= 0, rounds >= 1 (got {steps}, {warmup}, {rounds})")
    from gan_demo.families.nets import count_params

    trainer = build_trainer(cfg)
    device = trainer.device
    rcfg = trainer.cfg
    batch = rcfg.train.batch_size
    result = {
        "dataset": rcfg.data.dataset, "arch": rcfg.model.arch, "img_size": rcfg.model.img_size if trainer.kind == "image" else None,
        "batch_size": batch, "device": str(device), "precision": trainer.precision, "amp_bf16": trainer.use_amp,
        "compile": compile,
        "params_G": count_params(trainer.family.G), "params_D": count_params(trainer.family.D),
        "steps": steps, "warmup": warmup, "rounds": min(rounds, steps), "notes": [],
    }
    result["flops_per_step"] = step_flops(trainer.step_once)  # eager, before any compilation
    if compile:
        trainer.family.G, trainer.family.D = torch.compile(trainer.family.G), torch.compile(trainer.family.D)
    # Warm-up (and, with compile, compilation: its first steps minus the steady step time).
    _sync(device)
    start = time.perf_counter()
    for _ in range(warmup):
        trainer.step_once()
    _sync(device)
    warmup_seconds = time.perf_counter() - start

    loop = module = None
    if canonical and trainer.kind == "image":
        module = load_canonical()
        if module is None:
            result["notes"].append(f"canonical loop not run: {CANONICAL_FILE} is not there (run from a checkout)")
        else:
            loop = module.make_loop(rcfg, device, workers=workers)
            canonical_flops = step_flops(lambda: next(loop))
            module.time_loop(loop, warmup, device)
    elif canonical:
        result["notes"].append("the canonical loop is the image DCGAN example: not run for 2D sets")

    rounds = min(rounds, steps)
    per_round = [steps // rounds + (1 if r < steps % rounds else 0) for r in range(rounds)]
    project_parts, canonical_parts = [], []
    for r, n in enumerate(per_round):
        # alternate which loop goes first, so neither always runs in the other's wake
        order = ("project", "canonical") if r % 2 == 0 else ("canonical", "project")
        for which in order:
            if which == "project":
                project_parts.append(_time_project(trainer, n))
            elif loop is not None:
                canonical_parts.append(_time_canonical(module, loop, n, device))

    project = _totals(project_parts, steps)
    result.update(project)
    result["round_images_per_s"] = [round(p["images"] / p["seconds"], 2) for p in project_parts]
    if compile:
        result["compile_seconds"] = round(max(0.0, warmup_seconds - warmup / project["steps_per_s"]), 2)
    result["gflop_per_s"] = round(result["flops_per_step"] * project["steps_per_s"] / 1e9, 2)
    peak, name = peak_tflops(device)
    result["device_name"] = name
    if device.type == "cuda":
        result["peak_tflops_bf16"] = peak
        result["share_of_peak"] = (round(result["gflop_per_s"] / (peak * 1e3), 4) if peak else None)
        if peak is None:
            result["notes"].append(f"no peak figure known for {name}: share of peak not computed")
        elif not trainer.use_amp:
            result["notes"].append("amp is off (fp32): the share is still of the bf16 peak")
    else:
        result["notes"].append("CPU: achieved GFLOP/s only (no peak table for CPUs)")
    if canonical_parts:
        canon = _totals(canonical_parts, steps)
        canon["flops_per_step"] = canonical_flops
        canon["workers"] = workers
        canon["round_images_per_s"] = [round(p["images"] / p["seconds"], 2) for p in canonical_parts]
        result["canonical"] = canon
        result["ratio"] = round(result["images_per_s"] / canon["images_per_s"], 3)
        result["ratio_cpu_time"] = round(canon["cpu_seconds_per_step"] / project["cpu_seconds_per_step"], 3)
        result["round_ratios"] = [round(p / c, 3) for p, c in zip(result["round_images_per_s"], canon["round_images_per_s"])]
        del loop  # stops the DataLoader workers
    result["slider_latency_ms"] = slider_latency_ms(trainer)
    result["machine"] = machine()
    return result


def slider_latency_ms(trainer, calls: int = 10) -> float:
    """Median milliseconds for one slider move: Sampler.from_seed (G_ema and D's score on one image, on the device)."""
    from gan_demo.explore.sampler import Sampler

    sampler = Sampler.from_trainer(trainer)
    sampler.from_seed(0)
    times = []
    for seed in range(1, calls + 1):
        start = time.perf_counter()
        sampler.from_seed(seed)
        times.append(time.perf_counter() - start)
    return round(1000 * statistics.median(times), 2)


def format_bench(result: dict) -> str:
    """A few readable lines of a run_bench result."""
    lines = [
        f"{result['dataset']} {result['arch']} {result.get('img_size') or ''}px batch {result['batch_size']} on "
        f"{result['device']} ({result['device_name']}), {result['precision']}, "
        f"params G {result['params_G']:,} D {result['params_D']:,}",
        f"project:   {result['images_per_s']:>9.1f} images/s  {result['steps_per_s']:.3f} steps/s  "
        f"{result['gflop_per_s']:.1f} GFLOP/s ({result['flops_per_step'] / 1e9:.2f} GFLOP/step)",
    ]
    if "compile_seconds" in result:
        lines.append(f"compile:   {result['compile_seconds']:.1f} s (warm-up minus steady steps)")
    if result.get("share_of_peak") is not None:
        lines.append(f"share of peak: {100 * result['share_of_peak']:.2f}% of {result['peak_tflops_bf16']:.0f} TFLOP/s bf16")
    canon = result.get("canonical")
    if canon:
        lines.append(f"canonical: {canon['images_per_s']:>9.1f} images/s  {canon['steps_per_s']:.3f} steps/s  "
                     f"({canon['flops_per_step'] / 1e9:.2f} GFLOP/step, DataLoader workers {canon['workers']})")
        lines.append(f"ratio:     {result['ratio']:.2f}x wall clock (rounds {result['round_ratios']}), "
                     f"{result['ratio_cpu_time']:.2f}x CPU time of this process")
    lines.append(f"slider:    {result['slider_latency_ms']:.1f} ms per image (Sampler.from_seed, G_ema + D score)")
    m = result["machine"]
    lines.append(f"machine:   {m['cpu']}, {m['cpu_count']} CPUs, torch threads {m['torch_threads']}, "
                 f"load average {m['load_average']}, torch {m['torch']}")
    lines += [f"note: {n}" for n in result.get("notes", [])]
    return "\n".join(lines)


# ------------------------------------------------------------------------------ UI polling
def poll_overhead(cfg: RunConfig, steps: int = 30, interval: float = POLL_INTERVAL_S, rounds: int = 3,
                  warmup: int = 3) -> dict:
    """How much a UI polling the run slows training: train `steps` steps in the Trainer's background
    thread with and without a poller thread that calls trainer.snapshot() and trainer.sample_fixed()
    (and draws the grid) every `interval` seconds, in alternating rounds.

    slowdown_percent: median wall time with / median without - 1 (what a user sees; noisy on a
    shared machine). cpu_estimate_percent: CPU time of the polls / CPU time of the training steps
    over the same run (what the polls take from training when both share the cores; stable under load).
    """
    from gan_demo.render import viz

    trainer = build_trainer(cfg)
    for _ in range(warmup):
        trainer.step_once()
    poll_cpu: list[float] = []
    poll_wall: list[float] = []

    def poller(stop: threading.Event):
        while not stop.wait(interval):
            wall, cpu = time.perf_counter(), time.thread_time()
            trainer.snapshot()
            samples = trainer.sample_fixed()
            if trainer.kind == "image":
                viz.image_grid(samples, nrow=trainer.cfg.model.n_classes or 8)
            poll_cpu.append(time.thread_time() - cpu)
            poll_wall.append(time.perf_counter() - wall)

    train_cpu: list = []  # (step, CPU time of the training thread) per record; None between runs

    def measure_thread_cpu(tr, rec):  # runs in the training thread, for each step when its numbers are read back
        train_cpu.append((rec.step, time.thread_time()))

    trainer.add_callback(measure_thread_cpu)
    times = {"without": [], "with": []}
    process_cpu = {"without": [], "with": []}  # every thread of the process, torch's worker threads included
    for r in range(rounds):
        for mode in (("without", "with") if r % 2 == 0 else ("with", "without")):
            stop = threading.Event()
            thread = threading.Thread(target=poller, args=(stop,), daemon=True) if mode == "with" else None
            if thread:
                thread.start()
            start, cpu_start = time.perf_counter(), time.process_time()
            trainer.run(trainer.step + steps)
            times[mode].append(time.perf_counter() - start)
            process_cpu[mode].append(time.process_time() - cpu_start)
            stop.set()
            if thread:
                thread.join()
            train_cpu.append(None)  # a run boundary: the next thread's clock starts afresh
    step_cpu = []  # per run: CPU time between its first and last read-back / steps between them
    run: list = []
    for item in train_cpu + [None]:
        if item is not None:
            run.append(item)
            continue
        if len(run) >= 2 and run[-1][0] > run[0][0]:
            step_cpu.append((run[-1][1] - run[0][1]) / (run[-1][0] - run[0][0]))
        run = []
    without, with_poll = statistics.median(times["without"]), statistics.median(times["with"])
    polls_per_step = (len(poll_cpu) / (rounds * steps)) if poll_cpu else 0.0
    cpu_estimate = (100 * polls_per_step * statistics.mean(poll_cpu) / statistics.median(step_cpu)
                    if poll_cpu and step_cpu else None)
    return {
        "dataset": trainer.cfg.data.dataset, "device": str(trainer.device), "batch_size": trainer.cfg.train.batch_size,
        "steps": steps, "rounds": rounds, "interval_s": interval,
        "steps_per_s_without": round(steps / without, 3),
        "steps_per_s_with": round(steps / with_poll, 3),
        "slowdown_percent": round(100 * (with_poll / without - 1), 2),
        # each "with" round against the "without" round beside it: cancels the machine's slow drifts
        "paired_slowdown_percent": round(100 * (statistics.median(
            w / wo for w, wo in zip(times["with"], times["without"])) - 1), 2),
        "cpu_estimate_percent": None if cpu_estimate is None else round(cpu_estimate, 2),
        # CPU time of the whole process per round with polls / without - 1: catches work the polls cause
        # in other threads (torch's thread pool) that the poll thread's own clock misses
        "process_cpu_percent": round(100 * (statistics.median(process_cpu["with"])
                                            / statistics.median(process_cpu["without"]) - 1), 2),
        "round_process_cpu_s": {k: [round(v, 3) for v in vals] for k, vals in process_cpu.items()},
        "round_seconds": {k: [round(v, 3) for v in vals] for k, vals in times.items()},
        "polls": len(poll_cpu),
        # a poll waits for the step in progress (the trainer's lock), so its wall time is a UI latency, not a cost
        "poll_wall_ms": round(1000 * statistics.mean(poll_wall), 2) if poll_wall else None,
        "poll_cpu_ms": round(1000 * statistics.mean(poll_cpu), 2) if poll_cpu else None,
        "step_cpu_ms": round(1000 * statistics.median(step_cpu), 2) if step_cpu else None,
        "machine": machine(),
    }


# ------------------------------------------------------------------------------ fast-path ablation
def _undo_channels_last(trainer) -> None:
    trainer.family.G.to(memory_format=torch.contiguous_format)
    trainer.family.D.to(memory_format=torch.contiguous_format)


def _bf16(trainer) -> None:
    trainer.use_amp = True  # bf16 autocast even where the hardware would emulate it


def _fp32(trainer) -> None:
    trainer.use_amp = False


ABLATION_VARIANTS = {
    # name -> (changes made to a fresh Trainer, whether D gets weight gradients in the G step)
    "project": ((), False),
    "bf16 autocast (forced)": ((_bf16,), False),
    "fp32 (autocast off)": ((_fp32,), False),
    "fp32 without channels_last": ((_fp32, _undo_channels_last), False),
    "fp32 with D grads in G step": ((_fp32,), True),
    "fp32 before (neither)": ((_fp32, _undo_channels_last), True),
}


def ablation(cfg: RunConfig, steps: int = 4, rounds: int = 5, warmup: int = 2, threads: int | None = 1,
             compile: bool = False, canonical: bool = True) -> dict:
    """Each fast-path change switched off (and bf16 autocast switched on) on a fresh Trainer, beside the
    canonical loop, timed in alternating rounds by the CPU time of the calling thread with `threads`
    torch threads (1: a measure of work that a shared machine's load barely moves). Wall times too.
    """
    from gan_demo.families import gan as gan_module

    previous_threads = torch.get_num_threads()
    if threads:
        torch.set_num_threads(threads)
    variants = {}
    try:
        for name, (changes, d_grads) in ABLATION_VARIANTS.items():
            trainer = build_trainer(cfg)
            if trainer.device.type != "cpu" and _undo_channels_last in changes:
                continue  # channels_last is a CPU-only change
            if name == "project":
                name = f"project ({trainer.precision})"
            for change in changes:
                change(trainer)
            variants[name] = (trainer.step_once, d_grads)
        if compile:
            trainer = build_trainer(cfg)
            trainer.family.G, trainer.family.D = torch.compile(trainer.family.G), torch.compile(trainer.family.D)
            variants["torch.compile"] = (trainer.step_once, False)
        if canonical and trainer.kind == "image" and (module := load_canonical()) is not None:
            loop = module.make_loop(trainer.cfg, trainer.device, workers=2)
            variants["canonical loop"] = (lambda: next(loop), False)
        frozen = gan_module.frozen
        device = trainer.device
        compile_seconds = None
        for name, (fn, d_grads) in variants.items():
            start = time.perf_counter()
            for _ in range(warmup):
                fn()
            if name == "torch.compile":
                compile_seconds = time.perf_counter() - start
        cpu = {name: [] for name in variants}
        wall = {name: [] for name in variants}
        names = list(variants)
        for r in range(rounds):
            for name in (names if r % 2 == 0 else names[::-1]):
                fn, d_grads = variants[name]
                if d_grads:  # the trainer before the fast path built D's weight gradients in the G step too
                    gan_module.frozen = lambda module: contextlib.nullcontext()
                try:
                    _sync(device)
                    w, c = time.perf_counter(), time.thread_time()
                    for _ in range(steps):
                        fn()
                    _sync(device)
                    cpu[name].append((time.thread_time() - c) / steps)
                    wall[name].append((time.perf_counter() - w) / steps)
                finally:
                    gan_module.frozen = frozen
    finally:
        torch.set_num_threads(previous_threads)
    batch = cfg.train.batch_size or trainer.cfg.train.batch_size
    reference = statistics.median(cpu["canonical loop"]) if "canonical loop" in cpu else None
    rows = {}
    for name in variants:
        c, w = statistics.median(cpu[name]), statistics.median(wall[name])
        rows[name] = {"cpu_s_per_step": round(c, 4), "wall_s_per_step": round(w, 4),
                      "images_per_cpu_s": round(batch / c, 2),
                      "vs_canonical": round(reference / c, 3) if reference else None,
                      "rounds_cpu_s": [round(x, 4) for x in cpu[name]]}
    result = {"dataset": trainer.cfg.data.dataset, "img_size": trainer.cfg.model.img_size, "batch_size": batch,
              "device": str(device), "threads": threads or previous_threads, "steps": steps, "rounds": rounds,
              "variants": rows, "machine": machine()}
    if compile_seconds is not None:
        result["compile_warmup_seconds"] = round(compile_seconds, 1)
    return result


def format_ablation(result: dict) -> str:
    lines = [f"{result['dataset']} {result['img_size']}px batch {result['batch_size']} on {result['device']}, "
             f"{result['threads']} torch thread(s), {result['rounds']} rounds of {result['steps']} steps, "
             f"load average {result['machine']['load_average']}",
             f"{'variant':<24}{'CPU s/step':>11}{'wall s/step':>12}{'images/CPU-s':>14}{'vs canonical':>14}"]
    for name, row in result["variants"].items():
        ratio = f"{row['vs_canonical']:.2f}x" if row["vs_canonical"] else "-"
        lines.append(f"{name:<24}{row['cpu_s_per_step']:>11.3f}{row['wall_s_per_step']:>12.3f}"
                     f"{row['images_per_cpu_s']:>14.1f}{ratio:>14}")
    if "compile_warmup_seconds" in result:
        lines.append(f"torch.compile warm-up (compilation): {result['compile_warmup_seconds']} s")
    return "\n".join(lines)
