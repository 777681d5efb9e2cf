"""Interpolate tab: walk from one latent to another (seeds or bookmarks) as a strip of frames and an animated GIF."""
from __future__ import annotations

import math

import gradio as gr
import torch
from PIL import Image, ImageDraw

from gan_demo.explore.latent import z_from_seed
from gan_demo.render.viz import font, gif_bytes
from gan_demo.ui.widgets import (EXPLORE_JS, MAX_SEED, bookmark_names, cloud_view, default_choice, label_of, mark_point, sample_picture,
                          session_file, to_pixels)

SEED, BOOKMARK = "seed", "bookmark"
MODES = [("spherical (slerp)", "slerp"), ("linear (lerp)", "lerp")]
MAX_FRAMES = 64
GIF_SIZE = 256  # side of each GIF frame in pixels
STRIP_CELL = 64  # side of each frame in the strip (tiny images enlarged, nearest)
STRIP_COLUMNS = 16  # frames per row of the strip
PATH_COLOR = (90, 90, 90)
SCRUB_JS = ("(route, i) => { if (route && window.ganExplore) "
            "window.ganExplore.request('#interp-frame', route + '&i=' + (Number(i) - 1)); return []; }")


# ----------------------------------------------------------------------------------- pictures
def image_frames(samples: torch.Tensor, size: int = GIF_SIZE) -> list[Image.Image]:
    """(T, C, H, W) in [0, 1] -> T pictures about size pixels wide."""
    return [sample_picture(x, size) for x in samples]


