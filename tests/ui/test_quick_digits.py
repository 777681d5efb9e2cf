"""The Train tab's "Quick digits" preset: valid settings within the web app's limits, loaded by one click."""
from __future__ import annotations

import gradio as gr

from gan_demo.ui.tabs import lessons as lessons_tab
from gan_demo.ui.tabs.train import CONTROL_FIELDS, config_from_values, values_for


def test_the_quick_digits_preset_is_a_valid_web_run_of_the_measured_settings():
    values = values_for(lessons_tab.QUICK_DIGITS.values)
    assert set(values) == set(CONTROL_FIELDS)
    cfg = config_from_values(values)  # validates and applies the web app's limits
    resolved = cfg.resolved(channels=1)
    assert (resolved.data.dataset, resolved.kind, resolved.family) == ("digits", "image", "gan")
    for name, value in lessons_tab.QUICK_DIGITS.values.items():
        section = "data" if name in ("dataset", "img_size") else "train" if name in ("steps", "seed") else "model"
        assert getattr(getattr(resolved, section), name) == value, name
    assert "--img-size 16" in cfg.to_cli()


def test_the_quick_digits_button_fills_the_train_controls_and_trains_for_steps():
    names = ["dataset", "img_size", "steps", "seed", "lr_g", "ngf"]
    with gr.Blocks() as demo:
        with gr.Tabs() as tabs:
            with gr.Tab("Train", id="train"):
                controls = {n: gr.Textbox() if n == "dataset" else gr.Number() for n in names}
                train_for = gr.Radio(["steps", "minutes"], value="minutes")
                quick = gr.Button("Quick digits")
            with gr.Tab("Lessons", id="lessons"):
                lessons = lessons_tab.build(None)
        lessons_tab.wire(None, lessons, {"controls": controls, "quick_digits": quick, "train_for": train_for}, tabs)
    fn = next(f.fn for f in demo.fns.values() if any(t[0] == quick._id for t in f.targets))
    out = fn()
    expected = values_for(lessons_tab.QUICK_DIGITS.values)
    assert out[:len(names)] == [expected[n] for n in names]
    assert out[len(names)].selected == "train" and out[-1] == "steps"
