"""Explore tab: one sample at a time, steered by a seed, latent sliders (raw z or PCA directions), truncation, a class; bookmarks."""
from __future__ import annotations

import json
import math
import random
import shutil
from pathlib import Path

import gradio as gr
import torch
from PIL import Image, ImageDraw

from ..checkpoint import CheckpointError
from ..latent import z_from_seed
from ..viz import default_bounds, points_image
from .catalog import holds_comparison, is_live
from .errors import refusal
from .tempdirs import temp_dir

N_SLIDERS = 8  # latent sliders shown (raw z dimensions 0..7, or the first 8 principal directions)
SLIDER_MAX = 3.0  # sliders move the latent by -3..3 units (z ~ N(0, I): three standard deviations)
VIEW_SIZE = 320  # side of the shown picture in pixels (tiny images are enlarged, nearest neighbour)
MAX_SEED = 2**31 - 1
RAW, PCA = "raw", "pca"
MODES = [("raw z dimensions", RAW), ("PCA directions (GANSpace)", PCA)]
MARK_COLOR = (255, 140, 0)  # the highlighted point on a 2D picture (orange over the purple cloud)
BOOKMARKS_FORMAT = "gan_demo-bookmarks"
MAX_BOOKMARKS = 500  # per session and per uploaded file
MAX_BOOKMARK_FILE = 2 * 2**20  # bytes
FILES_ROOT = temp_dir("gan_demo_explore_")  # per-session JSON and GIF files
PREFERRED = ("digits",)  # shown first when present: images say more than 2D points at first sight

SCORE_NOTES = {  # what D's number means, by the loss the run was trained with
    "nonsaturating": "the discriminator's probability that this sample is real (1 = real, 0 = fake). "
                     "Once G fools D, it hovers around 0.5.",
    "minimax": "the discriminator's probability that this sample is real (1 = real, 0 = fake). "
               "Once G fools D, it hovers around 0.5.",
    "hinge": "sigmoid of the discriminator's hinge score: above 0.5 it leans 'real', below 'fake'.",
    "lsgan": "the least-squares discriminator's output, trained toward 1 for real and 0 for fake data.",
    "wgan-gp": "the critic's raw score: higher means more real-looking. It has no fixed scale, "
               "so compare samples with each other.",
}


# ------------------------------------------------------------------------------------ latents
def latent_of(sampler, seed, mode: str, offsets, base: torch.Tensor | None = None) -> torch.Tensor:
    """(1, z_dim): z_from_seed(seed) (or a projected latent, base) + sum_i offsets[i] * e_i, e_i = unit vector
    of z[i] or PCA direction i."""
    z = base.reshape(1, sampler.z_dim).clone().float() if base is not None else z_from_seed(_seed(seed), sampler.z_dim)
    values = torch.tensor([float(v or 0.0) for v in offsets], dtype=torch.float32)
    if mode == PCA:
        directions, _ = sampler.directions(N_SLIDERS)  # (k, z_dim), cached by the sampler
        k = directions.shape[0]
        return z + values[:k] @ directions
    k = min(len(values), sampler.z_dim)
    z[0, :k] += values[:k]
    return z


def latent_formula(seed, mode: str, offsets, projected: str | None = None) -> str:
    """'seed 42 + 1.50·PC1 − 0.50·PC3' (or '+ 1.50·e[0]', the unit step along z[0]): the latent in words.
    projected: what a projected latent was found for ('your image'), in place of the seed."""
    terms = [f"projected z ({projected})" if projected else f"seed {_seed(seed)}"]
    for i, v in enumerate(offsets):
        v = float(v or 0.0)
        if abs(v) >= 1e-6:
            axis = f"PC{i + 1}" if mode == PCA else f"e[{i}]"
            terms.append(f"{'+' if v > 0 else '−'} {abs(v):.2f}·{axis}")
    return " ".join(terms)


def _seed(seed) -> int:
    try:
        return min(max(int(seed or 0), 0), MAX_SEED)
    except (TypeError, ValueError):
        return 0


