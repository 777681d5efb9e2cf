"""Assemble the tabs into one gr.Blocks app and launch it."""
from __future__ import annotations

import contextlib
import os
import signal
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator

import gradio as gr
import torch

from gan_demo.core.config import DataConfig
from gan_demo.evaluation.live_quality import live_quality
from gan_demo.training.pool import RunPools
from gan_demo.training.trainer import resolve_device
from gan_demo.ui.catalog import Catalog
from gan_demo.ui.live_cache import PictureCache
from gan_demo.ui.long_jobs import JobQueue
from gan_demo.ui.sessions import SESSION_TIMEOUT_S, SessionRegistry

ROOT = Path(__file__).resolve().parents[2]
# Gradio's queue keeps figures of its last GRADIO_ANALYTICS_MAX_EVENTS events (10,000) and, by default, rebuilds
# their summary (a pandas table, 2-6 ms of the interpreter) after every queued event, for a monitoring page this
# app does not use: under a class that is time taken from training. Read when the queue is made (at launch).
os.environ.setdefault("GRADIO_ANALYTICS_MAX_EVENTS", "1000")
os.environ.setdefault("GRADIO_ANALYTICS_CACHE_FREQUENCY", "1000")
# Gradio looks up its upload folder for every component it builds (each update a live tick returns is one),
# resolving <temp>/gradio on disk each time unless GRADIO_TEMP_DIR names it: the same folder, resolved once here.
# (py-spy, 24 Train tabs open: ~12% of a core in that lookup; ~40 us of a component's ~300.)
os.environ.setdefault("GRADIO_TEMP_DIR", str((Path(tempfile.gettempdir()) / "gradio").resolve()))
PRETRAINED = ROOT / "checkpoints"
RENDER_INTERVAL_S = 0.1  # at most ~10 renders a second across all visitors (BENCHMARKS: training under load)
MAX_UPLOAD = "50mb"  # uploads (image zips, point CSVs, run zips) larger than this are refused
CSS = """
.pixelated img { image-rendering: pixelated; }
footer { opacity: 0.9; }
"""


class RenderGate:
    """One render at a time across the app and, while any run trains, at most one every `interval` seconds:
    a flood of /generate calls or slider moves then takes a bounded share of the CPU (and of the
    interpreter) from the live runs. With no run training, renders follow each other at once."""

    def __init__(self, interval: float = RENDER_INTERVAL_S, training: Callable[[], bool] = lambda: False,
                 clock: Callable[[], float] = time.monotonic, sleep: Callable[[float], None] = time.sleep):
        self.interval = interval
        self.training = training  # whether a run is training now (the session registry says)
        self.clock, self.sleep = clock, sleep
        self._lock = threading.Lock()
        self._last = -float("inf")

    def __enter__(self) -> "RenderGate":
        return self._enter(self.interval)

    def _enter(self, interval: float) -> "RenderGate":
        self._lock.acquire()
        wait = self._last + interval - self.clock()
        if wait > 0 and self.training():
            self.sleep(wait)
        return self

    def __exit__(self, *exc) -> None:
        self._last = self.clock()
        self._lock.release()

    @contextlib.contextmanager
    def spaced(self, interval: float) -> Iterator["RenderGate"]:
        """The same gate, this render spaced `interval` seconds after the last one (instead of `self.interval`)
        while a run trains: for cheap requests that skip Gradio's queue (Explore's picture routes)."""
        self._enter(interval)
        try:
            yield self
        finally:
            self.__exit__()


