"""A live run shared by link (read-only watch pages, one picture per refresh however many watch) and the projector view.

"Share" on the Train tab gives a link /watch/<token>: an unguessable token bound to the session's live run. The
page it opens is served here (no CDN, a small inline script) and polls two routes of the same token: the run's
status as JSON and its progress picture as a PNG. The token ends when the run ends, is reset or replaced, when
its owner stops sharing, or when the owner's session expires; the page then says so in one sentence.

Viewers cost the server one picture per refresh: every poll of a shared run within REFRESH_S reads the same
frame (the picture, already a PNG, and the status, already JSON), and a new frame draws its picture through the
Train tab's PictureCache, so the Train tab and every watching screen share that drawing too.
"""
from __future__ import annotations

import json
import math
import re
import secrets
import threading
import time
import weakref
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Awaitable, Callable

import gradio as gr
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse, PlainTextResponse, Response

from gan_demo.core.config import IMAGE_DATASETS, TOY_DATASETS
from gan_demo.ui.explore_images import VIEWER_COOKIE, RateLimit, RouteError, add_get_routes
from gan_demo.ui.live_cache import refresh_s
from gan_demo.ui.run_views import plot_columns, plots_for

WATCH_PATH = "/watch"
TOKEN_RE = re.compile(r"[A-Za-z0-9_-]{16,64}")  # secrets.token_urlsafe's alphabet; anything else is not a link
MAX_SHARES = 64  # live links on the server at once (one per shared run: Share again gives the same link)
ENDED_KEPT = 1024  # ended links remembered to say why they ended (past this the oldest read "not valid")
REFRESH_S = 1.0  # a watch page's refresh while few runs train; slower in proportion under load (live_cache)
CURVE_POINTS = 200  # points per series sent to a watch page
RATE_PER_S, BURST = 8.0, 40  # a watching browser's requests (it sends about 2 a second)
ANONYMOUS_RATE_PER_S, ANONYMOUS_BURST = 60.0, 120  # per address, before the page's cookie is set (a class's NAT)
ENDED_STATES = ("stopping", "finished", "stopped", "diverged", "failed")
NOT_A_LINK = "That watch link is not valid: check it, or ask the run's owner for a new one."


class ShareError(ValueError):
    """Share refused: one sentence for the visitor."""


@dataclass
class Frame:
    """What every poll of a shared run reads until the next refresh: the picture and the status, encoded once."""

    step: int
    at: float  # clock() when it was made
    tick: float  # seconds it stays current (the watch pages' refresh when it was made)
    png: bytes
    status: bytes  # JSON


@dataclass
class Share:
    """One live link: its run and its owner's session (weakly: the link never keeps either alive)."""

    token: str
    session_id: str
    session: weakref.ref
    run: weakref.ref
    frame: Frame | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)  # one refresh at a time; other polls wait for it


