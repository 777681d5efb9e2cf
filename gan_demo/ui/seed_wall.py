"""The seed-sweep lesson: 16 seeds of two settings trained in pools (each setting its own), shown as two live 4 x 4 walls with
the count of seeds that collapsed under each."""
from __future__ import annotations

import weakref
from dataclasses import dataclass

import gradio as gr

from gan_demo.core.config import RunConfig
from gan_demo.data.datasets import load_dataset
from gan_demo.render.seed_wall import seed_wall
from gan_demo.render.viz import default_bounds
from gan_demo.ui.errors import refusal
from gan_demo.ui.sessions import Busy

SEEDS = tuple(range(16))  # one wall cell per seed, 4 x 4
WALL_COLS = 4
CELL_PX = 112  # one seed's picture (two walls of 4 x 4 side by side fit a laptop's screen)
POINTS_SHOWN = 512  # of each run's fixed noise batch, drawn per cell
# A seed counts as collapsed when its live quality (every 25 steps, G_ema on its fixed noise) covers fewer than all
# modes, or puts less than this share of its samples within 3 sigma of a mode (a diffuse cloud, not the ring).
HQ_MIN = 0.5
TICK_S = 1.0  # the walls' refresh while the sweep trains

# Both settings: ring8 with its nonsaturating recipe of 2026-12-04 (width 128, batch 256, lr 4e-3 decayed to a
# tenth over the second half) but no R1 penalty, which is what keeps ring8's defaults stable; only the loss differs.
SWEEP_BASE = {"data": {"dataset": "ring8"},
              "model": {"z_dim": 8, "width": 128, "d_norm": "none"},
              "train": {"batch_size": 256, "lr_g": 4e-3, "lr_d": 4e-3, "lr_decay": 0.5, "r1_gamma": 0.0,
                        "steps": 2000}}
SETTINGS = (("minimax", {"loss": "minimax"}), ("non-saturating", {"loss": "nonsaturating"}))


TITLE = "9. Sixteen seeds at once: how often does a GAN collapse?"
TEXT = f"""\
**Try it.** Press **Start the sweep**: 16 seeds of the *minimax* loss and 16 of the *non-saturating* loss train
at once on ring8, each setting's 16 in pooled steps (a pool per CPU core, each stepping its seeds together; each
setting holds at least one of the server's training slots: with the app's default of two the sweep needs an
otherwise idle server, and visitors who start it together share its pools).
Each small picture is one seed's generator (purple) over the eight modes (green dots); a red frame marks a
seed that has **collapsed**: it covers fewer than 8 of 8 modes, or puts under {HQ_MIN:.0%} of its samples within
$3\\sigma$ of a mode (its live quality, measured every 25 steps). The count under each wall is live.

**The settings.** ring8 with the recipe it had when we measured this lesson (a 3 × 128 MLP, batch 256, Adam at
$4 \\cdot 10^{{-3}}$ falling to a tenth over the second half of 2,000 steps) but **without the R1 penalty** that the
app's ring8 defaults add; the two walls differ only in the generator's loss.

**What we measured** (`python -m gan_demo train --dataset ring8 --loss LOSS --width 128 --batch-size 256
--lr-g 4e-3 --lr-d 4e-3 --lr-decay 0.5 --r1-gamma 0 --d-norm none --steps 2000 --seeds 0-15`; 2,500 samples
per seed at step 2,000; CPU, 2026-12-04):

| | seeds collapsed at step 2,000 | modes covered, seed by seed |
|---|---|---|
| minimax | **16 of 16** | 0 for 14 seeds (they never reach the ring), 2 and 3 for the others |
| non-saturating | **15 of 16** | 2 to 6 for 15 seeds, 8 of 8 for one (seed 12) |
| either loss **with R1 0.1** (the app's ring8 default) | **0 of 16** | 8 of 8 for every seed, 73% to 93% of samples within $3\\sigma$ |

The walls' own live counts agreed when we ran this lesson (`benchmarks/seed_wall_lesson.py`: minimax 16 of
16 collapsed, non-saturating 15 of 16 at step 2,000); the 32 runs took 538 s on a 2-core CPU that other work
was sharing.

**Why it matters.** One run is one draw from a distribution of outcomes: a single lucky seed can make a
setting look stable, and a single unlucky one can make it look broken. The minimax generator mostly stalls
(lesson 3: its gradient vanishes where D rejects its samples); the non-saturating one reaches the ring but
drops modes (lesson 1). The R1 penalty, which keeps D's slope small on the real points, is what turns the
non-saturating recipe into one that covers all eight modes for every seed we tried.
"""