@dataclass
class AppContext:
    """What every tab shares: the session registry, the checkpoint catalog and the device."""

    registry: SessionRegistry
    catalog: Catalog
    device: torch.device
    # One picture is rendered at a time across all visitors (sliders, /generate, /interpolate, GET /image),
    # so rendering load takes at most about one core from a live run.
    render_gate: "RenderGate" = field(default_factory=lambda: RenderGate())
    image_route: Callable | None = None  # GET /image (set by api.register): pretrained samples without the queue
    image_routes: object | None = None  # explore_images.ImageRoutes: run tokens, rate limits (made on first use)
    shares: object | None = None  # share.Shares: live runs shared by link (made on first use)
    live_route: object | None = None  # live_route.LiveRoute: the Train tab's live picture route (made on first use)
    # The server's data folder for the Quality tab's evaluations (held-out data, the classifier cache),
    # whatever a checkpoint's config.json says (an uploaded run's config.json is the uploader's words).
    data_dir: str = DataConfig().data_dir
    # Long jobs: one runs at a time, each visitor holds one place, the rest wait in turn with their place shown.
    projections: JobQueue = field(default_factory=lambda: JobQueue("projections"))
    evaluations: JobQueue = field(default_factory=lambda: JobQueue("evaluations"))
    # Each live run's progress picture, drawn once per shown step however many tabs poll it.
    pictures: PictureCache = field(default_factory=PictureCache)

    @classmethod
    def create(cls, device: str = "auto", max_runs: int = 2, pretrained: str | Path = PRETRAINED,
               session_timeout: float = SESSION_TIMEOUT_S, data_dir: str | Path | None = None,
               ray: str | None = None) -> "AppContext":
        from gan_demo.ui.errors import hide_folder
        from gan_demo.ui.widgets import forget_session_files

        dev = resolve_device(device)
        # Visitors' compatible runs (2D MLP GANs of the same shapes) train in pooled steps, a pool per core.
        registry = SessionRegistry(max_runs=max_runs, session_timeout=session_timeout, pools=RunPools())
        catalog = Catalog(pretrained, registry, dev)
        # An expired or closed session takes its files and cached samplers with it.
        registry.on_drop += [catalog.forget, forget_session_files]
        if ray:  # visitors' runs live in Ray actors (README: "A class bigger than one machine")
            from gan_demo.training.remote import RayRuns

            runs = RayRuns.connect(ray, device=device, live_quality=live_quality)
            registry.make_run, registry.make_pair = runs.make_run, runs.make_pair
            registry.pools = runs.pools  # pooled runs share one actor per pool, priced as in-process
            registry.on_drop.append(runs.forget_session)
        pictures = PictureCache()
        registry.on_drop.append(lambda session: pictures.forget(session.trainer))
        folder = str(data_dir or DataConfig().data_dir)
        hide_folder(folder)
        gate = RenderGate(training=lambda: registry.active_runs() > 0)
        return cls(registry=registry, catalog=catalog, device=dev, data_dir=folder, render_gate=gate,
                   pictures=pictures)


def build_demo(ctx: AppContext | None = None) -> gr.Blocks:
    from gan_demo.ui.tabs import compare as compare_tab
    from gan_demo.ui.tabs import explore as explore_tab
    from gan_demo.ui.tabs import interpolate as interpolate_tab
    from gan_demo.ui.tabs import lab as lab_tab
    from gan_demo.ui.tabs import lessons as lessons_tab
    from gan_demo.ui.tabs import projection as projection_panel
    from gan_demo.ui.tabs import quality as quality_tab
    from gan_demo.ui.tabs import train as train_tab

    ctx = ctx or AppContext.create()
    with gr.Blocks(title="gan_demo: train a GAN live", delete_cache=(600, 3600)) as demo:
        gr.Markdown("# gan_demo\nTrain a GAN (or a VAE) in your browser, watch it learn, and explore what its generator "
                    "learned.")
        with gr.Tabs() as tabs:
            with gr.Tab("Train", id="train") as train_page:
                train = train_tab.build(ctx)
            with gr.Tab("Compare", id="compare") as compare_page:
                compare = compare_tab.build(ctx, train)
            with gr.Tab("Explore", id="explore"):
                explore = explore_tab.build(ctx)
                projection_panel.build(ctx, explore["handlers"], explore["checkpoint"], explore["image"],
                                       explore["bookmarks"], explore["download"], after=[explore["reload"], explore["keep"]])
            with gr.Tab("Interpolate", id="interpolate"):
                interp = interpolate_tab.build(ctx)
            with gr.Tab("Quality", id="quality"):
                quality_tab.build(ctx)
            with gr.Tab("2D lab", id="lab"):
                lab_tab.build(ctx, train)
            with gr.Tab("Lessons", id="lessons"):
                lessons = lessons_tab.build(ctx)
        # Cross-tab wiring: a lesson fills the Train tab; a run is sent to Explore.
        lessons_tab.wire(ctx, lessons, train, tabs, compare)
        train_tab.wire_send_to_explore(ctx, train, explore, interp, tabs)
        compare_tab.wire_send_to_explore(ctx, compare, explore, interp, tabs)
        # A run started elsewhere (the 2D lab, a lesson) shows up when the Train tab is opened again:
        # wake its timer, which switches itself off once nothing changes.
        train_page.select(lambda: gr.Timer(active=True), None, train["timer"], api_visibility="private",
                          show_progress="hidden", concurrency_limit=None)
        compare_page.select(lambda: gr.Timer(active=True), None, compare["timer"], api_visibility="private",
                            show_progress="hidden", concurrency_limit=None)
        demo.unload(_make_unload(ctx))
        from gan_demo.ui import api

        api.register(ctx)
    demo.ctx = ctx
    return demo


