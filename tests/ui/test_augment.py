"""DiffAugment (gan_demo.families.augment), the augment setting and its auto rule, and ADA's r_t series."""
import dataclasses
import json

import pytest
import torch

from gan_demo.families import augment as aug
from gan_demo.core import config
from gan_demo.core.config import AUGMENT_BELOW, ConfigError, DataConfig, ModelConfig, RunConfig, TrainConfig, auto_augment
from gan_demo.data.datasets import load_dataset
from gan_demo.training.trainer import Trainer


def gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def images(b: int = 4, c: int = 1, side: int = 8) -> torch.Tensor:
    """(b, c, side, side) values in [-1, 1] that differ from pixel to pixel."""
    return torch.linspace(-1, 1, b * c * side * side).view(b, c, side, side)


# ------------------------------------------------------------------ the functions
def test_parse_policy():
    assert aug.parse_policy("none") == () and aug.parse_policy("") == ()
    assert aug.parse_policy("cutout, color") == ("color", "cutout")  # fixed order whatever the spelling
    assert aug.parse_policy(aug.DEFAULT_POLICY) == aug.OPERATIONS
    for bad in ("colour", "color,color", "translation,"):
        with pytest.raises(ValueError, match="augment"):
            aug.parse_policy(bad)
    assert config.DEFAULT_POLICY == aug.DEFAULT_POLICY
    assert all(choice in ("auto", "none") or aug.parse_policy(choice) for choice in config.AUGMENT_CHOICES)


@pytest.mark.parametrize("policy", ["color", "translation", "cutout", aug.DEFAULT_POLICY])
def test_shape_seed_and_gradient(policy):
    ops = aug.parse_policy(policy)
    x = images(c=3).requires_grad_(True)
    out = aug.augment(x, ops, gen(0))
    assert out.shape == x.shape and out.dtype == x.dtype
    assert torch.equal(out, aug.augment(x, ops, gen(0)))  # same seed, same images
    assert not torch.equal(out, aug.augment(x, ops, gen(1)))
    out.square().sum().backward()
    assert torch.isfinite(x.grad).all() and x.grad.abs().sum() > 0  # G learns through it


def test_translation_moves_whole_images():
    """Each image is shifted by whole pixels (at most 1/8 of the side, 1 px at 8 px); 0 comes in at the border."""
    x = images(b=6)
    out = aug.translation(x, gen(3))
    for i in range(6):
        found = [(dy, dx) for dy in (-1, 0, 1) for dx in (-1, 0, 1)
                 if torch.equal(out[i], _shift(x[i], dy, dx))]
        assert len(found) == 1
    # pinned: the draws of seed 3
    assert [_which_shift(x[i], out[i]) for i in range(6)] == [(0, -1), (1, 1), (0, 0), (-1, 0), (0, 0), (-1, -1)]


def _shift(img: torch.Tensor, dy: int, dx: int) -> torch.Tensor:
    out = torch.zeros_like(img)
    h, w = img.shape[-2:]
    out[..., max(dy, 0):h + min(dy, 0), max(dx, 0):w + min(dx, 0)] = img[..., max(-dy, 0):h + min(-dy, 0),
                                                                         max(-dx, 0):w + min(-dx, 0)]
    return out


def _which_shift(img, out):
    return next((dy, dx) for dy in (-1, 0, 1) for dx in (-1, 0, 1) if torch.equal(out, _shift(img, dy, dx)))


def test_cutout_blanks_one_square():
    ones = torch.ones(5, 2, 8, 8)
    out = aug.cutout(ones, gen(0))
    blanked = (out == 0).all(dim=1)  # (B, H, W): both channels alike
    assert ((out == 0) | (out == 1)).all()
    counts = blanked.flatten(1).sum(1).tolist()
    assert all(c <= 16 for c in counts)  # a 4 x 4 square, clipped at the border
    assert counts == [16, 12, 12, 6, 16]  # pinned: the centres seed 0 draws (clipped at edges and corners)
    for mask in blanked:  # the blanked pixels form one rectangle
        rows, cols = mask.any(1).nonzero().flatten(), mask.any(0).nonzero().flatten()
        assert mask.sum() == len(rows) * len(cols)


def test_color_on_grey_images():
    """Brightness shifts every pixel of an image alike; contrast scales about the image's mean."""
    x = torch.zeros(3, 1, 4, 4)
    out = aug.color(x, gen(0))
    assert torch.allclose(out, out[:, :, :1, :1].expand_as(out))  # still flat
    assert out.abs().max() <= 0.5  # a flat image keeps its (zero) contrast: only brightness U(-0.5, 0.5) moves it
    assert [round(v, 6) for v in out[:, 0, 0, 0].tolist()] == [-0.003743, 0.268222, -0.411523]


def test_overfit_sign():
    real = torch.tensor([2.0, -1.0, 0.5, 3.0])
    fake = torch.tensor([-2.0, -3.0])
    for kind in ("nonsaturating", "minimax", "hinge"):
        assert aug.overfit_sign(kind, real, fake).item() == 0.5  # three of four above 0
    assert aug.overfit_sign("lsgan", real, fake).item() == 0.25  # against 0.5: +1, -1, 0 (on it), +1
    assert aug.overfit_sign("wgan-gp", real, fake).item() == 0.5  # midpoint (1.125 - 2.5) / 2 = -0.6875
    assert aug.overfit_sign("wgan-gp", real + 100, fake + 100).item() == 0.5  # a critic's offset changes nothing


# ------------------------------------------------------------------ the setting
def image_run(**train) -> RunConfig:
    t = dict(batch_size=8, steps=2, seed=0, device="cpu", amp=False)
    t.update(train)
    return RunConfig(data=DataConfig(dataset="digits", img_size=16), model=ModelConfig(ngf=8, ndf=8, z_dim=16),
                     train=TrainConfig(**t))


