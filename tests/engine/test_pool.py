"""Run pools: a run trained in a pool gives its solo run's numbers; runs join, leave, pause, change, fail alone."""
import contextlib
import json
import os
import sys
import threading

import pytest
import torch

from gan_demo.training.checkpoint import load_checkpoint
from gan_demo.core.config import DataConfig, ModelConfig, RunConfig, TrainConfig
from gan_demo.training.pool import RunPool, RunPools, pool_key, why_not_poolable
from gan_demo.training.run_loop import TRAINING_NICE
from gan_demo.training.trainer import Trainer

JOIN_S = 120  # every wait on a pool has a timeout: a hang fails the test instead of blocking the suite
STEPS = 20
ATOL = 1e-5  # float tolerance: the stacked step sums in another order than the solo one


pytestmark = pytest.mark.usefixtures("one_thread")  # golden and equivalence values: tests/conftest.py


def cfg(seed: int, loss: str = "nonsaturating", r1_gamma: float = 0.0, **train) -> RunConfig:
    """A tiny ring8 GAN; each seed its own learning rates too (per-run settings inside one pool)."""
    t = dict(batch_size=64, steps=STEPS, seed=seed, device="cpu", loss=loss, r1_gamma=r1_gamma,
             lr_g=2e-3 * (1 + seed / 8), lr_d=2e-3 * (1 + seed / 10), n_critic=2 if loss == "wgan-gp" else 1)
    t.update(train)
    return RunConfig(data=DataConfig(dataset="ring8", n_points=1000),
                     model=ModelConfig(width=32, depth=2, d_norm="none"), train=TrainConfig(**t))


def solo(config: RunConfig, steps: int = STEPS) -> Trainer:
    tr = Trainer(config)
    tr.run(steps)
    return tr


def pooled(configs, steps: int = STEPS, trainer_cls=Trainer) -> list[Trainer]:
    return pool_runs([trainer_cls(c) for c in configs], steps)


def pool_runs(runs: list[Trainer], steps: int = STEPS) -> list[Trainer]:
    """Train these runs `steps` steps as one pool; each join is bounded."""
    pool = RunPool(pool_key(runs[0]))
    for tr in runs:
        pool.add(tr, steps)
    for tr in runs:
        tr.join(JOIN_S)
        assert not tr.running, "the pool did not let the run go"
    return runs


def assert_same_run(a: Trainer, b: Trainer) -> None:
    """Same history (every series of every step) and the same weights and optimizer moments, to tolerance."""
    ha, hb = a.history.columns(), b.history.columns()
    assert ha["step"] == hb["step"]
    for name in a.series:
        assert torch.allclose(torch.tensor(ha[name]), torch.tensor(hb[name]), atol=ATOL, rtol=1e-4), name
    assert_same_state(a.family.state_dict(), b.family.state_dict())


def assert_same_state(sa: dict, sb: dict) -> None:
    """Two GAN family state dicts: the same step, weights, buffers and optimizer moments, to tolerance."""
    assert sa["step"] == sb["step"]
    for net in ("G", "G_ema", "D"):
        for key, value in sa[net].items():
            assert torch.allclose(value, sb[net][key], atol=ATOL), (net, key)
    for opt in ("opt_G", "opt_D"):
        for i, state in sa[opt]["state"].items():
            other = sb[opt]["state"][i]
            assert float(state["step"]) == float(other["step"])
            assert torch.allclose(state["exp_avg"], other["exp_avg"], atol=ATOL)
            assert torch.allclose(state["exp_avg_sq"], other["exp_avg_sq"], atol=ATOL)


@pytest.mark.parametrize("loss, r1_gamma", [("nonsaturating", 0.0), ("minimax", 0.0), ("hinge", 0.0), ("lsgan", 0.0),
                                            ("wgan-gp", 0.0), ("nonsaturating", 0.1)],
                         ids=["nonsaturating", "minimax", "hinge", "lsgan", "wgan-gp", "r1"])
def test_a_run_in_a_pool_of_four_matches_its_solo_run(loss, r1_gamma):
    runs = pooled([cfg(seed, loss, r1_gamma) for seed in range(4)])
    assert [tr.state for tr in runs] == ["finished"] * 4
    for seed in (0, 3):
        assert_same_run(runs[seed], solo(cfg(seed, loss, r1_gamma)))
    # The runs are not copies of one another: each its own seed.
    assert not torch.allclose(runs[0].family.G.net[0].weight, runs[1].family.G.net[0].weight)


