"""Lazy R1 (StyleGAN2's lazy regularisation, TrainConfig.r1_every): the penalty on every k-th step at k times the
weight, none between; the same in a pool whose runs are at other steps; auto 16 on a visitor's own images only."""
import json

import pytest
import torch

from gan_demo.core.config import (OWN_IMAGES_R1_EVERY, ConfigError, DataConfig, ModelConfig, RunConfig,
                                  TrainConfig)
from gan_demo.families import step_cost
from gan_demo.families.gan import OWN_IMAGES_STEPS
from gan_demo.training.pool import RunPool, pool_key
from gan_demo.training.trainer import Trainer
from tests.engine.test_pool import JOIN_S, assert_same_run

pytestmark = pytest.mark.usefixtures("one_thread")  # golden and equivalence values: tests/conftest.py


def toy(seed: int = 0, steps: int = 9, **train) -> RunConfig:
    """A tiny ring8 GAN with R1 (so D has no BatchNorm), its learning rates pinned."""
    t = dict(batch_size=64, steps=steps, seed=seed, device="cpu", r1_gamma=0.1, lr_g=2e-3, lr_d=2e-3, lr_decay=0.0)
    t.update(train)
    return RunConfig(data=DataConfig(dataset="ring8", n_points=1000), model=ModelConfig(width=32, depth=2, z_dim=8),
                     train=TrainConfig(**t))


def trained(config: RunConfig, steps: int | None = None) -> Trainer:
    tr = Trainer(config)
    tr.run(steps)
    assert tr.state == "finished", tr.state
    return tr


def test_lazy_r1_is_r1_at_k_times_the_weight_on_every_kth_step_and_none_between():
    lazy = trained(toy(r1_every=3))
    # The same run written out by hand: R1 every step, its weight switched by the schedule (3 x 0.1 on steps 0,
    # 3 and 6; 0 on the others).
    by_hand = toy(r1_every=1, r1_gamma=0.3)
    by_hand.schedule = [{"step": s, "r1_gamma": 0.3 if s % 3 == 0 else 0.0} for s in range(1, 9)]
    assert_same_run(lazy, trained(by_hand))
    every_step = trained(toy(r1_every=1))
    assert not torch.allclose(torch.tensor(lazy.history.columns()["loss_d"]),
                              torch.tensor(every_step.history.columns()["loss_d"]), atol=1e-4)


def test_pooled_runs_take_their_own_lazy_r1_at_their_own_steps():
    """Runs of one pool at different steps and intervals: each gets its solo run's numbers (the penalty is
    computed for the pool when it falls on any run's step, weighted 0 for the others)."""
    first = [Trainer(toy(seed, steps=12, r1_every=every)) for seed, every in ((0, 1), (1, 4))]
    late = Trainer(toy(2, steps=8, r1_every=3))
    pool = RunPool(pool_key(first[0]))
    joined = []

    def join_late(tr, rec):  # in the pool's thread: the late run starts at its step 0 while the others are past 5
        if rec.step >= 5 and not joined:
            joined.append(rec.step)
            pool.add(late, 8)

    first[0].add_callback(join_late)
    for tr in first:
        pool.add(tr, 12)
    for tr in first + [late]:
        tr.join(JOIN_S)
        assert not tr.running
    assert joined and [tr.state for tr in first + [late]] == ["finished"] * 3
    assert_same_run(first[0], trained(toy(0, steps=12, r1_every=1)))
    assert_same_run(first[1], trained(toy(1, steps=12, r1_every=4)))
    assert_same_run(late, trained(toy(2, steps=8, r1_every=3)))


# loss_d, loss_g of steps 1-5 of toy(r1_every=2), measured on one CPU thread (2026-12-06): pins the lazy step as built.
GOLDEN = [(1.3888787031173706, 0.745776355266571), (1.3745665550231934, 0.740170955657959),
          (1.365092158317566, 0.7334557771682739), (1.3598947525024414, 0.72634357213974),
          (1.349259614944458, 0.7200016975402832)]


def test_golden_values_of_a_lazy_run():
    tr = trained(toy(steps=5, r1_every=2))
    h = tr.history.columns()
    got = list(zip(h["loss_d"], h["loss_g"]))
    assert torch.allclose(torch.tensor(got), torch.tensor(GOLDEN), rtol=1e-5, atol=1e-6), got


def test_auto_is_16_and_8000_steps_on_your_own_images_and_1_elsewhere_and_old_configs_read_1(tmp_path):
    def resolved(dataset, **train):
        return RunConfig(data=DataConfig(dataset=dataset), train=TrainConfig(**train)).resolved(channels=3)

    own = str(tmp_path / "faces.zip")
    assert RunConfig().train.r1_every is None
    assert resolved(own).train.r1_every == OWN_IMAGES_R1_EVERY == 16
    assert resolved(own, r1_every=1).train.r1_every == 1  # a chosen value stays
    assert resolved(own).train.steps == OWN_IMAGES_STEPS == 8000 and resolved(own, steps=300).train.steps == 300
    assert resolved(own, loss="hinge").train.r1_every == 1  # measured with the nonsaturating loss only
    assert resolved(own, loss="hinge").train.steps == resolved("digits").train.steps == 4000
    assert resolved("stacked-digits").train.r1_every == 16  # it takes your own images' recipe (test_config.py)
    for bundled in ("ring8", "grid25", "digits"):
        assert resolved(bundled).train.r1_every == 1, bundled
        assert resolved(bundled, r1_gamma=0.1).train.r1_every == 1, bundled
    saved = resolved(own).to_dict()
    assert RunConfig.from_dict(json.loads(json.dumps(saved))).train.r1_every == 16
    del saved["train"]["r1_every"]  # a config.json written before the field existed: R1 every step, as it trained
    assert RunConfig.from_dict(saved).train.r1_every == 1


@pytest.mark.parametrize("value", [0, 65])
def test_an_interval_out_of_range_is_refused_by_name(value):
    with pytest.raises(ConfigError, match="r1_every"):
        toy(r1_every=value).resolved()


def test_the_flag_round_trips_and_the_step_cost_counts_one_penalty_in_k():
    from gan_demo.__main__ import build_parser, config_from_args

    cfg = config_from_args(build_parser().parse_args(["train", "--dataset", "ring8", "--r1-every", "4"]))
    assert cfg.train.r1_every == 4 and "--r1-every 4" in cfg.to_cli("runs/x")
    assert "--r1-every" not in RunConfig().to_cli()
    base = toy().resolved()

    def flops(**train):
        return step_cost(RunConfig.from_dict({**base.to_dict(), "train": {**base.to_dict()["train"], **train}})).flops

    none, every, lazy = flops(r1_gamma=0.0), flops(r1_every=1), flops(r1_every=16)
    assert none < lazy < every
    assert (every - none) == pytest.approx(16 * (lazy - none))
