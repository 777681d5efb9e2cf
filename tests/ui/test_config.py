"""Run configuration: None means auto, one map of settings for the CLI, the Train tab and the API."""
from __future__ import annotations

import json

import pytest

from gan_demo.core.config import (LEGACY_AUTO, OWN_IMAGES_PACK, OWN_IMAGES_R1, ConfigError, DataConfig, ModelConfig, RunConfig, TrainConfig, field_type,
                             own_images, section_of, web_settings)
from gan_demo.families.gan import OWN_IMAGES_LR_G, OWN_IMAGES_Z_DIM
from gan_demo.ui.api import _settings_from_json
from gan_demo.ui.forms import CONTROL_FIELDS, config_from_values, values_for

AUTO = {"z_dim": "model", "ngf": "model", "ndf": "model", "lr_g": "train", "lr_d": "train", "beta1": "train", "batch_size": "train",
        "r1_gamma": "train", "mode_seeking": "train", "steps": "train", "channels": "data"}


def test_auto_fields_are_none_and_resolve_per_dataset_kind():
    cfg = RunConfig()
    for name, section in AUTO.items():
        assert getattr(getattr(cfg, section), name) is None, name
    ring = RunConfig().resolved()
    digits = RunConfig(data=DataConfig(dataset="digits")).resolved(channels=1)
    assert (ring.model.z_dim, ring.train.batch_size, ring.train.steps, ring.train.r1_gamma) == (2, 128, 11000, 0.1)
    assert (ring.model.width, ring.train.lr_g, ring.train.lr_d, ring.train.lr_decay) == (80, 4e-3, 4e-3, 0.5)  # ring8's own
    grid = RunConfig(data=DataConfig(dataset="grid25")).resolved()  # grid25's own (BENCHMARKS.md sections 33, 34)
    assert (grid.model.width, grid.train.batch_size, grid.train.lr_g, grid.train.lr_decay) == (96, 128, 2e-3, 0.75)
    assert (grid.model.z_dim, grid.model.mbstd_group, grid.train.steps) == (2, 0, 20000)
    grid_hinge = RunConfig(data=DataConfig(dataset="grid25"), train=TrainConfig(loss="hinge")).resolved()
    assert (grid_hinge.model.width, grid_hinge.train.batch_size, grid_hinge.train.steps) == (256, 512, 5000)
    assert grid_hinge.model.z_dim == 8 and RunConfig(train=TrainConfig(loss="hinge")).resolved().model.z_dim == 8
    spiral = RunConfig(data=DataConfig(dataset="spiral")).resolved()  # the other 2D sets keep the 2D defaults
    assert (spiral.model.width, spiral.train.batch_size, spiral.train.lr_g, spiral.model.z_dim) == (256, 512, 1e-3, 8)
    vae = RunConfig(family="vae").resolved()
    assert (vae.model.width, vae.train.batch_size, vae.train.lr_decay) == (256, 512, 0.0)  # the VAE keeps the 2D defaults
    assert (digits.model.z_dim, digits.train.batch_size, digits.train.steps, digits.train.r1_gamma) == (100, 64, 4000, 0.0)
    # The image GAN's defaults: a quarter-size DCGAN at 5e-4, BatchNorm in D (no R1), 4,000 steps.
    assert (digits.model.ngf, digits.model.ndf, digits.train.lr_g, digits.train.lr_d) == (32, 32, 5e-4, 5e-4)
    assert digits.model.d_norm == "batch" and ring.model.ngf == 64
    hinge = RunConfig(data=DataConfig(dataset="digits"), train=TrainConfig(loss="hinge")).resolved(channels=1)
    assert (hinge.model.ngf, hinge.train.lr_g, hinge.train.steps) == (32, 2e-4, 4000)
    vae_digits = RunConfig(family="vae", data=DataConfig(dataset="digits")).resolved(channels=1)
    assert (vae_digits.model.ngf, vae_digits.model.ndf, vae_digits.train.steps) == (64, 64, 3000)  # as its figures were measured
    wgan = RunConfig(train=TrainConfig(loss="wgan-gp")).resolved()
    assert wgan.train.beta1 == 0.0 and wgan.train.r1_gamma == 0.0


