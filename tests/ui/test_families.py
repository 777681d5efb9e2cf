"""Model families through one engine: the registry, a toy family the Trainer knows nothing of, the VAE
trained by the Trainer (2D and images) with checkpoints, Sampler, rollback, the CLI and two ranks; format-1 checkpoints as GANs."""
from __future__ import annotations

import ast
import json
import math
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from gan_demo.core import config as config_module
from gan_demo.training import trainer as trainer_module
from gan_demo.training.checkpoint import load_checkpoint
from gan_demo.core.config import FAMILY_NAMES, FAMILY_SPECS, DataConfig, ModelConfig, FamilySpec, RunConfig, TrainConfig
from gan_demo.families import FAMILIES, GAN, VAE, register, unregister
from gan_demo.families.vae import VAESettings
from gan_demo.explore.latent import z_from_seed
from gan_demo.explore.sampler import Sampler
from gan_demo.evaluation.live_quality import live_quality
from gan_demo.training.trainer import Trainer

ROOT = Path(__file__).resolve().parents[2]


def vae_points(steps: int = 6, batch_size: int = 64, **vae) -> RunConfig:
    """A small 2D VAE on ring8 (MLP encoder and decoder, no BatchNorm)."""
    return RunConfig(family="vae", data=DataConfig(dataset="ring8", n_points=1000), model=ModelConfig(width=16, depth=2),
                     train=TrainConfig(batch_size=batch_size, steps=steps, seed=0, device="cpu"), vae=VAESettings(**vae))


def vae_images(conditional: bool = False, **vae) -> RunConfig:
    """A tiny convolutional VAE on the bundled 16 px digits, fp32."""
    return RunConfig(family="vae", data=DataConfig(dataset="digits", img_size=16),
                     model=ModelConfig(ngf=4, ndf=4, z_dim=4, conditional=conditional),
                     train=TrainConfig(batch_size=16, steps=3, seed=0, device="cpu", amp=False), vae=VAESettings(**vae))


# ------------------------------------------------------------------ the registry and the Trainer's ignorance
def test_registry_names_every_family_the_config_accepts():
    from gan_demo.families.losses import RECONSTRUCTIONS

    assert FAMILIES == {"gan": GAN, "vae": VAE} and tuple(FAMILIES) == FAMILY_NAMES == tuple(FAMILY_SPECS)
    assert config_module.CHOICES["recon"] == RECONSTRUCTIONS
    assert all(FAMILIES[name].name == name and FAMILIES[name].spec is FAMILY_SPECS[name] for name in FAMILIES)


def test_the_trainer_module_names_no_network_of_any_family():
    """trainer.py's code (docstrings may explain) touches no G, D, encoder or decoder, and no family imports it."""
    tree = ast.parse((ROOT / "gan_demo" / "training" / "trainer.py").read_text())
    used = {node.attr for node in ast.walk(tree) if isinstance(node, ast.Attribute)}
    used |= {node.id for node in ast.walk(tree) if isinstance(node, ast.Name)}
    used |= {alias.name for node in ast.walk(tree) if isinstance(node, ast.ImportFrom) for alias in node.names}
    assert not used & {"G", "D", "G_ema", "opt_G", "opt_D", "d_loss", "g_loss", "build_models", "encoder", "decoder"}
    for module in ("gan.py", "vae.py"):  # arrows point down
        imports = [node for node in ast.walk(ast.parse((ROOT / "gan_demo" / "families" / module).read_text()))
                   if isinstance(node, ast.ImportFrom)]
        assert all("trainer" not in (node.module or "") for node in imports), module


