"""A run's recorded timeline: its progress picture every few steps, kept small, saved as one PNG strip in the run folder."""
from __future__ import annotations

import bisect
import io
import json
import threading
import weakref
from dataclasses import dataclass, field
from pathlib import Path

from PIL import Image, PngImagePlugin

from gan_demo.core.files import write_atomic
from gan_demo.render import viz

TIMELINE_FILE = "timeline.png"
TIMELINE_KEY = "gan_demo_timeline"  # the PNG text chunk holding {"steps": [...], "frame_height": h}
MAX_FRAMES = 40  # frames kept; past this every other one is dropped and the spacing doubles (the file stays small)
MAX_IMAGES = 30  # images of the fixed batch per frame (image runs): three rows of ten classes
# Grayscale frames are saved in 16 grey levels (sklearn's digits have 17): ~5 KB a 3 x 10 grid of 32 px digits.
POINTS_SIZE = 256  # a 2D run's frame, in pixels a side
MAX_FILE_BYTES = 4 << 20  # a timeline file larger than this is not read
MAX_PIXELS = 16 << 20  # nor one whose strip holds more pixels than this


class TimelineError(ValueError):
    """A timeline file that cannot be read; the message is one line for users."""


@dataclass
class Timeline:
    steps: list[int] = field(default_factory=list)  # the step of each frame, increasing
    frames: list[Image.Image] = field(default_factory=list)  # the progress picture at each step, all one size

    def at(self, step: float) -> tuple[int, Image.Image]:
        """The last frame recorded at or before step (the first frame for a step before it)."""
        chosen = max(0, bisect.bisect_right(self.steps, step) - 1)
        return self.steps[chosen], self.frames[chosen]

    def __len__(self) -> int:
        return len(self.steps)


_backdrops: dict[int, viz.PointsBackdrop] = {}  # id of a live 2D dataset -> its frames' backdrop (gone with it)
_backdrops_lock = threading.Lock()


def _backdrop(dataset) -> viz.PointsBackdrop:
    """The real points a 2D run's frames are drawn over, drawn once per dataset (runs of a seed sweep share one):
    re-stamping them for every frame was ~2% of a sweep's training thread."""
    with _backdrops_lock:
        backdrop = _backdrops.get(id(dataset))
        if backdrop is None:
            real = dataset.x[:2000].cpu()
            backdrop = _backdrops[id(dataset)] = viz.PointsBackdrop(real, viz.default_bounds(real),
                                                                    size=POINTS_SIZE, legend=False)
            weakref.finalize(dataset, _forget_backdrop, id(dataset))
        return backdrop


def _forget_backdrop(key: int) -> None:
    with _backdrops_lock:
        _backdrops.pop(key, None)


def progress_frame(trainer) -> Image.Image:
    """The sampling net on the first of the run's fixed noise: an image run's grid at its own size (no
    upscaling; grayscale runs in mode L), a 2D run's points over its real data in fixed bounds."""
    samples = trainer.sample_fixed()
    if trainer.kind == "2d":
        return _backdrop(trainer.dataset).draw(samples)
    nrow = trainer.cfg.model.n_classes or 8
    grid = viz.image_grid(samples[:MAX_IMAGES], nrow=nrow)
    return grid.convert("L") if samples.shape[1] == 1 else grid


class TimelineRecorder:
    """A Trainer callback keeping the progress picture every `every` steps, at most MAX_FRAMES of them:
    when full every other frame is dropped (the first is kept) and the spacing doubles."""

    def __init__(self, every: int = 50, max_frames: int = MAX_FRAMES, timeline: Timeline | None = None):
        if every < 1 or max_frames < 2:
            raise ValueError(f"need every >= 1 and max_frames >= 2 (got {every}, {max_frames})")
        self.every = every
        self.stride = every
        self.max_frames = max_frames
        self.timeline = timeline or Timeline()
        while len(self.timeline) > max_frames:  # a resumed run's frames, thinned to this recorder's bound
            self._thin()

    def __call__(self, trainer, rec) -> None:
        # Labelled with the trainer's step, not the record's: records are read back a few steps late, and the
        # picture shows the weights as they are now.
        steps = self.timeline.steps
        if steps and trainer.step - steps[-1] < self.stride:
            return
        self.keep(trainer.step, progress_frame(trainer))

    def keep(self, step: int, frame: Image.Image) -> None:
        self.timeline.steps.append(int(step))
        self.timeline.frames.append(frame)
        if len(self.timeline) > self.max_frames:
            self._thin()

    def finish(self, trainer) -> Timeline:
        """The timeline with the run's last step in it (called before saving)."""
        if not self.timeline.steps or self.timeline.steps[-1] != trainer.step:
            if self.timeline.steps and trainer.step < self.timeline.steps[-1]:
                return self.timeline  # rolled back after a divergence: the frames already end later
            self.keep(trainer.step, progress_frame(trainer))
        return self.timeline

    def _thin(self) -> None:
        keep = list(range(0, len(self.timeline), 2))
        self.timeline.steps = [self.timeline.steps[i] for i in keep]
        self.timeline.frames = [self.timeline.frames[i] for i in keep]
        self.stride *= 2


