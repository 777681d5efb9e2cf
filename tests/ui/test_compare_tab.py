"""The Compare tab's settings and curves without a browser: B from A and its changes, lessons as comparisons."""
from __future__ import annotations

import pytest

from gan_demo.core.config import ConfigError
from gan_demo.ui.forms import B_FIELDS, b_values, changes_between, pair_configs, values_for
from gan_demo.ui.tabs.compare import color_map, overlay, status_table
from gan_demo.ui.tabs.lessons import LESSONS


def test_b_is_a_with_its_changes_and_the_same_seed_and_data():
    a = values_for({"dataset": "ring8", "steps": 200})
    cfg_a, cfg_b = pair_configs(a, {"lr_d": "0.002", "n_critic": "", "loss": ""})
    assert cfg_b.train.lr_d == 0.002 and cfg_a.train.lr_d is None  # A's lr_d is the default (auto)
    assert (cfg_b.train.seed, cfg_b.data.dataset, cfg_b.train.steps) == (cfg_a.train.seed, "ring8", 200)
    assert cfg_b.train.n_critic == cfg_a.train.n_critic and cfg_b.train.loss == cfg_a.train.loss


def test_b_takes_the_defaults_of_its_own_family():
    a = values_for({"dataset": "spiral"})  # (ring8's and grid25's GAN recipes draw from 2 noise dimensions, as the VAE)
    values, schedule = b_values(a, {"family": "vae"})
    assert values["z_dim"] == values_for({"dataset": "spiral", "family": "vae"})["z_dim"] != a["z_dim"]
    assert schedule == []
    _, cfg_b = pair_configs(a, {"family": "vae"})
    assert cfg_b.family == "vae" and cfg_b.model.z_dim is None  # auto: the VAE's 2D default


def test_b_replays_a_schedule_and_refuses_other_data():
    a = values_for({"dataset": "ring8", "steps": 400})
    _, cfg_b = pair_configs(a, {"schedule": '[{"step": 200, "lr_d": 0.01}]'})
    assert cfg_b.schedule == [{"step": 200, "lr_d": 0.01}]
    with pytest.raises(ConfigError, match="schedule"):
        pair_configs(a, {"schedule": '[{"step": 200, "width": 3}]'})
    with pytest.raises(ConfigError, match="not JSON"):
        pair_configs(a, {"schedule": "[{"})
    with pytest.raises(ConfigError, match="seed"):
        b_values(a, {"seed": "3"})


@pytest.mark.parametrize("lesson", [l for l in LESSONS if l.pair() is not None], ids=lambda l: l.key)
def test_every_lesson_comparison_starts_the_two_presets(lesson):
    a_values, changes = lesson.pair()
    assert set(changes) <= set(B_FIELDS)
    cfg_a, cfg_b = pair_configs(a_values, {k: str(v) for k, v in changes.items()})
    if len(lesson.presets) == 2 and lesson.comparison is None:
        expected_b = pair_configs(values_for(lesson.presets[1].values), {})[0]
        assert cfg_b.to_dict() == expected_b.to_dict()


def test_changes_between_refuses_what_b_cannot_change():
    with pytest.raises(ConfigError, match="dataset"):
        changes_between(values_for({"dataset": "ring8"}), values_for({"dataset": "grid25"}))


def test_overlay_draws_both_runs_in_one_frame_with_markers():
    history = {"step": [1, 2, 3], "loss_d": [1.0, 0.9, 0.8], "loss_g": [0.5, 0.6, float("nan")]}
    frame = overlay({"A": history, "B": history}, {l: {"loss_d": "loss_D", "loss_g": "loss_G"} for l in "AB"},
                    {"A": [], "B": [{"step": 2, "lr_d": 0.01}]})
    series = set(frame["series"])
    assert {"A: loss_D", "A: loss_G", "B: loss_D", "B: loss_G", "B: setting changed"} <= series
    assert set(series) <= set(color_map())  # every series has a fixed colour
    marker = frame[frame["series"] == "B: setting changed"]
    assert list(marker["step"]) == [2, 2, 2] and list(marker["value"]) == [0.5, 1.0, 0.5]
    assert overlay({"A": {"step": []}, "B": {"step": []}}, {"A": {}, "B": {}}) is None


