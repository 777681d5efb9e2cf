"""benchmarks/class_of_24.py's open Train tab (TrainTabView): the tab's own live-update event called over
Gradio's queue protocol in plain HTTP, against the whole app launched in this process.

A run started through the REST API in one session is the run that session's Train tab tick shows. Every wait
is bounded: the run's by WAIT_S, each tick's by its own deadline."""
from __future__ import annotations

import time

import pytest

from benchmarks.class_of_24 import RestClient, TrainTabView
from gan_demo.ui.app import AppContext
from tests.ui.test_app_api import TINY_RING8, launch

STEPS = 20
WAIT_S = 90  # generous: the suite shares two CPU cores


@pytest.fixture(scope="module")
def app(pretrained):
    ctx = AppContext.create(device="cpu", pretrained=pretrained, max_runs=2)
    demo, url = launch(ctx)
    yield ctx, url
    demo.close()


def finished_run(client: RestClient) -> str:
    """Start a tiny ring8 run in the client's session and wait (bounded) for it to finish; its run id."""
    run_id = client.predict("ring8", STEPS, "nonsaturating", 3, TINY_RING8, api_name="/train_start")["run_id"]
    deadline = time.monotonic() + WAIT_S
    while client.predict(run_id, api_name="/train_poll")["state"] == "running":
        assert time.monotonic() < deadline, "the tiny run did not finish in time"
        time.sleep(0.1)  # a poll's pace, not a wait on timing: the loop ends on the run's state
    return run_id


def test_tick_shows_the_sessions_api_run_and_fetches_its_picture(app):
    ctx, url = app
    client = RestClient(url)
    try:
        run_id = finished_run(client)
        config = client.http.get(f"{url.rstrip('/')}/config").json()
        view = TrainTabView(client, config)
        output = view.tick()  # a view's first look at the run: the tick asks for the full update too
        assert view.fulls == 1 and view.full_due
        status = output[view.output_id(config, "train_status")]
        status = status.get("value") if isinstance(status, dict) else status
        assert f"step {STEPS:,} / {STEPS:,}" in status and "**finished**" in status and run_id in status
        pause = output[view.output_id(config, "pause")]  # the buttons come with the full update only
        assert isinstance(pause, dict) and pause.get("interactive") is False
        grid = view.output_id(config, "train_grid")
        assert grid in view.shown  # the picture the page's <img> would load, fetched
        assert client.http.get(view.shown[grid]).content[:8] == b"\x89PNG\r\n\x1a\n"
        assert not view.active  # an ended run: the app stops the page's timer
        assert view.route.startswith("/train/live?token=") and f"run={run_id}" in view.route  # what the page polls
        assert not view.poll_live()  # its first poll: nothing to compare the state with
        assert view.have == str(STEPS) and view.state == "finished"
        assert view.route == ""  # an ended run: the page stops polling
    finally:
        ctx.registry.drop(client.session_hash)


def test_tick_of_a_session_without_a_run_stops_the_timer(app):
    ctx, url = app
    client = RestClient(url)
    config = client.http.get(f"{url.rstrip('/')}/config").json()
    view = TrainTabView(client, config)
    assert view.active
    view.tick()
    assert not view.active and not view.shown
    ctx.registry.drop(client.session_hash)
