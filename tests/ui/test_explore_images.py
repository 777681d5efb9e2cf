"""Explore's picture routes (GET /image with a view, /explore/image by token, /interpolate/frame), their
refusals and rate limit, the latent map, and the readout's honest D score, on tiny checkpoints."""
from __future__ import annotations

import contextlib
import io
from types import SimpleNamespace
from urllib.parse import unquote, urlencode

import numpy as np
import pytest
import torch
from PIL import Image

gr = pytest.importorskip("gradio")

from fastapi import FastAPI  # noqa: E402
from starlette.testclient import TestClient  # noqa: E402

from gan_demo.core.config import DataConfig, ModelConfig, RunConfig, TrainConfig  # noqa: E402
from gan_demo.ui.tabs import explore as explore_tab
from gan_demo.ui.tabs import interpolate as interpolate_tab
from gan_demo.ui import widgets
from gan_demo.ui import latent_map  # noqa: E402
from gan_demo.ui.app import AppContext, RenderGate  # noqa: E402
from gan_demo.ui.explore_images import VIEWER_COOKIE, RateLimit, add_routes, image_routes  # noqa: E402
from gan_demo.ui.widgets import N_SLIDERS, PCA, RAW  # noqa: E402

ZEROS = [0.0] * N_SLIDERS


@pytest.fixture(scope="module")
def ctx(pretrained):
    ctx = AppContext.create(device="cpu", pretrained=pretrained)
    with gr.Blocks():  # api.register sets ctx.image_route (the plain GET /image)
        from gan_demo.ui import api

        api.register(ctx)
    return ctx


@pytest.fixture(scope="module")
def explore(ctx):
    return explore_tab.Explore(ctx)


@pytest.fixture
def http(ctx):
    app = FastAPI()
    add_routes(app, ctx)
    with TestClient(app) as client:
        yield client


@pytest.fixture
def request_(request):
    return SimpleNamespace(session_hash=f"test-{request.node.name}")


def pixels(data) -> np.ndarray:
    picture = data if isinstance(data, Image.Image) else Image.open(io.BytesIO(data))
    return np.asarray(picture.convert("RGB"))


def at(route: str, params: dict) -> str:
    """A route that already holds a query (?token=...), with more parameters."""
    return f"{route}&{urlencode(params)}"


def query(offsets=ZEROS, **extra) -> dict:
    return {"seed": 3, "truncation": 0.8, "label": 2, "mode": RAW, "offsets": ",".join(str(v) for v in offsets),
            **extra}


# ------------------------------------------------------------------------------- the fast picture
def test_get_image_with_a_view_is_the_picture_and_score_explore_shows(http, explore, request_):
    offsets = [1.5, -0.5] + ZEROS[2:]
    r = http.get("/image", params={"checkpoint": "digits", **query(offsets)})
    assert r.status_code == 200 and r.headers["content-type"] == "image/png"
    picture, text = explore.render(request_, "digits", 3, RAW, 0.8, 2, *offsets)
    own = Image.open(io.BytesIO(r.content))  # the sample at its own size, enlarged by the page (crisp pixels)
    assert own.size == (16, 16) and r.headers["X-Pixelated"] == "320"
    assert np.array_equal(pixels(own.resize(picture.size, Image.Resampling.NEAREST)), pixels(picture))
    view = http.get("/image", params={"checkpoint": "digits", **query(offsets), "size": "view"})  # the download
    assert np.array_equal(pixels(view.content), pixels(picture)) and "X-Pixelated" not in view.headers
    assert f"D(x) = {float(r.headers['X-Score']):.3f}" in text
    # the readout for the same latent reuses that score and says the same
    assert explore.describe(request_, "digits", 3, RAW, 0.8, 2, *offsets) == text
    pca = http.get("/image", params={"checkpoint": "digits", **query(offsets, mode=PCA), "size": "view"})
    assert np.array_equal(pixels(pca.content), pixels(explore.render(request_, "digits", 3, PCA, 0.8, 2, *offsets)[0]))
    plain = http.get("/image", params={"checkpoint": "digits", "seed": 3})  # without a view: the API's picture, as before
    assert plain.status_code == 200 and "max-age" in plain.headers["cache-control"]


