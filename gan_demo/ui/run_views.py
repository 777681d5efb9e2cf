"""A run's live views, shared by the Train and Compare tabs: what a browser last showed (LiveView), the progress
picture and curves, which series each plot draws and how it is labelled, and a VAE's live pictures.

No gradio here: each function takes a Trainer (and the tab's LiveView state) and returns data or PIL pictures.
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

import pandas as pd
import torch
from PIL import Image, ImageDraw

from gan_demo.core.config import RegistryView
from gan_demo.families import FAMILIES
from gan_demo.families.gan import R_T, R_T_PLOT, SCORE_FAKE, SCORE_PLOT, SCORE_REAL  # noqa: F401  (the tabs' names)
from gan_demo.families.plots import Plot, series_plots
from gan_demo.render import viz

RECON_IMAGES = 16  # real images shown beside their reconstructions (a 4 x 4 grid each)
SCATTER_POINTS = 600  # real images encoded for the latent scatter
MANIFOLD_SIDE = 15  # the decoded manifold is MANIFOLD_SIDE x MANIFOLD_SIDE latents
MANIFOLD_SPAN = 2.5  # ... spread evenly over [-span, span]^2 (most of N(0, I)'s mass)
SCATTER_BOUNDS = (-4.0, 4.0, -4.0, 4.0)  # the scatter's fixed window in z-space (the picture never jumps)
VAE_PICTURES_EVERY_S = 3.0  # encoding and decoding pause the training: at most this often while it runs
PICTURE_PX = 480  # about the side of the tiled reconstruction and manifold pictures
TICK_S = 0.75  # seconds between live updates while a run is shown
CURVE_POINTS = 300  # points per curve sent to the browser (the history is thinned to this)
CLASS_CURVE_POINTS = 120  # ... while a class trains (the tab's curves come slower: live_cache.curves_s); Gradio walks
# every value of a plot's data on its event loop (BENCHMARKS 26), so 24 tabs' curves cost the others' requests
REAL_POINTS = 1000  # real points drawn beside the generated ones for 2D sets
GRID_CELL_PX = 64  # each image of the progress grid is enlarged (nearest) to about this size
TERMINAL = ("finished", "stopped", "diverged", "failed")


# Each family declares its charts (plots(loss)) and its samples' caption; these read them from the registry. Both
# are optional: a family without a caption gets this one.
DEFAULT_CAPTION = "**Samples** from a fixed noise batch (the same z every time)"
SAMPLES_CAPTION = RegistryView(lambda: {name: getattr(family, "samples_caption", DEFAULT_CAPTION)
                                        for name, family in FAMILIES.items()})


def plots_for(family: str, loss: str | None = None) -> tuple[Plot, Plot]:
    """A family's two charts (a GAN whose loss gives scores, not probabilities, draws them as scores); a family
    that declares none charts its series by their own names."""
    cls = FAMILIES.get(family, FAMILIES["gan"])
    return cls.plots(loss) if hasattr(cls, "plots") else series_plots(cls.name, tuple(cls.series))


def shows_r_t(trainer) -> bool:
    """r_t (ADA's overfitting sign) is charted for image GANs: on 2D sets, with endless data, it only jumps."""
    return "r_t" in trainer.series and trainer.kind == "image"


def plot_columns(plot: Plot, series) -> dict:
    """The plot's columns that the run declares (a family's series), in the plot's order."""
    return {column: name for column, name in plot.columns.items() if column in series}


# ------------------------------------------------------------------------------- VAE pictures
@dataclass
class VAEView:
    """A VAE run's fixed real data for its pictures, drawn once per run, and when they were last drawn."""

    real: torch.Tensor  # (RECON_IMAGES, C, H, W) in [-1, 1]
    real_y: torch.Tensor | None  # their labels, or None for an unlabelled set
    scatter: torch.Tensor  # (SCATTER_POINTS, C, H, W) images to encode
    scatter_y: torch.Tensor | None
    drawn_at: float = -1e9  # time.monotonic() of the last drawing


def vae_view(trainer, seed: int = 0) -> VAEView | None:
    """A fixed draw of real images (seeded: the same images all run long, whatever the training draws).

    Taken when the run starts: a finished run gives its image data back (Trainer.release_training),
    and then there is nothing to draw from (None).
    """
    ds = trainer.dataset
    if len(ds) == 0:
        return None
    order = torch.randperm(len(ds), generator=torch.Generator().manual_seed(seed))
    pick = order[:RECON_IMAGES]
    spread = order[:SCATTER_POINTS]
    labels = ds.y.cpu() if ds.y is not None else None
    return VAEView(real=ds.images(pick).float().cpu(), real_y=None if labels is None else labels[pick],
                   scatter=ds.images(spread).float().cpu(), scatter_y=None if labels is None else labels[spread])


def has_latent_pictures(trainer) -> bool:
    """The two pictures of Kingma & Welling's figure 4 need a 2-dimensional latent (and images to tile)."""
    return trainer.family.name == "vae" and trainer.kind == "image" and trainer.cfg.model.z_dim == 2


def vae_pictures_due(view: VAEView, ended: bool, now: float | None = None) -> bool:
    """Whether to draw a VAE's pictures now: at most every VAE_PICTURES_EVERY_S, and once more when the run ends."""
    now = time.monotonic() if now is None else now
    return ended or now - view.drawn_at >= VAE_PICTURES_EVERY_S


def grid_upscale(img_size: int, per_row: int) -> int:
    """The enlargement (nearest) that makes per_row images of img_size about PICTURE_PX wide."""
    return max(1, round(PICTURE_PX / (per_row * img_size)))


def reconstruction_picture(trainer, view: VAEView) -> Image.Image:
    """The fixed real images (left) beside their reconstructions decode(encode(x).mu) (right), 4 x 4 each,
    a title under each."""
    family = trainer.family
    y = view.real_y if trainer.cfg.model.n_classes else None
    with trainer.lock:  # reconstruct switches the nets to eval mode: not while a step runs
        recon = family.reconstruct(view.real.to(trainer.device), None if y is None else y.to(trainer.device))
    up = grid_upscale(trainer.cfg.model.img_size, 8)
    left = viz.image_grid(viz.to_unit(view.real), nrow=4, upscale=up)
    right = viz.image_grid(viz.to_unit(recon.float().cpu()), nrow=4, upscale=up)
    return _side_by_side(left, right, ("real", "reconstructed"))


def _side_by_side(left: Image.Image, right: Image.Image, titles: tuple[str, str], gap: int = 16) -> Image.Image:
    """Two pictures next to each other, a title under each (gradio's buttons cover the top-right corner)."""
    title_font = viz.font(18)
    foot = 28
    height = max(left.height, right.height)
    out = Image.new("RGB", (left.width + gap + right.width, height + foot), (255, 255, 255))
    draw = ImageDraw.Draw(out)
    for x, picture, title in ((0, left, titles[0]), (left.width + gap, right, titles[1])):
        out.paste(picture, (x, 0))
        draw.text((x + picture.width / 2, height + foot / 2), title, fill=(30, 30, 30), font=title_font, anchor="mm")
    return out


def manifold_picture(trainer) -> Image.Image:
    """The decoder at a MANIFOLD_SIDE^2 grid of z over [-span, span]^2, tiled: z1 grows left to right, z2
    bottom to top (as in the scatter). A conditional VAE draws its first class."""
    n = MANIFOLD_SIDE
    ticks = torch.linspace(-MANIFOLD_SPAN, MANIFOLD_SPAN, n)
    z2, z1 = torch.meshgrid(ticks.flip(0), ticks, indexing="ij")  # row 0 at the top is the largest z2
    z = torch.stack([z1.reshape(-1), z2.reshape(-1)], 1)  # (n*n, 2), row-major like the grid
    y = torch.zeros(n * n, dtype=torch.long, device=trainer.device) if trainer.cfg.model.n_classes else None
    with trainer.lock:
        images = trainer.family.decode(z.to(trainer.device), y)
    return viz.image_grid(viz.to_unit(images.float().cpu()), nrow=n, pad=1,
                          upscale=grid_upscale(trainer.cfg.model.img_size, n))


def scatter_picture(trainer, view: VAEView) -> Image.Image:
    """The fixed real images encoded (the means of q(z|x)) as points in z-space, coloured by class."""
    y = view.scatter_y if trainer.cfg.model.n_classes else None
    with trainer.lock:
        mu, _ = trainer.family.encode(view.scatter.to(trainer.device), None if y is None else y.to(trainer.device))
    names = trainer.dataset.class_names if view.scatter_y is not None else ()
    return viz.class_scatter(mu.float().cpu(), view.scatter_y, SCATTER_BOUNDS, class_names=names, size=448,
                             square=(-MANIFOLD_SPAN, MANIFOLD_SPAN), axes=("z1", "z2"))


def vae_pictures(trainer, view: VAEView) -> dict:
    """{"recon": picture, "manifold": picture or None, "scatter": picture or None} for a VAE image run."""
    latent = has_latent_pictures(trainer)
    return {"recon": reconstruction_picture(trainer, view),
            "manifold": manifold_picture(trainer) if latent else None,
            "scatter": scatter_picture(trainer, view) if latent else None}


CHANGE_SERIES = "setting changed"  # the markers' series on the curves (the Train tab's colour map names it)


def change_markers(frame, schedule: list[dict]):
    """The plot's rows plus a vertical line at each step where a setting changed during the run.

    All markers are one series (a plot's colours are fixed by name), drawn as a comb along the lowest
    value: up and back down at each change's step. What changed is said in the Train tab's message and in
    the run's command (--schedule). Without a change there is no marker series, so the legend names only
    what is drawn (a plot fixes its series when first drawn: the Train tab empties it before a new one,
    gradio 6.31)."""
    import pandas as pd

    if frame is None or not schedule:
        return frame
    low, high = float(frame["value"].min()), float(frame["value"].max())
    rows = []
    for entry in schedule:
        rows += [{"step": entry["step"], "value": v, "series": CHANGE_SERIES} for v in (low, high, low)]
    return pd.concat([frame, pd.DataFrame(rows)], ignore_index=True)


# ---------------------------------------------------------------- the status line
def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "–"
    seconds = int(round(seconds))
    if seconds < 60:
        return f"{seconds} s"
    if seconds < 3600:
        return f"{seconds // 60} min {seconds % 60:02d} s"
    return f"{seconds // 3600} h {seconds % 3600 // 60:02d} min"


def eta_words(snap: dict) -> str:
    """The ETA with its range ("ETA 2 min 10 s, likely 1 min 50 s to 2 min 40 s"), or "ETA –" before it is known."""
    text = f"ETA {_duration(snap['eta_s'])}"
    span = snap.get("eta_range_s")
    if snap["eta_s"] is not None and span is not None and _duration(span[0]) != _duration(span[1]):
        text += f" (likely {_duration(span[0])} to {_duration(span[1])}, at the last minute's speed)"
    return text


def status_line(snap: dict | None, run_id: str | None = None, pooled: int = 0) -> str:
    """The run's state in one line; pooled: the runs of the pool that steps it (0 or 1: it trains alone)."""
    if snap is None:
        return "No run yet: choose a dataset and settings, then press **Start**."
    parts = [f"**{snap['state']}**", f"step {snap['step']:,} / {snap['target_steps']:,}"]
    if snap["state"] == "running":
        parts += [f"{snap['steps_per_s']:.1f} steps/s", eta_words(snap)]
    if pooled > 1 and snap["state"] in ("running", "paused"):
        others = pooled - 1
        parts.append(f"pooled: one step with {others:,} other run{'s' if others > 1 else ''}")
    parts.append(f"device **{snap['device']}**")
    if run_id:
        parts.append(f"run id `{run_id}`")
    return " · ".join(parts)



@dataclass
class LiveView:
    """What the browser session last showed of its run (kept in a gr.State)."""

    run_id: str | None = None
    step: int = -1
    state: str = ""
    frames: int = 0
    backdrop: viz.PointsBackdrop | None = None  # 2D: the grid and real points under the generated ones, drawn once
    plotted_at: float = 0.0  # time.monotonic() of the last curve update
    graphed: dict | None = None  # the step record (snapshot()["last"]) last written on the model graph
    vae: VAEView | None = None  # a VAE image run: its fixed real images for the reconstructions and the scatter
    drawn_series: dict | None = None  # plot name -> the series it was first drawn with (gradio fixes them then)
    redraw: bool = False  # a plot was emptied to take new series: draw the curves at the next tick
    curves_s: float | None = None  # the interval this view's timer runs at (live_cache.curves_s); None: not set yet
    heads: dict = field(default_factory=dict)  # plot name -> the labels and limits this view last sent it
    waiting: dict = field(default_factory=dict)  # a tick's outputs left for the full update (Train.on_beat)
    pictures: dict = field(default_factory=dict)  # a tick's image-run extras left for Train.on_pictures
    dues: dict = field(default_factory=dict)  # the hidden "due" textboxes' values as this view last set them

    def curve_points(self, fastest_s: float) -> int:
        """Points per curve: fewer while a class trains (the tab's event slowed past fastest_s)."""
        return CURVE_POINTS if (self.curves_s or fastest_s) <= fastest_s else CLASS_CURVE_POINTS


def progress_picture(trainer, view: LiveView) -> Image.Image:
    """G_ema on the fixed noise batch as a picture: a grid of images, or generated points over real ones."""
    samples = trainer.sample_fixed()
    ds = trainer.dataset
    if trainer.kind != "2d":
        nrow = trainer.cfg.model.n_classes or 8
        upscale = max(1, GRID_CELL_PX // trainer.cfg.model.img_size)
        return viz.image_grid(samples, nrow=nrow, upscale=upscale)
    if view.backdrop is None:  # the real points and the window stay for the run: drawn once per view
        order = torch.randperm(len(ds), generator=torch.Generator().manual_seed(0))[:REAL_POINTS]
        real = ds.x[order.to(ds.x.device)].float().cpu()
        view.backdrop = viz.PointsBackdrop(real, viz.default_bounds(real), size=512)
    return view.backdrop.draw(samples)


def curves(history: dict, columns: dict[str, str], points: int = CURVE_POINTS) -> pd.DataFrame | None:
    """Long-format (step, value, series) rows for a LinePlot, thinned to about `points` per series.

    None when there is nothing to draw: gradio 6.31 never draws lines into a LinePlot that
    was given an empty DataFrame, so an empty plot must be None.
    """
    steps = history.get("step", [])
    stride = max(1, math.ceil(len(steps) / points))
    rows = {"step": [], "value": [], "series": []}
    for column, series in columns.items():
        values = history.get(column, [])
        for s, v in zip(steps[::stride], values[::stride]):
            if math.isfinite(v):
                rows["step"].append(s)
                rows["value"].append(v)
                rows["series"].append(series)
    return pd.DataFrame(rows) if rows["step"] else None


def quality_boxes(trainer) -> dict[str, bool]:
    """Which live quality panels a run shows: the box (2D sets; stacked-digits with its classifier cached),
    the modes-covered chart (ring8, grid25, stacked-digits) and the grid KL / JS charts (2D sets)."""
    return {"box": bool(trainer.quality_every), "grid": trainer.kind == "2d",
            "modes": trainer.dataset.modes is not None or (trainer.kind == "image" and bool(trainer.quality_every))}
