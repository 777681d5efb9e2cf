"""Train tab helpers: the live 2D quality figures in words and as curves; the limits of web runs."""
import json
import math
import time

import pandas as pd
import pytest
from PIL import Image

from gan_demo.core.config import IMAGE_DATASETS, TOY_DATASETS, ConfigError, DataConfig, ModelConfig, RunConfig, TrainConfig
from gan_demo.families.nets import step_cost
from gan_demo.evaluation.live_quality import live_quality
from gan_demo.training.trainer import Trainer
from gan_demo.ui.app import PRETRAINED
from gan_demo.ui.tabs.lessons import LESSONS
from gan_demo.ui.limits import STEP_BYTES, STEP_FLOPS, check_web_limits
from gan_demo.ui.forms import config_from_values, values_for
from gan_demo.ui.tabs.train import quality_line, quality_plots


def run(dataset: str, steps: int = 30) -> Trainer:
    tr = Trainer(RunConfig(data=DataConfig(dataset=dataset, n_points=1000), model=ModelConfig(width=16, depth=1),
                           train=TrainConfig(batch_size=64, steps=steps, device="cpu")), live_quality=live_quality)
    tr.run()
    return tr


def test_quality_of_a_mixture_in_words_and_curves():
    snap = run("ring8", steps=60).snapshot()
    q = snap["quality"]
    line = quality_line(q)
    assert f"Modes covered: {q['modes_covered']} / 8" in line
    assert f"KL(real ‖ G) {q['grid_kl']:.3f}" in line and f"JS {q['grid_js']:.3f}" in line
    assert f"step {q['step']:,}" in line and f"{math.log(2):.2f}" in line
    kl, js, modes, n_modes = quality_plots(snap["quality_history"])
    assert n_modes == 8
    steps = snap["quality_history"]["step"]
    assert list(modes["step"]) == steps and list(modes["value"]) == snap["quality_history"]["modes_covered"]
    assert list(kl["step"]) == steps and kl["value"].tolist() == snap["quality_history"]["grid_kl"]
    assert set(js["series"]) == {"JS(real, G)"} and js["value"].tolist() == snap["quality_history"]["grid_js"]


def test_quality_without_modes_shows_the_grid_divergence_only():
    snap = run("moons").snapshot()
    line = quality_line(snap["quality"])
    assert "Modes covered" not in line and "Grid divergence" in line
    kl, js, modes, n_modes = quality_plots(snap["quality_history"])
    assert modes is None and n_modes is None and kl is not None and js is not None
    assert quality_line(None) == ""
    assert quality_plots({"step": []}) == (None, None, None, None)


def test_model_graph_follows_the_run_at_the_curves_pace(monkeypatch):
    """on_tick writes the latest record on the Train tab's model graph: only when it changed, at most every
    PLOTS_EVERY_S (a fake clock, so no test depends on wall time)."""
    import types

    import gradio as gr

    from gan_demo.render.model_diagram import fmt
    from gan_demo.ui.tabs import train as train_tab
    from gan_demo.ui.app import AppContext

    ctx = AppContext.create(device="cpu")
    with gr.Blocks() as demo:
        tab = train_tab.build(ctx)
    on_tick = next(f.fn for f in demo.fns.values() if f.fn is not None and f.fn.__name__ == "on_full")
    graph = tab["model_graph"]
    assert 'data-part="D"' in graph.value and "non-saturating" in graph.value  # drawn before any run
    clock = [1000.0]
    monkeypatch.setattr(train_tab, "time", types.SimpleNamespace(monotonic=lambda: clock[0]))
    request = types.SimpleNamespace(session_hash="s1")
    session = ctx.registry.get("s1")
    try:
        cfg = RunConfig(data=DataConfig(dataset="ring8", n_points=500), model=ModelConfig(width=16, depth=1),
                        train=TrainConfig(loss="hinge", batch_size=64, steps=3))
        trainer = ctx.registry.start(session, cfg, ctx.device)
        trainer.join(60)
        out = on_tick(None, request)
        last = trainer.snapshot()["last"]
        assert "hinge" in out[graph] and f"|∇D| {fmt(last['grad_norm_d'])}" in out[graph]
        assert 'data-state="updating"' not in out[graph]  # a training run: nothing highlighted
        view = out[tab["view"]]
        assert graph not in on_tick(view, request)  # nothing new: not redrawn
        trainer.step_once()  # a new record, but within PLOTS_EVERY_S of the last drawing
        clock[0] += train_tab.PLOTS_EVERY_S / 2
        assert graph not in on_tick(view, request)
        trainer.step_once()
        clock[0] += train_tab.PLOTS_EVERY_S
        out = on_tick(view, request)
        assert f"{fmt(trainer.last_record.loss_g)}" in out[graph] and "step 5" in out[graph]
    finally:
        ctx.registry.drop("s1")