def strip_picture(frames: list[Image.Image], cell: int = STRIP_CELL, columns: int = STRIP_COLUMNS,
                  pad: int = 2) -> Image.Image:
    """The frames side by side (rows of `columns`), each shrunk to about cell pixels, on white."""
    first = frames[0]
    scale = max(1, round(first.width / cell))
    w, h = first.width // scale, first.height // scale
    cols = min(columns, len(frames))
    rows = math.ceil(len(frames) / cols)
    strip = Image.new("RGB", (cols * (w + pad) + pad, rows * (h + pad) + pad), (255, 255, 255))
    for i, frame in enumerate(frames):
        small = frame.resize((w, h), Image.Resampling.NEAREST).convert("RGB")
        strip.paste(small, (pad + (i % cols) * (w + pad), pad + (i // cols) * (h + pad)))
    return strip


def path_frames(sampler, points: torch.Tensor, forward: int, size: int = GIF_SIZE) -> tuple[list[Image.Image], Image.Image]:
    """A 2D generator's walk: (GIF frames with the moving point, one picture of the whole path).

    points (T, 2) are G's outputs along the path (the first `forward` of them go from A to B).
    Each picture is the generator's cloud with the path drawn as a grey line through its points.
    """
    base, bounds = cloud_view(sampler, size)
    pixels = to_pixels(points[:forward], bounds, size)
    path = base.copy()
    draw = ImageDraw.Draw(path)
    draw.line(pixels, fill=PATH_COLOR, width=2)
    for u, v in pixels:
        draw.ellipse((u - 2, v - 2, u + 2, v + 2), fill=PATH_COLOR)
    frames = []
    count_font = font(max(11, size // 24))
    for i, (u, v) in enumerate(to_pixels(points, bounds, size)):
        frame = path.copy()
        draw = ImageDraw.Draw(frame)
        mark_point(draw, u, v, radius=6)
        # the frame number: frames stay distinct (a GIF merges equal ones) even where G hardly moves
        draw.text((6, size - 6), f"{i + 1}/{len(points)}", fill=(60, 60, 60), font=count_font, anchor="lb")
        frames.append(frame)
    summary = path.copy()
    draw = ImageDraw.Draw(summary)
    label_font = font(max(12, size // 20))
    for (u, v), text, side in ((pixels[0], "A", -1), (pixels[-1], "B", 1)):  # A left of its dot, B right
        mark_point(draw, u, v, radius=6)
        draw.text((u + side * 10, v), text, fill=(20, 20, 20), font=label_font, anchor="rm" if side < 0 else "lm",
                  stroke_width=2, stroke_fill=(255, 255, 255))
    return frames, summary


# ----------------------------------------------------------------------------------- handlers
class Interpolate:
    """The tab's handlers: the session's bookmarks and the catalog's samplers, turned into pictures."""

    def __init__(self, ctx):
        self.ctx = ctx

    def _session(self, request):
        return self.ctx.registry.get(request.session_hash)

    def endpoint(self, sampler, session, kind, seed, bookmark) -> tuple[torch.Tensor, str]:
        """(z (z_dim,), a few words naming it) for one end of the path; ValueError if it cannot be used."""
        if kind == BOOKMARK:
            saved = next((b for b in session.bookmarks if b["name"] == bookmark), None)
            if saved is None:
                raise ValueError("pick a bookmark for each end set to 'bookmark' (save some on the Explore tab)")
            if saved["z_dim"] != sampler.z_dim:
                raise ValueError(f"bookmark {saved['name']!r} has z_dim {saved['z_dim']}, but this checkpoint "
                                 f"needs {sampler.z_dim}: pick the checkpoint it was saved with")
            return torch.tensor(saved["z"], dtype=torch.float32), f"bookmark {saved['name']}"
        seed = min(max(int(seed or 0), 0), MAX_SEED)
        return z_from_seed(seed, sampler.z_dim)[0], f"seed {seed}"

    def run(self, request: gr.Request, name, a_kind, a_seed, a_bookmark, b_kind, b_seed, b_bookmark, mode,
            frames, pingpong, truncation, label, frame_ms):
        """Generate the path and its pictures. Returns (strip, GIF file, download button, status)."""
        return self._walk(request, name, a_kind, a_seed, a_bookmark, b_kind, b_seed, b_bookmark, mode, frames,
                          pingpong, truncation, label, frame_ms)[:4]

    def run_with_scrubber(self, request: gr.Request, *values):
        """run(), and the frames kept for the scrubber: (strip, GIF, download, status, scrubber, first frame,
        frames route). The scrubber's moves fetch frames from that route in the browser (no event round trip)."""
        *out, pictures = self._walk(request, *values)
        if pictures is None:
            return (*out, gr.skip(), gr.skip(), gr.skip())
        from gan_demo.ui.explore_images import image_routes

        route = image_routes(self.ctx).keep_frames(self._session(request), pictures)
        scrub = gr.update(minimum=1, maximum=len(pictures), value=1, visible=True,
                          label=f"Scrub the frames (1 to {len(pictures)})")
        return (*out, scrub, gr.update(value=pictures[0], visible=True), route)

    def _walk(self, request, name, a_kind, a_seed, a_bookmark, b_kind, b_seed, b_bookmark, mode, frames, pingpong,
              truncation, label, frame_ms):
        """(strip, GIF file, download button, status, the GIF's frames or None)."""
        session = self._session(request)
        frames = int(frames)
        try:
            sampler = self.ctx.catalog.sampler(name, session)
            z_a, about_a = self.endpoint(sampler, session, a_kind, a_seed, a_bookmark)
            z_b, about_b = self.endpoint(sampler, session, b_kind, b_seed, b_bookmark)
            label = label_of(sampler, label)
            samples = sampler.interpolation(z_a, z_b, frames, mode, bool(pingpong), label, float(truncation))
        except (KeyError, ValueError, RuntimeError) as exc:
            text = exc.args[0] if isinstance(exc, KeyError) and exc.args else str(exc)
            return gr.skip(), gr.skip(), gr.skip(), f"⚠ {text}", None
        if sampler.kind == "2d":
            pictures, strip = path_frames(sampler, samples, frames)
        else:
            pictures = image_frames(samples)
            strip = strip_picture(pictures[:frames])
        gif = session_file(session, "interpolation.gif")
        gif.write_bytes(gif_bytes(pictures, duration_ms=int(frame_ms)))
        loop = f", then back ({len(pictures)} GIF frames, a seamless loop)" if pingpong else ""
        cls = f", class {sampler.class_names[label]}" if label is not None else ""
        status = (f"{frames} frames from {about_a} to {about_b} by {mode}{loop}{cls}, "
                  f"truncation ψ = {float(truncation):.2f}. GIF: {gif.stat().st_size // 1024 + 1} KB.")
        return strip, str(gif), gr.update(value=str(gif), interactive=True), status, pictures

    def choose_checkpoint(self, request: gr.Request, name, label):
        """Show the class picker for conditional models only."""
        try:
            sampler = self.ctx.catalog.sampler(name, self._session(request))
        except (KeyError, ValueError, RuntimeError) as exc:
            text = exc.args[0] if isinstance(exc, KeyError) and exc.args else str(exc)
            return gr.update(visible=False, value=None), f"⚠ {text}"
        if not sampler.n_classes:
            return gr.update(visible=False, choices=[], value=None), ""
        choices = [(f"{i}: {c}" if c != str(i) else c, i) for i, c in enumerate(sampler.class_names)]
        return gr.update(visible=True, choices=choices, value=label_of(sampler, label)), ""

    def refresh(self, request: gr.Request, current, a_bookmark, b_bookmark):
        """The checkpoint and bookmark lists again. Returns (checkpoint, bookmark A, bookmark B)."""
        session = self._session(request)
        names = self.ctx.catalog.choices(session)
        marks = bookmark_names(session)

        def pick(value, index):  # keep the choice; else A takes the first bookmark, B the last
            return value if value in marks else (marks[index] if marks else None)

        return (gr.update(choices=names, value=current if current in names else default_choice(names)),
                gr.update(choices=marks, value=pick(a_bookmark, 0)),
                gr.update(choices=marks, value=pick(b_bookmark, -1)))

    def first_choices(self, request: gr.Request):
        names = self.ctx.catalog.choices(self._session(request))
        return gr.update(choices=names, value=default_choice(names))


# ------------------------------------------------------------------------------------- layout
def _endpoint_controls(title: str, seed: int, prefix: str):
    with gr.Column(min_width=220):
        gr.Markdown(f"**{title}**")
        kind = gr.Radio([("a seed", SEED), ("a bookmark", BOOKMARK)], value=SEED, show_label=False,
                        elem_id=f"{prefix}-kind")
        seed_box = gr.Number(seed, label="Seed", precision=0, minimum=0, maximum=MAX_SEED, elem_id=f"{prefix}-seed")
        bookmark = gr.Dropdown([], value=None, label="Bookmark (saved on the Explore tab)", visible=False,
                               elem_id=f"{prefix}-bookmark")
    kind.input(lambda k: (gr.update(visible=k == SEED), gr.update(visible=k == BOOKMARK)), kind,
               [seed_box, bookmark], api_visibility="private", queue=False)
    return kind, seed_box, bookmark


def build(ctx) -> dict:
    """Lay out the Interpolate tab inside the current gr.Tab and wire its events."""
    h = Interpolate(ctx)
    names = ctx.catalog.choices(None)
    quiet = dict(api_visibility="undocumented")

    gr.Markdown("Walk in a straight line (or along the sphere where Gaussian latents live) from latent **A** to "
                "latent **B**, and watch how the generator morphs one sample into the other. Smooth changes "
                "mean the generator learned a continuous space, not a lookup table.")
    with gr.Row():
        checkpoint = gr.Dropdown(names, value=default_choice(names), label="Checkpoint", scale=4,
                                 elem_id="interp-checkpoint")
        with gr.Column(scale=1, min_width=170):
            refresh = gr.Button("↻ Refresh lists", size="sm")
    with gr.Row():
        a_kind, a_seed, a_bookmark = _endpoint_controls("From A", 0, "interp-a")
        b_kind, b_seed, b_bookmark = _endpoint_controls("To B", 1, "interp-b")
        with gr.Column(min_width=260):
            mode = gr.Radio(MODES, value="slerp", label="Path", elem_id="interp-mode",
                            info="slerp keeps |z| typical; a straight line passes near 0, where samples look washed out")
            frames = gr.Slider(2, MAX_FRAMES, value=16, step=1, label="Frames", elem_id="interp-frames")
            pingpong = gr.Checkbox(False, label="Ping-pong loop (A → B → A)", elem_id="interp-pingpong")
        with gr.Column(min_width=260):
            truncation = gr.Slider(0.0, 2.0, value=1.0, step=0.05, label="Truncation ψ", elem_id="interp-truncation")
            label = gr.Dropdown([], value=None, label="Class", visible=False, elem_id="interp-class",
                                allow_custom_value=True)  # label_of() checks it against the checkpoint
            frame_ms = gr.Slider(20, 500, value=80, step=10, label="GIF frame time (ms)", elem_id="interp-frame-ms")
    go = gr.Button("Interpolate", variant="primary", elem_id="interp-run")
    status = gr.Markdown(elem_id="interp-status")
    strip = gr.Image(label="Frames, A to B", show_label=False, format="png", type="pil", interactive=False,
                     buttons=["download"], elem_id="interp-strip")
    with gr.Row():
        gif = gr.Image(label="Animation", type="filepath", format="gif", interactive=False, height=GIF_SIZE + 40,
                       buttons=["download"], elem_id="interp-gif", scale=2)
        with gr.Column(scale=1, min_width=200):
            download = gr.DownloadButton("Download GIF", value=None, interactive=False, size="md",
                                         elem_id="interp-download")
            gr.Markdown("The strip above shows the frames from A to B, left to right; the animation plays them "
                        "(with ping-pong, forth and back). For 2D checkpoints each frame is the generator's "
                        "cloud with the moving sample in orange.")

    with gr.Row():
        with gr.Column(scale=1, min_width=260):
            scrub = gr.Slider(1, 2, value=1, step=1, label="Scrub the frames", visible=False, elem_id="interp-scrub",
                              info="drag to step through the frames at your own pace")
        frame = gr.Image(show_label=False, type="pil", format="png", interactive=False, height=GIF_SIZE + 20,
                         buttons=["download"], elem_id="interp-frame", scale=2, visible=False)
    frames_route = gr.Textbox("", visible=False, elem_id="interp-frames-route")

    go.click(h.run_with_scrubber, [checkpoint, a_kind, a_seed, a_bookmark, b_kind, b_seed, b_bookmark, mode, frames,
                                   pingpong, truncation, label, frame_ms],
             [strip, gif, download, status, scrub, frame, frames_route],
             concurrency_id="interpolate", concurrency_limit=2, api_name="run", **quiet)
    # Scrubbing: the browser fetches the kept frame itself (gan_demo/ui/explore.js), the latest move winning.
    gr.on(None, None, None, None, js=EXPLORE_JS, api_visibility="private", queue=False)
    scrub.input(None, [frames_route, scrub], None, js=SCRUB_JS, api_visibility="private", queue=False)
    checkpoint.change(h.choose_checkpoint, [checkpoint, label], [label, status], **quiet)
    refresh.click(h.refresh, [checkpoint, a_bookmark, b_bookmark], [checkpoint, a_bookmark, b_bookmark], **quiet)
    gr.on(None, h.first_choices, None, checkpoint, **quiet).then(
        h.choose_checkpoint, [checkpoint, label], [label, status], **quiet)
    tab = gr.context.get_render_context()
    if isinstance(tab, gr.Tab):  # bookmarks saved on Explore show up when this tab is opened
        tab.select(h.refresh, [checkpoint, a_bookmark, b_bookmark], [checkpoint, a_bookmark, b_bookmark], **quiet)

    return {"checkpoint": checkpoint, "a_kind": a_kind, "a_seed": a_seed, "a_bookmark": a_bookmark,
            "b_kind": b_kind, "b_seed": b_seed, "b_bookmark": b_bookmark, "mode": mode, "frames": frames,
            "pingpong": pingpong, "truncation": truncation, "label": label, "strip": strip, "gif": gif,
            "download": download, "status": status, "run": go, "scrub": scrub, "frame": frame, "handlers": h}
