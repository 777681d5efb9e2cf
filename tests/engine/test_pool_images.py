"""Image GAN run pools: a DCGAN run trained in a pool (grouped convolutions) gives its solo run's numbers,
BatchNorm buffers and G_ema included; runs join late and fail alone; what cannot be stacked says why."""
import copy

import pytest
import torch

from gan_demo.core.config import DataConfig, ModelConfig, RunConfig, TrainConfig
from gan_demo.training.pool import RunPool, RunPools, StackedImageGAN, pool_key, stack_class, why_not_poolable
from gan_demo.training import stacked_conv
from gan_demo.training.trainer import Trainer

from tests.engine.test_pool import (ATOL, JOIN_S, STEPS, Faulty, assert_same_run, assert_same_state,
                                    check_faults_stay_alone, solo)
from tests.engine.test_pool import pool_runs as pooled

pytestmark = pytest.mark.usefixtures("one_thread")  # equivalence to float tolerance: tests/conftest.py


@pytest.fixture(autouse=True)
def pools_on_cpu(monkeypatch):
    """The mechanism is tested on CPU, where the app trains image runs alone (stacked_conv.POOL_DEVICES)."""
    monkeypatch.setattr(stacked_conv, "POOL_DEVICES", ("cuda", "cpu"))


def image_cfg(seed: int, loss: str = "nonsaturating", r1_gamma: float = 0.0, d_norm: str = "batch", **train) -> RunConfig:
    """A tiny 16 px digits DCGAN in fp32 (amp off: bf16 runs train alone); each seed its own learning rates, around
    the image GAN's 5e-4. (At 2e-3 some seeds part after 10-15 steps: the stack's gradients differ from the solo
    run's by ~1e-8 (summation order), and Adam's per-entry normalisation blows that up for an entry near 0.)"""
    t = dict(batch_size=16, steps=STEPS, seed=seed, device="cpu", loss=loss, r1_gamma=r1_gamma, amp=False,
             lr_g=5e-4 * (1 + seed / 8), lr_d=5e-4 * (1 + seed / 10), n_critic=2 if loss == "wgan-gp" else 1)
    t.update(train)
    return RunConfig(data=DataConfig(dataset="digits", img_size=16), model=ModelConfig(ngf=4, ndf=4, z_dim=8, d_norm=d_norm),
                     train=TrainConfig(**t))


def assert_same_buffers(a: Trainer, b: Trainer) -> None:
    """BatchNorm running statistics and counts of G, G_ema and D (assert_same_run compares them too, through the
    state dicts: this says so by name and checks there are some)."""
    seen = 0
    for net in ("G", "G_ema", "D"):
        mine, theirs = dict(getattr(a.family, net).named_buffers()), dict(getattr(b.family, net).named_buffers())
        assert mine.keys() == theirs.keys()
        for name, value in mine.items():
            assert torch.allclose(value.float(), theirs[name].float(), atol=1e-5), (net, name)
            seen += 1
    assert seen or a.cfg.model.d_norm != "batch"


FREE_STEPS = 8  # steps a pooled image run is compared with its solo run as each trains on alone


def pool_step_by_step(runs: list[Trainer], steps: int) -> list[list[tuple[dict, torch.Tensor]]]:
    """Train these runs on as one pool a step at a time up to `steps`; for each run, its state (the family's state
    dict and its generator's) before each of those steps."""
    before = [[] for _ in runs]
    for k in range(runs[0].step + 1, steps + 1):
        for tr, kept in zip(runs, before):
            kept.append((copy.deepcopy(tr.family.state_dict()), tr.gen.get_state()))
        pooled(runs, k)
    return before


def assert_each_step_is_a_solo_step(run: Trainer, config: RunConfig, before: list[tuple[dict, torch.Tensor]]) -> None:
    """Each pooled step of `run` equals one solo step taken from the same state (the run's weights, Adam moments,
    step and generator): its numbers, and the weights, buffers and moments after it, to float tolerance."""
    history = run.history.columns()
    first = run.step - len(before)
    for i, (family, gen) in enumerate(before):
        alone = Trainer(config)
        alone.family.load_state_dict(copy.deepcopy(family))
        alone.gen.set_state(gen)
        alone.run(first + i + 1)
        mine = alone.history.columns()
        row = history["step"].index(mine["step"][0])
        for name in run.series:
            assert mine[name][0] == pytest.approx(history[name][row], rel=1e-4, abs=ATOL), (first + i, name)
        after = before[i + 1][0] if i + 1 < len(before) else run.family.state_dict()
        assert_same_state(after, alone.family.state_dict())