def save_timeline(run_dir: str | Path, timeline: Timeline, fast: bool = False) -> Path:
    """Write run_dir/timeline.png: the frames stacked top to bottom, their steps in a PNG text chunk.
    The final save packs it with zlib's default level: 104 ms for 40 frames of 256 px against 428 ms for the
    smallest file's search (PIL's optimize), 8% more bytes (2.5% for a grey strip). fast: for a save a later one
    replaces (a run's periodic saves, in its training thread): level 1, 65 ms, 1.4x the bytes."""
    if not timeline.frames:
        raise ValueError("an empty timeline is not saved")
    first = timeline.frames[0]
    mode = "L" if all(f.mode == "L" for f in timeline.frames) else "RGB"
    strip = Image.new(mode, (first.width, first.height * len(timeline)))
    for i, frame in enumerate(timeline.frames):
        if frame.size != first.size:
            raise ValueError(f"timeline frames differ in size ({frame.size} after {first.size})")
        strip.paste(frame.convert(mode), (0, i * first.height))
    info = PngImagePlugin.PngInfo()
    info.add_text(TIMELINE_KEY, json.dumps({"steps": [int(s) for s in timeline.steps], "frame_height": first.height,
                                            "mode": mode}))
    buf = io.BytesIO()
    packing = {"compress_level": 1 if fast else 6}
    if mode == "L":  # 16 grey levels in 4 bits: a third of the bytes, and early noisy frames compress poorly
        strip = strip.point(lambda v: (v * 15 + 127) // 255).convert("P")
        strip.putpalette([level * 17 for level in range(16) for _ in range(3)])
        strip.save(buf, format="PNG", bits=4, pnginfo=info, **packing)
    else:
        strip.save(buf, format="PNG", pnginfo=info, **packing)
    path = Path(run_dir) / TIMELINE_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(path, lambda f: f.write(buf.getvalue()))
    return path


def read_timeline(run_dir: str | Path) -> Timeline | None:
    """The timeline saved in a run folder, or None when it has none; TimelineError when the file is unreadable
    or too large (its size and pixel count are checked before a pixel is decoded)."""
    path = Path(run_dir) / TIMELINE_FILE
    if not path.is_file():
        return None
    if path.stat().st_size > MAX_FILE_BYTES:
        raise TimelineError(f"{TIMELINE_FILE} is larger than {MAX_FILE_BYTES >> 20} MB")
    try:
        with Image.open(path) as strip:
            if strip.format != "PNG" or strip.width * strip.height > MAX_PIXELS:
                raise TimelineError(f"{TIMELINE_FILE} is not a PNG strip of at most {MAX_PIXELS} pixels")
            meta = json.loads(strip.text.get(TIMELINE_KEY, "null"))
            strip.load()
            strip = strip.convert("L" if isinstance(meta, dict) and meta.get("mode") == "L" else "RGB")
    except TimelineError:
        raise
    except (OSError, ValueError, Image.DecompressionBombError) as e:
        raise TimelineError(f"{TIMELINE_FILE} is not readable ({type(e).__name__})") from None
    steps = meta.get("steps") if isinstance(meta, dict) else None
    height = meta.get("frame_height") if isinstance(meta, dict) else None
    if (not isinstance(steps, list) or not steps or not all(isinstance(s, int) for s in steps)
            or not isinstance(height, int) or height < 1 or height * len(steps) != strip.height
            or any(b <= a for a, b in zip(steps, steps[1:]))):
        raise TimelineError(f"{TIMELINE_FILE} does not hold a gan_demo timeline (steps and frame height)")
    frames = [strip.crop((0, i * height, strip.width, (i + 1) * height)) for i in range(len(steps))]
    return Timeline(steps=list(steps), frames=frames)