def test_lr_decay_is_auto_and_configs_saved_before_it_keep_constant_rates():
    saved = RunConfig().resolved().to_dict()
    del saved["train"]["lr_decay"]  # a checkpoint's config.json from before the field existed
    old = RunConfig.from_dict(json.loads(json.dumps(saved)))
    assert old.train.lr_decay == 0.0 and old.resolved().train.lr_decay == 0.0
    assert "--lr-decay 0.0" in old.to_cli()  # repeating it from the CLI keeps the rates constant too
    with pytest.raises(ConfigError, match="lr_decay: must be between 0 and 1"):
        RunConfig(train=TrainConfig(lr_decay=1.5)).validate()


def test_errors_say_what_is_allowed_including_auto():
    for cfg, message in ((RunConfig(train=TrainConfig(lr_g=0.0)), "lr_g: must be a positive number, or auto"),
                         (RunConfig(train=TrainConfig(batch_size=0)), "batch_size: must be between 1 and 65536, or auto"),
                         (RunConfig(model=ModelConfig(z_dim=0)), "z_dim: must be between 1 and 1024, or auto"),
                         (RunConfig(data=DataConfig(channels=2)), "channels: must be 1, 3, or auto")):
        with pytest.raises(ConfigError, match=message):
            cfg.validate()


def test_legacy_sentinels_in_old_config_json_mean_auto():
    old = RunConfig().to_dict()
    for section, klass in (("data", "DataConfig"), ("model", "ModelConfig"), ("train", "TrainConfig")):
        old[section].update(LEGACY_AUTO[klass])
    cfg = RunConfig.from_dict(json.loads(json.dumps(old)))
    assert cfg == RunConfig()
    assert "--steps" not in cfg.to_cli() and "--lr-g" not in cfg.to_cli()


def test_one_map_of_settings():
    sections = section_of()
    assert sections["img_size"] == "data" and sections["channels"] == "data" and sections["lr_g"] == "train"
    assert "world_size" not in sections and "data_scale" not in sections
    web = web_settings()
    assert "device" not in web and "data_dir" not in web and "amp" in web
    assert set(CONTROL_FIELDS) <= set(web)
    assert field_type(TrainConfig, "lr_g") is float and field_type(TrainConfig, "seed") is int
    assert field_type(TrainConfig, "amp") is bool and field_type(DataConfig, "channels") is int


def test_nested_and_flat_api_settings_agree():
    """The audit: a nested {"train": {"amp": false}} was silently dropped while the flat one applied."""
    flat = config_from_values({"dataset": "digits", **_settings_from_json('{"amp": false, "ngf": 16}')})
    nested = config_from_values({"dataset": "digits",
                                 **_settings_from_json('{"train": {"amp": false}, "model": {"ngf": 16}}')})
    assert flat.train.amp is False and nested.train.amp is False and flat == nested
    # a checkpoint's own config.json: what the server decides or the dataset derives is skipped
    saved = RunConfig(data=DataConfig(dataset="digits")).resolved(channels=1).to_dict()
    assert config_from_values({"dataset": "digits", **_settings_from_json(json.dumps(saved))}).train.amp is None
    saved["train"]["amp"] = True  # a config.json from before amp's auto (true was the default): kept as it trained
    assert config_from_values({"dataset": "digits", **_settings_from_json(json.dumps(saved))}).train.amp is True
    import gradio as gr

    with pytest.raises(gr.Error, match="lr_g belongs in the train section"):
        _settings_from_json('{"model": {"lr_g": 0.1}}')
    with pytest.raises(gr.Error, match="nested too deeply"):
        _settings_from_json("[" * 100_000)


def test_web_values_keep_auto_and_exact_big_seeds():
    cfg = config_from_values(values_for({}))
    assert cfg.train.lr_g is None and cfg.train.steps is None and cfg.data.channels is None  # shown resolved, kept auto
    assert config_from_values({"seed": 2**63 - 1}).train.seed == 2**63 - 1
    assert config_from_values({"seed": str(2**63 - 1)}).train.seed == 2**63 - 1
    assert config_from_values({"steps": None}).train.steps is None
    for bad, message in (({"seed": 2**63}, "seed: must be between 0 and 2"), ({"lr_g": "1e999"}, "lr_g: must be a finite"),
                         ({"steps": 2.5}, "steps: must be a whole number"), ({"width": True}, "width: must be a whole number"), ({"lr_d": True}, "lr_d: must be a number")):
        with pytest.raises(ConfigError, match=message):
            config_from_values(bad)