class Shares:
    """The server's live links: made and revoked by their owners, read by any number of watching browsers."""

    def __init__(self, ctx, draw: Callable | None = None, clock: Callable[[], float] = time.monotonic,
                 max_shares: int = MAX_SHARES):
        self.ctx = ctx
        self.draw = draw  # run -> its progress picture (the Train tab hands in its own, so both draw the same)
        self.clock = clock
        self.max_shares = max_shares
        self._live: dict[str, Share] = {}
        self._ended: OrderedDict[str, str] = OrderedDict()  # token -> why it ended (one sentence)
        self._lock = threading.Lock()
        self.limit = RateLimit(RATE_PER_S, BURST, clock)
        self.anonymous_limit = RateLimit(ANONYMOUS_RATE_PER_S, ANONYMOUS_BURST, clock)
        ctx.registry.on_drop.append(self.forget_session)

    # -- owners ------------------------------------------------------------------------------------
    def share(self, session) -> str:
        """The token of a live link to the session's run: the same one while that run lives; ShareError if the
        session has no live run or the server holds MAX_SHARES links."""
        run = session.trainer
        if run is None or run.state in ENDED_STATES:
            raise ShareError("Start a run first: a link shares a run while it trains or is paused.")
        with self._lock:
            for token, entry in list(self._live.items()):
                if entry.session_id == session.session_id:
                    if entry.run() is run:
                        return token
                    self._end(token, "That run has ended: its owner started another one.")
            for token, entry in list(self._live.items()):  # links of ended runs no watcher asked about since
                why = self._why_ended(entry)
                if why:
                    self._end(token, why)
            if len(self._live) >= self.max_shares:
                raise ShareError(f"The server already shares {self.max_shares} runs, its limit: try again when "
                                 "one of them ends.")
            token = secrets.token_urlsafe(18)
            self._live[token] = Share(token, session.session_id, weakref.ref(session), weakref.ref(run))
            return token

    def revoke(self, session, why: str = "Its owner stopped sharing this run.") -> int:
        """The owner stops sharing (or resets the run): the session's link stops working at once, and its page
        says `why`. Returns how many ended."""
        with self._lock:
            mine = [t for t, e in self._live.items() if e.session_id == session.session_id]
            for token in mine:
                self._end(token, why)
            return len(mine)

    def link_of(self, session) -> str | None:
        """The token of the session's link while its run is live, else None (an ended one is ended here)."""
        with self._lock:
            for token, entry in list(self._live.items()):
                if entry.session_id == session.session_id:
                    why = self._why_ended(entry)
                    if not why:
                        return token
                    self._end(token, why)
            return None

    def forget_session(self, session) -> None:
        """The owner's session expired or closed: its link ends with it."""
        with self._lock:
            for token in [t for t, e in self._live.items() if e.session_id == session.session_id]:
                self._end(token, "This shared run has ended: its owner left.")

    def live_count(self) -> int:
        with self._lock:
            return len(self._live)

    def _end(self, token: str, why: str) -> None:  # under self._lock
        self._live.pop(token, None)
        self._ended[token] = why
        while len(self._ended) > ENDED_KEPT:
            self._ended.popitem(last=False)

    # -- watchers ----------------------------------------------------------------------------------
    def _entry(self, token: str):
        """(entry, run) of a live link; RouteError 404 for a string that is no link, 410 for an ended one."""
        if not TOKEN_RE.fullmatch(token):
            raise RouteError(404, NOT_A_LINK)
        with self._lock:
            entry = self._live.get(token)
            if entry is None:
                why = self._ended.get(token)
                raise RouteError(410, why) if why else RouteError(404, NOT_A_LINK)
            why = self._why_ended(entry)
            if why:
                self._end(token, why)
                raise RouteError(410, why)
            return entry, entry.run()

    @staticmethod
    def _why_ended(entry: Share) -> str | None:
        """Why a link's run no longer counts as live (one sentence), or None while it trains or is paused."""
        session, run = entry.session(), entry.run()
        if session is None or run is None or session.trainer is not run:
            return "This shared run has ended: its owner reset it or started another one."
        if run.state in ENDED_STATES:
            verb = {"finished": "finished", "diverged": "diverged and stopped", "failed": "failed"}.get(
                run.state, "was stopped")
            return f"This shared run has ended: it {verb} at step {run.step:,}."
        return None

    def frame(self, token: str) -> Frame:
        """The shared run's current frame: remade at most once per refresh, whoever asks."""
        entry, run = self._entry(token)
        with entry.lock:
            now = self.clock()
            old = entry.frame
            if old is not None and now - old.at < old.tick:
                return old
            tick = refresh_s(self.ctx.registry.active_runs(), REFRESH_S)
            snap = run.snapshot()
            step = snap["step"]
            if old is not None and old.step == step:
                picture = old.png  # paused: the same picture
            else:
                picture = self.ctx.pictures.picture(run, step, lambda: self._draw(run)).png()
            entry.frame = Frame(step, now, tick, picture,
                                json.dumps(watch_status(snap, run.cfg.train.loss, tick, run.cfg.data.dataset),
                                           allow_nan=False).encode())
            return entry.frame

    def current(self, token: str) -> Frame | None:
        """The shared run's frame while it is current (no waiting, no drawing), else None. None for a run on Ray,
        whose state may be a remote call: that is read in a worker thread, never on the server's event loop."""
        with self._lock:
            entry = self._live.get(token)
            run = entry.run() if entry is not None else None
        if run is None or getattr(run, "remote", False):
            return None
        entry, _ = self._entry(token)
        frame = entry.frame
        return frame if frame is not None and self.clock() - frame.at < frame.tick else None

    def _draw(self, run):
        if self.draw is None:
            raise RouteError(503, "The app is still starting: reload in a moment.")
        return self.draw(run)

    # -- routes ------------------------------------------------------------------------------------
    async def _answer(self, request: Request, work: Callable[[], Awaitable[Response]]) -> Response:
        """work()'s response once the caller is within its rate limit, else (or when work refuses) one sentence."""
        viewer = request.cookies.get(VIEWER_COOKIE) or ""
        fresh = not (8 <= len(viewer) <= 64 and viewer.replace("-", "").replace("_", "").isalnum())
        try:
            if fresh:
                viewer = secrets.token_urlsafe(18)
                host = request.client.host if request.client else "unknown"
                allowed = self.anonymous_limit.allow(host)
            else:
                allowed = self.limit.allow(viewer)
            if not allowed:
                raise RouteError(429, "Too many requests from this screen at once: wait a moment.")
            response = await work()
        except (RouteError, RuntimeError, ValueError, KeyError) as exc:  # a run that cannot be read: its sentence
            if not isinstance(exc, RouteError):
                exc = RouteError(503, f"The run cannot be read right now ({str(exc)[:200]}): the page tries again.")
            response = PlainTextResponse(exc.message, status_code=exc.status, headers={"Cache-Control": "no-store"})
            if exc.status == 429:
                response.headers["Retry-After"] = "2"
        response.headers["Referrer-Policy"] = "no-referrer"  # the token never leaves in a Referer
        response.headers["X-Content-Type-Options"] = "nosniff"
        if fresh:
            response.set_cookie(VIEWER_COOKIE, viewer, httponly=True, samesite="strict")
        return response

    async def _frame_of(self, request: Request) -> Frame:
        """The link's current frame: served from the event loop while it is current (nearly every poll); a new
        one is made in a worker thread (it waits for the run's step and draws), so the server never stalls."""
        token = request.path_params.get("token", "")
        return self.current(token) or await run_in_threadpool(self.frame, token)

    async def page(self, request: Request) -> Response:
        """GET /watch/<token>: the watch page (the link is checked first, so a bad one answers its sentence)."""
        async def work() -> Response:
            self._entry(request.path_params.get("token", ""))
            nonce = secrets.token_urlsafe(12)
            policy = (f"default-src 'none'; script-src 'nonce-{nonce}'; style-src 'nonce-{nonce}'; img-src 'self'; "
                      "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'")
            return HTMLResponse(WATCH_PAGE.replace("{nonce}", nonce),
                                headers={"Cache-Control": "no-store", "Content-Security-Policy": policy})

        return await self._answer(request, work)

    async def picture(self, request: Request) -> Response:
        """GET /watch/<token>/picture: the run's progress picture (PNG) as of the last refresh."""
        async def work() -> Response:
            frame = await self._frame_of(request)
            return Response(frame.png, media_type="image/png", headers={"Cache-Control": "no-store"})

        return await self._answer(request, work)

    async def status(self, request: Request) -> Response:
        """GET /watch/<token>/status: the run's step, speed, state, curves and quality numbers (JSON)."""
        async def work() -> Response:
            frame = await self._frame_of(request)
            return Response(frame.status, media_type="application/json", headers={"Cache-Control": "no-store"})

        return await self._answer(request, work)