def sweep_configs(seeds=SEEDS, settings=SETTINGS, base: dict | None = None, device: str = "cpu") -> dict:
    """{setting's label: [RunConfig per seed]}: the base settings with each setting's train fields, one per seed."""
    base = base or SWEEP_BASE
    groups = {}
    for label, train in settings:
        cfgs = []
        for seed in seeds:
            d = {"data": dict(base.get("data", {})), "model": dict(base.get("model", {})),
                 "train": {**base.get("train", {}), **train, "seed": seed, "device": device}}
            cfgs.append(RunConfig.from_dict(d))
        groups[label] = cfgs
    return groups


def collapsed(quality) -> bool | None:
    """Whether a run's latest live quality counts as collapsed (None: not measured yet)."""
    if quality is None or quality.n_modes is None:
        return None
    return quality.modes_covered < quality.n_modes or quality.high_quality < HQ_MIN


@dataclass
class WallView:
    """What the lesson shows of one setting: its wall, the count line under it, and its runs' latest step."""

    picture: object
    count: str
    step: int
    running: bool


class SeedWall:
    """The lesson's handlers: start the session's sweep (pooled through the registry), stop it, and
    turn its runs into two walls and their counts. Each wall is drawn once per new step of its runs,
    however often it is polled."""

    def __init__(self, ctx, seeds=SEEDS, settings=SETTINGS, base: dict | None = None):
        self.ctx, self.seeds, self.settings, self.base = ctx, tuple(seeds), settings, base
        self._drawn = weakref.WeakKeyDictionary()  # a group's first run -> (its runs' steps, the wall drawn)

    def _session(self, request):
        return self.ctx.registry.get(request.session_hash)

    def start(self, request) -> tuple[list[WallView], str]:
        """Start both settings' seeds (the session's other runs stop); (the walls, a status line)."""
        session = self._session(request)
        groups = sweep_configs(self.seeds, self.settings, self.base, device=str(self.ctx.device))
        first = next(iter(groups.values()))[0]
        dataset = load_dataset(first.data, self.ctx.device)  # one copy for every run of the sweep
        try:
            self.ctx.registry.start_sweep(session, groups, self.ctx.device, dataset=dataset)
        except Busy as exc:
            return self.walls(request), refusal(exc)
        return self.walls(request), self.status(request)

    def stop(self, request) -> tuple[list[WallView], str]:
        self.ctx.registry.stop_sweep(self._session(request))
        return self.walls(request), self.status(request)

    def walls(self, request) -> list[WallView]:
        """One WallView per setting of the session's sweep (none before it has started)."""
        sweep = self._session(request).sweep or {}
        return [self._view(label, runs) for label, runs in sweep.items()]

    def status(self, request) -> str:
        runs = [t for group in (self._session(request).sweep or {}).values() for t in group]
        if not runs:
            return "Press **Start the sweep** to train both settings' seeds."
        live = sum(t.running for t in runs)
        steps = max(shown_step(t) for t in runs)
        target = runs[0].target_steps
        if live:
            pools = self.ctx.registry.pools
            stepping = map(pools.pool_of, runs) if pools is not None else ()
            stepped_by = {id(pool) for pool in stepping if pool is not None}
            return f"Training {live} runs as {len(stepped_by)} pools: step {steps:,} of {target:,}."
        ended = sorted({t.state for t in runs})
        return f"The sweep has ended ({', '.join(ended)}) at step {steps:,} of {target:,}."

    def _view(self, label: str, runs: list) -> WallView:
        steps = tuple(shown_step(t) for t in runs)
        drawn = self._drawn.get(runs[0])
        if drawn is None or drawn[0] != steps:
            drawn = (steps, self._draw(runs))
            self._drawn[runs[0]] = drawn
        return WallView(drawn[1], count_line(label, runs), min(steps), any(t.running for t in runs))

    def _draw(self, runs: list):
        modes = runs[0].dataset.modes
        bounds = default_bounds(modes if modes is not None else runs[0].dataset.x[:2048].cpu(), margin=0.3)
        samples = [t.sample_fixed()[:POINTS_SHOWN] if t.step > 0 else None for t in runs]
        marks = [bool(collapsed(t.last_quality)) for t in runs]
        captions = [f"{t.cfg.train.seed}" for t in runs]
        return seed_wall(samples, bounds, cols=WALL_COLS, cell=CELL_PX, real=modes, captions=captions, marked=marks)