def test_a_session_token_serves_its_own_run_and_only_in_the_browser_that_used_it(ctx, http, explore, request_):
    session = ctx.registry.get(request_.session_hash)
    ctx.registry.start(session, RunConfig(data=DataConfig(dataset="ring8", n_points=1000), model=ModelConfig(width=16),
                                          train=TrainConfig(batch_size=64, steps=10**6)), "cpu")
    try:
        route = explore.route(request_, "current run")
        assert route.startswith("/explore/image?token=") and len(route) > 40
        assert explore.route(request_, "digits").startswith("/image?checkpoint=digits")
        first = http.get(at(route, query(label="")))
        assert first.status_code == 200 and first.headers["content-type"] == "image/png"
        assert VIEWER_COOKIE in first.cookies
        assert http.get(at(route, query(label=""))).status_code == 200  # the same browser again
        with TestClient(http.app) as other:  # another visitor's browser holding the same link
            stolen = other.get(at(route, query(label="")))
            assert stolen.status_code == 403 and "another visitor" in stolen.text
        assert http.get("/explore/image", params={"token": "x" * 24, **query()}).status_code == 404
    finally:
        ctx.registry.stop(session)
    ctx.registry.drop(request_.session_hash)  # the session ends: its token with it
    gone = http.get(at(route, query(label="")))
    assert gone.status_code == 404 and "expired" in gone.text


def test_a_projected_latent_is_served_by_the_session_route(ctx, http, explore, request_):
    session = ctx.registry.get(request_.session_hash)
    z = torch.randn(16, generator=torch.Generator().manual_seed(5))
    session.projected = {"checkpoint": "digits", "z": z.tolist(), "label": 2, "what": "your image"}
    route = explore.route(request_, "digits")
    assert route.startswith("/explore/image?token=")  # the projected z is the session's, not a public picture
    r = http.get(at(route, query([0.5] + ZEROS[1:], size="view")))
    picture, text = explore.render(request_, "digits", 3, RAW, 0.8, 2, *([0.5] + ZEROS[1:]))
    assert "projected z (your image)" in text and np.array_equal(pixels(r.content), pixels(picture))
    typed = http.get(at(route, query([0.5] + ZEROS[1:], size="view", **{"from": "seed"})))  # a typed seed leaves the projection
    assert not np.array_equal(pixels(typed.content), pixels(picture))
    text, new_route = explore.seed_typed(request_, "digits", 3, RAW, 0.8, 2, *ZEROS)
    assert session.projected is None and new_route.startswith("/image?") and "seed 3" in text


@pytest.mark.parametrize("params, words", [
    ({"seed": "-1"}, "seed must be between"),
    ({"seed": "abc"}, "seed must be a whole number"),
    ({"seed": str(10**30)}, "seed must be between"),
    ({"truncation": "nan"}, "truncation must be between"),
    ({"truncation": "9"}, "truncation must be between"),
    ({"label": "10"}, "label must be between"),
    ({"mode": "../../etc/passwd"}, "mode must be"),
    ({"offsets": "1,2,3,4,5,6,7,8,9"}, "at most 8 numbers"),
    ({"offsets": "inf"}, "offsets must be between"),
    ({"offsets": "99"}, "offsets must be between"),
    ({"checkpoint": "../digits"}, "checkpoint: one of"),
    ({"checkpoint": "ring8", "label": "1"}, "not class-conditional"),
    ({"size": "huge"}, "size must be"),
    ({"ahead": "yes"}, "ahead must be 0 or 1"),
    ({"along": "0", "values": "0.1"}, "for look-aheads only"),
    ({"ahead": "1", "along": "8", "values": "0.1"}, "along must be between 0 and 7"),
    ({"ahead": "1", "along": "../x", "values": "0.1"}, "along must be a whole number"),
    ({"ahead": "1", "along": "0", "values": ""}, "values: 1 to 8 numbers"),
    ({"ahead": "1", "along": "0", "values": ",".join(["0.1"] * 9)}, "values: 1 to 8 numbers"),
    ({"ahead": "1", "along": "0", "values": "0.1,nan"}, "values must be between"),
    ({"ahead": "1", "along": "truncation", "values": "4"}, "values must be between 0 and 3"),
])
def test_absurd_values_get_a_4xx_with_one_sentence(http, params, words):
    r = http.get("/image", params={"checkpoint": "digits", **query(), **params})
    assert 400 <= r.status_code < 500, r.text
    assert words in r.text and "Traceback" not in r.text and "\n" not in r.text.strip() and len(r.text) < 300
    assert "/tmp" not in r.text and "site-packages" not in r.text


