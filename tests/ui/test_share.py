"""A live run shared by link, through a launched app: the watch page and its routes, the token's checks (valid,
garbage, foreign, ended by stop / reset / a new run / the session's end, revoked), the caps, and the one drawing
per refresh however many screens watch."""
from __future__ import annotations

import io
import json
import secrets
import threading
import time

import httpx
import pytest
from PIL import Image

from gan_demo.core.config import DataConfig, ModelConfig, RunConfig, TrainConfig
from gan_demo.training.trainer import Trainer
from gan_demo.ui.explore_images import image_routes
from gan_demo.ui.share import (MAX_SHARES, NOT_A_LINK, REPLACED_NOTE, RESET_NOTE, RESET_WHY, ShareError, Shares,
                               shares_of)
from tests.browser import launched_app
from tests.raw_http import call, queue_event

TIMEOUT_S = 120  # generous: the suite shares two CPU cores
TINY = json.dumps({"width": 16, "depth": 2, "batch_size": 32})


class FakeClock:
    """A monotonic clock the test moves by hand (no sleeps)."""

    def __init__(self):
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture(scope="module")
def pretrained(tmp_path_factory):
    root = tmp_path_factory.mktemp("pretrained")
    tr = Trainer(RunConfig(data=DataConfig(dataset="ring8", n_points=500), model=ModelConfig(width=16, depth=2),
                           train=TrainConfig(batch_size=32, steps=3)), device="cpu")
    tr.run()
    tr.save(root / "ring8")
    return root


@pytest.fixture(scope="module")
def app(pretrained):
    with launched_app(pretrained, max_runs=4) as app:
        yield app


@pytest.fixture
def http(app):
    with httpx.Client(base_url=app[2], timeout=TIMEOUT_S) as client:
        yield client


def start_run(app, session_hash: str, steps: int = 100_000):
    """A tiny ring8 run started through the API, as a raw HTTP client; its session."""
    ctx, _, url = app
    out = call(url, "train_start", ["ring8", steps, "nonsaturating", 0, TINY], session_hash, timeout=TIMEOUT_S)
    assert out["success"], out
    return ctx.registry.get(session_hash)


def wait_for_step(trainer, step: int) -> None:
    """Until the run's snapshot shows at least `step`: woken by the run's own step callback, with a timeout."""
    reached = threading.Event()
    trainer.add_callback(lambda t, rec: reached.set() if rec.step >= step else None)
    if trainer.snapshot()["step"] < step:
        assert reached.wait(TIMEOUT_S), f"the run did not reach step {step}"


def fresh_session() -> str:
    return "share-test-" + secrets.token_hex(6)


def test_a_shared_run_is_watched_live_by_link(app, http):
    ctx, demo, url = app
    session = start_run(app, fresh_session())
    token = shares_of(ctx).share(session)
    assert len(token) >= 24 and shares_of(ctx).share(session) == token  # the same link while the run lives
    page = http.get(f"/watch/{token}")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert "script-src 'nonce-" in page.headers["content-security-policy"]
    assert "http://" not in page.text and "https://" not in page.text  # nothing from elsewhere (no CDN)
    assert page.cookies.get("gan_demo_viewer")
    wait_for_step(session.trainer, 30)
    status = http.get(f"/watch/{token}/status")
    assert status.status_code == 200, status.text
    body = status.json()
    assert body["state"] == "running" and body["step"] >= 30 and body["family"] == "gan"
    assert [c["label"].split(":")[0] for c in body["curves"]][:1] == ["Losses"]
    assert {"loss_D", "loss_G"} <= set(body["curves"][0]["series"])
    assert "run-" not in status.text  # a viewer never learns the run id (the API's handle on the run)
    picture = http.get(f"/watch/{token}/picture")
    assert picture.status_code == 200 and picture.headers["content-type"] == "image/png"
    assert Image.open(io.BytesIO(picture.content)).size == (512, 512)
    ctx.registry.stop(session)


