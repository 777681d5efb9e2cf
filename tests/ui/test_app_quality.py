"""Quality tab: real evaluations of tiny runs through the tab's handlers, its table, histogram and pictures."""
from __future__ import annotations

import json
import re
from types import SimpleNamespace

import pytest
import torch
from PIL import Image

gr = pytest.importorskip("gradio")

from gan_demo.data import datasets as data_module  # noqa: E402
from gan_demo.__main__ import main  # noqa: E402
from gan_demo.evaluation.classifier import load_classifier  # noqa: E402
from gan_demo.core.config import DataConfig, ModelConfig, RunConfig, TrainConfig  # noqa: E402
from gan_demo.data.datasets import load_dataset  # noqa: E402
from gan_demo.evaluation.evaluate import DEFAULT_SEED, METRICS, evaluate_sampler  # noqa: E402
from gan_demo.explore.latent import z_from_seed  # noqa: E402
from gan_demo.training.trainer import Trainer  # noqa: E402
from gan_demo.ui.tabs import quality as quality_tab  # noqa: E402
from gan_demo.ui.app import AppContext, build_demo  # noqa: E402
from gan_demo.ui.tabs.quality import GENERATED, REAL, TABLE_HEADERS  # noqa: E402

N = 300  # generated samples per evaluation: enough for every figure, quick on 2 cores
# measure() returns (status, results, summary, table, explanation, histogram box, caption, histogram,
#                    nearest box, nearest picture, notes, command)
STATUS, RESULTS, SUMMARY, TABLE, EXPLAIN, HIST_BOX, HIST_CAPTION, HIST, NEAR_BOX, NEAR, NOTES, COMMAND = range(12)


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    """A data folder holding a quickly trained 16 px digits classifier (the app would train a longer one)."""
    root = tmp_path_factory.mktemp("data")
    load_classifier("digits", 16, 1, data_dir=root, device="cpu", images=3000)
    return root


@pytest.fixture(scope="module")
def pretrained(tmp_path_factory, data_dir):
    """Tiny runs named like the pretrained ones: conditional 16 px digits (2 steps) and a ring8 MLP (300 steps)."""
    root = tmp_path_factory.mktemp("pretrained")
    digits = Trainer(RunConfig(data=DataConfig(dataset="digits", img_size=16, data_dir=str(data_dir)),
                               model=ModelConfig(ngf=8, ndf=8, z_dim=16, conditional=True),
                               train=TrainConfig(batch_size=16, steps=2)), device="cpu")
    digits.run()
    digits.save(root / "digits")
    ring = Trainer(RunConfig(data=DataConfig(dataset="ring8", n_points=2000), model=ModelConfig(width=32, depth=2),
                             train=TrainConfig(batch_size=128, steps=300)), device="cpu")
    ring.run()
    ring.save(root / "ring8")
    return root


@pytest.fixture(scope="module")
def ctx(pretrained, data_dir):
    return AppContext.create(device="cpu", pretrained=pretrained, data_dir=data_dir)


@pytest.fixture(scope="module")
def quality(ctx):
    return quality_tab.Quality(ctx)


@pytest.fixture
def request_(request):
    """A stand-in for gr.Request: the handlers only read its session_hash."""
    return SimpleNamespace(session_hash=f"test-{request.node.name}")


def measure(quality, request_, name, n=N, calls=None):
    def progress(fraction, desc=None):
        if calls is not None:
            calls.append((fraction, desc))

    return quality.measure(request_, name, n, progress=progress)


def row(table, label) -> dict:
    rows = table[table["figure"] == label]
    assert len(rows) == 1, f"{label!r} not in {table['figure'].tolist()}"
    return rows.iloc[0].to_dict()


@pytest.fixture(scope="module")
def digits_out(quality):
    calls = []
    out = measure(quality, SimpleNamespace(session_hash="digits"), "digits", calls=calls)
    return out, calls