def test_offsets_past_the_checkpoints_axes_are_refused(ctx, http):
    pcs = ctx.catalog.sampler("ring8").directions(N_SLIDERS)[0].shape[0]
    assert pcs < N_SLIDERS  # a 2D generator's outputs have 2 principal directions
    moved = ["0"] * N_SLIDERS
    moved[pcs] = "1"
    r = http.get("/image", params={"checkpoint": "ring8", **query(label=""), "mode": PCA, "offsets": ",".join(moved)})
    assert r.status_code == 400 and f"has {pcs} principal directions" in r.text


@pytest.fixture
def small_limit(ctx):
    """The image routes' per-viewer limit at 10 a second, a burst of 3, on a clock the test moves (now[0])."""
    routes = image_routes(ctx)
    saved, now = routes.limit, [0.0]
    routes.limit = RateLimit(rate=10, burst=3, clock=lambda: now[0])
    yield now
    routes.limit = saved


def test_a_flood_from_one_viewer_is_refused_and_others_still_served(http, small_limit):
    now = small_limit
    assert http.get("/image", params={"checkpoint": "digits", "seed": 1}).status_code == 200  # sets the cookie
    codes = [http.get("/image", params={"checkpoint": "digits", "seed": 1}).status_code for _ in range(5)]
    assert codes[:2] == [200, 200] and codes[-1] == 429
    flooded = http.get("/image", params={"checkpoint": "digits", "seed": 1})
    assert flooded.headers["retry-after"] == "1" and "Too many" in flooded.text
    with TestClient(http.app) as other:  # another visitor is not held back by the flood
        assert other.get("/image", params={"checkpoint": "digits", "seed": 1}).status_code == 200
    now[0] += 1.0  # a second later the bucket has refilled
    assert http.get("/image", params={"checkpoint": "digits", "seed": 1}).status_code == 200


def test_a_look_ahead_is_declined_while_a_run_trains(ctx, http):
    """A picture fetched before the hand gets there (ahead=1) is drawn only while nothing trains: otherwise it
    gets 204 at once, never waiting for the render gate; a picture asked for waits its turn."""
    saved = ctx.render_gate
    now, slept, training = [100.0], [], [True]
    ctx.render_gate = RenderGate(training=lambda: training[0], clock=lambda: now[0], sleep=slept.append)
    params = {"checkpoint": "digits", **query([0.25] + ZEROS[1:])}
    try:
        assert http.get("/image", params=params).status_code == 200  # a render just now
        ahead = http.get("/image", params={**params, "ahead": "1"})
        assert ahead.status_code == 204 and ahead.content == b"" and slept == []
        asked = http.get("/image", params=params)  # the same picture asked for: spaced, not refused
        assert asked.status_code == 200 and len(slept) == 1
        now[0] += 1.0  # the gate's spacing is over, but the run still trains
        assert http.get("/image", params={**params, "ahead": "1"}).status_code == 204 and len(slept) == 1
        training[0] = False  # nothing training: a look-ahead is drawn at once
        ahead = http.get("/image", params={**params, "ahead": "1"})
        assert ahead.status_code == 200 and ahead.content == asked.content and "max-age" in ahead.headers["cache-control"]
    finally:
        ctx.render_gate = saved


@pytest.mark.parametrize("checkpoint, along, values", [("digits", "1", [-0.05, 0.1, 0.15, 3.0]),
                                                      ("digits", "truncation", [0.5, 0.85]),
                                                      ("ring8", "0", [0.25, -1.0])])
