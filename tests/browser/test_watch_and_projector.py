"""In headless Chromium: Share gives a link whose page shows the run live (its picture changes as it trains), Stop
sharing ends it on the watching screen, and the projector view (toggle or ?view=projector) folds the settings and
enlarges the type. Screenshots go to $GAN_DEMO_ARTIFACTS, else tests/artifacts/."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.browser import browser_page, launched_app, open_app, require_browser

require_browser()

WAIT_MS = 90_000  # generous: this box is often at load 10-18
ARTIFACTS = Path(os.environ.get("GAN_DEMO_ARTIFACTS") or Path(__file__).resolve().parents[1] / "artifacts")


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    from gan_demo.core.config import DataConfig, ModelConfig, RunConfig, TrainConfig
    from gan_demo.training.trainer import Trainer

    root = tmp_path_factory.mktemp("pretrained")
    tr = Trainer(RunConfig(data=DataConfig(dataset="ring8", n_points=500), model=ModelConfig(width=16, depth=2),
                           train=TrainConfig(batch_size=32, steps=3)), device="cpu")
    tr.run()
    tr.save(root / "ring8")
    with launched_app(root) as app:
        yield app


def screenshot(page, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def _start_and_share(page, url: str) -> str:
    """Open the app, start a long run, press Share: the link once its box holds a whole /watch/<token> address."""
    open_app(page, url, ready="#start")
    page.locator("#train_steps input").fill("100000")
    page.click("#start")
    page.wait_for_function("() => /running/.test(document.querySelector('#train_status').innerText)",
                           timeout=WAIT_MS)
    page.click("#share_run")
    page.wait_for_function("() => { const el = document.querySelector('#share_link textarea, #share_link input');"
                           " return el && /^http:\\/\\/.+\\/watch\\/[A-Za-z0-9_-]{20,}$/.test(el.value); }",
                           timeout=WAIT_MS)
    return page.locator("#share_link textarea, #share_link input").first.input_value()


def _watch(page, link: str):
    """The link opened on another screen (a fresh browser context, as another student's)."""
    viewer = page.context.browser.new_context(viewport={"width": 1280, "height": 800}).new_page()
    viewer.set_default_timeout(WAIT_MS)
    viewer.goto(link)
    return viewer


def test_a_shared_run_shows_live_on_another_screen(app):
    ctx, _, url = app
    with browser_page(width=1400, height=900, timeout_ms=WAIT_MS) as page:
        link = _start_and_share(page, url)
        assert link.startswith(url + "/watch/")
        viewer = _watch(page, link)
        first = viewer.wait_for_function(  # the first picture shown, read as it is shown
            """() => { const img = document.getElementById('picture');
                return img.complete && img.naturalWidth > 0 && img.getAttribute('src'); }""",
            timeout=WAIT_MS).json_value()
        later = viewer.wait_for_function(  # the picture follows the training: a later step's picture is shown
            """(first) => { const img = document.getElementById('picture');
                return img.complete && img.naturalWidth > 0 && img.getAttribute('src') !== first
                    && img.getAttribute('src'); }""",
            arg=first, timeout=WAIT_MS).json_value()  # the src seen shown (a read after it may catch the next one loading)
        steps = [int(s.split("step=")[1]) for s in (first, later)]
        assert steps[1] > steps[0]
        viewer.wait_for_function("() => /running · step/.test(document.getElementById('status').textContent)",
                                 timeout=WAIT_MS)
        viewer.wait_for_selector("#charts canvas", state="visible", timeout=WAIT_MS)
        assert "steps/s" in viewer.locator("#detail").inner_text()
        assert not page.external_requests and not [r for r in viewer_requests(viewer) if "127.0.0.1" not in r]
        screenshot(viewer, "share_watch_page")

        page.click("#stop_sharing")
        viewer.wait_for_function("() => !document.getElementById('notice').hidden", timeout=WAIT_MS)
        assert viewer.locator("#notice").inner_text() == "Its owner stopped sharing this run."
        page.click("#stop")


def test_reset_ends_the_link_and_clears_its_box(app):
    """Reset ends the shared run: the owner's link box empties and hides, and the watching screen says why."""
    from gan_demo.ui.share import RESET_WHY

    _, _, url = app
    with browser_page(width=1400, height=900, timeout_ms=WAIT_MS) as page:
        link = _start_and_share(page, url)
        assert link.startswith(url + "/watch/")
        viewer = _watch(page, link)
        viewer.wait_for_function("() => document.getElementById('picture').naturalWidth > 0", timeout=WAIT_MS)
        page.click("#reset")
        page.wait_for_selector("#share_link", state="hidden", timeout=WAIT_MS)
        page.wait_for_function("() => /Reset: the live link ended/.test(document.querySelector('#share_note').innerText)",
                               timeout=WAIT_MS)
        viewer.wait_for_function("() => !document.getElementById('notice').hidden", timeout=WAIT_MS)
        assert viewer.locator("#notice").inner_text() == RESET_WHY
        screenshot(page, "share_after_reset")


def viewer_requests(page) -> list[str]:
    """Every resource the page loaded (performance entries), so none came from elsewhere."""
    return page.evaluate("() => [location.href, ...performance.getEntriesByType('resource').map(e => e.name)]")


def test_the_projector_view_folds_the_settings_and_enlarges_the_type(app):
    _, _, url = app
    with browser_page(width=1400, height=900, timeout_ms=WAIT_MS) as page:
        open_app(page, url, ready="#start")
        assert page.locator("#train_family").is_visible()
        normal = page.evaluate("() => parseFloat(getComputedStyle(document.querySelector('#train_status')).fontSize)")
        grid_width = page.locator("#train_grid").bounding_box()["width"]
        page.locator("#projector_toggle button").click()
        page.wait_for_function("() => document.body.classList.contains('gd-projector')", timeout=WAIT_MS)
        assert "view=projector" in page.url
        assert not page.locator("#train_family").is_visible() and page.locator("#start").is_visible()
        big = page.evaluate("() => parseFloat(getComputedStyle(document.querySelector('#train_status')).fontSize)")
        assert big >= 1.5 * normal
        assert page.locator("#train_grid").bounding_box()["width"] > 1.3 * grid_width  # the picture takes the room
        # pictures first: the samples sit above the Start button
        assert page.locator("#train_grid").bounding_box()["y"] < page.locator("#start").bounding_box()["y"]
        screenshot(page, "train_projector_view")
        page.locator("#projector_toggle button").click()
        page.wait_for_function("() => !document.body.classList.contains('gd-projector')", timeout=WAIT_MS)
        assert "view=projector" not in page.url and page.locator("#train_family").is_visible()

        page.goto(url + "/?view=projector")  # the address alone opens the view (a bookmark for the projector)
        page.wait_for_selector("#start", state="visible")
        page.wait_for_function("() => document.body.classList.contains('gd-projector')", timeout=WAIT_MS)
        assert not page.locator("#train_family").is_visible()
