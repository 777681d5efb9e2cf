"""Command line: python -m gan_demo train|sample|eval|bench."""
from __future__ import annotations

import argparse
import contextlib
import json
import signal
import sys
import threading
import time
from dataclasses import fields
from pathlib import Path

from gan_demo.core.config import (CHOICES, FAMILY_SPECS, LAUNCH_ONLY, RESOLVED_ONLY, ConfigError, DataConfig, ModelConfig,
                     RunConfig, TrainConfig, field_docs, field_type)

EXIT_USAGE = 2


class Parser(argparse.ArgumentParser):
    """argparse that reports a bad value in one line (and exit code 2), without the usage block."""

    def error(self, message):
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message}\n")


def fail(message: str, code: int = EXIT_USAGE):
    print(f"gan_demo: error: {message}", file=sys.stderr)
    sys.exit(code)


# --------------------------------------------------------------------------- flags from config
SHARED_SECTIONS = {"DataConfig": "data", "ModelConfig": "model", "TrainConfig": "train"}
FLAG_TYPES = {"int": int, "float": float, "str": str}  # a field's annotation ("float | None") -> the flag's type


def sections() -> dict[str, str]:
    """{config class name: its section in RunConfig} (the flags' dest is "TrainConfig.lr_g", "VAESettings.beta"):
    the shared sections and every registered family's own."""
    return {**SHARED_SECTIONS, **{spec.settings.__name__: name for name, spec in FAMILY_SPECS.items() if spec.settings}}


def add_config_flags(parser: argparse.ArgumentParser) -> None:
    """One flag per config field (--lr-g for TrainConfig.lr_g), help from the field's comment."""
    parser.add_argument("--family", dest="RunConfig.family", default=None, choices=tuple(FAMILY_SPECS),
                        help=f"{field_docs(RunConfig)['family']} (default: gan)")
    own = [(spec.settings, f"{name.upper()} (--family {name})") for name, spec in FAMILY_SPECS.items() if spec.settings]
    for klass, title in ((DataConfig, "data"), (ModelConfig, "model"), (TrainConfig, "training"), *own):
        group = parser.add_argument_group(title)
        docs = field_docs(klass)
        for f in fields(klass):
            if (klass is ModelConfig and f.name in RESOLVED_ONLY) or (klass is TrainConfig and f.name in LAUNCH_ONLY):
                continue
            default = klass().__getattribute__(f.name)
            flag = "--" + f.name.replace("_", "-")
            kwargs = dict(dest=f"{klass.__name__}.{f.name}", default=None, help=f"{docs.get(f.name, '')} (default: {'auto' if default is None else default})")
            if field_type(klass, f.name) is bool:  # --amp / --no-amp; an auto bool is left out
                kwargs["action"] = argparse.BooleanOptionalAction
            else:
                kwargs["type"] = field_type(klass, f.name)
                kwargs["metavar"] = f.name.upper()
                if f.name in CHOICES:
                    kwargs["choices"] = CHOICES[f.name]
                    kwargs["metavar"] = "{" + ",".join(map(str, CHOICES[f.name])) + "}"
            if f.name == "dataset":
                kwargs["help"] = ("ring8, grid25, spiral, moons, digits, stacked-digits, mnist, fashion-mnist, cifar10, celeba, "
                                  "or a path: a .csv of x,y points, a folder or a .zip of images (default: ring8); "
                                  "folders and zips are decoded once and cached in --data-dir")
            group.add_argument(flag, **kwargs)


def config_from_args(args, base: RunConfig | None = None) -> RunConfig:
    cfg = base or RunConfig()
    for key, value in vars(args).items():
        if "." not in key or value is None:
            continue
        section_name, name = key.split(".")
        section = cfg if section_name == "RunConfig" else getattr(cfg, sections()[section_name])
        setattr(section, name, value)
    if getattr(args, "schedule", None):
        cfg.schedule = read_schedule(args.schedule)
    cfg.validate()
    return cfg


