"""Comparisons in the app: a live comparison's runs in Explore's lists (private to their session), a saved
comparison reopened from its zip (and hostile zips refused), and the /compare_* API over HTTP."""
from __future__ import annotations

import json
import shutil
import time
import zipfile
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch

from gan_demo.training.checkpoint import CheckpointError
from gan_demo.training.compare import COMPARISON_FILE, Comparison, read_summary
from gan_demo.core.config import DataConfig, ModelConfig, RunConfig, TrainConfig
from gan_demo.explore.latent import z_from_seed
from gan_demo.explore.sampler import Sampler
from gan_demo.training.trainer import Trainer
from gan_demo.ui.tabs import explore as explore_tab
from gan_demo.ui.tabs import interpolate as interpolate_tab
from gan_demo.ui import widgets
from gan_demo.ui.app import AppContext
from gan_demo.ui.catalog import (CURRENT_RUN, MAX_CURVE_POINTS, MAX_SUMMARY_BYTES, PAIR_RUNS, Catalog,
                                 checked_summary, holds_comparison, is_live)
from tests.browser import launched_app

gradio_client = pytest.importorskip("gradio_client")
from gradio_client import Client  # noqa: E402
from gradio_client.exceptions import AppError  # noqa: E402

JOIN_S = 120  # a hang fails the test instead of blocking CI
POLL_TIMEOUT_S = 90  # generous: the suite shares two CPU cores
LONG_RUN = 50_000  # steps of runs the tests stop themselves
# Rates (and z_dim) given: ring8's auto rates, lr_decay and z_dim depend on the loss (gan_demo.families.gan.RECIPES_2D),
# so a loss-only comparison names them.
SAME_RATES = {"lr_g": 1e-3, "lr_d": 1e-3, "lr_decay": 0.0}
TINY_A = json.dumps({"width": 16, "depth": 2, "z_dim": 8, "batch_size": 64, "steps": LONG_RUN, **SAME_RATES})


def tiny(steps: int = 4, **train) -> RunConfig:
    return RunConfig(data=DataConfig(dataset="ring8", n_points=500), model=ModelConfig(width=16, depth=2, z_dim=8),
                     train=TrainConfig(**{"batch_size": 32, "steps": steps, "seed": 0, **SAME_RATES, **train}))


@pytest.fixture(scope="module")
def pretrained(tmp_path_factory):
    root = tmp_path_factory.mktemp("pretrained")
    trainer = Trainer(tiny(steps=2), device="cpu")
    trainer.run()
    trainer.save(root / "ring8")
    return root


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    """A comparison (B: the hinge loss) trained 4 steps and saved: (its folder, the Comparison)."""
    pair = Comparison(tiny(), tiny(loss="hinge"), device="cpu")
    pair.start()
    pair.join(JOIN_S)
    assert [t.state for t in pair.runs.values()] == ["finished", "finished"]
    return pair.save(tmp_path_factory.mktemp("saved") / "comparison-0123"), pair


def point(sampler: Sampler, seed: int = 3) -> torch.Tensor:
    return sampler.generate(z_from_seed(seed, sampler.z_dim))[0]


