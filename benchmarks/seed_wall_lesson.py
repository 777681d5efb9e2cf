"""The seed-sweep lesson as the app runs it: both settings' 16 seeds through the session registry's pools,
the lesson's handler polled as its page does; prints each wall's count line at a few steps and the wall time.

    OMP_NUM_THREADS=1 python benchmarks/seed_wall_lesson.py [--at 500 1000 1500 2000]
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

from gan_demo.training.pool import RunPools  # noqa: E402
from gan_demo.ui.seed_wall import TICK_S, SeedWall, count_line  # noqa: E402
from gan_demo.ui.sessions import SessionRegistry  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--at", type=int, nargs="+", default=[500, 1000, 1500, 2000])
    args = parser.parse_args()
    registry = SessionRegistry(max_runs=2, pools=RunPools())  # the app's default budget
    handler = SeedWall(SimpleNamespace(registry=registry, device=torch.device("cpu")))
    visitor = SimpleNamespace(session_hash="teacher")
    start, load_start = time.perf_counter(), os.getloadavg()
    _, line = handler.start(visitor)
    print(json.dumps({"started": line, "slots_in_use": round(registry.slots_in_use(), 2)}), flush=True)
    sweep = registry.get("teacher").sweep
    pending = {label: sorted(args.at) for label in sweep}  # each setting's count when its seeds pass each step
    while True:
        views = handler.walls(visitor)  # what the page's timer asks for (walls drawn once per new step)
        for label, runs in sweep.items():
            measured = [t.last_quality.step for t in runs if t.last_quality is not None]
            while pending[label] and len(measured) == len(runs) and min(measured) >= pending[label][0]:
                print(json.dumps({"step": pending[label].pop(0), "seconds": round(time.perf_counter() - start, 1),
                                  "count": count_line(label, runs), "load": os.getloadavg()}), flush=True)
        if not any(v.running for v in views):
            break
        time.sleep(TICK_S)
    print(json.dumps({"seconds": round(time.perf_counter() - start, 1), "states": sorted({t.state for g in sweep.values() for t in g}),
                      "load_start": load_start, "load_end": os.getloadavg(),
                      "final": [count_line(lab, g) for lab, g in sweep.items()]}), flush=True)
    registry.close()


if __name__ == "__main__":
    main()