def test_garbage_and_foreign_tokens_get_one_sentence(app, http):
    ctx, _, _ = app
    session = start_run(app, fresh_session())
    explore_token = image_routes(ctx).token_for(session, "current run")  # a real token, of another route
    share_token = shares_of(ctx).share(session)
    for bad in ("x", "../../etc/passwd", "%2e%2e%2f%2e%2e%2fetc", "a" * 200, "é" * 30, secrets.token_urlsafe(18),
                explore_token):
        for tail in ("", "/status", "/picture"):
            r = http.get(f"/watch/{bad}{tail}")
            assert r.status_code == 404, (bad, tail, r.status_code)
            assert r.text in (NOT_A_LINK, '{"detail":"Not Found"}'), r.text
    assert http.get(f"/watch/{explore_token}/status").text == NOT_A_LINK
    # a share token is not a picture token of Explore's route, nor the other way round
    assert http.get("/explore/image", params={"token": share_token}).status_code == 404
    # another visitor can neither revoke this link nor share this run
    other = ctx.registry.get(fresh_session())
    assert shares_of(ctx).revoke(other) == 0
    with pytest.raises(ShareError, match="Start a run first"):
        shares_of(ctx).share(other)
    assert http.get(f"/watch/{share_token}/status").status_code == 200
    ctx.registry.stop(session)


def test_a_link_ends_with_stop_reset_a_new_run_revoke_and_the_session(app, http):
    ctx, demo, url = app
    shares = shares_of(ctx)

    # stopped
    session = start_run(app, fresh_session())
    token = shares.share(session)
    assert http.get(f"/watch/{token}/status").status_code == 200
    ctx.registry.stop(session)
    r = http.get(f"/watch/{token}/status")
    assert r.status_code == 410 and r.text.startswith("This shared run has ended: it was stopped at step"), r.text
    assert http.get(f"/watch/{token}").status_code == 410 and http.get(f"/watch/{token}/picture").status_code == 410
    with pytest.raises(ShareError):
        shares.share(session)  # an ended run cannot be shared

    # reset (the Train tab's Reset, through its own event): the link ends before the run, saying so on its
    # screens whatever a watcher polls in between; the link box's own event on the click then clears the box
    session = start_run(app, fresh_session())
    token = shares.share(session)
    reset = next(i for i, fn in demo.fns.items() if getattr(fn.fn, "__name__", "") == "on_reset")
    assert queue_event(url, reset, ["gan"], session.session_id, timeout=TIMEOUT_S)["success"]
    r = http.get(f"/watch/{token}/status")
    assert r.status_code == 410 and r.text == RESET_WHY
    reset_link = next(i for i, fn in demo.fns.items() if getattr(fn.fn, "__name__", "") == "reset_link")
    out = queue_event(url, reset_link, [f"http://x/watch/{token}"], session.session_id, timeout=TIMEOUT_S)
    assert out["success"], out
    box, note = out["output"]["data"]
    assert box["value"] == "" and box["visible"] is False and note == RESET_NOTE

    # after Start: a link whose run the new one replaced leaves the box; a live one stays
    check_link = next(i for i, fn in demo.fns.items() if getattr(fn.fn, "__name__", "") == "check_link")
    session = start_run(app, fresh_session())
    token = shares.share(session)
    out = queue_event(url, check_link, [f"http://x/watch/{token}"], session.session_id, timeout=TIMEOUT_S)
    assert out["output"]["data"][0].get("value") is None  # no change: its run still trains
    start_run(app, session.session_id)
    out = queue_event(url, check_link, [f"http://x/watch/{token}"], session.session_id, timeout=TIMEOUT_S)
    box, note = out["output"]["data"]
    assert box["value"] == "" and box["visible"] is False and note == REPLACED_NOTE
    ctx.registry.stop(session)

    # a new run replaces the shared one
    session = start_run(app, fresh_session())
    token = shares.share(session)
    start_run(app, session.session_id)
    r = http.get(f"/watch/{token}/status")
    assert r.status_code == 410 and "ended" in r.text
    assert shares.share(session) != token  # the new run gets a link of its own

    # revoked by its owner, through the Train tab's own button event
    token = shares.share(session)
    stop_sharing = next(i for i, fn in demo.fns.items() if getattr(fn.fn, "__name__", "") == "stop_sharing")
    assert queue_event(url, stop_sharing, [], session.session_id, timeout=TIMEOUT_S)["success"]
    r = http.get(f"/watch/{token}/status")
    assert r.status_code == 410 and r.text == "Its owner stopped sharing this run."

    # the owner's session ends (expiry or a closed tab)
    token = shares.share(session)
    ctx.registry.drop(session.session_id)
    r = http.get(f"/watch/{token}")
    assert r.status_code == 410 and "its owner left" in r.text


