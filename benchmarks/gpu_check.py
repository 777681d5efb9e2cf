"""The checks of benchmarks/gpu_check.sh, one per call: each writes OUT/<check>.json (pass, figures, error) and exits 0 on pass.

    python3 benchmarks/gpu_check.py CHECK --device cuda|cpu --out DIR [--nproc N]
    python3 benchmarks/gpu_check.py summary --out DIR      # merge the checks into DIR/summary.json and print a table

--device cpu runs the same checks with tiny models and few steps (gloo instead of NCCL), so the script
can be tried on a machine without a GPU. Imports nothing that needs gradio or a network.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import subprocess
import sys
import time
import traceback
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

# Per device: the sizes that keep the whole script under 5 minutes on one GPU, or about a minute on a CPU.
SIZES = {
    "cuda": dict(model=["--ngf", "64", "--ndf", "64"], bench_steps=50, bench_warmup=10, train_steps=300, torchrun_steps=100, engine_steps=40,
                 step_repeats=10, vae_steps=50, bench_batches=(64, 512, 2048), pool_runs=100, pool_steps=300,
                 image_pool_runs=16, image_pool_steps=50),
    "cpu": dict(model=["--img-size", "16", "--ngf", "8", "--ndf", "8", "--z-dim", "16"], bench_steps=3, bench_warmup=1,
                train_steps=6, torchrun_steps=4, engine_steps=6, step_repeats=2, vae_steps=3, bench_batches=(64, 512),
                pool_runs=4, pool_steps=20, image_pool_runs=4, image_pool_steps=4),
}
BENCH_GOAL_RATIO = 3.0  # issue 10: >= 3x the canonical loop at batch 64
PEAK_GOAL = 0.40  # issue 10: aim for 40% of the bf16 peak at batch 512 and 2048


def _sub(args: list[str], timeout: float, env: dict | None = None) -> subprocess.CompletedProcess:
    """A python3 subprocess in the repository root; raises on a non-zero exit with the end of its stderr."""
    full_env = dict(os.environ, PYTHONPATH=str(ROOT), **(env or {}))
    proc = subprocess.run([sys.executable, *args], cwd=ROOT, env=full_env, capture_output=True, text=True,
                          timeout=timeout)
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(args[:6])} ... exited {proc.returncode}: {proc.stderr.strip()[-1500:]}")
    return proc


def _model_cfg(device: str, **train):
    from gan_demo.core.config import DataConfig, ModelConfig, RunConfig, TrainConfig

    if device == "cpu":
        return RunConfig(data=DataConfig(dataset="digits", img_size=16), model=ModelConfig(ngf=8, ndf=8, z_dim=16),
                         train=TrainConfig(device=device, **train))
    return RunConfig(data=DataConfig(dataset="digits"), model=ModelConfig(ngf=64, ndf=64),  # the canonical DCGAN's size
                     train=TrainConfig(device=device, **train))


def _sync(device: str) -> None:
    import torch

    if device.startswith("cuda"):
        torch.cuda.synchronize()


# ------------------------------------------------------------------ the checks
def check_env(a) -> dict:
    import torch

    out = {"torch": torch.__version__, "python": sys.version.split()[0], "cuda_available": torch.cuda.is_available(),
           "nccl_available": torch.distributed.is_nccl_available(), "gloo_available": torch.distributed.is_gloo_available()}
    if torch.cuda.is_available():
        out.update(gpu=torch.cuda.get_device_name(0), gpu_count=torch.cuda.device_count(),
                   capability=".".join(map(str, torch.cuda.get_device_capability(0))),
                   memory_gib=round(torch.cuda.get_device_properties(0).total_memory / 2**30, 1))
    if a.device == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("no CUDA GPU visible to torch (run with GPU_CHECK_DEVICE=cpu to try the script here)")
    return out


def _bench(a, batch: int, canonical: bool, compile: bool = False) -> dict:
    s = SIZES[a.device]
    args = ["-m", "gan_demo", "bench", "--dataset", "digits", "--batch-size", str(batch), "--device", a.device,
            "--steps", str(s["bench_steps"]), "--warmup", str(s["bench_warmup"]), "--rounds", "3" if a.device == "cuda" else "1",
            "--json", *s["model"]]
    if not canonical:
        args.append("--no-canonical")
    if compile:
        args.append("--compile")
    if a.device == "cpu":
        args += ["--workers", "0"]
    r = json.loads(_sub(args, timeout=240).stdout)
    out = {k: r.get(k) for k in ("batch_size", "precision", "steps_per_s", "images_per_s", "gflop_per_s",
                                 "share_of_peak", "peak_tflops_bf16", "device_name", "ratio", "ratio_cpu_time",
                                 "round_ratios", "compile_seconds", "flops_per_step", "notes")}
    if r.get("canonical"):
        out["canonical_images_per_s"] = r["canonical"]["images_per_s"]
    if not (r["images_per_s"] > 0 and math.isfinite(r["images_per_s"])):
        raise RuntimeError(f"bench reported {r['images_per_s']} images/s")
    if batch == 64 and out.get("ratio") is not None:
        out["goal_ratio_3x_met"] = out["ratio"] >= BENCH_GOAL_RATIO
    if batch >= 512 and out.get("share_of_peak") is not None:
        out["goal_peak_40_percent_met"] = out["share_of_peak"] >= PEAK_GOAL
    return out


def check_bench_64(a):
    return _bench(a, 64, canonical=True)


def check_bench_512(a):
    return _bench(a, 512, canonical=True)


def check_bench_2048(a):
    if 2048 not in SIZES[a.device]["bench_batches"]:
        return {"skipped": "batch 2048 is timed on CUDA only"}
    return _bench(a, 2048, canonical=False)  # the canonical loop's DataLoader cannot fill 2048 from digits' 1,437


def check_bench_512_compile(a):
    if a.device != "cuda":
        return {"skipped": "torch.compile is timed on CUDA only (minutes of compiling on a CPU)"}
    return _bench(a, 512, canonical=False, compile=True)


def check_train_sample(a) -> dict:
    import numpy as np

    s = SIZES[a.device]
    run = Path(a.out) / "digits_run"
    start = time.perf_counter()
    proc = _sub(["-m", "gan_demo", "train", "--dataset", "digits", "--steps", str(s["train_steps"]), "--device", a.device,
                 "--save-every", "0", "--quiet", "--out", str(run), *s["model"]], timeout=240)
    wall = time.perf_counter() - start
    summary = json.loads(proc.stdout.strip().splitlines()[-1])
    npy, png = Path(a.out) / "digits_samples.npy", Path(a.out) / "digits_samples.png"
    _sub(["-m", "gan_demo", "sample", "--checkpoint", str(run), "--n", "64", "--seed", "1", "--device", a.device,
          "--out", str(npy), "--grid", str(png)], timeout=120)
    x = np.load(npy)
    if not (x.shape[0] == 64 and x.ndim == 4 and np.isfinite(x).all() and 0 <= x.min() and x.max() <= 1):
        raise RuntimeError(f"sample wrote {x.shape} with range [{x.min()}, {x.max()}]")
    precision = next((line for line in proc.stderr.splitlines() if line.startswith("training ")), "")
    return {"state": summary["state"], "steps": summary["step"], "train_seconds": summary["seconds"],
            "steps_per_s": round(summary["step"] / max(summary["seconds"], 1e-9), 2), "wall_seconds": round(wall, 1),
            "sample_shape": list(x.shape), "training_line": precision}


def check_engine(a) -> dict:
    """The objects the app drives, on the device: Trainer run loop with pause / resume / stop, Sampler
    (seed, slider directions, interpolation) live and from the saved checkpoint."""
    import torch

    from gan_demo.explore.sampler import Sampler
    from gan_demo.training.trainer import Trainer

    s = SIZES[a.device]
    tr = Trainer(_model_cfg(a.device, steps=10**6), device=a.device)
    tr.start()

    def wait_for(cond, what: str, limit: float = 120.0):
        deadline = time.monotonic() + limit
        while not cond():
            if time.monotonic() > deadline or not tr.running:
                tr.stop()
                raise RuntimeError(f"{what}: step {tr.step}, state {tr.state}, {tr.message}")
            time.sleep(0.01)

    wait_for(lambda: tr.step >= s["engine_steps"], "never reached the first steps")
    tr.pause()
    time.sleep(0.5)  # the step in flight ends, then nothing moves
    paused_at = tr.step
    time.sleep(0.5)
    if tr.step != paused_at or tr.state != "paused":
        raise RuntimeError(f"pause: step moved {paused_at} -> {tr.step}, state {tr.state}")
    tr.resume()
    wait_for(lambda: tr.step >= paused_at + s["engine_steps"], "did not resume")
    tr.stop()
    tr.join(60)
    snap = tr.snapshot()
    if tr.running or snap["state"] != "stopped" or not all(map(math.isfinite, snap["history"]["loss_d"])):
        raise RuntimeError(f"stop: running {tr.running}, state {snap['state']}")

    live = Sampler.from_trainer(tr)
    times = []
    for seed in range(12):
        _sync(a.device)
        t0 = time.perf_counter()
        image, score = live.from_seed(seed)
        times.append(time.perf_counter() - t0)
    directions, ratios = live.directions(k=8, n=500)
    frames = live.interpolation(torch.randn(live.z_dim), torch.randn(live.z_dim), frames=16)
    path = tr.save(Path(a.out) / "engine_run")
    saved = Sampler.from_checkpoint(path, a.device)
    z = torch.randn(4, live.z_dim, generator=torch.Generator().manual_seed(0))
    same = float((saved.generate(z) - live.generate(z)).abs().max())
    if same > 1e-4 or not torch.isfinite(frames).all() or frames.shape[0] != 16 or directions.shape[0] != 8:
        raise RuntimeError(f"sampler: checkpoint differs by {same}, frames {tuple(frames.shape)}")
    if "gradio" in sys.modules:
        raise RuntimeError("the engine imported gradio")
    return {"steps": snap["step"], "paused_at": paused_at, "steps_per_s": round(snap["steps_per_s"], 2),
            "precision": snap["precision"], "device": snap["device"],
            "slider_ms_median": round(1e3 * statistics.median(times[2:]), 2),
            "direction_variance_ratios": [round(float(r), 4) for r in ratios[:3]],
            "checkpoint_vs_live_max_diff": same, "score": round(float(score), 4)}


def check_torchrun(a) -> dict:
    s = SIZES[a.device]
    run = Path(a.out) / "torchrun_run"
    start = time.perf_counter()
    proc = _sub(["-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={a.nproc}", "-m", "gan_demo", "train",
                 "--dataset", "digits", "--steps", str(s["torchrun_steps"]), "--device", a.device, "--save-every", "0",
                 "--quiet", "--out", str(run), *s["model"]], timeout=240, env={"OMP_NUM_THREADS": "1"})
    wall = time.perf_counter() - start
    summary = json.loads(proc.stdout.strip().splitlines()[-1])
    config = json.loads((run / "config.json").read_text())
    backend = "nccl" if a.device == "cuda" else "gloo"
    line = next((x for x in proc.stderr.splitlines() if x.startswith("training ")), "")
    if f"({backend}," not in line or config["train"]["world_size"] != a.nproc or summary["state"] != "finished":
        raise RuntimeError(f"expected {a.nproc} {backend} process(es): {line!r}, world_size {config['train']['world_size']}")
    return {"backend": backend, "processes": a.nproc, "steps": summary["step"], "train_seconds": summary["seconds"],
            "steps_per_s": round(summary["step"] / max(summary["seconds"], 1e-9), 2), "wall_seconds": round(wall, 1),
            "training_line": line}


def check_gan_step(a) -> dict:
    """Every loss on images (and conditional), and the 2D lab's single steps, on the device: finite numbers, ms per step."""
    import torch

    from gan_demo.core.config import LOSSES, DataConfig, ModelConfig, RunConfig, TrainConfig
    from gan_demo.training.trainer import Trainer

    s = SIZES[a.device]
    out = {}
    for loss in LOSSES:
        for conditional in (False, True):
            cfg = _model_cfg(a.device, loss=loss, n_critic=2 if loss == "wgan-gp" else 1, batch_size=64)
            cfg.model.conditional = conditional
            tr = Trainer(cfg, device=a.device)
            tr.step_once()  # warm-up (kernel selection)
            _sync(a.device)
            t0 = time.perf_counter()
            records = [tr.step_once() for _ in range(s["step_repeats"])]
            _sync(a.device)
            if not all(r.finite() for r in records):
                raise RuntimeError(f"{loss} (conditional={conditional}): {records[-1]}")
            out[f"{loss}{'_conditional' if conditional else ''}_ms"] = round(1e3 * (time.perf_counter() - t0) / len(records), 2)
        out["precision"] = tr.precision
    lab = Trainer(RunConfig(data=DataConfig(dataset="ring8"), model=ModelConfig(width=64, depth=2),
                            train=TrainConfig(device=a.device)), device=a.device)
    d, g = lab.run_phase("d"), lab.run_phase("g")
    if not all(math.isfinite(v) for v in (*d.values(), *g.values())) or lab.step != 1:
        raise RuntimeError(f"2D lab steps: {d} {g}")
    points = lab.sample_fixed()
    if not torch.isfinite(points).all():
        raise RuntimeError("2D samples not finite")
    out["lab_d_then_g_step"] = "ok"
    return out