def thin(history: dict, columns: dict) -> dict:
    """{series name: [[step, value], ...]} of the history's columns, at most CURVE_POINTS each, finite values only."""
    steps = history.get("step", [])
    stride = max(1, math.ceil(len(steps) / CURVE_POINTS))
    out = {}
    for column, name in columns.items():
        points = [[s, round(float(v), 5)] for s, v in zip(steps[::stride], history.get(column, [])[::stride])
                  if v is not None and math.isfinite(v)]
        if points:
            out[name] = points
    return out


def quality_words(q: dict | None) -> str | None:
    """A run's latest quality figures in one short line (modes covered, grid KL and JS), or None."""
    if not q:
        return None
    parts = []
    if q.get("n_modes"):
        parts.append(f"modes covered {q['modes_covered']} / {q['n_modes']}")
    if q.get("grid_kl") is not None:
        parts.append(f"grid KL {q['grid_kl']:.3f} · JS {q['grid_js']:.3f}")
    return f"{' · '.join(parts)} (step {q['step']:,})" if parts else None


def watch_status(snap: dict, loss: str | None, tick: float, dataset: str = "") -> dict:
    """What a watch page shows of a run's snapshot; no run id, no settings beyond the family, loss and dataset."""
    data = dataset if dataset in TOY_DATASETS + IMAGE_DATASETS else "the owner's own data"  # never a server path
    title = f"a {'VAE' if snap['family'] == 'vae' else 'GAN'} learning {data}"
    plots = []
    for plot in plots_for(snap["family"], loss):
        series = thin(snap["history"], plot_columns(plot, snap["series"]))
        if series:
            plots.append({"label": plot.label, "y_title": plot.y_title, "series": series})
    rate = snap["steps_per_s"]
    return {"state": snap["state"], "step": snap["step"], "target_steps": snap["target_steps"],
            "steps_per_s": round(rate, 2) if rate is not None and math.isfinite(rate) else None,
            "eta_s": snap["eta_s"] if snap["eta_s"] is not None and math.isfinite(snap["eta_s"]) else None,
            "family": snap["family"], "kind": snap["kind"], "title": title, "picture_step": snap["step"],
            "refresh_s": tick, "curves": plots, "quality": quality_words(snap["quality"])}


