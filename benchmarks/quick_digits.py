"""The quick digits preset: how soon a small image GAN draws digits the project's classifier reads, per seed.

    OMP_NUM_THREADS=1 python benchmarks/quick_digits.py --dataset digits --img-size 16 --seed 0 \\
        --eval-at 500,1000,2000 --log /tmp/quick.jsonl --samples /tmp/quick-s0.png

Takes every `python -m gan_demo train` setting, trains in this process and, at each step of --eval-at, scores
G_ema as `eval` does (gan_demo.evaluation.evaluate.evaluate_sampler: 2,500 samples of seed 12345 read by the digits
classifier: classes covered, k-NN precision and recall, FD in its feature space, each beside the held-out digits).
It adds how *readable* the samples are: the share the classifier reads with confidence >= CONFIDENT, and the
classes covered by those confident samples alone (a class counts with at least 10% of its fair share, as
classes_covered counts). One JSON line per evaluation with the training seconds (wall, evaluations excluded),
steps/s and the load average; --samples writes the progress grid (the fixed noise) of the last step as a PNG.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from gan_demo.__main__ import add_config_flags, config_from_args  # noqa: E402
from gan_demo.evaluation.classifier import load_classifier  # noqa: E402
from gan_demo.evaluation.evaluate import DEFAULT_SEED, _generate_images, evaluate_sampler  # noqa: E402
from gan_demo.evaluation.metrics import class_histogram  # noqa: E402
from gan_demo.explore.sampler import Sampler  # noqa: E402
from gan_demo.render.viz import image_grid  # noqa: E402
from gan_demo.training.trainer import Trainer  # noqa: E402

CONFIDENT = 0.9  # the classifier's top probability above which a sample counts as readable
N = 2500  # samples scored, as `eval` draws for the digits


def readable(sampler: Sampler, cfg) -> dict:
    """Share of N samples the digits classifier reads with confidence >= CONFIDENT, and the classes those cover."""
    clf = load_classifier(cfg.data.dataset, cfg.data.img_size, sampler.cfg.model.channels, cfg.data.data_dir)
    fake, _ = _generate_images(sampler, N, DEFAULT_SEED)
    _, probs = clf.features_and_probs(fake)
    top, label = probs.max(dim=1)
    sure = label[top >= CONFIDENT]
    hist = class_histogram(sure, clf.n_classes, min_share=0.1 / clf.n_classes * N / len(sure)) if len(sure) else None
    return {"confident_share": float((top >= CONFIDENT).float().mean()),
            "confident_classes": hist["classes_covered"] if hist else 0,
            "mean_top_prob": float(top.mean())}


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser()
    add_config_flags(parser)
    parser.add_argument("--eval-at", required=True, help="comma-separated step counts to score at")
    parser.add_argument("--log", required=True, help="JSON lines out")
    parser.add_argument("--samples", help="PNG of the last step's progress grid")
    args = parser.parse_args(argv)
    cfg = config_from_args(args)
    at = sorted(int(s) for s in args.eval_at.split(","))
    cfg.train.steps = at[-1]
    trainer = Trainer(cfg)
    wall = 0.0
    with open(args.log, "a") as log:
        for step in at:
            load_before = os.getloadavg()[0]
            w0, s0 = time.perf_counter(), trainer.step
            state = trainer.run(step)
            spent = time.perf_counter() - w0
            wall += spent
            sampler = Sampler.from_trainer(trainer, name="live")
            report = evaluate_sampler(sampler)
            keys = ("classes_covered", "precision", "recall", "fd_classifier", "classifier_score", "label_accuracy")
            row = {"command": " ".join(sys.argv), "seed": cfg.train.seed, "step": trainer.step, "state": state,
                   "train_wall_s": round(wall, 1), "steps_per_s": round((trainer.step - s0) / spent, 1),
                   "load": [round(load_before, 2), round(os.getloadavg()[0], 2)],
                   "utc": time.strftime("%H:%M:%S", time.gmtime()), "precision_mode": trainer.precision,
                   "threads": torch.get_num_threads(),
                   "generated": {k: report["generated"].get(k) for k in keys},
                   "real": {k: report["real"].get(k) for k in keys}, **readable(sampler, trainer.cfg)}
            g = row["generated"]
            print(f"s{row['seed']} step {row['step']}: {wall:.0f} s ({row['steps_per_s']} steps/s, load "
                  f"{row['load']}); classes {g['classes_covered']}/10, confident {row['confident_share']:.2f} in "
                  f"{row['confident_classes']} classes, precision {g['precision']:.2f}, recall {g['recall']:.2f}, "
                  f"FD {g['fd_classifier']:.1f} (real {row['real']['fd_classifier']:.1f})", flush=True)
            log.write(json.dumps(row) + "\n")
            log.flush()
            if state != "finished":
                break
    if args.samples:
        image_grid(trainer.sample_fixed(), nrow=8, upscale=max(1, 64 // cfg.data.img_size)).save(args.samples)


if __name__ == "__main__":
    main(sys.argv[1:])