def test_the_share_button_gives_a_link_that_works(app, http):
    ctx, demo, url = app
    session = start_run(app, fresh_session())
    share = next(i for i, fn in demo.fns.items() if getattr(fn.fn, "__name__", "") == "share_run")
    out = queue_event(url, share, [], session.session_id, timeout=TIMEOUT_S)
    assert out["success"], out
    link = out["output"]["data"][0]["value"]
    assert link.startswith("watch/") and http.get(f"/{link}/status").status_code == 200
    nobody = queue_event(url, share, [], fresh_session(), timeout=TIMEOUT_S)  # no run: a sentence, no link
    assert "Start a run first" in nobody["output"]["data"][1]
    ctx.registry.stop(session)


def test_thirty_polls_of_one_step_draw_one_picture(app):
    """A paused run: 30 screens polling its status and picture cost one drawing (ctx.pictures.draws)."""
    ctx, _, _ = app
    session = start_run(app, fresh_session())
    wait_for_step(session.trainer, 5)
    session.trainer.pause()
    token = shares_of(ctx).share(session)
    before = ctx.pictures.draws
    pictures = set()
    for _ in range(30):  # 30 screens, each its own browser (its own cookie)
        with httpx.Client(base_url=app[2], timeout=TIMEOUT_S) as screen:
            assert screen.get(f"/watch/{token}").status_code == 200
            assert screen.get(f"/watch/{token}/status").status_code == 200
            r = screen.get(f"/watch/{token}/picture")
            assert r.status_code == 200
            pictures.add(r.content)
    assert ctx.pictures.draws - before == 1 and len(pictures) == 1
    ctx.registry.stop(session)


def test_a_training_run_is_drawn_once_per_refresh_however_many_watch(app):
    """While the run trains, 30 screens polling within one refresh share one frame; the next refresh draws anew."""
    ctx, _, _ = app
    clock = FakeClock()
    shares = Shares(ctx, draw=shares_of(ctx).draw, clock=clock)  # the app's drawing, a clock moved by hand
    session = start_run(app, fresh_session())
    token = shares.share(session)
    before = ctx.pictures.draws
    frames = [shares.frame(token) for _ in range(30)]
    assert ctx.pictures.draws - before == 1 and len({id(f) for f in frames}) == 1
    wait_for_step(session.trainer, frames[0].step + 2)
    clock.now += 1.0
    assert shares.frame(token).step > frames[0].step and ctx.pictures.draws - before == 2
    ctx.registry.stop(session)


def test_live_links_are_capped_and_polls_rate_limited(app, http):
    ctx, _, url = app
    clock = FakeClock()
    shares = Shares(ctx, draw=shares_of(ctx).draw, clock=clock, max_shares=2)
    sessions = [start_run(app, fresh_session()) for _ in range(3)]
    try:
        shares.share(sessions[0]), shares.share(sessions[1])
        with pytest.raises(ShareError, match="already shares 2 runs"):
            shares.share(sessions[2])
        assert shares.share(sessions[0]) and shares.live_count() == 2  # one link per run, not one per press
        shares.revoke(sessions[0])
        shares.share(sessions[2])
        assert shares.live_count() == 2
        ctx.registry.stop(sessions[1])  # a run that ends frees its place though no screen asked about it since
        shares.share(start_run(app, sessions[0].session_id))
        assert shares.live_count() == 2
    finally:
        for session in sessions:
            ctx.registry.stop(session)
    assert MAX_SHARES >= 30  # a class's runs can all be on the projector in turn
    # the server's own routes: a screen that polls far faster than a page does is told to wait
    session = start_run(app, fresh_session())
    live = shares_of(ctx)
    token = live.share(session)
    frozen = FakeClock()  # the buckets' time stands still: a slow machine's GETs refill nothing while they run
    frozen.now = time.monotonic()
    kept = live.limit.clock, live.anonymous_limit.clock
    live.limit.clock = live.anonymous_limit.clock = frozen
    try:
        codes = [http.get(f"/watch/{token}/status").status_code for _ in range(120)]
    finally:
        live.limit.clock, live.anonymous_limit.clock = kept
    assert codes[0] == 200 and 429 in codes
    ctx.registry.stop(session)
