"""Comparisons: runs A and B from the same seed and data, kept at the same step, saved as one folder."""
from __future__ import annotations

import threading

import pytest
import torch

from gan_demo.training.checkpoint import load_checkpoint
from gan_demo.training.compare import COMPARISON_FILE, Comparison, Lockstep, check_pair, describe, differences, read_summary
from gan_demo.core.config import ConfigError, DataConfig, ModelConfig, RunConfig, TrainConfig
from gan_demo.training.trainer import Trainer
from gan_demo.ui.sessions import Busy, SessionRegistry

JOIN_S = 120  # a hang fails the test instead of blocking CI


def tiny(steps: int = 40, **train) -> RunConfig:
    return RunConfig(data=DataConfig(dataset="ring8", n_points=1000), model=ModelConfig(width=16, depth=2),
                     train=TrainConfig(batch_size=64, steps=steps, seed=0, device="cpu", **train))


def weights(trainer: Trainer) -> list[torch.Tensor]:
    return [p.detach().clone() for p in trainer.family.decoder_net().parameters()]


def test_differences_name_what_b_changes():
    a, b = tiny(), tiny(loss="wgan-gp", n_critic=5)
    diff = differences(a, b)
    assert diff == {"loss": ("nonsaturating", "wgan-gp"), "n_critic": (1, 5)}
    assert describe(diff) == "loss nonsaturating → wgan-gp, n_critic 1 → 5"
    assert describe({}) == "the same settings"
    assert differences(a, tiny()) == {}


def test_a_comparison_shares_seed_and_data():
    with pytest.raises(ConfigError, match="seed"):
        check_pair(tiny(), RunConfig.from_dict({**tiny().to_dict(), "train": {**tiny().train.__dict__, "seed": 1}}))
    other = tiny()
    other.data.dataset = "grid25"
    with pytest.raises(ConfigError, match="dataset"):
        check_pair(tiny(), other)


def test_lockstep_changes_no_number_and_keeps_the_runs_together():
    """Both runs end with exactly the weights each gets alone; while both train, the one ahead is never
    more than `slack` steps ahead (B, with n_critic 3, is the slower one)."""
    pair = Comparison(tiny(), tiny(n_critic=3), device="cpu")
    gaps = []
    original = Lockstep.__call__

    def recording(self, trainer):
        original(self, trainer)
        other = next(t for t in self.trainers if t is not trainer)
        if other.state == "running" and not trainer.stop_requested:
            gaps.append(trainer.step - other.step)  # other.step only grows: a gap seen here was real

    Lockstep.__call__ = recording
    try:
        pair.start()
        pair.join(JOIN_S)
    finally:
        Lockstep.__call__ = original
    assert [t.state for t in pair.runs.values()] == ["finished", "finished"]
    assert gaps and max(gaps) <= 0
    for label, cfg in (("A", tiny()), ("B", tiny(n_critic=3))):
        alone = Trainer(cfg, device="cpu")
        alone.run()
        for p, q in zip(weights(pair.runs[label]), weights(alone)):
            assert torch.equal(p, q)


def test_a_paused_run_holds_nobody_back_and_steps_one_at_a_time():
    pair = Comparison(tiny(steps=60), tiny(steps=60, lr_d=1e-3), device="cpu")
    a, b = pair.runs["A"], pair.runs["B"]
    with b.lock:  # B takes no step before its pause is asked for (its 60 steps could end first)
        pair.start()
        b.pause(wait=False)
    pair.pause("B")  # waits for the pause to hold
    a.join(JOIN_S)
    assert a.state == "finished" and a.step == 60
    assert b.state == "paused" and b.step < 60
    before = b.step
    records = pair.step("both")  # only B is paused: only B steps
    assert list(records) == ["B"] and b.step == before + 1 and records["B"]["step"] == before + 1
    assert b.history.records[-1].step == before + 1
    pair.stop("B")
    b.join(JOIN_S)
    assert b.state == "stopped"


def test_a_saved_comparison_holds_both_runs_and_their_curves(tmp_path):
    # rates given: ring8's auto rates and lr_decay depend on the loss (gan_demo.families.gan.RECIPES_2D), which would differ too
    same = dict(lr_g=1e-3, lr_d=1e-3, lr_decay=0.0)
    a, b = tiny(steps=10, **same), tiny(steps=10, loss="hinge", **same)
    a.model.z_dim = b.model.z_dim = 8  # ring8's recipe draws from 2 noise dimensions: given, as the rates are
    pair = Comparison(a, b, device="cpu")
    pair.start()
    pair.join(JOIN_S)
    folder = pair.save(tmp_path / "cmp")
    summary = read_summary(folder)
    assert summary["differences"] == {"loss": ["nonsaturating", "hinge"]}
    assert summary["runs"]["B"]["history"]["step"][-1] == 10
    assert (folder / COMPARISON_FILE).exists()
    for label in ("A", "B"):
        ckpt = load_checkpoint(folder / label, "cpu")
        assert ckpt.step == 10
    assert load_checkpoint(folder / "B", "cpu").cfg.train.loss == "hinge"


def test_the_run_cap_counts_runs_not_sessions():
    reg = SessionRegistry(max_runs=2)
    one, two = reg.get("one"), reg.get("two")
    try:
        pair = reg.start_pair(one, tiny(steps=100_000), tiny(steps=100_000, lr_d=1e-3), "cpu")
        assert reg.active_runs() == 2 and set(one.pair_ids) == {"A", "B"}
        assert reg.by_run_id(one.pair_ids["B"]) is one
        with pytest.raises(Busy, match="2 runs are training or paused on this server \\(limit 2\\)"):
            reg.start(two, tiny(steps=10), "cpu")
        reg.stop_pair(one, "B")
        assert pair.runs["B"].state == "stopped" and pair.runs["A"].state == "running"
        assert reg.active_runs() == 1
        with pytest.raises(Busy, match="a comparison trains two runs, so it needs 2 free slots"):
            reg.start_pair(two, tiny(steps=10), tiny(steps=10), "cpu")
        # A new run in the same session replaces its comparison: a visitor trains one or the other.
        reg.start(one, tiny(steps=10), "cpu")
        assert pair.runs["A"].state == "stopped"
        one.trainer.join(JOIN_S)
        assert reg.active_runs() == 0
    finally:
        reg.close()


def test_racing_comparison_starts_never_exceed_the_cap():
    reg = SessionRegistry(max_runs=3)
    barrier = threading.Barrier(4)
    outcomes = []

    def start(i):
        session = reg.get(f"s{i}")
        barrier.wait()
        try:
            reg.start_pair(session, tiny(steps=100_000), tiny(steps=100_000, loss="hinge"), "cpu")
            outcomes.append("started")
        except Busy:
            outcomes.append("busy")

    threads = [threading.Thread(target=start, args=(i,)) for i in range(4)]
    try:
        for t in threads:
            t.start()
        for t in threads:
            t.join(JOIN_S)
        assert sorted(outcomes) == ["busy", "busy", "busy", "started"]
        assert reg.active_runs() == 2
    finally:
        reg.close()