def read_schedule(text: str) -> list:
    """--schedule: a JSON list, or the path of a file holding one (or a run's config.json: its "schedule")."""
    source = text.strip()
    if not source.startswith("["):
        try:
            source = Path(text).read_text(encoding="utf-8")
        except OSError as exc:
            raise ConfigError(f"schedule: {text!r} is neither a JSON list nor a readable file ({exc.strerror})") from None
    try:
        value = json.loads(source)
    except json.JSONDecodeError as exc:
        raise ConfigError(f"schedule: not valid JSON ({exc.msg})") from None
    if isinstance(value, dict) and "schedule" in value:
        value = value["schedule"]
    if not isinstance(value, list):
        raise ConfigError("schedule: must be a JSON list of changes such as [{\"step\": 500, \"lr_d\": 0.01}]")
    return value


# --------------------------------------------------------------------------- train
def local_dataset(data_cfg: DataConfig, device: str):
    """The dataset of a command-line run: its paths are the user's own (trusted: large folders and zips,
    decoded by worker processes, cached in --data-dir); the web app loads uploads with the small limits."""
    from gan_demo.data.datasets import load_dataset
    from gan_demo.training.trainer import resolve_device

    return load_dataset(data_cfg, resolve_device(device), trusted=True)


def cmd_train(args) -> int:
    import torch  # noqa: F401  (imported late so --help stays fast)

    from gan_demo.core import distributed

    dist = distributed.from_environ()  # torchrun's RANK / LOCAL_RANK / WORLD_SIZE; SINGLE for a plain run
    if args.timeline_every < 0:
        fail(f"--timeline-every: must be 0 (none) or a number of steps (got {args.timeline_every})")
    if args.seeds is not None:
        if dist.active or args.resume:
            fail("--seeds trains a sweep in one process from scratch (not under torchrun, not with --resume)")
        return _train_seeds(args)
    if not dist.active:
        return _train(args, dist, device=None)
    device = distributed.device_for(dist, getattr(args, "TrainConfig.device") or "auto")
    distributed.init(dist, device)
    try:
        code = _train(args, dist, device)
    except ConfigError:  # the same flags fail the same way on every rank: rank 0 alone says so
        distributed.shutdown(dist, wait=False)
        if dist.master:
            raise
        raise distributed.MasterError("config") from None
    except BaseException:
        distributed.shutdown(dist, wait=False)
        raise
    distributed.shutdown(dist)
    return code


MAX_SEEDS = 256  # --seeds: runs one sweep may train at once


def parse_seeds(text: str) -> list[int]:
    """--seeds: "0-15", "3,5,8" or a mix ("0-3,10"); each seed once, in order; at most MAX_SEEDS."""
    seeds: list[int] = []
    for part in text.split(","):
        lo, dash, hi = part.strip().partition("-")
        if not lo.isdigit() or (dash and not hi.isdigit()):
            fail(f"--seeds: {part.strip()!r} is not a seed or a range like 0-15")
        lo, hi = int(lo), int(hi) if dash else int(lo)
        if hi < lo:
            fail(f"--seeds: the range {part.strip()!r} runs backwards")
        if len(seeds) + hi - lo + 1 > MAX_SEEDS:
            fail(f"--seeds: at most {MAX_SEEDS} seeds in one sweep")
        seeds.extend(range(lo, hi + 1))
    return list(dict.fromkeys(seeds))


