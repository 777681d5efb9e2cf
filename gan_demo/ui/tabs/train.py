"""The Train tab: a run's settings, Start/Pause/Resume/Stop/Reset, live pictures and curves, checkpoints."""
from __future__ import annotations

import contextlib
import hashlib
import io
import math
import secrets
import shutil
import time
import zipfile
from pathlib import Path

import gradio as gr
import pandas as pd
from PIL import Image

from gan_demo.core.config import (LIVE_SETTINGS, FAMILY_SPECS, IMAGE_DATASETS, LABELLED_DATASETS,
                      TOY_DATASETS, ConfigError, DataConfig, ModelConfig, RunConfig,
                      TrainConfig, dataset_kind, family_settings_classes, field_docs, live_section)
from gan_demo.core.faces import Face
from gan_demo.data.datasets import IMAGE_EXTENSIONS, MIN_IMAGES, DataError, load_dataset
from gan_demo.render.model_diagram import run_graph
from gan_demo.evaluation.modes import LIVE_EVERY, LIVE_SAMPLES
from gan_demo.data.stacked import NAME as STACKED
from gan_demo.evaluation.live_quality import QUALITY_EVERY
from gan_demo.ui.catalog import CURRENT_RUN
from gan_demo.ui.errors import for_visitor, refusal, user_error
from gan_demo.ui.forms import (AUTO_FIELDS, CONTROL_FIELDS, FAMILY_ONLY, KIND_ONLY, WEB_MINUTES, cli_command,
                               config_from_values, fold_rows, swap_defaults, time_budget, train_place, values_for)
from gan_demo.ui.limits import check_live_change
from gan_demo.ui import recorded_timeline, share
from gan_demo.ui.plain_words import QUICK_DIGITS_LABEL
from gan_demo.ui.live_cache import curves_s
from gan_demo.ui.live_route import live_route, pooled, shown_picture
from gan_demo.ui.sessions import Busy
from gan_demo.ui.tempdirs import temp_dir
from gan_demo.ui.run_views import (CURVE_POINTS, MANIFOLD_SIDE, MANIFOLD_SPAN, SAMPLES_CAPTION, SCATTER_POINTS,
                          TERMINAL, TICK_S, CHANGE_SERIES, R_T, R_T_PLOT, SCORE_FAKE, SCORE_REAL, LiveView, VAEView,
                          change_markers, curves, has_latent_pictures, plot_columns, plots_for, quality_boxes,
                          shows_r_t, status_line, vae_pictures, vae_pictures_due, vae_view)
from gan_demo.ui.widgets import SCROLL_TO_SAMPLE, by_name

TRAIN_LIVE_JS = (Path(__file__).parents[1] / "train_live.js").read_text()  # installs window.ganLive
FOLLOW_JS = "(route) => { if (window.ganLive) window.ganLive.follow(route); return []; }"

PLOTS_EVERY_S = 2.0  # curves are redrawn at most this often while training (Vega redraws are the slow part)
TRAIN_FOR = [("steps", "steps"), ("minutes", "minutes")]  # the Train tab's choice of run length
MAX_SESSION_UPLOADS = 8  # dataset files a session can pick from; older ones are forgotten
MAX_SESSION_DATASET_BYTES = 200 * 2**20  # their bytes together (Gradio takes one file of at most 50 MB)

DATASET_LABELS = {
    "ring8": "ring8: 8 Gaussians on a circle (2D)",
    "grid25": "grid25: 5 x 5 grid of Gaussians (2D)",
    "spiral": "spiral (2D)",
    "moons": "moons: two half-moons (2D)",
    "digits": "digits: 8 x 8 handwritten digits, bundled (images)",
    "stacked-digits": "stacked-digits: three digits per image, 1,000 modes (images; mode collapse)",
    "mnist": "MNIST handwritten digits (images; downloaded or local files)",
    "fashion-mnist": "Fashion-MNIST clothes (images; downloaded or local files)",
    "cifar10": "CIFAR-10 colour photos (images; slow on a CPU)",
}
SERIES_COLORS = {CHANGE_SERIES: "#e66101",  # orange: a setting changed while the run trained (vertical lines)
                 "loss_D": "#2166ac", "loss_G": "#762a83", "D(x)": "#1b7837", "D(G(z))": "#762a83",
                 "modes covered": "#e66101", "KL(real || G)": "#b2182b", "JS(real, G)": "#4d4d4d",
                 "reconstruction": "#2166ac", "KL": "#b2182b", "ELBO": "#1b7837", R_T: "#4d4d4d",
                 SCORE_REAL: "#1b7837", SCORE_FAKE: "#762a83"}
# The Train tab's folds after the lesson's part: (accordion label, elem_id), as forms.SHARED_FACES places controls.
FOLDS = {"training": ("Training", "train_training_box"), "model": ("Model", None), "advanced": ("Advanced", None)}


# ============================================================ dataset uploads (no gradio)
def keep_dataset_upload(session, path: Path) -> tuple[str, list[str]]:
    """(the dropdown's key for this file, sentences for the visitor): the same file sent again keeps its key;
    past MAX_SESSION_UPLOADS files or MAX_SESSION_DATASET_BYTES the oldest are forgotten (Gradio cleans
    their files), each with a sentence saying the limit."""
    digest, size = file_digest(path), path.stat().st_size
    known = session.upload_digests.get(digest)
    if known in session.uploads:
        session.uploads[known] = session.uploads.pop(known)  # now the newest
        return known, [f"You uploaded this file before: it is kept once ({session.uploads[known].name})."]
    notes = []
    while session.uploads and (len(session.uploads) >= MAX_SESSION_UPLOADS or size + sum(
            session.upload_sizes.get(k, 0) for k in session.uploads) > MAX_SESSION_DATASET_BYTES):
        oldest = next(iter(session.uploads))
        notes.append(f"Forgot your oldest uploaded dataset ({session.uploads.pop(oldest).name}) to make room: a "
                     f"visitor keeps at most {MAX_SESSION_UPLOADS} files and {MAX_SESSION_DATASET_BYTES // 2**20} MiB.")
        session.upload_sizes.pop(oldest, None)
    # The dropdown's value: a key, never a path (its suffix tells points from images).
    upload_id = f"upload-{secrets.token_hex(8)}{path.suffix.lower()}"
    session.uploads[upload_id], session.upload_sizes[upload_id] = path, size
    session.upload_digests = {d: k for d, k in session.upload_digests.items() if k in session.uploads}
    session.upload_digests[digest] = upload_id
    return upload_id, notes


