"""The 2D lab's picture of a run (D's decision map, G's pull and manifold over the real points), shared by the
Lab and Compare tabs; no gradio here."""
from __future__ import annotations

import threading
import weakref
from dataclasses import dataclass

import torch
from PIL import Image

from gan_demo.explore.lab import lab_state
from gan_demo.render.viz import default_bounds, lab_image
from gan_demo.training.trainer import Trainer

PICTURE_SIZE = 512  # pixels
HEAT_RES = 64  # D is evaluated on a HEAT_RES x HEAT_RES grid
N_FAKE = 512  # generated points drawn (a fixed noise batch, so steps can be compared point by point)
N_REAL = 1000  # real points drawn


@dataclass
class _View:
    """What stays fixed while a run trains: the picture's bounds and the real points drawn."""

    bounds: tuple[float, float, float, float]
    real: torch.Tensor  # (N_REAL, 2) CPU
    d_only_steps: int = 0  # D-only updates so far (they change the picture without a new step)


_views: "weakref.WeakKeyDictionary[Trainer, _View]" = weakref.WeakKeyDictionary()
_views_lock = threading.Lock()


def view_of(trainer: Trainer) -> _View:
    """The run's fixed view: bounds from the real data (so the picture never jumps) and a real subset."""
    with _views_lock:
        view = _views.get(trainer)
        if view is None:
            x = trainer.dataset.x.detach().float().cpu()
            pick = torch.randperm(len(x), generator=torch.Generator().manual_seed(0))[:N_REAL]
            view = _views[trainer] = _View(bounds=default_bounds(x), real=x[pick])
        return view


def lab_picture(trainer: Trainer, show) -> tuple[Image.Image, dict]:
    """The run's lab numbers (lab_state) and its picture with the layers in `show`."""
    state = lab_state(trainer, view_of(trainer).bounds, res=HEAT_RES, n_fake=N_FAKE)
    return render(trainer, show, state), state


def render(trainer: Trainer, show, state: dict) -> Image.Image:
    """The lab picture of a 2D run from its lab_state: real and generated points plus the layers in `show`."""
    view = view_of(trainer)
    show = set(show or ())
    return lab_image(view.real, state["fake"], view.bounds,
                     heat=state["heat"] if "heat map" in show else None,
                     grads=state["grads"] if "arrows" in show else None,
                     manifold=state["manifold"] if "manifold" in show else None,
                     size=PICTURE_SIZE)


def pull(state: dict) -> float:
    """Mean length of G's gradient on its samples, |dL_G/dx|: how hard the loss pulls them (the arrows are scaled)."""
    return float(state["grads"].norm(dim=1).mean())


def in_lab(trainer: Trainer | None) -> bool:
    """Whether the lab can show this run: a GAN (it draws D's map and G's pull) on 2D points, trained in this
    process (the lab reads and steps its nets directly; a run on Ray shows its status line only)."""
    return (trainer is not None and trainer.kind == "2d" and not getattr(trainer, "remote", False)
            and trainer.family.critic is not None)
