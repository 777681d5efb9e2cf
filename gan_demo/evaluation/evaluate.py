"""Evaluate a generator: its quality figures beside the same figures for held-out real data."""
from __future__ import annotations

import math
import time
from pathlib import Path
from typing import Callable

import torch

from gan_demo.core.config import LABELLED_DATASETS, DataConfig
from gan_demo.explore.latent import z_from_seed

DEFAULT_N = 2500  # generated samples scored
DEFAULT_SEED = 12345  # noise seed of the generated samples
MAX_REFERENCE = 10_000  # training images (at most) forming the reference set for features and k-NN
NEAREST_SHOWN = 8  # generated images whose nearest training images are listed
NEAREST_K = 3  # nearest training images listed for each
PR_K = 3  # k of the k-NN precision and recall (Kynkaanniemi et al. 2019)
GEN_BATCH = 500  # samples generated per forward pass

# key -> (label in the table, which way is better). The table lists the keys a report holds, in this order.
METRICS = {
    # images
    "fd_classifier": ("FD_classifier (FID analogue)", "lower"),
    "classifier_score": ("classifier score (IS analogue)", "higher"),
    "classes_covered": ("classes covered", "higher"),
    "class_kl": ("class histogram KL from uniform", "lower"),
    "precision": (f"precision (k-NN, k={PR_K})", "higher"),
    "recall": (f"recall (k-NN, k={PR_K})", "higher"),
    "label_accuracy": ("accuracy on requested labels", "higher"),
    "nn_train_rms_median": ("nearest training image, median RMS", "not much lower"),
    "fid": ("standard FID (Inception)", "lower"),
    # 2D points
    "modes_covered": ("modes covered", "higher"),
    "high_quality": ("high-quality share (within 3 sigma)", "higher"),
    "mode_kl": ("mode histogram KL from uniform", "lower"),
    "grid_kl": ("grid KL(real || fake)", "lower"),
    "grid_js": ("grid JS(real, fake)", "lower"),
    # stacked digits: 1,000 modes, each channel read by the digits classifier
    "stacked_modes": ("modes covered (>= 1 sample)", "higher"),
    "stacked_kl": ("mode histogram KL from uniform", "lower"),
    "digit_confidence": ("classifier confidence per digit, mean", "higher"),
    "mode_read_accuracy": ("modes read right (all 3 digits)", "higher"),
}


def evaluate_checkpoint(path: str | Path, n: int | None = None, seed: int = DEFAULT_SEED,
                        device: str | torch.device = "auto", data_dir: str | Path | None = None,
                        progress: Callable[[float, str], None] | None = None, keep_samples: bool = False,
                        trusted: bool = False) -> dict:
    """Every quality figure of a checkpoint's G_ema beside the same figures for held-out real data.

    Returns a JSON-friendly dict: "generated" and "real" (figures by key, see METRICS), sizes,
    "classifier" (image sets), "nearest_train", "standard_fid" and "notes". data_dir overrides
    the checkpoint's DataConfig.data_dir (where datasets and the cached classifier live).
    keep_samples=True adds "samples" (tensors, not JSON; see evaluate_sampler).
    trusted: the dataset is loaded as the command line's own (data.load_dataset: large folders, the cache).
    """
    from gan_demo.explore.sampler import Sampler
    from gan_demo.training.trainer import resolve_device

    device = resolve_device(device)
    sampler = Sampler.from_checkpoint(path, device)
    report = evaluate_sampler(sampler, n=n, seed=seed, data_dir=data_dir, progress=progress, keep_samples=keep_samples,
                              trusted=trusted)
    report["checkpoint"] = str(path)
    return report


