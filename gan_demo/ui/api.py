"""API-only endpoints ("Use via API"): generate, interpolate, project, and start, poll and stop a training run
or a comparison (runs A and B)."""
# No `from __future__ import annotations` here: gr.api() reads the return annotation as written,
# so it must be the real gr.FileData / dict, not a string.

import contextlib
import functools
import hashlib
import io
import json
import re
import shutil
import tempfile
import threading
import weakref
from collections import OrderedDict, deque
from pathlib import Path

import gradio as gr
import torch
from PIL import Image, ImageDraw
from starlette.responses import PlainTextResponse, Response

from gan_demo.render import viz
from gan_demo.training.compare import LABELS, check_pair
from gan_demo.core.config import IMAGE_DATASETS, LAUNCH_ONLY, RESOLVED_ONLY, SERVER_ONLY, TOY_DATASETS, family_settings_classes, section_of
from gan_demo.explore.latent import z_from_seed
from gan_demo.ui.catalog import is_live
from gan_demo.ui.errors import user_error
from gan_demo.ui.long_jobs import THREADS
from gan_demo.ui.sessions import Busy
from gan_demo.ui.tempdirs import temp_dir
from gan_demo.ui.forms import cli_command, config_from_values, whole_number

IMAGE_PX = 256  # generated images are enlarged (nearest) to at least this side
POINTS_PX = 512  # side of a 2D generator's picture
CLOUD_POINTS = 2000  # samples drawn as a 2D generator's cloud
BACKGROUNDS_KEPT = 4  # a fixed generator's cloud pictures kept per checkpoint, one per frame (bounds) it was drawn in
GIF_FRAME_MS = 80
KEEP_FILES = 256  # result files kept on disk before the oldest are removed (gradio has copied them by then)
MAX_SEED = 2**63 - 1
MARKER = (230, 97, 1)  # orange: the seed's point on a 2D cloud (apart from green real / purple generated)
API_DATASETS = TOY_DATASETS + IMAGE_DATASETS  # the API never reads paths on the server
API_DEFAULTS = {"dataset": "ring8", "steps": 2000, "loss": "nonsaturating", "seed": 0}  # /train_start's defaults
WHICH = ("both", *LABELS)  # what /compare_poll and /compare_stop act on


class _ResultFiles:
    """Result files in a private temp folder, the oldest removed past KEEP_FILES."""

    def __init__(self):
        self.root = temp_dir("gan_demo_api_")
        self._paths: deque[Path] = deque()
        self._lock = threading.Lock()

    def write(self, name: str, data: bytes) -> Path:
        folder = Path(tempfile.mkdtemp(dir=self.root))  # a folder per result: names never collide
        path = folder / name
        path.write_bytes(data)
        with self._lock:
            self._paths.append(folder)
            while len(self._paths) > KEEP_FILES:
                shutil.rmtree(self._paths.popleft(), ignore_errors=True)
        return path


@contextlib.contextmanager
def _readable_errors():
    """Engine errors become gr.Error with their one-line message (the client sees it as AppError), logged in one line."""
    try:
        yield
    except gr.Error as exc:  # raised again without its traceback in the server log
        raise user_error(exc.message) from None
    except KeyError as exc:  # the catalog's "no checkpoint named ..." carries its sentence in args[0]
        raise user_error(str(exc.args[0]) if exc.args else "not found") from None
    except (ValueError, Busy) as exc:  # ConfigError, DataError, CheckpointError are ValueErrors
        raise user_error(str(exc)) from None


def _int(name: str, value, lo: int, hi: int) -> int:
    number = whole_number(value)
    if number is None:
        raise gr.Error(f"{name} must be a whole number (got {value!r})")
    if not lo <= number <= hi:
        raise gr.Error(f"{name} must be between {lo} and {hi} (got {number})")
    return number


def _float(name: str, value, lo: float, hi: float) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise gr.Error(f"{name} must be a number (got {value!r})") from None
    if not lo <= number <= hi:
        raise gr.Error(f"{name} must be between {lo} and {hi} (got {number})")
    return number


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", text)[:60] or "sample"


