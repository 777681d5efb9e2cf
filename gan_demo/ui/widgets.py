"""What more than one tab draws and reads: latents from sliders, sample pictures, 2D clouds, D's readout,
bookmarks, the session's files, the Explore script the browser runs, and the wiring of handlers that take and
give values by name."""
from __future__ import annotations

import functools
import io
import json
import math
import shutil
import threading
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch
from PIL import Image, ImageDraw

from gan_demo.core.config import TOY_DATASETS
from gan_demo.data.datasets import DataError, load_dataset
from gan_demo.explore.latent import z_from_seed
from gan_demo.render.viz import default_bounds, points_image
from gan_demo.ui.errors import user_error
from gan_demo.ui.tempdirs import temp_dir

if TYPE_CHECKING:  # annotations only: the module builds no layout
    import gradio as gr

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
    "nonsaturating": "the discriminator's probability that this sample is real (1 = real, 0 = fake).",
    "minimax": "the discriminator's probability that this sample is real (1 = real, 0 = fake).",
    "hinge": "sigmoid of the discriminator's hinge score: above 0.5 it leans 'real', below 'fake'.",
    "lsgan": "the least-squares discriminator's output, trained toward 1 for real and 0 for fake data.",
    "wgan-gp": "the critic's raw score: higher means more real-looking. It has no fixed scale, "
               "so compare samples with each other.",
}
TYPICAL_SAMPLES = 256  # samples scored once per checkpoint to say what a usual score is for that model
TYPICAL_SEED = 12345


# ------------------------------------------------------------------------------------ latents
def latent_of(sampler, seed, mode: str, offsets, base: torch.Tensor | None = None) -> torch.Tensor:
    """(1, z_dim): z_from_seed(seed) (or a projected latent, base) + sum_i offsets[i] * e_i, e_i = unit vector
    of z[i] or PCA direction i."""
    z = base.reshape(1, sampler.z_dim).clone().float() if base is not None else z_from_seed(seed_of(seed), sampler.z_dim)
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
    terms = [f"projected z ({projected})" if projected else f"seed {seed_of(seed)}"]
    for i, v in enumerate(offsets):
        v = float(v or 0.0)
        if abs(v) >= 1e-6:
            axis = f"PC{i + 1}" if mode == PCA else f"e[{i}]"
            terms.append(f"{'+' if v > 0 else '−'} {abs(v):.2f}·{axis}")
    return " ".join(terms)


def seed_of(seed) -> int:
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
def enlargement(side: int, size: int = VIEW_SIZE) -> int:
    """How many times a picture `side` pixels wide is enlarged to be shown about `size` pixels wide."""
    return max(1, math.ceil(size / side))


def sample_picture(sample: torch.Tensor, size: int = VIEW_SIZE) -> Image.Image:
    """(C, H, W) in [0, 1] -> a picture about size pixels wide (grayscale stays "L", smaller PNGs);
    nearest neighbour keeps the pixels crisp.

    Enlarged by PIL on the tiny uint8 image: the same pixels as viz.tensor_to_image(x, upscale),
    without torch's threaded ops, which on a busy 2-core machine cost a slider move 100+ ms.
    """
    upscale = enlargement(sample.shape[-1], size)
    pixels = (sample.detach().float().clamp(0, 1) * 255 + 0.5).to(torch.uint8).numpy()
    img = Image.fromarray(pixels[0], "L") if pixels.shape[0] == 1 else Image.fromarray(pixels.transpose(1, 2, 0), "RGB")
    return img.resize((img.width * upscale, img.height * upscale), Image.Resampling.NEAREST)


_cloud_cache: dict[tuple[int, int], tuple] = {}
REAL_POINTS = 1000  # real data points drawn under a 2D generator's cloud (missing modes show as bare green)


