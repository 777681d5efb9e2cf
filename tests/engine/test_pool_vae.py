"""VAE run pools: a 2D VAE run trained in a pool gives its solo run's numbers; VAEs and GANs never share a pool."""
import pytest
import torch

from gan_demo.core.config import DataConfig, ModelConfig, RunConfig, TrainConfig
from gan_demo.families.vae import VAESettings
from gan_demo.training.pool import RunPool, RunPools, StackedVAE, pool_key, why_not_poolable
from gan_demo.training.trainer import Trainer

from tests.engine.test_pool import ATOL, JOIN_S, STEPS, solo
from tests.engine.test_pool import pool_runs as pooled

pytestmark = pytest.mark.usefixtures("one_thread")  # equivalence to float tolerance: tests/conftest.py


def vae_cfg(seed: int, lr_vae: float = 2e-3, beta: float = 1.0, kl_warmup: int = 5, **model) -> RunConfig:
    """A tiny ring8 VAE with a KL warm-up inside the 20 steps (its per-run weight ramps while pooled)."""
    return RunConfig(family="vae", data=DataConfig(dataset="ring8", n_points=1000),
                     model=ModelConfig(**{"width": 32, "depth": 2, **model}),
                     train=TrainConfig(batch_size=64, steps=STEPS, seed=seed, device="cpu"),
                     vae=VAESettings(lr_vae=lr_vae, beta=beta, kl_warmup=kl_warmup))


def four() -> list[RunConfig]:
    """Four seeds; the last with its own learning rate, beta and warm-up (per-run settings inside one pool)."""
    return [vae_cfg(0), vae_cfg(1), vae_cfg(2), vae_cfg(3, lr_vae=5e-3, beta=0.5, kl_warmup=12)]


def assert_same_run(a: Trainer, b: Trainer) -> None:
    """Same history (every series of every step), weights and Adam state (moments and step), to tolerance."""
    ha, hb = a.history.columns(), b.history.columns()
    assert ha["step"] == hb["step"] and len(ha["step"]) > 0
    for name in a.series:
        assert torch.allclose(torch.tensor(ha[name]), torch.tensor(hb[name]), atol=ATOL, rtol=1e-4), name
    sa, sb = a.family.state_dict(), b.family.state_dict()
    assert sa["step"] == sb["step"]
    for net in ("encoder", "decoder"):
        for key, value in sa[net].items():
            assert torch.allclose(value, sb[net][key], atol=ATOL), (net, key)
    assert sa["opt"]["param_groups"][0]["lr"] == sb["opt"]["param_groups"][0]["lr"]
    assert sa["opt"]["state"].keys() == sb["opt"]["state"].keys()
    for i, state in sa["opt"]["state"].items():
        other = sb["opt"]["state"][i]
        assert float(state["step"]) == float(other["step"])
        assert torch.allclose(state["exp_avg"], other["exp_avg"], atol=ATOL)
        assert torch.allclose(state["exp_avg_sq"], other["exp_avg_sq"], atol=ATOL)


def test_a_vae_run_in_a_pool_of_four_matches_its_solo_run():
    runs = pooled([Trainer(c) for c in four()])
    assert [tr.state for tr in runs] == ["finished"] * 4
    for i in (0, 3):
        assert_same_run(runs[i], solo(four()[i]))
    # Each run its own: seed, learning rate, beta and warm-up (the KL weight each step read back).
    assert not torch.allclose(runs[0].family.encoder.out.weight, runs[1].family.encoder.out.weight)
    weights = [tr.history.columns()["kl_weight"] for tr in runs]
    assert weights[0][0] == 0.0 and weights[0][-1] == 1.0
    assert weights[3][6] == pytest.approx(0.5 * 6 / 12) and weights[3][-1] == 0.5
    # Released: the runs own their weights and Adam state again (no views into a dropped stack).
    first = next(runs[0].family.encoder.parameters())
    assert first.data.untyped_storage().data_ptr() != next(runs[1].family.encoder.parameters()).untyped_storage().data_ptr()


def test_the_vmap_path_matches_too(monkeypatch):
    """The encoder and decoder through vmap(functional_call) give the baddbmm path's numbers."""
    from gan_demo.training import stacked

    monkeypatch.setattr(stacked._StackedNet, "fast_mlp", False)
    runs = pooled([Trainer(c) for c in four()[:3]], steps=8)
    assert_same_run(runs[1], solo(four()[1], 8))


def test_a_scheduled_change_of_lr_vae_and_beta_in_one_run_of_a_pool():
    changed = vae_cfg(1)
    changed.schedule = [{"step": 6, "lr_vae": 1e-3, "beta": 2.0}]
    runs = pooled([Trainer(vae_cfg(0)), Trainer(changed)])
    assert [tr.state for tr in runs] == ["finished"] * 2
    again = RunConfig.from_dict(changed.to_dict())
    again.schedule = [dict(e) for e in changed.schedule]
    assert_same_run(runs[1], solo(again))
    assert_same_run(runs[0], solo(vae_cfg(0)))


