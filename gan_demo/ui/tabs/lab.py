"""The 2D lab tab (GAN Lab): D's decision map, G's gradients and manifold, live; step-by-step mode; your own points."""
from __future__ import annotations

import math
import tempfile
from pathlib import Path

import gradio as gr
import numpy as np
from gradio.context import get_render_context

from gan_demo.core.config import LOSSES, TOY_DATASETS, DataConfig, RunConfig, TrainConfig
from gan_demo.data.datasets import MIN_POINTS, DataError, dataset_from_points, load_dataset
from gan_demo.render.model_diagram import gan_graph, run_graph
from gan_demo.explore.lab import lab_change, lab_state, mean_scores
from gan_demo.families.losses import PROBABILITY_LOSSES
from gan_demo.training.trainer import Trainer
from gan_demo.ui.lab_views import HEAT_RES, N_FAKE, PICTURE_SIZE, in_lab, lab_picture, pull, render, view_of
from gan_demo.ui.limits import check_web_limits
from gan_demo.ui.run_views import TERMINAL
from gan_demo.ui.sessions import Busy
from gan_demo.ui.tempdirs import temp_dir
from gan_demo.ui.widgets import capped_drawing, ink_mask

LAYERS = ("heat map", "arrows", "manifold")  # picture layers the student can hide
UPLOADED, DRAWN = "uploaded CSV", "drawn by you"
SOURCES = TOY_DATASETS + (UPLOADED, DRAWN)
MAX_DRAWN = 2000  # stroke pixels kept as points of a drawn distribution
TICK_S = 0.5  # seconds between polls of the run
_DEFAULTS_2D = RunConfig(data=DataConfig(dataset="ring8")).resolved().train  # what a 2D run resolves to
DEFAULT_LR = _DEFAULTS_2D.lr_g
DEFAULT_STEPS = _DEFAULTS_2D.steps
MAP_CHANGE = 0.005  # a change of D's map (0..1) smaller than this is not worth a mention

LEGEND = """\
**How to read the picture**
- **Green dots**: real data. **Purple dots**: the generator's samples G(z).
- **Background**: the discriminator's opinion D(x) at every place: green where it says *real*, purple
  where it says *fake*, white where it cannot tell (D(x) = 0.5). The generator wins when its purple
  points sit on green ground.
- **Black arrows**: the direction the generator's loss pushes each of its samples (the gradient
  &minus;&part;L<sub>G</sub>/&part;x, the longest arrow drawn at a fixed length). They point uphill on D's map.
  **G's pull**, under the picture, is their mean length before scaling: how hard the loss pulls the
  generated points. When it is small, the loss is flat where the points are (lesson 3 shows when that happens).
- **Grey mesh**: the generator's manifold: G applied to a regular grid of noise (the first two noise
  dimensions, the others 0). It shows how G stretches and folds the noise plane onto the data.

**Step by step**: *One D step* trains only the discriminator once (the map changes, the points do not);
*One G step* trains only the generator once (the points move, the map does not). Each prints what changed.
**The model graph** beside them shows which network that step trained (orange), which one stayed frozen
(grey), where each loss's gradient flows (dashed), and that step's numbers; while the run trains it shows the
latest step's numbers with nothing highlighted.
"""


# ----------------------------------------------------------------------------- pure helpers
def drawn_points(drawing, max_points: int = MAX_DRAWN, seed: int = 0) -> np.ndarray:
    """Points in [-1, 1]^2 from a gr.Sketchpad value: up to max_points stroke pixels, y pointing up.

    drawing is the editor's value ({"background", "layers", "composite"}, images as numpy arrays)
    or one image array. A pixel is ink when it is dark and not transparent. The longer side of the
    canvas spans [-1, 1], so shapes keep their proportions.
    """
    mask = ink_mask(drawing)
    if mask is None:
        return np.zeros((0, 2), np.float32)
    rows, cols = np.nonzero(mask)
    if len(rows) > max_points:
        keep = np.random.default_rng(seed).choice(len(rows), max_points, replace=False)
        rows, cols = rows[keep], cols[keep]
    h, w = mask.shape
    half = max(h, w) / 2
    x = (cols + 0.5 - w / 2) / half
    y = (h / 2 - rows - 0.5) / half  # image rows go down, y goes up
    return np.stack([x, y], 1).astype(np.float32)


