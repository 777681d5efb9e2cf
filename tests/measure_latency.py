"""Measure Explore's picture round trips in the browser and over HTTP (not a pytest test).

    .venv/bin/python tests/measure_latency.py [--moves 50] [--calls 50] [--pretrained DIR] [--browser-only]

(a) Browser: headless Chromium on the Explore tab. For each move, set a latent slider's value and
    dispatch `input` (as a drag does), then wait until the output <img> shows a new src that has
    loaded and decoded, plus one animation frame (tests/browser.py: SLIDER_LATENCY_JS). Moves are
    sequential: each move as soon as the last one's picture is painted (no human is that quick), then at
    a held arrow key's pace (a notch every 33 ms, `held_key_33ms`), then as mouse clicks on the sliders'
    tracks (jumps), the pointer resting 100 ms where it will press (`track_clicks_rest_100ms`). The picture comes straight from GET
    /image (gan_demo/ui/explore.js), or from the page's memory when it was fetched ahead of the hand (the
    notches next to a one-notch move); measured alone and while a digits run trains in another session. Then as
    many moves again split into phases (PHASES: Gradio's dispatch, the network, the server, the wait for
    the main thread, blob, decode, paint) with the main thread's long tasks per move.
(b) A 1 s drag: 60 input events 16.7 ms apart along a slider not moved before (three drags, three
    sliders); the distinct pictures shown during it.
(b') Interpolate's scrubber: scrub move -> frame shown, as (a), on 32 frames (first visits, then again).
(c) The latent map (9 x 9 digits): click "Draw the map" until the map is shown, in the browser; and the
    handler alone (LatentMap.draw), p50 over a few calls.
(d) REST: gradio_client `Client.predict(..., api_name="/generate")` (it polls its queue every 50 ms,
    which inflates its figures), and a raw HTTP round trip with urllib: POST /gradio_api/call/generate,
    read the event stream until `complete`, then GET the returned image file.
(e) GET /image?checkpoint=digits&seed=N: the plain PNG route beside Gradio's API (one request).
(f) A digits run's steps/s alone and while --load-clients threads call /generate back to back, and while
    they request Explore views from GET /image back to back (each thread its own viewer cookie).

Prints one JSON object: p50/p95/min/max in ms for each, and the machine's load (`uptime`) and nproc.
Uses checkpoints/digits when it exists, else a tiny conditional digits DCGAN made on the spot.
The figures are noisy on a shared machine: report them with the load.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.browser import (browser_page, chromium_path, drag_pictures, open_app, percentile,  # noqa: E402
                           serve, slider_latencies, wait_for_new_image)

SLIDER = "explore-slider-0"
IMAGE = "explore-image"


def stats(xs: list[float]) -> dict:
    return {"n": len(xs), "p50_ms": round(percentile(xs, 50), 1), "p95_ms": round(percentile(xs, 95), 1),
            "min_ms": round(min(xs), 1), "max_ms": round(max(xs), 1)}


def load() -> dict:
    up = subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()
    return {"uptime": up, "loadavg": list(os.getloadavg()), "nproc": os.cpu_count()}


def pretrained_dir(arg: str | None) -> tuple[Path, str]:
    """(folder holding a `digits` checkpoint, a note on which one)."""
    if arg:
        return Path(arg), f"{arg}/digits"
    if (ROOT / "checkpoints" / "digits" / "config.json").exists():
        return ROOT / "checkpoints", "checkpoints/digits"
    import torch

    from gan_demo.core.config import DataConfig, ModelConfig, RunConfig, TrainConfig
    from gan_demo.training.trainer import Trainer

    root = Path(tempfile.mkdtemp(prefix="gan_demo_latency_"))
    trainer = Trainer(RunConfig(data=DataConfig(dataset="digits", img_size=16),
                                model=ModelConfig(ngf=8, ndf=8, z_dim=16, conditional=True),
                                train=TrainConfig(batch_size=64, steps=1)), device="cpu")
    gen = torch.Generator().manual_seed(0)
    with torch.no_grad():  # random weights large enough that every latent gives a different picture
        for p in trainer.family.G_ema.parameters():
            if p.dim() > 1:
                p.copy_(torch.randn(p.shape, generator=gen) * 0.2)
    trainer.save(root / "digits")
    return root, "tiny digits (16 px, ngf/ndf 8, z_dim 16; checkpoints/digits absent)"


def slider_values(n: int, start: float = -2.5) -> list[float]:
    """n distinct slider positions on the 0.05 grid (each gives a new picture)."""
    return [round(start + 0.05 * i, 2) for i in range(n)]


MAP_JS = """
async () => {
  const host = document.querySelector('#map-image');
  const before = host.querySelector('img')?.getAttribute('src') ?? null;
  const t0 = performance.now();
  const shown = new Promise((resolve) => {
    const check = () => {
      const img = host.querySelector('img');
      if (!img || img.getAttribute('src') === before) return;
      obs.disconnect();
      img.decode().catch(() => {}).then(() => requestAnimationFrame(() => resolve(performance.now() - t0)));
    };
    const obs = new MutationObserver(check);
    obs.observe(host, {subtree: true, childList: true, attributes: true, attributeFilter: ['src']});
  });
  document.querySelector('#map-draw').click();
  return await shown;
}
"""


# Time stamps inside the page for the phase split (added before the app loads): when each fetch starts and
# resolves, when a body is read as a blob, and the main thread's long tasks (over 50 ms).
PHASE_INIT = """
window.__phase = [];
const stamp = (k) => window.__phase.push([k, performance.now()]);
const plainFetch = window.fetch;
window.fetch = async function (url, opts) {
  const picture = /\\/(image|explore\\/image|interpolate\\/frame)\\?/.test(String(url)) && !/[?&]ahead=1/.test(String(url));
  if (picture) stamp('fetch');
  const response = await plainFetch.apply(this, arguments);
  if (picture) stamp('response');
  return response;
};
const plainBlob = Response.prototype.blob;
Response.prototype.blob = async function () { const b = await plainBlob.apply(this, arguments); stamp('blob'); return b; };
const plainBuffer = Response.prototype.arrayBuffer;
Response.prototype.arrayBuffer = async function () { const b = await plainBuffer.apply(this, arguments); stamp('blob'); return b; };
window.__long = [];
try { new PerformanceObserver((l) => l.getEntries().forEach((e) => window.__long.push([e.startTime, e.duration])))
        .observe({type: 'longtask', buffered: false}); } catch (e) {}
