"""Browser-test helpers: headless Debian chromium via Playwright against an in-process Gradio app."""
from __future__ import annotations

import contextlib
import os
import shutil
import socket
import tempfile
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlparse

# Flags for a quiet, offline, container-friendly headless chromium. The host-resolver rule makes
# every host except localhost/127.0.0.1 unresolvable, so the page can never reach the internet
# (without the 127.0.0.1 exclusion even the app's own URL fails with ERR_NAME_NOT_RESOLVED).
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
    "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE localhost, EXCLUDE 127.0.0.1",
]
LOCAL_HOSTS = {"127.0.0.1", "localhost", "::1", "[::1]"}


def chromium_path() -> str | None:
    """The chromium executable: $GAN_DEMO_CHROMIUM, else `chromium`/`chromium-browser` on PATH."""
    candidates = [os.environ.get("GAN_DEMO_CHROMIUM"), "chromium", "chromium-browser"]
    for name in candidates:
        if name and (path := shutil.which(name)):
            return path
    return None


def require_browser() -> str:
    """Return the chromium path, or pytest.skip (works in a test, a fixture or at module level)."""
    import pytest

    if os.environ.get("GAN_DEMO_SKIP_BROWSER"):
        pytest.skip("browser tests disabled by GAN_DEMO_SKIP_BROWSER", allow_module_level=True)
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        pytest.skip("playwright is not installed", allow_module_level=True)
    path = chromium_path()
    if path is None:
        pytest.skip("no chromium executable on PATH", allow_module_level=True)
    return path


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def serve(demo: Any, **launch_kwargs: Any) -> Iterator[str]:
    """Launch a gr.Blocks in this process on a free port; yield its URL; close it afterwards."""
    kwargs = dict(prevent_thread_lock=True, quiet=True, server_name="127.0.0.1", server_port=free_port())
    kwargs.update(launch_kwargs)
    _, url, _ = demo.launch(**kwargs)
    if getattr(demo, "ctx", None) is not None:  # as gan_demo.ui.app.launch does: the plain picture routes
        from gan_demo.ui.app import add_image_route

        add_image_route(demo)
    try:
        yield url
    finally:
        demo.close(verbose=False)


@contextlib.contextmanager
def launched_app(pretrained, max_runs: int = 2) -> Iterator[tuple[Any, Any, str]]:
    """The app on pretrained runs, launched in this process as `python app.py` queues it: (ctx, demo, url
    without its trailing slash); every session's run is stopped afterwards."""
    from gan_demo.ui import AppContext, build_demo

    ctx = AppContext.create(device="cpu", pretrained=pretrained, max_runs=max_runs)
    demo = build_demo(ctx)
    demo.queue(default_concurrency_limit=8)
    try:
        with serve(demo, show_error=True, enable_monitoring=False) as url:
            yield ctx, demo, url.rstrip("/")
    finally:
        ctx.registry.close()


@contextlib.contextmanager
def browser_pages(
    *, width: int = 1200, height: int = 900, timeout_ms: float = 20_000
) -> Iterator[Any]:
    """Yield `new_page()`: each call opens a Playwright Page in a fresh browser context (its own renderer, no
    cookies or state from the pages before) of one headless chromium with HOME in a temp dir.

    `page.external_requests` lists every request of that page that was not to localhost (and not
    data:/blob:); such requests fail in the browser, so a test can assert the list is empty.
    `new_page.external_requests` lists those of every page it opened.
    """
    executable = require_browser()
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory(prefix="gan_demo_browser_") as home:
        env = {**os.environ, "HOME": home, "XDG_CONFIG_HOME": f"{home}/.config",
               "XDG_CACHE_HOME": f"{home}/.cache"}
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=executable, headless=True,
                                        args=CHROMIUM_ARGS, env=env)
            every: list[str] = []

            def new_page() -> Any:
                context = browser.new_context(viewport={"width": width, "height": height})
                context.set_default_timeout(timeout_ms)
                page = context.new_page()
                page.external_requests = []

                def _record(request: Any) -> None:
                    url = request.url
                    if url.startswith(("data:", "blob:", "about:")):
                        return
                    if urlparse(url).hostname not in LOCAL_HOSTS:
                        page.external_requests.append(url)
                        every.append(url)

                page.on("request", _record)
                return page

            new_page.external_requests = every
            try:
                yield new_page
            finally:
                browser.close()


@contextlib.contextmanager
def browser_page(
    *, width: int = 1200, height: int = 900, timeout_ms: float = 20_000
) -> Iterator[Any]:
    """Yield one Playwright Page in headless chromium with HOME in a temp dir (browser_pages' first page)."""
    with browser_pages(width=width, height=height, timeout_ms=timeout_ms) as new_page:
        yield new_page()


def open_app(page: Any, url: str, ready: str = "footer") -> None:
    """Go to the app and wait until `ready` (a CSS selector, e.g. "#start") is visible."""
    page.goto(url)
    page.wait_for_selector(ready, state="visible")


def click_tab(page: Any, name: str) -> None:
    """Select a gr.Tab by its label (the button has role="tab")."""
    page.get_by_role("tab", name=name, exact=True).click()


