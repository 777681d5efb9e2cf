"""The Compare tab: runs A and B side by side (A = the Train tab's settings, B = A with what the user changes).

Both start together from the same seed and data and are kept at the same step (gan_demo.training.compare);
their pictures sit side by side and every curve overlays A and B. A lesson starts a comparison in
one click. A finished comparison is saved as one zip and reopened here and in Explore.
"""
from __future__ import annotations

import shutil
import time
from dataclasses import dataclass, field

import gradio as gr
import pandas as pd
import torch
from PIL import Image

from gan_demo.render import viz
from gan_demo.training.compare import LABELS, describe
from gan_demo.training.checkpoint import CheckpointError
from gan_demo.core.config import FAMILY_SPECS, LIVE_SETTINGS, ConfigError, DataConfig, RunConfig
from gan_demo.data.datasets import DataError, load_dataset
from gan_demo.explore.latent import z_from_seed
from gan_demo.ui.errors import for_visitor, refusal, user_error
from gan_demo.ui.lab_views import in_lab, lab_picture
from gan_demo.ui.sessions import Busy
from gan_demo.ui.tempdirs import temp_dir
from gan_demo.ui.forms import B_FIELDS, CONTROL_FIELDS, SAME, cli_command, compare_place, fold_rows, pair_configs
from gan_demo.ui.run_views import (CHANGE_SERIES, SCORE_PLOT, TERMINAL, LiveView, curves, plots_for, progress_picture,
                                   quality_boxes)
from gan_demo.ui.widgets import SCROLL_TO_SAMPLE, by_name

TICK_S = 1.0  # seconds between live updates of a comparison
PLOTS_EVERY_S = 2.0  # curves redrawn at most this often while training
RUN_COLORS = {"A": ("#2166ac", "#5aae61", "#1b7837"), "B": ("#d6604d", "#e08214", "#b2182b")}  # per run, by series
WHICH = [("both runs", "both"), ("run A only", "A"), ("run B only", "B")]


def b_rows(fold: str) -> list[tuple[str, ...]]:
    """B's fields in one part of the "B differs" box ("open", or "more": its fold), row by row, from the settings'
    faces (forms.SHARED_FACES and each registered family's)."""
    return [tuple(names) for _, names in fold_rows({n: f for n, f in B_FIELDS.items() if f is not None},
                                                     compare_place, fold)]


def b_choices(name: str) -> tuple:
    """The values a B dropdown offers (the registered families for "family"); () for a text box."""
    return tuple(FAMILY_SPECS) if name == "family" else B_FIELDS[name].choices


def schedule_help() -> str:
    """The schedule box's line: each family's live settings, the first family's bare ("…; beta, lr_vae for a VAE")."""
    parts = [", ".join(live) + ("" if i == 0 else f" for a {family.upper()}")
             for i, (family, live) in enumerate(LIVE_SETTINGS.items())]
    return f"JSON: at each step, the live settings B takes from then on ({'; '.join(parts)}). Marked on the curves."


# ============================================================ overlaid curves (no gradio)
def overlay(histories: dict[str, dict], columns_of: dict[str, dict], schedules: dict[str, list] | None = None):
    """One long-format frame of both runs' curves: series "A: loss_D", "B: loss_D", ...

    histories: label -> history columns; columns_of: label -> {column: series name}. Every series gets
    one empty row from the first drawing on (a gradio plot keeps the series it was first drawn with),
    and a schedule's changes are marked as vertical lines ("B: setting changed")."""
    frames = []
    for label, history in histories.items():
        columns = columns_of.get(label, {})
        frame = curves(history, columns)
        names = [f"{label}: {name}" for name in columns.values()]
        if frame is not None:
            frame["series"] = label + ": " + frame["series"]
            frames.append(frame)
        frames.append(pd.DataFrame({"step": [0] * len(names), "value": [float("nan")] * len(names), "series": names}))
    data = pd.concat(frames, ignore_index=True) if frames else None
    if data is None or data["value"].notna().sum() == 0:
        return None
    low, high = float(data["value"].min()), float(data["value"].max())
    rows = []
    for label, schedule in (schedules or {}).items():
        for entry in schedule:
            rows += [{"step": entry["step"], "value": v, "series": f"{label}: {CHANGE_SERIES}"} for v in (low, high, low)]
    if rows:
        data = pd.concat([data, pd.DataFrame(rows)], ignore_index=True)
    return data


SLOTS = 3  # the Compare tab's curve charts: losses, D's probabilities (or a VAE's ELBO), a critic's raw scores


