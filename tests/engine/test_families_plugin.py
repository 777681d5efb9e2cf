"""A third family defined here, with a setting of its own, registered from this file alone: it trains, saves,
loads, changes its setting live, appears as a CLI flag and is accepted in the API's config_json."""
from __future__ import annotations

import json
from dataclasses import dataclass

import pytest
import torch
from torch import nn

from gan_demo.__main__ import build_parser, config_from_args, main
from gan_demo.core.config import (FAMILY_SPECS, ConfigError, DataConfig, FamilySpec, RunConfig, TrainConfig,
                                  section_of)
from gan_demo.explore.sampler import Sampler
from gan_demo.families import FAMILIES, register, unregister
from gan_demo.training.checkpoint import load_checkpoint
from gan_demo.training.trainer import Trainer


@dataclass
class PointSettings:
    """The point family's own settings (RunConfig's "point" section)."""

    pull: float = 0.2  # share of the way from the point to the batch's mean that each step moves it


def check_point(check, settings: PointSettings, kind: str) -> None:
    check(0 < settings.pull <= 1, "pull", f"must be in (0, 1] (got {settings.pull})")


class PointFamily:
    """Learns the data's mean as one point (its decoder maps every z there) by moving `pull` of the way to
    each batch's mean; nothing outside this file knows of it."""

    name = "point"
    spec = FamilySpec(name="point", z_dim={"2d": 2, "image": 2}, settings=PointSettings, live=("pull",),
                      check=check_point)
    series = ("dist",)
    bounded = ()
    network_names = ("mean",)
    optimizer_names = ()
    critic = None

    def __init__(self, cfg, ctx, dist=None):
        self.cfg, self.ctx = cfg, ctx
        self.net = self.empty_networks(cfg)["mean"].to(ctx.device)
        self.step = 0

    @staticmethod
    def empty_networks(cfg):
        net = nn.Linear(cfg.model.z_dim, cfg.model.data_dim)
        nn.init.zeros_(net.weight)
        nn.init.constant_(net.bias, 3.0)  # start away from the data
        return {"mean": net.requires_grad_(False)}

    @staticmethod
    def sampling_nets(cfg, networks):
        return _Point(networks["mean"]), None

    networks = property(lambda self: {"mean": self.net})
    optimizers = property(lambda self: {})
    phases = property(lambda self: {"pull": self.train_step})

    def decoder_net(self, ema=True):
        return _Point(self.net)

    def apply_settings(self, changes):
        self.cfg.point.pull = changes.get("pull", self.cfg.point.pull)

    def train_step(self):
        x, _ = self.ctx.draw(self.ctx.batch_size)
        target = x.float().mean(0)
        self.net.bias += self.cfg.point.pull * (target - self.net.bias)
        self.step += 1
        return {"dist": (self.net.bias - target).norm()}

    def state_dict(self):
        return {"mean": self.net.state_dict(), "step": self.step}

    def load_state_dict(self, state):
        self.net.load_state_dict(state["mean"])
        self.step = int(state["step"])

    def release_optimizers(self):
        pass


class _Point(nn.Module):
    def __init__(self, net):
        super().__init__()
        self.net = net

    def forward(self, z, y=None):
        return self.net.bias.expand(z.shape[0], -1)


@pytest.fixture
def point_family():
    register(PointFamily)
    try:
        yield PointFamily
    finally:
        unregister("point")
    assert "point" not in FAMILIES and "point" not in FAMILY_SPECS


def moons(**point) -> RunConfig:
    return RunConfig(family="point", data=DataConfig(dataset="moons", n_points=500),
                     train=TrainConfig(batch_size=100, steps=8, device="cpu"), point=PointSettings(**point))


def test_it_trains_saves_and_loads_with_its_own_setting(point_family, tmp_path):
    tr = Trainer(moons(pull=0.5))
    assert tr.run() == "finished" and tr.step == 8
    assert tr.snapshot()["history"]["dist"][-1] < 0.2  # moved to the data's mean
    assert torch.allclose(tr.sample_fixed()[0], tr.dataset.x.float().mean(0), atol=0.2)
    path = tr.save(tmp_path / "run")
    saved = json.loads((path / "config.json").read_text())
    assert saved["family"] == "point" and saved["point"] == {"pull": 0.5}
    back = Trainer.from_checkpoint(path, device="cpu")
    assert back.step == 8 and back.cfg.point.pull == 0.5 and back.cfg.settings == PointSettings(0.5)
    assert torch.equal(load_checkpoint(path).networks["mean"].bias, tr.family.net.bias)
    x, score = Sampler.from_checkpoint(path).from_seed(1)
    assert score is None and torch.allclose(x, tr.sample_fixed()[0])


def test_its_setting_is_checked_and_changes_live(point_family):
    with pytest.raises(ConfigError, match="pull: must be in"):
        moons(pull=2.0).validate()
    tr = Trainer(moons(pull=0.1))
    tr.change(pull=0.9)
    with pytest.raises(ConfigError, match="pull must be a finite number"):
        tr.change(pull="fast")
    with pytest.raises(ConfigError, match="can change pull while it trains"):
        tr.change(lr_d=0.1)
    tr.step_once()
    assert tr.cfg.point.pull == 0.9 and tr.cfg.schedule == [{"step": 0, "pull": 0.9}]


