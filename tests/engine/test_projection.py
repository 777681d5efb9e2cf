"""Projecting a target into z: a generated sample is found again; labels searched; 2D points; Stop."""
from __future__ import annotations

import pytest
import torch

from gan_demo.core.config import DataConfig, ModelConfig, RunConfig, TrainConfig
from gan_demo.explore.latent import z_from_seed
from gan_demo.explore.projection import project
from gan_demo.explore.sampler import Sampler
from gan_demo.training.trainer import Trainer


@pytest.fixture(scope="module")
def digits(tmp_path_factory):
    """A tiny conditional 16 px DCGAN whose samples depend visibly on z (weights scaled up: untrained
    DCGAN weights give nearly flat pictures)."""
    tr = Trainer(RunConfig(data=DataConfig(dataset="digits", img_size=16),
                           model=ModelConfig(ngf=8, ndf=8, z_dim=8, conditional=True),
                           train=TrainConfig(batch_size=16, steps=1, amp=False)), device="cpu")
    gen = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for p in tr.family.G_ema.parameters():
            if p.dim() > 1:
                p.copy_(torch.randn(p.shape, generator=gen) * 0.3)
    folder = tmp_path_factory.mktemp("digits") / "run"
    tr.save(folder)
    return Sampler.from_checkpoint(folder, "cpu")


def test_a_generated_image_is_found_again(digits):
    z = z_from_seed(11, digits.z_dim, 3)
    target = digits.generate(z, label=4)
    far = (digits.generate(z_from_seed(99, digits.z_dim, 3), label=4) - target).abs().flatten(1).mean(1)
    found = project(digits, target, labels=torch.full((3,), 4), steps=200)
    assert found.z.shape == (3, digits.z_dim) and found.reconstruction.shape == target.shape
    assert found.labels.tolist() == [4, 4, 4]
    assert (found.error < 0.02).all() and (found.error < far / 4).all(), (found.error, far)
    assert found.losses[-1] < found.losses[0]
    again = digits.generate(found.z, label=4)  # the latent itself reproduces the reconstruction
    assert torch.allclose(again, found.reconstruction, atol=1e-5)


def test_an_unknown_class_is_searched_for(digits):
    target = digits.generate(z_from_seed(5, digits.z_dim, 2), label=7)
    found = project(digits, target, steps=100)
    assert found.labels.tolist() == [7, 7] and (found.error < 0.03).all()


def test_d_features_and_stop(digits):
    target = digits.generate(z_from_seed(3, digits.z_dim, 1), label=1)
    seen = []
    found = project(digits, target, labels=torch.tensor([1]), steps=50, feature_weight=0.1,
                    progress=lambda step, loss: seen.append(step), should_stop=lambda: len(seen) >= 10)
    assert found.stopped and len(found.losses) == 10 and seen == list(range(1, 11))


def test_a_2d_point_projects_onto_the_generators_cloud():
    tr = Trainer(RunConfig(data=DataConfig(dataset="ring8", n_points=500), model=ModelConfig(width=16, depth=2),
                           train=TrainConfig(batch_size=64, steps=30)), device="cpu")
    tr.run()
    sampler = Sampler.from_trainer(tr)
    target = sampler.generate(z_from_seed(2, sampler.z_dim, 2))
    found = project(sampler, target, steps=150)
    assert found.reconstruction.shape == (2, 2) and (found.error < 0.05 * tr.cfg.model.data_scale + 0.02).all()


def test_a_vae_projects_with_its_encoder_mean():
    tr = Trainer(RunConfig(family="vae", data=DataConfig(dataset="digits", img_size=16),
                           model=ModelConfig(ngf=8, ndf=8, z_dim=4), train=TrainConfig(batch_size=32, steps=60)),
                 device="cpu")
    tr.run()
    sampler = Sampler.from_trainer(tr)
    x, _ = tr.dataset.sample(6, torch.Generator(device=tr.device).manual_seed(1))
    target = ((x.float() + 1) / 2).clamp(0, 1)
    found = project(sampler, target)
    assert found.z.shape == (6, 4) and found.losses == [] and found.labels is None
    mu, _ = tr.family.encode(x)
    assert torch.allclose(found.z, mu.cpu(), atol=1e-5)
    assert torch.allclose(sampler.generate(found.z), found.reconstruction, atol=1e-5)
    assert ((0 <= found.error) & (found.error <= 1)).all()