def test_the_train_tab_shows_the_image_gans_channels_and_keeps_them_auto():
    from gan_demo.ui.forms import swap_defaults

    assert (values_for({"dataset": "ring8"})["ngf"], values_for({"dataset": "digits"})["ngf"]) == (64, 32)
    shown = values_for({"dataset": "digits"})
    cfg = config_from_values(shown)
    assert (cfg.model.ngf, cfg.model.ndf, cfg.train.lr_g, cfg.train.steps) == (None, None, None, None)  # still auto
    assert config_from_values({**shown, "ngf": 64}).model.ngf == 64  # a typed value stays
    # Picking digits after ring8 moves the shown defaults; picking the VAE moves them back to its 64.
    assert swap_defaults({"ngf": 64, "ndf": 64, "lr_g": 4e-3}, "digits", "nonsaturating") == {
        "ngf": 32, "ndf": 32, "lr_g": 5e-4}
    assert swap_defaults({"ngf": 32, "ndf": 32}, "digits", "nonsaturating", "vae") == {"ngf": 64, "ndf": 64}


def test_mbstd_group_is_off_unless_chosen():
    """grid25's old recipe had minibatch stddev (4); its own recipe since section 33 of BENCHMARKS.md has none."""
    def group(dataset="grid25", family="gan", **train):
        return RunConfig(family=family, data=DataConfig(dataset=dataset), train=TrainConfig(**train)).resolved(
            channels=1).model.mbstd_group

    assert RunConfig().model.mbstd_group is None
    for dataset in ("grid25", "ring8", "spiral", "moons", "digits"):
        assert group(dataset) == 0, dataset
    assert group("stacked-digits") == 4 and group("stacked-digits", r1_gamma=0.0) == 0  # its recipe (below)
    assert group(family="vae") == 0 and group(loss="hinge") == 0 and group(batch_size=512) == 0
    for chosen in (0, 4, 8):
        assert RunConfig(data=DataConfig(dataset="grid25"), model=ModelConfig(mbstd_group=chosen)).resolved() \
            .model.mbstd_group == chosen  # a chosen value stays
    # The Train tab shows the resolved value and keeps it auto; a typed value stays through a change of set.
    from gan_demo.ui.tabs.train import swap_defaults

    shown = values_for({"dataset": "grid25"})
    assert shown["mbstd_group"] == 0 and config_from_values(shown).model.mbstd_group is None
    assert config_from_values({**shown, "mbstd_group": 4}).model.mbstd_group == 4
    assert swap_defaults({"mbstd_group": 0}, "ring8", "nonsaturating") == {"mbstd_group": 0}
    assert swap_defaults({"mbstd_group": 8}, "ring8", "nonsaturating") == {}
    # Picking grid25 after ring8 moves the shown recipe to grid25's; back to ring8, to ring8's.
    assert swap_defaults({"lr_g": 4e-3, "steps": 11000, "z_dim": 2, "width": 80}, "grid25", "nonsaturating") == {
        "lr_g": 2e-3, "steps": 20000, "z_dim": 2, "width": 96}
    assert swap_defaults({"lr_g": 2e-3, "steps": 20000, "width": 96}, "ring8", "nonsaturating") == {
        "lr_g": 4e-3, "steps": 11000, "width": 80}


