"""A pretrained run's recorded training (its timeline.png) to scrub: where a student without a training slot lands."""
from __future__ import annotations

import math
import threading
from pathlib import Path

import gradio as gr
from PIL import Image

from gan_demo.render.timeline import Timeline, TimelineError, read_timeline

RECORDED_RUN = "digits"  # the pretrained run shown when Start is refused: the one whose timeline a lesson needs
SERVER_BUSY = "### Server busy"  # the Train tab's heading for a refused Start (the fold opens under it)
SHOWN_WIDTH = 640  # frames are drawn at least this wide (enlarged by whole pixels, so small digits stay crisp)


class RecordedTimelines:
    """Pretrained runs' timelines, read once per change of their file. A name is looked up among the catalog's
    pretrained runs (a folder is never built from a client's string); uploaded runs have none."""

    def __init__(self, catalog):
        self.catalog = catalog
        self._cache: dict[str, tuple[int, Timeline | None]] = {}  # name -> (file mtime, timeline)
        self._lock = threading.Lock()

    def get(self, name: str) -> Timeline | None:
        if name not in self.catalog.pretrained():
            return None
        folder = Path(self.catalog.pretrained_root) / name
        try:
            stamp = (folder / "timeline.png").stat().st_mtime_ns
        except OSError:
            return None
        with self._lock:
            cached = self._cache.get(name)
            if cached is None or cached[0] != stamp:
                try:
                    timeline = read_timeline(folder)
                except TimelineError:
                    timeline = None  # an unreadable file shows no fold, as a missing one
                cached = self._cache[name] = (stamp, timeline)
            return cached[1]


def timelines_of(ctx) -> RecordedTimelines:
    """The context's RecordedTimelines (made on first use)."""
    timelines = getattr(ctx, "recorded_timelines", None)
    if timelines is None:
        timelines = ctx.recorded_timelines = RecordedTimelines(ctx.catalog)
    return timelines


def shown(frame: Image.Image) -> Image.Image:
    """A frame enlarged by whole pixels (nearest) to at least SHOWN_WIDTH wide."""
    scale = max(1, math.ceil(SHOWN_WIDTH / frame.width))
    return frame.resize((frame.width * scale, frame.height * scale), Image.NEAREST) if scale > 1 else frame


def caption(name: str, timeline: Timeline, step: int) -> str:
    last = timeline.steps[-1]
    where = ("untrained: noise" if step == timeline.steps[0] == 0
             else "finished" if step == last else f"{step / last:.0%} of the way")
    return (f"**{name}** at step **{step:,}** of {last:,} ({where}). The same fixed noise at every step, so each "
            "picture is the same digits being learned: drag the slider.")


def scrub(ctx, name: str, step) -> tuple[Image.Image | None, str]:
    """The recorded picture at (or just before) step, and its caption."""
    timeline = timelines_of(ctx).get(name)
    if timeline is None:
        return None, ""
    at, frame = timeline.at(float(step or 0))
    return shown(frame), caption(name, timeline, at)


def opened(ctx, name: str) -> tuple:
    """(fold, slider, picture, caption) updates showing the recorded run from its first step; the fold stays hidden
    when the run has no timeline."""
    timeline = timelines_of(ctx).get(name)
    if timeline is None:
        return gr.update(visible=False), gr.update(), None, ""
    steps = timeline.steps
    spacing = math.gcd(*(b - a for a, b in zip(steps, steps[1:]))) if len(steps) > 1 else 1
    picture, words = scrub(ctx, name, steps[0])
    return (gr.update(visible=True, open=True),
            gr.update(minimum=steps[0], maximum=max(steps[-1], steps[0] + 1), step=spacing, value=steps[0]),
            picture, words)


def build(ctx, name: str = RECORDED_RUN, elem_prefix: str = "recorded") -> dict:
    """The fold (hidden until shown) with a step slider over the recorded run's timeline and its picture, wired."""
    with gr.Accordion(f"While the server is full: how the pretrained {name} model learned", open=True, visible=False,
                      elem_id=f"{elem_prefix}_timeline") as box:
        slider = gr.Slider(0, 1, value=0, step=1, label="Training step", elem_id=f"{elem_prefix}_timeline_step")
        words = gr.Markdown("", elem_id=f"{elem_prefix}_timeline_caption")
        picture = gr.Image(show_label=False, type="pil", format="png", interactive=False,
                           elem_id=f"{elem_prefix}_timeline_image")
    private = dict(api_visibility="private", show_progress="hidden", concurrency_limit=None)
    slider.input(lambda step: scrub(ctx, name, step), slider, [picture, words], trigger_mode="always_last", **private)

    def after_start(message: str) -> tuple:
        """Shown under a refused Start (the server has no free slot); hidden again once a Start succeeds."""
        if str(message or "").startswith(SERVER_BUSY):
            return opened(ctx, name)
        return gr.update(visible=False), gr.update(), gr.update(), gr.update()

    def follow_start(started, message: gr.Markdown) -> None:
        """Wire the fold to the Train tab's Start event (`message`: its message, which names a refusal)."""
        started.then(after_start, message, [box, slider, picture, words], **private)

    return {"box": box, "slider": slider, "picture": picture, "caption": words, "follow_start": follow_start}


def build_for_checkpoint(ctx, checkpoint: gr.Dropdown, elem_prefix: str = "explore") -> dict:
    """A folded "how this model learned" under a checkpoint picker, shown while the picked run is a pretrained one
    with a recorded timeline; its slider scrubs that run's training."""
    initial = opened(ctx, checkpoint.value) if isinstance(checkpoint.value, str) else (gr.update(visible=False),)
    first = initial[0].get("visible", False)
    with gr.Accordion("How this model learned: its training, recorded step by step", open=False, visible=first,
                      elem_id=f"{elem_prefix}_timeline") as box:
        slider = gr.Slider(**({k: initial[1][k] for k in ("minimum", "maximum", "step", "value")} if first
                              else dict(minimum=0, maximum=1, step=1, value=0)),
                           label="Training step", elem_id=f"{elem_prefix}_timeline_step")
        words = gr.Markdown(initial[3] if first else "", elem_id=f"{elem_prefix}_timeline_caption")
        picture = gr.Image(initial[2] if first else None, show_label=False, type="pil", format="png",
                           interactive=False, elem_id=f"{elem_prefix}_timeline_image")
    private = dict(api_visibility="private", show_progress="hidden", concurrency_limit=None)
    slider.input(lambda name, step: scrub(ctx, name, step), [checkpoint, slider], [picture, words],
                 trigger_mode="always_last", **private)

    def picked(name) -> tuple:
        fold, *rest = opened(ctx, name) if isinstance(name, str) else (gr.update(visible=False), gr.update(), None, "")
        return (gr.update(visible=fold.get("visible", False)), *rest)  # open or folded as the student left it

    checkpoint.change(picked, checkpoint, [box, slider, picture, words], **private)
    return {"box": box, "slider": slider, "picture": picture, "caption": words}
