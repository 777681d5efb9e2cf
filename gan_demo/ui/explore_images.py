"""Explore's and Interpolate's plain picture routes: session-bound run tokens, a per-viewer rate limit, the pictures.

A slider's picture is fetched by the browser straight from these routes, skipping Gradio's event round trip.
"""
from __future__ import annotations

import io
import math
import secrets
import threading
import time
from collections import OrderedDict
from typing import Callable
from urllib.parse import quote

from PIL import Image
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response

from gan_demo.ui import widgets as ex

VIEWER_COOKIE = "gan_demo_viewer"  # names one browser: a run token works only in the browser that used it first
RATE_PER_S, BURST = 60.0, 120  # a viewer's picture requests: a hand dragging a slider sends at most ~60 a second
ANONYMOUS_RATE_PER_S, ANONYMOUS_BURST = 120.0, 240  # per address, for callers without the cookie (curl, scripts)
MAX_KEYS = 10_000  # rate-limit buckets kept (oldest dropped): memory stays bounded whatever the callers do
MAX_QUERY = 600  # characters: a picture's whole query is far shorter
# A look-ahead may ask for this many notches of one slider in one request (the page asks for the next few
# the way the hand goes): one request instead of one per picture keeps ahead of a hand moving a notch a frame.
MAX_AHEAD = 8
# While a run trains, these pictures are spaced at least this far apart across all visitors (Gradio's events
# keep the app's 0.1 s): a plain GET costs its ~5 ms render and little else, so 30 a second keep a hand's pace
# (a slider move shown within 60 ms) and leave the run most of its speed (README, Latency).
PICTURE_SPACING_S = 1 / 30
EXPLORE_PATH, FRAME_PATH = "/explore/image", "/interpolate/frame"


class RouteError(Exception):
    """A refused picture request: an HTTP status and one sentence for the visitor."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status, self.message = status, message


class RateLimit:
    """Token buckets by key: `rate` requests a second on average, bursts up to `burst`."""

    def __init__(self, rate: float, burst: int, clock: Callable[[], float] = time.monotonic):
        self.rate, self.burst, self.clock = rate, burst, clock
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()
        self._lock = threading.Lock()

    def allow(self, key: str, cost: int = 1) -> bool:
        """Whether `key` may make a request that costs `cost` tokens now (taken if so)."""
        now = self.clock()
        with self._lock:
            level, then = self._buckets.pop(key, (float(self.burst), now))
            level = min(float(self.burst), level + (now - then) * self.rate)
            allowed = level >= cost
            self._buckets[key] = (level - cost if allowed else level, now)
            while len(self._buckets) > MAX_KEYS:
                self._buckets.popitem(last=False)
        return allowed


# ------------------------------------------------------------------------------ query checking
def _number(query, name: str, lo: float, hi: float, default: float, whole: bool = False) -> float:
    text = query.get(name)
    if text is None or text == "":
        return default
    try:
        value = int(text) if whole else float(text)
    except ValueError:
        kind = "a whole number" if whole else "a number"
        raise RouteError(400, f"{name} must be {kind} (got {text[:20]!r}).") from None
    if not (math.isfinite(value) and lo <= value <= hi):
        raise RouteError(400, f"{name} must be between {lo:g} and {hi:g} (got {text[:20]}).")
    return value


def parse_view(sampler, query) -> dict:
    """{seed, mode, offsets, truncation, label} from a picture's query, checked against the sampler;
    RouteError(400) names the first bad value."""
    seed = int(_number(query, "seed", 0, ex.MAX_SEED, 0, whole=True))
    truncation = _number(query, "truncation", 0.0, 3.0, 1.0)
    mode = query.get("mode") or ex.RAW
    if mode not in (ex.RAW, ex.PCA):
        raise RouteError(400, f"mode must be '{ex.RAW}' or '{ex.PCA}' (got {mode[:20]!r}).")
    offsets = [0.0] * ex.N_SLIDERS
    parts = [p for p in (query.get("offsets") or "").split(",") if p.strip()]
    if len(parts) > ex.N_SLIDERS:
        raise RouteError(400, f"offsets: at most {ex.N_SLIDERS} numbers, one per slider (got {len(parts)}).")
    for i, part in enumerate(parts):
        offsets[i] = _number({"offsets": part.strip()}, "offsets", -ex.SLIDER_MAX, ex.SLIDER_MAX, 0.0)
    axes = sampler.directions(ex.N_SLIDERS)[0].shape[0] if mode == ex.PCA else sampler.z_dim
    if any(v != 0.0 for v in offsets[axes:]):
        what = "principal directions" if mode == ex.PCA else "latent dimensions"
        raise RouteError(400, f"offsets: this checkpoint has {axes} {what}, so only the first {axes} may move.")
    label = None
    if sampler.n_classes:
        label = int(_number(query, "label", 0, sampler.n_classes - 1, 0, whole=True))
    elif query.get("label") not in (None, ""):
        raise RouteError(400, "label: this checkpoint is not class-conditional (leave label out).")
    size = query.get("size") or "own"
    if size not in ("own", "view"):
        raise RouteError(400, f"size must be 'own' (as generated) or 'view' (enlarged as shown; got {size[:20]!r}).")
    ahead = query.get("ahead") or "0"
    if ahead not in ("0", "1"):
        raise RouteError(400, f"ahead must be 0 or 1 (got {ahead[:20]!r}).")
    view = {"seed": seed, "mode": mode, "offsets": offsets, "truncation": truncation, "label": label,
            "size": size, "ahead": ahead == "1"}
    view["along"] = _along(query, view, axes)
    return view


def _value_parts(values: str | None) -> list[str]:
    """A look-ahead's comma-separated slider positions, blanks left out (each is checked where it is read)."""
    return [part for part in (values or "").split(",") if part.strip()]


