"""The Train tab's live picture and status line through a plain route, not a Gradio event per refresh.

An open Train tab shows its run's progress picture and status line at the page's refresh (TICK_S, slower under a
class: live_cache.refresh_s). Through Gradio each refresh was an event whose answer Gradio builds into components
in its event loop (~40 ms of the server's interpreter, which the training threads wait for: a class of 24 with its
tabs open kept ~0.62 of its speed, BENCHMARKS 23). Here the page (train_live.js) polls GET /train/live instead:
the run's picture at its latest step as a PNG (drawn once per step however many polls ask: the app's
PictureCache), its status line in a header, and a 204 with the status alone while the step is the one the page
has. The Train tab's own Gradio event still draws what changes rarely (the curves, the buttons, the timeline's
range), at the curves' pace, and at once when the route tells the page that the run's state changed.

The route names the run by the session's unguessable token (explore_images.ImageRoutes: bound to the first
browser that uses it, forgotten with the session) and the run's id; another visitor's token gets a 403, a stale
one a 404, and nothing from the query reaches a path.
"""
from __future__ import annotations

import html
import re
import threading
import weakref
from urllib.parse import quote

from starlette.requests import Request
from starlette.responses import Response

from gan_demo.ui.explore_images import RouteError, add_get_routes, image_routes
from gan_demo.ui.live_cache import LivePicture, refresh_s
from gan_demo.ui.run_views import TICK_S, LiveView, progress_picture, status_line

LIVE_PATH = "/train/live"
LIVE_NAME = ":live"  # the token's name in ImageRoutes (no checkpoint is named so: names are server-made words)
_FRAMES = threading.Lock()  # the route's and the tab's threads keep timeline frames of one session in turn


def pooled(ctx, trainer) -> int:
    """How many runs the pool stepping this run holds (0: it trains alone)."""
    pools = ctx.registry.pools
    pool = pools.pool_of(trainer) if pools is not None else None
    return len(pool) if pool is not None else 0


def shown_picture(ctx, session, trainer, step: int) -> LivePicture:
    """The run's progress picture at `step` (drawn once per step however many polls ask), and the session's
    timeline frame kept from it when one is due."""
    picture = ctx.pictures.picture(trainer, step, lambda: live_route(ctx).draw(trainer))
    with _FRAMES:
        last = session.timeline[-1][0] if session.timeline else None
        if last is None or step - last >= session.timeline_stride:  # encode only kept frames
            session.keep_frame(step, picture.png())
    return picture


_BOLD, _CODE = re.compile(r"\*\*(.+?)\*\*"), re.compile(r"`([^`]+)`")


def status_html(line: str) -> str:
    """The status line's Markdown (bold and code spans only) as the HTML Gradio's Markdown makes of it."""
    text = _CODE.sub(r"<code>\1</code>", html.escape(line, quote=False))
    return _BOLD.sub(r"<strong>\1</strong>", text)


class LiveRoute:
    """GET /train/live?token=T&run=RUN_ID&have=STEP: the session's live run as the Train tab shows it."""

    def __init__(self, ctx):
        self.ctx = ctx
        self.routes = image_routes(ctx)
        self._views: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # run -> its LiveView (2D backdrop)
        self._lock = threading.Lock()

    def route_for(self, session) -> str:
        """Where the page polls the session's current run (a new run, a new address: the page follows it)."""
        return f"{LIVE_PATH}?token={self.routes.token_for(session, LIVE_NAME)}&run={quote(session.run_id or '')}"

    def draw(self, trainer):
        """The run's progress picture now, over its backdrop (a 2D run's grid and real points: drawn once per run,
        for the tab, this route and the run's watch pages alike)."""
        with self._lock:
            view = self._views.get(trainer)
            if view is None:
                view = self._views[trainer] = LiveView()
        return progress_picture(trainer, view)

    def live(self, request: Request) -> Response:
        """The run's picture at its latest step (200, image/png) or, while that is the step the page has
        (`have`), no body (204); either way the step (X-Step), the state (X-State), the status line as HTML
        (X-Status, percent-encoded UTF-8) and the seconds until the next poll (X-Refresh). X-State "gone":
        the session has no run by that id any more (reset or replaced), and the page stops polling."""
        query = request.query_params

        def work(viewer: str) -> Response:
            entry = self.routes._owner(query.get("token", ""), viewer)
            if entry["name"] != LIVE_NAME:
                raise RouteError(404, "That is not a live run's link: reload the page.")
            session = self.ctx.registry.get(entry["session"])
            trainer = session.trainer
            tick = refresh_s(self.ctx.registry.active_runs(), TICK_S)
            headers = {"Cache-Control": "no-store", "X-Refresh": f"{tick:.2f}"}
            if trainer is None or not session.run_id or query.get("run") != session.run_id:
                return Response(status_code=204, headers={**headers, "X-State": "gone"})
            snap = trainer.snapshot(history=False)
            step = snap["step"]
            headers.update({"X-Step": str(step), "X-State": snap["state"],
                            "X-Status": quote(status_html(status_line(snap, session.run_id, pooled(self.ctx, trainer))),
                                              safe="")})
            if query.get("have") == str(step):
                return Response(status_code=204, headers=headers)
            picture = shown_picture(self.ctx, session, trainer, step)
            return Response(picture.png(), media_type="image/png", headers=headers)

        return self.routes._answer(work, request)


def live_route(ctx) -> LiveRoute:
    """The context's LiveRoute (made on first use)."""
    route = getattr(ctx, "live_route", None)
    if route is None:
        route = ctx.live_route = LiveRoute(ctx)
    return route


def add_routes(app, ctx) -> None:
    """GET /train/live on the server's app, ahead of Gradio's catch-all page."""
    add_get_routes(app, ((LIVE_PATH, live_route(ctx).live),))