def check_vae_step(a) -> dict:
    import importlib.util

    if importlib.util.find_spec("gan_demo.families") is None or importlib.util.find_spec("gan_demo.families.vae") is None:
        return {"skipped": "gan_demo/families/vae.py is not in this checkout"}
    import torch

    from gan_demo.core.config import DataConfig, ModelConfig, RunConfig
    from gan_demo.data.datasets import load_dataset
    from gan_demo.families import FAMILIES
    from gan_demo.families.vae import fit_to

    s = SIZES[a.device]
    VAE = FAMILIES["vae"]
    data = DataConfig(dataset="digits", img_size=16 if a.device == "cpu" else 32)
    ds = load_dataset(data, a.device)
    small = dict(ngf=8, ndf=8, z_dim=8) if a.device == "cpu" else {}
    vae = VAE(fit_to(RunConfig(family="vae", data=data, model=ModelConfig(conditional=True, **small)), ds), a.device)
    gen = torch.Generator(device=a.device).manual_seed(0)
    vae.train_step(ds.sample(64, gen))
    _sync(a.device)
    t0 = time.perf_counter()
    rows = [vae.train_step(ds.sample(64, gen)) for _ in range(s["vae_steps"])]
    _sync(a.device)
    ms = 1e3 * (time.perf_counter() - t0) / len(rows)
    last = {k: float(v) for k, v in rows[-1].items()}
    images = vae.decode(torch.randn(10, vae.z_dim, device=a.device), torch.arange(10, device=a.device))
    if not (all(math.isfinite(v) for v in last.values()) and torch.isfinite(images).all()):
        raise RuntimeError(f"VAE step not finite: {last}")
    return {"ms_per_step": round(ms, 2), "last": {k: round(v, 4) for k, v in last.items()},
            "decoded_shape": list(images.shape)}