class MeanFamily:
    """A toy family the Trainer has never heard of: it learns the data's mean as a point (its 'decoder'
    maps any z to that point), with SGD on the squared error."""

    name = "toy"
    spec = FamilySpec(name="toy", z_dim={"2d": 2, "image": 2})  # no settings of its own, nothing live
    series = ("err", "dist")
    bounded = ("err",)
    network_names = ("mean",)
    optimizer_names = ("opt",)

    def __init__(self, cfg, ctx, dist=None):
        self.cfg, self.ctx = cfg, ctx
        self.net = self.empty_networks(cfg)["mean"].to(ctx.device)
        self.opt = torch.optim.SGD(self.net.parameters(), lr=0.2)
        self.step = 0

    @staticmethod
    def empty_networks(cfg):
        net = nn.Linear(cfg.model.z_dim, cfg.model.data_dim)
        nn.init.zeros_(net.weight)
        nn.init.constant_(net.bias, 2.0)  # start away from the data
        return {"mean": net}

    @staticmethod
    def sampling_nets(cfg, networks):
        return _Point(networks["mean"]), None

    networks = property(lambda self: {"mean": self.net})
    optimizers = property(lambda self: {"opt": self.opt})
    phases = property(lambda self: {"fit": self.train_step})
    critic = None

    def decoder_net(self, ema=True):
        return _Point(self.net)

    def train_step(self):
        x, _ = self.ctx.draw(self.ctx.batch_size)
        err = ((self.net.bias - x) ** 2).sum(1).mean()
        self.opt.zero_grad()
        err.backward()
        self.ctx.sync_grads(self.net)
        self.opt.step()
        self.step += 1
        return {"err": err.detach(), "dist": (self.net.bias.detach() - x.mean(0)).norm()}

    def state_dict(self):
        return {"mean": self.net.state_dict(), "opt": self.opt.state_dict(), "step": self.step}

    def load_state_dict(self, state):
        self.net.load_state_dict(state["mean"])
        self.opt.load_state_dict(state["opt"])
        self.step = state["step"]

    def release_optimizers(self):
        self.opt = None


class _Point(nn.Module):
    def __init__(self, net):
        super().__init__()
        self.net = net

    def forward(self, z, y=None):
        return self.net.bias.expand(z.shape[0], -1)


def test_a_family_defined_here_trains_through_the_trainer(tmp_path):
    register(MeanFamily)
    try:
        _train_the_mean_family(tmp_path)
    finally:
        unregister("toy")


def _train_the_mean_family(tmp_path):
    cfg = RunConfig(family="toy", data=DataConfig(dataset="moons", n_points=500),
                    train=TrainConfig(batch_size=100, steps=40, device="cpu"))
    tr = Trainer(cfg)
    assert tr.run() == "finished" and tr.step == 40
    history = tr.snapshot()["history"]
    assert set(history) == {"step", "err", "dist", "seconds"} and history["step"] == list(range(1, 41))
    assert history["dist"][0] > 1 and history["dist"][-1] < 0.2  # it learned the mean
    data_mean = tr.dataset.x.float().mean(0)
    assert torch.allclose(tr.sample_fixed()[0], data_mean, atol=0.1)
    assert tr.run_phase("fit")["err"] > 0 and tr.step == 41
    path = tr.save(tmp_path / "toy")
    sampler = Sampler.from_checkpoint(path)
    x, score = sampler.from_seed(3)
    assert score is None and torch.allclose(x, tr.sample_fixed()[0])
    assert Trainer.from_checkpoint(path, device="cpu").step == 41


# ------------------------------------------------------------------ the VAE through the Trainer
def test_vae_trains_on_points_saves_and_samples(tmp_path):
    tr = Trainer(vae_points(), live_quality=live_quality)
    assert tr.run() == "finished" and tr.step == 6
    snap = tr.snapshot()
    assert snap["family"] == "vae" and snap["series"] == list(VAE.series)
    assert snap["history"]["step"] == list(range(1, 7)) and all(math.isfinite(v) for v in snap["history"]["elbo"])
    assert snap["last"]["recon"] > 0 and snap["last"]["kl"] >= 0 and snap["quality"] is not None
    assert tr.cfg.model.z_dim == 2 and tr.cfg.vae.recon == "gaussian" and tr.cfg.train.beta1 == 0.9
    path = tr.save(tmp_path / "ring")
    assert json.loads((path / "config.json").read_text())["family"] == "vae"
    ckpt = load_checkpoint(path)
    assert set(ckpt.networks) == {"encoder", "decoder"} and "G" not in ckpt.networks and set(ckpt.opt_state) == {"opt"}
    sampler = Sampler.from_checkpoint(path)
    z = z_from_seed(5, 2, 20)
    assert not sampler.has_critic and torch.equal(sampler.generate(z), tr.generate(z))
    points, scores = sampler.generate(z, with_score=True)
    assert points.shape == (20, 2) and scores is None
    live = Sampler.from_trainer(tr)
    assert live.from_seed(5)[1] is None and torch.equal(live.from_seed(5)[0], sampler.from_seed(5)[0])
    back = Trainer.from_checkpoint(path, device="cpu")
    assert back.step == 6 and int(back.family.opt.state_dict()["state"][0]["step"]) == 6
    assert back.run(8) == "finished" and back.history.columns()["step"] == [7, 8]


