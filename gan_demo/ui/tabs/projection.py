"""Explore's "Project an image into z": upload, draw or pick a held-out real image; the z that draws it
becomes a bookmark and the sliders move from there. For a 2D generator: click a point of the plane."""
from __future__ import annotations

import functools

import gradio as gr
import numpy as np
import pandas as pd
import torch
from PIL import Image

from gan_demo.core.config import IMAGE_DATASETS, DataConfig
from gan_demo.explore.projection import image_target, project
from gan_demo.ui.widgets import (N_SLIDERS, VIEW_SIZE, bookmark_names, bookmark_of, capped_drawing, check_drawing_size, cloud_view, ink_mask,
                      sample_picture)
from gan_demo.ui.long_jobs import THREADS

SOURCES = [("Upload an image", "upload"), ("Draw one", "draw"), ("A held-out real image", "held-out")]
MAX_STEPS = 1000
CURVE_EVERY = 5  # loss-curve points kept: every CURVE_EVERY-th step
POINT_STEPS = 300  # Adam steps for a clicked 2D point (a small MLP: quick)
MAX_PHOTO_SIDE = 8192  # pixels a side of an image to project (a phone photo is ~4000), checked from its header


@functools.lru_cache(maxsize=4)
def held_out(dataset: str, img_size: int, channels: int):
    """(images (N, C, H, W) in [0, 1], labels) of a built-in image set's held-out split (loaded once)."""
    from gan_demo.data.datasets import load_dataset

    ds = load_dataset(DataConfig(dataset=dataset, img_size=img_size, channels=channels), "cpu", split="test")
    x = ds.x.float() / 255 if ds.x.dtype == torch.uint8 else ((ds.x.float() + 1) / 2).clamp(0, 1)
    return x, ds.y


def drawn_image(drawing) -> Image.Image:
    """A sketchpad drawing as the digit datasets show digits: light strokes on black, cropped square around them."""

    mask = ink_mask(drawing)
    if mask is None or not mask.any():
        raise ValueError("draw something first (a digit, say)")
    rows, cols = np.nonzero(mask)
    top, bottom, left, right = rows.min(), rows.max() + 1, cols.min(), cols.max() + 1
    side = int(max(bottom - top, right - left) * 1.3) + 2  # a margin, as the training digits have
    cy, cx = (top + bottom) // 2, (left + right) // 2
    canvas = np.zeros((side, side), np.uint8)
    y0, x0 = cy - side // 2, cx - side // 2
    ys, xs = np.nonzero(mask)
    canvas[ys - y0, xs - x0] = 255
    return Image.fromarray(canvas, "L")


