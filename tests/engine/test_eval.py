"""Image metrics, the self-trained classifier and `python -m gan_demo eval`: tiny models, CPU, offline."""
import json
import math

import numpy as np
import pytest
import torch

from gan_demo.evaluation import classifier as classifier_module
from gan_demo.__main__ import main
from gan_demo.evaluation.classifier import classifier_path, load_classifier
from gan_demo.core.config import DataConfig, ModelConfig, RunConfig, TrainConfig
from gan_demo.data.datasets import load_dataset
from gan_demo.evaluation.metrics import (class_histogram, classifier_score, frechet_distance, knn_precision_recall,
                              label_accuracy, nearest_neighbours, standard_fid)
from gan_demo.training.trainer import Trainer

QUICK_IMAGES = 3000  # training length of the test classifier (the real default is longer)


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    """A data folder holding a quickly trained 16 px digits classifier."""
    root = tmp_path_factory.mktemp("data")
    load_classifier("digits", 16, 1, data_dir=root, device="cpu", images=QUICK_IMAGES)
    return root


@pytest.fixture(scope="module")
def digits16():
    cfg = DataConfig(dataset="digits", img_size=16, channels=1)
    return load_dataset(cfg, "cpu", split="train"), load_dataset(cfg, "cpu", split="test")


def tiny_run(tmp_path, data_dir, **model):
    cfg = RunConfig(data=DataConfig(dataset="digits", img_size=16, data_dir=str(data_dir)),
                    model=ModelConfig(ngf=8, ndf=8, z_dim=16, **model),
                    train=TrainConfig(batch_size=16, steps=2, device="cpu"))
    trainer = Trainer(cfg)
    trainer.step_once()
    trainer.step_once()
    return trainer.save(tmp_path / "run")


# ------------------------------------------------------------------------------ classifier
def test_classifier_trains_caches_and_reloads(data_dir, digits16):
    path = classifier_path(data_dir, "digits", 16, 1)
    meta = json.loads(path.with_suffix(".json").read_text())
    assert path.is_file() and meta["dataset"] == "digits" and meta["n_classes"] == 10
    assert meta["test_accuracy"] > 0.8  # even the quick test classifier; the default one gets > 0.95
    _, test = digits16
    first = load_classifier("digits", 16, 1, data_dir=data_dir)
    classifier_module._loaded.clear()  # forget the in-process copy: read the files
    again = load_classifier("digits", 16, 1, data_dir=data_dir)
    assert not again.trained_now and again.test_accuracy == pytest.approx(meta["test_accuracy"])
    feats, probs = again.features_and_probs(test.x[:50])
    assert feats.shape == (50, again.feature_dim) and probs.shape == (50, 10)
    assert torch.allclose(probs.sum(1), torch.ones(50), atol=1e-5)
    assert torch.allclose(first.features(test.x[:50]), feats, atol=1e-5)
    with pytest.raises(ValueError, match="shape"):
        again.features(torch.zeros(2, 1, 32, 32))


def test_classifier_training_is_deterministic(digits16):
    train, test = digits16
    a, _ = classifier_module.train_classifier(train, None, seed=3, images=256)
    b, _ = classifier_module.train_classifier(train, None, seed=3, images=256)
    for (name, x), (_, y) in zip(a.state_dict().items(), b.state_dict().items()):
        assert torch.equal(x, y), name


def test_an_unlabelled_set_has_no_classifier():
    with pytest.raises(ValueError, match="labelled"):
        load_classifier("ring8", 16, 1)


# ------------------------------------------------------------------------------ metrics
def test_real_vs_real_is_good_and_noise_is_bad(data_dir, digits16):
    train, test = digits16
    clf = load_classifier("digits", 16, 1, data_dir=data_dir)
    ref = clf.features(train.x)
    real = clf.features(test.x)
    noise = clf.features(torch.rand(len(test), 1, 16, 16, generator=torch.Generator().manual_seed(0)) * 2 - 1)
    fd_real, fd_noise = frechet_distance(real, ref), frechet_distance(noise, ref)
    assert fd_real * 10 < fd_noise
    pr_real, pr_noise = knn_precision_recall(ref, real), knn_precision_recall(ref, noise)
    assert pr_real["precision"] > 0.6 and pr_real["recall"] > 0.6
    assert pr_noise["precision"] < 0.1 and pr_noise["recall"] < 0.1
    probs = clf.probs(test.x)
    assert class_histogram(probs)["classes_covered"] == 10
    assert label_accuracy(probs, test.y) == pytest.approx(clf.test_accuracy, abs=1e-4)
    assert classifier_score(probs) > 3  # 1 for a constant prediction, 10 at best