"""

# One slider move at a time, split into phases (ms): input event -> the page's fetch starts (Gradio dispatches
# the event to explore.js) -> the request leaves (Resource Timing's requestStart) -> the server's first byte
# (responseStart) -> the fetch resolves on the main thread -> the body is a blob -> the <img> gets its new src
# -> decoded -> the next animation frame (painted). Also the long tasks' time on the main thread per move.
PHASES_JS = """
async ([sliderSel, imgSel, values]) => {
  const range = document.querySelector(sliderSel + ' input[type=range]');
  const host = document.querySelector(imgSel);
  const out = [];
  for (const v of values) {
    const before = host.querySelector('img')?.getAttribute('src') ?? null;
    window.__phase = []; window.__long = []; performance.clearResourceTimings();
    let t0 = 0; const t = {};
    const shown = new Promise((resolve) => {
      let fired = false;
      const check = () => {
        const img = host.querySelector('img');
        if (fired || !img || img.getAttribute('src') === before) return;
        fired = true; obs.disconnect(); t.src = performance.now();
        img.decode().catch(() => {}).then(() => { t.decoded = performance.now();
          requestAnimationFrame(() => { t.painted = performance.now(); resolve(); }); });
      };
      const obs = new MutationObserver(check);
      obs.observe(host, {subtree: true, childList: true, attributes: true, attributeFilter: ['src']});
    });
    t0 = performance.now();
    range.value = String(v);
    range.dispatchEvent(new Event('input', {bubbles: true}));
    await shown;
    await new Promise((r) => setTimeout(r, 100));  // what the move set off afterwards (Gradio events) ends too
    const first = (k) => (window.__phase.find(([name, at]) => name === k && at >= t0) || [null, NaN])[1];
    const asked = performance.getEntriesByType('resource')
      .filter((e) => /\\/(image|explore\\/image)\\?/.test(e.name) && !/[?&]ahead=1/.test(e.name));
    const res = asked.pop() || {};
    const at = [t0, first('fetch'), res.requestStart, res.responseStart, first('response'), first('blob'), t.src,
                t.decoded, t.painted];
    const memory = !window.__phase.some(([name, at]) => name === 'fetch' && at >= t0);
    if (memory) at.splice(1, 5, t0, t0, t0, t0, t0);  // no request: the picture was fetched ahead and kept
    out.push({phases: at.slice(1).map((x, i) => x - at[i]), total: t.painted - t0, memory,
              long_tasks_ms: window.__long.filter(([s]) => s >= t0).reduce((a, [, d]) => a + d, 0),
              new_connection: res.connectEnd > res.connectStart});
  }
  return out;
}
"""
PHASES = ["input -> fetch starts", "fetch -> request sent", "request -> server's first byte",
          "first byte -> fetch resolves on the main thread", "-> body read (blob)", "-> <img> src set",
          "-> decoded", "-> next frame (painted)"]


# A click on a slider's track (a jump): armed before the press, resolves with the ms from the click's `input`
# event (its timeStamp, listened for on window, ahead of the page's own listeners) until the new picture is
# decoded and one animation frame has passed.
CLICK_ARM_JS = """
([sliderSel, imgSel]) => {
  const range = document.querySelector(sliderSel + ' input[type=range]');
  const host = document.querySelector(imgSel);
  const before = host.querySelector('img')?.getAttribute('src') ?? null;
  window.__click = new Promise((resolve) => {
    let t0 = null, fired = false;
    const onInput = (e) => { if (t0 === null && e.target === range) t0 = e.timeStamp; };
    window.addEventListener('input', onInput, true);
    const check = () => {
      const img = host.querySelector('img');
      if (fired || t0 === null || !img || img.getAttribute('src') === before) return;
      fired = true; obs.disconnect(); window.removeEventListener('input', onInput, true);
      img.decode().catch(() => {}).then(() => requestAnimationFrame(() => resolve(performance.now() - t0)));
    };
    const obs = new MutationObserver(check);
    obs.observe(host, {subtree: true, childList: true, attributes: true, attributeFilter: ['src']});
    setTimeout(() => { if (!fired) { obs.disconnect(); resolve(null); } }, 20000);
  });
}
"""


def track_clicks(page, slider_ids: list[str], n: int, rest_ms: float = 100, seed: int = 0) -> list[float]:
    """ms from a mouse click on a slider's track (a jump to a value well away from the slider's) to its new
    picture painted: the pointer moves there in a few steps and rests rest_ms first, as a hand does."""
    import random

    rng, out = random.Random(seed), []
    for k in range(n):
        sel = f"#{slider_ids[k % len(slider_ids)]} input[type=range]"
        track = page.locator(sel)
        track.scroll_into_view_if_needed()
        box = track.bounding_box()
        lo, hi, now = page.evaluate("(s) => { const r = document.querySelector(s); "
                                    "return [Number(r.min), Number(r.max), Number(r.value)]; }", sel)
        f = rng.uniform(0.05, 0.95)
        while abs(lo + f * (hi - lo) - now) < 0.1 * (hi - lo):  # a jump: a tenth of the track away at least
            f = rng.uniform(0.05, 0.95)
        x, y = box["x"] + f * box["width"], box["y"] + box["height"] / 2
        page.mouse.move(x - 60, y + 40)
        page.mouse.move(x, y, steps=6)
        page.wait_for_timeout(rest_ms)
        page.evaluate(CLICK_ARM_JS, [sel.split(" ")[0], f"#{IMAGE}"])
        page.mouse.down()
        page.mouse.up()
        ms = page.evaluate("() => window.__click")
        if ms is None:
            raise RuntimeError(f"no new picture after a click on {sel} at {f:.2f} of its track")
        out.append(ms)
        page.wait_for_timeout(150)
    return out


def phase_split(page, values: list[float]) -> dict:
    """p50 (and p95) of each phase of a slider move, over `values` moves of the first slider."""
    moves = page.evaluate(PHASES_JS, [f"#{SLIDER}", f"#{IMAGE}", list(values)])
    split = {name: f"{percentile([m['phases'][i] for m in moves], 50):.1f} / "
                   f"{percentile([m['phases'][i] for m in moves], 95):.1f}" for i, name in enumerate(PHASES)}
    return {"p50 / p95 ms": split, "total": stats([m["total"] for m in moves]),
            "long_tasks_ms_per_move_p50": round(percentile([m["long_tasks_ms"] for m in moves], 50), 1),
            "moves_on_a_new_connection": sum(m["new_connection"] for m in moves),
            "moves_shown_from_memory": sum(m["memory"] for m in moves)}


def measure_browser(url: str, moves: int, ctx=None, train: bool = False) -> dict:
    """Slider move -> picture shown (sequential moves), a 1 s drag, and the latent map, in Chromium.
    train: a digits run trains in another session meanwhile."""
    session = start_digits_run(ctx, "latency-train") if train else None
    try:
        with browser_page(width=1280, height=900, timeout_ms=120_000) as page:
            page.add_init_script(PHASE_INIT)
            open_app(page, url, ready="#start")
            page.get_by_role("tab", name="Explore", exact=True).click()
            page.wait_for_selector(f"#{SLIDER} input[type=range]", state="visible")
            wait_for_new_image(page, IMAGE, None, timeout_ms=120_000)
            slider_latencies(page, SLIDER, IMAGE, slider_values(5, 2.0), timeout_ms=60_000)  # warm-up
            counts = "() => ({...(window.ganExplore.stats || {})})"
            before = page.evaluate(counts)
            lat = slider_latencies(page, SLIDER, IMAGE, slider_values(moves), timeout_ms=60_000)
            after = page.evaluate(counts)
            shown_from = {k: after[k] - before[k] for k in after}
            # a held arrow key: a notch every 33 ms (a usual key repeat, ~30 a second), on latents not yet seen
            held = slider_latencies(page, "explore-slider-4", IMAGE, slider_values(moves), timeout_ms=60_000,
                                    pace_ms=1000 / 30)
            held_from = {k: v - after[k] for k, v in page.evaluate(counts).items()}
            phases = phase_split(page, slider_values(moves, 0.05))
            # clicks on the tracks of sliders 0-3 (jumps), the pointer resting 100 ms before each press
            before_clicks = page.evaluate(counts)
            clicks = track_clicks(page, [f"explore-slider-{k}" for k in range(4)], max(20, moves // 2))
            clicks_from = {k: v - before_clicks[k] for k, v in page.evaluate(counts).items()}
            # each drag on its own slider: 60 latents never asked for before (no picture from the browser's cache)
            drags = [drag_pictures(page, f"explore-slider-{k}", IMAGE, slider_values(60, -1.5), 1000 / 60)
                     for k in (1, 2, 3)]
            page.get_by_text("Latent map", exact=True).click()
            page.wait_for_selector("#map-draw", state="visible")
            map_ms = []
            for k in range(6):  # the first warms up; the span alternates, so each map differs from the last
                page.locator("#map-span input[type=range]").fill(str(1.75 if k % 2 else 2.0))
                map_ms.append(page.evaluate(MAP_JS))
            map_ms = map_ms[1:]
            external = list(page.external_requests)
    finally:
        if session is not None:
            ctx.registry.stop(session)
    steps = None if session is None else session.trainer.step
    return {**stats(lat), "pictures": shown_from, "held_key_33ms": {**stats(held), "pictures": held_from},
            "phases": phases, "track_clicks_rest_100ms": {**stats(clicks), "pictures": clicks_from},
            "pictures_in_1s_drag": drags, "map_click_to_shown": stats(map_ms),
            "external_requests": len(external), **({"digits_run_steps_meanwhile": steps} if train else {})}


def measure_scrubber(url: str) -> dict:
    """Interpolate's scrubber: 32 frames made, then each frame scrubbed to once (a new picture each move,
    sequential moves as for the sliders), and the same 31 moves again (the browser keeps the frames it fetched)."""
    with browser_page(width=1280, height=900, timeout_ms=120_000) as page:
        open_app(page, url, ready="#start")
        page.get_by_role("tab", name="Interpolate", exact=True).click()
        page.locator("#interp-frames input[type=range]").fill("32")
        page.locator("#interp-run").click()
        wait_for_new_image(page, "interp-frame", None, timeout_ms=120_000)
        first = slider_latencies(page, "interp-scrub", "interp-frame", list(range(2, 33)), timeout_ms=60_000)
        again = slider_latencies(page, "interp-scrub", "interp-frame", list(range(1, 32)), timeout_ms=60_000)
    return {"first_visit": stats(first), "again": stats(again)}


def measure_map_handler(ctx, calls: int = 10) -> dict:
    """LatentMap.draw on the digits checkpoint (81 latents, one forward pass, the PNG-ready picture)."""
    from types import SimpleNamespace

    from gan_demo.ui.tabs.explore import Explore
    from gan_demo.ui.latent_map import LatentMap

    m = LatentMap(ctx, Explore(ctx))
    req = SimpleNamespace(session_hash="latency-map")
    lat = []
    for i in range(-2, calls):
        t0 = time.perf_counter()
        m.draw(req, "digits", i + 10, "raw", 1.0, 0, 0, 1, 9, 2.0, *([0.0] * 8))
        if i >= 0:
            lat.append((time.perf_counter() - t0) * 1000)
    return stats(lat)


def start_digits_run(ctx, name: str):
    from gan_demo.core.config import DataConfig, RunConfig, TrainConfig

    session = ctx.registry.get(name)
    ctx.registry.start(session, RunConfig(data=DataConfig(dataset="digits"), train=TrainConfig(steps=10**6)), ctx.device)
    time.sleep(2)  # past the first steps
    return session


def measure_client(url: str, calls: int) -> dict:
    from gradio_client import Client

    with tempfile.TemporaryDirectory() as tmp:
        client = Client(url, verbose=False, download_files=tmp)
        try:
            for seed in range(3):  # warm-up
                client.predict("digits", seed, 1.0, 0, api_name="/generate")
            lat = []
            for seed in range(100, 100 + calls):
                t0 = time.perf_counter()
                path = client.predict("digits", seed, 1.0, 0, api_name="/generate")
                lat.append((time.perf_counter() - t0) * 1000)
                assert Path(path).stat().st_size > 0
        finally:
            client.close()
    return stats(lat)


def raw_call(base: str, seed: int) -> tuple[float, float]:
    """(ms until the `complete` event, ms until the image file is downloaded too) for one /generate."""
    t0 = time.perf_counter()
    body = json.dumps({"data": ["digits", seed, 1.0, 0]}).encode()
    req = urllib.request.Request(f"{base}/gradio_api/call/generate", data=body,
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=60) as r:
        event_id = json.load(r)["event_id"]
    result = None
    with urllib.request.urlopen(f"{base}/gradio_api/call/generate/{event_id}", timeout=60) as stream:
        event = None
        for raw in stream:
            line = raw.decode().strip()
            if line.startswith("event:"):
                event = line.split(":", 1)[1].strip()
            elif line.startswith("data:") and event in ("complete", "error"):
                if event == "error":
                    raise RuntimeError(f"/generate failed: {line}")
                result = json.loads(line[5:])
                break
    t_complete = (time.perf_counter() - t0) * 1000
    file_url = result[0]["url"]
    with urllib.request.urlopen(file_url, timeout=60) as r:
        data = r.read()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    return t_complete, (time.perf_counter() - t0) * 1000


def measure_raw(url: str, calls: int) -> tuple[dict, dict]:
    base = url.rstrip("/")
    for seed in range(3):
        raw_call(base, seed)
    complete, with_file = [], []
    for seed in range(200, 200 + calls):
        a, b = raw_call(base, seed)
        complete.append(a)
        with_file.append(b)
    return stats(complete), stats(with_file)


def measure_get_image(url: str, calls: int) -> dict:
    """GET /image?checkpoint=digits&seed=N: one plain HTTP request, the PNG in the response (no queue)."""
    base = url.rstrip("/")
    lat = []
    for seed in range(-3, calls):  # three warm-up calls
        t0 = time.perf_counter()
        with urllib.request.urlopen(f"{base}/image?checkpoint=digits&seed={300 + seed}&label=0", timeout=60) as r:
            data = r.read()
        assert data[:8] == b"\x89PNG\r\n\x1a\n"
        if seed >= 0:
            lat.append((time.perf_counter() - t0) * 1000)
    return stats(lat)


def explore_view_call(base: str, seed: int, opener) -> None:
    """One Explore view from GET /image (what a slider move fetches)."""
    offsets = ",".join(["0.5"] + ["0"] * 7)
    with opener.open(f"{base}/image?checkpoint=digits&seed={seed}&label=0&truncation=1&mode=raw&offsets={offsets}",
                     timeout=60) as r:
        r.read()


def measure_training_under_load(ctx, url: str, clients: int, seconds: float, kind: str = "generate") -> dict:
    """steps/s of a live digits run alone, then while `clients` threads call /generate (kind "generate") or
    request Explore views from GET /image (kind "image", each thread a browser with its own cookie) back to back."""
    import http.cookiejar
    import threading
    import urllib.error

    session = start_digits_run(ctx, "latency-load")
    trainer = session.trainer

    def rate() -> float:
        s0, t0 = trainer.step, time.perf_counter()
        time.sleep(seconds)
        return (trainer.step - s0) / (time.perf_counter() - t0)

    alone = rate()
    stop = threading.Event()
    served, refused = [0], [0]

    def hammer(i: int) -> None:
        seed = 1000 * i
        opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()))
        while not stop.is_set():
            try:
                if kind == "generate":
                    raw_call(url.rstrip("/"), seed)
                else:
                    explore_view_call(url.rstrip("/"), seed, opener)
                served[0] += 1
            except urllib.error.HTTPError as exc:
                if exc.code != 429:
                    raise
                refused[0] += 1
                time.sleep(0.05)
            seed += 1

    threads = [threading.Thread(target=hammer, args=(i,), daemon=True) for i in range(clients)]
    for t in threads:
        t.start()
    loaded = rate()
    stop.set()
    for t in threads:
        t.join(60)
    ctx.registry.stop(session)
    return {"clients": clients, "seconds": seconds, "kind": kind, "steps_per_s_alone": round(alone, 2),
            "steps_per_s_under_load": round(loaded, 2), "ratio": round(loaded / alone, 2),
            "calls_served": served[0], "calls_refused_429": refused[0]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--moves", type=int, default=50, help="slider moves in the browser (default 50)")
    parser.add_argument("--calls", type=int, default=50, help="API calls of each kind (default 50)")
    parser.add_argument("--pretrained", help="folder with a `digits` checkpoint (default: checkpoints/ or a tiny one)")
    parser.add_argument("--no-browser", action="store_true", help="only the REST figures")
    parser.add_argument("--browser-only", action="store_true", help="only the browser figures (no REST, no load)")
    parser.add_argument("--load-clients", type=int, default=20,
                        help="REST clients calling /generate while a digits run trains (0: skip; default 20)")
    parser.add_argument("--load-seconds", type=float, default=20, help="seconds per steps/s measurement (default 20)")
    args = parser.parse_args()

    import gradio as gr

    from gan_demo.ui import AppContext, build_demo
    from gan_demo.ui.app import CSS, MAX_UPLOAD

    root, which = pretrained_dir(args.pretrained)
    out = {"checkpoint": which, "device": "cpu", "load_before": load()}
    ctx = AppContext.create(device="cpu", pretrained=root)
    demo = build_demo(ctx)
    demo.queue(default_concurrency_limit=8)
    with serve(demo, max_file_size=MAX_UPLOAD, enable_monitoring=False, footer_links=["api"],
               theme=gr.themes.Soft(), css=CSS) as url:
        if args.no_browser or chromium_path() is None:
            out["browser_slider_to_image"] = "skipped (no chromium)" if not args.no_browser else "skipped"
        else:
            out["browser_slider_to_image"] = measure_browser(url, args.moves)
            out["browser_slider_to_image_while_digits_trains"] = measure_browser(url, args.moves, ctx, train=True)
            out["browser_interpolate_scrub_to_frame"] = measure_scrubber(url)
        if args.browser_only:
            out["load_after"] = load()
            print(json.dumps(out, indent=1))
            return
        out["latent_map_handler"] = measure_map_handler(ctx)
        out["api_gradio_client_generate"] = measure_client(url, args.calls)
        complete, with_file = measure_raw(url, args.calls)
        out["api_http_generate_until_complete"] = complete
        out["api_http_generate_with_file_get"] = with_file
        out["http_get_image"] = measure_get_image(url, args.calls)
        if args.load_clients:
            out["training_under_generate_load"] = measure_training_under_load(ctx, url, args.load_clients,
                                                                              args.load_seconds)
            out["training_under_image_load"] = measure_training_under_load(ctx, url, args.load_clients,
                                                                           args.load_seconds, kind="image")
    out["load_after"] = load()
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