def file_digest(path: Path) -> str:
    """sha256 of a file, read in chunks (Gradio caps an upload at MAX_UPLOAD)."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(2**20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def check_upload(path: str | Path) -> str:
    """A one-line description of an uploaded dataset file, or DataError saying what is wrong with it."""
    path = Path(path)
    if path.suffix.lower() == ".csv":
        points = load_dataset(DataConfig(dataset=str(path)), "cpu")  # the loader's own checks, so Start agrees
        return f"{path.name}: {len(points):,} points"
    if path.suffix.lower() == ".zip":
        try:
            with zipfile.ZipFile(path) as zf:
                names = [i.filename for i in zf.infolist() if not i.is_dir()]
        except (zipfile.BadZipFile, OSError) as exc:
            raise DataError(f"{path.name} is not a readable zip file ({exc})") from None
        images = [n for n in names if n.lower().endswith(IMAGE_EXTENSIONS) and "__MACOSX" not in n]
        if len(images) < MIN_IMAGES:
            raise DataError(f"{path.name} holds {len(images)} images; at least {MIN_IMAGES} are needed "
                            f"({', '.join(IMAGE_EXTENSIONS)})")
        return f"{path.name}: {len(images):,} images"
    raise DataError(f"{path.name}: upload a .zip of images or a .csv of x,y points")


def message_for(snap: dict | None) -> str:
    if snap is None:
        return ""
    state, message = snap["state"], snap["message"]
    if state == "diverged":
        return f"### ⚠️ Training diverged\n{message}."
    if state == "failed":
        return f"### ⚠️ Training failed\n{message}"
    if state == "finished":
        return "Finished. Save the run as a checkpoint, or send it to **Explore** to walk its latent space."
    if state == "stopped":
        return "Stopped. Press **Start** for a new run; the stopped one can still be saved or explored."
    return ""


def quality_line(q: dict | None) -> str:
    """The latest quality figures of a 2D run or a stacked-digits run (Trainer.quality_history), in words."""
    if q is None:
        return ""
    parts = []
    if q["n_modes"] and q["high_quality"] is None:  # stacked-digits: 1,000 modes read by the digits classifier
        parts.append(f"**Modes covered at step {q['step']:,}: {q['modes_covered']} / {q['n_modes']}** of 2,600 "
                     f"samples · KL to uniform over modes {q['mode_kl']:.2f} (0 = every mode equally often, "
                     f"{math.log(q['n_modes']):.2f} = all on one mode). Each channel is read by the digits "
                     "classifier; even perfect samples cover only about 925 modes with 2,600 draws. "
                     "The Quality tab measures 26,000 samples, as the papers do.")
    elif q["n_modes"]:
        k = q["n_modes"]
        parts.append(f"**Modes covered: {q['modes_covered']} / {k}** · high-quality samples "
                     f"{100 * q['high_quality']:.0f}% · KL to uniform over modes {q['mode_kl']:.2f} "
                     f"(0 = every mode equally often, {math.log(k):.2f} = all on one mode). "
                     "A generator that covers only a few modes has *collapsed*.")
    if q["grid_kl"] is not None:
        parts.append(f"**Grid divergence at step {q['step']:,}:** KL(real ‖ G) {q['grid_kl']:.3f} · "
                 f"JS {q['grid_js']:.3f} (GAN Lab's measure: both point sets counted on a 20 × 20 grid; "
                     f"0 = the same histogram, JS {math.log(2):.2f} = no overlap at all). KL grows fast when "
                     "G misses places where real data lies; JS is bounded and smoother.")
    return "\n\n".join(parts)


def quality_plots(quality_history: dict, points: int = CURVE_POINTS) -> tuple[pd.DataFrame | None,
                                                                              pd.DataFrame | None,
                                                                              pd.DataFrame | None, int | None]:
    """(KL, JS, modes covered) curves of a 2D run's quality history, and the number of modes.

    KL and JS get a plot each: KL runs up to ~20 while JS stays below ln 2, so on one axis JS is a flat line.
    """
    modes = None
    n_modes = next((n for n in quality_history.get("n_modes", []) if n), None)
    if n_modes:
        modes = curves(quality_history, {"modes_covered": "modes covered"}, points)
    if not any(v is not None for v in quality_history.get("grid_kl", [])):  # stacked-digits: modes only
        return None, None, modes, n_modes
    kl = curves(quality_history, {"grid_kl": "KL(real || G)"}, points)
    js = curves(quality_history, {"grid_js": "JS(real, G)"}, points)
    return kl, js, modes, n_modes


def settings_details(docs: dict[str, str]) -> str:
    """Every control's short label beside its command-line flag and the config's full description (the ⓘ fold)."""
    rows = ["| setting | command line | in full |", "|---|---|---|"]
    for name, face in CONTROL_FIELDS.items():
        if name in docs:
            rows.append(f"| {face.label} | `--{name.replace('_', '-')}` | {docs[name].replace('|', '/')} |")
    return "\n".join(rows)


def _button_updates(state: str | None) -> list:
    """interactive flags for Start, Pause, Resume, Stop, Reset, Save, Send to Explore, Apply now."""
    live = state in ("running", "paused")
    flags = (not live, state == "running", state == "paused", live, state is not None, state is not None,
             state is not None, live)
    return [gr.update(interactive=f) for f in flags]


# ============================================================================ the handlers
BUTTONS = ("start", "pause", "resume", "stop", "reset", "save", "send", "apply_now")  # as _button_updates orders them
# What the timer's tick (on_beat) may update: what changes while any run trains. Gradio builds a component, in its
# event loop, for every output of an event that its answer leaves out (~1.4 ms each; the full list is 35), so the
# tick names only these; the rest (buttons, messages, the boxes a family shows) come with the full update, which
# the tick asks for (full_due) when the run's state changed or a view shows a run for the first time, and an image
# run's extras (PICTURES: r_t, a VAE's reconstructions, manifold and scatter) with their own small event
# (pictures_due), so that a 2D run's tick does not carry four outputs it never changes (BENCHMARKS 26).
BEAT = ("view", "grid", "status", "loss_plot", "d_plot", "modes_md", "modes_plot", "kl_plot", "js_plot", "timeline",
        "timer", "model_graph", "full_due", "pictures_due")
PICTURES = ("rt_plot", "recon_image", "manifold_image", "scatter_image")
DUES = ("full_due", "pictures_due")  # hidden textboxes: a new value asks the page for an event, the same one nothing


def plot_value(current: LiveView, component: str, frame, **head):
    """A LinePlot's new data: the bare frame when the plot already shows these labels and limits (this view
    sent them), else a LinePlot carrying them. Gradio builds a component for every update it is given, in
    its event loop (~6 ms a plot, measured: BENCHMARKS 25), while a bare value is postprocessed on a worker
    thread; a class of 24 open Train tabs sends many."""
    if current.heads.get(component) == head:
        return frame
    current.heads[component] = head
    return gr.LinePlot(frame, **head)


class Train:
    """The tab's handlers: values in (a control's value, or {field: value} for Start and Apply now) and values
    out ({output name: value}, named as build() names the components), so they run without a built app."""

    def __init__(self, ctx):
        self.ctx = ctx
        self.save_root = temp_dir("gan_demo_saves_")

    def _quality_updates(self, trainer) -> dict:
        shown = quality_boxes(trainer)
        label = (f"Modes covered (of {LIVE_SAMPLES:,} samples from G_ema, every {LIVE_EVERY} steps)"
                 if trainer.kind == "image" else "Modes covered (of 1,024 samples from G_ema)")
        return {"modes_box": gr.update(visible=shown["box"]), "modes_plot": gr.update(visible=shown["modes"], label=label),
                "kl_plot": gr.update(visible=shown["grid"]), "js_plot": gr.update(visible=shown["grid"])}

    def family_controls(self, family: str) -> dict:
        """Visibility of each family's own controls: the picked family's shown, the other's hidden."""
        return {n: gr.update(visible=owner == family) for owner, owned in FAMILY_ONLY.items() for n in owned}

    def session_of(self, request: gr.Request):
        return self.ctx.registry.get(request.session_hash)

    def family_view(self, family: str, trainer=None) -> dict:
        """The outputs that follow the family: plot labels, the samples' caption, a VAE image run's pictures."""
        first, second = plots_for(family, trainer.cfg.train.loss if trainer is not None else None)
        vae_images = trainer is not None and trainer.family.name == "vae" and trainer.kind == "image"
        latent = trainer is not None and has_latent_pictures(trainer)
        return {"loss_plot": gr.LinePlot(None, label=first.label, y_title=first.y_title),
                "d_plot": gr.LinePlot(None, label=second.label, y_title=second.y_title),
                "rt_plot": gr.LinePlot(None, visible=trainer is not None and shows_r_t(trainer)),
                "samples_md": SAMPLES_CAPTION[family], "vae_box": gr.update(visible=vae_images),
                "manifold_box": gr.update(visible=latent), "scatter_box": gr.update(visible=latent),
                "recon_image": None, "manifold_image": None, "scatter_image": None}

    def cleared(self, session, run_snap=None, family: str = "gan") -> dict:
        """Outputs for a fresh view: empty pictures and curves (labelled for the run's family, else `family`),
        buttons for the run's state."""
        state = run_snap["state"] if run_snap else None
        out = {"grid": None, "modes_plot": None, "kl_plot": None, "js_plot": None,
               "modes_md": "", "timeline": gr.update(minimum=0, maximum=1, value=0), "timeline_image": None,
               "timeline_caption": "",
               "status": status_line(run_snap, session.run_id if run_snap else None),
               "message": message_for(run_snap),
               "live_route": live_route(self.ctx).route_for(session) if run_snap else ""}
        trainer = session.trainer if run_snap else None
        out.update(self.family_view(trainer.family.name if trainer else family, trainer))
        out.update(zip(BUTTONS, _button_updates(state)))
        return out

    def live_curves(self, trainer, snap, current: LiveView) -> dict:
        """The line plots from the run's declared series, labelled for its family and loss (scores or
        probabilities), r_t on its own for an image GAN.

        A plot keeps the series it was first drawn with (gradio 6.31), so one that gains a series (a
        setting changed: its marker) is emptied this tick and drawn with it at the next."""
        out = {}
        plots = [*zip(("loss_plot", "d_plot"), plots_for(snap["family"], trainer.cfg.train.loss))]
        if shows_r_t(trainer):
            plots.append(("rt_plot", R_T_PLOT))
        drawn = current.drawn_series if current.drawn_series is not None else {}
        current.drawn_series, current.redraw = drawn, False
        points = current.curve_points(PLOTS_EVERY_S)
        for component, plot in plots:
            frame = change_markers(curves(snap["history"], plot_columns(plot, snap["series"]), points),
                                   snap["schedule"])
            series = set() if frame is None else set(frame["series"])
            key = component  # the plot's name, its elem_id too
            if key in drawn and not series <= drawn[key]:
                drawn.pop(key)
                current.redraw = True
                out[component] = gr.LinePlot(None, label=plot.label, y_title=plot.y_title)
                current.heads[component] = {"label": plot.label, "y_title": plot.y_title}
                continue
            if series:
                drawn.setdefault(key, series)
            out[component] = plot_value(current, component, frame, label=plot.label, y_title=plot.y_title)
        return out

    def on_apply(self, values: dict, request: gr.Request):
        """Apply now: the live settings (config.LIVE_SETTINGS) whose controls differ from the run's, from its
        next step on; marked on the curves and recorded in the command (--schedule)."""
        session = self.session_of(request)
        trainer = session.trainer
        if trainer is None or trainer.state not in ("running", "paused"):
            return {"message": "Start a run first: settings change a run while it trains."}
        try:
            wanted = config_from_values({name: values[name] for name in CONTROL_FIELDS}, session.uploads)
            wanted = wanted.resolved(channels=trainer.cfg.model.channels if trainer.kind == "image" else None)
            live = LIVE_SETTINGS.get(trainer.cfg.family, ())
            section = {name: live_section(wanted, name, trainer.cfg.family) for name in live}
            current = trainer._live_values()
            changes = {name: getattr(section[name], name) for name in live
                       if getattr(section[name], name) is not None and getattr(section[name], name) != current[name]}
            if not changes:
                return {"message": f"Nothing to apply: the settings that can change while it trains "
                                   f"({', '.join(live)}) are as the run has them."}
            check_live_change(trainer.cfg, changes)  # the same work-per-step budget as a start
            trainer.change(**changes)
        except (ConfigError, ValueError) as exc:
            return {"message": f"### Cannot apply\n{refusal(exc)}"}
        words = ", ".join(f"{k} {current[k]} → {v}" for k, v in changes.items())
        return {"message": f"Applied from step {trainer.step:,} on: {words}. The curves mark it with a vertical line; "
                           "the command below replays it (--schedule).",
                "cli": self.live_command(session, changes)}

    def first_vae_view(self, trainer) -> VAEView | None:
        """A VAE image run's fixed real images, drawn as it starts (its data are given back when it ends)."""
        if trainer.family.name != "vae" or trainer.kind != "image":
            return None
        return vae_view(trainer, seed=trainer.cfg.train.seed)

    def live_vae_pictures(self, trainer, current: LiveView, ended: bool, now: float) -> dict:
        """A VAE image run's reconstructions (and with a 2D latent its manifold and scatter), every few seconds."""
        if trainer.family.name != "vae" or trainer.kind != "image":
            return {}
        if current.vae is None:  # a run started elsewhere (a lesson, the API): its data, while it has them
            current.vae = vae_view(trainer, seed=trainer.cfg.train.seed)
        if current.vae is None or not vae_pictures_due(current.vae, ended, now):
            return {}
        current.vae.drawn_at = now
        pictures = vae_pictures(trainer, current.vae)
        out = {"recon_image": pictures["recon"]}
        if pictures["manifold"] is not None:
            out.update({"manifold_image": pictures["manifold"], "scatter_image": pictures["scatter"]})
        return out

    def on_start(self, values: dict, request: gr.Request):
        session = self.session_of(request)
        with session.view_lock:  # the old run's live answers land before this one (Session.view_lock)
            return self._start(session, values)

    def _start(self, session, values: dict) -> dict:
        try:
            cfg = config_from_values({name: values[name] for name in CONTROL_FIELDS}, session.uploads)
            budget = time_budget(values.get("train_for", "steps"), values.get("minutes"))
            trainer = self.ctx.registry.start(session, cfg, self.ctx.device, budget=budget)
        except Busy as exc:
            gr.Warning(str(exc))
            return {"message": f"{recorded_timeline.SERVER_BUSY}\n{exc}"}
        except (ConfigError, DataError, ValueError) as exc:
            why = for_visitor(exc)
            gr.Warning(f"Cannot start: {why}")
            return {"message": f"### Cannot start\n{why}"}
        snap = trainer.snapshot()
        out = self.cleared(session, snap)
        note = trainer.dataset.note
        if cfg.data.dataset == STACKED and not trainer.quality_every:
            note = ("the live count of the 1,000 modes needs the digits classifier, trained once and cached: "
                    "measure any stacked-digits run in the Quality tab, then start again")
        shown = f"Dataset note: {note}" if note else ""
        if budget is not None:
            shown = " ".join(filter(None, (shown, f"Timing the first steps to fill {budget.minutes:g} minutes: the steps "
                                                  "are set then, and the command below shows them.")))
        out.update({"message": shown,
                    **self._quality_updates(trainer),
                    "cli": cli_command(cfg, session.run_id),
                    "model_graph": run_graph(trainer.cfg, dataset=trainer.dataset.name),
                    "view": LiveView(run_id=session.run_id, vae=self.first_vae_view(trainer)),
                    "timer": gr.Timer(active=True)})
        return out

    @staticmethod
    def _ended(snap: dict, current: LiveView) -> bool:
        """A run that ended or paused gets its curves and graph drawn at its last step at once, so the status,
        the charts and the graph all show the same step (the curves' rate limit would skip it)."""
        return (snap["state"] in TERMINAL and snap["state"] != current.state) or (
            snap["state"] == "paused" and (snap["state"] != current.state or snap["step"] != current.step))

    @classmethod
    def _curves_due(cls, snap: dict, current: LiveView, now: float) -> bool:
        """Curves at the pace of the tab's own event (every PLOTS_EVERY_S while few runs train, slower under a
        class: live_cache.curves_s), once more when the run ends or pauses, and when the view asks for a redraw."""
        every = current.curves_s or PLOTS_EVERY_S
        stepped = snap["step"] != current.step
        # A little early is due: the tab's events come every `every` seconds, give or take the network's jitter.
        return (stepped and now - current.plotted_at >= 0.8 * every) or cls._ended(snap, current) or current.redraw

    def pooled(self, trainer) -> int:
        """How many runs the pool stepping this run holds (0: it trains alone)."""
        return pooled(self.ctx, trainer)

    def on_tick(self, current: LiveView | None, request: gr.Request):
        session = self.session_of(request)
        with session.view_lock:  # one live answer at a time, never across a Start, Stop or Reset
            return self._tick(session, current)

    def _tick(self, session, current: LiveView | None) -> dict:
        trainer = session.trainer
        if trainer is None:
            return {"timer": gr.Timer(active=False)}
        if current is None or current.run_id != session.run_id:
            current = LiveView(run_id=session.run_id)
        now = time.monotonic()
        snap = trainer.snapshot(history=False)  # most ticks draw no curves: no copy of every recorded step
        if self._curves_due(snap, current, now):
            snap = trainer.snapshot()  # everything below reads this one: status, curves and graph at one step
        out = {"view": current}
        if snap["state"] != current.state:
            out.update(zip(BUTTONS, _button_updates(snap["state"])))
            out["message"] = message_for(snap)
            out.update(self._quality_updates(trainer))
            if current.state == "":  # the first tick of a run this view has not shown yet (started elsewhere)
                vae_images = trainer.family.name == "vae" and trainer.kind == "image"
                latent = has_latent_pictures(trainer)
                out.update({"samples_md": SAMPLES_CAPTION[snap["family"]], "vae_box": gr.update(visible=vae_images),
                            "manifold_box": gr.update(visible=latent), "scatter_box": gr.update(visible=latent),
                            "rt_plot": gr.update(visible=shows_r_t(trainer)),
                            "live_route": live_route(self.ctx).route_for(session)})
            if snap["state"] == "diverged":
                out["alert"] = snap["message"]  # shown as a warning by alert's queued event (see _warn)
        out["status"] = status_line(snap, session.run_id, self.pooled(trainer))
        budget = session.budget
        if budget is not None and budget.trainer is trainer and not budget.decided and snap["state"] in TERMINAL:
            budget.finish(trainer)  # stopped while timing its first steps: the steps it took, not the placeholder
        if budget is not None and budget.trainer is trainer and budget.decided and session.run_cfg is not None \
                and session.run_cfg.train.steps != budget.steps:
            session.run_cfg.train.steps = budget.steps  # the command now repeats the run: --steps N
            out["cli"] = self.live_command(session)
            told = (f"{budget.minutes:g} minutes at the speed of the first steps: **{budget.steps:,} steps** "
                    "(in the command below and in the saved config.json).")
            out["message"] = " ".join(filter(None, (out.get("message"), told)))
        stepped = snap["step"] != current.step
        ended = self._ended(snap, current)
        if stepped:  # drawn once per (run, step) however many tabs poll, its timeline frame kept when due
            picture = shown_picture(self.ctx, session, trainer, snap["step"])
            out["grid"] = picture.path()  # encoded once per (run, step): Gradio serves the file as it is
        every = curves_s(self.ctx.registry.active_runs(), PLOTS_EVERY_S)
        if every != current.curves_s:  # the picture and status line come from the live route; this event less often
            current.curves_s = every
            out["timer"] = gr.Timer(every, active=True)
        if stepped or ended:
            out.update(self.live_vae_pictures(trainer, current, ended, now))
        if (stepped or ended) and snap["quality"] is not None:
            out["modes_md"] = quality_line(snap["quality"])
        if "history" in snap:  # _curves_due said so
            current.plotted_at = now
            out.update(self.live_curves(trainer, snap, current))
            kl, js, modes, n_modes = quality_plots(snap["quality_history"], current.curve_points(PLOTS_EVERY_S))
            if modes is not None:
                out["modes_plot"] = plot_value(current, "modes_plot", modes, y_lim=[0, n_modes])
            if kl is not None:
                out["kl_plot"] = kl
                out["js_plot"] = plot_value(current, "js_plot", js, y_lim=[0, 0.7])  # JS <= ln 2
            if snap["last"] is not None and snap["last"] != current.graphed:  # the graph's numbers, same pace
                current.graphed = snap["last"]
                out["model_graph"] = run_graph(trainer.cfg, numbers=snap["last"], dataset=trainer.dataset.name,
                                               step=snap["step"])
        if stepped:
            tl = session.timeline  # read after keep_frame: thinning replaces the deque
            if len(tl) != current.frames:
                current.frames = len(tl)
                # The slider sits on the latest frame of its range (not 0, below the range); its picture is
                # drawn when the fold is opened or the slider moved, not sent with every kept frame.
                out["timeline"] = gr.update(minimum=tl[0][0], maximum=max(tl[-1][0], tl[0][0] + 1), value=tl[-1][0])
        current.step, current.state = snap["step"], snap["state"]
        if (snap["state"] in TERMINAL or (snap["state"] == "paused" and not stepped)) and not current.redraw:
            out["timer"] = gr.Timer(active=False)  # nothing more to show until Resume or Start
        return out

    def on_beat(self, current: LiveView | None, request: gr.Request):
        """The timer's tick: on_tick's update of what changes while a run trains (BEAT). Whatever else it has
        (a new state's buttons and message, a view's first look at a run) waits in the view, and full_due
        changes so that the page asks for the full update (on_full) at once; an image run's extras alone
        (PICTURES) wait for on_pictures, which pictures_due asks for."""
        session = self.session_of(request)
        with session.view_lock:
            return self._beat(session, current)

    def _beat(self, session, current: LiveView | None) -> dict:
        out = self._tick(session, current)
        view = out.get("view")
        if view is None:  # no run: only the timer's stop
            return out
        beat = {name: value for name, value in out.items() if name in BEAT}
        rest = {name: value for name, value in out.items() if name not in BEAT}
        if rest:  # the full update brings all of it; else an image run's extras alone, with their small event
            due, waiting = ("full_due", view.waiting) if set(rest) - set(PICTURES) else ("pictures_due", view.pictures)
            waiting.update(rest)
            view.dues[due] = secrets.token_hex(4)  # a new value: its change event asks for what waits
        for due in DUES:  # unchanged, the value the page holds: no event, and no component built for an
            beat[due] = view.dues.get(due, "")  # output left out
        return beat

    def on_pictures(self, current: LiveView | None, request: gr.Request):
        """An image run's extras (PICTURES) the last tick left in the view (pictures_due changed); nothing when a
        Reset emptied the view or another event brought them (by_name answers Gradio with a skip)."""
        if current is None:
            return {}
        out, current.pictures = current.pictures, {}
        return out

    def on_full(self, current: LiveView | None, request: gr.Request):
        """The full update (the refresh the page presses when the run's state changes, or full_due): on_tick's,
        after what the last tick left waiting in the view."""
        session = self.session_of(request)
        with session.view_lock:
            waiting = {**current.pictures, **current.waiting} if current is not None else {}
            out = self._tick(session, current)
            view = out.get("view", current)
            if view is not None and view is current:
                out = {**waiting, **out}
                current.waiting, current.pictures = {}, {}
            return out

    def on_timeline(self, step, request: gr.Request):
        frames = list(self.session_of(request).timeline)
        if not frames:
            return None, ""
        chosen = frames[0]
        for frame in frames:
            if frame[0] <= step:
                chosen = frame
        return Image.open(io.BytesIO(chosen[1])), f"The grid at step **{chosen[0]:,}**"

    def control(self, action):
        def handler(request: gr.Request):
            session = self.session_of(request)
            trainer = session.trainer
            if trainer is None:
                return {}
            action(session, trainer)
            with session.view_lock:  # after any live answer computed before the action
                snap = trainer.snapshot()
                out = dict(zip(BUTTONS, _button_updates(snap["state"])))
                out["status"] = status_line(snap, session.run_id)
                out["timer"] = gr.Timer(active=True)  # one more tick shows the final state
                return out

        return handler

    def on_reset(self, family, request: gr.Request):
        session = self.session_of(request)
        trainer = session.trainer
        # The live link ends before the run does, so its screens read why (not a later poll's guess).
        share.shares_of(self.ctx).revoke(session, why=share.RESET_WHY)
        self.ctx.registry.stop(session)
        with session.view_lock:  # a live answer computed before the Reset lands before it, never after
            session.trainer, session.run_id = None, None
            session.timeline.clear()
            out = self.cleared(session, family=family)  # no run: the plots are labelled for the picked family
            out.update({"modes_box": gr.update(visible=False), "view": None, "timer": gr.Timer(active=False),
                        "saved": gr.update(value=None, visible=False)})
            if trainer is not None:  # the graph keeps the run's model, without its numbers
                out["model_graph"] = run_graph(trainer.cfg, dataset=trainer.dataset.name)
            return out

    def on_save(self, request: gr.Request):
        session = self.session_of(request)
        trainer = session.trainer
        if trainer is None:
            raise user_error("Nothing to save yet: start a run first.")
        folder = self.save_root / session.token  # the server's name for the session, never the client's hash
        shutil.rmtree(folder, ignore_errors=True)  # one saved zip per browser session
        run_dir = trainer.save(folder / session.run_id)
        (run_dir / "command.txt").write_text(cli_command(trainer.cfg, session.run_id) + "\n")  # from step 0
        archive = shutil.make_archive(str(run_dir), "zip", root_dir=run_dir.parent, base_dir=run_dir.name)
        gr.Info(f"Saved {session.run_id} at step {trainer.step:,}.")
        return gr.update(value=archive, visible=True, label=f"Checkpoint {session.run_id} (step {trainer.step:,})")

    def on_dataset_input(self, dataset, loss, family, *auto_values):
        current = dict(zip(AUTO_FIELDS, auto_values))
        new = swap_defaults(current, dataset, loss, family)
        return [gr.update(value=new[n]) if n in new else gr.update() for n in AUTO_FIELDS]

    def on_family_change(self, family, request: gr.Request):
        """Show the picked family's settings and hide the other's; without a run, relabel the plots too."""
        out = self.family_controls(family)
        if self.session_of(request).trainer is None:
            out.update({component: update for component, update in self.family_view(family).items()
                        if component in ("loss_plot", "d_plot", "samples_md")})
        return out

    def on_dataset_change(self, dataset):
        two = dataset_kind(dataset or "ring8") == "2d"
        labelled = dataset in LABELLED_DATASETS
        updates = [gr.update(visible=two)] * 3 + [gr.update(visible=not two)] * 4
        updates.append(gr.update(visible=not two, interactive=labelled, **({} if labelled else {"value": False})))
        return updates

    def on_upload(self, request: gr.Request, file, dataset, loss, family, *auto_values):
        if file is None:
            return [gr.update()] * (2 + len(AUTO_FIELDS)) + [""]
        path = file if isinstance(file, str) else file.name
        try:
            description = check_upload(path)
        except DataError as exc:
            gr.Warning(str(exc))
            # Empty the upload box again, so the next file can be dropped straight in.
            return [None] + [gr.update()] * (1 + len(AUTO_FIELDS)) + [f"### Cannot use this file\n{exc}"]
        session = self.session_of(request)
        upload_id, notes = keep_dataset_upload(session, Path(path))
        choices = [(DATASET_LABELS[n], n) for n in TOY_DATASETS + IMAGE_DATASETS]
        choices += [(f"{p.name} (uploaded)", key) for key, p in session.uploads.items()]
        new = swap_defaults(dict(zip(AUTO_FIELDS, auto_values)), path, loss, family)
        return ([gr.update(), gr.update(choices=choices, value=upload_id)]
                + [gr.update(value=new[n]) if n in new else gr.update() for n in AUTO_FIELDS]
                + [" ".join([f"Uploaded {description}. Press **Start** to train on it.", *notes])])

    def on_graph_settings(self, request: gr.Request, *values):
        """Without a run, the model graph follows the settings (loss, penalties, data); a run shows its own."""
        if self.session_of(request).trainer is not None:
            return gr.skip()
        try:
            return run_graph(config_from_values(dict(zip(CONTROL_FIELDS, values)), self.session_of(request).uploads))
        except (ConfigError, DataError, ValueError):
            return gr.skip()

    def live_command(self, session, pending: dict | None = None) -> str:
        """The live run's command: its settings as started and every change so far (--schedule)."""
        trainer = session.trainer
        shown = RunConfig.from_dict((session.run_cfg or trainer.cfg).to_dict())  # as started: auto stays auto
        shown.schedule = [*trainer.cfg.schedule, *([{"step": trainer.step, **pending}] if pending else [])]
        return cli_command(shown, session.run_id)

    def on_settings(self, request: gr.Request, *values):
        session = self.session_of(request)
        if session.trainer is not None and session.trainer.state in ("running", "paused"):
            return self.live_command(session)  # while a run is live the box describes it; Apply changes it
        try:
            return cli_command(config_from_values(dict(zip(CONTROL_FIELDS, values)), session.uploads))
        except (ConfigError, DataError, ValueError) as exc:
            return f"# these settings cannot run yet: {exc}"