# ------------------------------------------------------------------------- web limits
def test_web_runs_are_capped_by_work_and_memory_per_step():
    # Each field within WEB_LIMITS, together ~1,000 TFLOP and ~43 GiB per step.
    with pytest.raises(ConfigError, match="GFLOP per training step .*lower batch_size, ngf, ndf, img_size or n_critic"):
        config_from_values({"dataset": "digits", "img_size": 64, "channels": 3, "ngf": 256, "ndf": 256,
                            "batch_size": 4096, "n_critic": 10})
    with pytest.raises(ConfigError, match="lower batch_size, width, depth or n_critic"):
        config_from_values({"dataset": "ring8", "width": 1024, "depth": 8, "batch_size": 4096})
    # Few FLOPs (batch 1), but G, G_ema, D and Adam's moments of 91 M parameters: ~1.7 GiB.
    with pytest.raises(ConfigError, match="MiB to train"):
        config_from_values({"dataset": "digits", "img_size": 64, "channels": 3, "ngf": 256, "ndf": 256,
                            "batch_size": 1})


def test_defaults_pretrained_runs_and_lessons_fit_well_inside_the_budget():
    configs = [config_from_values(values_for({"dataset": d})) for d in TOY_DATASETS + IMAGE_DATASETS]
    configs += [config_from_values(values_for(p.values)) for lesson in LESSONS for p in lesson.presets]
    configs += [RunConfig.from_dict(json.loads(p.read_text())) for p in sorted(PRETRAINED.glob("*/config.json"))]
    assert len(configs) > len(TOY_DATASETS + IMAGE_DATASETS) + 3
    for cfg in configs:
        check_web_limits(cfg)
        cost = step_cost(cfg.resolved())
        assert cost.flops < STEP_FLOPS / 4 and cost.memory_bytes < STEP_BYTES / 4, cfg.to_cli()


def test_the_largest_seed_survives_the_train_tab_exactly():
    for value in (2**63 - 1, "9223372036854775807", " 9223372036854775807 "):
        assert config_from_values({"seed": value}).train.seed == 2**63 - 1
    assert config_from_values({"seed": 7.0}).train.seed == 7
    with pytest.raises(ConfigError, match="seed: must be between 0 and 2\\^63 - 1 \\(got 9223372036854775808\\)"):
        config_from_values({"seed": 2**63})
    for bad in (1.5, "1e400", float("inf"), "seven", True):
        with pytest.raises(ConfigError, match="seed: must be a whole number"):
            config_from_values({"seed": bad})


# ------------------------------------------------------------------------- the VAE family
def plot_rows(value) -> list:
    """A LinePlot output's (step, value, series) rows: a LinePlot carrying labels, or the bare frame the tick
    sends once the plot shows them (train.plot_value)."""
    if not isinstance(value, pd.DataFrame):
        return value.value["data"]
    return value[["step", "value", "series"]].values.tolist()


def handlers():
    """The Train tab's handlers, called directly (no app built): (ctx, train_tab.Train)."""
    from gan_demo.ui.tabs import train as train_tab
    from gan_demo.ui.app import AppContext

    ctx = AppContext.create(device="cpu")
    return ctx, train_tab.Train(ctx)