def _along(query, view: dict, axes: int) -> list[dict]:
    """The views a look-ahead asks for at once (along=K&values=a,b,...: slider K, or the truncation, at each
    value, the rest as in `view`); [] when the query asks for one picture."""
    along, values = query.get("along"), query.get("values")
    if along in (None, "") and values in (None, ""):
        return []
    if not view["ahead"]:
        raise RouteError(400, "along and values are for look-aheads only (ahead=1).")
    if not along:
        raise RouteError(400, "along: a slider's number (0 is the first) or 'truncation'.")
    if along == "truncation":
        lo, hi = 0.0, 3.0
    else:
        index = int(_number({"along": along}, "along", 0, min(axes, ex.N_SLIDERS) - 1, 0, whole=True))
        lo, hi = -ex.SLIDER_MAX, ex.SLIDER_MAX
    parts = _value_parts(values)
    if not 1 <= len(parts) <= MAX_AHEAD:
        raise RouteError(400, f"values: 1 to {MAX_AHEAD} numbers, the slider's positions (got {len(parts)}).")
    views = []
    for part in parts:
        value = _number({"values": part.strip()}, "values", lo, hi, 0.0)
        if along == "truncation":
            views.append({**view, "truncation": value, "along": []})
        else:
            offsets = list(view["offsets"])
            offsets[index] = value
            views.append({**view, "offsets": offsets, "along": []})
    return views


def png(picture: Image.Image) -> bytes:
    buffer = io.BytesIO()
    picture.save(buffer, format="PNG", compress_level=1)  # fast: a slider picture is sent once and dropped
    return buffer.getvalue()