# ============================================================================ the tab
def control_for(face: Face, value, visible: bool, choices: list | None = None) -> gr.components.Component:
    """A setting's control from its face (gan_demo.core.faces): the kind, its bounds or choices, its words."""
    common = dict(label=face.label, info=face.help, visible=visible)
    bounds = {k: v for k, v in (("minimum", face.minimum), ("maximum", face.maximum), ("step", face.step))
              if v is not None}
    if face.control == "slider":
        return gr.Slider(value=value, **bounds, **common)
    if face.control in ("radio", "dropdown"):
        kind = gr.Radio if face.control == "radio" else gr.Dropdown
        return kind(list(choices if choices is not None else face.choices), value=value, **common)
    if face.control == "checkbox":
        return gr.Checkbox(value, **common)
    return gr.Number(value, precision=0 if face.whole else None, **bounds, **common)


def build(ctx) -> dict:
    """Lay out the Train tab and wire its events; returns its components by name."""
    docs = {**field_docs(DataConfig), **field_docs(ModelConfig), **field_docs(TrainConfig),
            **{k: v for klass in family_settings_classes().values() for k, v in field_docs(klass).items()}}
    initial = values_for({})

    # ---------------------------------------------------------------- layout
    controls: dict[str, gr.components.Component] = {}
    owner = {name: family for family, names in FAMILY_ONLY.items() for name in names}
    kind_of = {name: kind for kind, names in KIND_ONLY.items() for name in names}
    picked_kind = dataset_kind(initial["dataset"])
    choices = {"family": [(spec.title or name, name) for name, spec in FAMILY_SPECS.items()],
               "dataset": [(DATASET_LABELS[n], n) for n in TOY_DATASETS + IMAGE_DATASETS]}

    def lay_out(fold: str) -> None:
        """The controls of one part of the tab, from their faces (forms.SHARED_FACES and each family's): shown when
        their family is picked and their dataset kind chosen; a short label and one-line help (plain words), the
        config's full words in the ⓘ fold."""
        for row, names in fold_rows(CONTROL_FIELDS, train_place, fold):
            with gr.Row() if row is not None else contextlib.nullcontext():
                for name in names:
                    visible = (owner.get(name, initial["family"]) == initial["family"]
                               and kind_of.get(name, picked_kind) == picked_kind)
                    controls[name] = control_for(CONTROL_FIELDS[name], initial[name], visible, choices.get(name))

    with gr.Row(equal_height=False):
        with gr.Column(scale=1, min_width=340):
            # What a lesson needs stays open: the model, the data, the game's rules, how long, the seed.
            lay_out("lesson")
            with gr.Row():
                train_for = gr.Radio(TRAIN_FOR, value="steps", label="Train for", elem_id="train_for",
                                     info="Steps, or minutes: the steps then come from the speed of the first ones.")
                minutes = gr.Number(2, label="Minutes", minimum=0.1, maximum=WEB_MINUTES, step=0.5, visible=False,
                                    elem_id="train_minutes")
            # The rest is folded: open it to tune a run.
            with gr.Accordion("Your own data", open=False, elem_id="train_upload_box"):
                upload = gr.File(label="Upload a dataset: a .zip of images or a .csv of x,y points",
                                 file_types=[".zip", ".csv"], file_count="single", elem_id="train_upload")
            for fold, (title, elem_id) in FOLDS.items():
                with gr.Accordion(title, open=False, elem_id=elem_id):
                    lay_out(fold)
            with gr.Accordion("(i) Every setting in full, with its command-line flag", open=False, elem_id="train_details"):
                gr.Markdown(settings_details(docs), elem_id="train_details_text")
            gr.Markdown("New words (D(x), G_ema, mode collapse, ...)? See the **glossary** at the end of the "
                        "**Lessons** tab.", elem_id="train_glossary_hint")
        with gr.Column(scale=2, min_width=480):
            with gr.Row():
                start = gr.Button("Start", variant="primary", elem_id="start", min_width=80)
                pause = gr.Button("Pause", interactive=False, elem_id="pause", min_width=80)
                resume = gr.Button("Resume", interactive=False, elem_id="resume", min_width=80)
                stop = gr.Button("Stop", variant="stop", interactive=False, elem_id="stop", min_width=80)
                reset = gr.Button("Reset", interactive=False, elem_id="reset", min_width=80)
                quick_digits = gr.Button(QUICK_DIGITS_LABEL, elem_id="train_quick_digits", min_width=170)
            apply_now = gr.Button("Apply changed settings to the running run", interactive=False, size="sm",
                                  elem_id="train_apply")
            status = gr.Markdown(status_line(None), elem_id="train_status")
            message = gr.Markdown("", elem_id="train_message")
            recorded = recorded_timeline.build(ctx, elem_prefix="busy")  # shown when Start is refused
            with gr.Row(equal_height=False):
                with gr.Column(scale=1, min_width=300):
                    # The picture's own legend sits top-left, where gradio would overlay the label.
                    samples_md = gr.Markdown(SAMPLES_CAPTION[initial["family"]], elem_id="train_samples_caption")
                    grid = gr.Image(label="Samples", show_label=False, type="pil", format="png", interactive=False,
                                    buttons=["download", "fullscreen"], elem_id="train_grid")
                with gr.Column(scale=1, min_width=300):
                    # No height=: with one, gradio 6.31 cuts off the plot's legend.
                    first, second = plots_for(initial["family"])  # relabelled with the family (plot_updates)
                    loss_plot = gr.LinePlot(None, x="step", y="value", color="series", color_title="",
                                            color_map=SERIES_COLORS, label=first.label,
                                            elem_id="loss_plot", x_title="step", y_title=first.y_title)
                    d_plot = gr.LinePlot(None, x="step", y="value", color="series", color_title="",
                                         color_map=SERIES_COLORS, label=second.label,
                                         elem_id="d_plot", x_title="step", y_title=second.y_title)
                    rt_plot = gr.LinePlot(None, x="step", y="value", color="series", color_title="",
                                          color_map=SERIES_COLORS, label=R_T_PLOT.label, elem_id="rt_plot",
                                          x_title="step", y_title=R_T_PLOT.y_title, y_lim=[-1, 1], visible=False)
            with gr.Row(visible=False, equal_height=False) as vae_box:  # a VAE image run's own pictures
                with gr.Column(scale=1, min_width=260):
                    gr.Markdown("**Reconstructions**: real images (left) through the encoder's mean and the "
                                "decoder (right); the same images all run long")
                    recon_image = gr.Image(label="Reconstructions", show_label=False, type="pil", format="png",
                                           interactive=False, buttons=["download", "fullscreen"],
                                           elem_id="vae_reconstructions")
                with gr.Column(scale=1, min_width=260, visible=False) as manifold_box:
                    gr.Markdown(f"**Decoded manifold**: the decoder at a {MANIFOLD_SIDE} × {MANIFOLD_SIDE} grid of "
                                f"z over [−{MANIFOLD_SPAN}, {MANIFOLD_SPAN}]² (z₁ left to right, z₂ bottom to top; "
                                "a class-conditional VAE draws its first class)")
                    manifold_image = gr.Image(label="Decoded manifold", show_label=False, type="pil", format="png",
                                              interactive=False, buttons=["download", "fullscreen"],
                                              elem_id="vae_manifold")
                with gr.Column(scale=1, min_width=260, visible=False) as scatter_box:
                    gr.Markdown(f"**Encoded data**: the encoder's mean for {SCATTER_POINTS} real images, coloured by class; "
                                "the dashed square is the manifold's grid")
                    scatter_image = gr.Image(label="Encoded data", show_label=False, type="pil", format="png",
                                             interactive=False, buttons=["download", "fullscreen"],
                                             elem_id="vae_scatter")
            with gr.Column(visible=False) as modes_box:
                modes_md = gr.Markdown("", elem_id="mode_metrics")
                with gr.Row(equal_height=False):
                    kl_plot = gr.LinePlot(None, x="step", y="value", color="series", color_title="",
                                          color_map=SERIES_COLORS, elem_id="kl_plot", min_width=220,
                                          label=f"Grid KL(real ‖ G), every {QUALITY_EVERY} steps",
                                          x_title="step", y_title="KL")
                    js_plot = gr.LinePlot(None, x="step", y="value", color="series", color_title="",
                                          color_map=SERIES_COLORS, elem_id="js_plot", min_width=220,
                                          label=f"Grid JS(real, G), every {QUALITY_EVERY} steps",
                                          x_title="step", y_title="JS")
                    modes_plot = gr.LinePlot(None, x="step", y="value", color="series", color_title="",
                                             color_map=SERIES_COLORS, elem_id="mode_plot",
                                             label="Modes covered (of 1,024 samples from G_ema)", min_width=220,
                                             x_title="step", y_title="modes covered")
            with gr.Accordion("The model", open=False, elem_id="train_graph_box"):
                # The run's GAN as GAN Lab draws it, with the latest numbers (redrawn with the curves).
                model_graph = gr.HTML(run_graph(config_from_values(initial)), elem_id="train_graph",
                                      js_on_load=None)
            with gr.Accordion("Timeline: earlier grids", open=False, elem_id="timeline_box") as timeline_box:
                timeline = gr.Slider(0, 1, value=0, step=1, label="Step", elem_id="timeline",
                                     info="Grids are kept every 50 steps (thinned on long runs); drag to look back.")
                timeline_caption = gr.Markdown("")
                timeline_image = gr.Image(label="Grid at the chosen step", show_label=False, type="pil",
                                          format="png", interactive=False, elem_id="timeline_image")
            with gr.Row():
                save = gr.Button("Save run as checkpoint (zip)", interactive=False, elem_id="save_run")
                send = gr.Button("Send to Explore", interactive=False, elem_id="send_to_explore")
            saved = gr.File(label="Checkpoint", visible=False, interactive=False, elem_id="saved_run")
            share_row = share.build_row(ctx, draw=lambda run: live_route(ctx).draw(run))  # live link; projector
            cli = gr.Code(cli_command(config_from_values(initial)), language="shell", interactive=False, lines=3,
                          label="The same run from the command line", elem_id="train_cli", wrap_lines=True)
    for name, component in controls.items():
        component.elem_id = f"train_{name}"  # for browser tests: #train_width input[type=range], ...
    timer = gr.Timer(TICK_S, active=False)
    view = gr.State(None)
    alert = gr.Textbox(visible=False, elem_id="train_alert")  # a diverged run's warning, from the tick (_warn)
    # The picture and status line come from the live route (train_live.js polls it); the page presses this
    # hidden button for the tab's own update when the run's state changes.
    live = gr.Textbox("", visible=False, elem_id="train_live_route")
    refresh = gr.Button("Refresh", visible="hidden", elem_id="train_live_refresh")
    full_due = gr.Textbox("", visible=False, elem_id="train_full_due")  # the tick asks for the full update (on_beat)
    pictures_due = gr.Textbox("", visible=False, elem_id="train_pictures_due")  # ... for an image run's extras

    names = list(CONTROL_FIELDS)
    inputs = [controls[n] for n in names]
    buttons = [start, pause, resume, stop, reset, save, send, apply_now]
    auto_names = list(AUTO_FIELDS)

    live_outputs = [grid, status, message, loss_plot, d_plot, rt_plot, modes_box, modes_md, modes_plot, kl_plot, js_plot, timeline,
                    timeline_image, timeline_caption, *buttons, timer, view, model_graph, samples_md, vae_box,
                    manifold_box, scatter_box, recon_image, manifold_image, scatter_image, alert, live]

    h = Train(ctx)
    parts = {**controls, "start": start, "pause": pause, "resume": resume, "stop": stop, "reset": reset, "save": save,
             "send": send, "apply_now": apply_now, "saved": saved, "status": status, "message": message, "grid": grid,
             "loss_plot": loss_plot, "d_plot": d_plot, "rt_plot": rt_plot, "modes_box": modes_box, "modes_md": modes_md,
             "modes_plot": modes_plot, "kl_plot": kl_plot, "js_plot": js_plot, "timeline": timeline,
             "timeline_image": timeline_image, "timeline_caption": timeline_caption, "timer": timer, "view": view,
             "model_graph": model_graph, "samples_md": samples_md, "vae_box": vae_box, "manifold_box": manifold_box,
             "scatter_box": scatter_box, "recon_image": recon_image, "manifold_image": manifold_image,
             "scatter_image": scatter_image, "cli": cli, "train_for": train_for, "minutes": minutes, "alert": alert,
             "live_route": live, "full_due": full_due, "pictures_due": pictures_due}

    def named(handler):
        return by_name(handler, parts)

    # ------------------------------------------------------------- wiring
    private = dict(api_visibility="private")
    started = start.click(named(h.on_start), set(inputs) | {train_for, minutes}, live_outputs + [cli],
                          show_progress="minimal", **private)
    # The tick skips Gradio's queue (a plain POST answered at once: ~15% more training for a class of 24 with
    # their tabs open, BENCHMARKS.md section 13); gr.Warning cannot reach a page from there, so alert relays it.
    # The timer's tick updates only BEAT; the full update comes from the route's refresh or the tick's full_due.
    beat_outputs = [parts[name] for name in BEAT]
    timer.tick(named(h.on_beat), [view], beat_outputs, show_progress="hidden", queue=False, **private)
    refresh.click(named(h.on_full), [view], live_outputs + [cli], show_progress="hidden", queue=False, **private)
    full_due.change(named(h.on_full), [view], live_outputs + [cli], show_progress="hidden", queue=False, **private)
    pictures_due.change(named(h.on_pictures), [view], [parts[name] for name in PICTURES], show_progress="hidden",
                        queue=False, **private)
    gr.on(None, None, None, None, js=TRAIN_LIVE_JS, **private)  # installs window.ganLive once the page loads
    live.change(None, live, None, js=FOLLOW_JS, show_progress="hidden", **private)
    alert.change(_warn, alert, None, show_progress="hidden", **private)
    train_for.change(lambda how: (gr.update(visible=how == "steps"), gr.update(visible=how == "minutes")), train_for,
                     [controls["steps"], minutes], show_progress="hidden", queue=False, **private)
    for button, action in ((pause, lambda s, t: t.pause()), (resume, lambda s, t: t.resume()),
                           (stop, lambda s, t: ctx.registry.stop(s))):
        button.click(named(h.control(action)), None, [*buttons, status, timer], show_progress="hidden",
                     concurrency_limit=None, **private)
    reset.click(named(h.on_reset), controls["family"], live_outputs + [saved], show_progress="hidden", concurrency_limit=None, **private)
    share_row["follow_run"](reset, started)  # Reset ends and clears the live link; a Start that replaced the run too
    recorded["follow_start"](started, message)  # a refused Start shows the pretrained digits' recorded training
    save.click(h.on_save, None, saved, **private)
    apply_now.click(named(h.on_apply), set(inputs), [message, cli], show_progress="hidden", concurrency_limit=None, **private)
    timeline.input(h.on_timeline, timeline, [timeline_image, timeline_caption], trigger_mode="always_last", show_progress="hidden",
                   concurrency_limit=None, **private)
    timeline_box.expand(h.on_timeline, timeline, [timeline_image, timeline_caption], show_progress="hidden",
                        concurrency_limit=None, **private)
    auto_controls = [controls[n] for n in auto_names]
    picks = [controls["dataset"], controls["loss"], controls["family"]]  # what the auto values depend on
    for picked in picks:
        picked.input(h.on_dataset_input, [*picks, *auto_controls], auto_controls, show_progress="hidden", **private)
    # .change, not .input: a lesson's preset that sets the family shows its settings too.
    controls["family"].change(named(h.on_family_change), controls["family"],
                              [*(controls[n] for names_ in FAMILY_ONLY.values() for n in names_), loss_plot, d_plot,
                               samples_md], show_progress="hidden", **private)
    kind_controls = [controls[n] for n in ("width", "depth", "activation", "ngf", "ndf", "img_size", "channels",
                                           "conditional")]
    controls["dataset"].change(h.on_dataset_change, controls["dataset"], kind_controls, show_progress="hidden",
                               queue=False, **private)
    upload.upload(h.on_upload, [upload, *picks, *auto_controls],
                  [upload, controls["dataset"], *auto_controls, message], **private)
    gr.on([c.change for c in inputs], h.on_settings, inputs, cli, trigger_mode="always_last", show_progress="hidden",
          queue=False, **private)
    gr.on([controls[n].change for n in ("family", "dataset", "loss", "r1_gamma", "gp_weight", "beta", "recon")],
          h.on_graph_settings, inputs,
          model_graph, trigger_mode="always_last", show_progress="hidden", queue=False, **private)

    return {"controls": controls, "start": start, "pause": pause, "resume": resume, "stop": stop, "reset": reset,
            "save": save, "send": send, "saved": saved, "status": status, "message": message, "grid": grid,
            "loss_plot": loss_plot, "d_plot": d_plot, "rt_plot": rt_plot, "timeline": timeline,
            "timeline_image": timeline_image, "timer": timer, "view": view,
            "model_graph": model_graph, "samples_md": samples_md, "vae_box": vae_box, "manifold_box": manifold_box,
            "scatter_box": scatter_box, "recon_image": recon_image, "manifold_image": manifold_image,
            "scatter_image": scatter_image, "cli": cli, "train_for": train_for, "minutes": minutes, "upload": upload, "values_for": values_for,
            "quick_digits": quick_digits, "handlers": h}


def _warn(text: str) -> None:
    """A warning the tick asked for (a diverged run): this event goes through the queue, so the page shows it."""
    if text:
        gr.Warning(text)


def wire_send_to_explore(ctx, train: dict, explore: dict, interp: dict, tabs) -> None:
    """"Send to Explore": switch to the Explore tab with the session's live run selected there and in Interpolate."""

    def send(request: gr.Request):
        session = ctx.registry.get(request.session_hash)
        if session.trainer is None:
            raise user_error("No run to explore yet: start a run first.")
        choices = ctx.catalog.choices(session)
        picked = gr.update(choices=choices, value=CURRENT_RUN)
        return gr.Tabs(selected="explore"), picked, picked

    train["send"].click(send, None, [tabs, explore["checkpoint"], interp["checkpoint"]], show_progress="hidden",
                        api_visibility="private").then(None, js=SCROLL_TO_SAMPLE, api_visibility="private")
