"""A digits step at the defaults in bf16 autocast and in fp32, alone and while another process keeps one core busy.

    python benchmarks/bf16_contention.py [--seconds 8] [--steps 40]

On a CPU with native bf16 (AVX512-BF16 or AMX) the image defaults train under bf16 autocast. Each line is one
precision, with and without a competitor (a plain Python loop in another process, as a busy browser tab would
be), at torch's default thread count: milliseconds of wall and CPU time a step over at most --steps steps or
--seconds seconds, after 3 warm-up steps. Prints one JSON line per measurement.
"""
from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from gan_demo.core.config import DataConfig, RunConfig, TrainConfig  # noqa: E402
from gan_demo.training.trainer import Trainer  # noqa: E402


def busy() -> None:
    while True:
        pass


def measure(amp: bool, seconds: float, steps: int) -> dict:
    tr = Trainer(RunConfig(data=DataConfig(dataset="digits"),
                           train=TrainConfig(seed=0, steps=1_000_000, device="cpu", amp=amp)))
    tr.run(3)
    start, cpu, n = time.perf_counter(), time.process_time(), 0
    while n < steps and time.perf_counter() - start < seconds:
        tr.run(tr.step + 1)
        n += 1
    wall, cpu = time.perf_counter() - start, time.process_time() - cpu
    return {"precision": tr.precision, "steps": n, "ms_per_step": round(1000 * wall / n, 1),
            "cpu_ms_per_step": round(1000 * cpu / n, 1)}


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


if __name__ == "__main__":
    main()