def comparison(target: torch.Tensor, recon: torch.Tensor) -> Image.Image:
    """target | reconstruction | |difference| side by side, each about VIEW_SIZE / 2 wide."""
    tiles = [target, recon, (target - recon).abs()]
    pictures = [sample_picture(t, size=VIEW_SIZE // 2).convert("RGB") for t in tiles]
    w, h = pictures[0].size
    out = Image.new("RGB", (3 * w + 16, h), (255, 255, 255))
    for i, p in enumerate(pictures):
        out.paste(p, (i * (w + 8), 0))
    return out


class ProjectionPanel:
    """The panel's handlers: each takes the session, calls gan_demo.explore.projection, returns components."""

    def __init__(self, ctx, explore):
        self.ctx, self.explore = ctx, explore

    def _target(self, sampler, source, upload, drawing, index):
        """(target (1, C, H, W) in [0, 1], its label or None, what it is in words)."""
        if source == "upload":
            if not upload:
                raise ValueError("upload an image first")
            return image_target(upload, sampler), None, "your image"
        if source == "draw":
            return image_target(drawn_image(drawing), sampler), None, "your drawing"
        dataset = sampler.cfg.data.dataset
        if dataset not in IMAGE_DATASETS:  # an uploaded run's own files are not on this server
            raise ValueError(f"this generator was trained on {dataset!r}: no held-out images of it here")
        x, y = held_out(dataset, sampler.cfg.model.img_size, sampler.cfg.model.channels)
        i = int(index or 0) % len(x)
        label = int(y[i]) if (y is not None and sampler.n_classes) else None
        return x[i:i + 1], label, f"held-out image {i}"

    def project(self, request: gr.Request, name, source, upload, drawing, index, steps, feature_weight,
                progress=gr.Progress()):
        """Returns (comparison picture, status, loss curve, bookmark list, download button)."""
        session = self.explore._session(request)
        session.projection_stop.clear()
        try:
            sampler = self.explore._sampler(name, request)
            if sampler.kind != "image":
                raise ValueError("this generator makes 2D points: click a point on its picture above instead")
            target, label, what = self._target(sampler, source, upload, drawing, index)
            steps = max(1, min(MAX_STEPS, int(steps or 300)))
            labels = None if label is None else torch.tensor([label])
            waiting = lambda ahead: progress(0.0, desc=f"waiting: {ahead} projection(s) before yours")  # noqa: E731
            with self.ctx.projections.turn(request.session_hash, on_wait=waiting):
                found = project(sampler, target, labels, steps=steps, feature_weight=float(feature_weight or 0),
                                progress=lambda step, loss: progress((step, steps), desc="Adam on z", unit="steps"),
                                should_stop=session.projection_stop.is_set)
        except (KeyError, ValueError, RuntimeError, OSError) as exc:  # Busy (the queue) is a RuntimeError
            text = exc.args[0] if isinstance(exc, KeyError) and exc.args else str(exc)
            return gr.skip(), f"⚠ Could not project: {text}", gr.skip(), gr.skip(), gr.skip()
        status = self._keep(session, sampler, name, found, what)
        curve = None
        if found.losses:
            kept = list(range(0, len(found.losses), CURVE_EVERY))
            curve = pd.DataFrame({"step": [i + 1 for i in kept], "loss": [found.losses[i] for i in kept]})
        lists = self.explore._bookmark_outputs(session, session.bookmarks[-1]["name"])[:2]
        return (comparison(target[0], found.reconstruction[0]), status, curve, *lists)

    def stop(self, request: gr.Request):
        self.explore._session(request).projection_stop.set()

    def click_point(self, request: gr.Request, name, evt: gr.SelectData):
        """A click on a 2D generator's picture: the z whose sample lands nearest that point.
        Returns (status, bookmark list, download button)."""
        session = self.explore._session(request)
        try:
            sampler = self.explore._sampler(name, request)
            if sampler.kind != "2d":
                return gr.skip(), gr.skip(), gr.skip()
            _, (xmin, xmax, ymin, ymax) = cloud_view(sampler)
            u, v = evt.index
            point = torch.tensor([[xmin + u / VIEW_SIZE * (xmax - xmin), ymax - v / VIEW_SIZE * (ymax - ymin)]])
            with self.ctx.projections.turn(request.session_hash):
                found = project(sampler, point, steps=POINT_STEPS)
        except (KeyError, ValueError, RuntimeError) as exc:
            return f"⚠ Could not project: {exc}", gr.skip(), gr.skip()
        x, y = point[0].tolist()
        status = self._keep(session, sampler, name, found, f"point ({x:.2f}, {y:.2f})")
        return (status, *self.explore._bookmark_outputs(session, session.bookmarks[-1]["name"])[:2])

    def _keep(self, session, sampler, name, found, what) -> str:
        """The found z becomes the latent the sliders move from, and a bookmark; returns the status line."""
        label = None if found.labels is None else int(found.labels[0])
        session.projected = {"checkpoint": name, "z": found.z[0].tolist(), "label": label, "what": what}
        bookmark = bookmark_of(sampler, name, 0, "raw", [0.0] * N_SLIDERS, 1.0, label, found.z[0],
                               bookmark_names(session), session.projected)
        session.bookmarks.append(bookmark)
        unit = "mean absolute pixel error" if sampler.kind == "image" else "distance"
        how = ("the encoder's mean" if sampler.encoder is not None
               else f"{len(found.losses)} Adam step{'' if len(found.losses) == 1 else 's'} on z"
                    f"{' (stopped)' if found.stopped else ''}")
        cls = f" · class {sampler.class_names[label]}" if label is not None else ""
        return (f"Projected **{what}** ({how}): {unit} **{float(found.error[0]):.4f}**{cls}. Saved as bookmark "
                f"**{bookmark['name']}**; the sliders now move from this z, and Interpolate can walk from it.")


def capped_image(component: gr.Image) -> gr.Image:
    """component, refusing pictures larger than MAX_PHOTO_SIDE a side from their headers, before gradio
    decodes them (as the 2D lab's sketchpad does)."""

    decode = component.preprocess

    def preprocess(payload):
        if payload is not None:
            check_drawing_size(payload, MAX_PHOTO_SIDE, "the image", "send a smaller one")
        return decode(payload)

    component.preprocess = preprocess
    return component


def build(ctx, explore_handlers, checkpoint, image, bookmarks, download, after: list[dict]) -> dict:
    """The panel inside Explore's layout (call within its gr.Blocks context). after: events chained after a
    projection (redraw the view, keep the bookmarks in the browser)."""
    h = ProjectionPanel(ctx, explore_handlers)
    quiet = dict(api_visibility="undocumented")
    with gr.Accordion("Project an image into z", open=False, elem_id="project-panel"):
        gr.Markdown("Find the latent **z** whose sample looks like a real image: a VAE reads it off its encoder; a "
                    "GAN has none, so z is searched for (the best of 32 random latents, then Adam on z against the "
                    "pixels). The result becomes a bookmark, so you can interpolate between two *real* images and "
                    "move the sliders from there. For a 2D generator, click a point on its picture instead.")
        with gr.Row(equal_height=False):
            with gr.Column(scale=1, min_width=260):
                source = gr.Radio(SOURCES, value="upload", label="Image", elem_id="project-source")
                upload = capped_image(gr.Image(type="filepath", sources=["upload", "clipboard"], label="Your image",
                                               height=200, elem_id="project-upload"))
                drawing = capped_drawing(gr.Sketchpad(label="Draw (dark on white; it is inverted like the digits)",
                                                      height=260, visible=False, elem_id="project-draw"))
                index = gr.Number(0, precision=0, minimum=0, label="Held-out image number", visible=False,
                                  elem_id="project-index")
                with gr.Row():
                    steps = gr.Slider(20, MAX_STEPS, value=300, step=10, label="Adam steps (GAN)", elem_id="project-steps")
                    features = gr.Number(0.0, minimum=0, label="D-feature loss weight (GAN)")
                with gr.Row():
                    run = gr.Button("Project", variant="primary", elem_id="project-run")
                    stop = gr.Button("Stop", elem_id="project-stop")
            with gr.Column(scale=2, min_width=320):
                # The caption sits above the picture, not on it (a gr.Image label overlaps the image's top).
                gr.Markdown("**Left to right:** the target · its reconstruction G(z) · their |difference|",
                            elem_id="project-caption")
                picture = gr.Image(show_label=False, type="pil", format="png", interactive=False,
                                   elem_id="project-result")
                status = gr.Markdown(elem_id="project-status")
                curve = gr.LinePlot(None, x="step", y="loss", label="Loss while searching z", elem_id="project-curve",
                                    x_title="Adam step", y_title="loss")
    source.change(lambda s: [gr.update(visible=s == "upload"), gr.update(visible=s == "draw"),
                             gr.update(visible=s == "held-out")], source, [upload, drawing, index], queue=False, **quiet)
    # Named apart from the API's /project (the UI event would otherwise take that name first).
    projected = run.click(h.project, [checkpoint, source, upload, drawing, index, steps, features],
                          [picture, status, curve, bookmarks, download], concurrency_limit=THREADS,
                          concurrency_id="project", api_name="explore_project", **quiet)
    clicked = image.select(h.click_point, [checkpoint], [status, bookmarks, download], concurrency_limit=THREADS,
                           concurrency_id="project", api_name="explore_click_point", **quiet)
    for event in (projected, clicked):
        for step in after:
            event = event.then(**step)
    stop.click(h.stop, None, None, queue=False, **quiet)
    return {"run": run, "stop": stop, "status": status, "picture": picture, "handlers": h}