def shown_step(trainer) -> int:
    """The run's latest step read back (what its history and quality describe), without building a snapshot."""
    record = trainer.last_record
    return record.step if record is not None else 0


def count_line(label: str, runs: list) -> str:
    """'**minimax**: 9 of 16 seeds collapsed at step 1,500 ...' from each run's latest live quality."""
    verdicts = [collapsed(t.last_quality) for t in runs]
    measured = [v for v in verdicts if v is not None]
    failed = sum(t.state in ("diverged", "failed") for t in runs)
    if not measured:
        return f"**{label}**: no quality measured yet"
    step = min(t.last_quality.step for t in runs if t.last_quality is not None)
    covered = sorted(t.last_quality.modes_covered for t in runs if t.last_quality is not None)
    line = (f"**{label}**: **{sum(measured)} of {len(runs)}** seeds collapsed at step {step:,} "
            f"(median {covered[len(covered) // 2]} of {runs[0].last_quality.n_modes} modes covered)")
    if len(measured) < len(runs):
        line += f"; {len(runs) - len(measured)} not measured yet"
    if failed:
        line += f"; {failed} diverged or failed"
    return line


# ------------------------------------------------------------------------------ layout
def build(ctx, handler: SeedWall | None = None) -> dict:
    """The lesson's controls: Start / Stop, the two walls side by side with their counts, a status line."""
    handler = handler or SeedWall(ctx)
    labels = [label for label, _ in handler.settings]
    with gr.Row():
        start = gr.Button("▶ Start the sweep (16 seeds of each)", variant="primary", elem_id="seed-wall-start")
        stop = gr.Button("■ Stop", elem_id="seed-wall-stop")
    status = gr.Markdown("Press **Start the sweep** to train both settings' seeds.", elem_id="seed-wall-status")
    pictures, counts = [], []
    with gr.Row():
        for i, label in enumerate(labels):
            with gr.Column():
                pictures.append(gr.Image(label=f"{label}: seeds 0-15", type="pil", format="png",
                                         interactive=False, elem_id=f"seed-wall-{i}"))
                counts.append(gr.Markdown(f"**{label}**", elem_id=f"seed-wall-count-{i}"))
    timer = gr.Timer(TICK_S, active=False)
    outputs = [*pictures, *counts, status, timer]

    def shown(views: list[WallView], status_line: str, keep_polling: bool) -> list:
        views = views + [None] * (len(labels) - len(views))
        return ([v.picture if v else None for v in views] + [v.count if v else f"**{lab}**" for v, lab in zip(views, labels)]
                + [status_line, gr.Timer(active=keep_polling)])

    def on_start(request: gr.Request):
        views, line = handler.start(request)
        return shown(views, line, any(v.running for v in views))

    def on_stop(request: gr.Request):
        views, line = handler.stop(request)
        return shown(views, line, False)

    def on_tick(request: gr.Request):
        views = handler.walls(request)
        return shown(views, handler.status(request), any(v.running for v in views))

    private = {"api_visibility": "private", "show_progress": "hidden"}
    start.click(on_start, None, outputs, concurrency_limit=None, **private)
    stop.click(on_stop, None, outputs, concurrency_limit=None, **private)
    timer.tick(on_tick, None, outputs, queue=False, **private)  # unqueued: cheaper per tick (the Train tab's, measured)
    return {"start": start, "stop": stop, "pictures": pictures, "counts": counts, "status": status, "timer": timer}