def test_a_gan_on_your_own_images_defaults_to_r1_and_packing(tmp_path):
    """A folder or zip of a visitor's own images: R1 0.1, so no BatchNorm in D, and D judging packs of 2
    (BENCHMARKS.md section 18); the bundled and downloaded sets, other losses and the VAE keep their defaults."""
    def resolved(dataset, family="gan", **train):
        return RunConfig(family=family, data=DataConfig(dataset=dataset), train=TrainConfig(**train)).resolved(channels=3)

    def recipe(cfg):
        return cfg.train.r1_gamma, cfg.model.pack, cfg.model.d_norm, cfg.model.mbstd_group

    assert RunConfig().model.pack is None
    for own in (str(tmp_path / "faces.zip"), str(tmp_path / "my_photos")):
        assert recipe(resolved(own)) == (OWN_IMAGES_R1, OWN_IMAGES_PACK, "none", 0), own
        assert recipe(resolved(own, r1_gamma=0.0)) == (0.0, 0, "batch", 0)  # R1 off by choice: the BatchNorm D
        assert recipe(resolved(own, loss="hinge")) == (0.0, 0, "batch", 0)  # measured for the nonsaturating loss only
        assert resolved(own, batch_size=63).model.pack == 0  # no whole packs in 63: off, not an error
        # G at twice D's rate with that recipe (BENCHMARKS.md section 37); without R1 or with another loss, as before
        assert (resolved(own).train.lr_g, resolved(own).train.lr_d) == (OWN_IMAGES_LR_G, 5e-4) == (1e-3, 5e-4)
        assert (resolved(own, r1_gamma=0.0).train.lr_g, resolved(own, loss="hinge").train.lr_g) == (5e-4, 2e-4)
        assert resolved(own, lr_g=2e-4).train.lr_g == 2e-4  # a chosen rate stays
        # z from 32 dimensions with that recipe (BENCHMARKS.md section 40); without R1, another loss or the VAE, as before
        assert resolved(own).model.z_dim == OWN_IMAGES_Z_DIM == 32
        assert resolved(own, r1_gamma=0.0).model.z_dim == resolved(own, loss="hinge").model.z_dim == 100
        chosen_z = RunConfig(data=DataConfig(dataset=own), model=ModelConfig(z_dim=100)).resolved(channels=3)
        assert chosen_z.model.z_dim == 100  # a chosen z_dim stays
        vae = resolved(own, family="vae")
        assert vae.train.r1_gamma == 0.0 and vae.model.pack == 0 and vae.model.z_dim == 16
        chosen = RunConfig(data=DataConfig(dataset=own), model=ModelConfig(pack=4)).resolved(channels=3)
        assert chosen.model.pack == 4  # a chosen value stays
    for bundled in ("digits", "mnist", "cifar10", "celeba", "ring8", "grid25"):
        assert resolved(bundled).model.pack == 0 and resolved(bundled).model.d_norm in ("batch", "none"), bundled
        assert resolved(bundled).train.r1_gamma == (0.1 if bundled in ("ring8", "grid25") else 0.0), bundled
    assert own_images(str(tmp_path / "x.zip")) and not own_images("digits") and not own_images("points.csv")
    # a config.json written before pack existed reads 0; one written since holds its resolved number
    saved = RunConfig(data=DataConfig(dataset=str(tmp_path / "x.zip"))).resolved(channels=3).to_dict()
    assert saved["model"]["pack"] == OWN_IMAGES_PACK and RunConfig.from_dict(saved).model.pack == OWN_IMAGES_PACK
    del saved["model"]["pack"]
    assert RunConfig.from_dict(saved).model.pack == 0
    # The Train tab shows the resolved value and keeps it auto; leaving your images for digits moves it back.
    from gan_demo.ui.tabs.train import swap_defaults

    zip_path = str(tmp_path / "x.zip")
    shown = values_for({"dataset": zip_path})  # what the tab shows once the zip is uploaded (its server-made id: up1)
    assert shown["pack"] == OWN_IMAGES_PACK and shown["r1_gamma"] == OWN_IMAGES_R1 and shown["lr_g"] == OWN_IMAGES_LR_G
    assert shown["z_dim"] == OWN_IMAGES_Z_DIM
    cfg = config_from_values({**shown, "dataset": "up1"}, uploads={"up1": zip_path})
    assert cfg.model.pack is None and cfg.train.r1_gamma is None and cfg.train.lr_g is None and cfg.model.z_dim is None
    # R1 turned off with the shown 1e-3 left in place: auto would give 5e-4 then, so the shown rate is what runs
    r1_off = config_from_values({**shown, "dataset": "up1", "r1_gamma": 0.0}, uploads={"up1": zip_path})
    assert r1_off.train.lr_g == OWN_IMAGES_LR_G and r1_off.resolved(channels=3).train.lr_g == OWN_IMAGES_LR_G
    assert swap_defaults({"pack": OWN_IMAGES_PACK, "r1_gamma": OWN_IMAGES_R1, "lr_g": OWN_IMAGES_LR_G,
                          "z_dim": OWN_IMAGES_Z_DIM}, "digits", "nonsaturating") == {"pack": 0, "r1_gamma": 0.0,
                                                                                      "lr_g": 5e-4, "z_dim": 100}


