"""Explore's latent map: a grid of samples over two slider axes (raw z dimensions or principal directions)
around the current latent, made in one forward pass; clicking a cell moves the sliders there."""
from __future__ import annotations

import math

import gradio as gr
import torch
from PIL import Image, ImageDraw

from gan_demo.render.viz import default_bounds, points_image
from gan_demo.ui import widgets as ex

MIN_GRID, MAX_GRID, GRID = 3, 15, 9  # cells per side
MAP_PX = 480  # about the map's side in pixels
GRID_STEP = 0.05  # cell values sit on the sliders' grid, so a clicked cell is exactly what the sliders show
CELL_PAD = 1
HIGHLIGHT = (255, 140, 0)
MESH = (120, 120, 120)


def axis_values(center: float, span: float, n: int) -> list[float]:
    """n values over a window 2*span wide around center, kept inside the sliders' range, on their grid."""
    span = min(max(float(span), GRID_STEP), ex.SLIDER_MAX)
    lo = min(max(float(center) - span, -ex.SLIDER_MAX), ex.SLIDER_MAX - 2 * span)
    return [round(round((lo + 2 * span * i / (n - 1)) / GRID_STEP) * GRID_STEP, 2) for i in range(n)]


def axis_vectors(sampler, mode: str) -> torch.Tensor:
    """(k, z_dim): the unit step of each slider (rows of the identity, or the principal directions)."""
    if mode == ex.PCA:
        return sampler.directions(ex.N_SLIDERS)[0]
    k = min(ex.N_SLIDERS, sampler.z_dim)
    return torch.eye(sampler.z_dim)[:k]


def check_request(sampler, mode, x_axis, y_axis, size, span) -> tuple[int, int, int, float]:
    """(x axis, y axis, cells per side, span) once they make sense for this sampler; ValueError otherwise."""
    k = axis_vectors(sampler, mode).shape[0]
    try:
        x_axis, y_axis, size, span = int(x_axis), int(y_axis), int(size), float(span)
    except (TypeError, ValueError):
        raise ValueError("the map needs two axes, a grid size and a span") from None
    if not (0 <= x_axis < k and 0 <= y_axis < k):
        raise ValueError(f"pick the map's axes among the {k} sliders of this checkpoint")
    if x_axis == y_axis:
        raise ValueError("pick two different axes for the map")
    if not MIN_GRID <= size <= MAX_GRID:
        raise ValueError(f"the grid has {MIN_GRID} to {MAX_GRID} cells a side (got {size})")
    if not (math.isfinite(span) and 0 < span <= ex.SLIDER_MAX):
        raise ValueError(f"the span is between 0 and {ex.SLIDER_MAX:g}")
    return x_axis, y_axis, size, span


def map_latents(sampler, seed, mode, offsets, base, x_axis, y_axis, xs, ys) -> torch.Tensor:
    """(len(ys) * len(xs), z_dim), row by row from the top (largest y) down, left (smallest x) to right."""
    fixed = [float(v or 0.0) for v in offsets]
    fixed[x_axis] = fixed[y_axis] = 0.0
    z0 = ex.latent_of(sampler, seed, mode, fixed, base)  # (1, z_dim): the current latent without the two axes
    e = axis_vectors(sampler, mode)
    x = torch.tensor(xs, dtype=torch.float32)
    y = torch.tensor(ys[::-1], dtype=torch.float32)  # top row = largest y
    grid = y[:, None, None] * e[y_axis] + x[None, :, None] * e[x_axis]  # (ny, nx, z_dim)
    return (z0 + grid).reshape(-1, sampler.z_dim)