def label_of(sampler, label) -> int | None:
    """The class to generate: None for unconditional models, else a valid index (0 by default)."""
    if not sampler.n_classes:
        return None
    try:
        label = int(label)
    except (TypeError, ValueError):
        return 0
    return label if 0 <= label < sampler.n_classes else 0


# ----------------------------------------------------------------------------------- pictures
def sample_picture(sample: torch.Tensor, size: int = VIEW_SIZE) -> Image.Image:
    """(C, H, W) in [0, 1] -> a picture about size pixels wide (grayscale stays "L", smaller PNGs);
    nearest neighbour keeps the pixels crisp.

    Enlarged by PIL on the tiny uint8 image: the same pixels as viz.tensor_to_image(x, upscale),
    without torch's threaded ops, which on a busy 2-core machine cost a slider move 100+ ms.
    """
    upscale = max(1, math.ceil(size / sample.shape[-1]))
    pixels = (sample.detach().float().clamp(0, 1) * 255 + 0.5).to(torch.uint8).numpy()
    img = Image.fromarray(pixels[0], "L") if pixels.shape[0] == 1 else Image.fromarray(pixels.transpose(1, 2, 0), "RGB")
    return img.resize((img.width * upscale, img.height * upscale), Image.Resampling.NEAREST)


_cloud_cache: dict[tuple[int, int], tuple] = {}


def cloud_view(sampler, size: int = VIEW_SIZE) -> tuple[Image.Image, tuple]:
    """A 2D generator's cloud of samples as a picture, and its bounds; drawn once per sampler and cloud."""
    cloud = sampler.cloud()
    key = (id(sampler), size)
    hit = _cloud_cache.get(key)
    if hit is None or hit[0] is not cloud:
        bounds = default_bounds(cloud)
        hit = (cloud, points_image(None, cloud, bounds, size=size), bounds)
        _cloud_cache[key] = hit
        while len(_cloud_cache) > 16:
            _cloud_cache.pop(next(iter(_cloud_cache)))
    return hit[1], hit[2]


def to_pixels(points, bounds, size: int) -> list[tuple[float, float]]:
    """(N, 2) data coordinates -> pixel positions on a size x size picture of bounds, kept inside it."""
    xmin, xmax, ymin, ymax = bounds
    out = []
    for x, y in torch.as_tensor(points).reshape(-1, 2).tolist():
        u = (x - xmin) / (xmax - xmin) * size if math.isfinite(x) else size / 2
        v = (ymax - y) / (ymax - ymin) * size if math.isfinite(y) else size / 2
        out.append((min(max(u, 2.0), size - 2.0), min(max(v, 2.0), size - 2.0)))
    return out


def mark_point(draw: ImageDraw.ImageDraw, u: float, v: float, radius: float = 7, color=MARK_COLOR) -> None:
    """A filled disc with a dark rim and a white halo: visible over the purple cloud and on white."""
    draw.ellipse((u - radius - 2, v - radius - 2, u + radius + 2, v + radius + 2), fill=(255, 255, 255))
    draw.ellipse((u - radius, v - radius, u + radius, v + radius), fill=color, outline=(40, 40, 40), width=2)


def point_picture(sampler, point: torch.Tensor, size: int = VIEW_SIZE) -> Image.Image:
    """The generator's cloud with one generated point (2,) highlighted."""
    base, bounds = cloud_view(sampler, size)
    img = base.copy()
    (u, v), = to_pixels(point, bounds, size)
    mark_point(ImageDraw.Draw(img), u, v)
    return img


def score_note(sampler, score: float | None) -> str:
    if score is None:  # a family without a discriminator (a VAE)
        return "**no discriminator**: a VAE's decoder draws this sample; nothing scores how real it looks."
    loss = sampler.cfg.train.loss
    name = "critic score" if loss == "wgan-gp" else "D(x)"
    return f"**{name} = {score:.3f}**: {SCORE_NOTES.get(loss, '')}"


def readout(sampler, sample, score, seed, mode, offsets, truncation, label, projected: str | None = None) -> str:
    """The Markdown under the picture: D's score and what it means, then the latent in words."""
    where = ""
    if sampler.kind == "2d":
        x, y = (float(c) for c in sample.reshape(-1)[:2])
        where = (f" · G(z) = ({x:.2f}, {y:.2f}): the orange dot; purple = {sampler.cloud().shape[0]} "
                 "samples, the generator's whole distribution")
    cls = f" · class {sampler.class_names[label]}" if label is not None else ""
    return (f"{score_note(sampler, score)}\n\n"
            f"z = {latent_formula(seed, mode, offsets, projected)} · truncation ψ = {float(truncation):.2f}{cls}{where}")