def evaluate_sampler(sampler, n: int | None = None, seed: int = DEFAULT_SEED, data_dir: str | Path | None = None,
                     progress: Callable[[float, str], None] | None = None, keep_samples: bool = False,
                     trusted: bool = False) -> dict:
    """evaluate_checkpoint for a gan_demo.explore.sampler.Sampler (from a checkpoint or a live Trainer).

    n: generated samples scored; None picks default_n(dataset) (2,500; 26,000 for stacked-digits).
    keep_samples=True (image sets): the report also holds "samples", the pictures behind
    "nearest_train" as CPU tensors in [0, 1]: "generated" (G, C, H, W), the images as scored
    (a live run may have moved on since), and "nearest" (G, NEAREST_K, C, H, W), their nearest
    training images. Not JSON: drop it before json.dumps.
    """
    n = default_n(sampler.cfg.data.dataset) if n is None else n
    if not 10 <= n <= 100_000:
        raise ValueError(f"n must be between 10 and 100000 (got {n})")
    start = time.perf_counter()
    report_progress = progress or (lambda fraction, message: None)
    cfg = sampler.cfg
    data_cfg = DataConfig(**cfg.data.__dict__)
    if data_dir is not None:
        data_cfg.data_dir = str(data_dir)
    if sampler.kind == "image":
        data_cfg.img_size, data_cfg.channels = cfg.model.img_size, cfg.model.channels
    report = {
        "name": sampler.name,
        "dataset": cfg.data.dataset,
        "kind": sampler.kind,
        "step": sampler.step,  # a live run's cfg.step is the step it started from
        "conditional": bool(cfg.model.n_classes),
        "seed": seed,
        "device": str(sampler.device),
        "notes": [],
    }
    if sampler.kind == "2d":
        report.update(_evaluate_points(sampler, data_cfg, n, seed, report_progress, trusted))
    else:
        report.update(_evaluate_images(sampler, data_cfg, n, seed, report_progress, trusted))
    samples = report.pop("samples", None)
    report["seconds"] = round(time.perf_counter() - start, 2)
    report_progress(1.0, "done")
    report = _json_ready(report)
    if keep_samples and samples is not None:
        report["samples"] = samples
    return report


def default_n(dataset: str) -> int:
    """Generated samples `eval` scores by default: 2,500, or 26,000 for stacked-digits's 1,000 modes."""
    from gan_demo.data.stacked import EVAL_N, NAME

    return EVAL_N if dataset == NAME else DEFAULT_N


# ------------------------------------------------------------------------------ 2D points
def _evaluate_points(sampler, data_cfg: DataConfig, n: int, seed: int, progress, trusted: bool) -> dict:
    from gan_demo.data.datasets import load_dataset
    from gan_demo.evaluation.metrics import grid_divergence, mode_metrics

    progress(0.1, "loading held-out points")
    train = load_dataset(data_cfg, "cpu", split="train", trusted=trusted).x
    test = load_dataset(data_cfg, "cpu", split="test", trusted=trusted).x
    progress(0.3, "generating")
    fake = sampler.generate(z_from_seed(seed, sampler.z_dim, n))
    m = min(n, len(test), len(train))
    real = test[:m]
    notes = []
    if m < n:
        notes.append(f"the real figures use {m} held-out points (all there are); the generated ones {n}")
    generated, real_figures = {}, {}
    modes, sigma = sampler.info.get("modes"), sampler.info.get("sigma")
    if modes is not None and sigma:
        for figures, points in ((generated, fake), (real_figures, real)):
            mm = mode_metrics(points, torch.tensor(modes), sigma)
            figures.update(modes_covered=mm["modes_covered"], n_modes=mm["n_modes"],
                           high_quality=mm["high_quality"], mode_kl=mm["mode_kl"], mode_counts=mm["counts"])
    else:
        notes.append("mode metrics need a Gaussian mixture with known modes (ring8, grid25)")
    progress(0.7, "grid divergences")
    # generated vs held-out; real: the held-out draw vs the training draw (the floor a perfect G would reach)
    for figures, other in ((generated, fake), (real_figures, train[:m])):
        div = grid_divergence(real, other)
        figures.update(grid_kl=div["kl"], grid_js=div["js"])
    if _is_path(data_cfg.dataset):
        notes.append("a point file has no held-out split: the real figures compare the file with itself")
    notes.append("real column: held-out points; grid divergences against the training draw of the same size")
    counts = {key: [n, m] for key in (*generated, *real_figures)}  # samples behind each figure: generated, real
    return {"n_generated": n, "n_real": m, "n_compared": m, "generated": generated, "real": real_figures,
            "counts": counts, "notes": notes}


