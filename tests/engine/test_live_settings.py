"""Settings changed while a run trains: applied at the next step, recorded in the schedule, kept by the
checkpoint, replayed by --schedule to the same weights."""
from __future__ import annotations

import json

import pytest
import torch

from gan_demo.__main__ import main
from gan_demo.core.config import ConfigError, DataConfig, ModelConfig, RunConfig, TrainConfig
from gan_demo.training.trainer import Trainer


def ring_cfg(**train) -> RunConfig:
    return RunConfig(data=DataConfig(dataset="ring8", n_points=500), model=ModelConfig(width=16, depth=2),
                     train=TrainConfig(**{"batch_size": 32, "steps": 100, **train}))


def weights(trainer) -> dict[str, torch.Tensor]:
    return {f"{n}.{k}": v.clone() for n, net in trainer.family.networks.items() for k, v in net.state_dict().items()}


def test_a_change_applies_at_the_next_step_and_is_recorded():
    tr = Trainer(ring_cfg(), device="cpu")
    for _ in range(3):
        tr.step_once()
    lr_g, lr_d = tr.cfg.train.lr_g, tr.cfg.train.lr_d  # ring8's defaults (constant this early: lr_decay starts at step 50)
    tr.change(lr_d=0.005, n_critic=2, loss="hinge")
    assert tr.family.opt_D.param_groups[0]["lr"] == pytest.approx(lr_d)  # not before the step boundary
    tr.step_once()
    assert tr.family.opt_D.param_groups[0]["lr"] == 0.005 and tr.cfg.train.n_critic == 2
    assert tr.cfg.train.loss == "hinge" and tr.family.opt_G.param_groups[0]["lr"] == pytest.approx(lr_g)
    assert tr.cfg.schedule == [{"step": 3, "lr_d": 0.005, "n_critic": 2, "loss": "hinge"}]
    assert tr.snapshot()["schedule"] == tr.cfg.schedule


def test_a_replayed_schedule_gives_the_same_weights_as_the_live_changes():
    live = Trainer(ring_cfg(seed=3), device="cpu")
    for step in range(12):
        if step == 4:
            live.change(lr_d=0.004, r1_gamma=0.5)
        if step == 8:
            live.change(lr_g=0.0005, n_critic=2)
        live.step_once()
    replay_cfg = ring_cfg(seed=3)
    replay_cfg.schedule = json.loads(json.dumps(live.cfg.schedule))  # as a checkpoint or --schedule gives it
    replay = Trainer(replay_cfg, device="cpu")
    for _ in range(12):
        replay.step_once()
    a, b = weights(live), weights(replay)
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert replay.cfg.train.n_critic == 2 and replay.family.opt_G.param_groups[0]["lr"] == 0.0005


def test_the_checkpoint_keeps_the_schedule_and_a_resumed_run_does_not_apply_it_twice(tmp_path):
    cfg = ring_cfg()
    cfg.schedule = [{"step": 2, "lr_d": 0.004}, {"step": 6, "lr_d": 0.002}]
    tr = Trainer(cfg, device="cpu")
    for _ in range(4):
        tr.step_once()
    tr.change(n_critic=3)
    tr.step_once()  # step 4 -> 5: the live change is recorded between the two replayed ones
    assert [e["step"] for e in tr.cfg.schedule] == [2, 4, 6]
    tr.save(tmp_path / "run")
    saved = json.loads((tmp_path / "run" / "config.json").read_text())
    assert saved["schedule"] == tr.cfg.schedule and saved["train"]["n_critic"] == 3
    resumed = Trainer.from_checkpoint(tmp_path / "run", device="cpu")
    assert resumed.step == 5 and resumed.family.opt_D.param_groups[0]["lr"] == 0.004
    resumed.step_once()  # 5 -> 6
    resumed.step_once()  # the entry for step 6 applies before this one
    assert resumed.family.opt_D.param_groups[0]["lr"] == 0.002 and resumed.cfg.train.n_critic == 3
    assert len(resumed.cfg.schedule) == 3


def test_bad_changes_are_refused_naming_the_setting_and_a_vae_changes_beta():
    tr = Trainer(ring_cfg(), device="cpu")
    with pytest.raises(ConfigError, match="can change lr_g, lr_d, n_critic, loss, r1_gamma, gp_weight .*not width"):
        tr.change(width=64)
    with pytest.raises(ConfigError, match="n_critic: must be between 1 and 100"):
        tr.change(n_critic=0)
    with pytest.raises(ConfigError, match="schedule\\[1\\]: steps must not go back"):
        RunConfig(schedule=[{"step": 5, "lr_d": 0.1}, {"step": 2, "lr_d": 0.1}]).validate()
    with pytest.raises(ConfigError, match="auto cannot be a change"):
        RunConfig(schedule=[{"step": 5, "lr_d": None}]).validate()
    vae = Trainer(RunConfig(family="vae", data=DataConfig(dataset="ring8", n_points=500),
                            train=TrainConfig(batch_size=32, steps=10)), device="cpu")
    vae.step_once()
    vae.change(beta=0.25)
    vae.step_once()
    assert vae.family.cfg.vae.beta == 0.25 and vae.cfg.vae.beta == 0.25 and vae.cfg.schedule == [{"step": 1, "beta": 0.25}]


def test_a_rollback_keeps_the_settings_the_user_chose():
    from tests.engine.test_trainer import poison_from

    tr = Trainer(ring_cfg(lr_g=1e3, lr_d=1e3, steps=500), device="cpu")
    tr.change(lr_d=900.0)
    poison_from(tr, 3)  # diverges on cue, not after however many steps lr 1e3 takes
    assert tr.run() == "diverged"
    assert tr.family.opt_D.param_groups[0]["lr"] == 900.0 and tr.cfg.train.lr_d == 900.0


def test_cli_schedule_inline_or_from_a_file(tmp_path, capsys):
    out = tmp_path / "run"
    args = ["train", "--dataset", "ring8", "--steps", "6", "--width", "16", "--depth", "2", "--batch-size", "32",
            "--n-points", "500", "--device", "cpu", "--quiet", "--out", str(out)]
    assert main([*args, "--schedule", '[{"step": 3, "lr_d": 0.004}]']) == 0
    saved = json.loads((out / "config.json").read_text())
    assert saved["schedule"] == [{"step": 3, "lr_d": 0.004}] and saved["train"]["lr_d"] == 0.004
    assert "--schedule '[{\"step\":3,\"lr_d\":0.004}]'" in RunConfig.from_dict(saved).to_cli()
    (tmp_path / "s.json").write_text(json.dumps([{"step": 2, "n_critic": 2}]))
    assert main([*args, "--schedule", str(tmp_path / "s.json"), "--out", str(tmp_path / "run2")]) == 0
    with pytest.raises(SystemExit) as exc:
        main([*args, "--schedule", '[{"step": 3, "width": 8}]'])
    assert exc.value.code == 2 and "schedule[0]" in capsys.readouterr().err
