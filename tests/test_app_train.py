"""Train tab helpers: the live 2D quality figures in words and as curves."""
import math

from gan_demo.config import DataConfig, ModelConfig, RunConfig, TrainConfig
from gan_demo.trainer import Trainer
from gan_demo.ui.train_tab import quality_line, quality_plots


def run(dataset: str, steps: int = 30) -> Trainer:
    tr = Trainer(RunConfig(data=DataConfig(dataset=dataset, n_points=1000), model=ModelConfig(width=16, depth=1),
                           train=TrainConfig(batch_size=64, steps=steps, device="cpu")))
    tr.run()
    return tr


def test_quality_of_a_mixture_in_words_and_curves():
    snap = run("ring8", steps=60).snapshot()
    q = snap["quality"]
    line = quality_line(q)
    assert f"Modes covered: {q['modes_covered']} / 8" in line
    assert f"KL(real ‖ G) {q['grid_kl']:.3f}" in line and f"JS {q['grid_js']:.3f}" in line
    assert f"step {q['step']:,}" in line and f"{math.log(2):.2f}" in line
    kl, js, modes, n_modes = quality_plots(snap["quality_history"])
    assert n_modes == 8
    steps = snap["quality_history"]["step"]
    assert list(modes["step"]) == steps and list(modes["value"]) == snap["quality_history"]["modes_covered"]
    assert list(kl["step"]) == steps and kl["value"].tolist() == snap["quality_history"]["grid_kl"]
    assert set(js["series"]) == {"JS(real, G)"} and js["value"].tolist() == snap["quality_history"]["grid_js"]


def test_quality_without_modes_shows_the_grid_divergence_only():
    snap = run("moons").snapshot()
    line = quality_line(snap["quality"])
    assert "Modes covered" not in line and "Grid divergence" in line
    kl, js, modes, n_modes = quality_plots(snap["quality_history"])
    assert modes is None and n_modes is None and kl is not None and js is not None
    assert quality_line(None) == ""
    assert quality_plots({"step": []}) == (None, None, None, None)