@pytest.mark.parametrize("loss, r1_gamma, d_norm", [("nonsaturating", 0.0, "batch"), ("minimax", 0.0, "batch"),
                                                    ("hinge", 0.0, "batch"), ("lsgan", 0.0, "batch"),
                                                    ("wgan-gp", 0.0, "none"), ("nonsaturating", 0.1, "none")],
                         ids=["nonsaturating", "minimax", "hinge", "lsgan", "wgan-gp", "r1"])
def test_an_image_run_in_a_pool_of_four_matches_its_solo_run(loss, r1_gamma, d_norm):
    """One pool of four trains 8 steps and matches each run's solo run, then every one of the steps to 20 matches a
    solo step from the pooled run's state. Two whole 20-step runs, pooled and solo, are not compared past 8 steps:
    their sums differ by ~1e-7 (another order), and a ReLU or hinge input within that of its kink, or Adam's
    normalisation of a gradient near 0, parts them for good (seen on an AVX-512 Xeon: hinge, seed 3, step 10; 1e-7
    before it, 1e-3 after)."""
    configs = [image_cfg(seed, loss, r1_gamma, d_norm) for seed in range(4)]
    runs = pooled([Trainer(c) for c in configs], FREE_STEPS)
    assert [tr.state for tr in runs] == ["finished"] * 4
    for seed in (0, 3):
        alone = solo(configs[seed], FREE_STEPS)
        assert_same_run(runs[seed], alone)
        assert_same_buffers(runs[seed], alone)
    before = pool_step_by_step(runs, STEPS)
    assert [tr.step for tr in runs] == [STEPS] * 4
    for seed in (0, 3):
        assert_each_step_is_a_solo_step(runs[seed], configs[seed], before[seed])
    assert not torch.allclose(runs[0].family.G.net[0].weight, runs[1].family.G.net[0].weight)
    # Released: each run owns its weights and buffers again, in the layout its solo run keeps (NHWC on CPU).
    w = runs[0].family.D.features[0].weight
    assert w.untyped_storage().data_ptr() != runs[1].family.D.features[0].weight.untyped_storage().data_ptr()
    assert w.is_contiguous(memory_format=torch.channels_last)


@pytest.mark.parametrize("loss, r1_gamma, d_norm", [("nonsaturating", 0.0, "batch"), ("wgan-gp", 0.1, "none")])
def test_the_grouped_convolutions_match_too(monkeypatch, loss, r1_gamma, d_norm):
    """One grouped convolution per layer for all runs (the path off CPU) gives the solo run's numbers too, over 8
    steps: it sums in another order than the run's own kernel (~1e-7 apart), which Adam can blow up within 20 steps
    (on this CPU, for one seed in four with hinge or wgan-gp); the CPU's path, a convolution per run, is pinned above."""
    from gan_demo.training import stacked_conv

    monkeypatch.setattr(stacked_conv._GroupedNet, "conv_loop", False)
    runs = pooled([Trainer(image_cfg(seed, loss, r1_gamma, d_norm)) for seed in range(3)], steps=8)
    alone = solo(image_cfg(2, loss, r1_gamma, d_norm), 8)
    assert_same_run(runs[2], alone)
    assert_same_buffers(runs[2], alone)


def test_the_stacked_step_is_the_image_one_and_batch_norm_counts_per_run():
    runs = [Trainer(image_cfg(seed)) for seed in range(2)]
    assert why_not_poolable(runs[0]) is None and stack_class(runs[0]) is StackedImageGAN
    stack = StackedImageGAN([tr.family for tr in runs])
    draws = [stack.draw(tr.family) for tr in runs]
    values = stack.train_step(draws)
    assert values.shape == (2, len(runs[0].series)) and torch.isfinite(values).all()
    bn = runs[1].family.D.features[3]
    assert isinstance(bn, torch.nn.BatchNorm2d) and int(bn.num_batches_tracked) == 3  # real, fake, G's step
    assert int(runs[1].family.G_ema.net[1].num_batches_tracked) == 2  # copied from G (its D-step and G-step passes)
    stack.release()


def test_a_nan_or_an_exception_in_one_image_run_leaves_the_others_untouched():
    check_faults_stay_alone(image_cfg)