def check_pool(a) -> dict:
    """ring8 at its defaults on the device: one solo run's steps/s, then pool_runs runs stacked in one RunPool
    (gan_demo.training.pool): steps/s each and in all, against the solo run (image runs: check_pool_images)."""
    from gan_demo.core.config import DataConfig, RunConfig, TrainConfig
    from gan_demo.training.pool import RunPool, pool_key
    from gan_demo.training.trainer import Trainer

    s = SIZES[a.device]
    steps, runs = s["pool_steps"], s["pool_runs"]

    def ring8(seed):
        return RunConfig(data=DataConfig(dataset="ring8"), train=TrainConfig(seed=seed, steps=steps, device=a.device))

    solo = Trainer(ring8(0), device=a.device)
    t0 = time.perf_counter()
    if solo.run(steps) != "finished":
        raise RuntimeError(f"solo run: {solo.state} {solo.message}")
    solo_rate = steps / (time.perf_counter() - t0)
    trainers = [Trainer(ring8(seed), device=a.device) for seed in range(runs)]
    pool = RunPool(pool_key(trainers[0]))
    t0 = time.perf_counter()
    for tr in trainers:
        pool.add(tr, steps)
    for tr in trainers:
        tr.join(600)
    seconds = time.perf_counter() - t0
    states = {tr.state for tr in trainers}
    if states != {"finished"}:
        raise RuntimeError(f"pooled runs ended {states}")
    each = steps / seconds
    return {"runs": runs, "steps": steps, "solo_steps_per_s": round(solo_rate, 1), "pooled_steps_per_s_each": round(each, 1),
            "pooled_steps_per_s_total": round(each * runs, 1), "total_vs_solo": round(each * runs / solo_rate, 2)}