@pytest.mark.parametrize("r1_gamma", [0.0, 0.1], ids=["plain", "r1"])
def test_a_sweeps_runs_join_at_one_step_and_their_adam_is_one_fused_call(r1_gamma, monkeypatch):
    """A seed sweep (RunPools.start_all): the runs that share a pool join it at the same step, so with the same
    learning rates they stay at one step count and the stacked Adam updates G's (and D's) stacked tensors in one
    call of torch's fused kernel each pooled step; each run still gives its solo run's numbers. (Runs at their own
    learning rates or steps take the foreach path: the other tests here.)"""
    fused, calls = torch._fused_adam_, []
    monkeypatch.setattr(torch, "_fused_adam_", lambda *a, **k: calls.append(len(a[0])) or fused(*a, **k))
    configs = [cfg(seed, r1_gamma=r1_gamma, lr_g=2e-3, lr_d=3e-3, lr_decay=0.5) for seed in range(6)]
    runs = [Trainer(c) for c in configs]
    pools = RunPools(cpu_pools=2, cores=2)
    pools.start_all(runs, STEPS)
    for tr in runs:
        tr.join(JOIN_S)
    assert [tr.state for tr in runs] == ["finished"] * 6
    tensors = {len(list(runs[0].family.G.parameters())), len(list(runs[0].family.D.parameters()))}
    assert len(calls) == 2 * 2 * STEPS and set(calls) == tensors  # two pools of three, G and D: whole stacks
    for seed in (0, 5):
        assert_same_run(runs[seed], solo(configs[seed]))


def test_the_vmap_path_matches_too(monkeypatch):
    """Networks other than plain MLPs go through vmap(functional_call): same numbers as the baddbmm path's."""
    from gan_demo.training import pool as pool_module

    monkeypatch.setattr(pool_module._StackedNet, "fast_mlp", False)
    runs = pooled([cfg(seed, "wgan-gp", 0.1) for seed in range(3)], steps=8)
    assert_same_run(runs[1], solo(cfg(1, "wgan-gp", 0.1), 8))


@pytest.mark.parametrize("model, loss, r1_gamma", [(dict(mbstd_group=4), "nonsaturating", 0.1),
                                                   (dict(pack=2), "nonsaturating", 0.1), (dict(pack=2), "wgan-gp", 0.0)],
                         ids=["mbstd-r1", "pack-r1", "pack-gp"])
def test_a_d_that_sees_several_samples_pools_too(model, loss, r1_gamma):
    """Minibatch stddev and packing (issue 19's D options) in a pool of three: each run its solo run's numbers
    (they once failed in a pool: the baddbmm path ran D without them); a packed D's penalties are per pack."""
    def config(seed):
        c = cfg(seed, loss, r1_gamma)
        c.model = ModelConfig(width=32, depth=2, d_norm="none", **model)
        return c

    runs = pooled([config(seed) for seed in range(3)], steps=8)
    assert [tr.state for tr in runs] == ["finished"] * 3, [tr.message for tr in runs]
    assert_same_run(runs[2], solo(config(2), 8))


def test_runs_join_and_leave_at_any_step():
    first = [Trainer(cfg(seed)) for seed in range(2)]
    pool = RunPool(pool_key(first[0]))
    joined_at = []
    late = [Trainer(cfg(seed)) for seed in (2, 3)]

    def join_the_late_ones(tr, rec):  # in the pool's thread, at a read-back of run 0
        if rec.step >= 5 and not joined_at:
            joined_at.append(rec.step)
            pool.add(late[0], STEPS)
            pool.add(late[1], 7)  # leaves after 7 steps while the others go on

    first[0].add_callback(join_the_late_ones)
    pool.add(first[0], STEPS)
    pool.add(first[1], 12)
    for tr in first + late:
        tr.join(JOIN_S)
    assert joined_at and [tr.state for tr in first + late] == ["finished"] * 4
    assert [tr.step for tr in first + late] == [STEPS, 12, STEPS, 7]
    assert_same_run(first[1], solo(cfg(1), 12))
    assert_same_run(late[0], solo(cfg(2)))
    assert_same_run(late[1], solo(cfg(3), 7))
    assert not pool.loop or not pool.loop.alive or len(pool) == 0