def test_status_table_puts_the_runs_side_by_side():
    snap = {"state": "running", "step": 10, "target_steps": 100, "steps_per_s": 5.0, "message": "",
            "quality": {"modes_covered": 8, "n_modes": 8, "high_quality": 0.9, "grid_kl": 0.01}}
    text = status_table({"A": snap, "B": {**snap, "quality": None}}, {"lr_d": (None, 0.002)})
    assert "| modes covered | 8 / 8 | – |" in text and "lr_d auto → 0.002" in text


def test_the_tab_lays_out_every_b_setting_once():
    from gan_demo.ui.tabs.compare import b_rows

    laid_out = [n for row in b_rows("open") + b_rows("more") for n in row] + ["schedule"]
    assert sorted(laid_out) == sorted(B_FIELDS)


def test_a_gan_and_a_vae_side_by_side(tmp_path):
    """Family is one of B's changes: both runs train, draw their pictures and their curves in one overlay."""
    from gan_demo.training.compare import Comparison
    from gan_demo.explore.sampler import Sampler
    from gan_demo.ui.tabs.compare import run_picture, saved_picture
    from gan_demo.ui.run_views import LiveView
    from gan_demo.ui.run_views import plots_for

    a = values_for({"dataset": "ring8", "steps": 20, "batch_size": 64, "width": 16, "depth": 2})
    cfg_a, cfg_b = pair_configs(a, {"family": "vae"})
    pair = Comparison(cfg_a, cfg_b, device="cpu")
    pair.start()
    pair.join(120)
    assert [t.state for t in pair.runs.values()] == ["finished", "finished"]
    pictures = {label: run_picture(t, LiveView()) for label, t in pair.runs.items()}
    assert pictures["A"].size == pictures["B"].size == (512, 512)
    snaps = pair.snapshot()["runs"]
    frame = overlay({l: snaps[l]["history"] for l in "AB"},
                    {l: dict(plots_for(snaps[l]["family"])[0].columns) for l in "AB"})
    assert {"A: loss_D", "B: reconstruction"} <= set(frame["series"])
    folder = pair.save(tmp_path / "cmp")
    sampler = Sampler.from_checkpoint(folder / "B", "cpu")
    assert saved_picture(sampler, sampler.cfg).size == (512, 512)


def test_a_critics_scores_and_ds_probabilities_never_share_an_axis():
    """Issue 22: minimax (A) against WGAN-GP (B) drew probabilities and raw critic scores on one axis."""
    from gan_demo.ui.tabs.compare import color_map, slot_columns
    from gan_demo.ui.run_views import SCORE_FAKE, SCORE_REAL

    series = ("loss_d", "loss_g", "d_real", "d_fake", "r_t")
    losses, probabilities, scores = slot_columns({"A": ("gan", "minimax", series), "B": ("gan", "wgan-gp", series)})
    assert set(losses) == {"A", "B"}
    assert probabilities == {"A": {"d_real": "D(x)", "d_fake": "D(G(z))"}}
    assert scores == {"B": {"d_real": SCORE_REAL, "d_fake": SCORE_FAKE}}
    assert not any("r_t" in columns for chart in (losses, probabilities, scores) for columns in chart.values())
    _, same, none = slot_columns({"A": ("gan", "hinge", series), "B": ("gan", "nonsaturating", series)})
    assert set(same) == {"A", "B"} and none == {}
    assert {f"B: {SCORE_REAL}", f"A: {SCORE_FAKE}"} <= set(color_map())  # every drawn series has its colour