class Faulty(Trainer):
    """A run whose data turns to NaN, or raises, or that pauses, at a chosen step."""

    fault: tuple[str, int] | None = None

    def apply_due_changes(self):
        if self.fault == ("pause", self.step):
            self.pause()
        super().apply_due_changes()

    def _real_batch(self, n):
        x, y = super()._real_batch(n)
        if self.fault == ("nan", self.step):
            x = torch.full_like(x, float("nan"))
        if self.fault == ("data", self.step):
            raise RuntimeError("the data broke")
        return x, y


def test_a_vae_run_whose_data_fails_fails_alone():
    runs = [Faulty(c) for c in four()]
    runs[1].fault = ("nan", 9)
    runs[2].fault = ("data", 4)
    pooled(runs)
    assert runs[1].state == "diverged" and runs[1].message.startswith("diverged at step 10;")
    assert all(torch.isfinite(p).all() for net in runs[1].family.networks.values() for p in net.parameters())
    assert runs[2].state == "failed" and "the data broke" in runs[2].message and runs[2].step == 4
    assert runs[0].state == runs[3].state == "finished"
    assert_same_run(runs[0], solo(four()[0]))
    assert_same_run(runs[3], solo(four()[3]))


def test_pause_resume_and_a_late_join_keep_equivalence():
    runs = [Faulty(c) for c in four()[:2]]
    runs[0].fault = ("pause", 5)
    late = Trainer(four()[3])
    pool = RunPool(pool_key(runs[0]))
    for tr in runs:
        pool.add(tr, STEPS)
    runs[1].join(JOIN_S)
    assert runs[1].state == "finished"
    assert runs[0].state == "paused" and runs[0].step == 6 and runs[0].running
    pool.add(late, 7)  # joins the pool while run 0 is paused, leaves after 7 steps
    runs[0].fault = None
    runs[0].resume()
    runs[0].join(JOIN_S)
    late.join(JOIN_S)
    assert runs[0].state == late.state == "finished" and late.step == 7
    assert_same_run(runs[0], solo(four()[0]))
    assert_same_run(runs[1], solo(four()[1]))
    assert_same_run(late, solo(four()[3], 7))


def test_vaes_and_gans_never_share_a_pool():
    gan = RunConfig(data=DataConfig(dataset="ring8", n_points=1000), model=ModelConfig(width=32, depth=2, d_norm="none"),
                    train=TrainConfig(batch_size=64, steps=5, seed=0, device="cpu"))
    wide = vae_cfg(2, width=16)
    runs = [Trainer(c) for c in (vae_cfg(0), vae_cfg(1), gan, wide)]
    keys = [pool_key(tr) for tr in runs]
    assert keys[0] == keys[1] and len({keys[0], keys[2], keys[3]}) == 3
    assert keys[0][0] == "vae" and keys[2][0] == "gan"
    with pytest.raises(ValueError):
        RunPool(keys[0]).add(runs[2])  # a GAN offered to a VAE pool is refused before it joins
    pools = RunPools()
    pools.start_all(runs, 5)  # one call: a later start() drops a pool whose 5 steps already ended
    assert set(pools.pools) == set(keys) and all(tr.pool_note is None for tr in runs)
    for tr in runs:
        tr.join(JOIN_S)
    assert [tr.state for tr in runs] == ["finished"] * 4
    assert_same_run(runs[3], solo(wide, 5))


def test_what_a_vae_pool_cannot_share():
    """Seed, lr_vae, beta and kl_warmup vary inside a pool; the decoder's sigma or Adam's betas start another;
    an image VAE trains alone, saying why."""
    base = pool_key(Trainer(vae_cfg(0)))
    assert pool_key(Trainer(vae_cfg(1, lr_vae=1e-2, beta=3.0, kl_warmup=0))) == base
    sigma, betas = vae_cfg(0), vae_cfg(0)
    sigma.vae.recon_sigma = 0.3
    betas.train.beta2 = 0.9
    assert pool_key(Trainer(sigma)) != base and pool_key(Trainer(betas)) != base
    assert StackedVAE.shared_settings(Trainer(sigma).cfg) == ("gaussian", 0.3, 0.9, 0.999)
    image = RunConfig(family="vae", data=DataConfig(dataset="digits", img_size=16),
                      model=ModelConfig(ngf=4, ndf=4, z_dim=4), train=TrainConfig(batch_size=16, steps=2, device="cpu"))
    tr = Trainer(image)
    assert pool_key(tr) is None and why_not_poolable(tr) == "image VAEs train alone (pools stack 2D MLP models and image GANs)"