# ----------------------------------------------------------------------------------- images
def test_digits_table_holds_the_figures_of_a_real_evaluation(digits_out, ctx):
    out, _ = digits_out
    assert out[STATUS] == "" and out[RESULTS]["visible"] is True
    table = out[TABLE]
    assert list(table.columns) == TABLE_HEADERS
    # the same evaluation again, straight from the engine: the table shows its figures
    report = evaluate_sampler(ctx.catalog.sampler("digits"), n=N)
    labels = [METRICS[key][0] for key in METRICS if key in report["generated"]]
    assert table["figure"].tolist() == labels
    for key, column in (("generated", GENERATED), ("real", REAL)):
        figures = report[key]
        covered = re.fullmatch(r"(\d+) / 10", row(table, "classes covered")[column])
        assert covered and int(covered.group(1)) == figures["classes_covered"] and 0 <= figures["classes_covered"] <= 10
        fd = row(table, METRICS["fd_classifier"][0])[column]
        assert float(fd) == pytest.approx(figures["fd_classifier"], rel=2e-3)
        precision = float(row(table, METRICS["precision"][0])[column])
        assert 0 <= precision <= 1 and precision == pytest.approx(figures["precision"], abs=1e-3)
    assert row(table, METRICS["fd_classifier"][0])["better"] == "lower"
    assert row(table, METRICS["recall"][0])["better"] == "higher"
    assert row(table, METRICS["label_accuracy"][0])  # conditional run: accuracy on the requested labels
    assert f"{N} generated images" in out[SUMMARY] and "Classifier: digits 16 px" in out[SUMMARY]


def test_digits_histogram_has_10_classes_by_2_series_summing_to_n(digits_out):
    out, _ = digits_out
    assert out[HIST_BOX]["visible"] is True and "Class histogram" in out[HIST_CAPTION]
    frame = out[HIST]
    assert sorted(frame["series"].unique()) == sorted([GENERATED, REAL])
    assert frame.groupby("series")["bin"].nunique().to_dict() == {GENERATED: 10, REAL: 10}
    totals = frame.groupby("series")["count"].sum()
    assert totals[GENERATED] == N
    assert totals[REAL] > 300  # the whole held-out split of the 1,797 digits (a fifth)
    assert frame.groupby("series")["share"].sum().tolist() == pytest.approx([1.0, 1.0])
    # every bar has its own x category, in the chart's order (so the two series stand side by side)
    assert set(frame["bar"]) <= set(quality_tab.HISTOGRAM_ORDER) and frame["bar"].is_unique


def test_digits_nearest_training_images_are_the_scored_samples_and_their_neighbours(ctx, data_dir):
    sampler = ctx.catalog.sampler("digits")
    report = evaluate_sampler(sampler, n=N, keep_samples=True)
    samples, near = report["samples"], report["nearest_train"]
    # the generated row: the first images of the scored batch (seeded, so they can be drawn again)
    again = sampler.generate(z_from_seed(DEFAULT_SEED, sampler.z_dim, N))[:len(near["generated"])]
    assert torch.allclose(samples["generated"], again, atol=1e-5)
    # the rows below: training images by the indices the report lists
    train = load_dataset(DataConfig(dataset="digits", img_size=16, channels=1, data_dir=str(data_dir)), "cpu")
    expected = (train.x[torch.tensor(near["train_indices"])] + 1) / 2
    assert torch.allclose(samples["nearest"], expected, atol=1e-6)
    rms = ((samples["generated"][:, None] - samples["nearest"]) * 2).pow(2).mean((2, 3, 4)).sqrt()  # [-1, 1] units
    assert rms.flatten().tolist() == pytest.approx(sum(near["distances"], []), abs=1e-3)
    picture = quality_tab.nearest_picture_of(report)
    assert isinstance(picture, Image.Image) and picture.width > 8 * 64 and picture.height > 4 * 64
    json.dumps({k: v for k, v in report.items() if k != "samples"})  # the rest stays JSON-friendly