def test_family_switch_shows_each_familys_settings_and_command():
    import types

    from gan_demo.ui.forms import AUTO_FIELDS, CONTROL_FIELDS, FAMILY_ONLY, swap_defaults

    import gradio as gr

    from gan_demo.ui.tabs import train as train_tab

    ctx, train = handlers()
    with gr.Blocks():
        controls = train_tab.build(ctx)["controls"]
    request = types.SimpleNamespace(session_hash="s1")
    assert controls["family"].value == "gan" and not controls["beta"].visible and controls["loss"].visible
    out = train.on_family_change("vae", request)
    shown = {name for name in controls if name in out and out[name]["visible"]}
    hidden = {name for name in controls if name in out and not out[name]["visible"]}
    assert shown == set(FAMILY_ONLY["vae"]) == {"recon", "beta", "kl_warmup", "lr_vae"}
    assert hidden == {"loss", "lr_g", "lr_d", "n_critic", "d_norm", "mbstd_group", "pack", "gp_weight", "r1_gamma", "r1_every",
                      "ema_decay", "augment", "lr_decay"}
    assert "ELBO" in out["d_plot"].label and "KL" in out["loss_plot"].label  # no run: relabelled
    back = train.on_family_change("gan", request)
    assert back["loss"]["visible"] and not back["beta"]["visible"]
    assert back["loss_plot"].label == "Losses: loss_D and loss_G"

    # The auto values follow the family: a VAE's latent is 2 on points, 16 on images; Adam's beta1 0.9.
    auto = list(AUTO_FIELDS)
    gan_digits = values_for({"dataset": "digits"})
    new = train.on_dataset_input("digits", "nonsaturating", "vae", *[gan_digits[n] for n in auto])
    moved = {n: u["value"] for n, u in zip(auto, new) if "value" in u}
    assert (moved["z_dim"], moved["beta1"], moved["recon"], moved["lr_vae"]) == (16, 0.9, "bernoulli", 1e-3)
    assert swap_defaults({"z_dim": 5, "beta1": 0.5}, "ring8", "nonsaturating", "vae") == {"beta1": 0.9}  # typed: stays

    # The shown command repeats the run: the VAE's settings, none of the GAN's.
    values = values_for({"family": "vae", "dataset": "digits", "beta": 0.5, "kl_warmup": 200, "z_dim": 2})
    assert set(values) == set(CONTROL_FIELDS) and values["recon"] == "bernoulli" and values["beta1"] == 0.9
    command = train.on_settings(request, *[values[n] for n in CONTROL_FIELDS])
    assert command.startswith("python -m gan_demo train --dataset digits --family vae ")
    assert "--z-dim 2" in command and "--beta 0.5" in command and "--kl-warmup 200" in command
    assert "--loss" not in command and "--lr" not in command and "--beta1" not in command  # auto stays auto
    cfg = config_from_values(values)
    assert cfg.family == "vae" and cfg.vae.recon is None and cfg.vae.lr_vae is None and cfg.train.beta1 is None
    assert config_from_values(values_for({"dataset": "ring8"})).vae == RunConfig().vae  # a GAN's vae section: auto
    with pytest.raises(ConfigError, match="recon: bernoulli needs pixels"):
        config_from_values(values_for({"family": "vae", "dataset": "ring8", "recon": "bernoulli"}))
    graph = train.on_graph_settings(request, *[values[n] for n in CONTROL_FIELDS])
    assert "VAE · loss = recon + β·KL (β = 0.5)" in graph
    ctx.registry.drop("s1")


def test_vae_run_shows_its_curves_reconstructions_manifold_and_scatter():
    """A tiny digits VAE with a 2D latent, started and watched through the tab's handlers: the curves are the
    family's series; the pictures are the run's own encoder and decoder on the real images drawn at Start."""
    import types

    import numpy as np
    import torch

    from gan_demo.render import viz
    from gan_demo.ui import run_views as train_views

    ctx, train = handlers()
    request = types.SimpleNamespace(session_hash="s1")
    values = values_for({"family": "vae", "dataset": "digits", "img_size": 16, "ngf": 8, "ndf": 8, "z_dim": 2,
                         "batch_size": 32, "steps": 30, "conditional": False})
    try:
        out = train.on_start(values, request)
        assert "--family vae" in out["cli"] and out["vae_box"]["visible"]
        assert out["manifold_box"]["visible"] and out["scatter_box"]["visible"]
        assert out["samples_md"].startswith("**Samples**: the decoder")
        trainer = ctx.registry.get("s1").trainer
        trainer.join(60)
        out = train.on_tick(out["view"], request)
        snap = trainer.snapshot()
        assert snap["family"] == "vae" and snap["state"] == "finished"

        first, second = out["loss_plot"], out["d_plot"]
        assert "KL" in first.label and first.y_title == "nats" and "ELBO" in second.label
        rows = first.value["data"]
        assert {r[2] for r in rows} == {"reconstruction", "KL"}  # no "setting changed" entry: nothing changed
        assert [r[1] for r in rows if r[2] == "KL"] == pytest.approx(snap["history"]["kl"])
        assert [r[1] for r in second.value["data"]] == pytest.approx(snap["history"]["elbo"])

        view = out["view"].vae
        family = trainer.family
        with trainer.lock:
            recon = family.reconstruct(view.real)
            mu, _ = family.encode(view.scatter)
        # Real images on the left, their reconstructions on the right (above a row of titles).
        picture = np.asarray(out["recon_image"])
        up = train_views.grid_upscale(16, 8)  # two 4-wide grids side by side
        left = np.asarray(viz.image_grid(viz.to_unit(view.real), nrow=4, upscale=up))
        right = np.asarray(viz.image_grid(viz.to_unit(recon), nrow=4, upscale=up))
        h, w = left.shape[:2]
        assert picture.shape[0] > h and (picture[:h, :w] == left).all() and (picture[:h, -w:] == right).all()
        assert not (left == right).all()

        # The manifold: z1 grows left to right, z2 bottom to top; its top-left cell is z = (-2.5, 2.5).
        manifold = out["manifold_image"]
        n, span = train_views.MANIFOLD_SIDE, train_views.MANIFOLD_SPAN
        cell = manifold.width // n
        up = train_views.grid_upscale(16, n)
        corner = viz.tensor_to_image(viz.to_unit(family.decode(torch.tensor([[-span, span]]))), upscale=up)
        assert np.array_equal(np.asarray(manifold.crop((1, 1, 1 + corner.width, 1 + corner.height))), np.asarray(corner))
        far = viz.tensor_to_image(viz.to_unit(family.decode(torch.tensor([[span, -span]]))), upscale=up)
        end = manifold.width - 1 - far.width
        assert np.array_equal(np.asarray(manifold.crop((end, end, end + far.width, end + far.height))), np.asarray(far))
        assert cell > 16

        # The scatter: each encoded image where its mean lies, in its class's colour (the last class drawn is
        # on top, so its points show whole); a legend strip of the 10 classes beside the square plot.
        scatter = np.asarray(out["scatter_image"])
        size = 448
        assert scatter.shape[0] == size and scatter.shape[1] > size
        last = int(view.scatter_y.max())
        mine = mu[(view.scatter_y == last) & (mu.abs() < 4).all(1)]
        assert len(mine) > 20
        xmin, xmax, ymin, ymax = train_views.SCATTER_BOUNDS
        u = ((mine[:, 0] - xmin) / (xmax - xmin) * size).floor().long()
        v = ((ymax - mine[:, 1]) / (ymax - ymin) * size).floor().long()
        assert (scatter[v.numpy(), u.numpy()] == viz.CLASS_COLORS[last]).all()
        legend = scatter[:, size:].reshape(-1, 3)
        assert all((legend == viz.CLASS_COLORS[k]).all(1).any() for k in range(10))

        # Nothing new: no redraw; and the pictures wait VAE_PICTURES_EVERY_S between drawings.
        again = train.on_tick(out["view"], request)
        assert "recon_image" not in again and "loss_plot" not in again
        assert not train_views.vae_pictures_due(view, ended=False, now=view.drawn_at + 1.0)
        assert train_views.vae_pictures_due(view, ended=False, now=view.drawn_at + train_views.VAE_PICTURES_EVERY_S)
        assert train_views.vae_pictures_due(view, ended=True, now=view.drawn_at)

        # Reset: no run, its pictures gone, the plots labelled for the family still picked.
        reset = train.on_reset("vae", request)
        assert reset["recon_image"] is None and not reset["vae_box"]["visible"]
        assert "ELBO" in reset["d_plot"].label and ctx.registry.get("s1").trainer is None
    finally:
        ctx.registry.drop("s1")