def _is_path(dataset: str) -> bool:
    from gan_demo.core.config import IMAGE_DATASETS, TOY_DATASETS

    from gan_demo.core.config import CLI_DATASETS

    return dataset not in TOY_DATASETS and dataset not in IMAGE_DATASETS and dataset not in CLI_DATASETS


# ------------------------------------------------------------------------------ images
def _generate_images(sampler, n: int, seed: int) -> tuple[torch.Tensor, torch.Tensor | None]:
    """(n, C, H, W) generated images in [-1, 1] on the CPU and the labels asked for (conditional) or None.

    A conditional sampler cycles the labels 0, 1, ..., K-1 within each call, so every chunk
    holds a multiple of K rows and the labels of the whole batch are arange(n) % K.
    """
    z = z_from_seed(seed, sampler.z_dim, n)
    k = sampler.n_classes
    chunk = GEN_BATCH - GEN_BATCH % k if k else GEN_BATCH
    images = torch.cat([sampler.generate(z[start:start + chunk]) for start in range(0, n, chunk)])
    return images * 2 - 1, (torch.arange(n) % k if k else None)


def _subset(x: torch.Tensor, m: int, seed: int) -> torch.Tensor:
    """m rows of x picked by a seeded permutation (all of them when m >= len(x))."""
    if m >= len(x):
        return x
    idx = torch.randperm(len(x), generator=torch.Generator().manual_seed(seed))[:m]
    return x[idx.sort().values]


def _rms(distances, dim: int) -> list:
    """L2 distances over `dim` values -> RMS difference per value."""
    return [[d / math.sqrt(dim) for d in row] for row in distances]