def test_image_runs_join_late_and_pause():
    first = [Faulty(image_cfg(seed)) for seed in range(2)]
    first[1].fault = ("pause", 6)
    pool = RunPool(pool_key(first[0]))
    late = Trainer(image_cfg(2))
    joined_at = []

    def join_late(tr, rec):  # in the pool's thread, at a read-back of run 0
        if rec.step >= 5 and not joined_at:
            joined_at.append(rec.step)
            pool.add(late, 11)

    first[0].add_callback(join_late)
    pool.add(first[0], STEPS)
    pool.add(first[1], STEPS)
    first[0].join(JOIN_S)
    late.join(JOIN_S)
    assert joined_at and first[0].state == late.state == "finished" and late.step == 11
    assert first[1].state == "paused" and first[1].step == 7
    first[1].fault = None
    first[1].resume()
    first[1].join(JOIN_S)
    assert first[1].state == "finished"
    for tr, seed, steps in ((first[0], 0, STEPS), (first[1], 1, STEPS), (late, 2, 11)):
        assert_same_run(tr, solo(image_cfg(seed), steps))


def test_image_runs_that_cannot_be_stacked_say_why_and_train_alone():
    spectral, augmented, amp = image_cfg(0, d_norm="spectral"), image_cfg(1), image_cfg(2, amp=True)
    augmented.train.augment = "translation"
    conditional = image_cfg(3)
    conditional.model.conditional = True
    pools = RunPools()
    for config in (spectral, augmented, conditional):
        tr = Trainer(config)
        assert pool_key(tr) is None and why_not_poolable(tr)
        pools.start(tr, 2)
        tr.join(JOIN_S)
        assert tr.state == "finished" and tr.pool_note and tr.pooled is None
    tr = Trainer(amp)
    assert (pool_key(tr) is None) == tr.use_amp  # bf16 autocast where it is native: alone; elsewhere it is fp32
    assert not pools.pools


def test_on_a_cpu_the_app_trains_image_runs_alone_and_says_why(monkeypatch):
    monkeypatch.setattr(stacked_conv, "POOL_DEVICES", ("cuda",))  # as shipped
    tr = Trainer(image_cfg(0))
    assert pool_key(tr) is None and why_not_poolable(tr).startswith("image runs pool on a GPU only")
    RunPools().start(tr, 2)
    tr.join(JOIN_S)
    assert tr.state == "finished" and tr.pooled is None and "GPU only" in tr.pool_note


def test_image_runs_pool_by_shape():
    wide = image_cfg(2)
    wide.model.ngf = 8
    runs = [Trainer(c) for c in (image_cfg(0), image_cfg(1), wide)]
    pools = RunPools()
    for tr in runs:
        pools.start(tr, 4)
    assert len({pool_key(tr) for tr in runs}) == 2
    for tr in runs:
        tr.join(JOIN_S)
    assert [tr.state for tr in runs] == ["finished"] * 3 and all(tr.pool_note is None for tr in runs)
    assert_same_run(runs[2], solo(wide, 4))


def test_a_pooled_image_run_saves_the_solo_run_folder(tmp_path):
    from gan_demo.training.checkpoint import load_checkpoint

    runs = [Faulty(image_cfg(seed)) for seed in range(3)]
    runs[1].fault = ("save", 10)  # saved while the pool steps it: weights, BatchNorm buffers and Adam state are views
    runs[1].save_to = tmp_path / "pooled"
    pool = RunPool(pool_key(runs[0]))
    for tr in runs:
        pool.add(tr, STEPS)
    for tr in runs:
        tr.join(JOIN_S)
    alone = Trainer(image_cfg(1))
    alone.run(10)
    alone.save(tmp_path / "solo")
    a, b = load_checkpoint(tmp_path / "pooled"), load_checkpoint(tmp_path / "solo")
    assert a.step == b.step == 10
    for name, net in a.networks.items():
        for key, value in net.state_dict().items():
            assert torch.allclose(value.float(), b.networks[name].state_dict()[key].float(), atol=1e-5), (name, key)
    resumed, resumed_solo = (Trainer.from_checkpoint(tmp_path / d, device="cpu") for d in ("pooled", "solo"))
    resumed.run(14)
    resumed_solo.run(14)
    assert_same_run(resumed, resumed_solo)
    assert runs[1].state == "finished"
    assert_same_run(runs[1], solo(image_cfg(1)))