def test_stacked_digits_defaults_to_lazy_r1_and_minibatch_stddev():
    """stacked-digits' GAN: lazy R1, so no BatchNorm in D, minibatch stddev over groups of 4 and 8,000 steps
    (BENCHMARKS.md section 35); R1 off by choice gives the BatchNorm D of before (lesson 5 names it), other losses
    and the VAE keep theirs, and a config.json saved with the old defaults rebuilds them."""
    from gan_demo.core.config import STACKED_MBSTD_GROUP
    from gan_demo.families.gan import IMAGE_GAN_STEPS, STACKED_DIGITS_STEPS

    def resolved(family="gan", model=None, **train):
        return RunConfig(family=family, data=DataConfig(dataset="stacked-digits"), model=model or ModelConfig(),
                         train=TrainConfig(**train)).resolved(channels=3)

    def recipe(cfg):
        return (cfg.train.r1_gamma, cfg.train.r1_every, cfg.model.pack, cfg.model.d_norm, cfg.model.mbstd_group,
                cfg.train.steps)

    assert STACKED_DIGITS_STEPS == 8000 and IMAGE_GAN_STEPS == 4000 and STACKED_MBSTD_GROUP == 4
    assert recipe(resolved()) == (OWN_IMAGES_R1, 16, 0, "none", 4, 8000)
    assert recipe(resolved(r1_gamma=0.0))[2:5] == (0, "batch", 0)  # lesson 5's D
    assert recipe(resolved(loss="hinge")) == (0.0, 1, 0, "batch", 0, 4000)  # measured for the nonsaturating loss only
    assert recipe(resolved(batch_size=62))[4] == 0  # no whole groups of 4 in 62: off, not an error
    assert recipe(resolved(model=ModelConfig(pack=2)))[2:5] == (2, "none", 4)  # 32 packs: 8 groups
    vae = resolved(family="vae")
    assert vae.train.r1_gamma == 0.0 and vae.model.pack == 0 and vae.model.mbstd_group == 0
    old = resolved(r1_gamma=0.0, r1_every=1, steps=4000).to_dict()  # what a run before the change saved
    for section, name in (("model", "pack"), ("model", "mbstd_group"), ("train", "r1_every")):
        del old[section][name]  # older still: fields that did not exist yet
    again = RunConfig.from_dict(old).resolved(channels=3)
    assert recipe(again) == (0.0, 1, 0, "batch", 0, 4000)
    # The Train tab: leaving stacked-digits for digits moves its shown recipe to digits'.
    from gan_demo.ui.tabs.train import swap_defaults

    shown = values_for({"dataset": "stacked-digits"})
    assert (shown["r1_gamma"], shown["pack"], shown["mbstd_group"], shown["steps"]) == (OWN_IMAGES_R1, 0, 4, 8000)
    assert swap_defaults({"r1_gamma": OWN_IMAGES_R1, "mbstd_group": 4, "r1_every": 16, "steps": 8000},
                         "digits", "nonsaturating") == {"r1_gamma": 0.0, "mbstd_group": 0, "r1_every": 1, "steps": 4000}


def test_a_shown_default_that_auto_would_change_is_kept():
    """mbstd_group auto is 4 on stacked-digits only while R1 is on: the tab shows 4, and a visitor who turns R1 off
    and leaves the 4 trains with it (auto would give 0); lesson 5's presets give the runs it measured."""
    shown = values_for({"dataset": "stacked-digits"})
    assert shown["mbstd_group"] == 4
    assert config_from_values(shown).model.mbstd_group is None  # all defaults: auto, so the command line stays short
    cfg = config_from_values({**shown, "r1_gamma": 0.0})
    assert cfg.model.mbstd_group == 4 and cfg.resolved().model.mbstd_group == 4
    assert cfg.train.r1_every is None and cfg.train.steps is None  # the others still follow the set
    assert config_from_values({**shown, "r1_gamma": 0.0, "mbstd_group": 0}).resolved().model.mbstd_group == 0
    zip_shown = values_for({"dataset": "your-images.zip"})  # the same on your own images, with packs
    assert zip_shown["pack"] == OWN_IMAGES_PACK
    assert config_from_values({**zip_shown, "r1_gamma": 0.0, "dataset": "up1"},
                              uploads={"up1": "/x/your-images.zip"}).model.pack == OWN_IMAGES_PACK
    from gan_demo.ui.forms import pair_configs
    from gan_demo.ui.tabs.lessons import LESSONS

    lesson = next(l for l in LESSONS if l.key == "stacked")
    a_values, changes = lesson.comparison
    cfg_a = config_from_values(values_for(a_values)).resolved()
    assert (cfg_a.train.r1_gamma, cfg_a.model.pack, cfg_a.model.mbstd_group, cfg_a.model.d_norm, cfg_a.train.steps) \
        == (0.0, 0, 0, "batch", 800)
    for a_values, changes in dict(lesson.more_pairs()).values():
        cfg_a, cfg_b = (c.resolved() for c in pair_configs(a_values, {k: str(v) for k, v in changes.items()}))
        assert (cfg_a.model.pack, cfg_a.model.mbstd_group, cfg_a.model.d_norm) == (0, 0, "none")
        assert (cfg_b.model.pack, cfg_b.model.mbstd_group) in ((2, 0), (0, 4)), changes


