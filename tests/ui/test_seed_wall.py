"""The seed-sweep lesson's handler (gan_demo.ui.seed_wall) driven directly on a tiny config: both settings'
seeds train as two pools through the session registry, advance, are counted, hold slots of the budget,
and free them when the visitor stops the sweep or the session is dropped."""
from __future__ import annotations

import time
from types import SimpleNamespace

import pytest
import torch

from gan_demo.core.config import RunConfig
from gan_demo.evaluation.live_quality import QUALITY_EVERY
from gan_demo.training.pool import RunPools
from gan_demo.ui.seed_wall import SETTINGS, SeedWall, collapsed, count_line, sweep_configs
from gan_demo.ui.sessions import Busy, SessionRegistry

TIMEOUT_S = 120  # generous: the suite shares two CPU cores
SEEDS = range(4)
TINY = {"data": {"dataset": "ring8", "n_points": 2000},
        "model": {"width": 16, "depth": 2, "d_norm": "none"},
        "train": {"batch_size": 32, "r1_gamma": 0.0, "steps": 100_000}}


def wait_for(condition, what: str) -> None:
    deadline = time.monotonic() + TIMEOUT_S
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.05)


@pytest.fixture
def lesson():
    registry = SessionRegistry(max_runs=2, pools=RunPools())
    ctx = SimpleNamespace(registry=registry, device=torch.device("cpu"))
    yield SeedWall(ctx, seeds=SEEDS, base=TINY), registry
    registry.close()


def test_sweep_configs_differ_only_in_loss_and_seed():
    groups = sweep_configs(SEEDS, SETTINGS, TINY)
    assert list(groups) == ["minimax", "non-saturating"]
    a, b = groups["minimax"][1].to_dict(), groups["non-saturating"][1].to_dict()
    assert a["train"]["seed"] == b["train"]["seed"] == 1
    assert {k for k in a["train"] if a["train"][k] != b["train"][k]} == {"loss"}


@pytest.mark.slow  # two pools of tiny runs train for a while on a shared CPU
def test_both_pools_start_advance_count_stop_and_free_their_slots(lesson):
    handler, registry = lesson
    visitor = SimpleNamespace(session_hash="teacher")
    views, line = handler.start(visitor)
    assert [v.running for v in views] == [True, True], line
    sweep = registry.get("teacher").sweep
    runs = [t for group in sweep.values() for t in group]
    groups = {tuple(map(id, registry.pools.group_of(t).pools)) for t in runs}
    assert len(groups) == 2  # each setting's pools apart, its four seeds in them (spread over a pool per core)
    assert all(len(registry.pools.group_of(t)) == len(SEEDS) for t in runs)
    assert registry.active_runs() == 2 * len(SEEDS)
    assert 0 < registry.slots_in_use() <= registry.max_runs

    # held against the budget: another visitor's run does not fit beside two pools at one slot each
    cfg = RunConfig.from_dict({"data": {"dataset": "ring8", "n_points": 2000}, "model": {"width": 32},
                               "train": {"batch_size": 32, "steps": 50, "device": "cpu"}})
    with pytest.raises(Busy):
        registry.start(registry.get("other"), cfg, torch.device("cpu"))

    wait_for(lambda: all(t.last_quality is not None and t.last_quality.step >= QUALITY_EVERY for t in runs),
             "every seed's first quality figures")
    views = handler.walls(visitor)
    assert [v.picture.size for v in views] == [views[0].picture.size] * 2
    assert all(v.step >= QUALITY_EVERY for v in views)
    for view, (label, group) in zip(views, sweep.items()):
        expected = sum(bool(collapsed(t.last_quality)) for t in group)
        assert f"**{expected} of {len(SEEDS)}** seeds collapsed" in count_line(label, group)
        assert view.count.startswith(f"**{label}**")
    again = handler.walls(visitor)
    if all(a.step == b.step for a, b in zip(views, again)):
        assert again[0].picture is views[0].picture  # drawn once per new step

    views, line = handler.stop(visitor)
    assert not any(v.running for v in views) and "ended" in line
    assert all(t.state == "stopped" for t in runs)
    assert registry.active_runs() == 0 and registry.slots_in_use() == 0
    registry.start(registry.get("other"), cfg, torch.device("cpu"))  # the freed slots admit another visitor


@pytest.mark.slow  # two pools of tiny runs train for a while on a shared CPU
def test_a_dropped_session_stops_its_sweep(lesson):
    handler, registry = lesson
    handler.start(SimpleNamespace(session_hash="gone"))
    runs = [t for group in registry.get("gone").sweep.values() for t in group]
    registry.drop("gone")  # the tab closed, or the session expired
    assert all(not t.running for t in runs)
    assert registry.active_runs() == 0 and registry.slots_in_use() == 0


@pytest.mark.slow  # two pools of tiny runs train for a while on a shared CPU
def test_a_new_run_replaces_the_sweep_and_a_sweep_replaces_a_run(lesson):
    handler, registry = lesson
    visitor = SimpleNamespace(session_hash="v")
    handler.start(visitor)
    runs = [t for group in registry.get("v").sweep.values() for t in group]
    cfg = RunConfig.from_dict({"data": {"dataset": "ring8", "n_points": 2000}, "model": {"width": 16, "depth": 2},
                               "train": {"batch_size": 32, "steps": 100_000, "device": "cpu"}})
    trainer = registry.start(registry.get("v"), cfg, torch.device("cpu"))
    assert all(not t.running for t in runs) and trainer.running
    handler.start(visitor)
    assert not trainer.running
    handler.stop(visitor)


@pytest.mark.slow  # two pools of tiny runs train for a while on a shared CPU
def test_a_full_server_refuses_the_sweep_with_a_sentence(lesson):
    handler, registry = lesson
    cfg = RunConfig.from_dict({"data": {"dataset": "ring8", "n_points": 2000}, "model": {"width": 32},
                               "train": {"batch_size": 32, "steps": 100_000, "device": "cpu"}})
    other = registry.start(registry.get("other"), cfg, torch.device("cpu"))  # one slot of the two
    views, line = handler.start(SimpleNamespace(session_hash="late"))
    assert views == [] and line.startswith("busy:")
    assert registry.get("late").sweep is None and registry.active_runs() == 1
    registry.stop(registry.get("other"))
    assert not other.running