def _train_seeds(args) -> int:
    """train --seeds: one run per seed, trained together in pools (gan_demo.training.pool: a pool per core), each
    saved as a normal run folder OUT/seed-N, and a summary of each seed's final quality (printed and in OUT/summary.json)."""
    from concurrent.futures import ThreadPoolExecutor

    import torch

    from gan_demo.training.pool import RunPools
    from gan_demo.evaluation.live_quality import live_quality
    from gan_demo.training.trainer import Trainer

    seeds = parse_seeds(args.seeds)
    out = Path(args.out or f"runs/{Path(getattr(args, 'DataConfig.dataset') or 'ring8').stem}-seeds")
    base = config_from_args(args)
    dataset = local_dataset(base.data, base.train.device)  # one copy: each run samples it with its own generator
    trainers = []
    for seed in seeds:
        cfg = RunConfig.from_dict(base.to_dict())
        cfg.schedule = [dict(entry) for entry in base.schedule]
        cfg.train.seed = seed
        trainers.append(Trainer(cfg, dataset=dataset, live_quality=live_quality))
    first = trainers[0]
    total = first.cfg.train.steps
    say = lambda text: print(text, file=sys.stderr)  # noqa: E731
    say(f"training {len(seeds)} seeds of {base.data.dataset} ({first.cfg.model.arch}, {first.cfg.train.loss}) "
        f"on {first.device} for {total} steps each -> {out}/seed-N")

    bar = None
    if not args.quiet:
        from tqdm import tqdm

        bar = tqdm(total=total * len(seeds), unit="step", dynamic_ncols=True, file=sys.stderr)
    bar_lock = threading.Lock()

    def on_step(tr, rec):
        if bar is not None:
            with bar_lock:
                bar.update(1)
        if args.save_every and rec.step % args.save_every == 0:
            tr.save(out / f"seed-{tr.cfg.train.seed}")
            _save_timeline(recorders.get(id(tr)), tr, out / f"seed-{tr.cfg.train.seed}", final=False)

    recorders = {id(tr): _timeline_recorder(args, tr) for tr in trainers}
    pools = RunPools()
    previous = signal.signal(signal.SIGINT, lambda *_: [tr.stop() for tr in trainers])
    start = time.perf_counter()
    try:
        for tr in trainers:
            tr.add_callback(on_step)
        pools.start_all(trainers, total)  # each pool's runs from one step: lockstep (the fused Adam's case)
        for tr in trainers:
            tr.join()
    finally:
        signal.signal(signal.SIGINT, previous)
        if bar is not None:
            bar.close()
    elapsed = time.perf_counter() - start
    if first.pool_note:
        say(f"these runs trained side by side, not pooled: {first.pool_note}")
    # Each seed saved and measured, on as many threads as torch has (saving, PNG encoding and the measures
    # release the GIL): 16 ring8 seeds' summaries took ~14 s one after another.
    with ThreadPoolExecutor(max_workers=max(1, min(len(trainers), torch.get_num_threads()))) as summaries:
        runs = list(summaries.map(lambda tr: _seed_summary(tr, out / f"seed-{tr.cfg.train.seed}",
                                                           recorders.get(id(tr))), trainers))
    summary = {"seeds": len(seeds), "steps": total, "seconds": round(elapsed, 1),
               "pooled": first.pool_note is None, "runs": runs}
    if runs and runs[0].get("n_modes"):
        summary["seeds_with_all_modes"] = sum(r["modes_covered"] == r["n_modes"] for r in runs)
    out.mkdir(parents=True, exist_ok=True)
    (out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    print(json.dumps(summary))
    return 1 if any(r["state"] in ("diverged", "failed") for r in runs) else 0


def _seed_summary(trainer, run_dir: Path, recorder=None) -> dict:
    """One seed's line of a sweep's summary: its state and final quality; its run folder saved."""
    from gan_demo.evaluation.metrics import grid_divergence

    path = trainer.save(run_dir)
    _write_preview(trainer, path / "samples.png")
    _save_timeline(recorder, trainer, path)
    line = {"seed": trainer.cfg.train.seed, "state": trainer.state, "step": trainer.step, "checkpoint": str(path)}
    if trainer.message:
        line["message"] = trainer.message
    if trainer.kind == "2d":
        from gan_demo.explore.latent import z_from_seed

        samples = trainer.generate(z_from_seed(12345, trainer.cfg.model.z_dim, 2500))
        line["grid_kl"] = grid_divergence(trainer.dataset.x[:2048].float().cpu(), samples)["kl"]
        if trainer.dataset.modes is not None:
            line.update(_mode_summary(trainer))
    return line


def _train(args, dist, device) -> int:
    """The train command in one process, or in one of torchrun's (only the master prints and saves)."""
    from gan_demo.core import distributed
    from gan_demo.training.checkpoint import is_checkpoint
    from gan_demo.evaluation.live_quality import live_quality
    from gan_demo.training.trainer import Trainer

    master = dist.master
    say = (lambda text: print(text, file=sys.stderr)) if master else (lambda text: None)
    out = Path(args.out or f"runs/{Path(getattr(args, 'DataConfig.dataset') or 'ring8').stem}")
    budget = None
    if args.minutes is not None:
        from gan_demo.training.budget import TimeBudget

        if args.resume or getattr(args, "TrainConfig.steps"):
            raise ConfigError("minutes: give either --minutes or --steps, and not with --resume (a resumed run "
                              "keeps the steps its config.json names; --steps adds more)")
        budget = TimeBudget(args.minutes)
    if args.resume:
        if not distributed.from_master(lambda: is_checkpoint(out), dist):  # under torchrun rank 0 looks
            if not master:
                raise distributed.MasterError("no checkpoint")
            fail(f"--resume: {out} holds no checkpoint to resume")
        device = device or getattr(args, "TrainConfig.device") or "auto"
        saved = distributed.from_master(  # rank 0 reads; the folder need not be on every node
            lambda: RunConfig.from_dict(json.loads((out / "config.json").read_text(encoding="utf-8"))), dist)
        dataset = distributed.master_first(lambda: local_dataset(saved.data, device), dist)
        trainer = Trainer.from_checkpoint(out, device=device, dataset=dataset, dist=dist, live_quality=live_quality)
        if getattr(args, "TrainConfig.steps"):
            trainer.cfg.train.steps = getattr(args, "TrainConfig.steps")
        say(f"resuming {out} at step {trainer.step}")
    else:
        cfg = config_from_args(args)
        dataset = distributed.master_first(lambda: local_dataset(cfg.data, device or cfg.train.device), dist)
        trainer = Trainer(cfg, device=device, dataset=dataset, dist=dist, live_quality=live_quality)
    if trainer.dataset.note:
        say(trainer.dataset.note)
    cfg = trainer.cfg
    if budget is not None:
        budget.attach(trainer)  # placeholder steps until the speed of the first ones is known
    total = cfg.train.steps
    from gan_demo.families import FAMILIES

    family = FAMILIES[cfg.family]
    what = family.describe(cfg) if hasattr(family, "describe") else f"{cfg.family}, {cfg.model.arch}"
    length = f"{args.minutes:g} minutes (steps set from the speed of the first ones)" if budget else f"{total} steps"
    say(f"training {cfg.data.dataset} ({what}) on {trainer.device} "
        f"({trainer.precision}){_processes(trainer)} for {length} -> {out}")

    bar = None
    if not args.quiet and master:
        from tqdm import tqdm

        bar = tqdm(total=total, initial=trainer.step, unit="step", dynamic_ncols=True, file=sys.stderr)

    def on_step(tr, rec):
        if budget is not None and budget.decided and not getattr(on_step, "told", False):
            on_step.told = True
            say(f"\n{args.minutes:g} minutes at the speed of the first {tr.step} steps: {budget.steps} steps "
                f"(written to config.json; --steps {budget.steps} repeats the run)")
            if bar is not None:
                bar.total = budget.steps
                bar.refresh()
        if bar is not None:
            bar.update(1)
            if rec.step % 10 == 0:
                quality = ""
                if (q := tr.last_quality) is not None:  # 2D runs; stacked-digits (modes only)
                    modes = f"modes {q.modes_covered}/{q.n_modes} " if q.n_modes else ""
                    quality = f" {modes}JS {q.grid_js:.3f}" if q.grid_js is not None else f" {modes}KL {q.mode_kl:.2f}"
                bar.set_postfix_str(f"{_numbers(rec)}{quality}", refresh=False)
        if args.save_every and rec.step % args.save_every == 0 and master and (budget is None or budget.decided):
            tr.save(out)
            _save_timeline(recorder, tr, out, final=False)

    trainer.add_callback(on_step)
    recorder = _timeline_recorder(args, trainer, out) if master else None
    start = time.perf_counter()
    try:
        with _stop_on_signals(trainer):
            state = trainer.run(None if budget else total)
    finally:
        if bar is not None:
            bar.close()
    elapsed = time.perf_counter() - start
    if budget is not None:
        budget.finish(trainer)  # stopped before the speed was known: the steps it took
    if not master:
        return 1 if state == "diverged" else 0
    path = trainer.save(out)
    _write_preview(trainer, path / "samples.png")
    _save_timeline(recorder, trainer, path)
    summary = {"state": state, "step": trainer.step, "seconds": round(elapsed, 1), "checkpoint": str(path)}
    if budget is not None:
        summary["minutes"] = args.minutes
    if trainer.kind == "2d" and trainer.dataset.modes is not None:
        summary.update(_mode_summary(trainer))
    print(json.dumps(summary))
    if state == "diverged":
        print(f"gan_demo: {trainer.message}", file=sys.stderr)
        return 1
    return 0


def _numbers(rec) -> str:
    """A step's numbers for the progress bar: a GAN's losses and D's readings, or any family's series."""
    if "loss_d" in rec.values:
        return (f"loss_D {rec.loss_d:.3f} loss_G {rec.loss_g:.3f} "
                f"D(x) {rec.d_real:.2f} D(G(z)) {rec.d_fake:.2f}")
    return " ".join(f"{name} {value:.3g}" for name, value in rec.values.items())


def _processes(trainer) -> str:
    """' in 2 processes (gloo, batch 64 = 2 x 32)' under torchrun; '' for a plain run."""
    import torch

    dist, t = trainer.dist, trainer.cfg.train
    if not dist.active:
        return ""
    return (f" in {dist.world_size} process{'es' if dist.world_size > 1 else ''} ({torch.distributed.get_backend()}, "
            f"batch {t.batch_size} = {dist.world_size} x {trainer.batch_size}{', synced BatchNorm' if t.sync_bn else ''})")


@contextlib.contextmanager
def _stop_on_signals(trainer):
    """Ctrl-C stops cleanly (then the run is saved). Under torchrun also SIGTERM (what torchrun sends its
    workers when it is stopped): the ranks stop together at the next read-back, where the stop flags meet."""
    stop_signals = (signal.SIGINT, signal.SIGTERM) if trainer.dist.active else (signal.SIGINT,)
    previous = {sig: signal.getsignal(sig) for sig in stop_signals}
    for sig in stop_signals:
        signal.signal(sig, lambda *_: trainer.stop())
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _timeline_recorder(args, trainer, resumed_from: Path | None = None):
    """The recorder of --timeline-every (None for 0), registered on the trainer; a resumed run continues the
    frames its folder holds up to its step."""
    if not args.timeline_every:
        return None
    from gan_demo.render.timeline import Timeline, TimelineError, TimelineRecorder, progress_frame, read_timeline

    earlier = None
    if args.resume and resumed_from is not None:
        try:
            earlier = read_timeline(resumed_from)
        except TimelineError as e:
            print(f"gan_demo: the earlier timeline is not continued: {e}", file=sys.stderr)
        if earlier is not None:
            kept = [i for i, s in enumerate(earlier.steps) if s <= trainer.step]
            earlier = Timeline([earlier.steps[i] for i in kept], [earlier.frames[i] for i in kept])
    recorder = TimelineRecorder(args.timeline_every, timeline=earlier)
    if not recorder.timeline.steps:
        recorder.keep(trainer.step, progress_frame(trainer))  # the untrained start: noise
    trainer.add_callback(recorder)
    return recorder


def _save_timeline(recorder, trainer, run_dir: Path, final: bool = True) -> None:
    """The recorded frames into run_dir/timeline.png; the final save adds the run's last step (a periodic
    save, which the next one replaces, packs the file faster: save_timeline's fast)."""
    if recorder is None or not recorder.timeline.steps:
        return
    from gan_demo.render.timeline import save_timeline

    save_timeline(run_dir, recorder.finish(trainer) if final else recorder.timeline, fast=not final)


def _write_preview(trainer, path: Path) -> None:
    from gan_demo.render import viz

    samples = trainer.sample_fixed()
    if trainer.kind == "2d":
        real = trainer.dataset.x[:2000].cpu()
        image = viz.points_image(real, samples, viz.default_bounds(real))
    else:
        nrow = trainer.cfg.model.n_classes or 8
        image = viz.image_grid(samples, nrow=nrow, upscale=max(1, 64 // trainer.cfg.model.img_size))
    image.save(path)


def _mode_summary(trainer, n: int = 2500, seed: int = 12345) -> dict:
    from gan_demo.explore.latent import z_from_seed
    from gan_demo.evaluation.metrics import mode_metrics

    samples = trainer.generate(z_from_seed(seed, trainer.cfg.model.z_dim, n))
    m = mode_metrics(samples, trainer.dataset.modes, trainer.dataset.sigma)
    return {k: m[k] for k in ("modes_covered", "n_modes", "high_quality", "mode_kl")}


# --------------------------------------------------------------------------- sample
def cmd_sample(args) -> int:
    import numpy as np

    from gan_demo.explore.latent import z_from_seed
    from gan_demo.explore.sampler import Sampler
    from gan_demo.training.trainer import resolve_device

    sampler = Sampler.from_checkpoint(args.checkpoint, resolve_device(args.device))
    m = sampler.cfg.model
    if args.n < 1 or args.n > 100_000:
        fail(f"--n: must be between 1 and 100000 (got {args.n})")
    if args.label is not None and not m.n_classes:
        fail("--label: this checkpoint is not class-conditional")
    if args.label is not None and not 0 <= args.label < m.n_classes:
        fail(f"--label: must be between 0 and {m.n_classes - 1} (got {args.label})")
    # G_ema in eval mode; labels cycle 0..K-1 without --label; images come back in [0, 1]
    out = sampler.generate(z_from_seed(args.seed, m.z_dim, args.n), args.label, args.truncation)
    kind = sampler.kind
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    np.save(args.out, out.numpy().astype(np.float32))
    print(f"wrote {args.out}: {tuple(out.shape)} float32", file=sys.stderr)
    if args.grid:
        from gan_demo.render import viz

        if kind == "image":
            image = viz.image_grid(out[:256], nrow=m.n_classes if (m.n_classes and args.label is None) else 16,
                                   upscale=max(1, 64 // m.img_size))
        else:
            image = viz.points_image(None, out, viz.default_bounds(out))
        image.save(args.grid)
        print(f"wrote {args.grid}", file=sys.stderr)
    return 0


# --------------------------------------------------------------------------- project
def cmd_project(args) -> int:
    import torch

    from gan_demo.explore.projection import image_target, project
    from gan_demo.explore.sampler import Sampler
    from gan_demo.training.trainer import resolve_device

    sampler = Sampler.from_checkpoint(args.checkpoint, resolve_device(args.device))
    if (args.image is None) == (args.point is None):
        fail("give --image FILE (image generators) or --point X,Y (2D generators)")
    try:
        if args.image is not None:
            target = image_target(args.image, sampler)
        else:
            if sampler.kind != "2d":
                fail("--point: this generator makes images; give --image FILE")
            target = torch.tensor([[float(v) for v in args.point.split(",")]])
            if target.shape != (1, 2):
                raise ValueError("--point: two numbers, x,y")
    except (ValueError, OSError) as exc:
        fail(str(exc))
    if args.label is not None and not 0 <= args.label < sampler.n_classes:
        fail(f"--label: must be between 0 and {sampler.n_classes - 1} for this checkpoint" if sampler.n_classes
             else "--label: this checkpoint is not class-conditional")
    labels = None if args.label is None else torch.tensor([args.label])
    found = project(sampler, target, labels, steps=args.steps, lr=args.lr, feature_weight=args.feature_weight)
    result = {"checkpoint": str(args.checkpoint), "z": found.z[0].tolist(),
              "label": None if found.labels is None else int(found.labels[0]),
              "error": round(float(found.error[0]), 6), "steps": len(found.losses),
              "loss_first": found.losses[0] if found.losses else None,
              "loss_last": found.losses[-1] if found.losses else None}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=1) + "\n")
    what = "mean absolute pixel error" if sampler.kind == "image" else "distance"
    print(f"wrote {args.out}: z of {len(result['z'])} numbers, {what} {result['error']:.4f}", file=sys.stderr)
    if args.picture and sampler.kind == "image":
        from gan_demo.render import viz

        viz.image_grid(torch.cat([target, found.reconstruction]), nrow=2, upscale=max(1, 128 // sampler.cfg.model.img_size)).save(args.picture)
        print(f"wrote {args.picture}: the target beside its reconstruction", file=sys.stderr)
    return 0


# --------------------------------------------------------------------------- eval
def cmd_eval(args) -> int:
    from gan_demo.evaluation.evaluate import evaluate_checkpoint

    report = evaluate_checkpoint(args.checkpoint, n=args.n, seed=args.seed, device=args.device, data_dir=args.data_dir,
                                 trusted=True)
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        from gan_demo.evaluation.evaluate import format_report

        print(format_report(report))
    return 0


# --------------------------------------------------------------------------- bench
def cmd_bench(args) -> int:
    from gan_demo.evaluation.bench import DEFAULT_STEPS, format_bench, poll_overhead, run_bench

    # The bench is the DCGAN comparison unless told otherwise: digits at the config's default size.
    base = RunConfig(data=DataConfig(dataset="digits"))
    cfg = config_from_args(args, base)
    steps = getattr(args, "TrainConfig.steps") or DEFAULT_STEPS  # --steps: timed steps
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    if args.ablation:
        from gan_demo.evaluation.bench import ablation, format_ablation

        result = ablation(cfg, steps=getattr(args, "TrainConfig.steps") or 4, rounds=args.rounds, warmup=args.warmup,
                          threads=args.threads or 1, compile=args.compile, canonical=not args.no_canonical)
        print(json.dumps(result, indent=2) if args.json else format_ablation(result))
        return 0
    if args.poll_overhead:
        result = poll_overhead(cfg, steps=steps, interval=args.poll_interval, rounds=args.rounds, warmup=args.warmup)
        if args.json:
            print(json.dumps(result, indent=2))
        else:
            print(f"training {result['steps_per_s_without']:.3f} steps/s alone, {result['steps_per_s_with']:.3f} "
                  f"with a poll every {result['interval_s']} s ({result['poll_cpu_ms']} ms CPU each): "
                  f"{result['slowdown_percent']:+.1f}% slower by the clock, {result['cpu_estimate_percent']}% by CPU time "
                  f"of the polls, {result['process_cpu_percent']:+.1f}% CPU time of the whole process "
                  f"(load average {result['machine']['load_average']})")
        return 0
    result = run_bench(cfg, steps=steps, warmup=args.warmup, canonical=not args.no_canonical,
                       compile=args.compile, rounds=args.rounds, workers=args.workers)
    print(json.dumps(result, indent=2) if args.json else format_bench(result))
    return 0


# --------------------------------------------------------------------------- parser
def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The command line's parser. `command`: the subcommand about to be parsed, whose config flags alone are built
    (they come from the family registry, whose families import torch: `--help` and `sample` do without); None
    builds every subcommand's."""
    def config_flags(name: str, subparser: argparse.ArgumentParser) -> None:
        if command is None or command == name:
            add_config_flags(subparser)

    parser = Parser(prog="python -m gan_demo", description="Train and explore GANs from the command line.")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=Parser)

    train = sub.add_parser("train", help="train a GAN or a VAE and save a checkpoint folder",
                           description="Train a GAN (or with --family vae a VAE); every hyperparameter is a flag. "
                                       "Ctrl-C stops and saves.")
    train.add_argument("--out", default=None, help="run folder to write (default: runs/<dataset>)")
    train.add_argument("--resume", action="store_true", help="continue the run in --out (step count and optimizer state)")
    train.add_argument("--save-every", type=int, default=1000, metavar="N", help="save a checkpoint every N steps (0: only at the end; default 1000)")
    train.add_argument("--quiet", action="store_true", help="no progress bar")
    train.add_argument("--timeline-every", type=int, default=50, metavar="N",
                       help="keep the progress picture every N steps (at most 40, thinned evenly) in the run folder's "
                            "timeline.png, to scrub through later (0: none; default 50)")
    train.add_argument("--seeds", default=None, metavar="SEEDS",
                       help="a seed sweep: train one run per seed (0-15, or 1,4,9) together in pools (a pool per core), each saved "
                            "as OUT/seed-N, plus OUT/summary.json with each seed's final modes covered, "
                            "high-quality share and grid KL (replaces --seed)")
    train.add_argument("--minutes", type=float, default=None, metavar="N",
                       help="train for about N minutes instead of --steps: the steps are set from the speed of the "
                            "first steps (5%% of the time, at most 30 s) and written to config.json, so --steps repeats the run")
    train.add_argument("--schedule", default=None, metavar="JSON_OR_FILE",
                       help="settings to change while training, as a JSON list or a file holding one: "
                            "[{\"step\": 500, \"lr_d\": 0.01}, ...] (GAN: lr_g, lr_d, n_critic, loss, r1_gamma, "
                            "gp_weight; VAE: beta, lr_vae); the app records one when you change settings live")
    config_flags("train", train)
    train.set_defaults(func=cmd_train)

    sample = sub.add_parser("sample", help="draw samples from a checkpoint into a .npy file")
    sample.add_argument("--checkpoint", required=True, help="run folder (model.safetensors + config.json)")
    sample.add_argument("--n", type=int, default=64, help="number of samples (default 64)")
    sample.add_argument("--seed", type=int, default=0, help="noise seed; the same seed gives the same samples (default 0)")
    sample.add_argument("--out", required=True, help="output .npy: float32 (N, 2) points in data coordinates, or (N, C, H, W) images in [0, 1]")
    sample.add_argument("--grid", default=None, help="also write a PNG picture of the samples")
    sample.add_argument("--truncation", type=float, default=1.0, help="scale the noise by this factor (< 1: more typical samples; default 1)")
    sample.add_argument("--label", type=int, default=None, help="class to draw for a class-conditional model (default: cycle through all)")
    sample.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda", "mps"), help="device (default auto)")
    sample.set_defaults(func=cmd_sample)

    proj = sub.add_parser("project", help="find the latent z whose sample looks like your image (or point)")
    proj.add_argument("--checkpoint", required=True, help="run folder")
    proj.add_argument("--image", default=None, help="an image file (centre-cropped and resized to the model's size)")
    proj.add_argument("--point", default=None, help="X,Y: a point, for a 2D generator")
    proj.add_argument("--out", required=True, help="output JSON: z, label, error, steps")
    proj.add_argument("--picture", default=None, help="also write a PNG of the target beside its reconstruction")
    proj.add_argument("--label", type=int, default=None, help="the class, for a class-conditional model "
                                                               "(default: the best class is searched for)")
    proj.add_argument("--steps", type=int, default=300, help="Adam steps on z (default 300)")
    proj.add_argument("--lr", type=float, default=0.05, help="Adam learning rate on z (default 0.05)")
    proj.add_argument("--feature-weight", type=float, default=0.0,
                      help="weight of a loss on D's last hidden features beside the pixel loss (default 0)")
    proj.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda", "mps"), help="device (default auto)")
    proj.set_defaults(func=cmd_project)

    ev = sub.add_parser("eval", help="quality metrics of a checkpoint beside held-out real data")
    ev.add_argument("--checkpoint", required=True, help="run folder")
    ev.add_argument("--n", type=int, default=None, help="generated samples to score (default 2500; 26000 for stacked-digits)")
    ev.add_argument("--seed", type=int, default=12345, help="noise seed (default 12345)")
    ev.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda", "mps"), help="device (default auto)")
    ev.add_argument("--data-dir", default=None, help="where the datasets and the cached classifier are "
                                                      "(default: the checkpoint's data_dir)")
    ev.add_argument("--json", action="store_true", help="print JSON")
    ev.set_defaults(func=cmd_eval)

    bench = sub.add_parser("bench", help="time training steps, beside the canonical PyTorch DCGAN loop",
                           description="Time the project's training step (--steps timed steps after --warmup, "
                                       "default 50) beside the canonical pytorch/examples DCGAN loop on identical "
                                       "models. The dataset defaults to digits.")
    bench.add_argument("--warmup", type=int, default=5, help="untimed warm-up steps (default 5)")
    bench.add_argument("--rounds", type=int, default=3, help="alternating rounds the timed steps are split into (default 3)")
    bench.add_argument("--no-canonical", action="store_true", help="skip the canonical loop")
    bench.add_argument("--workers", type=int, default=2, help="DataLoader workers of the canonical loop (default 2, as the example)")
    bench.add_argument("--compile", action="store_true", help="torch.compile G and D (compile time reported apart)")
    bench.add_argument("--poll-overhead", action="store_true",
                       help="instead: how much a UI polling snapshot() and sample_fixed() slows training")
    bench.add_argument("--ablation", action="store_true",
                       help="instead: each fast-path change switched off, by CPU time on 1 thread (--steps per round, default 4)")
    bench.add_argument("--poll-interval", type=float, default=0.75, help="seconds between polls (default 0.75, the Train tab's)")
    bench.add_argument("--threads", type=int, default=0, help="torch threads (default: torch's own; 1 for --ablation)")
    bench.add_argument("--json", action="store_true", help="print JSON")
    config_flags("bench", bench)
    bench.set_defaults(func=cmd_bench)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    parser = build_parser(argv[0] if argv else "")
    args = parser.parse_args(argv)
    from gan_demo.training.checkpoint import CheckpointError
    from gan_demo.data.datasets import DataError
    from gan_demo.core.distributed import MasterError

    try:
        return args.func(args)
    except MasterError:  # under torchrun: rank 0 failed at something it did for all, and said why
        sys.exit(EXIT_USAGE)
    except (ConfigError, DataError, CheckpointError, ValueError) as exc:
        fail(str(exc).splitlines()[0] if str(exc) else type(exc).__name__)
    except KeyboardInterrupt:
        fail("interrupted", 130)


if __name__ == "__main__":
    sys.exit(main())