def test_it_is_a_cli_flag_and_the_command_repeats_it(point_family, tmp_path, capsys):
    with pytest.raises(SystemExit):
        build_parser().parse_args(["train", "--help"])
    help_text = capsys.readouterr().out
    assert "POINT (--family point)" in help_text and "--pull PULL" in help_text and "(default: 0.2)" in help_text
    args = build_parser().parse_args(["train", "--family", "point", "--dataset", "moons", "--pull", "0.3"])
    cfg = config_from_args(args)
    assert cfg.family == "point" and cfg.point.pull == 0.3
    assert "--family point" in cfg.to_cli() and "--pull 0.3" in cfg.to_cli()
    assert "--loss" not in RunConfig(family="point", train=TrainConfig(loss="hinge")).to_cli()  # the GAN's own
    out = tmp_path / "cli"
    assert main(["train", "--family", "point", "--dataset", "moons", "--n-points", "500", "--batch-size", "50",
                 "--steps", "3", "--pull", "0.3", "--device", "cpu", "--out", str(out)]) == 0
    assert Trainer.from_checkpoint(out, device="cpu").cfg.point.pull == 0.3


def test_the_api_accepts_its_setting(point_family):
    pytest.importorskip("gradio")
    from gan_demo.ui.api import _settings_from_json
    from gan_demo.ui.tabs.train import config_from_values

    assert section_of()["pull"] == "point"
    start = {"dataset": "moons", "steps": 5, "loss": "nonsaturating", "seed": 0}  # as /train_start builds it
    for config_json in ('{"family": "point", "pull": 0.4}', '{"family": "point", "point": {"pull": 0.4}}'):
        cfg = config_from_values({**start, **_settings_from_json(config_json)})
        assert cfg.family == "point" and cfg.point.pull == 0.4
    with pytest.raises(ConfigError, match="pull: must be in"):
        config_from_values({**start, **_settings_from_json('{"family": "point", "pull": 0}')})


def test_unregistered_it_is_gone():
    assert "point" not in FAMILIES and "pull" not in section_of()
    with pytest.raises(ConfigError, match="family: must be one of gan, vae"):
        RunConfig(family="point").validate()
    assert "point" not in RunConfig().to_dict()


def test_it_has_a_diagram_and_a_price_without_declaring_them(point_family):
    from gan_demo.families import step_cost
    from gan_demo.render.model_diagram import run_graph

    svg = run_graph(moons().resolved(), numbers={"dist": 0.5}, step=3)
    assert svg.startswith("<svg") and "point" in svg and "mean" in svg and "dist 0.5" in svg
    cost = step_cost(moons().resolved(data_dim=2))
    assert cost.params == 2 * 2 + 2 and cost.flops == 6.0 * cost.params * 100


def fold_of(component) -> str:
    """The label of the accordion a control sits in ("open" outside one)."""
    block = component.parent
    while block is not None and type(block).__name__ != "Accordion":
        block = block.parent
    return "open" if block is None else block.label


def test_its_setting_is_a_train_control_and_a_compare_b_field(point_family):
    gr = pytest.importorskip("gradio")
    import types

    from gan_demo.ui.app import AppContext
    from gan_demo.ui.forms import B_FIELDS, CONTROL_FIELDS, pair_configs, values_for
    from gan_demo.ui.tabs import compare, train

    ctx = AppContext.create(device="cpu")
    with gr.Blocks():
        train_parts = train.build(ctx)
        compare_parts = compare.build(ctx, train_parts)
    pull = train_parts["controls"]["pull"]  # a face derived from the field: its name, its comment, a number box
    assert (type(pull).__name__, pull.label, pull.value, pull.visible, fold_of(pull)) == (
        "Number", "Pull", 0.2, False, "Training")
    assert pull.info == "share of the way from the point to the batch's mean that each step moves it"
    assert ("point", "point") in train_parts["controls"]["family"].choices
    shown = train_parts["handlers"].on_family_change("point", types.SimpleNamespace(session_hash="point"))
    assert shown["pull"]["visible"] and not shown["loss"]["visible"] and not shown["beta"]["visible"]

    b_pull = compare_parts["b_controls"]["pull"]
    assert (type(b_pull).__name__, b_pull.label, fold_of(b_pull)) == ("Textbox", "B's pull", "More of B's settings")
    assert "pull for a POINT" in compare_parts["b_controls"]["schedule"].info
    values = values_for({"family": "point", "dataset": "moons", "steps": 5})
    assert set(values) == set(CONTROL_FIELDS) and values["pull"] == 0.2 and "pull" in B_FIELDS
    cfg_a, cfg_b = pair_configs(values, {"pull": "0.7"})
    assert (cfg_a.family, cfg_a.point.pull, cfg_b.point.pull) == ("point", 0.2, 0.7)
