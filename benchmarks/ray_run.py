"""One ring8 run in-process vs in a Ray actor (steps/s), and a killed actor: seconds until it trains on, steps lost.

    OMP_NUM_THREADS=1 python benchmarks/ray_run.py [--seconds 20] [--kills 3]

Both runs are polled as the Train tab polls them (snapshot() every 0.5 s). The kill uses the app's
checkpoint interval (gan_demo.remote.Placement: 200 steps or 10 s, pulled every 1 s).
"""
from __future__ import annotations

import argparse
import os
import signal
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from gan_demo.config import DataConfig, RunConfig, TrainConfig  # noqa: E402
from gan_demo.trainer import Trainer  # noqa: E402

POLL_S = 0.5  # the Train tab's poll


def ring8() -> RunConfig:
    """The app's ring8 run (its defaults), long enough not to finish while measured."""
    return RunConfig(data=DataConfig(dataset="ring8"), train=TrainConfig(steps=10**7, device="cpu"))


def rate(run, seconds: float, warmup: float = 5.0) -> float:
    """Steps/s over `seconds` after `warmup`, polling snapshot() as the UI does."""
    def poll_until(t_end):
        while time.monotonic() < t_end:
            run.snapshot()
            time.sleep(POLL_S)

    poll_until(time.monotonic() + warmup)
    t0, s0 = time.monotonic(), run.step
    poll_until(t0 + seconds)
    t1, s1 = time.monotonic(), run.step
    return (s1 - s0) / (t1 - t0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--kills", type=int, default=3)
    args = parser.parse_args()

    local = Trainer(ring8())
    local.start()
    local_rate = rate(local, args.seconds)
    local.stop()
    local.join(30)
    print(f"in-process: {local_rate:.1f} steps/s  (load {os.getloadavg()[0]:.2f})", flush=True)

    from gan_demo.remote import RayRuns

    runs = RayRuns.connect("local", device="cpu")
    remote = runs.make_run(ring8())
    remote.start()
    remote_rate = rate(remote, args.seconds)
    print(f"ray actor:  {remote_rate:.1f} steps/s = {100 * remote_rate / local_rate:.0f}% of in-process  "
          f"(load {os.getloadavg()[0]:.2f})", flush=True)

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