def test_auto_rule():
    cfg = image_run()
    assert cfg.train.augment == "auto" and cfg.resolved(channels=1).train.augment == "auto"  # size not known yet
    assert auto_augment(999, below=1000) == aug.DEFAULT_POLICY and auto_augment(1000, below=1000) == "none"
    assert cfg.resolved(channels=1, n_images=AUGMENT_BELOW).train.augment == "none"
    assert cfg.resolved(channels=1, n_images=16).train.augment == auto_augment(16)
    chosen = dataclasses.replace(cfg, train=dataclasses.replace(cfg.train, augment="translation"))
    assert chosen.resolved(channels=1, n_images=10).train.augment == "translation"  # a choice stays
    assert RunConfig(data=DataConfig(dataset="ring8")).resolved().train.augment == "none"  # 2D never augments
    assert RunConfig(family="vae", data=DataConfig(dataset="digits")).resolved(n_images=10).train.augment == "none"


def test_validation_names_the_field():
    for bad in ("colour", "auto,color", 3):
        with pytest.raises(ConfigError, match="^augment: "):
            RunConfig(train=TrainConfig(augment=bad), data=DataConfig(dataset="digits")).validate()
    with pytest.raises(ConfigError, match="augment: augments images only"):
        RunConfig(data=DataConfig(dataset="ring8"), train=TrainConfig(augment="translation")).validate()
    RunConfig(data=DataConfig(dataset="ring8"), train=TrainConfig(augment="none")).validate()


def test_old_configs_load_with_augmentation_off_and_the_command_repeats_it():
    saved = RunConfig(data=DataConfig(dataset="digits")).to_dict()
    del saved["train"]["augment"]  # a config.json written before the setting existed
    assert RunConfig.from_dict(json.loads(json.dumps(saved))).train.augment == "none"
    assert RunConfig.from_dict({}).train.augment == "auto"
    cfg = RunConfig(data=DataConfig(dataset="digits"), train=TrainConfig(augment="translation,cutout"))
    assert "--augment translation,cutout" in cfg.to_cli() and "--augment" not in RunConfig().to_cli()
    assert "--augment" not in RunConfig(family="vae", data=DataConfig(dataset="digits"),
                                        train=TrainConfig(augment="color")).to_cli()  # GAN only


# ------------------------------------------------------------------ training
def small_digits(n: int):
    ds = load_dataset(DataConfig(dataset="digits", img_size=16), "cpu")
    return dataclasses.replace(ds, x=ds.x[:n], y=ds.y[:n])


def test_auto_resolves_with_the_dataset_size(monkeypatch):
    monkeypatch.setattr(config, "AUGMENT_BELOW", 1000)  # the rule itself, whatever the measured threshold
    assert Trainer(image_run(), dataset=small_digits(200)).cfg.train.augment == aug.DEFAULT_POLICY
    assert Trainer(image_run(), dataset=small_digits(1000)).cfg.train.augment == "none"


def test_augmented_run_has_r_t_as_a_series():
    tr = Trainer(image_run(augment=aug.DEFAULT_POLICY), dataset=small_digits(200))
    assert tr.family.policy == aug.OPERATIONS
    assert "r_t" in tr.series
    assert tr.run(2) == "finished"
    snap = tr.snapshot()
    assert "r_t" in snap["series"] and len(snap["history"]["r_t"]) == 2  # read back with the other series
    assert all(-1 <= v <= 1 for v in snap["history"]["r_t"]) and tr.last_record.finite()


def test_augmented_training_is_seeded_and_changes_what_D_sees():
    def run(policy: str, **train):
        tr = Trainer(image_run(augment=policy, **train), dataset=small_digits(200))
        return [list(tr.step_once().values.values()) for _ in range(2)]

    on = run(aug.DEFAULT_POLICY)
    assert on == run(aug.DEFAULT_POLICY)  # same seed, same numbers
    assert on != run("none")
    for train in (dict(r1_gamma=1.0), dict(loss="wgan-gp", n_critic=2)):  # penalties through the augmentation
        assert all(all(map(lambda v: v == v, row)) for row in run(aug.DEFAULT_POLICY, **train))


def test_resumed_run_keeps_its_augmentation(tmp_path, monkeypatch):
    monkeypatch.setattr(config, "AUGMENT_BELOW", 1000)
    tr = Trainer(image_run(), dataset=small_digits(200))
    assert tr.cfg.train.augment == aug.DEFAULT_POLICY
    tr.step_once()
    tr.save(tmp_path / "run")
    back = Trainer.from_checkpoint(tmp_path / "run", device="cpu", dataset=small_digits(1000))
    assert back.cfg.train.augment == aug.DEFAULT_POLICY  # chosen when the run started, not again


def test_r_t_has_a_chart_of_its_own_for_image_gans_only():
    """r_t jumps between -1 and +1: on the D plot it buried D(x) and D(G(z)) (issue 22), so it has its own."""
    from gan_demo.ui.run_views import R_T, R_T_PLOT, plot_columns, plots_for, shows_r_t

    trainer = Trainer(image_run())
    assert plot_columns(R_T_PLOT, trainer.series)["r_t"] == R_T and shows_r_t(trainer)
    assert all("r_t" not in plot_columns(plot, trainer.series) for plot in plots_for("gan"))
    assert "r_t" not in plot_columns(plots_for("vae")[1], ("elbo",))
    ring = Trainer(RunConfig(data=DataConfig(dataset="ring8", n_points=256), model=ModelConfig(width=16, depth=1),
                             train=TrainConfig(batch_size=32, steps=1, device="cpu")))
    assert not shows_r_t(ring)
