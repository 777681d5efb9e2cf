"""How far the Train tab's ETA is from the time a run actually took, once 10% of it is done.

    OMP_NUM_THREADS=1 python benchmarks/eta_accuracy.py --dataset ring8 --log /tmp/eta-ring8.json
    OMP_NUM_THREADS=1 python benchmarks/eta_accuracy.py --dataset digits --steps 2000 --log /tmp/eta-digits.json
    python benchmarks/eta_accuracy.py --replay /tmp/eta-ring8.json [SECONDS | half | all]   # the recorded marks
                                                      # through eta_from_marks, with another window if given

Takes every `python -m gan_demo train` setting and trains as the app does (a background thread, the app's live
quality callback), polling like the Train tab: every --poll seconds a snapshot() (which leaves the ETA's mark)
and the progress grid (sample_fixed, the CPU the tab's picture costs). Each poll's (elapsed, step, eta, range)
is kept; once the run has finished, each ETA is compared with the time that was actually left: error =
ETA / actual - 1. Prints the worst error after 10% (and after 25%) of the steps and writes every poll to --log,
so --replay can score a changed estimator on the same timings (its marks are the polls, as in the app).
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from gan_demo.training.eta import WINDOW_S, eta_from_marks  # noqa: E402


def errors(polls: list[dict], end: float, target: int, key: str = "eta_s", min_left_s: float = 10.0) -> dict:
    """Worst |ETA / actual remaining - 1| over the polls past 10% and 25% of the steps with more than min_left_s
    still to go (in the last seconds a second of rounding is a large share), with where it happened."""
    out = {}
    for share in (0.10, 0.25):
        rows = [(p["t"], p["step"], p[key]) for p in polls if p["step"] >= share * target and end - p["t"] > min_left_s]
        errs = [(e / (end - t) - 1 if e is not None else float("inf"), t, s) for t, s, e in rows]
        worst = max(errs, key=lambda r: abs(r[0]), default=None)
        out[f"after_{int(share * 100)}pct"] = None if worst is None else {
            "worst_error": round(worst[0], 3), "at_s": round(worst[1], 1), "at_step": worst[2], "polls": len(rows)}
    return out


def replay(polls: list[dict], target: int, window: str = str(WINDOW_S), estimator=eta_from_marks) -> list[dict]:
    """Each poll's ETA from the marks the app would hold at that moment: the polls of the last `window` seconds
    (the app's WINDOW_S by default), "half" (of the time elapsed) or "all" (the whole run's average speed)."""
    out, marks = [], []
    for p in polls:
        marks.append((p["t"], p["trainer_step"]))
        span = p["t"] / 2 if window == "half" else float("inf") if window == "all" else float(window)
        while len(marks) > 2 and p["t"] - marks[1][0] >= span:
            marks.pop(0)
        eta, _, _ = estimator(marks, max(0, target - p["step"]), p["steps_per_s"])
        out.append({**p, "replayed_eta_s": eta})
    return out


def measure(argv: list[str]) -> None:
    from gan_demo.__main__ import add_config_flags, config_from_args
    from gan_demo.evaluation.live_quality import live_quality
    from gan_demo.training.trainer import Trainer

    parser = argparse.ArgumentParser()
    add_config_flags(parser)
    parser.add_argument("--poll", type=float, default=1.0, help="seconds between polls (the Train tab: about 1)")
    parser.add_argument("--log", required=True)
    args = parser.parse_args(argv)
    cfg = config_from_args(args)
    trainer = Trainer(cfg, live_quality=live_quality)
    load_before = os.getloadavg()
    polls = []
    t0 = time.monotonic()
    trainer.start()
    while trainer.running:
        snap = trainer.snapshot()
        trainer.sample_fixed()
        polls.append({"t": round(time.monotonic() - t0, 3), "step": snap["step"], "trainer_step": trainer.step,
                      "steps_per_s": snap["steps_per_s"], "eta_s": snap["eta_s"], "eta_range_s": snap["eta_range_s"],
                      "load": os.getloadavg()[0], "cpu_s": round(time.process_time(), 3)})
        time.sleep(args.poll)
    trainer.join()
    end = time.monotonic() - t0
    target = trainer.target_steps
    report = {"command": " ".join(sys.argv), "dataset": cfg.data.dataset, "target_steps": target,
              "state": trainer.state, "wall_s": round(end, 1), "steps_per_s_mean": round(target / end, 1),
              "load_before": [round(v, 2) for v in load_before], "load_after": [round(v, 2) for v in os.getloadavg()],
              "utc_end": time.strftime("%H:%M:%S", time.gmtime()), "errors": errors(polls, end, target), "polls": polls}
    Path(args.log).write_text(json.dumps(report))
    print(json.dumps({k: v for k, v in report.items() if k != "polls"}))


def main() -> None:
    if len(sys.argv) in (3, 4) and sys.argv[1] == "--replay":
        report = json.loads(Path(sys.argv[2]).read_text())
        window = sys.argv[3] if len(sys.argv) == 4 else str(WINDOW_S)
        polls = replay(report["polls"], report["target_steps"], window)
        print(json.dumps({"recorded": errors(report["polls"], report["wall_s"], report["target_steps"]),
                          f"replayed, window {window}": errors(polls, report["wall_s"], report["target_steps"],
                                                               "replayed_eta_s")}))
    else:
        measure(sys.argv[1:])


if __name__ == "__main__":
    main()
