"""Explore tab: one sample at a time, steered by a seed, latent sliders (raw z or PCA directions), truncation, a class; bookmarks."""
from __future__ import annotations

import random
from pathlib import Path

import gradio as gr
import torch
from PIL import Image

from gan_demo.training.checkpoint import CheckpointError
from gan_demo.ui.catalog import holds_comparison, is_live
from gan_demo.ui.errors import refusal
from gan_demo.ui.widgets import (EXPLORE_JS, MAX_BOOKMARKS, MAX_BOOKMARK_FILE, MAX_SEED, MODES, N_SLIDERS, PCA, RAW, SCORE_WAIT_S, SLIDER_MAX, VIEW_SIZE, seed_of, unique_name, bookmark_names, bookmark_of, bookmarks_json, default_choice, draw, label_of, latent_of, parse_bookmarks, problem, readout, remembered_score, session_file)

# ----------------------------------------------------------------------------------- handlers
class Explore:
    """The tab's handlers. Each takes the session from the request, asks the catalog for a
    Sampler, calls one engine method and turns the result into component values."""

    def __init__(self, ctx):
        self.ctx = ctx

    def _session(self, request):
        return self.ctx.registry.get(request.session_hash)

    def _sampler(self, name, request):
        return self.ctx.catalog.sampler(name, self._session(request))

    # -- the picture -----------------------------------------------------------------------
    def _base(self, session, name) -> tuple[torch.Tensor | None, str | None]:
        """(the projected latent the sliders move from, what it was found for), if one is set for this checkpoint."""
        p = session.projected
        if p is None or p["checkpoint"] != name:
            return None, None
        return torch.tensor(p["z"], dtype=torch.float32), p["what"]

    def show(self, sampler, seed, mode, truncation, label, offsets, base=None, what=None) -> tuple[Image.Image, str]:
        """Generate the latent the controls describe: (picture, readout Markdown)."""
        label = label_of(sampler, label)
        z = latent_of(sampler, seed, mode, offsets, base)
        sample, score, picture = draw(self.ctx, sampler, z, label, truncation)
        return picture, readout(sampler, sample, score, seed, mode, offsets, truncation, label, what)

    def render(self, request: gr.Request, name, seed, mode, truncation, label, *offsets):
        """A slider, the seed, truncation or the class moved: (picture, readout)."""
        try:
            base, what = self._base(self._session(request), name)
            return self.show(self._sampler(name, request), seed, mode, truncation, label, offsets, base, what)
        except (KeyError, ValueError, RuntimeError) as exc:
            return gr.skip(), problem(exc)

    def render_seed(self, request: gr.Request, name, seed, mode, truncation, label, *offsets):
        """The seed was typed: the latent is the seed's again (a projected one is left)."""
        self._session(request).projected = None
        return self.render(request, name, seed, mode, truncation, label, *offsets)

    def describe(self, request: gr.Request, name, seed, mode, truncation, label, *offsets) -> str:
        """The seed was typed and the browser fetched its picture from the image route: the readout (D's score,
        the latent in words) for the same latent (a slider's readout comes with its picture, explore.js). An image's score comes from the picture's own render when
        that came first (no second forward pass)."""
        try:
            sampler = self._sampler(name, request)
            base, what = self._base(self._session(request), name)
            if sampler.kind == "image":
                z = latent_of(sampler, seed, mode, offsets, base)
                score = remembered_score(sampler, z, label, truncation, wait=SCORE_WAIT_S)
                return readout(sampler, None, score, seed, mode, offsets, truncation, label_of(sampler, label), what)
        except (KeyError, ValueError, RuntimeError):
            pass  # not drawn yet (or a bad value, which render() explains)
        return self.render(request, name, seed, mode, truncation, label, *offsets)[1]

    def seed_typed(self, request: gr.Request, name, seed, mode, truncation, label, *offsets):
        """The seed was typed: the latent is the seed's again (a projected one is left). Returns (readout, route)."""
        self._session(request).projected = None
        return self.describe(request, name, seed, mode, truncation, label, *offsets), self.route(request, name)

    def route(self, request: gr.Request, name) -> str:
        """Where the browser fetches this checkpoint's pictures (explore_images.ImageRoutes.route_for)."""
        from gan_demo.ui.explore_images import image_routes

        if not name:
            return ""
        return image_routes(self.ctx).route_for(self._session(request), name)

    def select_routed(self, request: gr.Request, name, seed, mode, truncation, label, pending):
        """select(), then the picture route for the checkpoint shown."""
        return (*self.select(request, name, seed, mode, truncation, label, pending), self.route(request, name))

    def restore_routed(self, request: gr.Request, bookmark_name, current):
        """restore(), then the picture route (a checkpoint switch sends its own through select_routed)."""
        return (*self.restore(request, bookmark_name, current), self.route(request, current))

    def random_seed(self, request: gr.Request, name, mode, truncation, label, *offsets):
        seed = random.randrange(MAX_SEED)
        return (seed, *self.render_seed(request, name, seed, mode, truncation, label, *offsets))

    # -- a checkpoint, mode or bookmark is chosen: relabel the sliders too ---------------------
    def slider_updates(self, sampler, mode, values) -> list:
        if mode == PCA:
            _, ratios = sampler.directions(N_SLIDERS)
            labels = [f"PC{i + 1} · {100 * float(r):.1f}% of variance" for i, r in enumerate(ratios)]
        else:
            labels = [f"z[{i}]" for i in range(min(N_SLIDERS, sampler.z_dim))]
        return [gr.update(label=labels[i] if i < len(labels) else f"slider {i + 1}", visible=i < len(labels),
                          value=float(values[i]) if i < len(labels) else 0.0)
                for i in range(N_SLIDERS)]

    def class_update(self, sampler, label):
        if not sampler.n_classes:
            return gr.update(visible=False, choices=[], value=None)
        choices = [(f"{i}: {c}" if c != str(i) else c, i) for i, c in enumerate(sampler.class_names)]
        return gr.update(visible=True, choices=choices, value=label_of(sampler, label))

    def view(self, name, seed, mode, truncation, label, offsets, request, note: str = "") -> tuple:
        """Every control's value for a settled state: (class, *sliders, seed, mode, truncation, picture, readout, status)."""
        sampler = self._sampler(name, request)
        if is_live(name):
            sampler.refresh()  # a live run has moved on since its cloud and directions were cached
        sliders = self.slider_updates(sampler, mode, offsets)
        session = self._session(request)
        base, what = self._base(session, name)
        if base is not None and session.projected.get("label") is not None:
            label = session.projected["label"]  # the class the projection found the image in
        picture, text = self.show(sampler, seed, mode, truncation, label, offsets, base, what)
        return (self.class_update(sampler, label), *sliders, seed_of(seed), mode, float(truncation),
                picture, text, note or _about(sampler, name))

    def select(self, request: gr.Request, name, seed, mode, truncation, label, pending):
        """The checkpoint changed (or the page loaded): sliders back to 0, unless a bookmark is being restored.
        Returns (pending, *view)."""
        if not name:
            return (None, *[gr.skip()] * (N_SLIDERS + 6),
                    "No checkpoint yet: train a run on the Train tab, or upload a run folder (zip).")
        session = self._session(request)
        try:
            if pending and pending.get("checkpoint") == name:
                b = pending
                session.projected = _projected_of(b, name)
                return (None, *self.view(name, b["seed"], b["mode"], b["truncation"], b["label"], b["offsets"],
                                         request, f"Restored bookmark **{b['name']}**."))
            if session.projected is not None and session.projected["checkpoint"] != name:
                session.projected = None  # another generator: its latent space is another one
            return (None, *self.view(name, seed, mode, truncation, label, [0.0] * N_SLIDERS, request))
        except (KeyError, ValueError, RuntimeError) as exc:
            return (None, *[gr.skip()] * (N_SLIDERS + 6), problem(exc))

    def change_mode(self, request: gr.Request, name, seed, mode, truncation, label):
        """Raw z <-> PCA: the sliders mean something else now, so they go back to 0.
        Returns (*sliders, picture, readout)."""
        try:
            sampler = self._sampler(name, request)
            zeros = [0.0] * N_SLIDERS
            return (*self.slider_updates(sampler, mode, zeros), *self.show(sampler, seed, mode, truncation, label, zeros))
        except (KeyError, ValueError, RuntimeError) as exc:
            return (*[gr.skip()] * N_SLIDERS, gr.skip(), problem(exc))

    # -- the checkpoint list -------------------------------------------------------------------
    def refresh(self, request: gr.Request, current):
        """The checkpoint list again (a run may have started, an upload arrived)."""
        names = self.ctx.catalog.choices(self._session(request))
        return gr.update(choices=names, value=current if current in names else default_choice(names))

    def first_choices(self, request: gr.Request):
        """On page load: the list as it is now, a pretrained run selected."""
        names = self.ctx.catalog.choices(self._session(request))
        return gr.update(choices=names, value=default_choice(names))

    def upload_run(self, request: gr.Request, path):
        """A zipped run folder, or a saved comparison (both its runs are added, A selected): add it to the
        catalog and select it. Returns (checkpoint, status)."""
        if not path:
            return gr.skip(), gr.skip()
        session = self._session(request)
        notes = []  # the catalog's words for a file sent again, or an older upload removed to make room
        try:
            if holds_comparison(path):
                opened = self.ctx.catalog.add_comparison(path, session, notes)
                name, note = opened["A"], f"**{opened['A']}** (A) and **{opened['B']}** (B)"
                gr.Info(f"Opened a saved comparison: its runs are {opened['A']} (A) and {opened['B']} (B).")
                text = f"Loaded the comparison's two runs as {note}."
            else:
                name = self.ctx.catalog.add_upload(path, session, notes)
                text = f"Loaded the uploaded run as **{name}**."
        except CheckpointError as exc:
            why = refusal(exc)
            gr.Warning(f"Could not load that run: {why}")
            return gr.skip(), f"⚠ Could not load that run: {why}"
        for note in notes:
            gr.Info(note)
        names = self.ctx.catalog.choices(session)
        return gr.update(choices=names, value=name), " ".join([text, *notes])

    # -- bookmarks -----------------------------------------------------------------------------
    def _bookmark_outputs(self, session, selected=None, status=""):
        """(bookmark list, download button, status) after the session's bookmarks changed."""
        names = bookmark_names(session)
        if session.bookmarks:
            path = session_file(session, "bookmarks.json")
            path.write_text(bookmarks_json(session.bookmarks))
            download = gr.update(value=str(path), interactive=True)
        else:
            download = gr.update(value=None, interactive=False)
        value = selected if selected in names else (names[-1] if names else None)
        return gr.update(choices=names, value=value), download, status

    def save_bookmark(self, request: gr.Request, name, seed, mode, truncation, label, *offsets):
        session = self._session(request)
        try:
            sampler = self.ctx.catalog.sampler(name, session)
            label = label_of(sampler, label)
            base, _ = self._base(session, name)
            z = latent_of(sampler, seed, mode, offsets, base)
        except (KeyError, ValueError, RuntimeError) as exc:
            return gr.skip(), gr.skip(), problem(exc)
        if len(session.bookmarks) >= MAX_BOOKMARKS:
            return gr.skip(), gr.skip(), f"⚠ {MAX_BOOKMARKS} bookmarks is the limit: clear some first."
        projected = session.projected if base is not None else None
        bookmark = bookmark_of(sampler, name, seed, mode, offsets, truncation, label, z, bookmark_names(session),
                               projected)
        session.bookmarks.append(bookmark)
        return self._bookmark_outputs(session, bookmark["name"], f"Saved bookmark **{bookmark['name']}**.")

    def load_bookmarks(self, request: gr.Request, path):
        """Add the bookmarks of an uploaded JSON file to the session's."""
        session = self._session(request)
        if not path:
            return gr.skip(), gr.skip(), gr.skip()
        try:
            if Path(path).stat().st_size > MAX_BOOKMARK_FILE:
                raise ValueError(f"the file is larger than {MAX_BOOKMARK_FILE // 2**20} MB")
            loaded = parse_bookmarks(Path(path).read_text(encoding="utf-8", errors="replace"))
        except (OSError, ValueError) as exc:
            gr.Warning(f"Could not read the bookmarks: {exc}")
            return gr.skip(), gr.skip(), f"⚠ Could not read the bookmarks: {exc}"
        room = MAX_BOOKMARKS - len(session.bookmarks)
        for b in loaded[:room]:
            b["name"] = unique_name(b["name"], bookmark_names(session))
            session.bookmarks.append(b)
        skipped = f" ({len(loaded) - room} left out: {MAX_BOOKMARKS} is the limit)" if len(loaded) > room else ""
        last = loaded[min(len(loaded), room) - 1]["name"] if loaded and room > 0 else None
        return self._bookmark_outputs(session, last, f"Loaded {min(len(loaded), room)} bookmark(s){skipped}.")

    def restore_stored(self, request: gr.Request, stored):
        """Page load: bring back the bookmarks this browser kept (gr.BrowserState), checked like an upload.
        Returns (bookmark list, download button)."""
        session = self._session(request)
        if session.bookmarks or not isinstance(stored, str) or not stored or len(stored) > MAX_BOOKMARK_FILE:
            return self._bookmark_outputs(session)[:2]
        try:
            session.bookmarks.extend(parse_bookmarks(stored)[:MAX_BOOKMARKS])
        except ValueError:  # an old or damaged copy: start afresh rather than fail the page
            pass
        return self._bookmark_outputs(session)[:2]

    def stored_bookmarks(self, request: gr.Request) -> str:
        """The session's bookmarks as JSON, for the browser to keep across reloads and server restarts."""
        return bookmarks_json(self._session(request).bookmarks)

    def clear_bookmarks(self, request: gr.Request):
        session = self._session(request)
        session.bookmarks.clear()
        return self._bookmark_outputs(session, None, "Bookmarks cleared.")

    def list_bookmarks(self, request: gr.Request, selected):
        return self._bookmark_outputs(self._session(request), selected, gr.skip())[:2]

    def restore(self, request: gr.Request, bookmark_name, current):
        """Show a bookmark again. If it was saved with another checkpoint that is still available,
        switch to it: the checkpoint's change event then applies the bookmark (held in `pending`).
        Returns (pending, checkpoint, *view)."""
        session = self._session(request)
        bookmark = next((b for b in session.bookmarks if b["name"] == bookmark_name), None)
        keep = [gr.skip()] * (N_SLIDERS + 6)
        if bookmark is None:
            return (None, gr.skip(), *keep, "Pick a saved bookmark first.")
        names = self.ctx.catalog.choices(session)
        wanted = bookmark["checkpoint"]
        if wanted != current and wanted in names:
            return (bookmark, gr.update(choices=names, value=wanted), *keep, f"Switching to **{wanted}**…")
        note = f"Restored bookmark **{bookmark['name']}**."
        session.projected = _projected_of(bookmark, current)
        if wanted != current:
            note += f" It was saved with **{wanted or 'an unknown checkpoint'}**, which is not loaded here: shown with **{current}**."
        try:
            return (None, gr.skip(), *self.view(current, bookmark["seed"], bookmark["mode"], bookmark["truncation"],
                                                bookmark["label"], bookmark["offsets"], request, note))
        except (KeyError, ValueError, RuntimeError) as exc:
            return (None, gr.skip(), *keep, problem(exc))