def _evaluate_images(sampler, data_cfg: DataConfig, n: int, seed: int, progress, trusted: bool) -> dict:
    from gan_demo.data.datasets import load_dataset
    from gan_demo.data.image_cache import to_float
    from gan_demo.evaluation.metrics import (class_histogram, classifier_score, frechet_distance, knn_precision_recall, label_accuracy,
                          nearest_neighbours, standard_fid)
    from gan_demo.render.viz import to_unit

    from gan_demo.data.stacked import NAME as STACKED

    if data_cfg.dataset == STACKED:
        return _evaluate_stacked(sampler, data_cfg, n, seed, progress)
    notes = []
    progress(0.05, "loading training and held-out images")
    train = load_dataset(data_cfg, "cpu", split="train", trusted=trusted)
    test = load_dataset(data_cfg, "cpu", split="test", trusted=trusted)
    if data_cfg.dataset not in LABELLED_DATASETS:
        notes.append("an image folder has no held-out split: the real column is the training images themselves")
    progress(0.15, "generating")
    fake, labels = _generate_images(sampler, n, seed)
    # image sets may be stored as uint8 pixels: subsets first, then floats in [-1, 1] (to_float)
    reference = to_float(_subset(train.x, MAX_REFERENCE, seed))
    m = min(n, len(test))
    fake_m, real_m = fake[:m], to_float(_subset(test.x, m, seed))
    if len(reference) < len(train):
        notes.append(f"reference set: {len(reference)} of the {len(train)} training images")
    generated: dict = {}
    real: dict = {}
    classifier = None
    if data_cfg.dataset in LABELLED_DATASETS:
        from gan_demo.evaluation.classifier import load_classifier

        progress(0.25, "loading the classifier (trained on first use, then cached)")
        clf = load_classifier(data_cfg.dataset, data_cfg.img_size, data_cfg.channels, data_cfg.data_dir,
                              device=sampler.device,
                              progress=lambda f: progress(0.25 + 0.4 * f, "training the classifier"))
        classifier = clf.summary()
        progress(0.7, "classifier features")
        ref_feats, _ = clf.features_and_probs(reference)
        fake_feats, fake_probs = clf.features_and_probs(fake)
        test_feats, test_probs = clf.features_and_probs(test.x)
        real_m_feats = _subset(test_feats, m, seed)
        for figures, feats_m, probs in ((generated, fake_feats[:m], fake_probs), (real, real_m_feats, test_probs)):
            hist = class_histogram(probs, clf.n_classes)
            pr = knn_precision_recall(ref_feats, feats_m, k=PR_K)
            figures.update(
                fd_classifier=frechet_distance(feats_m, ref_feats),
                classifier_score=classifier_score(probs),
                classes_covered=hist["classes_covered"],
                n_classes=hist["n_classes"],
                class_kl=hist["class_kl"],
                class_counts=hist["counts"],
                precision=pr["precision"],
                recall=pr["recall"],
            )
        if labels is not None:
            generated["label_accuracy"] = label_accuracy(fake_probs, labels)
            real["label_accuracy"] = label_accuracy(test_probs, test.y.cpu())
        notes.append(f"FD_classifier and precision/recall: {m} generated and {m} held-out images, each against "
                     f"{len(reference)} training images in the classifier's {clf.feature_dim}-d feature space")
    else:
        notes.append("classifier metrics need a labelled dataset (" + ", ".join(LABELLED_DATASETS) + ")")

    progress(0.85, "nearest training images")
    dim = fake[0].numel()
    near_fake = nearest_neighbours(fake_m, reference, k=1)
    near_real = nearest_neighbours(real_m, reference, k=1)
    for figures, near in ((generated, near_fake), (real, near_real)):
        d = torch.tensor([row[0] for row in near["distances"]]) / math.sqrt(dim)
        figures["nn_train_rms_median"] = float(d.median())
        figures["nn_train_rms_min"] = float(d.min())
    shown = nearest_neighbours(fake[:NEAREST_SHOWN], reference, k=NEAREST_K)
    ref_index = _reference_indices(len(train), MAX_REFERENCE, seed)
    nearest_train = {
        "space": "pixel",
        "distance": "RMS difference per pixel value, images in [-1, 1]",
        "generated": list(range(min(NEAREST_SHOWN, n))),  # rows of the generated batch (z_from_seed(seed, z_dim, n))
        "train_indices": [[ref_index[i] for i in row] for row in shown["indices"]],  # rows of load_dataset(split="train").x
        "distances": _rms(shown["distances"], dim),
    }
    notes.append("nearest training image: a generated median far below the held-out median would mean copies")

    progress(0.9, "standard FID")
    fid_gen = standard_fid(reference, fake, sampler.device)
    fid = {"note": fid_gen["note"]}
    if fid_gen["value"] is not None:
        generated["fid"] = fid_gen["value"]
        real["fid"] = standard_fid(reference, to_float(_subset(test.x, MAX_REFERENCE, seed)), sampler.device)["value"]
    samples = {"generated": to_unit(fake[:NEAREST_SHOWN]),
               "nearest": to_unit(reference[torch.tensor(shown["indices"], dtype=torch.long)])}
    # Samples behind each figure (generated, real): the distances (FD, precision/recall, nearest image) depend
    # on the count, so both sides use m; the class figures are shares of all n generated and all held-out.
    counts = {key: [n, len(test)] for key in (*generated, *real)}
    counts.update({key: [m, m] for key in ("fd_classifier", "precision", "recall", "nn_train_rms_median",
                                          "nn_train_rms_min") if key in generated})
    if "fid" in generated:
        counts["fid"] = [n, min(len(test), MAX_REFERENCE)]
    return {"n_generated": n, "n_real": len(test), "n_compared": m, "n_reference": len(reference),
            "generated": generated, "real": real, "counts": counts, "classifier": classifier,
            "nearest_train": nearest_train, "standard_fid": fid, "notes": notes, "samples": samples}


