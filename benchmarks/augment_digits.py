"""Your own images, few of them: the bundled digits as a zip of PNG files, trained with and without DiffAugment, scored by the digits classifier.

    python benchmarks/augment_digits.py export /tmp/aug            # digits1438.zip (the training split) and digits300.zip
    python benchmarks/augment_digits.py train --dataset /tmp/aug/digits300.zip --img-size 32 --channels 1 \\
        --augment none --steps 2000 --eval-at 500,1000,2000 --log /tmp/aug/d300-none.jsonl

`train` takes every `python -m gan_demo train` setting, trains in this process and, at each step of
--eval-at, scores G_ema as `eval` scores the bundled digits (gan_demo.evaluation.evaluate.evaluate_sampler with the
dataset read as "digits": 2,500 samples of seed 12345, the digits classifier, k-NN precision and recall and
the Frechet distance in its feature space against the 1,438 training digits, beside the 359 held-out
digits scored the same way). A zip has no labels, so `eval` on the zip itself gives no classifier figures.
One JSON line per evaluation: step, training seconds (wall and CPU, evaluations excluded), load average,
the figures and r_t (mean of the last 100 steps).

    python benchmarks/augment_digits.py score runs/my-run   # a checkpoint trained on such a zip, scored the same way
"""
from __future__ import annotations

import argparse
import dataclasses
import io
import json
import os
import sys
import time
import zipfile
from pathlib import Path

import numpy as np
import torch
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from gan_demo.__main__ import add_config_flags, config_from_args  # noqa: E402
from gan_demo.core.config import DataConfig  # noqa: E402
from gan_demo.data.datasets import load_dataset  # noqa: E402
from gan_demo.evaluation.evaluate import evaluate_sampler  # noqa: E402
from gan_demo.explore.sampler import Sampler  # noqa: E402
from gan_demo.training.trainer import Trainer  # noqa: E402

SUBSET = 300  # the "few hundred" set: a seeded draw from the training split
SUBSET_SEED = 0


def export(out: Path, img_size: int = 32) -> None:
    """The digits' training split (1,438 images) as 32 x 32 grey PNGs in a zip, and a 300-image subset."""
    x = load_dataset(DataConfig(dataset="digits", img_size=img_size, channels=1), "cpu").x  # [-1, 1]
    pixels = ((x[:, 0] + 1) * 127.5).round().clamp(0, 255).to(torch.uint8).numpy()
    subset = np.sort(np.random.default_rng(SUBSET_SEED).permutation(len(pixels))[:SUBSET])
    out.mkdir(parents=True, exist_ok=True)
    for name, idx in ((f"digits{len(pixels)}.zip", np.arange(len(pixels))), (f"digits{SUBSET}.zip", subset)):
        with zipfile.ZipFile(out / name, "w", zipfile.ZIP_STORED) as zf:
            for i in idx:
                buf = io.BytesIO()
                Image.fromarray(pixels[i], mode="L").save(buf, format="PNG")
                zf.writestr(f"digits/{i:05d}.png", buf.getvalue())
        print(f"{out / name}: {len(idx)} images")


def score(trainer: Trainer) -> dict:
    """G_ema now, scored as `eval` scores the bundled digits (the classifier's figures need labelled data)."""
    return _as_digits(Sampler.from_trainer(trainer, name="live"))


def score_checkpoint(run_dir: str) -> dict:
    """A saved run (trained on a zip of the digits, e.g. by `python -m gan_demo train`), scored as score() does."""
    return _as_digits(Sampler.from_checkpoint(run_dir))


def _as_digits(sampler: Sampler) -> dict:
    """evaluate_sampler's figures with the run's data read as the bundled digits (the zip holds the same images)."""
    sampler.cfg = dataclasses.replace(sampler.cfg, data=dataclasses.replace(sampler.cfg.data, dataset="digits"))
    report = evaluate_sampler(sampler)
    keys = ("precision", "recall", "fd_classifier", "classes_covered", "class_kl", "nn_train_rms_median")
    return {side: {k: report[side].get(k) for k in keys} for side in ("generated", "real")}


def train(argv: list[str]) -> None:
    parser = argparse.ArgumentParser()
    add_config_flags(parser)
    parser.add_argument("--eval-at", required=True, help="comma-separated step counts to score at")
    parser.add_argument("--log", required=True, help="JSON lines out")
    args = parser.parse_args(argv)
    cfg = config_from_args(args)
    at = sorted(int(s) for s in args.eval_at.split(","))
    cfg.train.steps = at[-1]
    trainer = Trainer(cfg)
    print(f"{cfg.data.dataset}: {len(trainer.dataset)} images, augment {trainer.cfg.train.augment}, "
          f"{trainer.precision}, {torch.get_num_threads()} threads", flush=True)
    wall = cpu = 0.0
    with open(args.log, "a") as log:
        for step in at:
            w0, c0 = time.perf_counter(), time.process_time()
            state = trainer.run(step)
            wall += time.perf_counter() - w0
            cpu += time.process_time() - c0
            r_t = trainer.history.columns()["r_t"][-100:]
            row = {"dataset": Path(cfg.data.dataset).name, "augment": trainer.cfg.train.augment, "step": trainer.step,
                   "state": state, "train_wall_s": round(wall, 1), "train_cpu_s": round(cpu, 1),
                   "load": [round(v, 2) for v in os.getloadavg()], "utc": time.strftime("%H:%M:%S", time.gmtime()),
                   "r_t_last100": round(sum(r_t) / max(1, len(r_t)), 3), "command": " ".join(sys.argv),
                   **score(trainer)}
            g, r = row["generated"], row["real"]
            print(f"step {row['step']}: {wall:.0f} s, load {row['load'][0]}; precision {g['precision']:.3f} "
                  f"recall {g['recall']:.3f} FD {g['fd_classifier']:.2f} ({g['fd_classifier'] / r['fd_classifier']:.2f}x "
                  f"real {r['fd_classifier']:.2f}); r_t {row['r_t_last100']}", flush=True)
            log.write(json.dumps(row) + "\n")
            log.flush()
            if state != "finished":
                break


if __name__ == "__main__":
    if len(sys.argv) >= 3 and sys.argv[1] == "export":
        export(Path(sys.argv[2]))
    elif len(sys.argv) >= 2 and sys.argv[1] == "train":
        train(sys.argv[2:])
    elif len(sys.argv) == 3 and sys.argv[1] == "score":
        print(json.dumps(score_checkpoint(sys.argv[2])))
    else:
        sys.exit(__doc__)