# ---------------------------------------------------------------------------------- bookmarks
def bookmark_of(sampler, checkpoint, seed, mode, offsets, truncation, label, z: torch.Tensor, taken: list[str],
                projected: dict | None = None) -> dict:
    """A saved latent: everything needed to show it again, and the full z for other tools.
    A projected latent also keeps its base (the z the projection found) and what it was found for."""
    offsets = [round(float(v or 0.0), 4) for v in offsets]
    name = f"{checkpoint} · {latent_formula(seed, mode, offsets, projected and projected['what'])}"
    if label is not None:
        name += f" · class {sampler.class_names[label]}"
    name = _unique(name[:90], taken)
    out = {
        "name": name, "checkpoint": checkpoint, "seed": _seed(seed), "mode": mode, "offsets": offsets,
        "truncation": float(truncation), "label": label, "z_dim": int(z.numel()),
        "z": [round(float(v), 6) for v in z.reshape(-1)],
    }
    if projected:
        out.update(base=[round(float(v), 6) for v in projected["z"]], projected=projected["what"])
    return out


def _unique(name: str, taken: list[str]) -> str:
    if name not in taken:
        return name
    n = 2
    while f"{name} ({n})" in taken:
        n += 1
    return f"{name} ({n})"


def bookmarks_json(bookmarks: list[dict]) -> str:
    return json.dumps({"format": BOOKMARKS_FORMAT, "version": 1, "bookmarks": bookmarks}, indent=1)


def parse_bookmarks(text: str) -> list[dict]:
    """Bookmarks from a JSON file written by bookmarks_json (or a plain list); ValueError says what is wrong."""
    try:
        data = json.loads(text)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ValueError(f"not a JSON file ({exc.msg if hasattr(exc, 'msg') else exc})") from None
    except RecursionError:
        raise ValueError("not a bookmarks file (nested too deeply)") from None
    items = data.get("bookmarks") if isinstance(data, dict) else data
    if not isinstance(items, list):
        raise ValueError("expected a JSON object with a 'bookmarks' list (saved from this tab)")
    if len(items) > MAX_BOOKMARKS:
        raise ValueError(f"too many bookmarks ({len(items)}; at most {MAX_BOOKMARKS})")
    return [_checked_bookmark(item, i + 1) for i, item in enumerate(items)]


def _checked_bookmark(item, number: int) -> dict:
    def bad(what: str):
        return ValueError(f"bookmark {number}: {what}")

    if not isinstance(item, dict):
        raise bad("must be a JSON object")
    z = item.get("z")
    if not isinstance(z, list) or not 1 <= len(z) <= 1024:
        raise bad("'z' must be a list of 1 to 1024 numbers")
    if not all(isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) for v in z):
        raise bad("'z' must hold finite numbers only")
    offsets = item.get("offsets", [])
    if not isinstance(offsets, list) or not all(isinstance(v, (int, float)) and math.isfinite(v) for v in offsets):
        raise bad("'offsets' must be a list of numbers")
    offsets = ([max(-SLIDER_MAX, min(SLIDER_MAX, float(v))) for v in offsets] + [0.0] * N_SLIDERS)[:N_SLIDERS]
    try:
        truncation = float(item.get("truncation", 1.0))
        seed = int(item.get("seed", 0))
    except (TypeError, ValueError):
        raise bad("'truncation' and 'seed' must be numbers") from None
    if not math.isfinite(truncation):
        raise bad("'truncation' must be a finite number")
    label = item.get("label")
    if label is not None and (not isinstance(label, int) or isinstance(label, bool) or label < 0):
        raise bad("'label' must be a class index or null")
    out = {
        "name": str(item.get("name") or f"bookmark {number}")[:90],
        "checkpoint": str(item.get("checkpoint") or ""),
        "seed": _seed(seed), "mode": PCA if item.get("mode") == PCA else RAW, "offsets": offsets,
        "truncation": max(0.0, min(2.0, truncation)), "label": label, "z_dim": len(z), "z": [float(v) for v in z],
    }
    base = item.get("base")
    if base is not None:  # a projected latent: the z it was found at, under the offsets
        if not isinstance(base, list) or len(base) != len(z) or not all(
                isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) for v in base):
            raise bad("'base' must be a list of finite numbers as long as 'z'")
        out.update(base=[float(v) for v in base], projected=str(item.get("projected") or "an image")[:40])
    return out