def test_scheduled_and_live_changes_per_run_and_a_change_the_pool_cannot_share():
    lr_change = cfg(1)
    lr_change.schedule = [{"step": 6, "lr_d": 1e-3, "lr_g": 5e-4}]
    loss_change = cfg(2)
    loss_change.schedule = [{"step": 8, "loss": "hinge"}]  # another pool key: the run leaves and trains on alone
    runs = pooled([cfg(0), lr_change, loss_change, cfg(3)])
    assert [tr.state for tr in runs] == ["finished"] * 4
    assert runs[2].cfg.train.loss == "hinge" and runs[2].pooled is None
    for tr, config in zip(runs[1:3], (lr_change, loss_change)):
        again = RunConfig.from_dict(config.to_dict())
        again.schedule = [dict(e) for e in config.schedule]
        assert_same_run(tr, solo(again))
    assert_same_run(runs[3], solo(cfg(3)))


class Faulty(Trainer):
    """A run that poisons its weights (a NaN) or whose data raises at a chosen step."""

    fault: tuple[str, int] | None = None

    def apply_due_changes(self):
        what, at = self.fault or ("", -1)
        if self.step == at and what == "nan":
            with torch.no_grad():
                next(self.family.D.parameters()).fill_(float("nan"))
        if self.step == at and what == "pause":
            self.pause()
        if self.step == at and what == "stop":
            self.stop()
        if self.step == at and what == "save":
            self.save(self.save_to)
        super().apply_due_changes()

    def _real_batch(self, n):
        if self.fault == ("data", self.step):
            raise RuntimeError("the data broke")
        return super()._real_batch(n)


def check_faults_stay_alone(make_cfg) -> None:
    """Four runs of make_cfg(seed) in one pool: seed 1's weights turn NaN at step 9 (rolled back, diverged), seed 2's
    data raises at step 4 (failed); seeds 0 and 3 finish with their solo runs' numbers."""
    runs = [Faulty(make_cfg(seed)) for seed in range(4)]
    runs[1].fault = ("nan", 9)
    runs[2].fault = ("data", 4)
    pool = RunPool(pool_key(runs[0]))
    for tr in runs:
        pool.add(tr, STEPS)
    for tr in runs:
        tr.join(JOIN_S)
    assert runs[1].state == "diverged" and runs[1].message.startswith("diverged at step 10;")
    assert all(torch.isfinite(p).all() for p in runs[1].family.D.parameters())  # rolled back to good weights
    assert runs[2].state == "failed" and "the data broke" in runs[2].message
    assert runs[0].state == runs[3].state == "finished"
    assert_same_run(runs[0], solo(make_cfg(0)))
    assert_same_run(runs[3], solo(make_cfg(3)))


def test_a_nan_or_an_exception_in_one_run_leaves_the_others_untouched():
    check_faults_stay_alone(cfg)


def test_pause_resume_and_stop_one_run_of_a_pool():
    runs = [Faulty(cfg(seed)) for seed in range(3)]
    runs[0].fault = ("pause", 5)
    runs[1].fault = ("stop", 3)
    pool = RunPool(pool_key(runs[0]))
    for tr in runs:
        pool.add(tr, STEPS)
    runs[2].join(JOIN_S)
    runs[1].join(JOIN_S)
    assert runs[2].state == "finished" and runs[1].state == "stopped" and runs[1].step == 4
    assert runs[0].state == "paused" and runs[0].step == 6 and runs[0].running
    assert runs[0].snapshot()["step"] == 6  # the steps before the pause were read back
    runs[0].fault = None
    runs[0].resume()
    runs[0].join(JOIN_S)
    assert runs[0].state == "finished"
    assert_same_run(runs[0], solo(cfg(0)))
    assert_same_run(runs[2], solo(cfg(2)))


def test_a_pooled_run_saves_the_same_run_folder_as_a_solo_run(tmp_path):
    runs = [Faulty(cfg(seed)) for seed in range(3)]
    runs[1].fault = ("save", 10)  # saved while the pool steps it: its weights and Adam state are the pool's views
    runs[1].save_to = tmp_path / "pooled"
    pooled_runs = RunPool(pool_key(runs[0]))
    for tr in runs:
        pooled_runs.add(tr, STEPS)
    for tr in runs:
        tr.join(JOIN_S)
    alone = Trainer(cfg(1))
    alone.run(10)
    alone.save(tmp_path / "solo")
    a, b = load_checkpoint(tmp_path / "pooled"), load_checkpoint(tmp_path / "solo")
    assert a.step == b.step == 10 and a.cfg.train.seed == 1
    assert json.loads((tmp_path / "pooled" / "config.json").read_text())["step"] == 10
    for name, net in a.networks.items():
        for key, value in net.state_dict().items():
            assert torch.allclose(value, b.networks[name].state_dict()[key], atol=ATOL), (name, key)
    # It continues like the solo run's folder: from the saved step, with the saved optimizer state.
    resumed = Trainer.from_checkpoint(tmp_path / "pooled", device="cpu")
    resumed_solo = Trainer.from_checkpoint(tmp_path / "solo", device="cpu")
    resumed.run(14)
    resumed_solo.run(14)
    assert_same_run(resumed, resumed_solo)
    assert runs[1].state == "finished"
    assert_same_run(runs[1], solo(cfg(1)))