def real_points(sampler) -> torch.Tensor | None:
    """(N, 2) real data of a 2D run: a live run's own data, else the toy set it names; None for data not on
    this server (an uploaded run trained on a CSV)."""
    trainer = sampler.trainer
    dataset = getattr(trainer, "dataset", None)
    if dataset is not None and dataset.kind == "2d":
        return dataset.x[:REAL_POINTS].detach().float().cpu()
    if sampler.cfg.data.dataset not in TOY_DATASETS:
        return None
    try:
        return load_dataset(sampler.cfg.data, "cpu").x[:REAL_POINTS].float()
    except (DataError, OSError):
        return None


def cloud_view(sampler, size: int = VIEW_SIZE) -> tuple[Image.Image, tuple]:
    """A 2D generator's cloud of samples over the real data (green) as a picture, and its bounds; drawn once
    per sampler and cloud."""
    cloud = sampler.cloud()
    key = (id(sampler), size)
    hit = _cloud_cache.get(key)
    if hit is None or hit[0] is not cloud:
        real = real_points(sampler)
        bounds = default_bounds(cloud if real is None else torch.cat([cloud, real]))
        hit = (cloud, points_image(real, cloud, bounds, size=size), bounds)
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


_typical_cache: dict[tuple[int, int], tuple[float, float, float]] = {}