def test_a_live_answer_begun_before_stop_or_reset_lands_before_theirs(monkeypatch):
    """The Train tab's live answers (tick, full update) and its Stop and Reset are ordered per session: an answer
    computed while the run still ran completes before the answer about its end, so the page never ends on an older
    status (a loaded CI run once kept "running · step 0" after Stop: an older tick's answer came last and its view
    stopped the ticks). The older answer is held mid-way here; the newer one waits for it, and the order in which
    they complete is what the page would show last."""
    import threading
    import types

    from gan_demo.ui.tabs import train as train_tab

    ctx, train = handlers()
    request = types.SimpleNamespace(session_hash="s1")
    values = values_for({"dataset": "ring8", "width": 16, "depth": 1, "batch_size": 64, "steps": 100_000})
    inside, release = threading.Event(), threading.Event()
    held = {"thread": None}
    real_status_line = train_tab.status_line

    def status_line(snap, *args, **kwargs):  # the older answer stops here, its snapshot taken, until released
        if threading.current_thread() is held["thread"]:
            inside.set()
            assert release.wait(60)
        return real_status_line(snap, *args, **kwargs)

    monkeypatch.setattr(train_tab, "status_line", status_line)
    done: list = []  # (name, answer) in the order the answers completed

    def answer(name, fn, *args):
        out = fn(*args)
        done.append((name, out))

    def hold_then(newer: threading.Thread, session) -> None:
        """Start the newer answer while the older one is held; release the older once the newer has either
        completed (no ordering) or waits for the session's view lock (bounded by a deadline, not timed)."""
        assert inside.wait(60)
        newer.start()
        deadline = time.monotonic() + 60
        while newer.is_alive() and not session.view_lock.waiting:
            assert time.monotonic() < deadline
            time.sleep(0.001)
        release.set()

    try:
        out = train.on_start(values, request)
        session, view = ctx.registry.get("s1"), out["view"]
        # 1. A full update that read the running run, held; the run stops; the tick after it.
        older = threading.Thread(target=answer, args=("older", train.on_full, view, request))
        held["thread"] = older
        older.start()
        assert inside.wait(60)
        session.trainer.stop()
        session.trainer.join(60)
        assert session.trainer.state == "stopped"
        newer = threading.Thread(target=answer, args=("newer", train.on_beat, view, request))
        hold_then(newer, session)
        older.join(60), newer.join(60)
        assert [name for name, _ in done] == ["older", "newer"]
        assert "**running**" in done[0][1]["status"] and "**stopped**" in done[1][1]["status"]
        assert view.state == "stopped"  # the view the page keeps describes the last answer

        # 2. A tick held while Reset comes: Reset's answer (no run) completes last.
        train.on_start(values, request)
        view = train.on_full(None, request)["view"]
        done.clear()
        inside.clear(), release.clear()
        older = threading.Thread(target=answer, args=("older", train.on_tick, view, request))
        held["thread"] = older
        older.start()
        reset = threading.Thread(target=answer, args=("reset", train.on_reset, "gan", request))
        hold_then(reset, session)
        older.join(60), reset.join(60)
        assert [name for name, _ in done] == ["older", "reset"]
        assert "No run yet" in done[1][1]["status"] and session.trainer is None
    finally:
        release.set()
        ctx.registry.drop("s1")


