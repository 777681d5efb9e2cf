"""One ring8 run in-process vs in a Ray actor (steps/s), and a killed actor: seconds until it trains on, steps lost.

    OMP_NUM_THREADS=1 python benchmarks/ray_run.py [--seconds 20] [--rounds 3] [--kills 3] [--address local]

Three runs: in a Ray actor (a pool of one there, as `python app.py --ray auto` trains it; --address auto
joins a cluster already running here, "local" starts one as auto does when there is none), in-process as
the app trains it (a pool of one, gan_demo.training.pool.RunPools) and in-process alone (Trainer.start).
Each is polled as the Train tab polls it (snapshot() and the progress picture every 0.5 s), one at a time
while the others are paused, in turn (the front end's CPU includes the training for the in-process
runs). The kill uses the app's
checkpoint interval (gan_demo.training.remote.Placement: 200 steps or 10 s, pulled every 1 s).
"""
from __future__ import annotations

import argparse
import os
import signal
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from gan_demo.core.config import DataConfig, RunConfig, TrainConfig  # noqa: E402
from gan_demo.training.trainer import Trainer  # noqa: E402

POLL_S = 0.5  # the Train tab's poll


def ring8() -> RunConfig:
    """The app's ring8 run (its defaults), long enough not to finish while measured."""
    return RunConfig(data=DataConfig(dataset="ring8"), train=TrainConfig(steps=10**7, device="cpu"))


def rate(run, seconds: float, warmup: float = 5.0) -> tuple[float, float]:
    """(steps/s, this process's CPU seconds per second) over `seconds` after `warmup`, polling as the Train
    tab does: snapshot() and the progress picture every POLL_S."""
    from gan_demo.ui.run_views import LiveView, progress_picture

    view = LiveView()

    def poll_until(t_end):
        while time.monotonic() < t_end:
            run.snapshot()
            progress_picture(run, view)
            time.sleep(POLL_S)

    poll_until(time.monotonic() + warmup)
    t0, s0, c0 = time.monotonic(), run.step, time.process_time()
    poll_until(t0 + seconds)
    t1, s1, c1 = time.monotonic(), run.step, time.process_time()
    return (s1 - s0) / (t1 - t0), (c1 - c0) / (t1 - t0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--kills", type=int, default=3)
    parser.add_argument("--address", default="local", help="the cluster: local, auto or HOST:PORT")
    args = parser.parse_args()

    from gan_demo.training.pool import RunPools
    from gan_demo.training.remote import RayRuns

    # The runs live side by side; each round measures one while the others are paused, in turn, so that
    # all see the same load from the other users of the machine.
    runs = RayRuns.connect(args.address, device="cpu")
    remote, pooled, solo = runs.make_run(ring8()), Trainer(ring8()), Trainer(ring8())
    contestants = {"ray actor": remote, "in-process pool": pooled, "in-process solo": solo}
    remote.start()
    RunPools().start(pooled)
    solo.start()
    pooled.pause()
    solo.pause()
    for round_ in range(args.rounds):
        for name, run in contestants.items():
            for other in contestants.values():
                if other is not run:
                    other.pause()
            run.resume()
            steps, cpu = rate(run, args.seconds)
            print(f"round {round_ + 1} {name:15s}: {steps:.1f} steps/s, front end's CPU {100 * cpu:.0f}% of a core  "
                  f"(load {os.getloadavg()[0]:.2f})", flush=True)
    for local in (pooled, solo):
        local.stop()
        local.join(30)
    remote.resume()

    for kill in range(args.kills):
        while remote.checkpoint_step is None or remote.checkpoint_step < 1:
            time.sleep(0.1)
        before = remote.recoveries
        pid = remote.host_pid()
        killed_at = remote.step
        ckpt = remote.checkpoint_step
        t0 = time.monotonic()
        os.kill(pid, signal.SIGKILL)
        while remote.recoveries == before:
            time.sleep(0.05)
        back = time.monotonic() - t0
        while remote.step <= ckpt or remote.state != "running":
            time.sleep(0.05)
        trains = time.monotonic() - t0
        print(f"kill {kill + 1}: step {killed_at} (checkpoint {ckpt}): new actor after {back:.1f} s, training on "
              f"after {trains:.1f} s, {killed_at - ckpt} steps lost  (load {os.getloadavg()[0]:.2f})", flush=True)
        time.sleep(12)  # the next checkpoint (10 s interval)
    remote.close()
    runs.close()


if __name__ == "__main__":
    main()