def _projected_of(bookmark: dict, checkpoint: str) -> dict | None:
    """The session's projected latent for a bookmark that holds one (None for a seed's bookmark)."""
    if bookmark.get("base") is None:
        return None
    return {"checkpoint": checkpoint, "z": bookmark["base"], "label": bookmark.get("label"),
            "what": bookmark.get("projected", "an image")}


def _about(sampler, name: str) -> str:
    cfg = sampler.cfg
    colour = "grayscale" if cfg.model.channels == 1 else "colour"
    what = (f"{cfg.data.dataset}, {cfg.model.img_size}×{cfg.model.img_size} px {colour}" if sampler.kind == "image"
            else f"{cfg.data.dataset} (2D points)")
    cond = f", conditional on {sampler.n_classes} classes" if sampler.n_classes else ""
    return (f"**{name}**: {what}, {cfg.model.arch.upper()}, z_dim {sampler.z_dim}, "
            f"{cfg.train.loss} loss, {sampler.step} steps{cond}.")


# ------------------------------------------------------------------------------------- layout
# A move's picture and readout come from the picture route (explore.js); the function resolves with the
# readout's Markdown (undefined leaves it as it is). The seed's readout comes from its server event (typing a
# seed also leaves a projected latent), so only a refusal of its picture is said there.
FETCH_JS = ("(route, seed, mode, psi, label, ...offsets) => window.ganExplore ? "
            "window.ganExplore.latent(route, seed, mode, psi, label, offsets, '') : undefined")