def test_vae_trains_on_images_and_round_trips(tmp_path):
    tr = Trainer(vae_images(conditional=True, beta=2.0, kl_warmup=4))
    assert tr.run() == "finished"
    weights = tr.history.columns()["kl_weight"]
    assert weights == pytest.approx([0.0, 0.5, 1.0])  # beta 2 ramped over 4 steps
    images = tr.sample_fixed()
    assert images.shape == (80, 1, 16, 16) and 0 <= images.min() and images.max() <= 1
    path = tr.save(tmp_path / "digits")
    sampler = Sampler.from_checkpoint(path)
    assert sampler.n_classes == 10
    x, score = sampler.from_seed(0, label=3)
    assert x.shape == (1, 16, 16) and score is None
    assert torch.equal(sampler.generate(tr.fixed_z[:8], label=None), tr.generate(tr.fixed_z[:8], tr.fixed_y[:8]))
    back = Trainer.from_checkpoint(path, device="cpu")
    assert torch.equal(back.sample_fixed(), images)
    recon = back.family.reconstruct(back.dataset.x[:4].float(), back.dataset.y[:4])  # the UI's reconstructions
    assert recon.shape == (4, 1, 16, 16)
    assert tr.holds_optimizers
    tr.release_training()  # what the app does when an image run ends
    assert not tr.holds_optimizers and tr.family.opt is None and torch.equal(tr.sample_fixed(), images)
    tr.save(tmp_path / "released")
    assert load_checkpoint(tmp_path / "released").opt_state is None


class PoisonedVAE(Trainer):
    """A NaN in the decoder's weights at a given step: the run must roll back to the last good state."""

    poison_at = 8

    def _step_tensors(self):
        if self.step == self.poison_at:
            with torch.no_grad():
                next(self.family.decoder.parameters()).fill_(float("nan"))
        return super()._step_tensors()


def test_vae_divergence_rolls_back_through_its_state_dict(monkeypatch):
    monkeypatch.setattr(trainer_module, "GOOD_STATE_EVERY", 5)
    monkeypatch.setattr(trainer_module, "READBACK_STEPS", 1)
    tr = PoisonedVAE(vae_points(steps=30))
    assert tr.run() == "diverged" and tr.message.startswith("diverged at step 9;")
    assert tr.step == 5 and tr.family.step == 5 and tr.history.columns()["step"] == [1, 2, 3, 4, 5]
    for net in tr.family.networks.values():
        assert all(torch.isfinite(t).all() for t in net.state_dict().values())
    assert torch.isfinite(tr.sample_fixed()).all()


def test_vae_settings_are_checked_and_resolved_per_family():
    with pytest.raises(config_module.ConfigError, match="recon"):
        vae_points(recon="bernoulli").validate()
    with pytest.raises(config_module.ConfigError, match="family"):
        RunConfig(family="diffusion").validate()
    image = vae_images().resolved(channels=1)
    assert (image.vae.recon, image.vae.recon_sigma, image.vae.lr_vae) == ("bernoulli", 0.1, 1e-3)
    gan = RunConfig().resolved()
    assert gan.model.z_dim == 2 and gan.vae.recon is None  # a GAN's config keeps the VAE section as given
    assert "--family" not in gan.to_cli() and "--recon" not in gan.to_cli()
    from gan_demo.data.datasets import load_dataset
    from gan_demo.families.vae import fit_to

    for cfg in (vae_points(), vae_images(conditional=True)):  # a standalone VAE's config is the run's
        ds = load_dataset(cfg.data, "cpu")
        assert fit_to(cfg, ds) == Trainer(cfg, dataset=ds).cfg
    command = vae_images(beta=0.5, kl_warmup=100).to_cli()
    assert "--family vae" in command and "--beta 0.5" in command and "--kl-warmup 100" in command
    resolved = vae_images().resolved(channels=1).to_cli()  # a checkpoint's command: no GAN-only settings
    assert "--lr-vae 0.001" in resolved and "--lr-g" not in resolved and "--d-norm" not in resolved


