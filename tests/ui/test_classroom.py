"""A class in the app: visitors' compatible runs train as one pool, admitted by a budget of slots.

Through the app's API (gradio_client, each client its own session) and its session registry: two
sessions' ring8 runs share a pool yet pause, resume, change, save and stop alone; a class of 24 ring8
runs at their defaults fits the default budget; a start past the budget is refused with a sentence that
says when a slot frees, from the live runs' ETAs.
"""
from __future__ import annotations

import json
import re

import pytest

from gan_demo.core.config import DataConfig, RunConfig
from gan_demo.training.pool import RunPool, RunPools
from gan_demo.training.trainer import Trainer
from gan_demo.ui.app import AppContext
from gan_demo.ui.sessions import Busy
from gan_demo.ui.tabs.train import Train, status_line
from tests.ui.test_app_api import LONG_RUN, TINY_RING8, launch, poll_until, pretrained  # noqa: F401 (fixture)

pytest.importorskip("gradio_client")

TIMEOUT_S = 120  # generous: the suite shares two CPU cores
TINY_ALONE = json.dumps({"width": 16, "depth": 2, "batch_size": 32, "d_norm": "batch"})  # BatchNorm: trains alone


@pytest.fixture(scope="module")
def app(pretrained):  # noqa: F811
    ctx = AppContext.create(device="cpu", pretrained=pretrained)  # the default flags
    # One pool per kind, so these tests see runs share a stacked step whatever the machine's cores (by default
    # a class spreads over a pool per core: test_a_class_spread_over_two_pools_is_priced_as_one).
    ctx.registry.pools = RunPools(cpu_pools=1)
    demo, url = launch(ctx)
    yield ctx, url
    demo.close()
    ctx.registry.close()


def test_two_sessions_ring8_runs_share_a_pool_and_each_pauses_and_stops_alone(app, clients, tmp_path):
    ctx, _ = app
    alice, bob = clients(), clients()
    run_a = alice.predict("ring8", LONG_RUN, "nonsaturating", 1, TINY_RING8, api_name="/train_start")["run_id"]
    run_b = bob.predict("ring8", LONG_RUN, "nonsaturating", 2, TINY_RING8, api_name="/train_start")["run_id"]
    a, b = (ctx.registry.get(c.session_hash).trainer for c in (alice, bob))
    pool = ctx.registry.pools.pool_of(a)
    assert pool is not None and ctx.registry.pools.pool_of(b) is pool and len(pool) == 2
    assert ctx.registry.slots_in_use() == pytest.approx(1.0)  # one pool of two tiny runs: one slot
    poll_until(alice, run_a, lambda s: s["step"] > 0, "alice's first steps")
    poll_until(bob, run_b, lambda s: s["step"] > 0, "bob's first steps")
    tab = Train(ctx)  # the Train tab's status line says the run is pooled
    assert tab.pooled(a) == tab.pooled(b) == 2
    assert "pooled: one step with 1 other run ·" in status_line({**a.snapshot(history=False), "state": "running"},
                                                               run_a, tab.pooled(a))

    a.pause()  # what the Train tab's Pause does
    paused = poll_until(alice, run_a, lambda s: s["state"] == "paused", "alice's pause")
    b_now = bob.predict(run_b, api_name="/train_poll")["step"]
    poll_until(bob, run_b, lambda s: s["step"] > b_now + 20, "bob's run to go on while alice's waits")
    assert alice.predict(run_a, api_name="/train_poll")["step"] == paused["step"] == a.step

    b.change(lr_d=0.0005)  # Apply live settings on a pooled run: it stays in the pool
    poll_until(bob, run_b, lambda s: b.cfg.train.lr_d == 0.0005, "bob's change to apply")
    assert ctx.registry.pools.pool_of(b) is pool

    with a.lock:  # Save (and Explore) on the paused pooled run: a normal run folder
        a.save(tmp_path / "alice")
    loaded = Trainer.from_checkpoint(tmp_path / "alice", device="cpu")
    assert loaded.step == paused["step"]
    sample = alice.predict(run_a, 3, api_name="/generate")  # Explore's sampling of the live run
    assert sample

    a.resume()
    poll_until(alice, run_a, lambda s: s["step"] > paused["step"], "alice's run to resume")
    assert alice.predict(run_a, api_name="/train_stop")["state"] == "stopped"
    assert bob.predict(run_b, api_name="/train_poll")["state"] == "running"  # untouched by alice's stop
    assert len(pool) == 1 and tab.pooled(b) == 1 and "pooled" not in status_line(b.snapshot(history=False), run_b, 1)

    ctx.registry.drop(bob.session_hash)  # bob's session expires: his run stops and the pool empties
    assert b.state == "stopped" and not b.running and len(pool) == 0


def _class_of_24(registry, cfg: RunConfig) -> None:
    sessions = [registry.get(f"student-{i}") for i in range(24)]
    try:
        runs = [registry.start(s, cfg, "cpu") for s in sessions]
        pools = [registry.pools.pool_of(t) for t in runs]
        assert pools[0] is not None and all(p is pools[0] for p in pools) and len(pools[0]) == 24
        assert all(t.state == "running" for t in runs)
        assert registry.slots_in_use() <= registry.max_runs == 2
    finally:
        for s in sessions:
            registry.drop(s.session_id)


def test_a_class_of_24_tiny_ring8_runs_is_admitted_by_default(app):
    """Priced by what their pool measures as it grows (tiny steps: fast, even on a loaded machine)."""
    tiny = RunConfig.from_dict({"data": {"dataset": "ring8"}, "model": {"width": 16, "depth": 2},
                                "train": {"batch_size": 32, "steps": LONG_RUN}})
    _class_of_24(app[0].registry, tiny)


