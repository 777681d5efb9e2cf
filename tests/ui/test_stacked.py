"""Stacked digits (1,000 modes): the dataset, the mode reader, modes covered / KL, and `eval` on a tiny run."""
import json
import math

import numpy as np
import pytest
import torch

from gan_demo.__main__ import main
from gan_demo.evaluation.classifier import load_classifier
from gan_demo.core.config import ConfigError, DataConfig, ModelConfig, RunConfig, TrainConfig
from gan_demo.data.datasets import DataError, _digits_split, load_dataset
from gan_demo.evaluation.evaluate import default_n, evaluate_checkpoint, format_report
from gan_demo.evaluation.metrics import mode_histogram
from gan_demo.evaluation.modes import read_digits
from gan_demo.data.stacked import EVAL_N, N_MODES, SPLIT_TRIPLES, draw_triples, load_stacked_digits
from gan_demo.training.trainer import Trainer

QUICK_IMAGES = 3000  # training length of the test classifier (as tests/test_eval.py)
CFG16 = DataConfig(dataset="stacked-digits", img_size=16)


@pytest.fixture(scope="module")
def train16():
    return load_dataset(CFG16, "cpu", split="train")


@pytest.fixture(scope="module")
def test16():
    return load_dataset(CFG16, "cpu", split="test")


@pytest.fixture(scope="module")
def digits16():
    cfg = DataConfig(dataset="digits", img_size=16, channels=1)
    return load_dataset(cfg, "cpu", split="train"), load_dataset(cfg, "cpu", split="test")


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    """A data folder holding a quickly trained 16 px digits classifier (the one that reads each channel)."""
    root = tmp_path_factory.mktemp("data")
    load_classifier("digits", 16, 1, data_dir=root, device="cpu", images=QUICK_IMAGES)
    return root


# ------------------------------------------------------------------------------ the dataset
def test_shape_and_each_channel_is_a_digit_of_its_split(train16, digits16):
    digits_train, _ = digits16
    assert len(train16) == SPLIT_TRIPLES["train"] and train16.kind == "image"
    assert (train16.channels, train16.img_size, train16.data_dim) == (3, 16, 3 * 16 * 16)
    assert train16.n_classes == 0 and train16.class_names == []  # unconditional
    x, y = train16.sample(32, torch.Generator().manual_seed(0))
    assert x.shape == (32, 3, 16, 16) and x.dtype == torch.float32 and -1 <= x.min() and x.max() <= 1
    # row 5, channel by channel: the very digit image (same preprocessing as `digits`) the index names
    rows = train16.x.index[5]
    one = train16.x[5]
    assert one.shape == (3, 16, 16)
    for c in range(3):
        assert torch.equal(one[c], digits_train.x[rows[c], 0])
    labels = digits_train.y[rows]
    assert int(train16.y[5]) == int(100 * labels[0] + 10 * labels[1] + labels[2])
    assert torch.equal(train16.x[torch.tensor([5, 7])][0], one) and train16.x[2:4].shape == (2, 3, 16, 16)


def test_modes_uniform_and_channels_independent(train16, digits16):
    # chi-square of the 1,000-mode histogram of the 100,000 training triples: 999 degrees of freedom,
    # mean 999, sd 44.7; a stacking that favoured a mode or tied two channels would be far outside
    counts = torch.bincount(train16.y, minlength=N_MODES).double()
    expected = len(train16) / N_MODES
    chi2 = float(((counts - expected) ** 2 / expected).sum())
    assert 999 - 6 * 44.7 < chi2 < 999 + 6 * 44.7
    # the labels stored match the digits actually stacked, for every triple
    labels = digits16[0].y[train16.x.index]  # (N, 3)
    assert torch.equal(train16.y, labels[:, 0] * 100 + labels[:, 1] * 10 + labels[:, 2])
    # pairs of channels: independent (10 x 10 joint against the product of marginals)
    for a, b in ((0, 1), (1, 2), (0, 2)):
        joint = torch.bincount(labels[:, a] * 10 + labels[:, b], minlength=100).double()
        chi2 = float(((joint - len(train16) / 100) ** 2 / (len(train16) / 100)).sum())
        assert chi2 < 99 + 6 * 14.1  # 99 degrees of freedom, sd 14.1


def test_classes_uniform_even_for_unbalanced_sources():
    labels = np.array([0] * 50 + list(range(1, 10)))  # digit 0 is 50 times as common among the sources
    rows = draw_triples(labels, 20_000, seed=3)
    share_of_zero = float((labels[rows] == 0).mean())
    assert abs(share_of_zero - 0.1) < 0.01