def test_digits_explanation_notes_progress_and_command(digits_out, pretrained, capsys):
    out, calls = digits_out
    text = out[EXPLAIN]
    for words in ("FID analogue", "not the FID published", "Kynkäänniemi", "look real", "real variety",
                  "few classes only", "memorises", "held-out real"):
        assert words in text, words
    assert "modes covered" not in text  # only the figures this report holds
    assert out[NEAR_BOX]["visible"] is True and isinstance(out[NEAR], Image.Image)
    assert "standard FID" in out[NOTES] and out[NOTES].count("\n- ") >= 2
    fractions = [f for f, _ in calls]
    assert fractions == sorted(fractions) and fractions[-1] == 1.0
    assert any("classifier" in (desc or "") for _, desc in calls)
    # the command shown gives the same figures from the CLI
    command = out[COMMAND]
    assert command == f"python -m gan_demo eval --checkpoint {pretrained / 'digits'} --n {N}"
    assert main(command.split()[3:] + ["--json"]) == 0
    cli = json.loads(capsys.readouterr().out)
    assert f"{cli['generated']['classes_covered']} / 10" == row(out[TABLE], "classes covered")[GENERATED]
    assert float(row(out[TABLE], METRICS["fd_classifier"][0])[GENERATED]) == pytest.approx(
        cli["generated"]["fd_classifier"], rel=2e-3)


# ---------------------------------------------------------------------------------------- 2D
def test_ring8_gives_modes_covered_grid_js_and_a_mode_histogram(quality, request_):
    out = measure(quality, request_, "ring8", n=1000)
    table = out[TABLE]
    for column in (GENERATED, REAL):
        covered = re.fullmatch(r"(\d+) / 8", row(table, "modes covered")[column])
        assert covered and 0 <= int(covered.group(1)) <= 8
        assert 0 <= float(row(table, METRICS["grid_js"][0])[column]) <= 0.6932
    assert row(table, "modes covered")[REAL] == "8 / 8"
    assert "classes covered" not in table["figure"].tolist()
    frame = out[HIST]
    assert frame.groupby("series")["bin"].nunique().to_dict() == {GENERATED: 8, REAL: 8}
    assert 0 < frame[frame["series"] == GENERATED]["count"].sum() <= 1000  # high-quality samples only
    assert "Mode histogram" in out[HIST_CAPTION]
    assert out[NEAR_BOX]["visible"] is False and out[NEAR] is None
    assert "GAN Lab" in out[EXPLAIN] and "Kynkäänniemi" not in out[EXPLAIN]
    assert out[COMMAND].endswith("ring8 --n 1000")


def test_the_current_run_is_measured_while_it_trains(quality, request_):
    session = quality.ctx.registry.get(request_.session_hash)
    cfg = RunConfig(data=DataConfig(dataset="ring8", n_points=1000), model=ModelConfig(width=16),
                    train=TrainConfig(batch_size=64, steps=100_000))
    quality.ctx.registry.start(session, cfg, "cpu")
    try:
        listed = quality.refresh(request_, "digits")
        assert "current run" in listed["choices"] and "value" not in listed  # the pick stays
        assert quality.refresh(request_, "gone")["value"] == "digits"
        out = measure(quality, request_, "current run", n=500)
        assert out[STATUS] == "" and "modes covered" in out[TABLE]["figure"].tolist()
        assert "live run keeps training" in out[SUMMARY]
        assert out[COMMAND].startswith("# save the run on the Train tab")
    finally:
        quality.ctx.registry.stop(session)


# ------------------------------------------------------------------------------------ errors
def test_an_unknown_checkpoint_gives_a_readable_sentence(quality, request_):
    with pytest.warns(UserWarning, match="no checkpoint named 'nope'"):
        out = measure(quality, request_, "nope")
    assert out[STATUS].startswith("⚠ Could not measure **nope**: no checkpoint named 'nope'")
    assert "Traceback" not in out[STATUS] and out[RESULTS]["visible"] is False


def test_a_dataset_that_cannot_be_loaded_offline_gives_its_message(quality, request_, pretrained, tmp_path,
                                                                  monkeypatch):
    """A run on mnist with no copy of mnist here and no network: the DataError's sentence, nothing else."""
    folder = pretrained / "mnist-run"
    folder.mkdir()
    for f in (pretrained / "digits").iterdir():
        (folder / f.name).write_bytes(f.read_bytes())
    config = json.loads((folder / "config.json").read_text())
    config["data"].update(dataset="mnist", data_dir=str(tmp_path / "empty"))
    (folder / "config.json").write_text(json.dumps(config))
    monkeypatch.setattr(data_module, "_can_reach", lambda url: False)
    with pytest.warns(UserWarning):
        out = measure(quality, request_, "mnist-run")
    assert out[STATUS].startswith("⚠ Could not measure **mnist-run**: could not download mnist (no network?)")
    # the server's own data folder, not the one the checkpoint names (for an uploaded run, the uploader's words)
    assert str(tmp_path / "empty") not in out[STATUS] and "the server's data folder" in out[STATUS]
    assert not (tmp_path / "empty").exists()