def test_what_cannot_be_pooled_says_why_and_trains_alone():
    vae = RunConfig(family="vae", data=DataConfig(dataset="digits", img_size=16), model=ModelConfig(ngf=4, ndf=4, z_dim=4),
                    train=TrainConfig(batch_size=16, steps=3, device="cpu"))  # an image VAE (2D VAEs pool)
    batch_norm = cfg(0)
    batch_norm.model.d_norm = "batch"
    pools = RunPools()
    for config in (vae, batch_norm):
        tr = Trainer(config)
        assert pool_key(tr) is None and why_not_poolable(tr)
        pools.start(tr, 3)
        tr.join(JOIN_S)
        assert tr.state == "finished" and tr.pool_note and tr.pooled is None
    assert not pools.pools


def test_run_pools_group_runs_by_their_shapes():
    wide = cfg(0)
    wide.model.width = 16
    runs = [Trainer(c) for c in (cfg(0), cfg(1), wide)]
    pools = RunPools()
    pools.start_all(runs, 5)  # one call: a later start() drops a pool whose 5 steps already ended
    keys = {pool_key(tr) for tr in runs}
    assert len(keys) == 2 and set(pools.pools) == keys
    for tr in runs:
        tr.join(JOIN_S)
    assert [tr.state for tr in runs] == ["finished"] * 3
    assert_same_run(runs[2], solo(wide, 5))


def test_train_seeds_writes_a_run_folder_per_seed_and_a_summary(tmp_path, capsys):
    from gan_demo.__main__ import main

    flags = ["--dataset", "ring8", "--n-points", "500", "--width", "16", "--depth", "2", "--batch-size", "32",
             "--steps", "6", "--save-every", "0", "--quiet", "--device", "cpu"]
    assert main(["train", "--seeds", "0-2,5", "--out", str(tmp_path / "sweep"), *flags]) == 0
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert summary == json.loads((tmp_path / "sweep" / "summary.json").read_text())
    assert summary["pooled"] and [r["seed"] for r in summary["runs"]] == [0, 1, 2, 5]
    for line in summary["runs"]:
        assert line["state"] == "finished" and line["step"] == 6 and line["n_modes"] == 8
        assert 0 <= line["modes_covered"] <= 8 and 0 <= line["high_quality"] <= 1 and line["grid_kl"] >= 0
    # Each folder is a normal run folder: the same weights as the solo run of that seed.
    assert main(["train", "--seed", "5", "--out", str(tmp_path / "solo"), *flags]) == 0
    pooled_run, solo_run = load_checkpoint(tmp_path / "sweep" / "seed-5"), load_checkpoint(tmp_path / "solo")
    assert pooled_run.step == solo_run.step == 6 and pooled_run.cfg.train.seed == 5
    for name, net in pooled_run.networks.items():
        for key, value in net.state_dict().items():
            assert torch.allclose(value, solo_run.networks[name].state_dict()[key], atol=ATOL), (name, key)