def test_deterministic_by_seed(train16):
    again = load_dataset(CFG16, "cpu", split="train")
    assert torch.equal(again.x.index, train16.x.index) and torch.equal(again.y, train16.y)
    other = load_stacked_digits(CFG16, torch.device("cpu"), "train", n=1000, seed=5)
    assert not torch.equal(other.x.index, train16.x.index[:1000])
    assert torch.equal(load_stacked_digits(CFG16, torch.device("cpu"), "train", n=1000, seed=5).x.index,
                       other.x.index)


def test_splits_disjoint_in_source_digits(train16, test16, digits16):
    digits_train, digits_test = digits16
    assert len(test16) == SPLIT_TRIPLES["test"]
    assert torch.equal(train16.x.sources, digits_train.x) and torch.equal(test16.x.sources, digits_test.x)
    n = len(digits_train) + len(digits_test)
    assert not set(_digits_split(n, "train").tolist()) & set(_digits_split(n, "test").tolist())
    assert not torch.equal(test16.x.index[:100], train16.x.index[:100])


def test_unconditional_and_three_channels_only():
    with pytest.raises(ConfigError, match="conditional: stacked-digits is unconditional"):
        RunConfig(data=DataConfig(dataset="stacked-digits"), model=ModelConfig(conditional=True)).validate()
    with pytest.raises(DataError, match="3 channels"):
        load_dataset(DataConfig(dataset="stacked-digits", img_size=16, channels=1), "cpu")


# ------------------------------------------------------------------------------ measuring modes
def test_mode_histogram_on_constructed_inputs():
    every = mode_histogram(torch.arange(5000) % N_MODES, N_MODES)
    assert every["modes_covered"] == 1000 and every["kl_uniform"] == pytest.approx(0.0, abs=1e-12)
    one = mode_histogram(torch.full((700,), 123), N_MODES)
    assert one["modes_covered"] == 1 and one["kl_uniform"] == pytest.approx(math.log(1000))
    assert one["counts"][123] == 700 and sum(one["counts"]) == 700
    half = mode_histogram(np.arange(500), N_MODES)  # 500 modes once each: KL = ln 2
    assert half["modes_covered"] == 500 and half["kl_uniform"] == pytest.approx(math.log(2))
    assert mode_histogram([], N_MODES)["kl_uniform"] == pytest.approx(math.log(1000))
    with pytest.raises(ValueError, match="0..999"):
        mode_histogram([1000], N_MODES)


def test_reader_reads_real_stacked_digits(data_dir, test16):
    clf = load_classifier("digits", 16, 1, data_dir=data_dir)
    digits, confidence = read_digits(test16.x[:400], clf)
    labels = load_dataset(DataConfig(dataset="digits", img_size=16, channels=1), "cpu", split="test").y
    true_digits = labels[test16.x.index[:400]]
    per_digit = float((digits == true_digits).float().mean())
    per_mode = float((digits == true_digits).all(1).float().mean())
    # the quick test classifier reads ~9 in 10 digits right; the cached default one ~97%
    assert per_digit > 0.85 and per_mode > 0.6 and digits.shape == confidence.shape == (400, 3)
    assert per_mode == pytest.approx(float((test16.y[:400] == digits[:, 0] * 100 + digits[:, 1] * 10
                                            + digits[:, 2]).float().mean()))