def test_an_uploaded_run_naming_a_server_path_is_not_read(quality, request_, pretrained, tmp_path):
    """An uploaded run zip's config.json names its dataset: a server folder must never be read for it."""
    import zipfile

    secret = tmp_path / "secret_points.csv"
    secret.write_text("x,y\n" + "\n".join(f"{i % 5},{i % 3}" for i in range(300)))
    config = json.loads((pretrained / "ring8" / "config.json").read_text())
    config["data"].update(dataset=str(secret), data_dir=str(tmp_path / "elsewhere"))
    archive = tmp_path / "run.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("run/config.json", json.dumps(config))
        zf.write(pretrained / "ring8" / "model.safetensors", "run/model.safetensors")
    session = quality.ctx.registry.get(request_.session_hash)
    name = quality.ctx.catalog.add_upload(archive, session)
    with pytest.warns(UserWarning):
        out = measure(quality, request_, name)
    assert "trained on its own files (secret_points.csv), which are not on this server" in out[STATUS]
    assert str(secret) not in out[STATUS] and not (tmp_path / "elsewhere").exists()


def test_too_few_samples_are_refused_in_words(quality, request_):
    with pytest.warns(UserWarning):
        out = measure(quality, request_, "ring8", n=5)
    assert "n must be between 10 and 100000" in out[STATUS]


# ------------------------------------------------------------------------------------ wiring
def test_the_tab_sits_after_interpolate_and_its_evaluation_is_private_and_one_at_a_time(ctx):
    demo = build_demo(ctx)
    tabs = [block.id for block in demo.blocks.values() if isinstance(block, gr.Tab)]
    assert tabs.index("quality") == tabs.index("interpolate") + 1 and tabs[tabs.index("quality") + 1] == "lab"
    measures = [fn for fn in demo.fns.values() if fn.name == "measure"]
    assert len(measures) == 1
    # One evaluation at a time is the evaluations queue's (one per visitor, the rest wait in turn); Gradio
    # only bounds the handlers waiting in it.
    from gan_demo.ui.long_jobs import THREADS

    assert measures[0].concurrency_limit == THREADS and ctx.evaluations.workers == 1
    assert ctx.evaluations.per_session == 1 and measures[0].api_visibility == "private"
    assert measures[0].show_progress == "full"
    quality_events = [fn for fn in demo.fns.values() if getattr(fn.fn, "__self__", None).__class__ is quality_tab.Quality]
    assert quality_events and all(fn.api_visibility == "private" for fn in quality_events)


def test_the_figures_say_their_sample_counts_fd_compares_like_with_like_and_a_missing_fid_is_quiet(digits_out):
    """Issue 22: the table said 2,500 generated while FD used 359; FD's sample-size bias was not explained; the
    held-out column was "what a perfect generator would reach"; a missing torchmetrics read as an error."""
    out, _ = digits_out
    table = out[TABLE]
    fd = row(table, METRICS["fd_classifier"][0])[quality_tab.SAMPLES]
    generated, real = (int(v.replace(",", "")) for v in fd.split(" / "))
    assert generated == real  # FD is biased by the count: both sides use the same one
    assert all(v != "–" for v in table[quality_tab.SAMPLES])
    assert "Sample-size bias" in out[EXPLAIN] and "perfect generator" not in out[EXPLAIN]
    assert "cannot be imported" not in out[NOTES] and "Error" not in out[NOTES]


def test_the_summary_names_the_figures_whose_sample_counts_differ():
    """A 2D report whose real column has fewer points than were generated says so for those figures, and only
    figures measured on equal counts are called like for like."""
    report = {"counts": {"modes_covered": [2500, 1000], "grid_kl": [2500, 1000]}}
    words = quality_tab.sample_counts_words(report, "points")
    assert "modes covered" in words and "same count" not in words
    assert quality_tab.sample_counts_words({"counts": {"fd_classifier": [359, 359]}}, "images") == ""