def _evaluate_stacked(sampler, data_cfg: DataConfig, n: int, seed: int, progress) -> dict:
    """Stacked digits: each channel of n generated images and of as many held-out triples read by the
    digits classifier, then modes covered out of 1,000 and the mode histogram's KL from uniform."""
    from gan_demo.data.datasets import load_dataset
    from gan_demo.evaluation.metrics import mode_histogram
    from gan_demo.evaluation.modes import read_digits, stacked_classifier
    from gan_demo.data.stacked import N_MODES, mode_of_digits

    progress(0.05, "loading held-out stacked digits")
    test = load_dataset(data_cfg, "cpu", split="test")  # x: a StackView, y: the true modes
    progress(0.1, "loading the digits classifier (trained on first use, then cached)")
    clf = stacked_classifier(data_cfg.img_size, data_cfg.data_dir, device=sampler.device,
                             progress=lambda f: progress(0.1 + 0.3 * f, "training the classifier"))
    z = z_from_seed(seed, sampler.z_dim, n)
    m = min(n, len(test))
    fake_digits, fake_conf, real_digits, real_conf = [], [], [], []
    # chunk by chunk: 26,000 images of 3 x 32 x 32 would be 320 MB as one float tensor
    for start in range(0, n, GEN_BATCH):
        progress(0.4 + 0.45 * start / n, "generating and reading each channel")
        digits, conf = read_digits(sampler.generate(z[start:start + GEN_BATCH]) * 2 - 1, clf)
        fake_digits.append(digits)
        fake_conf.append(conf)
    progress(0.85, "reading held-out triples")
    for start in range(0, m, GEN_BATCH):
        digits, conf = read_digits(test.x[start:min(start + GEN_BATCH, m)], clf)
        real_digits.append(digits)
        real_conf.append(conf)
    generated: dict = {}
    real: dict = {}
    for figures, digits, conf in ((generated, torch.cat(fake_digits), torch.cat(fake_conf)),
                                  (real, torch.cat(real_digits), torch.cat(real_conf))):
        hist = mode_histogram(mode_of_digits(digits), N_MODES)
        figures.update(
            stacked_modes=hist["modes_covered"], n_modes=N_MODES, stacked_kl=hist["kl_uniform"],
            digit_confidence=float(conf.mean()), stacked_counts=hist["counts"],
            channel_digit_counts=[torch.bincount(digits[:, c], minlength=10).tolist() for c in range(digits.shape[1])],
        )
    true_modes = test.y[:m].cpu()
    real["mode_read_accuracy"] = float((mode_of_digits(torch.cat(real_digits)) == true_modes).float().mean())
    notes = [
        f"each channel read by the digits classifier ({data_cfg.img_size} px, "
        f"{100 * clf.test_accuracy:.1f}% on held-out digits); a mode is covered by at least one of the samples",
        f"held-out real: {m} triples stacked from digits' held-out images (none of them in the training triples)",
        f"KL from uniform has a floor from counting alone, about (1000 - 1) / (2 x {n}) = {999 / (2 * n):.3f}",
    ]
    counts = {key: [n, m] for key in (*generated, *real)}  # samples behind each figure: generated, real
    return {"n_generated": n, "n_real": m, "n_compared": m, "generated": generated, "real": real,
            "counts": counts, "classifier": clf.summary(), "notes": notes}


def _reference_indices(n_train: int, m: int, seed: int) -> list[int]:
    """Training-set row of each reference row (the reference is _subset(train, m, seed))."""
    return _subset(torch.arange(n_train), m, seed).tolist()


