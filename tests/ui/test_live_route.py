"""The Train tab's live route (GET /train/live): the run's picture and status line as the tab shows them, once per
step however many ask, bound to its session and browser, and the tab's own event at the curves' pace."""
from __future__ import annotations

import time
import types
from pathlib import Path
from urllib.parse import unquote

import pytest

gr = pytest.importorskip("gradio")

from fastapi import FastAPI  # noqa: E402
from starlette.testclient import TestClient  # noqa: E402

from gan_demo.ui.app import AppContext  # noqa: E402
from gan_demo.ui.explore_images import add_routes as add_image_routes, image_routes  # noqa: E402
from gan_demo.ui.forms import values_for  # noqa: E402
from gan_demo.ui.live_route import add_routes, status_html  # noqa: E402
from gan_demo.ui.run_views import status_line  # noqa: E402
from gan_demo.ui.tabs.train import PLOTS_EVERY_S, Train  # noqa: E402

TINY = {"dataset": "ring8", "steps": 100_000, "width": 16, "depth": 1, "batch_size": 32}


@pytest.fixture
def app():
    ctx = AppContext.create(device="cpu")
    server = FastAPI()
    add_routes(server, ctx)
    add_image_routes(server, ctx)
    with TestClient(server) as client:
        yield ctx, Train(ctx), client
    ctx.registry.close()


def paused_run(ctx, train, name: str, past: int = 3):
    """A tiny ring8 run started through the tab, trained past `past` steps and paused at a settled step."""
    request = types.SimpleNamespace(session_hash=name)
    out = train.on_start(values_for(TINY), request)
    trainer = ctx.registry.get(name).trainer
    deadline = time.monotonic() + 60
    while trainer.snapshot(history=False)["step"] <= past:
        assert time.monotonic() < deadline, "the run did not train"
        trainer.join(0.05)
    trainer.pause()
    while True:  # paused once the steps in flight are read back: the step stops moving
        step = trainer.snapshot(history=False)["step"]
        trainer.join(0.2)
        if trainer.state == "paused" and trainer.snapshot(history=False)["step"] == step:
            return request, out, trainer
        assert time.monotonic() < deadline, "the run did not pause"


def test_status_html_is_what_gradios_markdown_makes_of_the_status_line():
    assert status_html("**running** · step 1,024 / 5,000 · run id `run-ab12` · <b>&") == (
        "<strong>running</strong> · step 1,024 / 5,000 · run id <code>run-ab12</code> · &lt;b&gt;&amp;")


def test_the_route_serves_the_picture_and_status_the_tab_shows_drawn_once_per_step(app):
    ctx, train, http = app
    request, out, trainer = paused_run(ctx, train, "live-picture")
    session = ctx.registry.get("live-picture")
    route = out["live_route"]
    assert route.startswith("/train/live?token=") and f"run={session.run_id}" in route
    draws = ctx.pictures.draws
    r = http.get(route)
    snap = trainer.snapshot(history=False)
    assert r.status_code == 200 and r.headers["content-type"] == "image/png"
    assert r.headers["X-Step"] == str(snap["step"]) and r.headers["X-State"] == "paused"
    assert unquote(r.headers["X-Status"]) == status_html(status_line(snap, session.run_id))
    assert r.headers["Cache-Control"] == "no-store" and float(r.headers["X-Refresh"]) > 0
    assert session.timeline and session.timeline[-1][0] == snap["step"]  # the route kept the timeline's frame
    tick = train.on_tick(out["view"], request)  # the tab's own event at the same step: the same picture, not redrawn
    assert Path(tick["grid"]).read_bytes() == r.content
    assert ctx.pictures.draws == draws + 1
    again = http.get(f"{route}&have={snap['step']}")  # the page has this step: the status only
    assert again.status_code == 204 and again.content == b""
    assert again.headers["X-Status"] == r.headers["X-Status"] and again.headers["X-Step"] == str(snap["step"])


def test_the_route_works_for_its_session_in_its_browser_only_and_follows_the_run(app):
    ctx, train, http = app
    request, out, trainer = paused_run(ctx, train, "live-owner")
    route = out["live_route"]
    assert http.get(route).status_code == 200  # this browser uses it first: the token is its own now
    with TestClient(http.app) as stranger:
        r = stranger.get(route)
        assert r.status_code == 403 and "another visitor" in r.text
    bad = http.get("/train/live", params={"token": "../../etc/passwd", "run": "x"})
    assert bad.status_code == 404 and "passwd" not in bad.text and "expired" in bad.text
    explore_token = image_routes(ctx).token_for(ctx.registry.get("live-owner"), "digits")
    assert http.get("/train/live", params={"token": explore_token}).status_code == 404  # not a live run's link
    train.on_reset("gan", request)  # the run is gone: the page is told so and stops
    gone = http.get(route)
    assert gone.status_code == 204 and gone.headers["X-State"] == "gone"
    _, out, _ = paused_run(ctx, train, "live-owner")  # a new run, a new address; the old one stays gone
    assert out["live_route"] != route
    assert http.get(route).headers["X-State"] == "gone" and http.get(out["live_route"]).status_code == 200
    ctx.registry.drop("live-owner")  # the session ended: its links with it
    assert http.get(out["live_route"]).status_code == 404


def test_the_tabs_own_event_comes_at_the_curves_pace_and_gives_the_route_to_a_fresh_view(app):
    ctx, train, _ = app
    request, out, trainer = paused_run(ctx, train, "live-pace")
    trainer.resume()
    first = train.on_tick(None, request)  # a page that did not start the run (a reload, a lesson): it gets the route
    assert first["live_route"] == out["live_route"]
    assert first["timer"].value == PLOTS_EVERY_S  # one run training: the picture at 0.75 s, this event every 2 s
    assert "timer" not in train.on_tick(first["view"], request)  # paced already: the timer is left as it is