def check_pool_images(a) -> dict:
    """Digits DCGANs on the device (the digits defaults on CUDA, the small CPU model elsewhere), fp32 as pooled runs train
    (bf16 autocast runs train alone): one solo run in fp32 and one with the solo run's own autocast, then
    image_pool_runs fp32 runs stacked in one RunPool (gan_demo.training.stacked_conv): steps/s each and in all."""
    from gan_demo.training.pool import RunPool, pool_key, why_not_poolable
    from gan_demo.training.trainer import Trainer

    s = SIZES[a.device]
    steps, runs, warmup = s["image_pool_steps"], s["image_pool_runs"], 3

    def digits(**train):  # the digits defaults (ngf = ndf = 32, 32 px) on CUDA
        if a.device == "cpu":
            return _model_cfg(a.device, **train)
        from gan_demo.core.config import DataConfig, RunConfig, TrainConfig

        return RunConfig(data=DataConfig(dataset="digits"), train=TrainConfig(device=a.device, **train))

    def timed_solo(amp: bool) -> tuple[float, str]:
        tr = Trainer(digits(seed=0, steps=warmup + steps, amp=amp), device=a.device)
        tr.run(warmup)
        _sync(a.device)
        t0 = time.perf_counter()
        if tr.run(warmup + steps) != "finished":
            raise RuntimeError(f"solo run: {tr.state} {tr.message}")
        _sync(a.device)
        return steps / (time.perf_counter() - t0), tr.precision

    solo_fp32, _ = timed_solo(False)
    solo_own, precision = timed_solo(True)
    if a.device == "cpu":  # the app trains image runs alone on a CPU (no faster pooled); this checks the mechanism
        from gan_demo.training import stacked_conv

        stacked_conv.POOL_DEVICES = (*stacked_conv.POOL_DEVICES, "cpu")
    trainers = [Trainer(digits(seed=seed, steps=warmup + steps, amp=False), device=a.device) for seed in range(runs)]
    if why_not_poolable(trainers[0]):
        raise RuntimeError(f"digits runs do not pool: {why_not_poolable(trainers[0])}")
    pool = RunPool(pool_key(trainers[0]))
    for target in (warmup, warmup + steps):  # the first pass warms the kernels up; the second is timed
        _sync(a.device)
        t0 = time.perf_counter()
        for tr in trainers:
            pool.add(tr, target)
        for tr in trainers:
            tr.join(600)
        states = {tr.state for tr in trainers}
        if states != {"finished"}:
            raise RuntimeError(f"pooled runs ended {states}: {[tr.message for tr in trainers if tr.message][:2]}")
    each = steps / (time.perf_counter() - t0)
    return {"runs": runs, "steps": steps, "img_size": trainers[0].cfg.model.img_size, "ngf": trainers[0].cfg.model.ngf,
            "solo_fp32_steps_per_s": round(solo_fp32, 2), "solo_steps_per_s": round(solo_own, 2),
            "solo_precision": precision, "pooled_steps_per_s_each": round(each, 2),
            "pooled_steps_per_s_total": round(each * runs, 2), "total_vs_solo": round(each * runs / solo_own, 2),
            "total_vs_solo_fp32": round(each * runs / solo_fp32, 2)}