# ------------------------------------------------------------------------ live comparisons in the lists
def test_a_live_comparisons_runs_are_listed_and_private(pretrained):
    ctx = AppContext.create(device="cpu", pretrained=pretrained)
    alice, bob = ctx.registry.get("alice"), ctx.registry.get("bob")
    try:
        pair = ctx.registry.start_pair(alice, tiny(), tiny(loss="hinge"), "cpu")
        pair.join(JOIN_S)
        assert ctx.catalog.choices(alice) == ["ring8", "comparison A", "comparison B"]
        assert ctx.catalog.choices(bob) == ["ring8"]
        assert PAIR_RUNS == {"A": "comparison A", "B": "comparison B"}
        assert all(is_live(n) for n in (CURRENT_RUN, "comparison A", "comparison B", alice.pair_ids["A"]))
        assert not is_live("ring8") and not is_live("upload-0123456789abcdef-A")
        a, b = ctx.catalog.sampler("comparison A", alice), ctx.catalog.sampler("comparison B", alice)
        assert ctx.catalog.sampler(alice.pair_ids["A"], alice) is a and a.name == alice.pair_ids["A"]
        assert torch.equal(point(a), point(Sampler.from_trainer(pair.runs["A"])))
        assert not torch.equal(point(a), point(b))  # B trained with another loss
        for name in ("comparison A", alice.pair_ids["B"], CURRENT_RUN):
            with pytest.raises(KeyError, match="in this session"):
                ctx.catalog.sampler(name, bob)
        with pytest.raises(KeyError, match="in this session"):
            ctx.catalog.sampler(CURRENT_RUN, alice)  # a comparison is not a single run

        explore = explore_tab.Explore(ctx)
        listed = explore.refresh(SimpleNamespace(session_hash="alice"), "comparison B")
        assert listed["value"] == "comparison B" and "comparison A" in listed["choices"]
        view = explore.view("comparison B", 3, widgets.RAW, 1.0, None, [0.0] * widgets.N_SLIDERS,
                            SimpleNamespace(session_hash="alice"))
        assert view[-1].startswith("**comparison B**: ring8 (2D points)")
        interp = interpolate_tab.Interpolate(ctx)
        listed, _, _ = interp.refresh(SimpleNamespace(session_hash="alice"), "comparison A", None, None)
        assert listed["value"] == "comparison A"
        strip, gif, _, status = interp.run(SimpleNamespace(session_hash="alice"), "comparison A",
                                           interpolate_tab.SEED, 1, None, interpolate_tab.SEED, 2, None,
                                           "slerp", 4, False, 1.0, None, 80)
        assert status.startswith("4 frames from seed 1 to seed 2") and Path(gif).read_bytes()[:3] == b"GIF"
        _, _, _, refused = interp.run(SimpleNamespace(session_hash="bob"), "comparison A", interpolate_tab.SEED, 1,
                                      None, interpolate_tab.SEED, 2, None, "slerp", 4, False, 1.0, None, 80)
        assert refused == "⚠ no run named 'comparison A' in this session: start a training run first"
    finally:
        ctx.registry.close()


# ------------------------------------------------------------------------- reopening a saved comparison
def test_a_saved_comparison_reopens_as_two_private_uploads(pretrained, saved, tmp_path):
    folder, pair = saved
    ctx = AppContext.create(device="cpu", pretrained=pretrained)
    alice, bob = ctx.registry.get("alice"), ctx.registry.get("bob")
    # As the Compare tab's Save zips it: members "comparison-0123/A/config.json", ...
    archive = shutil.make_archive(str(tmp_path / folder.name), "zip", root_dir=folder.parent, base_dir=folder.name)
    assert holds_comparison(archive)
    opened = ctx.catalog.add_comparison(archive, alice)
    assert set(opened) == {"A", "B", "summary"}
    assert (opened["A"], opened["B"]) == ("saved comparison A", "saved comparison B")  # in words (issue 22)
    assert ctx.catalog.choices(alice) == ["ring8", opened["A"], opened["B"]]
    assert ctx.catalog.choices(bob) == ["ring8"]
    with pytest.raises(KeyError, match="no checkpoint named"):
        ctx.catalog.sampler(opened["A"], bob)
    for label in ("A", "B"):  # the reopened runs draw exactly what the runs drew
        assert torch.equal(point(ctx.catalog.sampler(opened[label], alice)),
                           point(Sampler.from_trainer(pair.runs[label])))
    summary, stored = opened["summary"], read_summary(folder)
    assert summary["differences"] == {"loss": ["nonsaturating", "hinge"]}
    assert summary["runs"]["B"]["history"] == stored["runs"]["B"]["history"]
    assert summary["runs"]["A"]["history"]["step"] == [1, 2, 3, 4]
    assert summary["runs"]["A"]["quality_history"] == stored["runs"]["A"]["quality_history"]
    assert {k: summary["runs"]["A"][k] for k in ("step", "state", "family")} == {"step": 4, "state": "finished",
                                                                                   "family": "gan"}

    # Without the folder around A/, B/ and comparison.json; opened through Explore's upload button.
    flat = tmp_path / "flat.zip"
    with zipfile.ZipFile(flat, "w") as zf:
        for path in folder.rglob("*"):
            if path.is_file():
                zf.write(path, path.relative_to(folder).as_posix())
    explore = explore_tab.Explore(ctx)
    checkpoint, status = explore.upload_run(SimpleNamespace(session_hash="alice"), str(flat))
    a = checkpoint["value"]
    b = a[:-1] + "B"
    assert a == "saved comparison 2 A" and a != opened["A"] and {a, b} <= set(checkpoint["choices"])
    assert status == f"Loaded the comparison's two runs as **{a}** (A) and **{b}** (B)."
    upload_dir = ctx.catalog._upload_dir(alice)
    ctx.registry.drop("alice")
    assert not upload_dir.exists()  # the session's files go with it
    ctx.registry.close()