def slot_plots(family: str, loss: str | None):
    """The run's plots by chart: {0: losses, 1: probabilities or ELBO, or 2: scores}. A probability and a
    critic's score never share an axis: a score loss's D outputs go to a chart of their own."""
    first, second = plots_for(family, loss)
    return {0: first, (2 if second is SCORE_PLOT else 1): second}


def slot_columns(runs: dict[str, tuple]) -> list[dict]:
    """For each chart, {label: {column: series name}} of the runs drawn on it; runs: label -> (family, loss,
    declared series)."""
    out = [{} for _ in range(SLOTS)]
    for label, (family, loss, series) in runs.items():
        for slot, plot in slot_plots(family, loss).items():
            out[slot][label] = {c: n for c, n in plot.columns.items() if c in series}
    return out


def color_map() -> dict:
    """Fixed colours by series name: A in blues and greens, B in reds and oranges; changes in grey."""
    out = {}
    for label, colors in RUN_COLORS.items():
        for family in FAMILY_SPECS:
            for i, plot in enumerate((*plots_for(family), SCORE_PLOT)):
                for j, name in enumerate(plot.columns.values()):
                    out[f"{label}: {name}"] = colors[(i + j) % len(colors)]
        out[f"{label}: modes covered"] = colors[0]
        out[f"{label}: KL(real || G)"] = colors[0]
        out[f"{label}: {CHANGE_SERIES}"] = "#999999" if label == "A" else "#555555"
    return out


def status_table(snaps: dict[str, dict], diff: dict) -> str:
    """Both runs' state, step, speed and quality figures as a Markdown table."""
    rows = [("state", lambda s: f"**{s['state']}**"),
            ("step", lambda s: f"{s['step']:,} / {s['target_steps']:,}"),
            ("steps/s", lambda s: f"{s['steps_per_s']:.1f}" if s["state"] == "running" else "–")]
    q_any = any(s["quality"] for s in snaps.values())
    if q_any:
        def q(key, fmt):
            return lambda s: fmt(s["quality"][key]) if s["quality"] and s["quality"].get(key) is not None else "–"
        rows += [("modes covered", lambda s: (f"{s['quality']['modes_covered']} / {s['quality']['n_modes']}"
                                              if s["quality"] and s["quality"].get("n_modes") else "–")),
                 ("high-quality samples", q("high_quality", lambda v: f"{100 * v:.0f}%")),
                 ("KL(real ‖ G)", q("grid_kl", lambda v: f"{v:.3f}"))]
    lines = ["| | A | B |", "|---|---|---|"]
    for name, fn in rows:
        lines.append(f"| {name} | " + " | ".join(fn(snaps[label]) for label in LABELS) + " |")
    messages = [f"**{label}:** {s['message']}" for label, s in snaps.items() if s["message"]]
    return "\n".join(lines) + f"\n\n**B changes:** {describe(diff)}" + ("\n\n" + "  \n".join(messages) if messages else "")


# ============================================================ pictures (no gradio)
@dataclass
class PairView:
    """What the browser showed of the session's comparison (kept in a gr.State)."""

    key: tuple | None = None  # the comparison's run ids
    steps: dict = field(default_factory=dict)  # label -> step last drawn
    states: dict = field(default_factory=dict)
    views: dict = field(default_factory=dict)  # label -> LiveView (2D: the real points drawn beside)
    plotted_at: float = 0.0
    drawn_at: float = 0.0


def run_picture(trainer, view: LiveView) -> Image.Image:
    """A 2D GAN: the 2D lab's picture (D's map under the points); otherwise the progress grid or points."""
    if in_lab(trainer):
        return lab_picture(trainer, ["heat map"])[0]
    return progress_picture(trainer, view)