def shares_of(ctx) -> Shares:
    """The context's Shares (made on first use)."""
    shares = getattr(ctx, "shares", None)
    if shares is None:
        shares = ctx.shares = Shares(ctx)
    return shares


def add_routes(app, ctx) -> None:
    """GET /watch/<token>, /watch/<token>/picture and /watch/<token>/status, ahead of Gradio's catch-all page."""
    shares = shares_of(ctx)
    add_get_routes(app, ((f"{WATCH_PATH}/{{token}}", shares.page), (f"{WATCH_PATH}/{{token}}/picture", shares.picture),
                         (f"{WATCH_PATH}/{{token}}/status", shares.status)))


# ----------------------------------------------------------------------------- the Train tab's row
RESET_NOTE = "Reset: the live link ended with the run (its screens say so). Start a run and press **Share** for a new one."
REPLACED_NOTE = "The live link ended with the previous run (its screens say so). Press **Share** for a link to this one."
RESET_WHY = "Its owner reset this run: the shared run has ended."
SHARE_NOTE = ("Anyone with this link sees this run live (picture, step, curves), read-only, on any number of "
              "screens; it stops working when the run ends or is reset, or when you press **Stop sharing**.")
# The handler answers the link's path; the page makes it whole from its own address (the host the class reaches).
ABSOLUTE_LINK_JS = "(path) => path ? new URL(path, window.location.href).href : path"