def zip_of(path: Path, members: dict[str, bytes]) -> Path:
    """A zip with exactly these member names (zipfile would tidy a leading "/" away: set after the fact)."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in members.items():
            info = zipfile.ZipInfo("member")
            info.filename, info.compress_type = name, zipfile.ZIP_DEFLATED
            zf.writestr(info, data)
    return path


def test_hostile_comparison_zips_are_refused_and_leave_nothing(pretrained, saved, tmp_path):
    folder, _ = saved
    good = {f"{label}/{f}": (folder / label / f).read_bytes()
            for label in ("A", "B") for f in ("config.json", "model.safetensors")}
    good[COMPARISON_FILE] = (folder / COMPARISON_FILE).read_bytes()
    summary = json.loads(good[COMPARISON_FILE])
    config_b = json.loads(good["B/config.json"])

    def changed(**members) -> dict:
        return {**good, **members}

    def b_config(**model) -> bytes:
        return json.dumps({**config_b, "model": {**config_b["model"], **model}}).encode()

    def with_summary(**changes) -> dict:
        return changed(**{COMPARISON_FILE: json.dumps({**summary, **changes})})

    def renamed(old: str, new: str) -> dict:
        out = {k: v for k, v in good.items() if k != old}
        out[new] = good[old]
        return out

    long_history = {"step": list(range(MAX_CURVE_POINTS + 1))}
    cases = {
        "traversal": (renamed("A/config.json", "../A/config.json"), "where a saved comparison keeps A/config.json"),
        "backslashes": (renamed("B/model.safetensors", "..\\B\\model.safetensors"), "where a saved comparison keeps"),
        "absolute": (renamed(COMPARISON_FILE, "/comparison.json"), "where a saved comparison keeps comparison.json"),
        "too deep": (renamed("A/config.json", "x/y/A/config.json"), "where a saved comparison keeps"),
        "twice": ({**good, "other/A/config.json": good["A/config.json"]}, "holds A/config.json twice"),
        "two folders": ({**renamed("B/config.json", "x/B/config.json")}, "in different folders"),
        "missing B": ({k: v for k, v in good.items() if not k.startswith("B/")},
                      "holds no B/config.json, B/model.safetensors"),
        "no summary": ({k: v for k, v in good.items() if k != COMPARISON_FILE}, "holds no comparison.json"),
        "oversized summary": (changed(**{COMPARISON_FILE: b" " * (MAX_SUMMARY_BYTES + 1)}),
                              "comparison.json is too large"),
        "not json": (changed(**{COMPARISON_FILE: b"{runs"}), "comparison.json is not valid JSON"),
        "nested": (changed(**{COMPARISON_FILE: b"[" * 100_000}), "comparison.json is nested too deeply"),
        "three runs": (with_summary(runs={**summary["runs"], "C": summary["runs"]["A"]}),
                       "runs must be exactly A and B"),
        "long curve": (with_summary(runs={**summary["runs"], "A": {**summary["runs"]["A"], "history": long_history}}),
                       "runs.A.history.step must be a list of at most 5,000 numbers"),
        "text in a curve": (with_summary(runs={**summary["runs"], "B": {**summary["runs"]["B"],
                                                                       "history": {"step": ["1"]}}}),
                            "runs.B.history.step must hold numbers only"),
        "wrong family": (with_summary(runs={**summary["runs"], "B": {**summary["runs"]["B"], "family": "vae",
                                                                     "series": ["loss"]}}),
                         "comparison.json says run B is a vae, but its config.json says gan"),
        "wrong shapes": (changed(**{"B/config.json": b_config(width=32)}), "does not match its config"),
        "bigger than the limits": (changed(**{"B/config.json": b_config(width=4096)}),
                                   "run B is bigger than the web app explores: width: at most 1,024"),
    }

    zips = {name: zip_of(tmp_path / f"case-{i}.zip", members) for i, (name, (members, _)) in enumerate(cases.items())}
    before = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*"))
    registry_ctx = AppContext.create(device="cpu", pretrained=pretrained)
    catalog = Catalog(pretrained, registry_ctx.registry, "cpu", upload_root=tmp_path / "uploads")
    session = registry_ctx.registry.get("mallory")
    for name, (_, message) in cases.items():
        with pytest.raises(CheckpointError, match=message):
            catalog.add_comparison(zips[name], session)
    assert catalog.choices(session) == ["ring8"]
    uploads = tmp_path / "uploads"
    assert not uploads.exists() or [p for p in uploads.rglob("*") if p.is_file()] == []
    assert sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*") if not p.is_relative_to(uploads)) == before
    assert catalog.add_comparison(zip_of(tmp_path / "good.zip", good), session)["A"] in catalog.choices(session)
    registry_ctx.registry.close()


def test_checked_summary_keeps_only_known_parts():
    nan = float("nan")
    run = {"step": 2, "state": "finished", "family": "gan", "series": ["loss_d"], "evil": "x",
           "history": {"step": [1, 2], "loss_d": [0.5, nan], "seconds": [0.1, 0.1], "extra": ["?", "?"]},
           "quality_history": {"step": [2], "grid_kl": [1.5], "not_a_field": [3]}}
    summary = json.loads(json.dumps({"format_version": 1, "differences": {"lr_d": [None, 0.001]},
                                     "runs": {"A": run, "B": run}, "secret": 1}))
    checked = checked_summary(summary)
    assert checked == {"format_version": 1, "differences": {"lr_d": [None, 0.001]},
                       "runs": {label: {"step": 2, "state": "finished", "family": "gan", "series": ["loss_d"],
                                        "history": {"step": [1, 2], "loss_d": [0.5, None], "seconds": [0.1, 0.1]},
                                        "quality_history": {"step": [2], "grid_kl": [1.5]}}
                                for label in ("A", "B")}}
    for bad, message in (({**summary, "differences": {"rm -rf": [1, 2]}}, "unknown setting"),
                         ({**summary, "differences": {"loss": ["a" * 201, "b"]}}, "at most 200 characters"),
                         ({**summary, "format_version": 99}, "format_version 99"),
                         ({**summary, "runs": {"A": run, "B": {**run, "series": ["os.system"]}}}, "series must name"),
                         ({**summary, "runs": {"A": run, "B": {**run, "history": {"step": [1], "loss_d": [1, 2]}}}},
                          "columns differ in length")):
        with pytest.raises(CheckpointError, match=message):
            checked_summary(bad)


# ------------------------------------------------------------------------------------------- the API
@pytest.fixture(scope="module")
def app(pretrained):
    with launched_app(pretrained) as (ctx, _, url):
        yield ctx, url


def poll_until(client: Client, done, what: str, which: str = "both") -> dict:
    deadline = time.monotonic() + POLL_TIMEOUT_S
    while True:
        status = client.predict(which, api_name="/compare_poll")
        if done(status["runs"]):
            return status
        assert time.monotonic() < deadline, f"timed out waiting for {what}: {status}"
        time.sleep(0.2)


def test_compare_start_poll_stop_over_the_api(clients):
    alice, bob = clients(), clients()
    started = alice.predict(TINY_A, '{"loss": "hinge"}', api_name="/compare_start")
    runs = started["runs"]
    assert sorted(runs) == ["A", "B"] and runs["A"]["run_id"] != runs["B"]["run_id"]
    assert all(r["run_id"].startswith("run-") and r["target_steps"] == LONG_RUN for r in runs.values())
    assert started["differences"] == {"loss": ["nonsaturating", "hinge"]}
    assert started["commands"]["A"] == ("python -m gan_demo train --dataset ring8 --z-dim 8 --width 16 --depth 2 --lr-g 0.001 "
                                        f"--lr-d 0.001 --batch-size 64 --lr-decay 0.0 --steps {LONG_RUN} "
                                        f"--out runs/{runs['A']['run_id']}")
    assert "--loss hinge" in started["commands"]["B"] and "--loss" not in started["commands"]["A"]
    id_a, id_b = runs["A"]["run_id"], runs["B"]["run_id"]

    both = poll_until(alice, lambda r: r["A"]["step"] > 0 and r["B"]["step"] > 0, "both runs' first steps")
    assert both["runs"]["A"]["loss_d"] is not None and both["runs"]["B"]["n_modes"] == 8
    only_b = alice.predict("b", api_name="/compare_poll")
    assert list(only_b["runs"]) == ["B"] and list(only_b["commands"]) == ["B"] and only_b["runs"]["B"]["run_id"] == id_b
    assert alice.predict(id_b, api_name="/train_poll")["run_id"] == id_b  # a comparison's run polls as a run
    png = alice.predict(id_a, 3, api_name="/generate")
    assert Path(png).read_bytes()[:4] == b"\x89PNG"

    for call, args in (("/train_poll", (id_a,)), ("/train_stop", (id_b,)), ("/generate", (id_a, 1))):
        with pytest.raises(AppError, match="no run 'run-[0-9a-f]+' in this session"):
            bob.predict(*args, api_name=call)
    for call in ("/compare_poll", "/compare_stop"):
        with pytest.raises(AppError, match="no comparison in this session"):
            bob.predict(api_name=call)

    stopped_a = alice.predict(id_a, api_name="/train_stop")  # one of the two: the other trains on
    assert stopped_a["state"] == "stopped" and stopped_a["run_id"] == id_a
    assert alice.predict(api_name="/compare_poll")["runs"]["B"]["state"] == "running"
    stopped = alice.predict("both", api_name="/compare_stop")
    assert [stopped["runs"][label]["state"] for label in ("A", "B")] == ["stopped", "stopped"]
    with pytest.raises(AppError, match="which: A, B or both \\(got 'C'\\)"):
        alice.predict("C", api_name="/compare_poll")


def test_compare_start_refuses_what_is_not_a_comparison(clients):
    client = clients()
    cases = [
        (("", '{"seed": 1}'), "seed: a comparison's two runs share it \\(A has 0, B 1\\)"),
        (("", '{"dataset": "grid25"}'), "dataset: a comparison's two runs share it"),
        (("", '{"dataset": "/etc"}'), "B's dataset: the API trains on ring8"),
        (('{"dataset": "/etc"}', ""), "^dataset: the API trains on ring8"),
        (("", "{not json"), "config_b_json is not valid JSON"),
        (("", '{"loss": "wasserstein"}'), "loss: must be one of"),
    ]
    for args, message in cases:
        with pytest.raises(AppError, match=message):
            client.predict(*args, api_name="/compare_start")


def test_the_cap_refuses_a_comparison_with_one_free_slot(clients):
    runner, comparer = clients(), clients()
    run_id = runner.predict("ring8", LONG_RUN, config_json=TINY_A, api_name="/train_start")["run_id"]
    with pytest.raises(AppError, match="busy: 1 runs are training or paused on this server \\(limit 2\\); "
                                       "a comparison trains two runs, so it needs 2 free slots"):
        comparer.predict(TINY_A, '{"lr_d": 0.002}', api_name="/compare_start")
    runner.predict(run_id, api_name="/train_stop")
    started = comparer.predict(TINY_A, '{"lr_d": 0.002}', api_name="/compare_start")
    assert [started["runs"][label]["state"] for label in ("A", "B")] == ["running", "running"]
    assert started["differences"] == {"lr_d": [0.001, 0.002]}
    stopped = comparer.predict(api_name="/compare_stop")
    assert {r["state"] for r in stopped["runs"].values()} == {"stopped"}


def test_a_rest_call_without_session_cannot_start_a_comparison(app):
    import httpx

    ctx, url = app
    with httpx.Client(timeout=JOIN_S) as http:
        r = http.post(f"{url.rstrip('/')}/gradio_api/call/compare_start", json={"data": [TINY_A, ""]})
        text = http.get(f"{url.rstrip('/')}/gradio_api/call/compare_start/{r.json()['event_id']}").text
    assert "event: error" in text and "carries no session" in text
    assert ctx.registry.active_runs() == 0