def test_a_2d_vae_draws_points_and_no_image_pictures():
    import types

    ctx, train = handlers()
    request = types.SimpleNamespace(session_hash="s1")
    values = values_for({"family": "vae", "dataset": "ring8", "width": 16, "depth": 1, "batch_size": 64, "steps": 5})
    try:
        out = train.on_start(values, request)
        assert out["view"].vae is None and not out["vae_box"]["visible"]
        ctx.registry.get("s1").trainer.join(60)
        out = train.on_tick(out["view"], request)
        assert Image.open(out["grid"]).size == (512, 512)  # real and generated points, as for a GAN (a PNG file)
        assert "recon_image" not in out
    finally:
        ctx.registry.drop("s1")


def test_apply_now_changes_the_running_run_marks_the_curves_and_the_command():
    import types

    from gan_demo.ui.run_views import change_markers, curves
    from gan_demo.ui.tabs import train as train_tab

    ctx, train = handlers()
    request = types.SimpleNamespace(session_hash="live")
    session = ctx.registry.get("live")
    values = values_for({"dataset": "ring8", "steps": 100_000, "width": 16, "depth": 1, "batch_size": 64})
    data = dict(values)
    try:
        out = train.on_apply(data, request)
        assert "Start a run first" in out["message"]
        trainer = ctx.registry.start(session, config_from_values(values), ctx.device)
        trainer.pause()
        out = train.on_apply(data, request)
        assert "Nothing to apply" in out["message"]
        data["lr_d"], data["n_critic"] = 0.01, 2
        out = train.on_apply(data, request)
        assert f"lr_d {values['lr_d']} → 0.01" in out["message"] and "n_critic 1 → 2" in out["message"]
        assert "--schedule" in out["cli"] and '"lr_d":0.01' in out["cli"]
        assert "--lr-d" not in out["cli"]  # the run as started: the change is in the schedule only
        trainer.step_once()  # the change applies at the next step
        assert trainer.family.opt_D.param_groups[0]["lr"] == 0.01 and trainer.cfg.train.n_critic == 2
        trainer.step_once()
        snap = trainer.snapshot()
        history = {"step": [1, 2, 3, 4], "loss_d": [1.5, 1.2, 1.4, 1.1]}  # as many read-back steps as a test wants
        frame = change_markers(curves(history, {"loss_d": "loss_D"}), snap["schedule"])
        marker = frame[(frame["series"] == train_tab.CHANGE_SERIES) & frame["value"].notna()]
        assert len(marker) == 3 and set(marker["step"]) == {snap["schedule"][0]["step"]}
        assert marker["value"].max() == frame["value"].max() and marker["value"].min() == frame["value"].min()
        data["n_critic"] = 0
        assert "Cannot apply" in train.on_apply(data, request)["message"]
    finally:
        ctx.registry.drop("live")


def test_every_train_control_has_a_short_label_and_one_line_help_and_its_full_words_in_the_fold():
    from gan_demo.core.config import DataConfig, ModelConfig, TrainConfig, field_docs
    from gan_demo.families.vae import VAESettings
    from gan_demo.ui.forms import CONTROL_FIELDS
    from gan_demo.ui.tabs.train import settings_details

    for name, face in CONTROL_FIELDS.items():  # the shared ones' words (plain_words) and each family's faces
        short, help_text = face.label, face.help
        assert len(short) <= 22, short  # a label, not a sentence
        assert len(help_text) <= 72 and "\n" not in help_text and "None" not in help_text, (name, help_text)
    docs = {**field_docs(DataConfig), **field_docs(ModelConfig), **field_docs(TrainConfig), **field_docs(VAESettings)}
    details = settings_details(docs)
    for name in CONTROL_FIELDS:
        if name in docs:  # the config's own words (the CLI's help) stay one fold away, with the flag
            assert f"`--{name.replace('_', '-')}`" in details and docs[name][:40] in details