def _make_unload(ctx: AppContext):
    def unload(request: gr.Request):
        if request.session_hash:
            ctx.registry.drop(request.session_hash)

    return unload


def launch(host: str = "127.0.0.1", port: int = 7860, share: bool = False, max_runs: int = 2,
           device: str = "auto", prevent_thread_lock: bool = False, session_timeout: float = SESSION_TIMEOUT_S,
           ray: str | None = None, **kwargs):
    if not prevent_thread_lock:
        stop_on_signals()  # from the start: a signal while the server starts up cleans up too
    ctx = AppContext.create(device=device, max_runs=max_runs, session_timeout=session_timeout, ray=ray)
    ctx.registry.start_reaper()
    demo = build_demo(ctx)
    demo.queue(default_concurrency_limit=8)
    demo.launch(server_name=host, server_port=port, share=share, max_file_size=MAX_UPLOAD,
                enable_monitoring=False, footer_links=["api"], theme=gr.themes.Soft(), css=CSS,
                prevent_thread_lock=True, **kwargs)
    add_image_route(demo)
    if not prevent_thread_lock:
        try:
            demo.block_thread()  # returns once SIGINT or SIGTERM closed the server
        finally:
            ctx.registry.close()  # every run stopped; the temp folder goes at exit (tempdirs' atexit hook)
    return demo


def stop_on_signals() -> None:
    """SIGINT and SIGTERM end the app as Ctrl+C in a terminal does: the server closes, runs stop, and the
    process exits normally, so its exit clean-up (the temp folder) runs. Without this a SIGTERM killed the
    process at once, and a SIGINT sent to an app started in the background (which ignores SIGINT) did nothing;
    both left the temp folder until the next start. A second signal ends the process at once."""
    def interrupt(signum, frame):
        signal.signal(signum, signal.SIG_DFL)
        raise KeyboardInterrupt(signal.Signals(signum).name)

    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, interrupt)


def add_image_route(demo: gr.Blocks) -> None:
    """GET /image beside Gradio's API (a plain, cacheable PNG route; README, API section), and Explore's and
    Interpolate's picture routes for a session's own runs (gan_demo.ui.explore_images), the Train tab's live
    picture and status (gan_demo.ui.live_route), and the watch pages of runs shared by link (gan_demo.ui.share).

    Added first in the route list, ahead of Gradio's catch-all page route.
    """
    from gan_demo.ui import explore_images, live_route, share

    explore_images.add_routes(demo.server_app, demo.ctx)
    live_route.add_routes(demo.server_app, demo.ctx)
    share.add_routes(demo.server_app, demo.ctx)