def build_row(ctx, draw: Callable) -> dict:
    """Share / Stop sharing / Projector view, the link and its note, wired; `draw`: run -> its progress picture."""
    shares = shares_of(ctx)
    shares.draw = draw
    with gr.Row(elem_id="share_row"):
        share_button = gr.Button("Share this run (live link)", size="sm", elem_id="share_run")
        unshare_button = gr.Button("Stop sharing", size="sm", elem_id="stop_sharing")
        gr.HTML(PROJECTOR_BUTTON, js_on_load=PROJECTOR_JS, apply_default_css=False, elem_id="projector_toggle")
    link = gr.Textbox(label="Live link to this run", visible=False, interactive=False, buttons=["copy"],
                      elem_id="share_link")
    note = gr.Markdown("", elem_id="share_note")

    def share_run(request: gr.Request):
        session = ctx.registry.get(request.session_hash)
        try:
            token = shares.share(session)
        except ShareError as exc:
            return gr.update(value="", visible=False), str(exc)
        return gr.update(value=f"{WATCH_PATH.lstrip('/')}/{token}", visible=True), SHARE_NOTE

    def stop_sharing(request: gr.Request):
        ended = shares.revoke(ctx.registry.get(request.session_hash))
        words = "Stopped sharing: the link no longer works." if ended else "This run was not shared."
        return gr.update(value="", visible=False), words

    def show_link(whole: str) -> str:  # the link as the browser made it whole (ABSOLUTE_LINK_JS runs first)
        return whole

    def reset_link(shown: str):
        """After Reset (whose handler ended the session's link first, so its screens say why): the box clears."""
        return gr.update(value="", visible=False), RESET_NOTE if shown else ""

    def check_link(shown: str, request: gr.Request):
        """After Start: a shown link whose run was replaced has ended, so it leaves the box; a refused Start
        leaves the running run, and its link, as they were."""
        if not shown or shares.link_of(ctx.registry.get(request.session_hash)) is not None:
            return gr.update(), gr.update()
        return gr.update(value="", visible=False), REPLACED_NOTE

    private = dict(api_visibility="private", show_progress="hidden", concurrency_limit=None)

    def follow_run(reset: gr.Button, started) -> None:
        """Wire the link to the run's life: `reset` the Train tab's Reset button, `started` its Start event."""
        reset.click(reset_link, link, [link, note], **private)
        started.then(check_link, link, [link, note], **private)

    row = {"share": share_button, "stop_sharing": unshare_button, "link": link, "note": note, "follow_run": follow_run}
    share_button.click(share_run, None, [link, note], **private).then(show_link, link, link, js=ABSOLUTE_LINK_JS,
                                                                        **private)
    unshare_button.click(stop_sharing, None, [link, note], **private)
    return row