def test_a_lessons_first_use_of_a_term_links_to_the_glossary_outside_formulas_and_code():
    from gan_demo.ui.plain_words import GLOSSARY, LINKED_TERMS, link_terms

    anchors = {anchor for _, anchor, _ in GLOSSARY}
    assert {anchor for _, anchor in LINKED_TERMS} <= anchors
    text = "the critic is 1-Lipschitz; $D(x) = 1$ and `r_t` then D(x), D(x) again and **r_t**"
    linked = link_terms(text)
    assert "[1-Lipschitz](#glossary-lipschitz)" in linked
    assert "$D(x) = 1$" in linked and "`r_t`" in linked  # formulas and code untouched
    assert linked.count("[D(x)](#glossary-dx)") == 1 and "D(x) again" in linked  # the first use only
    assert "**[r_t](#glossary-r-t)**" in linked


def test_the_d_chart_names_only_what_it_draws_scores_apart_from_probabilities_and_a_change_when_made():
    """Issue 22: no "setting changed" entry until a setting changed, r_t off the D chart of a 2D run, a WGAN
    critic's scores labelled as scores; a chart that gains the marker is emptied once, then drawn with it."""
    import types

    from gan_demo.ui.run_views import CHANGE_SERIES, R_T, SCORE_REAL

    ctx, train = handlers()
    request = types.SimpleNamespace(session_hash="charts")
    session = ctx.registry.get("charts")

    def series(out, name):
        return {r[2] for r in plot_rows(out[name])}

    try:
        for loss, d_series in (("nonsaturating", {"D(x)", "D(G(z))"}), ("wgan-gp", {SCORE_REAL, "critic on generated"})):
            values = values_for({"dataset": "ring8", "loss": loss, "steps": 20, "width": 16, "depth": 1,
                                           "batch_size": 32})
            out = train.on_start(values, request)
            assert out["rt_plot"].visible is False  # a 2D run: no r_t chart
            session.trainer.join(60)
            out = train.on_tick(out["view"], request)
            assert series(out, "d_plot") == d_series and series(out, "loss_plot") == {"loss_D", "loss_G"}
            assert (out["d_plot"].y_title == "probability") == (loss == "nonsaturating")

        values = values_for({"dataset": "ring8", "steps": 100_000, "width": 16, "depth": 1, "batch_size": 32})
        out = train.on_start(values, request)
        trainer = session.trainer

        def trained_past(step: int) -> None:  # wait (bounded) until the history holds a step past `step`
            deadline = time.monotonic() + 60
            while not any(s > step for s in trainer.snapshot()["history"]["step"]):
                assert time.monotonic() < deadline, "the run did not train"
                trainer.join(0.05)

        trained_past(0)
        trainer.pause()
        view = out["view"]
        out = train.on_tick(view, request)
        assert CHANGE_SERIES not in series(out, "d_plot") and R_T not in series(out, "d_plot")
        trainer.change(lr_d=0.01)
        trainer.resume()
        trained_past(trainer.step + 1)
        trainer.pause()
        view.plotted_at = 0.0  # the curves are due again (they are redrawn every PLOTS_EVERY_S)
        out = train.on_tick(view, request)  # the plots gain the marker: emptied first, the timer kept on
        assert out["d_plot"].value is None and "timer" not in out  # the timer is not switched off
        out = train.on_tick(view, request)
        assert CHANGE_SERIES in series(out, "d_plot") and CHANGE_SERIES in series(out, "loss_plot")
        # the plots already carry their labels (sent with the emptied plots): the data alone, which Gradio
        # postprocesses off its event loop instead of building a component
        assert isinstance(out["d_plot"], pd.DataFrame) and isinstance(out["loss_plot"], pd.DataFrame)
        trainer.change(loss="wgan-gp")  # D's chart: scores now, new series and a new title
        trainer.resume()
        trained_past(trainer.step + 1)
        trainer.pause()
        view.plotted_at = 0.0
        out = train.on_tick(view, request)  # emptied, carrying the new labels
        assert out["d_plot"].value is None and out["d_plot"].y_title == "score"
        out = train.on_tick(view, request)  # then the data alone, under those labels
        assert isinstance(out["d_plot"], pd.DataFrame) and SCORE_REAL in series(out, "d_plot")
    finally:
        ctx.registry.drop("charts")