# ------------------------------------------------------------------------------------- routes
class ImageRoutes:
    """The app's picture routes and what they need: run tokens, Interpolate's frames, the rate limits."""

    def __init__(self, ctx, clock: Callable[[], float] = time.monotonic):
        self.ctx = ctx
        self._tokens: dict[str, dict] = {}  # token -> {"session", "name", "viewer"}
        self._by_run: dict[tuple[str, str], str] = {}  # (session id, checkpoint name) -> token
        self._frames: dict[str, tuple[str, list[bytes]]] = {}  # session id -> (nonce, PNG frames)
        self._lock = threading.Lock()
        self.limit = RateLimit(RATE_PER_S, BURST, clock)
        self.anonymous_limit = RateLimit(ANONYMOUS_RATE_PER_S, ANONYMOUS_BURST, clock)
        ctx.registry.on_drop.append(self.forget)

    # -- tokens ----------------------------------------------------------------------------------
    def token_for(self, session, name: str) -> str:
        """The unguessable token naming one of this session's checkpoints (the same one each time)."""
        key = (session.session_id, name)
        with self._lock:
            token = self._by_run.get(key)
            if token is None:
                token = secrets.token_urlsafe(18)
                self._by_run[key] = token
                self._tokens[token] = {"session": session.session_id, "name": name, "viewer": None}
            return token

    def route_for(self, session, name: str) -> str:
        """Where the browser fetches this checkpoint's pictures: GET /image for a pretrained run (unless the
        sliders move from a projected latent, which is the session's), else the session's token route."""
        projected = session.projected is not None and session.projected.get("checkpoint") == name
        if name in self.ctx.catalog.pretrained() and not projected:
            return f"/image?checkpoint={quote(name)}"
        return f"{EXPLORE_PATH}?token={self.token_for(session, name)}"

    def keep_frames(self, session, pictures: list[Image.Image]) -> str:
        """Keep Interpolate's frames for the scrubber; returns their route (a new nonce per set)."""
        frames = [png(p) for p in pictures]
        nonce = secrets.token_hex(4)
        with self._lock:
            self._frames[session.session_id] = (nonce, frames)
        return f"{FRAME_PATH}?token={self.token_for(session, '')}&set={nonce}"

    def forget(self, session) -> None:
        """The session ended: its tokens stop working and its frames are freed."""
        with self._lock:
            for key in [k for k in self._by_run if k[0] == session.session_id]:
                self._tokens.pop(self._by_run.pop(key), None)
            self._frames.pop(session.session_id, None)

    def _owner(self, token: str, viewer: str) -> dict:
        """The token's entry once this viewer may use it (the first viewer to use a token keeps it)."""
        with self._lock:
            entry = self._tokens.get(token)
            if entry is None:
                raise RouteError(404, "That picture link has expired or was never valid: reload the page.")
            if entry["viewer"] is None:
                entry["viewer"] = viewer
            elif entry["viewer"] != viewer:
                raise RouteError(403, "That picture link belongs to another visitor's session.")
            return dict(entry)

    # -- requests --------------------------------------------------------------------------------
    def _admit(self, request: Request) -> tuple[str, bool]:
        """(viewer id, whether it is new) once the caller is within its rate limit; RouteError otherwise."""
        if len(request.url.query) > MAX_QUERY:
            raise RouteError(414, "That picture request is too long.")
        viewer = request.cookies.get(VIEWER_COOKIE) or ""
        fresh = not (8 <= len(viewer) <= 64 and viewer.replace("-", "").replace("_", "").isalnum())
        # a look-ahead of several notches counts as that many pictures (at most MAX_AHEAD): the limit stays one
        # on pictures drawn, as when each notch was its own request
        cost = min(MAX_AHEAD, max(1, len(_value_parts(request.query_params.get("values")))))
        if fresh:
            viewer = secrets.token_urlsafe(18)
            host = request.client.host if request.client else "unknown"
            allowed = self.anonymous_limit.allow(host, cost)
        else:
            allowed = self.limit.allow(viewer, cost)
        if not allowed:
            raise RouteError(429, "Too many picture requests at once: wait a moment.")
        return viewer, fresh

    def _answer(self, work: Callable[[str], Response], request: Request) -> Response:
        try:
            viewer, fresh = self._admit(request)
            response = work(viewer)
        except RouteError as exc:
            response = PlainTextResponse(exc.message, status_code=exc.status)
            if exc.status == 429:
                response.headers["Retry-After"] = "1"
            return response
        except (KeyError, ValueError, RuntimeError) as exc:  # the catalog's and sampler's sentences
            text = exc.args[0] if isinstance(exc, KeyError) and exc.args else str(exc)
            return PlainTextResponse(str(text)[:300], status_code=400)
        if fresh:
            response.set_cookie(VIEWER_COOKIE, viewer, httponly=True, samesite="strict")
        return response

    def picture(self, sampler, view: dict, base=None, fixed: bool = False, what: str | None = None) -> Response:
        """The PNG Explore shows for this view, with D's score (absent without a critic) and the readout
        Markdown (percent-encoded UTF-8) in headers: the page shows the readout with its picture, no Gradio
        event needed. fixed: the weights never change (a pretrained run), so the browser may keep the picture.
        what: what the projected latent `base` was found for.
        An image sample comes at its own size (a 32 px digit: ~0.5 KB, decoded at once; the page shows it
        enlarged with crisp pixels, as wide as X-Pixelated says) unless size=view asks for it enlarged (the
        download). A look-ahead (ahead=1, the page fetching the next notch before the hand gets there) is
        declined with 204 while a run trains: then it would take a render slot from the run and delay the
        pictures asked for. A look-ahead may name several positions of one slider (along, values): their
        pictures come in one answer (_pictures)."""
        if view["ahead"] and self.ctx.render_gate.training():
            return Response(status_code=204, headers={"Cache-Control": "no-store"})
        cache = "private, max-age=3600" if fixed else "private, no-store"
        if view["along"]:
            return self._pictures(sampler, view["along"], base, what, cache)
        body, score, text, pixels = self._draw(sampler, view, base, what)
        headers = {"Cache-Control": cache, "X-Readout": quote(text, safe="")}
        if score is not None:
            headers["X-Score"] = f"{score:.6f}"
        if pixels:
            headers["X-Pixelated"] = str(pixels)
        return Response(body, media_type="image/png", headers=headers)

    def _draw(self, sampler, view: dict, base, what) -> tuple[bytes, float | None, str, int]:
        """One view's (PNG, D's score or None, readout Markdown, the width to show an own-size picture at or 0)."""
        own = sampler.kind != "2d" and view["size"] == "own"
        z = ex.latent_of(sampler, view["seed"], view["mode"], view["offsets"], base)
        sample, score, picture = ex.draw(self.ctx, sampler, z, view["label"], view["truncation"],
                                         gate=self.ctx.render_gate.spaced(PICTURE_SPACING_S),
                                         size=1 if own else ex.VIEW_SIZE)
        text = ex.readout(sampler, sample, score, view["seed"], view["mode"], view["offsets"], view["truncation"],
                          view["label"], what)
        pixels = picture.width * ex.enlargement(picture.width) if own else 0  # as wide as size=view shows it
        return png(picture), score, text, pixels

    def _pictures(self, sampler, views: list[dict], base, what, cache: str) -> Response:
        """A look-ahead's pictures in one answer: the PNGs one after another, their byte lengths in X-Parts, and
        each one's readout (percent-encoded) and score in X-Readouts and X-Scores, comma-separated, in order.
        Each picture is drawn alone, as a request for it would draw it, so both give the same bytes."""
        drawn = [self._draw(sampler, v, base, what) for v in views]
        headers = {"Cache-Control": cache, "X-Part-Type": "image/png",
                   "X-Parts": ",".join(str(len(d[0])) for d in drawn),
                   "X-Readouts": ",".join(quote(d[2], safe="") for d in drawn),
                   "X-Scores": ",".join("" if d[1] is None else f"{d[1]:.6f}" for d in drawn)}
        if drawn[0][3]:
            headers["X-Pixelated"] = str(drawn[0][3])
        return Response(b"".join(d[0] for d in drawn), media_type="application/octet-stream", headers=headers)

    def pretrained_image(self, request: Request) -> Response:
        """GET /image: a pretrained run's picture; with mode or offsets, the picture Explore shows for that view."""
        query = request.query_params

        def work(viewer: str) -> Response:
            if query.get("mode") is None and query.get("offsets") is None:
                return self.ctx.image_route(query.get("checkpoint", ""), query.get("seed", "0"),
                                            query.get("truncation", "1.0"), query.get("label"))
            name = query.get("checkpoint", "")
            if name not in self.ctx.catalog.pretrained():
                raise RouteError(404, f"checkpoint: one of {', '.join(self.ctx.catalog.pretrained())} "
                                      "(your own runs have their own picture links).")
            sampler = self.ctx.catalog.sampler(name)
            return self.picture(sampler, parse_view(sampler, query), fixed=True)

        return self._answer(work, request)

    def explore_image(self, request: Request) -> Response:
        """GET /explore/image?token=...: one of a session's checkpoints (its live run, a comparison's run, an
        upload, or a pretrained run moved from a projected latent), by the token the page was given."""
        query = request.query_params

        def work(viewer: str) -> Response:
            entry = self._owner(query.get("token", ""), viewer)
            session = self.ctx.registry.get(entry["session"])
            sampler = self.ctx.catalog.sampler(entry["name"], session)
            base, what = None, None
            p = session.projected
            if query.get("from") != "seed" and p is not None and p["checkpoint"] == entry["name"]:
                import torch

                base, what = torch.tensor(p["z"], dtype=torch.float32), p["what"]
            return self.picture(sampler, parse_view(sampler, query), base, what=what)

        return self._answer(work, request)

    def frame(self, request: Request) -> Response:
        """GET /interpolate/frame?token=...&set=...&i=K: frame K of the session's last interpolation."""
        query = request.query_params

        def work(viewer: str) -> Response:
            entry = self._owner(query.get("token", ""), viewer)
            with self._lock:
                nonce, frames = self._frames.get(entry["session"], ("", []))
            if not frames or query.get("set") != nonce:
                raise RouteError(404, "Those frames are gone: press Interpolate again.")
            i = int(_number(query, "i", 0, len(frames) - 1, 0, whole=True))
            return Response(frames[i], media_type="image/png", headers={"Cache-Control": "private, max-age=3600"})

        return self._answer(work, request)


def image_routes(ctx) -> ImageRoutes:
    """The context's ImageRoutes (made on first use)."""
    routes = getattr(ctx, "image_routes", None)
    if routes is None:
        routes = ctx.image_routes = ImageRoutes(ctx)
    return routes


def add_routes(app, ctx) -> None:
    """GET /image, /explore/image and /interpolate/frame on the server's app, ahead of Gradio's catch-all page."""
    routes = image_routes(ctx)
    add_get_routes(app, (("/image", routes.pretrained_image), (EXPLORE_PATH, routes.explore_image),
                         (FRAME_PATH, routes.frame)))


def add_get_routes(app, routes) -> None:
    """(path, handler) pairs as plain GET routes, each moved ahead of Gradio's catch-all page route."""
    for path, handler in routes:
        app.add_api_route(path, handler, methods=["GET"], include_in_schema=False)
        app.router.routes.insert(0, app.router.routes.pop())