@pytest.mark.parametrize("seeds", ["3-1", "a", "0-100000", "1,-2"])
def test_train_seeds_refuses_a_bad_list(seeds, tmp_path):
    from gan_demo.__main__ import main

    with pytest.raises(SystemExit) as exit_info:
        main(["train", "--seeds", seeds, "--out", str(tmp_path), "--steps", "2", "--quiet", "--device", "cpu"])
    assert exit_info.value.code == 2
    assert not any(tmp_path.iterdir())


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="per-thread priorities are Linux's")
def test_training_threads_run_below_the_process_priority_so_requests_come_first():
    """A pool's thread and a solo run's thread train TRAINING_NICE nice levels below the process (read inside
    the training thread by a step callback); the thread that started them keeps its own."""
    def nice_here() -> int:
        return os.getpriority(os.PRIO_PROCESS, threading.get_native_id())

    before = nice_here()
    base = os.getpriority(os.PRIO_PROCESS, os.getpid())
    seen = {}

    def record(trainer, rec) -> None:
        seen.setdefault(trainer.cfg.train.seed, nice_here())

    runs = [Trainer(cfg(seed)) for seed in (0, 1)]
    for tr in runs:
        tr.add_callback(record)
    pool = RunPool(pool_key(runs[0]))
    pool.add(runs[0], 3)
    runs[1].start(3)
    for tr in runs:
        tr.join(JOIN_S)
        assert tr.state == "finished"
    assert seen == {0: max(before, min(19, base + TRAINING_NICE)), 1: max(before, min(19, base + TRAINING_NICE))}
    assert nice_here() == before


def test_a_class_spreads_over_a_pool_per_core_each_with_one_intra_op_thread():
    """RunPools on two cores: five runs of one kind spread over two pools (the smallest takes the next run), each
    pool's thread trains with cores // pools intra-op threads, each run still gives its solo run's numbers, and
    the group of a run's kind counts all five; a solo 2D run trains with one thread and an image run with torch's
    count, each read inside its training thread; and no training thread changes the count other threads get."""
    seen = {}

    def record(trainer, rec) -> None:
        seen.setdefault(trainer.cfg.train.seed, torch.get_num_threads())

    configs = [cfg(seed) for seed in range(5)]
    runs = [Trainer(c) for c in configs]
    pools = RunPools(cpu_pools=2, cores=2)
    with contextlib.ExitStack() as held:  # no pool steps a run (its lock) until all five are placed and counted:
        for tr in runs:  # a run whose 8 steps ended would have left its pool before the counts below
            held.enter_context(tr.lock)
        for tr in runs:
            tr.add_callback(record)
            pools.start(tr, 8)
        sizes = sorted(len(p) for p in pools.pools[pool_key(runs[0])])
        assert sizes == [2, 3] and len(pools.group_of(runs[4])) == 5 and len(pools.joining(Trainer(cfg(9)))) == 5
        assert pools.pool_of(runs[0]) is pools.pool_of(runs[2]) is pools.pool_of(runs[4]) is not pools.pool_of(runs[1])
    for tr in runs:
        tr.join(JOIN_S)
    assert seen == {seed: 1 for seed in range(5)} and pools.running == 0 and pools.group_of(runs[0]) is None
    for tr, config in zip(runs, configs):
        assert_same_run(tr, solo(config, 8))
    assert RunPools(cores=2).cpu_pools == 2 and RunPools(cores=16).cpu_pools == 4 and RunPools(cores=1).cpu_pools == 1

    torch.set_num_threads(2)  # as torch starts on two cores: a 2D run's thread still takes one
    alone = Trainer(cfg(7))
    alone.add_callback(record)
    alone.run(2)
    image = Trainer(RunConfig(data=DataConfig(dataset="digits", img_size=16), model=ModelConfig(ngf=4, ndf=4, z_dim=4),
                              train=TrainConfig(batch_size=16, seed=8, device="cpu")))
    image.add_callback(record)
    image.run(1)
    later = []
    reader = threading.Thread(target=lambda: later.append(torch.get_num_threads()))
    reader.start()
    reader.join()
    assert seen[7] == 1 and seen[8] == 2 and later == [2] and torch.get_num_threads() == 2


def test_pausing_a_pooled_run_returns_once_the_pause_holds():
    """As a solo run's: pause() on a run a pool steps returns once the pool has read its steps back and stepped it
    out of the stack, so its step, last record and history agree; the other run trains on."""
    runs = [Trainer(cfg(seed)) for seed in range(2)]
    three = threading.Event()
    runs[0].add_callback(lambda t, rec: rec.step >= 3 and three.set())
    pool = RunPool(pool_key(runs[0]))
    for tr in runs:
        pool.add(tr, 10**6)
    try:
        assert three.wait(JOIN_S), "the pooled run did not reach step 3"
        runs[0].pause()
        assert runs[0].control.halted.is_set()
        snap = runs[0].snapshot()
        assert snap["step"] == runs[0].step == runs[0].last_record.step == snap["history"]["step"][-1]
        assert runs[1].state == "running"
    finally:
        for tr in runs:
            tr.stop()
        for tr in runs:
            tr.join(JOIN_S)
