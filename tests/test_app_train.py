"""Train tab helpers: the live 2D quality figures in words and as curves; the limits of web runs."""
import json
import math

import pytest

from gan_demo.config import IMAGE_DATASETS, TOY_DATASETS, ConfigError, DataConfig, ModelConfig, RunConfig, TrainConfig
from gan_demo.models import step_cost
from gan_demo.trainer import Trainer
from gan_demo.ui.app import PRETRAINED
from gan_demo.ui.lessons_tab import LESSONS
from gan_demo.ui.limits import STEP_BYTES, STEP_FLOPS, check_web_limits
from gan_demo.ui.train_tab import config_from_values, quality_line, quality_plots, values_for


def run(dataset: str, steps: int = 30) -> Trainer:
    tr = Trainer(RunConfig(data=DataConfig(dataset=dataset, n_points=1000), model=ModelConfig(width=16, depth=1),
                           train=TrainConfig(batch_size=64, steps=steps, device="cpu")))
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

    from gan_demo.graph import fmt
    from gan_demo.ui import train_tab
    from gan_demo.ui.app import AppContext

    ctx = AppContext.create(device="cpu")
    with gr.Blocks() as demo:
        tab = train_tab.build(ctx)
    on_tick = next(f.fn for f in demo.fns.values() if f.fn.__name__ == "on_tick")
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