def _marker(draw: ImageDraw.ImageDraw, bounds, size: int, point, radius: float = 7.0) -> tuple[float, float]:
    """An orange disc with a dark ring at a data point; returns its pixel position."""
    xmin, xmax, ymin, ymax = bounds
    u = (float(point[0]) - xmin) / (xmax - xmin) * size
    v = (ymax - float(point[1])) / (ymax - ymin) * size
    draw.ellipse((u - radius - 2, v - radius - 2, u + radius + 2, v + radius + 2), fill=(20, 20, 20))
    draw.ellipse((u - radius, v - radius, u + radius, v + radius), fill=MARKER, outline=(255, 255, 255), width=2)
    return u, v


def _progress_bar(picture: Image.Image, fraction: float) -> Image.Image:
    """A thin bar along the bottom showing how far along the path a frame is (keeps GIF frames distinct)."""
    out = picture.copy()
    draw = ImageDraw.Draw(out)
    w, h = out.size
    bar = max(3, h // 80)
    draw.rectangle((0, h - bar, w, h), fill=(225, 225, 225))
    draw.rectangle((0, h - bar, round(fraction * w), h), fill=(90, 90, 90))
    return out


@functools.lru_cache(maxsize=1)
def _upscale(sampler) -> int:
    return max(1, -(-IMAGE_PX // sampler.cfg.model.img_size))


class Endpoints:
    """What every endpoint class needs: the caller's session, and whether a run id is one of its runs."""

    def __init__(self, ctx):
        self.ctx = ctx

    # ------------------------------------------------------------------ lookups
    def own_session(self, request: gr.Request):
        if not has_session(request):
            raise gr.Error("this call carries no session: a run belongs to the client session that started it, "
                           "so use gradio_client, or send the same \"session_hash\" (any random string) in the "
                           "body of every call (/gradio_api/call/... accepts it beside \"data\")")
        return self.ctx.registry.get(request.session_hash)

    def no_run(self, run_id: str) -> gr.Error:
        return gr.Error(f"no run {run_id!r} in this session: a run belongs to the client session that "
                        "started it (start one with /train_start or /compare_start)")

    def no_pair(self) -> gr.Error:
        return gr.Error("no comparison in this session: a comparison belongs to the client session that "
                        "started it (start one with /compare_start)")

    def owns_run(self, session, run_id: str) -> bool:
        return bool(run_id) and run_id in (session.run_id, *session.pair_ids.values())


class Pictures(Endpoints):
    """The picture endpoints, one method each, values in and values out: /generate, /interpolate, /project and
    the plain GET /image, from a pretrained or uploaded checkpoint or one of the caller's runs."""

    def __init__(self, ctx):
        super().__init__(ctx)
        self.files = _ResultFiles()
        self._backgrounds = weakref.WeakKeyDictionary()  # a fixed 2D sampler -> (its cloud, {bounds: picture})

    def sampler_for(self, checkpoint: str, request: gr.Request):
        """(sampler, live): a pretrained or uploaded checkpoint, or one of this session's runs."""
        name = (checkpoint or "").strip()
        if is_live(name):
            session = self.own_session(request)
            if name.startswith("run-") and not self.owns_run(session, name):
                raise self.no_run(name)
            return self.ctx.catalog.sampler(name, session), True
        session = self.own_session(request) if has_session(request) else None  # its uploads are its own
        return self.ctx.catalog.sampler(name, session), False

    def label_for(self, sampler, label):
        if sampler.n_classes == 0:
            if label is not None:
                raise gr.Error("label: this checkpoint is not class-conditional (leave label empty)")
            return None
        return 0 if label is None else _int("label", label, 0, sampler.n_classes - 1)

    def cloud_background(self, sampler, live: bool, points: torch.Tensor):
        """The generator's cloud (fresh for a live run: its weights move) framed to include `points`, as a new
        picture to draw on. A pretrained or uploaded generator's is drawn once per frame and copied after (~12 ms
        a drawing against 0.05 ms a copy; a seed inside the cloud leaves the frame as it is). Callers hold
        ctx.render_gate."""
        cloud = sampler.generate(z_from_seed(0, sampler.z_dim, CLOUD_POINTS)) if live else sampler.cloud()
        bounds = viz.default_bounds(torch.cat([cloud, points]))
        if live:
            return viz.points_image(None, cloud, bounds, size=POINTS_PX), bounds
        kept = self._backgrounds.get(sampler)
        if kept is None or kept[0] is not cloud:  # a new cloud (Sampler.refresh): its pictures are new too
            kept = self._backgrounds[sampler] = (cloud, OrderedDict())
        drawn = kept[1]
        picture = drawn.get(bounds)
        if picture is None:
            picture = drawn[bounds] = viz.points_image(None, cloud, bounds, size=POINTS_PX)
            while len(drawn) > BACKGROUNDS_KEPT:
                drawn.popitem(last=False)
        drawn.move_to_end(bounds)
        return picture.copy(), bounds

    def result_file(self, picture_bytes: bytes, name: str, mime: str) -> gr.FileData:
        path = self.files.write(name, picture_bytes)
        return gr.FileData(path=str(path), orig_name=name, mime_type=mime)

    # ------------------------------------------------------------- generating
    def render_sample(self, sampler, live: bool, seed, truncation, label) -> tuple[bytes, str]:
        """(PNG bytes, file name) of one sample: what /generate and GET /image return. One render at a
        time across the app (self.ctx.render_gate), so rendering never takes more than a share of the CPU."""
        seed = _int("seed", seed, 0, MAX_SEED)
        truncation = _float("truncation", truncation, 0.0, 3.0)
        label = self.label_for(sampler, label)
        with self.ctx.render_gate:
            x, _ = sampler.from_seed(seed, label, truncation)
            if sampler.kind == "2d":
                picture, bounds = self.cloud_background(sampler, live, x.reshape(1, 2))
                draw = ImageDraw.Draw(picture)
                u, v = _marker(draw, bounds, POINTS_PX, x)
                draw.text((u + 12, v - 8), f"seed {seed}", fill=(20, 20, 20), font=viz.font(14),
                          stroke_width=3, stroke_fill=(255, 255, 255))  # a halo keeps it readable over points
            else:
                picture = viz.tensor_to_image(x, upscale=_upscale(sampler))
            data = _png_bytes(picture)
        suffix = "" if label is None else f"-label{label}"
        return data, f"{_slug(sampler.name or 'sample')}-seed{seed}{suffix}.png"

    def generate(self, checkpoint: str, seed: int, truncation: float = 1.0, label: int | None = None,
                 request: gr.Request = None) -> gr.FileData:
        """One sample as a PNG file. checkpoint: a pretrained name (e.g. "digits", "ring8"), an uploaded
        run, or a run id from /train_start or /compare_start (this session's only). seed: names the latent
        (the same image on every device). truncation: 1 = no truncation, smaller = closer to the average
        sample. label: the class for a class-conditional checkpoint (default 0). For 2D checkpoints the
        picture is the generator's cloud of points with the seed's point marked in orange."""
        with _readable_errors():
            sampler, live = self.sampler_for(checkpoint, request)
            data, name = self.render_sample(sampler, live, seed, truncation, label)
        return self.result_file(data, name, "image/png")

    def image_route(self, checkpoint: str = "", seed: str = "0", truncation: str = "1.0", label: str | None = None):
        """GET /image?checkpoint=digits&seed=7&truncation=1&label=3: a pretrained checkpoint's sample as a
        plain PNG response, cacheable (the same query is always the same picture), without Gradio's queue."""
        try:
            if checkpoint not in self.ctx.catalog.pretrained():
                raise gr.Error(f"checkpoint: one of {', '.join(self.ctx.catalog.pretrained())} (GET /image serves "
                               "the pretrained runs; use /generate for your own runs and uploads)")
            data, _ = self.render_sample(self.ctx.catalog.sampler(checkpoint), False, seed, truncation,
                                         None if label in (None, "") else label)
        except (gr.Error, ValueError, KeyError) as exc:
            message = exc.message if isinstance(exc, gr.Error) else str(exc)
            return PlainTextResponse(str(message), status_code=400)
        return Response(data, media_type="image/png",
                        headers={"Cache-Control": "public, max-age=86400", "ETag": f'"{hashlib.sha1(data).hexdigest()[:16]}"'})

    def interpolate(self, checkpoint: str, seed_a: int, seed_b: int, frames: int = 16, mode: str = "slerp",
                    label: int | None = None, request: gr.Request = None) -> gr.FileData:
        """An animated GIF walking from seed_a's latent to seed_b's. frames: 2 to 256. mode: "slerp"
        (spherical, keeps latents at a typical length) or "lerp" (straight line). label: the class for a
        class-conditional checkpoint (default 0). For 2D checkpoints the orange point walks over the
        generator's cloud. A thin bar at the bottom shows how far along the path each frame is."""
        with _readable_errors():
            sampler, live = self.sampler_for(checkpoint, request)
            seed_a = _int("seed_a", seed_a, 0, MAX_SEED)
            seed_b = _int("seed_b", seed_b, 0, MAX_SEED)
            frames = _int("frames", frames, 2, 256)
            if mode not in ("slerp", "lerp"):
                raise gr.Error(f"mode must be 'slerp' or 'lerp' (got {mode!r})")
            label = self.label_for(sampler, label)
            z_a, z_b = z_from_seed(seed_a, sampler.z_dim), z_from_seed(seed_b, sampler.z_dim)
            with self.ctx.render_gate:  # one render at a time across the app
                path = sampler.interpolation(z_a, z_b, frames=frames, mode=mode, label=label)
                pictures = []
                if sampler.kind == "2d":
                    background, bounds = self.cloud_background(sampler, live, path)
                    for point in path:
                        picture = background.copy()
                        _marker(ImageDraw.Draw(picture), bounds, POINTS_PX, point)
                        pictures.append(picture)
                else:
                    pictures = [viz.tensor_to_image(x, upscale=_upscale(sampler)) for x in path]
                pictures = [_progress_bar(p, i / (frames - 1)) for i, p in enumerate(pictures)]
                data = viz.gif_bytes(pictures, duration_ms=GIF_FRAME_MS)
        name = f"{_slug(sampler.name or checkpoint)}-{seed_a}-to-{seed_b}-{mode}.gif"
        return self.result_file(data, name, "image/gif")

    # -------------------------------------------------------------- projecting
    def project_image(self, checkpoint: str, image: gr.FileData, label: int | None = None, steps: int = 300,
                      request: gr.Request = None) -> tuple[gr.FileData, dict]:
        """Find the latent z whose sample looks like your image. checkpoint: an image checkpoint (pretrained,
        uploaded, or this session's run id). image: a picture file (centre-cropped and resized to the
        model's size). label: the class for a class-conditional checkpoint (default: the best class is
        searched for). steps: Adam steps on z, 1 to 1000. Returns (a PNG file: the image beside its
        reconstruction, {"z": [...], "label", "error" (mean absolute pixel error in [0, 1]), "steps"}).
        Projections run one at a time across all visitors, in the order they came; a session has one in the
        queue or running at a time (a second call meanwhile is refused), and at most 7 wait."""
        from gan_demo.explore.projection import image_target, project

        with _readable_errors():
            sampler, _ = self.sampler_for(checkpoint, request)
            if sampler.kind != "image":
                raise gr.Error("checkpoint: /project takes an image generator (2D generators: use the app's Explore tab)")
            steps = _int("steps", steps, 1, 1000)
            labels = None
            if label is not None:
                labels = torch.tensor([self.label_for(sampler, label)])
            path = image.get("path") if isinstance(image, dict) else getattr(image, "path", image)
            if not path:
                raise gr.Error("image: send a picture file")
            target = image_target(str(path), sampler)
            # One projection at a time, one place per session (self.ctx.projections), the rest wait in turn
            # (gr.api takes no gr.Progress: an API caller's place is not streamed; Explore's panel shows it).
            with self.ctx.projections.turn(request.session_hash if request else ""):
                found = project(sampler, target, labels, steps=steps)
            picture = viz.image_grid(torch.cat([target, found.reconstruction]), nrow=2,
                                     upscale=_upscale(sampler))
            data = _png_bytes(picture)
        name = f"{_slug(sampler.name or checkpoint)}-projected.png"
        return self.result_file(data, name, "image/png"), {
            "z": [round(float(v), 6) for v in found.z[0]], "label": None if found.labels is None else int(found.labels[0]),
            "error": round(float(found.error[0]), 6), "steps": len(found.losses)}


class Runs(Endpoints):
    """The run endpoints, one method each: start, poll and stop a training run (/train_*) or a comparison of
    two runs, A and B (/compare_*), each in the caller's session."""

    # ---------------------------------------------------------------- training
    def run_status(self, trainer, run_id: str | None) -> dict:
        """A run's status as /train_poll returns it (a comparison's runs each have one)."""
        snap = trainer.snapshot(history=False)  # the curves are not part of a status
        last = snap["last"] or {}
        out = {
            "run_id": run_id,
            "state": snap["state"],
            "step": snap["step"],
            "target_steps": snap["target_steps"],
            "steps_per_s": round(snap["steps_per_s"], 2),
            "eta_s": None if snap["eta_s"] is None else round(snap["eta_s"], 1),
            "device": snap["device"],
            "message": snap["message"],
            "family": snap["family"],
            # the last step's named series (a GAN's loss_d, loss_g, d_real, d_fake, ...; a VAE's loss, recon, kl, elbo, ...)
            **{name: last.get(name) for name in ("loss_d", "loss_g", "d_real", "d_fake", *snap["series"])},
        }
        q = snap["quality"]  # 2D runs: measured every few steps by the trainer
        if q is not None:
            out.update(quality_step=q["step"], grid_kl=q["grid_kl"], grid_js=q["grid_js"])
            if q["n_modes"]:
                out.update(modes_covered=q["modes_covered"], n_modes=q["n_modes"], high_quality=q["high_quality"],
                           mode_kl=q["mode_kl"])
        return out

    def own_run(self, run_id: str, request: gr.Request):
        """(session, trainer, label): this session's run by its id; label is "A" or "B" for a comparison's
        run, None for the session's single run."""
        session = self.own_session(request)
        run_id = str(run_id or "").strip()
        if run_id and session.run_id == run_id and session.trainer is not None:
            return session, session.trainer, None
        pair = session.pair
        label = next((label for label, rid in session.pair_ids.items() if rid == run_id), None) if run_id else None
        if pair is None or label is None:
            raise self.no_run(run_id)
        return session, pair.runs[label], label

    def train_start(self, dataset: str = "ring8", steps: int = 2000, loss: str = "nonsaturating", seed: int = 0,
                    config_json: str = "", request: gr.Request = None) -> dict:
        """Start training a GAN (or a VAE) on the server; returns its run id and status. One run per client
        session (starting again replaces it). config_json: more settings as a JSON object, either flat
        ({"width": 64, "batch_size": 128, "lr_d": 0.0005}) or in sections ({"model": {...}, "train": {...}},
        as in a checkpoint's config.json); its values override the other arguments. {"family": "vae"}
        trains a VAE (its settings: recon, recon_sigma, beta, kl_warmup, lr_vae; loss is ignored). Poll
        with /train_poll, stop with /train_stop, sample with /generate using the run id."""
        with _readable_errors():
            values = {"dataset": dataset, "steps": steps, "loss": loss, "seed": seed}
            values.update(_settings_from_json(config_json))
            cfg = config_from_values(_api_dataset(values))
            session = self.own_session(request)
            self.ctx.registry.start(session, cfg, self.ctx.device)
            return {**self.run_status(session.trainer, session.run_id), "command": cli_command(cfg, session.run_id)}

    def train_poll(self, run_id: str, request: gr.Request = None) -> dict:
        """Status of this session's run: state (running, paused, finished, stopped, diverged, failed), step,
        steps/s, ETA in seconds, family, the last step's series (a GAN's losses and D outputs, a VAE's
        loss, recon, kl and elbo); for 2D sets the grid KL/JS divergence of the
        generator's samples from the data (and for ring8/grid25 their mode coverage), measured every few
        steps (quality_step says when). message explains a divergence or failure. run_id may also be one
        of a comparison's two runs (from /compare_start)."""
        with _readable_errors():
            _, trainer, _ = self.own_run(run_id, request)
            return self.run_status(trainer, str(run_id).strip())

    def train_stop(self, run_id: str, request: gr.Request = None) -> dict:
        """Stop this session's run (it stays available to /generate and /interpolate); returns its status.
        run_id may also be one of a comparison's two runs: that one stops, the other trains on."""
        with _readable_errors():
            session, trainer, label = self.own_run(run_id, request)
            if label is None:
                self.ctx.registry.stop(session)
            else:
                self.ctx.registry.stop_pair(session, label)
            return self.run_status(trainer, str(run_id).strip())

    # -------------------------------------------------------------- comparisons
    def pair_status(self, session, which: str = "both") -> dict:
        """{"runs": {label: run status}, "differences": {setting: [A's, B's]}, "commands": {label: CLI}}."""
        pair = session.pair
        if pair is None:
            raise self.no_pair()
        labels = LABELS if which == "both" else (which,)
        return {"runs": {label: self.run_status(pair.runs[label], session.pair_ids.get(label)) for label in labels},
                "differences": {name: list(values) for name, values in pair.diff.items()},
                "commands": {label: cli_command(pair.started[label], session.pair_ids.get(label)) for label in labels}}

    def compare_start(self, config_a_json: str = "", config_b_json: str = "", request: gr.Request = None) -> dict:
        """Start a comparison: two runs, A and B, trained side by side from the same seed and data and kept
        at the same step. config_a_json: A's settings as /train_start's config_json (flat or in sections;
        unset ones take /train_start's defaults: ring8, 2000 steps, the nonsaturating loss, seed 0).
        config_b_json: what B changes, e.g. {"loss": "wgan-gp", "n_critic": 5} or {"lr_d": 0.002} or
        {"family": "vae"}; B shares A's dataset and seed. A comparison holds two of the server's run slots
        (the cap counts runs) and replaces this session's run or comparison. Returns {"runs": {"A": status,
        "B": status} (each as /train_poll returns it, with its run id), "differences": {setting: [A's, B's]},
        "commands": {"A": command line, "B": ...}}. Poll with /compare_poll, stop with /compare_stop; each
        run id also works with /train_poll, /train_stop, /generate and /interpolate."""
        with _readable_errors():
            values_a = {**API_DEFAULTS, **_settings_from_json(config_a_json, "config_a_json")}
            changes = _settings_from_json(config_b_json, "config_b_json")
            cfg_a = config_from_values(_api_dataset(values_a))
            cfg_b = config_from_values(_api_dataset({**values_a, **changes}, "B's dataset"))
            check_pair(cfg_a, cfg_b)
            session = self.own_session(request)
            self.ctx.registry.start_pair(session, cfg_a, cfg_b, self.ctx.device)
            return self.pair_status(session)

    def compare_poll(self, which: str = "both", request: gr.Request = None) -> dict:
        """Status of this session's comparison: {"runs": {"A": status, "B": status}, "differences",
        "commands"} as /compare_start returns it. which: "both" (default), "A" or "B" (then "runs" and
        "commands" hold that run only)."""
        with _readable_errors():
            return self.pair_status(self.own_session(request), _which(which))

    def compare_stop(self, which: str = "both", request: gr.Request = None) -> dict:
        """Stop this session's comparison: "both" (default), or "A" or "B" alone (the other trains on).
        Stopped runs stay available to /generate and /interpolate by their run ids. Returns the status
        as /compare_poll does."""
        with _readable_errors():
            which = _which(which)
            session = self.own_session(request)
            if session.pair is None:
                raise self.no_pair()
            self.ctx.registry.stop_pair(session, which)
            return self.pair_status(session, which)


def register(ctx) -> None:
    """Add the API endpoints to the Blocks being built (call inside `with gr.Blocks()`)."""
    pictures, runs = Pictures(ctx), Runs(ctx)
    ctx.image_route = pictures.image_route
    render = dict(concurrency_limit=2, concurrency_id="api_render")  # ctx.render_gate lets one render at a time
    gr.api(pictures.generate, api_name="generate", **render)
    gr.api(pictures.interpolate, api_name="interpolate", **render)
    gr.api(pictures.project_image, api_name="project", concurrency_limit=THREADS, concurrency_id="project")  # with Explore's
    gr.api(runs.train_start, api_name="train_start")
    gr.api(runs.train_poll, api_name="train_poll", concurrency_limit=None)
    gr.api(runs.train_stop, api_name="train_stop", concurrency_limit=None)
    gr.api(runs.compare_start, api_name="compare_start")
    gr.api(runs.compare_poll, api_name="compare_poll", concurrency_limit=None)
    gr.api(runs.compare_stop, api_name="compare_stop", concurrency_limit=None)


def has_session(request: gr.Request) -> bool:
    """Whether the caller sent a session hash. A /gradio_api/call/ request without one gets the event's own id
    (32 hex digits, gradio.queueing.Event), new on every call: such a caller could never poll or stop a run."""
    session_hash = request.session_hash or ""
    return bool(session_hash) and not re.fullmatch(r"[0-9a-f]{32}", session_hash)


def _api_dataset(values: dict, what: str = "dataset") -> dict:
    """values, once its dataset is one the API trains on (never a path on the server)."""
    if values.get("dataset") not in API_DATASETS:
        raise gr.Error(f"{what}: the API trains on {', '.join(API_DATASETS)} "
                       f"(got {str(values.get('dataset'))[:80]!r}); upload your own files in the app")
    return values


def _which(which) -> str:
    """"both", "A" or "B" from a caller's text (any case; empty = both)."""
    text = str(which or "both").strip()
    picked = "both" if text.lower() == "both" else text.upper()
    if picked not in WHICH:
        raise gr.Error(f"which: A, B or both (got {text[:20]!r})")
    return picked


def _png_bytes(picture: Image.Image) -> bytes:
    buffer = io.BytesIO()
    picture.save(buffer, format="PNG")
    return buffer.getvalue()


def _settings_from_json(text: str, argument: str = "config_json") -> dict:
    """{field: value} from config_json (errors name `argument`): flat, or in data/model/train sections as in
    a checkpoint's config.json.

    In sections, what a config.json holds but a visitor cannot set is skipped: fields derived from the
    dataset or the launcher, and those the server decides (gan_demo.core.config: the one map of settings).
    """
    if text is None or not str(text).strip():
        return {}
    try:
        obj = json.loads(text)
    except json.JSONDecodeError as exc:
        raise gr.Error(f"{argument} is not valid JSON: {exc}") from None
    except RecursionError:  # '[' * 100000: the parser gives up before reading it all
        raise gr.Error(f"{argument} is nested too deeply: send one JSON object of settings, "
                       "e.g. {\"width\": 64}") from None
    if not isinstance(obj, dict):
        raise gr.Error(f"{argument} must be a JSON object, e.g. {{\"width\": 64}}")
    sections = {"data", "model", "train", *family_settings_classes()}  # each family's own section too ("vae")
    if not (set(obj) & sections):
        return obj
    skip = {"step", "format_version", "dataset_info", "schedule"}  # a web run starts afresh: no replayed changes
    unknown = set(obj) - sections - skip - {"family"}
    if unknown:
        raise gr.Error(f"{argument}: unknown section(s) {', '.join(sorted(unknown))} (use family, data, model, "
                       f"train, {', '.join(family_settings_classes())})")
    home = section_of()
    flat = {"family": obj["family"]} if "family" in obj else {}
    for section in ("data", "model", "train", *family_settings_classes()):
        part = obj.get(section) or {}
        if not isinstance(part, dict):
            raise gr.Error(f"{argument}: {section} must be a JSON object")
        for name, value in part.items():
            if name in SERVER_ONLY or (section == "model" and name in RESOLVED_ONLY) or name in LAUNCH_ONLY:
                continue  # in every config.json, but derived from the dataset or the launcher, or the server's
            if name in home and home[name] != section:
                raise gr.Error(f"{argument}: {name} belongs in the {home[name]} section, not {section}")
            flat[name] = value
    return flat