# ------------------------------------------------------------------ old checkpoints
@pytest.mark.parametrize("name", ["grid25", "digits"])  # ring8 was retrained with its own defaults (issue 11), with a family
def test_format_1_checkpoints_load_as_gans(name, tmp_path):
    path = ROOT / "checkpoints" / name
    assert "family" not in json.loads((path / "config.json").read_text())  # saved before families existed
    ckpt = load_checkpoint(path)
    assert ckpt.cfg.family == "gan" and set(ckpt.networks) == {"G", "G_ema", "D"}
    sampler = Sampler.from_checkpoint(path)
    x, score = sampler.from_seed(1)
    assert sampler.has_critic and math.isfinite(score) and torch.isfinite(x).all()
    copy = tmp_path / name
    shutil.copytree(path, copy)
    tr = Trainer.from_checkpoint(copy, device="cpu")
    assert tr.step == ckpt.step and tr.family.name == "gan"
    for key, value in ckpt.networks["G_ema"].state_dict().items():
        assert torch.equal(tr.family.G_ema.state_dict()[key].cpu(), value), key


@pytest.mark.parametrize("name, z_dim", [("digits-vae", 16), ("digits-vae-2d", 2)])
def test_pretrained_vaes_load_in_the_app_and_sample(name, z_dim):
    from gan_demo.training.checkpoint import list_checkpoints

    path = ROOT / "checkpoints" / name
    ckpt = load_checkpoint(path, with_optimizer_state=False)
    assert ckpt.cfg.family == "vae" and set(ckpt.networks) == {"encoder", "decoder"}
    listed = [p.name for p in list_checkpoints(ROOT / "checkpoints")]  # what the app's Catalog lists in Explore
    assert name in listed and "digits" in listed
    sampler = Sampler.from_checkpoint(path)  # what the Catalog hands Explore, Interpolate, Quality and the API
    assert not sampler.has_critic and sampler.z_dim == z_dim and sampler.kind == "image"
    x = sampler.generate(z_from_seed(0, z_dim, 4))
    assert x.shape == (4, 1, 32, 32) and torch.isfinite(x).all() and 0 <= x.min() and x.max() <= 1
    assert x.std() > 0.05  # digits on a dark ground, not a flat grey picture
    image, score = sampler.from_seed(3)
    assert image.shape == (1, 32, 32) and score is None