def test_collapse_to_one_class_shows():
    hist = class_histogram(np.full(500, 7), n_classes=10)
    assert hist["classes_covered"] == 1 and hist["class_kl"] == pytest.approx(math.log(10))
    assert hist["counts"][7] == 500
    uniform = class_histogram(np.arange(1000) % 10, n_classes=10)
    assert uniform["classes_covered"] == 10 and uniform["class_kl"] == pytest.approx(0.0, abs=1e-12)
    one_hot = torch.eye(10)
    assert classifier_score(one_hot[np.full(100, 3)]) == pytest.approx(1.0, rel=1e-6)
    assert classifier_score(one_hot[np.arange(100) % 10]) == pytest.approx(10.0, rel=1e-4)
    assert classifier_score(torch.full((100, 10), 0.1)) == pytest.approx(1.0, rel=1e-6)


def test_frechet_distance_of_gaussians():
    g = torch.Generator().manual_seed(0)
    a = torch.randn(4000, 4, generator=g, dtype=torch.float64)
    assert frechet_distance(a, a) == pytest.approx(0.0, abs=1e-8)
    assert frechet_distance(a, a + torch.tensor([3.0, 0, 0, 0], dtype=torch.float64)) == pytest.approx(9.0, rel=1e-6)
    # N(0, I) vs N(0, 4I) in 4-d: tr(I) + tr(4I) - 2 tr(2I) = 4
    b = torch.randn(4000, 4, generator=g, dtype=torch.float64) * 2
    assert frechet_distance(a, b) == pytest.approx(4.0, abs=0.4)


def test_knn_precision_recall_and_nearest_neighbours():
    g = torch.Generator().manual_seed(0)
    real = torch.randn(300, 8, generator=g)
    assert knn_precision_recall(real, real.clone()) == {"precision": 1.0, "recall": 1.0, "k": 3}
    collapsed = real[:1].repeat(300, 1) + 1e-3 * torch.randn(300, 8, generator=g)
    pr = knn_precision_recall(real, collapsed)
    assert pr["precision"] == 1.0 and pr["recall"] < 0.1  # faithful but not diverse
    near = nearest_neighbours(real[[5, 17]] + 1e-4, real, k=2)
    assert [row[0] for row in near["indices"]] == [5, 17]
    assert near["distances"][0][0] < 1e-3 < near["distances"][0][1]


def test_standard_fid_is_a_note_without_torchmetrics_or_its_weights(monkeypatch, tmp_path):
    """Never an error and never a download: without torchmetrics, or with it but without the Inception weights
    in torch hub's cache (an empty cache folder here), the result is a note saying which."""
    import sys

    x = torch.zeros(4, 1, 16, 16)
    monkeypatch.setitem(sys.modules, "torchmetrics", None)  # an import of it fails, installed or not
    monkeypatch.setitem(sys.modules, "torchmetrics.image.fid", None)
    out = standard_fid(x, x)
    assert out["value"] is None
    assert out["note"].startswith("standard FID not computed: torchmetrics cannot be imported")
    monkeypatch.undo()
    try:
        import torchmetrics.image.fid  # noqa: F401
    except Exception:
        return  # not installed here: the second case needs it
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path))
    out = standard_fid(x, x)
    assert out["value"] is None and "the Inception weights are not in" in out["note"]


# ------------------------------------------------------------------------------ eval
IMAGE_KEYS = {"fd_classifier", "classifier_score", "classes_covered", "class_kl", "class_counts",
              "precision", "recall", "nn_train_rms_median"}


def test_eval_cli_json_on_a_tiny_digits_checkpoint(tmp_path, data_dir, capsys):
    run = tiny_run(tmp_path, data_dir, conditional=True)
    assert main(["eval", "--checkpoint", str(run), "--n", "100", "--json", "--device", "cpu"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["kind"] == "image" and report["n_generated"] == 100 and report["conditional"]
    assert IMAGE_KEYS | {"label_accuracy"} <= set(report["generated"]) and IMAGE_KEYS <= set(report["real"])
    assert report["real"]["classes_covered"] == 10
    assert not report["classifier"]["trained_now"]  # the fixture's cached classifier
    assert report["standard_fid"]["note"]
    near = report["nearest_train"]
    assert near["space"].startswith("pixel") and len(near["train_indices"]) == 8 and len(near["distances"][0]) == 3
    # the table names every figure
    assert main(["eval", "--checkpoint", str(run), "--n", "100", "--device", "cpu"]) == 0
    table = capsys.readouterr().out
    for label in ("FD_classifier", "precision", "classes covered", "held-out real", "accuracy on requested labels"):
        assert label in table


def test_eval_of_a_2d_checkpoint(tmp_path, capsys):
    cfg = RunConfig(data=DataConfig(dataset="ring8", n_points=1000),
                    model=ModelConfig(width=16, depth=2), train=TrainConfig(batch_size=64, device="cpu"))
    trainer = Trainer(cfg)
    trainer.step_once()
    run = trainer.save(tmp_path / "ring")
    assert main(["eval", "--checkpoint", str(run), "--n", "500", "--json", "--device", "cpu"]) == 0
    report = json.loads(capsys.readouterr().out)
    for figures in (report["generated"], report["real"]):
        assert {"modes_covered", "high_quality", "mode_kl", "grid_kl", "grid_js"} <= set(figures)
    assert report["real"]["modes_covered"] == 8 and report["real"]["grid_js"] < 0.1