def test_a_class_of_24_ring8_runs_at_their_defaults_fits_the_default_budget(app, monkeypatch):
    """Priced by their FLOPs (sessions.POOL_FLOPS_PER_S), as before a pool has measured a step: the
    measured price depends on the machine's speed and load, which a test must not (BENCHMARKS.md has
    the class of 24 measured against a real server)."""
    monkeypatch.setattr(RunPool, "member_seconds", lambda self: None)
    _class_of_24(app[0].registry, RunConfig(data=DataConfig(dataset="ring8")))


def test_an_over_budget_start_is_refused_saying_when_a_slot_frees(app, clients):
    ctx, _ = app
    first, second, third = clients(), clients(), clients()
    etas = {}
    for client, eta in ((first, 42.0), (second, 300.0)):  # runs that train alone: one slot each
        client.predict("ring8", LONG_RUN, config_json=TINY_ALONE, api_name="/train_start")
        trainer = ctx.registry.get(client.session_hash).trainer
        real = trainer.snapshot
        trainer.snapshot = lambda real=real, eta=eta: {**real(), "eta_s": eta}  # the ETA the run would report
        etas[client.session_hash] = trainer
    with pytest.raises(Exception, match=r"busy: 2 runs are training or paused on this server \(limit 2\); "
                                        r"a slot should free in about 42 s"):
        third.predict("ring8", LONG_RUN, config_json=TINY_ALONE, api_name="/train_start")
    # A ring8 run would start a pool: a slot of its own, refused the same way.
    with pytest.raises(Exception, match="a slot should free in about 42 s"):
        third.predict("ring8", LONG_RUN, config_json=TINY_RING8, api_name="/train_start")
    for client in (first, second):
        ctx.registry.drop(client.session_hash)
    assert third.predict("ring8", LONG_RUN, config_json=TINY_RING8, api_name="/train_start")["state"] == "running"
    ctx.registry.drop(third.session_hash)


def test_a_pool_past_its_slot_is_priced_by_what_it_measured(app):
    """A pool's runs share max(1, step time / POOL_SLOT_S) slots: a pool measured slow fills the budget
    and a newcomer is refused, with the wait taken from the pool's runs' ETAs."""
    ctx, _ = app
    registry = ctx.registry
    sessions = [registry.get(f"slow-{i}") for i in range(3)]
    tiny = RunConfig.from_dict({"data": {"dataset": "ring8"}, "model": {"width": 16, "depth": 2},
                                "train": {"batch_size": 32, "steps": LONG_RUN}})
    try:
        runs = [registry.start(s, tiny, "cpu") for s in sessions[:2]]
        pool = registry.pools.pool_of(runs[0])
        pool.member_seconds = lambda: 0.25  # as if each stacked step of the two took half a second
        for t in runs:
            real = t.snapshot
            t.snapshot = lambda real=real: {**real(), "eta_s": 90.0}
        assert registry.slots_in_use() == pytest.approx(5.0)  # 0.5 s a step = 5 slots, past the budget of 2
        with pytest.raises(Busy, match=r"busy: 2 runs are training or paused on this server \(using 5\.0 of its "
                                       r"2 slots: runs pooled together share theirs\); a slot should free in "
                                       r"about 2 min") as refused:
            registry.start(sessions[2], tiny, "cpu")
        assert re.search(r"about 2 min", str(refused.value))
    finally:
        for s in sessions:
            registry.drop(s.session_id)


def test_a_class_of_2d_vaes_trains_as_one_pool(app):
    """The app starts every run through its RunPools: 2D VAEs of one shape share a pool (one slot), apart from GANs."""
    registry = app[0].registry
    sessions = [registry.get(f"vae-{i}") for i in range(3)]
    vae = RunConfig.from_dict({"family": "vae", "data": {"dataset": "ring8"}, "model": {"width": 16, "depth": 2},
                               "train": {"batch_size": 32, "steps": LONG_RUN}})
    try:
        runs = [registry.start(s, vae, "cpu") for s in sessions]
        pool = registry.pools.pool_of(runs[0])
        assert pool is not None and pool.key[0] == "vae" and all(t.pool_note is None for t in runs)
        assert all(registry.pools.pool_of(t) is pool for t in runs)
        assert registry.slots_in_use() == pytest.approx(1.0)  # three tiny runs: one pooled step, one slot
    finally:
        for s in sessions:
            registry.drop(s.session_id)


def test_a_class_spread_over_two_pools_is_priced_as_one(app):
    """On two cores the app's runs of one kind spread over two pools (a thread each, one intra-op thread each),
    each run's status counting its own pool, and the class is priced as one pool: three tiny runs, one slot."""
    registry = app[0].registry
    one_pool = registry.pools
    registry.pools = RunPools(cpu_pools=2, cores=2)
    sessions = [registry.get(f"spread-{i}") for i in range(3)]
    tiny = RunConfig.from_dict({"data": {"dataset": "ring8"}, "model": {"width": 16, "depth": 2},
                                "train": {"batch_size": 32, "steps": LONG_RUN}})
    try:
        runs = [registry.start(s, tiny, "cpu") for s in sessions]
        pools = [registry.pools.pool_of(t) for t in runs]
        assert pools[0] is pools[2] and pools[1] is not pools[0] and sorted(map(len, {*pools})) == [1, 2]
        assert all(p.threads == 1 for p in pools)
        assert len(registry.pools.group_of(runs[1])) == 3
        assert registry.slots_in_use() == pytest.approx(1.0)
        assert [Train(app[0]).pooled(t) for t in runs] == [2, 1, 2]
    finally:
        for s in sessions:
            registry.drop(s.session_id)
        registry.pools = one_pool