def test_a_look_ahead_of_several_notches_is_each_notchs_own_picture(ctx, http, checkpoint, along, values):
    """ahead=1&along=K&values=...: one answer holding, in order, the same bytes, readout and score that a
    request for each notch alone gets (the page keys each by that request's URL)."""
    base = query([0.5, 0.25] + ZEROS[2:], **({"label": ""} if checkpoint == "ring8" else {}))
    r = http.get("/image", params={"checkpoint": checkpoint, **base, "ahead": "1", "along": along,
                                   "values": ",".join(map(str, values))})
    assert r.status_code == 200 and r.headers["content-type"] == "application/octet-stream", r.text
    assert "max-age" in r.headers["cache-control"] and r.headers["x-part-type"] == "image/png"
    lengths = [int(n) for n in r.headers["x-parts"].split(",")]
    readouts, scores = r.headers["x-readouts"].split(","), r.headers["x-scores"].split(",")
    assert len(lengths) == len(readouts) == len(scores) == len(values) and sum(lengths) == len(r.content)
    at_ = 0
    for value, n, readout, score in zip(values, lengths, readouts, scores):
        alone = dict(base)
        if along == "truncation":
            alone["truncation"] = value
        else:
            offsets = [0.5, 0.25] + ZEROS[2:]
            offsets[int(along)] = value
            alone["offsets"] = ",".join(str(v) for v in offsets)
        one = http.get("/image", params={"checkpoint": checkpoint, **alone})
        assert one.status_code == 200
        assert r.content[at_:at_ + n] == one.content  # the same PNG, byte for byte
        assert readout == one.headers["x-readout"] and score == one.headers["x-score"]
        assert r.headers.get("x-pixelated") == one.headers.get("x-pixelated")
        at_ += n


def test_a_look_ahead_of_several_notches_is_declined_while_a_run_trains(ctx, http):
    saved = ctx.render_gate
    ctx.render_gate = RenderGate(training=lambda: True)
    try:
        r = http.get("/image", params={"checkpoint": "digits", **query(), "ahead": "1", "along": "0",
                                       "values": "0.1,0.2"})
        assert r.status_code == 204 and r.content == b""
    finally:
        ctx.render_gate = saved


def test_a_look_ahead_of_several_notches_counts_each_against_the_rate_limit(http, small_limit):
    """The viewer's limit is on pictures drawn: a look-ahead of three notches takes three tokens, as three
    requests did."""
    now = small_limit
    assert http.get("/image", params={"checkpoint": "digits", "seed": 1}).status_code == 200  # sets the cookie
    ahead = {"checkpoint": "digits", **query(), "ahead": "1", "along": "0", "values": "0.1,0.2,0.3"}
    assert http.get("/image", params=ahead).status_code == 200  # three tokens of three
    assert http.get("/image", params={"checkpoint": "digits", "seed": 1}).status_code == 429
    now[0] += 0.25  # two and a half tokens back: not enough for three notches, enough for one picture
    assert http.get("/image", params=ahead).status_code == 429
    assert http.get("/image", params={"checkpoint": "digits", "seed": 1}).status_code == 200


def test_rate_limit_allows_a_hands_pace_forever():
    now = [0.0]
    limit = RateLimit(rate=60, burst=120, clock=lambda: now[0])
    for _ in range(600):  # ten seconds of input events at 60 a second
        assert limit.allow("viewer")
        now[0] += 1 / 60


# ---------------------------------------------------------------------------------- latent map
def test_axis_values_stay_on_the_slider_grid_and_range():
    assert latent_map.axis_values(0.0, 2.0, 9) == [-2.0, -1.5, -1.0, -0.5, 0.0, 0.5, 1.0, 1.5, 2.0]
    shifted = latent_map.axis_values(2.9, 1.0, 5)
    assert shifted[-1] == 3.0 and shifted[0] == 1.0
    assert all(abs(v / 0.05 - round(v / 0.05)) < 1e-6 for v in latent_map.axis_values(0.3, 1.3, 7))