def _direction(dx: float, dy: float) -> str:
    """Words for the direction of a displacement: 'to the right', 'up and to the left', ..."""
    names = ("to the right", "up and to the right", "up", "up and to the left", "to the left",
             "down and to the left", "down", "down and to the right")
    angle = math.degrees(math.atan2(dy, dx)) % 360
    return names[int((angle + 22.5) // 45) % 8]


def _where(p: tuple[float, float] | None) -> str:
    return f"({p[0]:+.2f}, {p[1]:+.2f})" if p else "nowhere in particular"


def _score_words(kind: str) -> tuple[str, str, str]:
    """(verb, number format, what the number is) for D's mean output under this loss (see losses.d_prob)."""
    if kind not in PROBABILITY_LOSSES:
        return "scores", "{:+.3f}", "a raw score (higher = more real)"
    if kind == "hinge":
        return "gives", "{:.3f}", "the sigmoid of its score (higher = more real)"
    return "gives", "{:.3f}", "a probability of being real"


def d_step_note(kind: str, step: int, scores_before, scores_after, change: dict) -> str:
    """Plain words for what one discriminator update changed (numbers from lab_change / mean_scores)."""
    verb, fmt, what = _score_words(kind)
    (rb, fb), (ra, fa) = scores_before, scores_after
    if ra - fa > rb - fb:
        better = "tells them apart better"
    else:
        better = "tells them apart slightly worse (a single step on a random batch can go either way)"
    lines = [f"**One D step** (G is still at step {step:,}). D {verb} the real points "
             f"{fmt.format(ra)} on average (was {fmt.format(rb)}) and the generated points {fmt.format(fa)} "
             f"(was {fmt.format(fb)}), as {what}: it {better}."]
    up, down = change["heat_up"] >= MAP_CHANGE, change["heat_down"] >= MAP_CHANGE
    greener = f"greener (more *real*) around {_where(change['heat_up_at'])} (by up to {change['heat_up']:.2f})"
    purpler = (f"more purple (more *fake*) around {_where(change['heat_down_at'])} "
               f"(by up to {change['heat_down']:.2f})")
    mean = (f"; its mean over the view went from {change['heat_mean_before']:.3f} "
            f"to {change['heat_mean_after']:.3f}.")
    if up and down:
        lines.append(f"The map turned {greener} and {purpler}{mean}")
    elif up:
        lines.append(f"The map turned {greener}, and nowhere more purple{mean}")
    elif down:
        lines.append(f"The map turned {purpler}, and nowhere greener{mean}")
    else:
        lines.append("The map barely changed.")
    lines.append("The generated points did not move: only D learned. The arrows may have changed, "
                 "because they follow D's new map.")
    return " ".join(lines)


def g_step_note(kind: str, step: int, scores_before, scores_after, change: dict) -> str:
    """Plain words for what one generator update changed (numbers from lab_change / mean_scores)."""
    verb, fmt, _ = _score_words(kind)
    (_, fb), (_, fa) = scores_before, scores_after
    moved = change["moved_mean"]
    drift = math.hypot(change["move_dx"], change["move_dy"])
    if moved < 1e-6:
        how = "did not move"
    elif drift < 0.3 * moved:
        how = f"moved {moved:.4f} on average (at most {change['moved_max']:.4f}), in different directions"
    else:
        how = (f"moved {moved:.4f} on average (at most {change['moved_max']:.4f}), mostly "
               f"{_direction(change['move_dx'], change['move_dy'])}")
    nb, na = change["near_before"], change["near_after"]
    closer = "closer to" if na < nb else "further from"
    fooled = ("G fooled D a little more" if fa > fb
              else "D likes them a little less (a single step on a random batch can go either way)")
    return (f"**One G step** (now step {step:,}). The generated points {how}. Their mean distance to the "
            f"nearest real point went from {nb:.4f} to {na:.4f}: {closer} the data. D {verb} them "
            f"{fmt.format(fa)} now (was {fmt.format(fb)}): {fooled}. D did not change, so the map stayed "
            "the same; the grey mesh moved with G.")


def status_text(trainer: Trainer | None, state: dict | None = None) -> str:
    """One line on the session's run for the lab (with G's pull from its lab_state), or what to do without one."""
    if trainer is None:
        return "No run yet. Start a 2D run on the right (ring8 is a good first one)."
    name = Path(trainer.dataset.name).name
    if trainer.family.critic is None:  # no discriminator: no decision map, no D or G step
        family = trainer.family.name.upper()
        return (f"The 2D lab shows GANs; this run is a {family} (on **{name}**): watch it on the **Train** tab. "
                "Start a 2D GAN run on the right to step through one here (it replaces this run).")
    if trainer.kind != "2d":
        return (f"Your current run trains on **{name}**, an image set; the 2D lab needs points. "
                "Start a 2D run on the right (it replaces the image run).")
    parts = [f"**{name}**", trainer.cfg.train.loss, f"step {trainer.step:,} of {trainer.target_steps:,}",
             trainer.state]
    if trainer.state == "running" and trainer.steps_per_s > 0:
        parts.append(f"{trainer.steps_per_s:.1f} steps/s")
    rec = trainer.last_record
    if rec is not None:
        parts.append(f"D(x) {rec.d_real:.2f}, D(G(z)) {rec.d_fake:.2f}")
    if state is not None:
        parts.append(f"G's pull |∂L<sub>G</sub>/∂x| {pull(state):.3g}")
    line = " · ".join(parts)
    if getattr(trainer, "remote", False):  # the lab draws and steps runs of this process only
        line += ("  \nThis run trains on other machines of the server (its Ray cluster), so the lab can show its status "
                 "only: watch it on the **Train** tab, or stop it and press **One G step** to step a run here.")
    return line + (f"  \n{trainer.message}" if trainer.message else "")


def graph_svg(trainer: Trainer | None, loss: str = "nonsaturating", updating: str | None = None,
              numbers: dict | None = None) -> str:
    """The model graph (SVG text) of the session's 2D run: `updating` ("D", "G") highlighted with that step's
    numbers; by default no highlight and the run's latest step record. Without a 2D run: `loss`'s graph, no numbers."""
    if not in_lab(trainer):
        try:  # what Start would train with this loss (R1 "auto" resolved to its 2D default)
            return run_graph(RunConfig(train=TrainConfig(loss=loss)), dataset="")
        except ValueError:  # not a loss: no run will have it; draw its name only
            return gan_graph(loss, kind="2d")
    if updating is None and numbers is None and trainer.last_record is not None:
        numbers = trainer.last_record.to_dict()
    return run_graph(trainer.cfg, updating=updating, numbers=numbers, dataset=trainer.dataset.name,
                     step=trainer.step)


def _moment(key) -> tuple | None:
    """A refresh key without its layers: the run, step, D-only steps and state it was drawn at."""
    return None if key is None else tuple(key[:4])


# ------------------------------------------------------------------------------ handlers
class LabHandlers:
    """The lab's event handlers: each takes the session's run, calls the engine, returns components."""

    def __init__(self, ctx):
        self.ctx = ctx
        self._drawn_dir: Path | None = None

    def _trainer(self, request: gr.Request) -> Trainer | None:
        return self.ctx.registry.get(request.session_hash).trainer

    def _key(self, trainer: Trainer | None, show) -> tuple:
        if trainer is None:
            return (None,)
        d_only = view_of(trainer).d_only_steps if in_lab(trainer) else 0
        return (id(trainer), trainer.step, d_only, trainer.state, tuple(sorted(show or ())))

    def refresh(self, show: list, last_key, request: gr.Request):
        """A layer toggle (and each tick): redraw only when the run's step, state or the layers changed.

        The graph is redrawn only when the run moved (not for a layer toggle, which keeps a step's highlight).
        """
        trainer = self._trainer(request)
        return self._refresh(trainer, show, self._key(trainer, show), last_key)

    def tick(self, show: list, last_key, request: gr.Request):
        """The timer's tick: refresh, and stop the timer once the run cannot change by itself (no run, paused or
        ended: its last picture drawn by this tick), so an idle lab costs the browser nothing; Start, Resume and
        opening the tab set it going again."""
        trainer = self._trainer(request)
        key = self._key(trainer, show)
        moving = trainer is not None and key[3] not in ("paused", *TERMINAL)  # the state this tick drew
        return (*self._refresh(trainer, show, key, last_key), gr.skip() if moving else gr.Timer(active=False))

    def _refresh(self, trainer: Trainer | None, show: list, key: tuple, last_key):
        if key == last_key:
            return gr.skip(), gr.skip(), gr.skip(), gr.skip()
        if not in_lab(trainer):  # a run on Ray: its loss's graph, without a step of another run highlighted
            remote_2d = getattr(trainer, "remote", False) and trainer.kind == "2d" and _moment(key) != _moment(last_key)
            return None, status_text(trainer), graph_svg(None, trainer.cfg.train.loss) if remote_2d else gr.skip(), key
        picture, state = lab_picture(trainer, show)
        graph = gr.skip() if _moment(key) == _moment(last_key) else graph_svg(trainer)
        return picture, status_text(trainer, state), graph, key

    def preview_graph(self, loss: str, request: gr.Request):
        """The loss picker changed: without a 2D run, show that loss's graph (a run's graph shows the run's loss)."""
        trainer = self._trainer(request)
        return graph_svg(None, loss) if not in_lab(trainer) else gr.skip()

    def start(self, source: str, csv_file, drawing, loss: str, lr_g: float, lr_d: float, steps: float,
              request: gr.Request):
        """Start a new 2D run for this session (replacing its current run) from the lab's controls."""
        session = self.ctx.registry.get(request.session_hash)
        try:
            cfg, dataset = self.run_config(source, csv_file, drawing, loss, lr_g, lr_d, steps)
            trainer = self.ctx.registry.start(session, cfg, self.ctx.device, dataset=dataset)
        except (ValueError, Busy) as e:  # ConfigError, DataError, bad numbers, server full
            gr.Warning(str(e))
            return f"Could not start: {e}"
        return status_text(trainer)

    def run_config(self, source: str, csv_file, drawing, loss: str, lr_g: float, lr_d: float,
                   steps: float) -> tuple[RunConfig, object]:
        """The RunConfig (and dataset, for your own points) that the lab's controls describe.

        The numbers and the web limits are checked first, before a file is read or a drawing turned into points.
        """
        if not (lr_g and lr_g > 0 and lr_d and lr_d > 0):
            raise ValueError("learning rates must be positive numbers such as 0.001")
        if not (steps and steps >= 1):
            raise ValueError("steps must be at least 1")
        cfg = RunConfig(data=DataConfig(dataset=source if source in TOY_DATASETS else "points.csv"),
                        train=TrainConfig(loss=loss, lr_g=float(lr_g), lr_d=float(lr_d), steps=int(steps)))
        cfg.validate()
        check_web_limits(cfg)
        dataset = None
        if source in TOY_DATASETS:
            name = source
        elif source == UPLOADED:
            if not csv_file:
                raise DataError("upload a CSV file of x,y points first (one point per line)")
            name = str(csv_file)
            dataset = load_dataset(DataConfig(dataset=name), self.ctx.device)
        elif source == DRAWN:
            points = drawn_points(drawing)
            if len(points) < MIN_POINTS:
                raise DataError(f"draw some more: your drawing gives {len(points)} points and a "
                                f"dataset needs at least {MIN_POINTS}")
            name = str(self._save_drawing(points))
            dataset = dataset_from_points(points, self.ctx.device, name=f"your drawing ({len(points)} points)")
        else:
            raise DataError(f"pick a 2D dataset: {', '.join(SOURCES)}")
        cfg.data.dataset = name
        return cfg, dataset

    def _save_drawing(self, points: np.ndarray) -> Path:
        """Keep drawn points as a CSV, so the run's CLI command can repeat it."""
        if self._drawn_dir is None:
            self._drawn_dir = temp_dir("gan_demo_drawn_")
        with tempfile.NamedTemporaryFile("w", suffix=".csv", prefix="drawn-", dir=self._drawn_dir,
                                         delete=False) as f:
            f.write("x,y\n")
            np.savetxt(f, points, fmt="%.5f", delimiter=",")
        return Path(f.name)

    def pause(self, request: gr.Request) -> str:
        trainer = self._trainer(request)
        if trainer is not None:
            trainer.pause()
        return status_text(trainer)

    def resume(self, request: gr.Request) -> str:
        trainer = self._trainer(request)
        if trainer is not None:
            trainer.resume()
        return status_text(trainer)

    def stop(self, request: gr.Request) -> str:
        session = self.ctx.registry.get(request.session_hash)
        self.ctx.registry.stop(session)
        return status_text(session.trainer)

    def d_step(self, show: list, source=None, csv_file=None, drawing=None, loss=None, lr_g=None, lr_d=None,
               steps=None, request: gr.Request = None):
        """One discriminator update alone (the background run is paused first), with a note. Without a 2D run,
        one is started (paused) from the lab's settings (as Start takes them)."""
        settings = [source, csv_file, drawing, loss, lr_g, lr_d, steps] if source is not None else []
        return self._one_step("D", show, settings, request)

    def g_step(self, show: list, source=None, csv_file=None, drawing=None, loss=None, lr_g=None, lr_d=None,
               steps=None, request: gr.Request = None):
        """One generator update alone (the background run is paused first), with a note; as d_step."""
        settings = [source, csv_file, drawing, loss, lr_g, lr_d, steps] if source is not None else []
        return self._one_step("G", show, settings, request)

    def _paused_run(self, settings: list, request: gr.Request) -> Trainer:
        """A new 2D run from the lab's settings, paused before it trains on its own (the step mode's first click).
        It lives in this process even on a server whose runs train on Ray: the lab steps its nets by hand."""
        session = self.ctx.registry.get(request.session_hash)
        cfg, dataset = self.run_config(*settings)
        return self.ctx.registry.start(session, cfg, self.ctx.device, dataset=dataset, paused=True, local=True)

    def _one_step(self, which: str, show: list, settings: list, request: gr.Request):
        trainer = self._trainer(request)
        started = ""
        if not in_lab(trainer):
            if trainer is not None and trainer.state in ("running", "paused"):  # never replace a live image run
                return gr.skip(), status_text(trainer), status_text(trainer), gr.skip(), gr.skip()
            if not settings:  # called without the lab's settings (an API client): nothing to start from
                msg = ("Start a 2D run first (above, on the right); then step through it here."
                       if trainer is None else status_text(trainer))
                return gr.skip(), msg, status_text(trainer), gr.skip(), gr.skip()
            try:
                trainer = self._paused_run(settings, request)
            except (ValueError, Busy) as e:  # ConfigError, DataError, bad numbers, server full
                return gr.skip(), f"Could not start a run to step through: {e}", status_text(None), gr.skip(), gr.skip()
            started = ("Started a 2D run from the settings above, paused so that you step it; press **Resume** to "
                       "let it train on its own.\n\n")
        trainer.pause()  # the background run waits; its next step starts only after resume
        view = view_of(trainer)
        kind = trainer.cfg.train.loss
        with trainer.lock:  # nothing else trains between before and after
            before = lab_state(trainer, view.bounds, res=HEAT_RES, n_fake=N_FAKE)
            scores_before = mean_scores(trainer, view.real, before["fake"])
            if which == "D":
                numbers = trainer.run_phase("d")  # loss_d, d_real, d_fake, grad_norm_d
                view.d_only_steps += 1
            else:
                numbers = trainer.run_phase("g")  # loss_g, grad_norm_g
            after = lab_state(trainer, view.bounds, res=HEAT_RES, n_fake=N_FAKE)
            scores_after = mean_scores(trainer, view.real, after["fake"])
        change = lab_change(before, after, view.real, view.bounds)
        note_fn = d_step_note if which == "D" else g_step_note
        note = note_fn(kind, trainer.step, scores_before, scores_after, change)
        graph = graph_svg(trainer, updating=which, numbers=numbers)
        return (render(trainer, show, after), started + note, status_text(trainer, after), graph,
                self._key(trainer, show))


# Picking "drawn by you" selects the sketchpad's brush, so the first stroke draws (gradio's sketchpad starts with
# no tool, and strokes made then gave "your drawing gives 0 points"). Retried while the pad is being shown.
PICK_BRUSH_JS = """(source) => {
  if (source !== %r) return;
  let tries = 0;
  const pick = () => {
    const brush = document.querySelector('#lab-draw button[aria-label="Brush"]');
    if (brush && brush.offsetParent !== null) { brush.click(); return; }
    if (tries++ < 50) setTimeout(pick, 100);
  };
  pick();
}""" % DRAWN


def _source_visibility(source: str):
    return gr.update(visible=source == UPLOADED), gr.update(visible=source == DRAWN)


# ------------------------------------------------------------------------------- layout
def build(ctx, train: dict | None = None) -> dict:
    """The 2D lab tab's components and events; returns them by name."""
    h = LabHandlers(ctx)
    tab = get_render_context()  # the gr.Tab this is built in, if any
    gr.Markdown("## 2D lab\nWatch a GAN learn a 2D distribution the way "
                "[GAN Lab](https://poloclub.github.io/ganlab/) shows it: the discriminator's map, "
                "the generator's samples and the forces that move them.")
    with gr.Row(equal_height=False):
        with gr.Column(scale=3, min_width=400):
            picture = gr.Image(type="pil", format="png", interactive=False, show_label=False,
                               label="2D lab", height=PICTURE_SIZE, buttons=["download", "fullscreen"],
                               elem_id="lab-picture")
            show = gr.CheckboxGroup(list(LAYERS), value=list(LAYERS), label="Show", elem_id="lab-show")
            status = gr.Markdown(status_text(None), elem_id="lab-status")
        with gr.Column(scale=2, min_width=320):
            gr.Markdown("### Train a 2D GAN")
            source = gr.Dropdown(list(SOURCES), value="ring8", label="Data", elem_id="lab-source",
                                 info="a built-in set, a CSV of x,y points, or a shape you draw")
            csv_file = gr.File(label="CSV of x,y points (one point per line)", file_types=[".csv"],
                               visible=False, elem_id="lab-csv")
            drawing = capped_drawing(gr.Sketchpad(
                label="Draw your data with the mouse", canvas_size=(360, 360),
                fixed_canvas=True, layers=False, transforms=(),
                brush=gr.Brush(default_size=4, colors=["#000000"], color_mode="fixed"), visible=False,
                elem_id="lab-draw"))
            loss = gr.Dropdown(list(LOSSES), value="nonsaturating", label="Loss", elem_id="lab-loss")
            with gr.Row():
                lr_g = gr.Number(DEFAULT_LR, label="lr_g", minimum=0, step=1e-4, elem_id="lab-lr-g")
                lr_d = gr.Number(DEFAULT_LR, label="lr_d", minimum=0, step=1e-4, elem_id="lab-lr-d")
                # No maximum=: the handler's check_web_limits says what the limit is (gradio's own range
                # check prints a traceback to the server log).
                steps = gr.Number(DEFAULT_STEPS, label="steps", precision=0, minimum=1, elem_id="lab-steps")
            start = gr.Button("Start 2D run", variant="primary", elem_id="lab-start")
            with gr.Row():
                pause = gr.Button("Pause", size="sm", min_width=60, elem_id="lab-pause")
                resume = gr.Button("Resume", size="sm", min_width=60, elem_id="lab-resume")
                stop = gr.Button("Stop", size="sm", min_width=60, elem_id="lab-stop")
    # Step by step beside the model graph: the graph wants ~700 px to be readable, more than the controls' column.
    with gr.Row(equal_height=False):
        with gr.Column(scale=2, min_width=300):
            gr.Markdown("### Step by step\nPauses the run, then trains one network once. The graph shows "
                        "which one, and that step's numbers.")
            with gr.Row():
                d_step = gr.Button("One D step", elem_id="lab-d-step")
                g_step = gr.Button("One G step", elem_id="lab-g-step")
            note = gr.Markdown("", elem_id="lab-note")
        with gr.Column(scale=3, min_width=480):
            graph = gr.HTML(graph_svg(None), label="The model", elem_id="lab-graph", js_on_load=None)
    gr.Markdown(LEGEND, elem_id="lab-legend")
    last_key = gr.State(None)
    timer = gr.Timer(TICK_S)

    # Polling and control events get their own concurrency group: never queued behind slow events.
    # UI events: callable by gradio_client (tests) but left out of the API page.
    quick = dict(concurrency_id="lab_quick", concurrency_limit=None, show_progress="hidden",
                 api_visibility="undocumented")
    timer.tick(h.tick, [show, last_key], [picture, status, graph, last_key, timer], api_name="lab_refresh", **quick)
    show.change(h.refresh, [show, last_key], [picture, status, graph, last_key], api_name="lab_layers", **quick)
    loss.change(h.preview_graph, loss, graph, api_name="lab_graph_preview", **quick)
    source.change(_source_visibility, source, [csv_file, drawing], api_name="lab_source", **quick)
    source.input(None, source, None, js=PICK_BRUSH_JS, api_visibility="private")
    started = start.click(h.start, [source, csv_file, drawing, loss, lr_g, lr_d, steps], status, api_name="lab_start",
                          concurrency_id="lab_start", concurrency_limit=4, api_visibility="undocumented",
                          show_progress="minimal")
    pause.click(h.pause, None, status, api_name="lab_pause", **quick)
    resumed = resume.click(h.resume, None, status, api_name="lab_resume", **quick)
    for moved in (started, resumed):  # the tick stopped its timer while nothing moved: it goes again
        moved.then(lambda: gr.Timer(active=True), None, timer, queue=False, show_progress="hidden",
                   api_visibility="private")
    stop.click(h.stop, None, status, api_name="lab_stop", **quick)
    settings = [source, csv_file, drawing, loss, lr_g, lr_d, steps]  # a first step starts a run from these
    d_step.click(h.d_step, [show, *settings], [picture, note, status, graph, last_key], api_name="lab_d_step", **quick)
    g_step.click(h.g_step, [show, *settings], [picture, note, status, graph, last_key], api_name="lab_g_step", **quick)
    if isinstance(tab, gr.Tab) and isinstance(tab.parent, gr.Tabs):
        # Poll only while the lab is on screen: a hidden tab's timer keeps ticking otherwise.
        def follow_tab(evt: gr.SelectData):
            return gr.Timer(active=evt.value == tab.label)

        tab.parent.select(follow_tab, None, timer, concurrency_id="lab_quick", concurrency_limit=None,
                          show_progress="hidden", api_visibility="private")
    return {"picture": picture, "show": show, "status": status, "source": source, "csv_file": csv_file,
            "drawing": drawing, "loss": loss, "lr_g": lr_g, "lr_d": lr_d, "steps": steps, "start": start,
            "pause": pause, "resume": resume, "stop": stop, "d_step": d_step, "g_step": g_step,
            "note": note, "graph": graph, "timer": timer, "last_key": last_key, "handlers": h}