def test_after_pause_the_charts_and_graph_show_the_status_step_and_the_timeline_opens_at_its_latest_frame():
    """Issue 22: after Pause the status said step 446 while the charts and graph stayed at ~317 (their rate limit
    skipped the last draw); the timeline opened at 0 below its range (92-401) with an empty picture."""
    import types

    ctx, train = handlers()
    request = types.SimpleNamespace(session_hash="pause")
    session = ctx.registry.get("pause")
    values = values_for({"dataset": "ring8", "steps": 100_000, "width": 16, "depth": 1, "batch_size": 32})
    try:
        out = train.on_start(values, request)
        view, trainer = out["view"], session.trainer

        def trained_past(step: int) -> None:
            deadline = time.monotonic() + 60
            while trainer.snapshot()["step"] <= step:
                assert time.monotonic() < deadline, "the run did not train"
                trainer.join(0.05)

        update = None
        for _ in range(3):  # three ticks, each once the run is a frame's stride past the last frame kept
            trained_past(session.timeline[-1][0] + session.timeline_stride if session.timeline else 0)
            out = train.on_tick(view, request)
            update = out.get("timeline", update)  # sent on a tick that kept a frame
        frames = list(session.timeline)
        assert len(frames) >= 3
        assert update["minimum"] == frames[0][0] and update["value"] == frames[-1][0]  # the latest, inside the range
        picture, caption = train.on_timeline(update["value"], request)
        assert picture is not None and f"{frames[-1][0]:,}" in caption

        trained_past(trainer.snapshot()["step"] + 5)
        trainer.pause()
        view.plotted_at = time.monotonic()  # the curves were just drawn: the rate limit would skip this tick
        out = train.on_tick(view, request)  # paused: drawn anyway, at the status's step
        import re

        shown = int(re.search(r"\*\*paused\*\* · step ([\d,]+)", out["status"]).group(1).replace(",", ""))
        assert max(r[0] for r in plot_rows(out["loss_plot"])) == shown  # the charts: the status's step
        assert view.graphed is not None and view.graphed["step"] == shown  # the graph's numbers: the same step
    finally:
        ctx.registry.drop("pause")


def test_curves_come_at_the_tabs_own_pace_slower_under_a_class():
    """The tab's own Gradio event comes every 2 s while few runs train, and all open tabs together send about one
    a second under a class (24 s each for 24 runs, at most 30 s); it reads the curves (copying the run's history)
    when they are due: a little early counts (the events' jitter), at once when the run ends or pauses."""
    from gan_demo.ui.live_cache import curves_s
    from gan_demo.ui.run_views import LiveView
    from gan_demo.ui.tabs.train import PLOTS_EVERY_S, Train

    assert [curves_s(n, PLOTS_EVERY_S) for n in (0, 1, 2, 4, 24, 100)] == [2.0, 2.0, 2.0, 4.0, 24.0, 30.0]
    running = {"step": 11, "state": "running"}
    alone = LiveView(run_id="r", step=10, state="running", plotted_at=100.0)  # the route's own pace (0.75 s)
    assert not Train._curves_due(running, alone, 100.0 + 1.5)
    assert Train._curves_due(running, alone, 100.0 + 1.7)
    assert not Train._curves_due({"step": 10, "state": "running"}, alone, 200.0)  # no new step: nothing to draw
    in_class = LiveView(run_id="r", step=10, state="running", plotted_at=100.0, curves_s=6.0)  # 6 runs training
    assert not Train._curves_due(running, in_class, 104.7)
    assert Train._curves_due(running, in_class, 104.9)
    assert Train._curves_due({"step": 11, "state": "finished"}, in_class, 100.5)  # its last curves at once
    assert Train._curves_due({"step": 10, "state": "paused"}, in_class, 100.5)


def test_a_diverged_run_is_told_through_the_queued_alert(monkeypatch):
    """The tick runs outside Gradio's queue, where gr.Warning cannot reach the page: it hands a diverged run's
    message to the hidden alert, whose queued change event shows the warning."""
    import types

    import gradio as gr

    from gan_demo.ui.tabs import train as train_tab

    ctx, train = handlers()
    request = types.SimpleNamespace(session_hash="s1")
    values = values_for({"dataset": "ring8", "width": 16, "depth": 1, "batch_size": 64, "steps": 5})
    try:
        out = train.on_start(values, request)
        trainer = ctx.registry.get("s1").trainer
        trainer.join(60)
        view = train.on_tick(out["view"], request)["view"]
        assert "alert" not in train.on_tick(view, request)
        snapshot = trainer.snapshot
        said = "diverged at step 5; rolled back to step 4"
        monkeypatch.setattr(trainer, "snapshot", lambda **kw: {**snapshot(**kw), "state": "diverged", "message": said})
        assert train.on_tick(view, request)["alert"] == said
        warned = []
        monkeypatch.setattr(gr, "Warning", warned.append)
        train_tab._warn(said)
        train_tab._warn("")
        assert warned == [said]
    finally:
        ctx.registry.drop("s1")