# ------------------------------------------------------------------------------ the projector view
# For the teacher's own screen: large type, the pictures first and wide, the settings folded away (the toggle, or
# ?view=projector in the address, which the toggle keeps in step so a reload stays in the view).
PROJECTOR_CSS = """
body.gd-projector .gradio-container { --text-xxs: 14px; --text-xs: 16px; --text-sm: 18px; --text-md: 22px;
  --text-lg: 26px; --text-xl: 30px; --text-xxl: 36px; --block-label-text-size: 18px; --block-title-text-size: 22px;
  --block-info-text-size: 18px; --button-small-text-size: 18px; --button-large-text-size: 24px;
  --input-text-size: 20px; }
body.gd-projector .gradio-container .main.app { max-width: none !important; }
body.gd-projector .gradio-container .prose { font-size: 22px; }
body.gd-projector #train_status, body.gd-projector #train_status .prose { font-size: 30px; line-height: 1.35; }
body.gd-projector .column:has(#train_family):not(:has(.column #train_family)),
body.gd-projector #train_apply, body.gd-projector #train_cli, body.gd-projector #train_glossary_hint,
body.gd-projector #share_note { display: none !important; }
body.gd-projector .row:has(#train_grid):not(:has(.row #train_grid)) { order: -1; }
body.gd-projector .column:has(#train_grid):not(:has(.column #train_grid)) { flex-grow: 2 !important; }
body.gd-projector #train_grid img { max-height: 72vh; width: 100%; object-fit: contain; }
body.gd-projector #share_link input, body.gd-projector #share_link textarea { font-size: 26px; }
"""
PROJECTOR_BUTTON = ('<button type="button" class="gd-projector-button" aria-pressed="false">Projector view</button>')
PROJECTOR_JS = """
const KEY = 'gd-projector';
if (!document.getElementById('gd-projector-style')) {
  const style = document.createElement('style');
  style.id = 'gd-projector-style';
  style.textContent = %s;
  document.head.appendChild(style);
}
const button = element.querySelector('button');
const show = (on) => {
  document.body.classList.toggle(KEY, on);
  button.textContent = on ? 'Leave projector view' : 'Projector view';
  button.setAttribute('aria-pressed', String(on));
  const address = new URL(window.location.href);
  if (on) address.searchParams.set('view', 'projector'); else address.searchParams.delete('view');
  if (address.href !== window.location.href) history.replaceState(history.state, '', address.href);
};
show(new URLSearchParams(window.location.search).get('view') === 'projector');
button.addEventListener('click', () => show(!document.body.classList.contains(KEY)));
""" % json.dumps(PROJECTOR_CSS + """
.gd-projector-button { padding: 6px 12px; border-radius: 8px; border: 1px solid var(--border-color-primary);
  background: var(--button-secondary-background-fill); color: var(--button-secondary-text-color);
  font: 600 15px/1.4 inherit; font-family: inherit; cursor: pointer; width: 100%; }
body.gd-projector .gd-projector-button { font-size: 20px; }
""")