def set_slider(page: Any, elem_id: str, value: float) -> None:
    """Move a gr.Slider (by elem_id) as a user would: fires its .input and .change events."""
    page.locator(f"#{elem_id} input[type=range]").fill(str(value))


def image_src(page: Any, elem_id: str) -> str | None:
    """The src URL of the <img> shown by a gr.Image output (None while it is empty)."""
    img = page.locator(f"#{elem_id} img")
    return img.first.get_attribute("src") if img.count() else None


def wait_for_new_image(page: Any, elem_id: str, old_src: str | None, timeout_ms: float = 20_000) -> str:
    """Wait until the gr.Image's <img> has a src other than `old_src` and has loaded; return it. On a timeout the
    failure says what the page showed then (the image, the Train tab's status line, the live route's counters)."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    try:
        page.wait_for_function(
            """([sel, old]) => { const img = document.querySelector(sel);
                   return img && img.getAttribute('src') !== old && img.complete && img.naturalWidth > 0; }""",
            arg=[f"#{elem_id} img", old_src],
            timeout=timeout_ms,
        )
    except PlaywrightTimeout as e:
        seen = page.evaluate("""(sel) => { const img = document.querySelector(sel), st = document.querySelector('#train_status');
            return {img: img ? (img.getAttribute('src') || '').slice(0, 60) : null, status: st ? st.innerText : null,
                    live: window.ganLive ? window.ganLive.stats : null}; }""", f"#{elem_id} img")
        raise AssertionError(f"no new picture in #{elem_id} after {timeout_ms / 1000:g} s; the page showed {seen}") from e
    return image_src(page, elem_id)


# Sets the slider, fires `input`, and resolves with the milliseconds until the output <img> shows a
# new src that has loaded and decoded (then one animation frame, i.e. about when it is painted).
SLIDER_LATENCY_JS = """
async ([sliderSel, imgSel, values, timeoutMs, paceMs]) => {
  const range = document.querySelector(sliderSel + ' input[type=range]');
  const host = document.querySelector(imgSel);
  const out = [];
  for (const v of values) {
    const before = host.querySelector('img')?.getAttribute('src') ?? null;
    let t0 = 0;
    const shown = new Promise((resolve, reject) => {
      const timer = setTimeout(() => { obs.disconnect(); reject(new Error('no new image for ' + v)); }, timeoutMs);
      let fired = false;
      const check = () => {
        const img = host.querySelector('img');
        if (fired || !img || img.getAttribute('src') === before) return;
        fired = true; obs.disconnect();
        img.decode().catch(() => {}).then(() => requestAnimationFrame(() => {
          clearTimeout(timer); resolve(performance.now() - t0); }));
      };
      const obs = new MutationObserver(check);
      obs.observe(host, {subtree: true, childList: true, attributes: true, attributeFilter: ['src']});
    });
    t0 = performance.now();
    range.value = String(v);
    range.dispatchEvent(new Event('input', {bubbles: true}));
    out.push(await shown);
    const rest = paceMs - (performance.now() - t0);  // the next move no sooner than paceMs after this one
    if (rest > 0) await new Promise((r) => setTimeout(r, rest));
  }
  return out;
}
"""


def slider_latencies(page: Any, slider_id: str, image_id: str, values: list[float],
                     timeout_ms: float = 20_000, pace_ms: float = 0) -> list[float]:
    """Milliseconds from each slider move (input event) to the new image painted, one move at a time: each
    move as soon as the last one's picture is painted, or (pace_ms) no sooner than pace_ms after it."""
    return page.evaluate(SLIDER_LATENCY_JS, [f"#{slider_id}", f"#{image_id}", list(values), timeout_ms, pace_ms])


# Fires `input` events along a slider as a drag does (one every everyMs, not waiting for pictures) and
# resolves with the number of distinct pictures the output <img> showed during the drag.
DRAG_JS = """
async ([sliderSel, imgSel, values, everyMs]) => {
  const range = document.querySelector(sliderSel + ' input[type=range]');
  const host = document.querySelector(imgSel);
  const seen = new Set();
  const obs = new MutationObserver(() => { const img = host.querySelector('img'); if (img) seen.add(img.src); });
  obs.observe(host, {subtree: true, childList: true, attributes: true, attributeFilter: ['src']});
  for (const v of values) {
    range.value = String(v);
    range.dispatchEvent(new Event('input', {bubbles: true}));
    await new Promise((r) => setTimeout(r, everyMs));
  }
  obs.disconnect();
  return seen.size;
}
"""


def drag_pictures(page: Any, slider_id: str, image_id: str, values: list[float], every_ms: float) -> int:
    """Distinct pictures shown while `values` are sent as a drag's input events, one every every_ms."""
    return page.evaluate(DRAG_JS, [f"#{slider_id}", f"#{image_id}", list(values), every_ms])


def percentile(xs: list[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100) of a non-empty list."""
    s = sorted(xs)
    k = max(0, min(len(s) - 1, round(q / 100 * len(s) + 0.5) - 1))
    return s[k]
