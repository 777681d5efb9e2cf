"""In headless Chromium: when every training slot is taken, Start is refused and the student gets the pretrained
digits' recorded training to scrub (the slider moves the picture and names its step). Screenshots go to
$GAN_DEMO_ARTIFACTS, else tests/artifacts/."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.browser import browser_page, image_src, launched_app, open_app, require_browser, set_slider

require_browser()

WAIT_MS = 90_000  # generous: this box is often loaded
ARTIFACTS = Path(os.environ.get("GAN_DEMO_ARTIFACTS") or Path(__file__).resolve().parents[1] / "artifacts")


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    from gan_demo.core.config import DataConfig, ModelConfig, RunConfig, TrainConfig
    from gan_demo.render.timeline import TimelineRecorder, progress_frame, save_timeline
    from gan_demo.training.trainer import Trainer

    root = tmp_path_factory.mktemp("pretrained")
    digits = Trainer(RunConfig(data=DataConfig(dataset="digits", img_size=16),
                               model=ModelConfig(ngf=8, ndf=8, z_dim=16, conditional=True),
                               train=TrainConfig(batch_size=32, steps=40)), device="cpu")
    recorder = TimelineRecorder(every=10)
    recorder.keep(0, progress_frame(digits))  # the untrained start, as the CLI records it
    digits.add_callback(recorder)
    digits.run()
    digits.save(root / "digits")
    save_timeline(root / "digits", recorder.finish(digits))
    with launched_app(root, max_runs=1) as app:
        yield app


def test_a_student_without_a_slot_scrubs_the_recorded_digits(app):
    from gan_demo.core.config import DataConfig, ModelConfig, RunConfig, TrainConfig

    ctx, _, url = app
    # an image run trains alone: it holds the server's one slot (a 2D run could share a pooled step)
    holder = RunConfig(data=DataConfig(dataset="digits", img_size=16), model=ModelConfig(ngf=8, ndf=8, z_dim=16),
                       train=TrainConfig(batch_size=16, steps=100_000))
    ctx.registry.start(ctx.registry.get("slot-holder"), holder, "cpu")
    try:
        with browser_page(width=1400, height=900, timeout_ms=WAIT_MS) as page:
            open_app(page, url, ready="#start")
            assert not page.locator("#busy_timeline").is_visible()
            page.click("#start")
            page.wait_for_function("() => /Server busy/.test(document.querySelector('#train_message').innerText)",
                                   timeout=WAIT_MS)
            page.wait_for_selector("#busy_timeline_image img", state="visible", timeout=WAIT_MS)
            page.wait_for_function("() => /at step 0 of/.test(document.querySelector('#busy_timeline_caption')"
                                   ".innerText)", timeout=WAIT_MS)
            first = image_src(page, "busy_timeline_image")
            assert page.locator("#busy_timeline_step input[type=number]").input_value() == "0"
            set_slider(page, "busy_timeline_step", 40)
            page.wait_for_function("() => /at step 40 of 40 \\(finished\\)/.test(document.querySelector("
                                   "'#busy_timeline_caption').innerText)", timeout=WAIT_MS)
            page.wait_for_function("(first) => { const img = document.querySelector('#busy_timeline_image img');"
                                   " return img && img.getAttribute('src') !== first; }", arg=first, timeout=WAIT_MS)
            box = page.locator("#busy_timeline_image img").bounding_box()
            assert box["width"] >= 300 and box["y"] < 900  # in view under the refusal, large enough to read
            ARTIFACTS.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(ARTIFACTS / "train_busy_recorded_timeline.png"), full_page=False)
    finally:
        ctx.registry.stop(ctx.registry.get("slot-holder"))


def test_explore_shows_a_pretrained_runs_recorded_training(app):
    """Explore, on a pretrained run with a timeline: a fold whose slider scrubs its training."""
    from tests.browser import click_tab

    _, _, url = app
    with browser_page(width=1400, height=900, timeout_ms=WAIT_MS) as page:
        open_app(page, url, ready="#start")
        click_tab(page, "Explore")
        page.wait_for_selector("#explore_timeline", state="visible", timeout=WAIT_MS)
        page.locator("#explore_timeline").get_by_text("How this model learned", exact=False).first.click()
        page.wait_for_selector("#explore_timeline_image img", state="visible", timeout=WAIT_MS)
        first = image_src(page, "explore_timeline_image")
        set_slider(page, "explore_timeline_step", 40)
        page.wait_for_function("() => /at step 40 of 40 \\(finished\\)/.test(document.querySelector('#explore_timeline_caption')"
                               ".innerText)", timeout=WAIT_MS)
        page.wait_for_function("(first) => document.querySelector('#explore_timeline_image img')"
                               "?.getAttribute('src') !== first", arg=first, timeout=WAIT_MS)
        page.locator("#explore_timeline").scroll_into_view_if_needed()
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "explore_recorded_timeline.png"), full_page=False)