def test_the_timer_tick_names_only_what_changes_while_training_and_asks_for_the_rest():
    """The timer's tick (on_beat) returns only BEAT's outputs (Gradio builds a component for each output an
    answer leaves out); a new state's buttons and message wait in the view, full_due changes, and the full
    update (on_full) brings them; a tick with nothing more to say does not ask again."""
    import types

    from gan_demo.ui.tabs.train import BEAT, BUTTONS

    ctx, train = handlers()
    request = types.SimpleNamespace(session_hash="beat")
    session = ctx.registry.get("beat")
    try:
        out = train.on_start(values_for({"dataset": "ring8", "steps": 20, "width": 16, "depth": 1,
                                         "batch_size": 32}), request)
        view = out["view"]
        session.trainer.join(60)
        beat = train.on_beat(view, request)  # running -> finished: new buttons and message
        assert set(beat) <= set(BEAT) and beat["full_due"] and beat["view"] is view
        assert beat["pictures_due"] == "" and view.pictures == {}  # a 2D run has no image extras to ask for
        assert set(BUTTONS) <= set(view.waiting) and "message" in view.waiting
        full = train.on_full(view, request)
        assert full["pause"]["interactive"] is False and full["start"]["interactive"] is True
        assert "message" in full and view.waiting == {}
        again = train.on_beat(view, request)
        assert set(again) <= set(BEAT)  # the dues again with the values the page holds: no event asked
        assert again["full_due"] == beat["full_due"] and again["pictures_due"] == ""
        first = train.on_beat(None, request)  # a page that did not start the run: its first look asks too
        assert first["full_due"] and "live_route" in first["view"].waiting
        assert train.on_full(first["view"], request)["live_route"].startswith("/train/live?")
    finally:
        ctx.registry.drop("beat")


def test_a_wired_handler_with_nothing_to_update_answers_a_skip():
    """Gradio takes an empty dict for a wrong answer ("Output values returned: [{}]", an error on the page: seen when
    a Reset emptied the view while the extras' event was on its way); by_name answers gr.skip() for it instead, and
    maps names to components otherwise."""
    import gradio as gr

    from gan_demo.ui.widgets import by_name

    with gr.Blocks():
        status, grid = gr.Markdown(), gr.Image()
    parts = {"status": status, "grid": grid}
    assert isinstance(by_name(lambda: {}, parts)(), type(gr.skip()))
    assert by_name(lambda: {"status": "ok"}, parts)() == {status: "ok"}


def test_an_image_runs_extras_come_with_their_own_small_event():
    """A VAE image run's reconstructions, manifold and scatter (PICTURES) are not outputs of the tick (a 2D run
    would carry them unchanged): while the run trains, the tick leaves them in the view and changes
    pictures_due, whose change event (on_pictures) brings them, once; with a new state they come in the full
    update."""
    import time
    import types

    from gan_demo.ui.tabs.train import BEAT, PICTURES

    ctx, train = handlers()
    request = types.SimpleNamespace(session_hash="pictures")
    values = values_for({"family": "vae", "dataset": "digits", "img_size": 16, "ngf": 8, "ndf": 8, "z_dim": 2,
                         "batch_size": 32, "steps": 100_000, "conditional": False})
    try:
        view = train.on_start(values, request)["view"]
        trainer = ctx.registry.get("pictures").trainer
        train.on_full(view, request)  # whatever a first look has
        deadline = time.monotonic() + 60
        while trainer.snapshot(history=False)["step"] <= view.step and time.monotonic() < deadline:
            time.sleep(0.01)  # a new step to show
        view.vae.drawn_at = float("-inf")  # the pictures are due
        beat = train.on_beat(view, request)
        assert set(beat) <= set(BEAT) and not set(PICTURES) & set(beat) and view.waiting == {}
        assert beat["pictures_due"] and set(view.pictures) == {"recon_image", "manifold_image", "scatter_image"}
        extras = train.on_pictures(view, request)
        assert set(extras) == {"recon_image", "manifold_image", "scatter_image"} and view.pictures == {}
        assert extras["recon_image"].width > 0 and extras["manifold_image"].width > 0
        assert train.on_pictures(view, request) == {}
        assert train.on_pictures(None, request) == {}  # after a Reset (no view)
        trainer.pause()
        trainer.join(1.0)
        deadline = time.monotonic() + 60
        while trainer.snapshot(history=False)["state"] != "paused" and time.monotonic() < deadline:
            time.sleep(0.01)
        paused = train.on_beat(view, request)  # a new state: the pictures drawn at the pause wait for the full update
        assert paused["full_due"] != beat["full_due"] and paused["pictures_due"] == beat["pictures_due"]
        assert "recon_image" in view.waiting and view.pictures == {}
        assert "recon_image" in train.on_full(view, request)
    finally:
        ctx.registry.drop("pictures")
