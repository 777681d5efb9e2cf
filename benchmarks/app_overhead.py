"""Where a ring8 run's time goes through the app's engine path, against the bare stacked step.

    python benchmarks/app_overhead.py --steps 1500 --rounds 2          # steps/s of the three, side by side
    python benchmarks/app_overhead.py --steps 1500 --profile app       # plus cProfile of the pool's thread

Three ways to train one ring8 run at its defaults (batch 256, width 128, R1), in turns (--rounds), one process:
  bare    StackedGAN.train_step on one run in a loop: the pool's stacked step (its draws, the step, Adam, EMA)
          and nothing else (benchmarks/pool_speed.py's kernels are this without draws, Adam and EMA)
  engine  the run in a RunPool (gan_demo.training.pool.RunPools), with the app's live quality every 25 steps,
          history, rollback points, read-backs
  app     `engine` through the app's session registry, with a poller doing what an open Train tab does at
          its rate (0.75 s): snapshot(), the progress picture once per new step (the app's PictureCache),
          the timeline frame, the curves' rows
Prints one JSON line per measurement, with the load; with --profile the top costs of that mode's training
thread (cProfile, by own time and cumulative).
"""
from __future__ import annotations

import argparse
import cProfile
import io
import json
import os
import pstats
import sys
import threading
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

from gan_demo.core.config import DataConfig, RunConfig, TrainConfig  # noqa: E402
from gan_demo.evaluation.live_quality import live_quality  # noqa: E402
from gan_demo.training.trainer import Trainer  # noqa: E402


def ring8(steps: int) -> RunConfig:
    return RunConfig(data=DataConfig(dataset="ring8"), train=TrainConfig(seed=0, steps=steps, device="cpu"))


def load() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def bare(steps: int, profile: cProfile.Profile | None) -> float:
    from gan_demo.training.pool import StackedGAN

    tr = Trainer(ring8(steps))
    stack = StackedGAN([tr.family])

    def loop(n):
        for _ in range(n):
            stack.train_step([stack.draw(tr.family)])

    loop(20)  # warm-up
    start = time.perf_counter()
    if profile is not None:
        profile.runcall(loop, steps)
    else:
        loop(steps)
    seconds = time.perf_counter() - start
    stack.release()
    return steps / seconds


def _profiled_pools(profile: cProfile.Profile | None):
    """RunPools whose pools' threads run under the profile (None: plain RunPools)."""
    from gan_demo.training import pool as pool_module

    if profile is None:
        return pool_module.RunPools()

    class ProfiledPool(pool_module.RunPool):
        def _run(self):
            profile.runcall(super()._run)

    class ProfiledPools(pool_module.RunPools):
        def start(self, trainer, steps=None):
            plain, pool_module.RunPool = pool_module.RunPool, ProfiledPool
            try:
                super().start(trainer, steps)
            finally:
                pool_module.RunPool = plain

    return ProfiledPools()


def engine(steps: int, profile: cProfile.Profile | None) -> float:
    tr = Trainer(ring8(steps), live_quality=live_quality)
    pools = _profiled_pools(profile)
    start = time.perf_counter()
    pools.start(tr, steps)
    tr.join()
    assert tr.state == "finished", tr.message
    return steps / (time.perf_counter() - start)


def app(steps: int, profile: cProfile.Profile | None) -> float:
    from gan_demo.ui.live_cache import PictureCache
    from gan_demo.ui.sessions import SessionRegistry
    from gan_demo.ui.tabs.train import LiveView, _png, curves, progress_picture

    registry = SessionRegistry(max_runs=2, pools=_profiled_pools(profile))
    pictures = PictureCache()
    session = registry.get("visitor")
    start = time.perf_counter()
    tr = registry.start(session, ring8(steps), torch.device("cpu"))
    view, done = LiveView(run_id=session.run_id), threading.Event()

    def poll():  # what the open Train tab's timer does, at its rate
        while not done.wait(0.75):
            snap = tr.snapshot()
            if snap["step"] != view.step:
                picture = pictures.get(tr, snap["step"], lambda: progress_picture(tr, view))
                session.keep_frame(snap["step"], _png(picture))
                curves(snap["history"], {s: s for s in snap["series"]})  # the curves' rows
                view.step = snap["step"]

    poller = threading.Thread(target=poll, daemon=True)
    poller.start()
    tr.join()
    seconds = time.perf_counter() - start
    done.set()
    poller.join(10)
    assert tr.state == "finished", tr.message
    registry.close()
    return steps / seconds


MODES = {"bare": bare, "engine": engine, "app": app}


def top(profile: cProfile.Profile, n: int = 25) -> str:
    out = io.StringIO()
    stats = pstats.Stats(profile, stream=out)
    stats.sort_stats("tottime").print_stats(n)
    stats.sort_stats("cumulative").print_stats(n)
    return out.getvalue()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=1500)
    parser.add_argument("--rounds", type=int, default=2, help="each mode this many times, in turns")
    parser.add_argument("--modes", nargs="+", default=list(MODES), choices=list(MODES))
    parser.add_argument("--profile", choices=list(MODES), default=None, help="cProfile this mode's training thread")
    args = parser.parse_args()

    speeds: dict[str, list[float]] = {}
    for r in range(args.rounds):
        for mode in args.modes:
            name = mode
            profile = cProfile.Profile() if args.profile == mode and r == args.rounds - 1 else None
            before = load()
            speed = MODES[mode](args.steps, profile)
            speeds.setdefault(name, []).append(speed)
            print(json.dumps({"mode": name, "round": r, "steps": args.steps, "steps_per_s": round(speed, 1),
                              "profiled": profile is not None, "load_before": before, "load_after": load(),
                              "threads": torch.get_num_threads()}), flush=True)
            if profile is not None:
                print(top(profile), file=sys.stderr, flush=True)
    best = {m: round(max(v), 1) for m, v in speeds.items() if v}
    if "bare" in best:
        best.update({f"{m}_vs_bare": round(best[m] / best["bare"], 2) for m in ("engine", "app") if m in best})
    print(json.dumps({"best_steps_per_s": best, "load": load()}), flush=True)


if __name__ == "__main__":
    main()