def saved_picture(sampler, cfg: RunConfig) -> Image.Image:
    """A reopened run's samples on its fixed noise batch (the progress grid it showed while training)."""
    n = 1024 if sampler.kind == "2d" else 64
    z = z_from_seed(cfg.train.seed + 1, sampler.z_dim, n)
    with torch.no_grad():
        x = sampler.generate(z).float().cpu()
    if sampler.kind != "2d":
        return viz.image_grid(x, nrow=8, upscale=max(1, 64 // cfg.model.img_size))
    real = None
    if cfg.data.dataset in ("ring8", "grid25", "spiral", "moons"):
        real = load_dataset(DataConfig(dataset=cfg.data.dataset, n_points=2000), "cpu").x.float()
    bounds = viz.default_bounds(real if real is not None else x)
    return viz.points_image(real if real is not None else x[:0], x, bounds, size=512)


# ============================================================================ the handlers
PLOTS = tuple(f"plot_{i}" for i in range(SLOTS))  # the curve charts' names, as build() names them
CAPTIONS = {"A": "caption_a", "B": "caption_b"}


class Compare:
    """The tab's handlers: values in ({name: value} for Start: A's fields as on Train, B's as b_<field>) and
    values out ({output name: value}, named as build() names the components), so they run without a built app."""

    def __init__(self, ctx, a_names=CONTROL_FIELDS):
        self.ctx = ctx
        self.a_names = list(a_names)  # A's fields in the Train tab's order (the first wrong one is reported)
        self.save_root = temp_dir("gan_demo_compare_saves_")

    def session_of(self, request: gr.Request):
        return self.ctx.registry.get(request.session_hash)

    def read_inputs(self, values: dict) -> tuple[dict, dict]:
        """A's values (the Train tab's controls) and B's changes (named b_<field>) apart."""
        return ({n: values[n] for n in self.a_names}, {n: values[f"b_{n}"] for n in B_FIELDS})

    def on_start(self, values: dict, request: gr.Request):
        session = self.session_of(request)
        with session.view_lock:  # the old comparison's live answers land before this one (Session.view_lock)
            return self._start(session, values)

    def _start(self, session, values: dict) -> dict:
        a_values, changes = self.read_inputs(values)
        try:
            cfg_a, cfg_b = pair_configs(a_values, changes, session.uploads)
            self.ctx.registry.start_pair(session, cfg_a, cfg_b, self.ctx.device)
        except Busy as exc:
            return {"message": f"### Server busy\n{exc}"}
        except (ConfigError, DataError, ValueError, RuntimeError) as exc:
            return {"message": f"### Cannot start\n{refusal(exc)}"}
        commands = "\n\n".join(f"**{label}:**\n```\n{cli_command(cfg, session.pair_ids[label])}\n```"
                               for label, cfg in zip(LABELS, (cfg_a, cfg_b)))
        return {"message": "", "summary": commands, "view": PairView(), "timer": gr.Timer(active=True),
                **self.plot_visibility(session.pair)}

    def plot_visibility(self, pair) -> dict:
        labels = {}
        for i, component in enumerate(PLOTS):
            titles = {label: slot_plots(t.family.name, t.cfg.train.loss)[i].label
                      for label, t in pair.runs.items() if i in slot_plots(t.family.name, t.cfg.train.loss)}
            same = len(set(titles.values())) == 1  # the same family: one title for both
            labels[component] = gr.update(visible=bool(titles), label=(
                f"{' and '.join(titles)}: {next(iter(titles.values()))}" if same else
                " · ".join(f"{label}: {title}" for label, title in titles.items())))
        boxes = [quality_boxes(t) for t in pair.runs.values()]
        return {**labels, "modes_plot": gr.update(visible=any(b["modes"] for b in boxes)),
                "kl_plot": gr.update(visible=any(b["grid"] for b in boxes))}

    def on_tick(self, current: PairView | None, request: gr.Request):
        session = self.session_of(request)
        with session.view_lock:  # one live answer at a time, never across a Start or a control (Session.view_lock)
            return self._tick(session, current)

    def _tick(self, session, current: PairView | None) -> dict:
        pair = session.pair
        if pair is None:
            return {"timer": gr.Timer(active=False)}
        key = tuple(session.pair_ids.values())
        if current is None or current.key != key:
            current = PairView(key=key)
        snaps = {label: t.snapshot() for label, t in pair.runs.items()}
        out = {"view": current, "status": status_table(snaps, pair.diff)}
        now = time.monotonic()
        stepped_of = {l: snaps[l]["step"] != current.steps.get(l) for l in LABELS}
        changed_of = {l: snaps[l]["state"] != current.states.get(l) for l in LABELS}
        stepped, changed = any(stepped_of.values()), any(changed_of.values())
        for label, component in (("A", "picture_a"), ("B", "picture_b")):
            if stepped_of[label] or changed_of[label]:  # only a run that moved: a step of B alone leaves A's picture
                trainer = pair.runs[label]
                lv = current.views.setdefault(label, LiveView())
                out[component] = run_picture(trainer, lv)
                out[CAPTIONS[label]] = f"**{label}** · step {snaps[label]['step']:,} · {snaps[label]['state']}"
        if (stepped and now - current.plotted_at >= PLOTS_EVERY_S) or changed:
            current.plotted_at = now
            out.update(self.live_curves(pair, snaps))
        current.steps = {l: snaps[l]["step"] for l in LABELS}
        current.states = {l: snaps[l]["state"] for l in LABELS}
        if all(s["state"] in TERMINAL or (s["state"] == "paused") for s in snaps.values()) and not stepped:
            out["timer"] = gr.Timer(active=False)  # nothing more to show until Resume, Step or Start
        return out

    def live_curves(self, pair, snaps: dict) -> dict:
        out = {}
        histories = {label: snaps[label]["history"] for label in LABELS}
        schedules = {label: snaps[label]["schedule"] for label in LABELS}
        runs = {label: (snaps[label]["family"], pair.runs[label].cfg.train.loss, snaps[label]["series"])
                for label in LABELS}
        for component, columns in zip(PLOTS, slot_columns(runs)):
            if columns:
                out[component] = overlay({label: histories[label] for label in columns}, columns,
                                         {label: schedules[label] for label in columns})
        out.update(self.quality_curves({label: snaps[label]["quality_history"] for label in LABELS}))
        return out

    def quality_curves(self, quality: dict) -> dict:
        out = {}
        if any(any(quality[l].get("n_modes", [])) for l in LABELS):
            n_modes = max(n for l in LABELS for n in quality[l].get("n_modes", []) if n)
            frame = overlay(quality, {l: {"modes_covered": "modes covered"} for l in LABELS})
            out["modes_plot"] = gr.LinePlot(frame, y_lim=[0, n_modes])
        if any(v is not None for l in LABELS for v in quality[l].get("grid_kl", [])):
            out["kl_plot"] = overlay(quality, {l: {"grid_kl": "KL(real || G)"} for l in LABELS})
        return out

    def act(self, action):
        def handler(chosen: str, request: gr.Request):
            session = self.session_of(request)
            if session.pair is None:
                return {"message": "Start a comparison first."}
            note = action(session, chosen or "both")
            with session.view_lock:  # answered after any live answer computed before the action
                return {"message": note or "", "timer": gr.Timer(active=True)}
        return handler

    def do_pause(self, session, chosen):
        session.pair.pause(chosen)

    def do_resume(self, session, chosen):
        session.pair.resume(chosen)

    def do_stop(self, session, chosen):
        self.ctx.registry.stop_pair(session, chosen)

    def do_step(self, session, chosen):
        """Step-by-step: pause the chosen runs (if they train) and take one step of each."""
        pair = session.pair
        pair.pause(chosen)
        done = pair.step(chosen)
        if not done:
            return "Nothing to step: the chosen runs have ended. Start a new comparison."
        return "One step: " + ", ".join(f"{label} now at step {rec['step']:,}" for label, rec in done.items()) + \
            ". Press **Resume** to train on."

    def on_save(self, request: gr.Request):
        session = self.session_of(request)
        if session.pair is None:
            raise user_error("Nothing to save yet: start a comparison first.")
        folder = self.save_root / session.token
        shutil.rmtree(folder, ignore_errors=True)  # one saved comparison per browser session
        name = "comparison-" + "-".join(session.pair_ids[label][4:12] for label in LABELS)
        run_dir = session.pair.save(folder / name)
        for label, trainer in session.pair.runs.items():  # the command ignores the step: it trains from step 0
            (run_dir / label / "command.txt").write_text(cli_command(trainer.cfg, session.pair_ids[label]) + "\n")
        archive = shutil.make_archive(str(run_dir), "zip", root_dir=run_dir.parent, base_dir=run_dir.name)
        steps = ", ".join(f"{label} at step {t.step:,}" for label, t in session.pair.runs.items())
        gr.Info(f"Saved both runs ({steps}).")
        return gr.update(value=archive, visible=True, label=f"Comparison ({steps}): open it here or in Explore")

    def on_open(self, file, request: gr.Request):
        if file is None:
            return {}
        session = self.session_of(request)
        path = file if isinstance(file, str) else file.name
        try:
            opened = self.ctx.catalog.add_comparison(path, session)
        except (CheckpointError, ConfigError) as exc:
            return {"message": f"### Cannot open this file\n{for_visitor(exc)}", "reopen": None}
        out = {"reopen": None, "timer": gr.Timer(active=False)}
        summary_, losses = opened["summary"], {}
        for label, component in (("A", "picture_a"), ("B", "picture_b")):
            sampler = self.ctx.catalog.sampler(opened[label], session)
            run = summary_["runs"][label]
            out[component] = saved_picture(sampler, sampler.cfg)
            out[CAPTIONS[label]] = f"**{label}** · step {run['step']:,} · saved comparison {label}"
            losses[label] = sampler.cfg.train.loss
        histories = {label: summary_["runs"][label]["history"] for label in LABELS}
        runs = {label: (summary_["runs"][label]["family"], losses[label], summary_["runs"][label]["series"])
                for label in LABELS}
        for component, columns in zip(PLOTS, slot_columns(runs)):
            out[component] = gr.LinePlot(overlay({label: histories[label] for label in columns}, columns),
                                         visible=bool(columns))
        quality = {label: summary_["runs"][label]["quality_history"] for label in LABELS}
        out.update(self.quality_curves(quality))
        diff = {k: tuple(v) for k, v in summary_["differences"].items()}
        out["status"] = (f"**Opened a saved comparison.** B changes: {describe(diff)}. Both runs are in **Explore** "
                         f"and **Interpolate** as `{opened['A']}` (A) and `{opened['B']}` (B).")
        return out


# ============================================================================ the tab
def build(ctx, train: dict) -> dict:
    """Lay out the Compare tab; A's settings are the Train tab's controls (train["controls"])."""
    a_controls = train["controls"]
    a_names = list(a_controls)

    gr.Markdown("**Compare two runs side by side.** Run **A** uses the settings on the **Train** tab; run **B** is "
                "the same except what you change below (empty = same as A). Both start together from the same "
                "seed and data and are kept at the same step, so every difference you see comes from what you "
                "changed. The Lessons tab starts ready-made comparisons in one click.")
    with gr.Row(equal_height=False):
        with gr.Column(scale=1, min_width=340):
            with gr.Row():
                start = gr.Button("Start both", variant="primary", elem_id="compare_start")
                stop = gr.Button("Stop", variant="stop", elem_id="compare_stop")
            which = gr.Radio(WHICH, value="both", label="Pause, Resume, Step and Stop act on", elem_id="compare_which")
            with gr.Row():
                pause = gr.Button("Pause", elem_id="compare_pause")
                resume = gr.Button("Resume", elem_id="compare_resume")
                step = gr.Button("Step", elem_id="compare_step")
            b_controls = {}

            def b_control(name: str):
                if name != "schedule" and b_choices(name):
                    b_controls[name] = gr.Dropdown([("same as A", SAME), *[(c, c) for c in b_choices(name)]],
                                                   value=SAME, label=f"B's {name}", elem_id=f"compare_b_{name}",
                                                   min_width=100)
                elif name == "schedule":
                    b_controls[name] = gr.Textbox(
                        "", label="B's changes while it trains (schedule)", elem_id="compare_b_schedule",
                        placeholder='[{"step": 1000, "lr_d": 0.002}]',
                        info=schedule_help())
                else:
                    b_controls[name] = gr.Textbox("", label=f"B's {name}", placeholder="same as A", max_lines=1,
                                                  elem_id=f"compare_b_{name}", min_width=100)

            with gr.Accordion("B differs from A in… (empty = same as A)", open=True):
                for row in b_rows("open"):
                    with gr.Row():
                        for name in row:
                            b_control(name)
                b_control("schedule")
                with gr.Accordion("More of B's settings", open=False):
                    for row in b_rows("more"):
                        with gr.Row():
                            for name in row:
                                b_control(name)
            with gr.Row():
                send_a = gr.Button("Explore A", elem_id="compare_explore_a")
                send_b = gr.Button("Explore B", elem_id="compare_explore_b")
            save = gr.Button("Save both (one zip)", elem_id="compare_save")
            saved = gr.File(label="Saved comparison", visible=False, elem_id="compare_saved")
            reopen = gr.File(label="Open a saved comparison (.zip)", file_types=[".zip"], elem_id="compare_open")
            summary = gr.Markdown("", elem_id="compare_summary")
        with gr.Column(scale=3):
            message = gr.Markdown("", elem_id="compare_message")
            # The pictures first (above the fold), each named in a caption above it: gradio's label would
            # sit on the picture's own legend (top left).
            with gr.Row():
                with gr.Column(min_width=240):
                    caption_a = gr.Markdown("**A**", elem_id="compare_a_caption")
                    picture_a = gr.Image(label="A", show_label=False, type="pil", format="png", interactive=False,
                                         elem_id="compare_a", elem_classes=["pixelated"])
                with gr.Column(min_width=240):
                    caption_b = gr.Markdown("**B**", elem_id="compare_b_caption")
                    picture_b = gr.Image(label="B", show_label=False, type="pil", format="png", interactive=False,
                                         elem_id="compare_b", elem_classes=["pixelated"])
            status = gr.Markdown("No comparison yet: set B's changes and press **Start both**, or start one "
                                 "from the **Lessons** tab.", elem_id="compare_status")
            colors = color_map()
            plots = [gr.LinePlot(None, x="step", y="value", color="series", color_title="", color_map=colors,
                                 label=label, x_title="step", y_title="", elem_id=f"compare_plot_{i}",
                                 visible=i < 2)  # the scores' chart: only when a run's loss gives scores
                     for i, label in enumerate(("Losses (A and B)", "D's outputs (A and B)",
                                                "D's raw scores (A and B)"))]
            modes_plot = gr.LinePlot(None, x="step", y="value", color="series", color_title="", color_map=colors,
                                     label="Modes covered (A and B)", x_title="step", y_title="modes",
                                     elem_id="compare_modes", visible=False)
            kl_plot = gr.LinePlot(None, x="step", y="value", color="series", color_title="", color_map=colors,
                                  label="KL(real ‖ G) on a 20 × 20 grid (A and B)", x_title="step", y_title="KL",
                                  elem_id="compare_kl", visible=False)
    view = gr.State(None)
    timer = gr.Timer(TICK_S, active=False)
    b_list = [b_controls[n] for n in B_FIELDS]
    live_outputs = [status, message, picture_a, picture_b, caption_a, caption_b, *plots, modes_plot, kl_plot, view, timer, summary]

    h = Compare(ctx, a_names)
    parts = {**a_controls, **{f"b_{n}": c for n, c in b_controls.items()}, "status": status, "message": message,
             "picture_a": picture_a, "picture_b": picture_b, "caption_a": caption_a, "caption_b": caption_b,
             **dict(zip(PLOTS, plots)), "modes_plot": modes_plot, "kl_plot": kl_plot, "view": view, "timer": timer,
             "summary": summary, "reopen": reopen, "saved": saved}

    def named(handler):
        return by_name(handler, parts)

    # ------------------------------------------------------------- wiring
    private = dict(api_visibility="private")
    inputs = {*a_controls.values(), *b_list}
    start_event = dict(fn=named(h.on_start), inputs=inputs, outputs=live_outputs, show_progress="minimal", **private)
    start.click(**start_event)
    # Unqueued, as the Train tab's tick (cheaper per tick under a class: BENCHMARKS.md section 13); no gr.Warning in it
    timer.tick(named(h.on_tick), [view], live_outputs, show_progress="hidden", queue=False, **private)
    for button, action in ((pause, h.do_pause), (resume, h.do_resume), (stop, h.do_stop), (step, h.do_step)):
        button.click(named(h.act(action)), which, [message, timer], show_progress="hidden", concurrency_limit=None, **private)
    save.click(h.on_save, None, saved, **private)
    reopen.upload(named(h.on_open), reopen, [reopen, status, message, picture_a, picture_b, caption_a, caption_b, *plots, modes_plot, kl_plot, timer],
                  **private)
    return {"b_controls": b_controls, "start": start, "send": {"A": send_a, "B": send_b}, "start_event": start_event, "status": status,
            "message": message, "picture_a": picture_a, "picture_b": picture_b, "plots": plots, "timer": timer,
            "view": view, "handlers": h}


def wire_send_to_explore(ctx, compare: dict, explore: dict, interp: dict, tabs) -> None:
    """"Explore A" / "Explore B": switch to the Explore tab with that run of the session's comparison selected
    (Interpolate gets it too)."""
    from gan_demo.ui.catalog import PAIR_RUNS

    def sender(label: str):
        def send(request: gr.Request):
            session = ctx.registry.get(request.session_hash)
            if session.pair is None:
                raise user_error("No comparison yet: start one first.")
            picked = gr.update(choices=ctx.catalog.choices(session), value=PAIR_RUNS[label])
            return gr.Tabs(selected="explore"), picked, picked
        return send

    for label, button in compare["send"].items():
        button.click(sender(label), None, [tabs, explore["checkpoint"], interp["checkpoint"]], show_progress="hidden",
                     api_visibility="private").then(None, js=SCROLL_TO_SAMPLE, api_visibility="private")
