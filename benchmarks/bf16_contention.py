"""A digits step at the defaults in bf16 autocast and in fp32, alone and while another process keeps one core busy.

    python benchmarks/bf16_contention.py [--seconds 8] [--steps 40]

On a CPU with native bf16 (AVX512-BF16 or AMX) the image defaults train under bf16 autocast. Each line is one
precision, with and without a competitor (a plain Python loop in another process, as a busy browser tab would
be), at torch's default thread count: milliseconds of wall and CPU time a step over at most --steps steps or
--seconds seconds, after 3 warm-up steps. Then two visitors at once, as the app trains them: two Trainers in two
threads of one process, each stepping for --seconds (ms a step each). Prints one JSON line per measurement.
"""
from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import sys
import threading
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from gan_demo.core.config import DataConfig, RunConfig, TrainConfig  # noqa: E402
from gan_demo.training.trainer import Trainer  # noqa: E402


def busy() -> None:
    while True:
        pass


def digits(amp: bool) -> Trainer:
    tr = Trainer(RunConfig(data=DataConfig(dataset="digits"),
                           train=TrainConfig(seed=0, steps=1_000_000, device="cpu", amp=amp)))
    tr.run(3)
    return tr


def measure(amp: bool, seconds: float, steps: int) -> dict:
    tr = digits(amp)
    start, cpu, n = time.perf_counter(), time.process_time(), 0
    while n < steps and time.perf_counter() - start < seconds:
        tr.run(tr.step + 1)
        n += 1
    wall, cpu = time.perf_counter() - start, time.process_time() - cpu
    return {"precision": tr.precision, "steps": n, "ms_per_step": round(1000 * wall / n, 1),
            "cpu_ms_per_step": round(1000 * cpu / n, 1)}


def two_visitors(amp: bool, seconds: float, steps: int) -> dict:
    """Two runs stepping in two threads of this process, as two visitors' digits runs in the app."""
    trainers = [digits(amp) for _ in range(2)]
    counts, end = [0, 0], time.perf_counter() + seconds

    def loop(i: int) -> None:
        while counts[i] < steps and time.perf_counter() < end:
            trainers[i].run(trainers[i].step + 1)
            counts[i] += 1

    start = time.perf_counter()
    threads = [threading.Thread(target=loop, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - start
    return {"precision": trainers[0].precision, "steps": counts,
            "ms_per_step": [round(1000 * wall / n, 1) if n else None for n in counts]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=8.0, help="at most this long for each measurement")
    parser.add_argument("--steps", type=int, default=40, help="at most this many steps for each measurement")
    args = parser.parse_args()
    for competitor in (False, True):
        other = multiprocessing.Process(target=busy, daemon=True) if competitor else None
        if other is not None:
            other.start()
        try:
            for amp in (True, False):
                result = measure(amp, args.seconds, args.steps)
                print(json.dumps({"competitor": competitor, "threads": torch.get_num_threads(), **result,
                                  "load": round(os.getloadavg()[0], 2)}), flush=True)
        finally:
            if other is not None:
                other.terminate()
                other.join()
    for amp in (True, False):
        print(json.dumps({"two_visitors": True, "threads": torch.get_num_threads(),
                          **two_visitors(amp, args.seconds, args.steps), "load": round(os.getloadavg()[0], 2)}),
              flush=True)


if __name__ == "__main__":
    main()