def typical_scores(sampler) -> tuple[float, float, float] | None:
    """(10th, 50th, 90th percentile) of D's score on this model's own samples (TYPICAL_SAMPLES seeds, every
    class): what a usual score is for that model. None without a critic. Cached per sampler and step."""
    if not sampler.has_critic:
        return None
    key = (id(sampler), sampler.step // 500)  # a live run's D moves on: scored again every 500 steps
    hit = _typical_cache.get(key)
    if hit is None:
        _, scores = sampler.generate(z_from_seed(TYPICAL_SEED, sampler.z_dim, TYPICAL_SAMPLES), None, 1.0,
                                     with_score=True)
        q = torch.quantile(scores.reshape(-1).float(), torch.tensor([0.1, 0.5, 0.9]))
        hit = _typical_cache[key] = tuple(float(v) for v in q)
        while len(_typical_cache) > 32:
            _typical_cache.pop(next(iter(_typical_cache)))
    return hit


def score_note(sampler, score: float | None) -> str:
    if score is None:  # a family without a discriminator (a VAE)
        return "**no discriminator**: a VAE's decoder draws this sample; nothing scores how real it looks."
    loss = sampler.cfg.train.loss
    name = "critic score" if loss == "wgan-gp" else "D(x)"
    text = f"**{name} = {score:.3f}**: {SCORE_NOTES.get(loss, '')}"
    typical = typical_scores(sampler)
    if typical is not None:
        low, mid, high = typical
        text += (f" For this model a usual value is **{mid:.3f}** (80% of its samples score {low:.3f} to "
                 f"{high:.3f}): a trained D still tells most generated samples from real ones, so a good "
                 "generator's samples need not reach 0.5. Higher than usual: this sample looks more real to D.")
    return text


def readout(sampler, sample, score, seed, mode, offsets, truncation, label, projected: str | None = None) -> str:
    """The Markdown under the picture: D's score and what it means, then the latent in words."""
    where = ""
    if sampler.kind == "2d":
        x, y = (float(c) for c in sample.reshape(-1)[:2])
        real = "" if real_points(sampler) is None else "; green = the real data (a bare green patch is a missed mode)"
        where = (f" · G(z) = ({x:.2f}, {y:.2f}): the orange dot; purple = {sampler.cloud().shape[0]} "
                 f"samples, the generator's whole distribution{real}")
    cls = f" · class {sampler.class_names[label]}" if label is not None else ""
    return (f"{score_note(sampler, score)}\n\n"
            f"z = {latent_formula(seed, mode, offsets, projected)} · truncation ψ = {float(truncation):.2f}{cls}{where}")


_score_memo: dict[tuple, float | None] = {}  # D's score of recently drawn latents: the readout reuses the route's
SCORE_MEMO = 512
_score_drawn = threading.Condition()  # notified when a drawn latent's score is remembered
SCORE_WAIT_S = 0.3  # how long a readout waits for its picture's render before rendering the latent itself


def _score_key(sampler, z: torch.Tensor, label, truncation) -> tuple:
    return (id(sampler), sampler.step, z.reshape(-1).float().numpy().tobytes(), label, round(float(truncation), 6))


def remembered_score(sampler, z: torch.Tensor, label, truncation, wait: float = 0.0):
    """D's score of this latent if it was drawn lately (None without a critic), else KeyError. wait: seconds
    to wait for it (the browser asks for the picture as the readout is asked for: one render serves both)."""
    key = _score_key(sampler, z, label_of(sampler, label), truncation)
    with _score_drawn:
        if _score_drawn.wait_for(lambda: key in _score_memo, timeout=wait):
            return _score_memo[key]
    raise KeyError(key)


def draw(ctx, sampler, z: torch.Tensor, label, truncation, gate=None,
         size: int = VIEW_SIZE) -> tuple[torch.Tensor, float | None, Image.Image]:
    """Generate one latent (1, z_dim): (sample, D's score or None, the picture Explore shows). One render at a
    time across the app (ctx.render_gate, or `gate`, the same one with its own spacing): a live run keeps its
    share of the CPU. size: an image sample's picture is enlarged to about this many pixels (1: as generated)."""
    label = label_of(sampler, label)
    with gate or ctx.render_gate:
        sample, score = sampler.generate(z, label, float(truncation), with_score=True)
        sample, score = sample[0], None if score is None else float(score[0])
        picture = point_picture(sampler, sample) if sampler.kind == "2d" else sample_picture(sample, size)
    with _score_drawn:
        _score_memo[_score_key(sampler, z, label, truncation)] = score
        while len(_score_memo) > SCORE_MEMO:
            _score_memo.pop(next(iter(_score_memo)))
        _score_drawn.notify_all()
    return sample, score, picture


# ---------------------------------------------------------------------------------- bookmarks
def bookmark_of(sampler, checkpoint, seed, mode, offsets, truncation, label, z: torch.Tensor, taken: list[str],
                projected: dict | None = None) -> dict:
    """A saved latent: everything needed to show it again, and the full z for other tools.
    A projected latent also keeps its base (the z the projection found) and what it was found for."""
    offsets = [round(float(v or 0.0), 4) for v in offsets]
    name = f"{checkpoint} · {latent_formula(seed, mode, offsets, projected and projected['what'])}"
    if label is not None:
        name += f" · class {sampler.class_names[label]}"
    name = unique_name(name[:90], taken)
    out = {
        "name": name, "checkpoint": checkpoint, "seed": seed_of(seed), "mode": mode, "offsets": offsets,
        "truncation": float(truncation), "label": label, "z_dim": int(z.numel()),
        "z": [round(float(v), 6) for v in z.reshape(-1)],
    }
    if projected:
        out.update(base=[round(float(v), 6) for v in projected["z"]], projected=projected["what"])
    return out


def unique_name(name: str, taken: list[str]) -> str:
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
        "seed": seed_of(seed), "mode": PCA if item.get("mode") == PCA else RAW, "offsets": offsets,
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


def problem(exc: Exception) -> str:
    text = exc.args[0] if isinstance(exc, KeyError) and exc.args else str(exc)
    return f"⚠ {text}"


EXPLORE_JS = (Path(__file__).with_name("explore.js")).read_text()  # installs window.ganExplore (no CDN, no file served)


# ------------------------------------------------------------------------------------ drawings
MAX_DRAWING_SIDE = 2048  # pixels; the canvas is 360 x 360 (about 3x that on a high-density screen)


def ink_mask(drawing) -> np.ndarray | None:
    """(H, W) bool mask of drawn pixels, or None when nothing was given."""
    if drawing is None:
        return None
    if isinstance(drawing, dict):
        images = [im for im in (drawing.get("layers") or []) if im is not None]
        images += [drawing["composite"]] if drawing.get("composite") is not None else []
    else:
        images = [drawing]
    mask = None
    for im in images:
        a = np.asarray(im)
        if a.ndim == 2:
            ink = a < 128
        elif a.ndim == 3 and a.shape[2] in (3, 4):
            ink = a[..., :3].astype(np.float32).mean(2) < 128
            if a.shape[2] == 4:
                ink &= a[..., 3] > 32  # transparent pixels carry arbitrary colours
        else:
            continue
        mask = ink if mask is None or mask.shape != ink.shape else (mask | ink)
    return mask


def check_drawing_size(part, max_side: int = MAX_DRAWING_SIDE, what: str = "the drawing",
                        hint: str = "draw on the canvas") -> None:
    """Raise a gr.Error when one layer of a drawing (a FileData or its bytes) is too large, reading only its header."""
    source = io.BytesIO(part) if isinstance(part, (bytes, bytearray, memoryview)) else part.path
    try:
        with Image.open(source) as im:
            w, h = im.size
    except Image.DecompressionBombError:  # PIL refuses to open past 2x its pixel limit (~179 megapixels)
        raise user_error(f"{what} is too large to open (more than {2 * Image.MAX_IMAGE_PIXELS:,} pixels); "
                         f"{hint} (at most {max_side:,} pixels a side)") from None
    except Exception:  # not an image: gradio's own decoding says so
        return
    if max(w, h) > max_side:
        raise user_error(f"{what} is {w:,} x {h:,} pixels; {hint} (at most {max_side:,} pixels a side)")


def capped_drawing(pad: "gr.Sketchpad") -> "gr.Sketchpad":
    """pad, refusing images larger than MAX_DRAWING_SIDE from their headers, before anything is decoded.

    gradio's preprocess decodes every layer in full (whatever `type` is): a PNG of 12000 x 12000 pixels
    (17 KB when blank) cost +1.6 GB and 14 s there. PIL opens lazily, so the size is known from the header alone. The check
    wraps this one component's preprocess: a gr.Sketchpad subclass would make gradio write a .pyi
    stub beside this file.
    """
    decode = pad.preprocess

    def preprocess(payload):
        if payload is not None:
            cached = pad.blob_storage.get(payload.id) if payload.id is not None else None
            parts = cached or payload  # a drawing sent in chunks waits in blob_storage as bytes
            for part in [parts.background, parts.composite, *(parts.layers or [])]:
                if part is not None:
                    check_drawing_size(part)
        return decode(payload)

    pad.preprocess = preprocess
    return pad


def by_name(handler, parts: dict):
    """handler as gradio calls it: a {component: value} input becomes {name: value}, and its {name: value}
    result becomes {component: value} (parts: name -> component, the names build() returns). An empty result
    (nothing to update) becomes gr.skip(): Gradio takes an empty dict for a wrong answer ("Output values returned:
    [{}]") and the page shows an error."""
    import gradio as gr

    names = {component: name for name, component in parts.items()}

    @functools.wraps(handler)
    def wired(*args, **kwargs):
        args = [{names[c]: v for c, v in arg.items()} if isinstance(arg, dict) and arg and all(c in names for c in arg)
                else arg for arg in args]
        out = {parts[name]: value for name, value in handler(*args, **kwargs).items()}
        return out if out else gr.skip()

    return wired


# After "Send to Explore" the page keeps its scroll position, which left the sample off screen: bring Explore's
# picture into view once the tab shows it (retried while the tab switches).
SCROLL_TO_SAMPLE = """() => {
  let tries = 0;
  const show = () => {
    const picture = document.querySelector('#explore-image');
    if (picture && picture.offsetParent !== null) { picture.scrollIntoView({block: 'center'}); return; }
    if (tries++ < 50) setTimeout(show, 100);
  };
  show();
}"""