def session_file(session, filename: str) -> Path:
    """A file in this session's own folder (overwritten each time; Gradio serves a copy by content).

    The folder is named by the server's token for the session, never by the client's session hash.
    """
    folder = FILES_ROOT / session.token
    folder.mkdir(parents=True, exist_ok=True)
    return folder / filename


def forget_session_files(session) -> None:
    """A session ended: remove its folder of bookmark and GIF files."""
    shutil.rmtree(FILES_ROOT / session.token, ignore_errors=True)


def default_choice(names: list[str]) -> str | None:
    """The checkpoint selected when the page opens."""
    return next((n for n in PREFERRED if n in names), names[0] if names else None)


def bookmark_names(session) -> list[str]:
    return [b["name"] for b in session.bookmarks]


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
        with self.ctx.render_gate:  # one render at a time across the app: a live run keeps its share of the CPU
            sample, score = sampler.generate(z, label, float(truncation), with_score=True)
            sample, score = sample[0], None if score is None else float(score[0])
            picture = point_picture(sampler, sample) if sampler.kind == "2d" else sample_picture(sample)
        return picture, readout(sampler, sample, score, seed, mode, offsets, truncation, label, what)

    def render(self, request: gr.Request, name, seed, mode, truncation, label, *offsets):
        """A slider, the seed, truncation or the class moved: (picture, readout)."""
        try:
            base, what = self._base(self._session(request), name)
            return self.show(self._sampler(name, request), seed, mode, truncation, label, offsets, base, what)
        except (KeyError, ValueError, RuntimeError) as exc:
            return gr.skip(), _problem(exc)

    def render_seed(self, request: gr.Request, name, seed, mode, truncation, label, *offsets):
        """The seed was typed: the latent is the seed's again (a projected one is left)."""
        self._session(request).projected = None
        return self.render(request, name, seed, mode, truncation, label, *offsets)

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
        return (self.class_update(sampler, label), *sliders, _seed(seed), mode, float(truncation),
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
            return (None, *[gr.skip()] * (N_SLIDERS + 6), _problem(exc))

    def change_mode(self, request: gr.Request, name, seed, mode, truncation, label):
        """Raw z <-> PCA: the sliders mean something else now, so they go back to 0.
        Returns (*sliders, picture, readout)."""
        try:
            sampler = self._sampler(name, request)
            zeros = [0.0] * N_SLIDERS
            return (*self.slider_updates(sampler, mode, zeros), *self.show(sampler, seed, mode, truncation, label, zeros))
        except (KeyError, ValueError, RuntimeError) as exc:
            return (*[gr.skip()] * N_SLIDERS, gr.skip(), _problem(exc))

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
            return gr.skip(), gr.skip(), _problem(exc)
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
            b["name"] = _unique(b["name"], bookmark_names(session))
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
            return (None, gr.skip(), *keep, _problem(exc))


def _projected_of(bookmark: dict, checkpoint: str) -> dict | None:
    """The session's projected latent for a bookmark that holds one (None for a seed's bookmark)."""
    if bookmark.get("base") is None:
        return None
    return {"checkpoint": checkpoint, "z": bookmark["base"], "label": bookmark.get("label"),
            "what": bookmark.get("projected", "an image")}


def _problem(exc: Exception) -> str:
    text = exc.args[0] if isinstance(exc, KeyError) and exc.args else str(exc)
    return f"⚠ {text}"


def _about(sampler, name: str) -> str:
    cfg = sampler.cfg
    colour = "grayscale" if cfg.model.channels == 1 else "colour"
    what = (f"{cfg.data.dataset}, {cfg.model.img_size}×{cfg.model.img_size} px {colour}" if sampler.kind == "image"
            else f"{cfg.data.dataset} (2D points)")
    cond = f", conditional on {sampler.n_classes} classes" if sampler.n_classes else ""
    return (f"**{name}**: {what}, {cfg.model.arch.upper()}, z_dim {sampler.z_dim}, "
            f"{cfg.train.loss} loss, {sampler.step} steps{cond}.")


# ------------------------------------------------------------------------------------- layout
def build(ctx) -> dict:
    """Lay out the Explore tab inside the current gr.Tab and wire its events."""
    h = Explore(ctx)
    names = ctx.catalog.choices(None)
    # A move costs ~7 ms of CPU: no concurrency cap, so nobody's slider waits in a queue.
    # queue=False: the move skips the queue's join/stream round trip (measured: README, Latency).
    fast = dict(trigger_mode="always_last", show_progress="hidden", queue=False, api_visibility="undocumented")
    quiet = dict(api_visibility="undocumented")

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

    controls = [checkpoint, seed, mode, truncation, label]
    view_outputs = [label, *sliders, seed, mode, truncation, image, score, status]
    shown = [image, score]

    # Every move regenerates the picture; only the latest move of a burst is computed.
    for slider in sliders:
        slider.input(h.render, [*controls, *sliders], shown, **fast)
    seed.input(h.render_seed, [*controls, *sliders], shown, **fast)
    truncation.input(h.render, [*controls, *sliders], shown, **fast)
    label.input(h.render, [*controls, *sliders], shown, **fast)
    random_btn.click(h.random_seed, [checkpoint, mode, truncation, label, *sliders], [seed, *shown], **fast)
    mode.input(h.change_mode, controls, [*sliders, *shown], **quiet)

    # .change (not .input): other tabs set the checkpoint too ("send to Explore").
    checkpoint.change(h.select, [*controls, pending], [pending, *view_outputs], **quiet)
    refresh.click(h.refresh, checkpoint, checkpoint, **quiet).then(
        h.select, [*controls, pending], [pending, *view_outputs], **quiet)
    upload.upload(h.upload_run, upload, [checkpoint, status], **quiet)

    # Bookmarks are also kept in the browser (localStorage), so a reload or a server restart keeps them.
    stored = gr.BrowserState(None, storage_key="gan_demo_bookmarks")
    keep = dict(fn=h.stored_bookmarks, inputs=None, outputs=stored, **quiet)
    save_btn.click(h.save_bookmark, [*controls, *sliders], [bookmarks, download, status], **quiet).then(**keep)
    bookmarks.input(h.restore, [bookmarks, checkpoint], [pending, checkpoint, *view_outputs], **quiet)
    load_json.upload(h.load_bookmarks, load_json, [bookmarks, download, status], **quiet).then(**keep)
    clear.click(h.clear_bookmarks, None, [bookmarks, download, status], **quiet).then(**keep)
    gr.on(None, h.restore_stored, stored, [bookmarks, download], **quiet)

    # On page load and whenever the tab is opened: the checkpoint list may have grown.
    gr.on(None, h.first_choices, None, checkpoint, **quiet).then(
        h.select, [*controls, pending], [pending, *view_outputs], **quiet)
    tab = gr.context.get_render_context()
    if isinstance(tab, gr.Tab):
        tab.select(h.refresh, checkpoint, checkpoint, **quiet).then(
            h.list_bookmarks, bookmarks, [bookmarks, download], **quiet)

    # Other tabs that set the checkpoint can chain `.then(**explore["reload"])` to redraw even when the
    # value did not change (e.g. "current run" sent again after more training).
    reload = dict(fn=h.select, inputs=[*controls, pending], outputs=[pending, *view_outputs], **quiet)
    from . import projection_panel

    projection_panel.build(ctx, h, checkpoint, image, bookmarks, download, after=[reload, keep])
    return {"checkpoint": checkpoint, "reload": reload, "seed": seed, "mode": mode, "sliders": sliders, "truncation": truncation,
            "label": label, "image": image, "score": score, "status": status, "bookmarks": bookmarks,
            "handlers": h}