def test_grid25_checkpoint_from_before_its_recipes_rebuilds_as_before():
    """checkpoints/grid25 was trained with the 2D defaults, without minibatch stddev, and its config.json has no
    mbstd_group or lr_decay: it must read 0 for both (not a recipe's values: grid25's old auto 4 or its own recipe's
    0.75), keep its net and schedule, load strictly and sample as it always did."""
    from pathlib import Path

    import torch

    from gan_demo.training.checkpoint import load_checkpoint

    run = Path(__file__).resolve().parents[2] / "checkpoints" / "grid25"
    saved = json.loads((run / "config.json").read_text())
    assert "mbstd_group" not in saved["model"] and "lr_decay" not in saved["train"]
    cfg = RunConfig.from_dict(saved)
    assert cfg.model.mbstd_group == 0 and cfg.resolved().model.mbstd_group == 0
    again = cfg.resolved()
    assert (again.model.z_dim, again.model.width, again.train.batch_size, again.train.steps) == (8, 256, 512, 5000)
    assert (again.train.lr_g, again.train.lr_decay) == (1e-3, 0.0)
    ck = load_checkpoint(run)  # every network with strict=True
    assert ck.cfg.model.mbstd_group == 0 and ck.networks["D"].mbstd_group == 0
    z = torch.randn(4, ck.cfg.model.z_dim, generator=torch.Generator().manual_seed(7))
    with torch.no_grad():
        x = ck.networks["G_ema"](z)
    expected = [[1.97319, 2.02766], [3.97320, -3.97145], [-2.00621, 3.96807], [3.91290, -3.69126]]
    torch.testing.assert_close(x, torch.tensor(expected), rtol=1e-4, atol=1e-4)


def test_ring8s_auto_batch_and_steps_and_the_old_checkpoint_keeps_its_own():
    """ring8's GAN (non-saturating) resolves batch 128 and 11,000 steps; another loss, another 2D set or a given value
    keeps the 2D defaults or the value; checkpoints/ring8 (saved with batch 256, 5,000 steps) rebuilds with those."""
    from pathlib import Path

    from gan_demo.families.gan import FAST_2D_BATCH, FAST_2D_STEPS
    from gan_demo.training.checkpoint import load_checkpoint

    ring = RunConfig().resolved().train
    assert (FAST_2D_BATCH, FAST_2D_STEPS) == (128, 11000) and (ring.batch_size, ring.steps) == (128, 11000)
    hinge = RunConfig(train=TrainConfig(loss="hinge")).resolved().train
    assert (hinge.batch_size, hinge.steps) == (512, 5000)
    moons = RunConfig(data=DataConfig(dataset="moons")).resolved().train
    assert (moons.batch_size, moons.steps) == (512, 5000)
    given = RunConfig(train=TrainConfig(batch_size=256, steps=5000)).resolved().train
    assert (given.batch_size, given.steps, given.lr_g, given.lr_decay) == (256, 5000, 4e-3, 0.5)
    run = Path(__file__).resolve().parents[2] / "checkpoints" / "ring8"
    saved = json.loads((run / "config.json").read_text())
    assert (saved["train"]["batch_size"], saved["train"]["steps"]) == (256, 5000)
    ck = load_checkpoint(run)  # every network with strict=True
    assert (ck.cfg.train.batch_size, ck.cfg.train.steps, ck.cfg.model.width) == (256, 5000, 128)


def test_lesson_7_keeps_the_ring8_recipe_its_text_measured():
    """Lesson 7 quotes figures of ring8 at batch 256 and 5,000 steps (the schedule switches at 2,500, half of them):
    both runs keep those values whatever ring8's auto defaults are."""
    from gan_demo.ui.forms import pair_configs
    from gan_demo.ui.tabs.lessons import LESSONS

    a_values, changes = next(l for l in LESSONS if l.key == "midrun").pair()
    for cfg in pair_configs(a_values, {k: str(v) for k, v in changes.items()}):
        r = cfg.resolved()
        t = r.train
        assert (t.batch_size, t.steps, t.lr_g, t.lr_d, t.lr_decay, r.model.width) == (256, 5000, 4e-3, 4e-3, 0.5, 128)