CHECKS = {
    "env": check_env, "bench_64": check_bench_64, "bench_512": check_bench_512, "bench_2048": check_bench_2048,
    "bench_512_compile": check_bench_512_compile, "train_sample": check_train_sample, "engine": check_engine,
    "torchrun": check_torchrun, "gan_step": check_gan_step, "vae_step": check_vae_step, "pool": check_pool,
    "pool_images": check_pool_images,
}


def run_check(a) -> int:
    start = time.perf_counter()
    result = {"check": a.check, "device": a.device}
    try:
        result.update(CHECKS[a.check](a))
        result["pass"] = True
    except Exception as exc:
        result.update({"pass": False, "error": f"{type(exc).__name__}: {exc}"[-3000:],
                       "traceback": traceback.format_exc()[-3000:]})
    result["seconds"] = round(time.perf_counter() - start, 1)
    (Path(a.out) / f"{a.check}.json").write_text(json.dumps(result, indent=2) + "\n")
    return 0 if result["pass"] else 1


def summary(a) -> int:
    """Merge OUT/<check>.json into OUT/summary.json; print one line per check."""
    out = Path(a.out)
    checks = {}
    for name in CHECKS:
        path = out / f"{name}.json"
        checks[name] = (json.loads(path.read_text()) if path.exists()
                        else {"check": name, "pass": False, "error": "no result (killed by its timeout?)"})
    passed = [n for n, c in checks.items() if c.get("pass")]
    total = {"device": a.device, "passed": len(passed), "failed": len(checks) - len(passed),
             "skipped": [n for n, c in checks.items() if c.get("skipped")], "checks": checks}
    (out / "summary.json").write_text(json.dumps(total, indent=2) + "\n")
    keys = ("images_per_s", "canonical_images_per_s", "ratio", "share_of_peak", "steps_per_s", "backend",
            "slider_ms_median", "ms_per_step", "compile_seconds", "skipped", "error")
    for name, c in checks.items():
        figures = ", ".join(f"{k} {c[k]}" for k in keys if c.get(k) is not None)
        print(f"{'PASS' if c.get('pass') else 'FAIL'}  {name:18s} {c.get('seconds', '-'):>6}s  {figures[:300]}")
    print(f"{len(passed)}/{len(checks)} checks passed; details in {out / 'summary.json'}")
    return 0 if len(passed) == len(checks) else 1


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("check", choices=[*CHECKS, "summary"])
    parser.add_argument("--device", default="cuda", choices=("cuda", "cpu"))
    parser.add_argument("--out", default=str(ROOT / "runs" / "gpu_check"))
    parser.add_argument("--nproc", type=int, default=1, help="torchrun processes of the torchrun check (default 1)")
    a = parser.parse_args(argv)
    Path(a.out).mkdir(parents=True, exist_ok=True)
    return summary(a) if a.check == "summary" else run_check(a)


if __name__ == "__main__":
    sys.exit(main())