@pytest.mark.parametrize("mode", [RAW, PCA])
def test_the_map_is_the_grid_of_latents_and_a_click_moves_there(ctx, explore, request_, mode):
    m = latent_map.LatentMap(ctx, explore)
    offsets = [0.5, 0.0, -1.0] + ZEROS[3:]
    picture, caption, state = m.draw(request_, "digits", 4, mode, 1.0, 1, 0, 2, 5, 1.0, *offsets)
    assert "5 × 5 latents" in caption and state["xs"] == [-0.5, 0.0, 0.5, 1.0, 1.5]
    z = latent_map.map_latents(ctx.catalog.sampler("digits"), 4, mode, offsets, None, 0, 2, state["xs"], state["ys"])
    moved = list(offsets)
    moved[0], moved[2] = state["xs"][3], state["ys"][-1]  # top row (largest y), fourth column
    assert torch.allclose(z[3], widgets.latent_of(ctx.catalog.sampler("digits"), 4, mode, moved)[0], atol=1e-5)
    cell = state["cell"]
    out = m.click(request_, SimpleNamespace(index=[3 * cell + cell // 2, cell // 2]), state, "digits", 4, mode, 1.0, 1,
                  *offsets)
    sliders = out[1:1 + N_SLIDERS]
    assert sliders[0]["value"] == moved[0] and sliders[2]["value"] == moved[2]
    shown, text = explore.render(request_, "digits", 4, mode, 1.0, 1, *moved)
    assert np.array_equal(pixels(out[-2]), pixels(shown)) and out[-1] == text
    # the clicked cell of the map is that same sample (enlarged)
    grid = pixels(out[0])
    tile = grid[1 + 1:cell - 1, 1 + 3 * cell + 1:3 * cell + cell - 1]
    assert tile.std() > 0


def test_a_2d_generators_map_is_its_decoded_mesh(ctx, explore, request_):
    m = latent_map.LatentMap(ctx, explore)
    picture, caption, state = m.draw(request_, "ring8", 0, RAW, 1.0, None, 0, 1, 9, 3.0, *ZEROS)
    assert "decoded manifold" in caption and len(state["pixels"]) == 81
    points = torch.tensor(state["pixels"])
    gaps = torch.cdist(points, points) + torch.eye(81) * 1e9
    i = int(gaps.min(1).values.argmax())  # the grid point farthest from the others: a click on it is unambiguous
    assert float(gaps[i].min()) > 0.5
    u, v = state["pixels"][i]
    out = m.click(request_, SimpleNamespace(index=[u + 0.1, v]), state, "ring8", 0, RAW, 1.0, None, *ZEROS)
    assert out[1]["value"] == state["xs"][i % 9] and out[2]["value"] == state["ys"][8 - i // 9]


def test_bad_map_requests_are_explained(ctx, explore, request_):
    m = latent_map.LatentMap(ctx, explore)
    for axes, words in (((0, 0, 9, 2.0), "two different axes"), ((0, 99, 9, 2.0), "among the"),
                        ((0, 1, 200, 2.0), "cells a side"), ((0, 1, 9, float("nan")), "span")):
        picture, caption, state = m.draw(request_, "digits", 0, RAW, 1.0, 0, *axes, *ZEROS)
        assert caption.startswith("⚠") and words in caption


# ------------------------------------------------------------------------------ readout, 2D, frames
def test_the_readout_says_what_a_usual_score_is_for_this_model(explore, request_):
    _, text = explore.render(request_, "digits", 0, RAW, 1.0, 0, *ZEROS)
    assert "usual value is" in text and "hovers around 0.5" not in text
    low, mid, high = widgets.typical_scores(explore.ctx.catalog.sampler("digits"))
    assert low <= mid <= high and f"{mid:.3f}" in text


def test_a_2d_view_shows_the_real_data(explore, request_):
    picture, text = explore.render(request_, "ring8", 0, RAW, 1.0, None, *ZEROS)
    rgb = pixels(picture).astype(int)
    from gan_demo.render.viz import REAL_COLOR

    greenish = np.all(np.abs(rgb - np.array(REAL_COLOR)) < 30, axis=-1)
    assert greenish.sum() > 30 and "green = the real data" in text


def test_interpolate_keeps_its_frames_for_the_scrubber(ctx, http, request_):
    interp = interpolate_tab.Interpolate(ctx)
    out = interp.run_with_scrubber(request_, "digits", "seed", 0, None, "seed", 1, None, "slerp", 6, False, 1.0, 0, 80)
    scrub, first, route = out[4:]
    assert scrub["maximum"] == 6 and scrub["visible"] and first["visible"]
    frames = [http.get(at(route, {"i": i})) for i in range(6)]
    assert all(f.status_code == 200 for f in frames)
    assert np.array_equal(pixels(frames[0].content), pixels(first["value"]))
    assert not np.array_equal(pixels(frames[0].content), pixels(frames[5].content))
    assert http.get(at(route, {"i": 6})).status_code == 400
    assert http.get(at(route.replace("set=", "set=x"), {"i": 0})).status_code == 404


# ------------------------------------------------------------------------------------- browser
SAME_BYTES_JS = """
async ([a, b]) => {
  const get = async (u) => new Uint8Array(await (await fetch(u)).arrayBuffer());
  const [x, y] = await Promise.all([get(a), get(b)]);
  return x.length === y.length && x.every((v, i) => v === y[i]);
}
"""


def test_in_the_browser_pictures_follow_a_drag_the_latest_wins_and_the_map_and_scrubber_work(ctx):
    from tests.browser import (browser_page, click_tab, drag_pictures, image_src, open_app, serve, set_slider,
                         wait_for_new_image)

    with gr.Blocks() as demo:
        with gr.Tabs():
            with gr.Tab("Explore", id="explore"):
                explore_tab.build(ctx)
            with gr.Tab("Interpolate", id="interpolate"):
                interpolate_tab.build(ctx)
    demo.queue()
    demo.ctx = ctx  # serve() adds the picture routes, as the app's launch() does
    with serve(demo) as url, browser_page() as page:
        open_app(page, url, "#explore-image img")
        values = [round(0.1 * i, 2) for i in range(1, 31)]
        shown = drag_pictures(page, "explore-slider-0", "explore-image", values, 15)
        assert shown >= 2  # pictures followed the drag, not only its end
        # the latest move wins: once the page settles, the picture is the one for the last value
        final = f"{url}image?checkpoint=digits&seed=0&truncation=1&label=0&mode=raw&offsets=3,0,0,0,0,0,0,0"
        page.wait_for_function("() => document.querySelector('#explore-readout').innerText.includes('3.00·e[0]')")
        page.wait_for_function(f"async () => ({SAME_BYTES_JS})([document.querySelector('#explore-image img').src, "
                               f"'{final}'])", timeout=30_000)

        page.get_by_text("Latent map", exact=True).click()
        page.click("#map-draw")
        wait_for_new_image(page, "map-image", None)
        assert "9 × 9 latents" in page.locator("#map-caption").inner_text()
        before = image_src(page, "explore-image")
        box = page.locator("#map-image img").bounding_box()
        page.locator("#map-image img").click(position={"x": box["width"] * 0.05, "y": box["height"] * 0.95})  # bottom left
        wait_for_new_image(page, "explore-image", before)
        assert page.locator("#explore-slider-1 input[type=number]").input_value() == "-2"

        click_tab(page, "Interpolate")
        page.locator("#interp-run").click()
        first = wait_for_new_image(page, "interp-frame", None)
        set_slider(page, "interp-scrub", 4)
        assert wait_for_new_image(page, "interp-frame", first).startswith("data:image/png;base64,")
        assert page.external_requests == []


@contextlib.contextmanager
def explore_served(ctx):
    """The Explore tab alone, served with the picture routes (as the app's launch() adds them); yields its url."""
    from tests.browser import serve

    with gr.Blocks() as demo:
        explore_tab.build(ctx)
    demo.queue()
    demo.ctx = ctx  # serve() adds the picture routes
    with serve(demo) as url:
        yield url


def test_in_the_browser_the_next_notch_comes_from_memory(ctx):
    """After a one-notch move (an arrow key) the page fetches the notches next to it ahead (ahead=1); the next
    arrow key shows its picture from memory, asking the server nothing, and it is the route's picture for that
    latent; the download link gives the enlarged picture."""
    from tests.browser import browser_page, open_app

    with explore_served(ctx) as url, browser_page() as page:
        asked, ahead_asked = [], []
        page.on("request", lambda r: "/image?" in r.url and "ahead=1" not in r.url and asked.append(r.url))
        page.on("request", lambda r: "ahead=1" in r.url and ahead_asked.append(r.url))
        open_app(page, url, "#explore-image img")
        stats = "window.ganExplore.stats"
        shown_width = "() => document.querySelector('#explore-image img').getBoundingClientRect().width"
        # Gradio's own picture, enlarged on the server, is drawn at its natural size (scaled down, never up)
        width = page.evaluate("() => document.querySelector('#explore-image img').naturalWidth")
        page.focus("#explore-slider-0 input[type=range]")
        page.keyboard.press("ArrowRight")  # 0 -> 0.05: asked for
        page.wait_for_function("() => document.querySelector('#explore-readout').innerText.includes('0.05·e[0]')")
        page.wait_for_function(f"() => {stats}.kept >= 2")  # 0.10 and 0.00, one notch either side, decoded
        # one request for the notches either side: slider 0 at 0.10 and 0.00 (and 0.15, -0.05)
        assert any("along=0&" in unquote(u) and "values=0.1,0,0.15,-0.05" in unquote(u) for u in ahead_asked), ahead_asked
        before_asked, before = len(asked), page.evaluate(f"() => ({{...{stats}}})")
        page.keyboard.press("ArrowRight")  # 0.05 -> 0.10: from memory
        page.wait_for_function("() => document.querySelector('#explore-readout').innerText.includes('0.10·e[0]')")
        after = page.evaluate(f"() => ({{...{stats}}})")
        assert after["memory"] == before["memory"] + 1 and after["asked"] == before["asked"]
        assert len(asked) == before_asked  # no request for the picture shown
        route = f"{url}image?checkpoint=digits&seed=0&truncation=1&label=0&mode=raw&offsets=0.1,0,0,0,0,0,0,0"
        assert page.evaluate(f"async () => ({SAME_BYTES_JS})([document.querySelector('#explore-image img').src, "
                             f"'{route}'])")
        assert abs(page.evaluate(shown_width) - width) < 1  # the small picture is drawn as large
        assert page.evaluate("() => document.querySelector('#explore-image img').naturalWidth") == 16
        href = page.locator("#explore-image a[download]").first.get_attribute("href")
        assert href.endswith("&size=view") and "offsets=0.1" in href
        assert page.external_requests == []


def test_in_the_browser_a_click_where_the_pointer_rested_on_a_track_comes_from_memory(ctx):
    """A hand reaching for a point on a slider's track rests there before it presses: the page fetches the notch
    under the resting pointer (and one either side) ahead, so the click's picture is shown from memory, asking the
    server nothing, and it is the route's picture for the value the click set."""
    from tests.browser import browser_page, open_app

    with explore_served(ctx) as url, browser_page() as page:
        asked, hover_asked = [], []
        page.on("request", lambda r: "/image?" in r.url and "ahead=1" not in r.url and asked.append(r.url))
        page.on("request", lambda r: "ahead=1" in r.url and "along=1&" in unquote(r.url) and hover_asked.append(r.url))
        open_app(page, url, "#explore-image img")
        stats = "window.ganExplore.stats"
        page.focus("#explore-slider-0 input[type=range]")
        page.keyboard.press("ArrowRight")  # a first move: the page now knows the run's picture route
        page.wait_for_function("() => document.querySelector('#explore-readout').innerText.includes('0.05·e[0]')")
        page.wait_for_function(f"() => {stats}.kept >= 4")  # that move's look-ahead is in memory
        track = page.locator("#explore-slider-1 input[type=range]")
        box = track.bounding_box()
        x, y = box["x"] + 0.8 * box["width"], box["y"] + box["height"] / 2
        page.mouse.move(x - 80, y + 40)
        page.mouse.move(x, y, steps=5)  # then rests there
        page.wait_for_function(f"() => {stats}.hover >= 1 && {stats}.kept >= 4 + {stats}.hover")
        assert hover_asked and not asked[1:], (hover_asked, asked)  # slider 1 fetched ahead, no picture asked
        before_asked, before = len(asked), page.evaluate(f"() => ({{...{stats}}})")
        old_src = page.evaluate("() => document.querySelector('#explore-image img').src")
        page.mouse.down()
        page.mouse.up()
        page.wait_for_function(f"() => {stats}.memory > {before['memory']}")
        value = track.input_value()
        assert float(value) > 0.5  # the click moved slider 1 to the right part of its track
        after = page.evaluate(f"() => ({{...{stats}}})")
        assert after["asked"] == before["asked"] and len(asked) == before_asked  # no request for the picture shown
        shown = page.evaluate("() => document.querySelector('#explore-image img').src")
        assert shown != old_src
        route = f"{url}image?checkpoint=digits&seed=0&truncation=1&label=0&mode=raw&offsets=0.05,{value},0,0,0,0,0,0"
        assert page.evaluate(f"async () => ({SAME_BYTES_JS})(['{shown}', '{route}'])")
        # Gradio's event for the click agrees: its readout names slider 1's new value
        page.wait_for_function(f"() => document.querySelector('#explore-readout').innerText.includes('{float(value):.2f}·e[1]')")
        assert page.external_requests == []
