"""One ring8 run in-process vs in a Ray actor (steps/s), and a killed actor: seconds until it trains on, steps lost.

    OMP_NUM_THREADS=1 python benchmarks/ray_run.py [--seconds 20] [--rounds 3] [--kills 3]

Both runs are polled as the Train tab polls them (snapshot() and the progress picture every 0.5 s), one at
a time while the other is paused, in turn (the front end's CPU includes the training for the in-process
run). The kill uses the app's
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
    args = parser.parse_args()

    from gan_demo.training.remote import RayRuns

    # Both runs live side by side; each round measures one while the other is paused, in turn, so that
    # both see the same load from the other users of the machine.
    runs = RayRuns.connect("local", device="cpu")
    remote, local = runs.make_run(ring8()), Trainer(ring8())
    remote.start()
    local.start()
    local.pause()
    for round_ in range(args.rounds):
        for name, run, other in (("ray actor", remote, local), ("in-process", local, remote)):
            other.pause()
            run.resume()
            steps, cpu = rate(run, args.seconds)
            print(f"round {round_ + 1} {name:10s}: {steps:.1f} steps/s, front end's CPU {100 * cpu:.0f}% of a core  "
                  f"(load {os.getloadavg()[0]:.2f})", flush=True)
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