def _json_ready(x):
    """Floats rounded to 5 significant digits, NaN/inf -> None, tuples -> lists (json.dumps-safe)."""
    if isinstance(x, dict):
        return {k: _json_ready(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_json_ready(v) for v in x]
    if isinstance(x, float):
        return float(f"{x:.5g}") if math.isfinite(x) else None
    return x


# ------------------------------------------------------------------------------ report
def _cell(value) -> str:
    if value is None:
        return "-"
    if isinstance(value, int):
        return str(value)
    if abs(value) >= 100:
        return f"{value:.1f}"
    return f"{value:.3f}" if abs(value) >= 0.01 or value == 0 else f"{value:.2e}"


OUT_OF = {"classes_covered": "n_classes", "modes_covered": "n_modes", "stacked_modes": "n_modes"}  # figure -> the count it is out of


def table_rows(report: dict) -> list[tuple[str, str, str, str]]:
    """The figures a report holds, in METRICS order, as text: (label, generated, held-out real, better)."""
    gen, real = report.get("generated", {}), report.get("real", {})
    rows = []
    for key, (label, better) in METRICS.items():
        if key not in gen and key not in real:
            continue
        g, r = gen.get(key), real.get(key)
        if key in OUT_OF:  # "10 / 10": covered out of how many there are
            total = OUT_OF[key]
            g, r = (f"{v} / {figures.get(total)}" if v is not None else None for v, figures in ((g, gen), (r, real)))
        rows.append((label, g if isinstance(g, str) else _cell(g), r if isinstance(r, str) else _cell(r), better))
    return rows


def format_report(report: dict) -> str:
    """A human-readable table of an evaluate_checkpoint report: metric, generated, held-out real, better."""
    gen, real = report.get("generated", {}), report.get("real", {})
    title = report.get("checkpoint") or report.get("name") or "generator"
    what = "points" if report.get("kind") == "2d" else "images"
    lines = [
        f"{title}: {report.get('dataset')} at step {report.get('step')}"
        f"{' (conditional)' if report.get('conditional') else ''}, on {report.get('device')}",
        f"{report.get('n_generated')} generated {what} (seed {report.get('seed')}) beside "
        f"{report.get('n_real')} held-out real {what}; {report.get('seconds')} s",
    ]
    clf = report.get("classifier")
    if clf:
        origin = "trained now" if clf.get("trained_now") else "cached"
        lines.append(f"classifier: {clf['dataset']} {clf['img_size']}px, held-out accuracy "
                     f"{100 * clf['test_accuracy']:.1f}% ({origin}, {clf['path']})")
    lines.append("")
    header = ("metric", "generated", "held-out real", "better")
    rows = table_rows(report)
    widths = [max(len(str(row[i])) for row in (header, *rows)) for i in range(4)]
    for i, row in enumerate((header, *rows)):
        lines.append(f"{row[0]:<{widths[0]}}  {row[1]:>{widths[1]}}  {row[2]:>{widths[2]}}  {row[3]}")
        if i == 0:
            lines.append("-" * (sum(widths) + 6 + 4))
    for name, figures in (("generated", gen), ("held-out real", real)):
        counts = figures.get("class_counts") or figures.get("mode_counts")
        if counts:
            lines.append(f"{'class' if 'class_counts' in figures else 'mode'} histogram, {name}: "
                         + " ".join(f"{i}:{c}" for i, c in enumerate(counts)))
    near = report.get("nearest_train")
    if near:
        lines.append(f"nearest training images in {near['space']} space ({near['distance']}):")
        for g, idx, dist in zip(near["generated"], near["train_indices"], near["distances"]):
            lines.append(f"  generated #{g}: " + ", ".join(f"train {i} ({d:.3f})" for i, d in zip(idx, dist)))
    fid = report.get("standard_fid")
    if fid and fid.get("note") and "fid" not in gen:
        lines.append(fid["note"])
    for note in report.get("notes", []):
        lines.append(f"note: {note}")
    return "\n".join(lines)