# ---------------------------------------------------------------------------------- the watch page
WATCH_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer"><title>gan_demo: a live run</title>
<style nonce="{nonce}">
body { margin: 0; font: 24px/1.35 system-ui, sans-serif; background: #fafafa; color: #1a1a1a; }
main { display: flex; flex-wrap: wrap; gap: 24px; padding: 20px; align-items: flex-start; }
#picture-box { flex: 3 1 560px; text-align: center; }
#picture { width: min(100%, 80vh); height: auto; background: #fff; border: 1px solid #ddd; }
#picture.pixels { image-rendering: pixelated; }
#title { font-size: 22px; color: #555; margin: 0 0 4px; }
#side { flex: 2 1 360px; }
#status { font-size: 34px; font-weight: 600; margin: 0 0 8px; }
#detail, #quality { margin: 4px 0; }
#notice { font-size: 30px; color: #a50026; margin: 8px 0; }
canvas { width: 100%; height: 220px; background: #fff; border: 1px solid #ddd; margin-top: 12px; }
.label { font-size: 18px; color: #555; margin-top: 12px; }
</style></head><body><main>
<div id="picture-box"><img id="picture" alt="The run's samples, live"></div>
<div id="side"><p id="title"></p><p id="status">Connecting…</p><p id="detail"></p><p id="quality"></p><p id="notice" hidden></p>
<div id="charts"></div></div>
</main>
<script nonce="{nonce}">
(() => {
  const base = window.location.pathname.replace(/\\/+$/, '');
  const $ = (id) => document.getElementById(id);
  const COLORS = ['#2166ac', '#762a83', '#1b7837', '#e66101'];
  let shownPicture = -1, shownCurves = '', delay = 1000;
  const duration = (s) => {
    if (s == null) return '–';
    s = Math.round(s);
    if (s < 60) return s + ' s';
    if (s < 3600) return Math.floor(s / 60) + ' min ' + String(s % 60).padStart(2, '0') + ' s';
    return Math.floor(s / 3600) + ' h ' + String(Math.floor(s % 3600 / 60)).padStart(2, '0') + ' min';
  };
  const setText = (id, text) => { const el = $(id); if (el.textContent !== text) el.textContent = text; };
  const draw = (canvas, plot) => {
    const w = canvas.width = canvas.clientWidth * (window.devicePixelRatio || 1);
    const h = canvas.height = canvas.clientHeight * (window.devicePixelRatio || 1);
    const g = canvas.getContext('2d');
    const all = Object.values(plot.series).flat();
    let x0 = Math.min(...all.map(p => p[0])), x1 = Math.max(...all.map(p => p[0]));
    let y0 = Math.min(...all.map(p => p[1])), y1 = Math.max(...all.map(p => p[1]));
    if (x1 === x0) x1 = x0 + 1;
    if (y1 === y0) { y1 += 0.5; y0 -= 0.5; }
    const pad = 0.06 * h, X = x => (x - x0) / (x1 - x0) * (w - 2 * pad) + pad;
    const Y = y => h - pad - (y - y0) / (y1 - y0) * (h - 2 * pad);
    g.clearRect(0, 0, w, h);
    g.font = (0.07 * h) + 'px system-ui'; g.fillStyle = '#555';
    g.fillText(y1.toPrecision(3), 4, pad + 0.07 * h); g.fillText(y0.toPrecision(3), 4, h - pad);
    Object.entries(plot.series).forEach(([name, points], i) => {
      g.strokeStyle = g.fillStyle = COLORS[i % COLORS.length]; g.lineWidth = Math.max(2, h / 110);
      g.beginPath(); points.forEach(([x, y], k) => k ? g.lineTo(X(x), Y(y)) : g.moveTo(X(x), Y(y))); g.stroke();
      g.fillText(name, w - pad - g.measureText(name).width, pad + (i + 1) * 0.08 * h);
    });
  };
  const showCurves = (curves) => {
    const key = JSON.stringify(curves.map(c => Object.values(c.series).map(s => s.length + ':' + s[s.length - 1])));
    if (key === shownCurves) return;  // only what changed is redrawn
    shownCurves = key;
    const box = $('charts');
    while (box.children.length > curves.length * 2) box.lastChild.remove();
    curves.forEach((plot, i) => {
      if (!box.children[2 * i]) {
        const label = document.createElement('div');
        label.className = 'label';
        box.append(label, document.createElement('canvas'));
      }
      box.children[2 * i].textContent = plot.label;
      draw(box.children[2 * i + 1], plot);
    });
  };
  const ended = (text) => { $('notice').hidden = false; setText('notice', text); setText('status', 'Ended'); };
  const poll = async () => {
    if (document.hidden) { setTimeout(poll, delay); return; }
    let r;
    try { r = await fetch(base + '/status', {cache: 'no-store'}); }
    catch (e) { setText('status', 'Reconnecting…'); setTimeout(poll, Math.min(10000, delay *= 2)); return; }
    if (r.status === 404 || r.status === 410) { ended(await r.text()); return; }  // the link ended: say why, stop
    if (!r.ok) { setText('status', 'Reconnecting…'); setTimeout(poll, 2000); return; }  // busy: try again
    const s = await r.json();
    delay = Math.max(500, 1000 * s.refresh_s);
    $('notice').hidden = true;
    setText('status', s.state + ' · step ' + s.step.toLocaleString() + ' / ' + s.target_steps.toLocaleString());
    setText('detail', (s.steps_per_s != null ? s.steps_per_s.toFixed(1) + ' steps/s · ' : '') +
            (s.state === 'running' ? 'ETA ' + duration(s.eta_s) : ''));
    setText('quality', s.quality || '');
    setText('title', 'Live: ' + s.title);
    $('picture').classList.toggle('pixels', s.kind === 'image');  // a grid of small images: sharp pixels
    if (s.picture_step !== shownPicture) {
      shownPicture = s.picture_step;
      $('picture').src = base + '/picture?step=' + s.picture_step;
    }
    showCurves(s.curves);
    setTimeout(poll, delay);
  };
  poll();
})();
</script></body></html>
"""
