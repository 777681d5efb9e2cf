"""Training to a time budget (--minutes, the Train tab's "minutes"): steps from the speed of the first steps,
written to config.json so --steps repeats the run exactly. No test depends on how fast this machine is:
the clock is a fake one, or only the equality of the two runs is checked."""
from __future__ import annotations

import json

import pytest
import torch

from gan_demo.training.budget import MEASURE_MIN_STEPS, PLACEHOLDER_STEPS, TimeBudget, steps_for
from gan_demo.core.config import ConfigError, DataConfig, ModelConfig, RunConfig, TrainConfig
from gan_demo.core.step_utils import lr_factor
from gan_demo.training.trainer import Trainer


def tiny(**train) -> RunConfig:
    return RunConfig(data=DataConfig(dataset="ring8", n_points=1000), model=ModelConfig(width=16, depth=2),
                     train=TrainConfig(batch_size=64, seed=0, device="cpu", **train))


class FakeClock:
    """Every reading is `tick` seconds after the previous one."""

    def __init__(self, tick: float):
        self.now, self.tick = 0.0, tick

    def __call__(self) -> float:
        self.now += self.tick
        return self.now


def test_steps_for_fills_the_rest_of_the_budget():
    assert steps_for(1.0, 10, 5.0, 20.0) == 10 + 20 * 55
    assert steps_for(1.0, 10, 70.0, 20.0) == 10  # over time already: the steps taken
    assert steps_for(1.0, 10, 5.0, 20.0, limit=500) == 500


@pytest.mark.parametrize("decay", [0.5, 0.9, 0.99])
def test_steps_for_keeps_the_measured_steps_before_the_decay(decay):
    """Every step taken while measuring ran at the full rate; under the chosen total they must too."""
    for done, rate in ((40, 0.1), (300, 1.0), (7, 0.0)):
        total = steps_for(0.5, done, 29.0, rate, lr_decay=decay)
        assert all(lr_factor(s, total, decay) == 1.0 for s in range(done))
        assert all(lr_factor(s, PLACEHOLDER_STEPS, decay) == 1.0 for s in range(done))


def test_budget_decides_once_from_the_timed_steps():
    clock = FakeClock(0.01)  # one reading per callback: a step every 10 ms
    tr = Trainer(tiny())
    budget = TimeBudget(0.02, clock=clock)  # 1.2 s: the speed counts from 5% of it (60 ms) on
    budget.attach(tr)
    assert tr.target_steps == PLACEHOLDER_STEPS == tr.cfg.train.steps
    for _ in range(2 * MEASURE_MIN_STEPS + 3):
        budget(tr, tr.step_once())
    assert budget.decided
    # decided at step 10: 5 steps timed over 50 ms after the warm-up mark at step 5, 100 ms since the start,
    # so 100 steps/s for the remaining 1.1 s
    assert budget.steps == 10 + 110
    assert tr.cfg.train.steps == tr.target_steps == budget.steps
    before = budget.steps
    budget(tr, tr.step_once())
    assert budget.steps == before  # once


def test_budget_refusals_and_stop_before_deciding():
    with pytest.raises(ConfigError, match="^minutes:"):
        TimeBudget(0)
    tr = Trainer(tiny(lr_decay=1.0))
    with pytest.raises(ConfigError, match="^minutes: lr_decay 1"):
        TimeBudget(1.0).attach(tr)
    tr = Trainer(tiny())
    budget = TimeBudget(10.0, clock=FakeClock(0.001))
    budget.attach(tr)
    for _ in range(3):
        budget(tr, tr.step_once())
    budget.finish(tr)  # stopped while measuring: the config names the steps taken, not the placeholder
    assert tr.cfg.train.steps == 3


def test_cli_minutes_run_repeats_with_its_steps(tmp_path):
    """`train --minutes` then `train --steps N` with N from its config.json: byte-identical weights. ring8's
    defaults decay the learning rates over the second half, so the decay's placement is checked too."""
    from gan_demo.__main__ import main

    flags = ["train", "--dataset", "ring8", "--width", "16", "--depth", "2", "--batch-size", "64",
             "--n-points", "1000", "--device", "cpu", "--quiet", "--save-every", "0"]
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        assert main(flags + ["--minutes", "0.01", "--out", str(tmp_path / "a")]) == 0
        steps = json.loads((tmp_path / "a" / "config.json").read_text())["train"]["steps"]
        assert 1 <= steps < PLACEHOLDER_STEPS
        assert main(flags + ["--steps", str(steps), "--out", str(tmp_path / "b")]) == 0
    finally:
        torch.set_num_threads(previous)
    a = json.loads((tmp_path / "a" / "config.json").read_text())
    b = json.loads((tmp_path / "b" / "config.json").read_text())
    assert a == {**b, "step": a["step"]} and a["step"] == b["step"] == steps
    assert (tmp_path / "a" / "model.safetensors").read_bytes() == (tmp_path / "b" / "model.safetensors").read_bytes()


def test_cli_minutes_refuses_steps_too(tmp_path, capsys):
    from gan_demo.__main__ import main

    with pytest.raises(SystemExit):
        main(["train", "--dataset", "ring8", "--minutes", "1", "--steps", "10", "--out", str(tmp_path / "x")])
    assert "minutes: give either --minutes or --steps" in capsys.readouterr().err


def test_train_tab_minutes_sets_the_steps_and_the_command():
    """The Train tab's "Train for: minutes": the run starts with the speed unknown, then its steps (and the
    command shown, and the saved config) name the chosen count; the run ends there."""
    import types

    from gan_demo.ui import forms
    from gan_demo.ui.tabs import train as train_tab
    from gan_demo.ui.app import AppContext
    from gan_demo.ui.limits import WEB_LIMITS

    ctx = AppContext.create(device="cpu")
    train = train_tab.Train(ctx)  # the tab's handlers, called directly
    request = types.SimpleNamespace(session_hash="s1")
    values = forms.values_for({"dataset": "ring8", "width": 16, "depth": 2, "batch_size": 64})
    with pytest.raises(ConfigError, match="^minutes:"):
        forms.time_budget("minutes", forms.WEB_MINUTES + 1)
    try:
        out = train.on_start({**values, "train_for": "minutes", "minutes": 0.01}, request)
        assert "Timing the first steps to fill 0.01 minutes" in out["message"]
        session = ctx.registry.get("s1")
        trainer = session.trainer
        trainer.join(120)
        assert trainer.state == "finished" and session.budget.decided
        out = train.on_tick(out["view"], request)
        steps = session.budget.steps
        assert trainer.step == trainer.cfg.train.steps == steps < WEB_LIMITS["steps"]
        assert f"--steps {steps} " in out["cli"] and f"{steps:,} steps" in out["message"]
    finally:
        ctx.registry.drop("s1")