SEED_FETCH_JS = ("(route, seed, mode, psi, label, ...offsets) => window.ganExplore ? "
                 "window.ganExplore.latent(route, seed, mode, psi, label, offsets, 'seed')"
                 ".then((text) => (text && text.startsWith('⚠') ? text : undefined)) : undefined")


def build(ctx) -> dict:
    """Lay out the Explore tab inside the current gr.Tab and wire its events."""
    h = Explore(ctx)
    names = ctx.catalog.choices(None)
    # A move costs ~7 ms of CPU: no concurrency cap, so nobody's slider waits in a queue.
    # queue=False: the move skips the queue's join/stream round trip (measured: README, Latency).
    fast = dict(trigger_mode="always_last", show_progress="hidden", queue=False, api_visibility="undocumented")
    quiet = dict(api_visibility="undocumented")
    private = dict(api_visibility="private", queue=False)

    gr.Markdown("Pick a trained generator and walk its latent space: each latent **z** is a point the generator "
                "turns into a sample. Move the sliders to move **z** along one axis, either a raw dimension of z "
                "or one of the generator's main directions of change (PCA of its outputs, the GANSpace idea).")
    pending = gr.State(None)  # a bookmark waiting for its checkpoint to load
    with gr.Row():
        checkpoint = gr.Dropdown(names, value=default_choice(names), label="Checkpoint", scale=4,
                                 info="pretrained runs, your current run or comparison, uploaded runs", elem_id="explore-checkpoint")
        with gr.Column(scale=1, min_width=170):
            refresh = gr.Button("↻ Refresh list", size="sm")
            upload = gr.UploadButton("Upload a run folder (.zip)", file_types=[".zip"], size="sm",
                                     elem_id="explore-upload")
    status = gr.Markdown(elem_id="explore-status")
    with gr.Row():
        with gr.Column(scale=3, min_width=300):
            with gr.Row():
                seed = gr.Number(0, label="Seed", precision=0, minimum=0, maximum=MAX_SEED, scale=3,
                                 elem_id="explore-seed", info="a seed names one latent z, the same on every machine")
                with gr.Column(scale=1, min_width=120):
                    random_btn = gr.Button("Random seed", size="sm", elem_id="explore-random")
            mode = gr.Radio(MODES, value=RAW, label="Sliders move", elem_id="explore-mode",
                            info="PCA directions: the axes along which the generator's outputs vary most")
            sliders = [gr.Slider(-SLIDER_MAX, SLIDER_MAX, value=0.0, step=0.05, label=f"z[{i}]",
                                 elem_id=f"explore-slider-{i}") for i in range(N_SLIDERS)]
        with gr.Column(scale=4, min_width=340):
            image = gr.Image(label="Generated sample", format="png", type="pil", interactive=False,
                             buttons=["download", "fullscreen"], height=VIEW_SIZE + 20, elem_id="explore-image")
            score = gr.Markdown(elem_id="explore-readout")
            truncation = gr.Slider(0.0, 2.0, value=1.0, step=0.05, label="Truncation ψ", elem_id="explore-truncation",
                                   info="z is scaled by ψ: below 1 pulls it toward the average latent "
                                        "(more typical, less varied samples)")
            # choices change with the checkpoint; label_of() checks the value, so no list is enforced here
            label = gr.Dropdown([], value=None, label="Class", visible=False, elem_id="explore-class",
                                allow_custom_value=True, info="conditional models generate the class you ask for")
    from gan_demo.ui import latent_map

    lmap = latent_map.build(ctx, h, {"checkpoint": checkpoint, "seed": seed, "mode": mode, "truncation": truncation,
                                     "label": label, "sliders": sliders, "image": image, "score": score})
    from gan_demo.ui import recorded_timeline

    recorded_timeline.build_for_checkpoint(ctx, checkpoint)  # a pretrained run's recorded training, to scrub
    with gr.Accordion("Bookmarks", open=True):
        gr.Markdown("Save the shown latent; bookmarks are the endpoints you can pick on the **Interpolate** tab.")
        with gr.Row():
            bookmarks = gr.Dropdown([], value=None, label="Saved bookmarks (pick one to show it again)", scale=3,
                                    elem_id="explore-bookmarks")
            with gr.Column(scale=1, min_width=200):
                save_btn = gr.Button("☆ Bookmark this latent", size="sm", variant="primary", elem_id="explore-bookmark")
                download = gr.DownloadButton("Download bookmarks (.json)", value=None, interactive=False, size="sm",
                                             elem_id="explore-download")
                load_json = gr.UploadButton("Load bookmarks (.json)", file_types=[".json"], size="sm",
                                            elem_id="explore-load")
                clear = gr.Button("Clear bookmarks", size="sm")

    route = gr.Textbox("", visible=False, elem_id="explore-route")  # where the browser fetches this checkpoint's pictures
    controls = [checkpoint, seed, mode, truncation, label]
    view_outputs = [label, *sliders, seed, mode, truncation, image, score, status]
    shown = [image, score]

    # A move: the browser fetches its picture and readout straight from the image route (explore.js: the latest
    # move wins, stale ones are dropped), with no server event: a Gradio backend event per move kept the page's
    # main thread busy for ~25-50 ms, and the picture waited behind it (README, Latency).
    gr.on(None, None, None, None, js=EXPLORE_JS, **private)
    latent_inputs = [route, seed, mode, truncation, label, *sliders]
    for control in (*sliders, truncation, label):
        control.input(None, latent_inputs, score, js=FETCH_JS, **private)
    seed.input(None, latent_inputs, score, js=SEED_FETCH_JS, **private)
    seed.input(h.seed_typed, [*controls, *sliders], [score, route], **fast)
    random_btn.click(h.random_seed, [checkpoint, mode, truncation, label, *sliders], [seed, *shown], **fast)
    map_axes = dict(fn=lmap["handlers"].axes, inputs=[checkpoint, mode], outputs=[lmap["x_axis"], lmap["y_axis"]],
                    **quiet)
    mode.input(h.change_mode, controls, [*sliders, *shown], **quiet).then(**map_axes)

    # .change (not .input): other tabs set the checkpoint too ("send to Explore").
    checkpoint.change(h.select_routed, [*controls, pending], [pending, *view_outputs, route], **quiet).then(**map_axes)
    refresh.click(h.refresh, checkpoint, checkpoint, **quiet).then(
        h.select_routed, [*controls, pending], [pending, *view_outputs, route], **quiet)
    upload.upload(h.upload_run, upload, [checkpoint, status], **quiet)

    # Bookmarks are also kept in the browser (localStorage), so a reload or a server restart keeps them.
    stored = gr.BrowserState(None, storage_key="gan_demo_bookmarks")
    keep = dict(fn=h.stored_bookmarks, inputs=None, outputs=stored, **quiet)
    save_btn.click(h.save_bookmark, [*controls, *sliders], [bookmarks, download, status], **quiet).then(**keep)
    bookmarks.input(h.restore_routed, [bookmarks, checkpoint], [pending, checkpoint, *view_outputs, route], **quiet)
    load_json.upload(h.load_bookmarks, load_json, [bookmarks, download, status], **quiet).then(**keep)
    clear.click(h.clear_bookmarks, None, [bookmarks, download, status], **quiet).then(**keep)
    gr.on(None, h.restore_stored, stored, [bookmarks, download], **quiet)

    # On page load and whenever the tab is opened: the checkpoint list may have grown.
    gr.on(None, h.first_choices, None, checkpoint, **quiet).then(
        h.select_routed, [*controls, pending], [pending, *view_outputs, route], **quiet)
    tab = gr.context.get_render_context()
    if isinstance(tab, gr.Tab):
        tab.select(h.refresh, checkpoint, checkpoint, **quiet).then(
            h.list_bookmarks, bookmarks, [bookmarks, download], **quiet)

    # Other tabs that set the checkpoint can chain `.then(**explore["reload"])` to redraw even when the
    # value did not change (e.g. "current run" sent again after more training).
    reload = dict(fn=h.select_routed, inputs=[*controls, pending], outputs=[pending, *view_outputs, route], **quiet)
    # The projection panel (ui/tabs/projection.py) is laid out below by the app: it chains [reload, keep].
    return {"checkpoint": checkpoint, "reload": reload, "keep": keep, "download": download, "seed": seed, "mode": mode, "sliders": sliders, "truncation": truncation,
            "label": label, "image": image, "score": score, "status": status, "bookmarks": bookmarks,
            "route": route, "map": lmap, "handlers": h}