def image_map(samples: torch.Tensor, n: int) -> tuple[Image.Image, int]:
    """(n*n, C, H, W) in [0, 1] -> one picture of the cells and the side of a cell in pixels (with its pad)."""
    side = samples.shape[-1]
    upscale = max(1, round(MAP_PX / (n * side)))
    cell = side * upscale + CELL_PAD
    pixels = (samples.float().clamp(0, 1) * 255 + 0.5).to(torch.uint8).numpy()
    canvas = Image.new("RGB", (n * cell + CELL_PAD, n * cell + CELL_PAD), (255, 255, 255))
    for i, x in enumerate(pixels):
        tile = Image.fromarray(x[0], "L") if x.shape[0] == 1 else Image.fromarray(x.transpose(1, 2, 0), "RGB")
        tile = tile.resize((side * upscale, side * upscale), Image.Resampling.NEAREST)
        canvas.paste(tile, (CELL_PAD + (i % n) * cell, CELL_PAD + (i // n) * cell))
    return canvas, cell


def points_map(sampler, points: torch.Tensor, n: int) -> tuple[Image.Image, list[tuple[float, float]]]:
    """A 2D generator's decoded grid as a mesh over the real data and its cloud; returns the picture and
    each grid point's pixel position (row by row, as map_latents orders them)."""
    real = ex.real_points(sampler)
    cloud = sampler.cloud()
    bounds = default_bounds(torch.cat([t for t in (cloud, real, points) if t is not None]))
    picture = points_image(real, cloud, bounds, size=MAP_PX)
    pixels = ex.to_pixels(points, bounds, MAP_PX)
    draw = ImageDraw.Draw(picture)
    for r in range(n):
        draw.line(pixels[r * n:(r + 1) * n], fill=MESH, width=1)
    for c in range(n):
        draw.line(pixels[c::n], fill=MESH, width=1)
    for u, v in pixels:
        draw.ellipse((u - 2.5, v - 2.5, u + 2.5, v + 2.5), fill=(60, 60, 60))
    return picture, pixels


def mark_cell(state: dict, index: int) -> Image.Image:
    """The map's picture with one cell (or a 2D grid point) marked."""
    picture = state["picture"].copy()
    draw = ImageDraw.Draw(picture)
    if state["kind"] == "2d":
        u, v = state["pixels"][index]
        ex.mark_point(draw, u, v, radius=6)
    else:
        n, cell = state["n"], state["cell"]
        x0, y0 = (index % n) * cell, (index // n) * cell
        draw.rectangle((x0, y0, x0 + cell, y0 + cell), outline=HIGHLIGHT, width=max(2, cell // 16))
    return picture


def nearest(values: list[float], value: float) -> int:
    return min(range(len(values)), key=lambda i: abs(values[i] - value))


class LatentMap:
    """The map's handlers: values in, pictures and slider values out (the engine: Sampler.generate)."""

    def __init__(self, ctx, explore):
        self.ctx, self.explore = ctx, explore

    def axes(self, request: gr.Request, name, mode):
        """The axis pickers for this checkpoint and slider mode (the first two sliders picked)."""
        try:
            sampler = self.explore._sampler(name, request)
            k = axis_vectors(sampler, mode).shape[0]
        except (KeyError, ValueError, RuntimeError):
            return gr.skip(), gr.skip()
        labels = [f"PC{i + 1}" if mode == ex.PCA else f"z[{i}]" for i in range(k)]
        choices = [(label, i) for i, label in enumerate(labels)]
        return gr.update(choices=choices, value=0), gr.update(choices=choices, value=min(1, k - 1))

    def draw(self, request: gr.Request, name, seed, mode, truncation, label, x_axis, y_axis, size, span, *offsets):
        """The map around the current latent. Returns (picture, caption, state for clicks)."""
        try:
            sampler = self.explore._sampler(name, request)
            x_axis, y_axis, n, span = check_request(sampler, mode, x_axis, y_axis, size, span)
            label = ex.label_of(sampler, label)
            base, _ = self.explore._base(self.explore._session(request), name)
            offsets = [float(v or 0.0) for v in offsets]
            xs = axis_values(offsets[x_axis], span, n)
            ys = axis_values(offsets[y_axis], span, n)
            z = map_latents(sampler, seed, mode, offsets, base, x_axis, y_axis, xs, ys)
            with self.ctx.render_gate:  # one forward pass for the whole grid
                samples = sampler.generate(z, label, float(truncation))
        except (KeyError, ValueError, RuntimeError) as exc:
            return gr.skip(), ex.problem(exc), gr.skip()
        state = {"checkpoint": name, "mode": mode, "x_axis": x_axis, "y_axis": y_axis, "xs": xs, "ys": ys, "n": n,
                 "kind": sampler.kind}
        if sampler.kind == "2d":
            state["picture"], state["pixels"] = points_map(sampler, samples, n)
        else:
            state["picture"], state["cell"] = image_map(samples, n)
        here = (n - 1 - nearest(ys, offsets[y_axis])) * n + nearest(xs, offsets[x_axis])
        names = [f"PC{i + 1}" if mode == ex.PCA else f"z[{i}]" for i in (x_axis, y_axis)]
        what = ("each grid point is G(z) for one cell, joined to its neighbours: the decoded manifold over the "
                "real data (green) and the generator's cloud (purple)" if sampler.kind == "2d"
                else "each cell is the sample at that latent")
        caption = (f"**{n} × {n} latents** in one forward pass: {names[0]} from {xs[0]:.2f} to {xs[-1]:.2f} "
                   f"(left to right), {names[1]} from {ys[0]:.2f} to {ys[-1]:.2f} (bottom to top); {what}. The "
                   "orange mark is the current latent; click a cell to move there.")
        return mark_cell(state, here), caption, state

    def click(self, request: gr.Request, evt: gr.SelectData, state, name, seed, mode, truncation, label, *offsets):
        """A click on the map: the two sliders take that cell's values. Returns (map, *sliders, picture, readout)."""
        skip = (gr.skip(), *[gr.skip()] * ex.N_SLIDERS, gr.skip(), gr.skip())
        if not state or state["checkpoint"] != name or state["mode"] != mode or evt is None or evt.index is None:
            return skip
        u, v = evt.index[:2]
        n = state["n"]
        if state["kind"] == "2d":
            index = min(range(n * n), key=lambda i: (state["pixels"][i][0] - u) ** 2 + (state["pixels"][i][1] - v) ** 2)
        else:
            col = min(n - 1, max(0, int(u // state["cell"])))
            row = min(n - 1, max(0, int(v // state["cell"])))
            index = row * n + col
        offsets = [float(x or 0.0) for x in offsets]
        offsets[state["x_axis"]] = state["xs"][index % n]
        offsets[state["y_axis"]] = state["ys"][n - 1 - index // n]
        picture, text = self.explore.render(request, name, seed, mode, truncation, label, *offsets)
        sliders = [gr.update(value=offsets[i]) if i in (state["x_axis"], state["y_axis"]) else gr.skip()
                   for i in range(ex.N_SLIDERS)]
        return (mark_cell(state, index), *sliders, picture, text)


def build(ctx, explore, c: dict) -> dict:
    """The map's panel inside Explore's layout; c holds Explore's components (checkpoint, seed, mode, ...)."""
    h = LatentMap(ctx, explore)
    quiet = dict(api_visibility="undocumented")
    with gr.Accordion("Latent map", open=False, elem_id="map-panel"):
        gr.Markdown("A grid of samples over two slider axes around the current latent (GANSpace's and "
                    "*latent space cartography*'s idea): see at a glance what each direction does, then click a "
                    "cell to go there. For a 2D generator, or a VAE with a 2-dimensional latent, the map is the "
                    "decoded manifold.")
        with gr.Row():
            x_axis = gr.Dropdown([("z[0]", 0)], value=0, label="Across (x)", elem_id="map-x", min_width=120)
            y_axis = gr.Dropdown([("z[1]", 1)], value=1, label="Up (y)", elem_id="map-y", min_width=120)
            size = gr.Slider(MIN_GRID, MAX_GRID, value=GRID, step=1, label="Cells per side", elem_id="map-size")
            span = gr.Slider(0.25, ex.SLIDER_MAX, value=2.0, step=0.25, label="Span (± around the current value)",
                             elem_id="map-span")
            go = gr.Button("Draw the map", variant="primary", elem_id="map-draw", min_width=140)
        picture = gr.Image(show_label=False, type="pil", format="png", interactive=False, elem_id="map-image",
                           elem_classes=["pixelated"], buttons=["download", "fullscreen"])
        caption = gr.Markdown(elem_id="map-caption")
    state = gr.State(None)
    latent = [c["checkpoint"], c["seed"], c["mode"], c["truncation"], c["label"]]
    go.click(h.draw, [*latent, x_axis, y_axis, size, span, *c["sliders"]], [picture, caption, state],
             show_progress="minimal", concurrency_limit=4, concurrency_id="latent_map", **quiet)
    picture.select(h.click, [state, *latent, *c["sliders"]], [picture, *c["sliders"], c["image"], c["score"]],
                   show_progress="hidden", concurrency_limit=None, **quiet)
    return {"x_axis": x_axis, "y_axis": y_axis, "size": size, "span": span, "draw": go, "picture": picture,
            "caption": caption, "state": state, "handlers": h}