def test_eval_on_a_tiny_run(tmp_path, data_dir, capsys):
    assert default_n("stacked-digits") == EVAL_N == 26_000 and default_n("digits") == 2500
    cfg = RunConfig(data=DataConfig(dataset="stacked-digits", img_size=16, data_dir=str(data_dir)),
                    model=ModelConfig(ngf=8, ndf=8, z_dim=16), train=TrainConfig(batch_size=16, steps=2, device="cpu"))
    trainer = Trainer(cfg)
    assert trainer.cfg.model.channels == 3 and trainer.cfg.model.n_classes == 0
    trainer.step_once()
    trainer.step_once()
    run = trainer.save(tmp_path / "run")
    report = evaluate_checkpoint(run, n=300, device="cpu")
    gen, real = report["generated"], report["real"]
    assert report["n_generated"] == 300 and report["n_real"] == 300 and report["dataset"] == "stacked-digits"
    for figures in (gen, real):
        assert figures["n_modes"] == 1000 and 1 <= figures["stacked_modes"] <= 300
        assert 0 <= figures["stacked_kl"] <= math.log(1000) + 1e-4 and len(figures["stacked_counts"]) == 1000
        assert sum(figures["stacked_counts"]) == 300 and [len(c) for c in figures["channel_digit_counts"]] == [10] * 3
    # 300 real triples over 1,000 modes: almost every one in its own mode (an untrained G: far fewer)
    assert real["stacked_modes"] > 250 and real["mode_read_accuracy"] > 0.6
    assert gen["stacked_modes"] < real["stacked_modes"]
    table = format_report(report)
    assert "modes covered (>= 1 sample)" in table and "/ 1000" in table
    # the CLI: JSON with the same fields
    assert main(["eval", "--checkpoint", str(run), "--n", "300", "--json", "--device", "cpu"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["generated"]["stacked_modes"] == gen["stacked_modes"]


def test_quality_tab_summarises_1000_modes():
    from gan_demo.ui.tabs.quality import HISTOGRAM_ORDER, explanation, figures_table, histogram_frame

    n = 26_000
    collapsed = [0] * 900 + [n // 100] * 100  # 100 modes, 10 fair shares each
    uniform = [26] * 1000
    report = {"kind": "image", "n_generated": n, "n_real": n,
              "generated": {"stacked_modes": 100, "n_modes": 1000, "stacked_kl": math.log(10), "stacked_counts": collapsed},
              "real": {"stacked_modes": 1000, "n_modes": 1000, "stacked_kl": 0.0, "stacked_counts": uniform,
                       "mode_read_accuracy": 0.98}}
    frame = histogram_frame(report)
    gen = dict(zip(frame[frame.series == "generated"].bin, frame[frame.series == "generated"]["count"]))
    real = dict(zip(frame[frame.series == "held-out real"].bin, frame[frame.series == "held-out real"]["count"]))
    assert gen == {"missed (0)": 900, "< 0.5x fair": 0, "0.5-2x fair": 0, "2-4x fair": 0, "> 4x fair": 100}
    assert real["0.5-2x fair"] == 1000 and sum(real.values()) == 1000
    assert set(frame.bar) <= set(HISTOGRAM_ORDER)
    rows = figures_table(report).values.tolist()
    assert rows[0][:3] == ["modes covered (>= 1 sample)", "100 / 1000", "1000 / 1000"]
    assert "1,000 modes" in explanation(report) and "Mode collapse" in explanation(report)


def test_trainer_counts_modes_live_with_a_cached_classifier(tmp_path, data_dir):
    from gan_demo.evaluation.live_quality import live_quality
    from gan_demo.evaluation.modes import LIVE_EVERY, LIVE_SAMPLES
    from gan_demo.ui.run_views import quality_boxes
    from gan_demo.ui.tabs.train import quality_line, quality_plots

    def trainer_in(folder):
        return Trainer(RunConfig(data=DataConfig(dataset="stacked-digits", img_size=16, data_dir=str(folder)),
                                 model=ModelConfig(ngf=8, ndf=8, z_dim=16),
                                 train=TrainConfig(batch_size=16, steps=2, device="cpu")), live_quality=live_quality)

    assert trainer_in(tmp_path).quality_every == 0  # no classifier cached there: no live count, no stall
    trainer = trainer_in(data_dir)
    assert trainer.quality_every == LIVE_EVERY and LIVE_SAMPLES == 2600
    trainer.run(2)  # the first read-back measures
    snap = trainer.snapshot()
    q = snap["quality"]
    assert q["step"] == 2 and q["n_modes"] == 1000 and 1 <= q["modes_covered"] <= LIVE_SAMPLES
    assert q["grid_kl"] is None and 0 <= q["mode_kl"] <= math.log(1000) + 1e-9
    assert "Modes covered at step 2" in quality_line(q) and "Grid" not in quality_line(q)
    kl, js, modes, n_modes = quality_plots(snap["quality_history"])
    assert kl is None and js is None and modes is not None and n_modes == 1000
    assert quality_boxes(trainer) == {"box": True, "grid": False, "modes": True}


def test_cli_trains_stacked_digits_with_the_live_count(tmp_path, data_dir, capsys):
    out = tmp_path / "run"
    assert main(["train", "--dataset", "stacked-digits", "--img-size", "16", "--ngf", "8", "--ndf", "8",
                 "--z-dim", "16", "--batch-size", "16", "--steps", "12", "--data-dir", str(data_dir),
                 "--save-every", "0", "--out", str(out)]) == 0
    captured = capsys.readouterr()
    summary = json.loads(captured.out.strip().splitlines()[-1])
    assert summary["state"] == "finished" and summary["step"] == 12
    assert "modes " in captured.err and "/1000 KL" in captured.err  # the progress bar's live count
    with pytest.raises(SystemExit):
        main(["train", "--dataset", "stacked-digits", "--conditional", "--out", str(out)])
    assert "stacked-digits is unconditional" in capsys.readouterr().err