# ------------------------------------------------------------------ the command line
def test_cli_trains_samples_and_evaluates_a_vae(tmp_path, capsys):
    from gan_demo.__main__ import main

    out = tmp_path / "vae"
    assert main(["train", "--family", "vae", "--dataset", "ring8", "--steps", "5", "--width", "16", "--depth", "2",
                 "--batch-size", "64", "--n-points", "1000", "--beta", "0.5", "--kl-warmup", "3", "--lr-vae", "0.002",
                 "--recon-sigma", "0.2", "--device", "cpu", "--quiet", "--out", str(out)]) == 0
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert summary["state"] == "finished" and summary["step"] == 5
    saved = json.loads((out / "config.json").read_text())
    assert saved["family"] == "vae" and saved["vae"] == {"recon": "gaussian", "recon_sigma": 0.2, "beta": 0.5,
                                                         "kl_warmup": 3, "lr_vae": 0.002}
    assert main(["sample", "--checkpoint", str(out), "--n", "10", "--out", str(tmp_path / "s.npy"), "--device", "cpu"]) == 0
    assert np.load(tmp_path / "s.npy").shape == (10, 2)
    assert main(["eval", "--checkpoint", str(out), "--n", "100", "--device", "cpu", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["generated"]["grid_js"] >= 0
    images = tmp_path / "digits"
    assert main(["train", "--family", "vae", "--dataset", "digits", "--img-size", "16", "--ngf", "4", "--ndf", "4",
                 "--batch-size", "16", "--steps", "2", "--conditional", "--no-amp", "--device", "cpu", "--quiet",
                 "--out", str(images)]) == 0
    assert main(["sample", "--checkpoint", str(images), "--n", "4", "--label", "2", "--out", str(tmp_path / "d.npy"),
                 "--device", "cpu"]) == 0
    assert np.load(tmp_path / "d.npy").shape == (4, 1, 16, 16)
    assert main(["train", "--resume", "--steps", "3", "--out", str(images), "--quiet", "--device", "cpu"]) == 0
    assert json.loads((images / "config.json").read_text())["step"] == 3


def test_the_command_of_a_vae_run_repeats_it():
    from gan_demo.__main__ import build_parser, config_from_args

    cfg = vae_images(conditional=True, beta=0.25, recon="gaussian", lr_vae=5e-4)
    command = cfg.to_cli(out="runs/x").split()[4:]  # after "python -m gan_demo train"
    args = build_parser().parse_args(["train", *command])
    again = config_from_args(args)
    assert again.family == "vae" and again.vae == cfg.vae and again.model == cfg.model


# ------------------------------------------------------------------ two ranks
def _vae_ranks(dist, out_dir):
    from tests.engine.test_distributed import SharedOrderTrainer

    tr = SharedOrderTrainer(vae_points(steps=4, batch_size=64), dist=dist)  # each rank: 32 of the 64
    state = tr.run()
    return {"state": state, "loss": tr.history.columns()["loss"],
            "weights": {k: v.clone() for name, net in tr.family.networks.items() for k, v in
                        ((f"{name}.{k}", v) for k, v in net.state_dict().items())}}


@pytest.mark.slow
def test_two_ranks_train_a_vae_like_one_process(tmp_path):
    """2 gloo ranks x 32 == 1 process x 64 for the VAE too: its gradients are averaged between backward and step."""
    from tests.engine.test_distributed import SharedOrderTrainer, run_ranks

    ranks = run_ranks(_vae_ranks, tmp_path)
    one = SharedOrderTrainer(vae_points(steps=4, batch_size=64))
    assert one.run() == "finished"
    assert ranks[0]["state"] == ranks[1]["state"] == "finished"
    assert ranks[0]["loss"] == ranks[1]["loss"] == pytest.approx(one.history.columns()["loss"], rel=1e-4)
    for name, net in one.family.networks.items():
        for k, v in net.state_dict().items():
            key = f"{name}.{k}"
            assert torch.equal(ranks[0]["weights"][key], ranks[1]["weights"][key]), key
            assert torch.allclose(ranks[0]["weights"][key], v, rtol=1e-4, atol=2e-6), key


# ------------------------------------------------------------------ the app's Explore, Interpolate and Quality on VAE checkpoints
def test_explore_interpolate_and_quality_work_without_a_critic(tmp_path):
    pytest.importorskip("gradio")
    from types import SimpleNamespace

    from gan_demo.evaluation.evaluate import evaluate_checkpoint
    from gan_demo.ui.tabs import explore as explore_tab
    from gan_demo.ui.tabs import interpolate as interpolate_tab
    from gan_demo.ui import widgets
    from gan_demo.ui.app import AppContext

    Trainer(vae_points()).save(tmp_path / "ring-vae")
    Trainer(vae_images(conditional=True)).save(tmp_path / "digits-vae")
    ctx = AppContext.create(device="cpu", pretrained=tmp_path)
    request = SimpleNamespace(session_hash="test-vae")
    explore, interp = explore_tab.Explore(ctx), interpolate_tab.Interpolate(ctx)
    zeros = [0.0] * widgets.N_SLIDERS
    for name, label in (("ring-vae", None), ("digits-vae", 0)):
        picture, text = explore.render(request, name, 3, widgets.RAW, 1.0, label, *zeros)
        assert picture is not None and "no discriminator" in text and "z =" in text
        strip, gif, _, status = interp.run(request, name, "seed", 0, None, "seed", 1, None, "slerp", 8, False, 1.0,
                                           label, 80)
        assert strip is not None and gif is not None, status
    report = evaluate_checkpoint(tmp_path / "ring-vae", n=200, device="cpu")
    assert report["generated"]["modes_covered"] >= 0 and report["generated"]["grid_js"] >= 0
