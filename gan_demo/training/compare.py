"""Two runs side by side, A and B: the same seed and data, started together, kept at the same step, saved as one folder.

A comparison is how the app teaches: change one thing (the loss, D's learning rate, augmentation)
and watch both runs at once. The two Trainers run in their own threads; a Lockstep keeps a run
that is ahead waiting while the other is still training, so the pictures and curves shown side by
side are at the same step (a run paused, stopped or finished on its own no longer holds the other back).
Never imports gradio.
"""
from __future__ import annotations

import json
import threading
from pathlib import Path

from gan_demo.core.config import ConfigError, RunConfig, section_of
from gan_demo.data.datasets import Dataset
from gan_demo.training.run_loop import exiting
from gan_demo.training.trainer import Trainer, pause_together

LABELS = ("A", "B")
COMPARISON_FILE = "comparison.json"  # beside the two run folders A/ and B/ of a saved comparison
FORMAT_VERSION = 1
WAIT_S = 0.05  # a run ahead re-checks this often whether the other has caught up (or was paused or stopped)


def _flat(cfg: RunConfig) -> dict:
    """A config's web-visible settings by name (auto values stay None), plus family and schedule."""
    home = section_of()
    d = cfg.to_dict()
    out = {name: (d[name] if section == "run" else d.get(section, {}).get(name)) for name, section in home.items()}
    out["schedule"] = d.get("schedule") or []
    return out


def differences(a: RunConfig, b: RunConfig) -> dict[str, tuple]:
    """{setting: (A's value, B's value)} for every setting that differs (None = auto), in config order."""
    fa, fb = _flat(a), _flat(b)
    return {name: (fa[name], fb[name]) for name in fa if fa[name] != fb[name]}


def check_pair(a: RunConfig, b: RunConfig) -> None:
    """A comparison's runs start from the same seed and the same data; ConfigError says which differs."""
    for name, va, vb in (("seed", a.train.seed, b.train.seed), ("dataset", a.data.dataset, b.data.dataset),
                         ("n_points", a.data.n_points, b.data.n_points)):
        if va != vb:
            raise ConfigError(f"{name}: a comparison's two runs share it (A has {va!r}, B {vb!r}); "
                              "change what you want to compare, not the data or the seed")


def describe(diff: dict[str, tuple]) -> str:
    """B's differences in words: "loss minimax -> wgan-gp, n_critic 1 -> 5" ("the same settings" if none)."""
    if not diff:
        return "the same settings"
    def show(v):
        return "auto" if v is None else ("schedule of %d change(s)" % len(v) if isinstance(v, list) else str(v))
    return ", ".join(f"{name} {show(va)} → {show(vb)}" for name, (va, vb) in diff.items())


class Lockstep:
    """Paces a group of trainers (Trainer.pace): a run more than `slack` steps ahead of another run that is
    still training waits for it. A run that is paused, stopping or ended holds nobody back."""

    def __init__(self, trainers, slack: int = 0):
        self.trainers = list(trainers)
        self.slack = slack
        self._cond = threading.Condition()
        for trainer in self.trainers:
            trainer.pace = self

    def __call__(self, trainer: Trainer) -> None:
        with self._cond:
            self._cond.notify_all()  # this run took a step: a run waiting for it may go on
            while not trainer.stop_requested and not exiting() and trainer.state == "running" and self._behind(trainer):
                self._cond.wait(WAIT_S)

    def _behind(self, trainer: Trainer) -> bool:
        return any(o is not trainer and o.state == "running" and o.step < trainer.step - self.slack
                   and o.step < o.target_steps for o in self.trainers)


class Comparison:
    """Runs A and B, built and started together; pause, resume, stop and single steps act on both or on one."""

    def __init__(self, cfg_a: RunConfig, cfg_b: RunConfig, device=None, datasets: dict[str, Dataset] | None = None,
                 slack: int = 0, live_quality=None):
        check_pair(cfg_a, cfg_b)
        datasets = datasets or {}
        # Each run loads its own copy of the data: a run that ends frees its copy while the other trains on.
        self.runs = {label: Trainer(cfg, device=device, dataset=datasets.get(label), live_quality=live_quality)
                     for label, cfg in zip(LABELS, (cfg_a, cfg_b))}
        self.started = dict(zip(LABELS, (cfg_a, cfg_b)))  # the settings as started (auto kept auto): their commands
        self.diff = differences(self.runs["A"].cfg, self.runs["B"].cfg)  # resolved: "auto" shown as its value
        self.lockstep = Lockstep(self.runs.values(), slack)

    # ------------------------------------------------------------ control
    def pick(self, which: str | None = None) -> list[Trainer]:
        """The runs an action applies to: "both" (or None), "A" or "B"."""
        if which in (None, "both"):
            return list(self.runs.values())
        if which not in self.runs:
            raise ValueError(f"which: A, B or both (got {which!r})")
        return [self.runs[which]]

    def start(self) -> None:
        for trainer in self.runs.values():
            trainer.start()

    def pause(self, which: str | None = None) -> None:
        pause_together(self.pick(which))  # the runs stop at the same step, neither running on alone

    def resume(self, which: str | None = None) -> None:
        for trainer in self.pick(which):
            trainer.resume()

    def stop(self, which: str | None = None, message: str = "") -> None:
        for trainer in self.pick(which):
            trainer.stop(message)

    def join(self, timeout: float | None = None) -> None:
        for trainer in self.runs.values():
            trainer.join(timeout)

    def step(self, which: str | None = None) -> dict[str, dict]:
        """One training step of each picked run that is paused (step-by-step mode); {label: its record}."""
        out = {}
        for label, trainer in self.runs.items():
            if trainer in self.pick(which) and trainer.state == "paused" and trainer.step < trainer.target_steps:
                trainer.flush()  # the steps the loop took before pausing go into the history first
                rec = trainer.step_once()
                trainer.history.add(rec)
                out[label] = rec.to_dict()
        return out

    @property
    def running(self) -> int:
        """How many of the two runs' threads live (each holds a slot of the server's run cap)."""
        return sum(trainer.running for trainer in self.runs.values())

    def snapshot(self) -> dict:
        """Both runs' snapshots by label, and what B changes."""
        return {"runs": {label: trainer.snapshot() for label, trainer in self.runs.items()},
                "differences": {name: list(pair) for name, pair in self.diff.items()}}

    # ------------------------------------------------------------ saving
    def save(self, folder: str | Path) -> Path:
        """folder/A and folder/B (each a run folder that rebuilds and explores alone) and comparison.json
        (what B changes and both runs' curves, so a reopened comparison shows them again)."""
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        for label, trainer in self.runs.items():
            trainer.save(folder / label)
        summary = {"format_version": FORMAT_VERSION,
                   "differences": {name: list(pair) for name, pair in self.diff.items()},
                   "runs": {label: _curves(trainer) for label, trainer in self.runs.items()}}
        tmp = folder / (COMPARISON_FILE + ".tmp")
        tmp.write_text(json.dumps(summary))
        tmp.replace(folder / COMPARISON_FILE)
        return folder


def _curves(trainer: Trainer) -> dict:
    snap = trainer.snapshot()
    return {"step": snap["step"], "state": snap["state"], "family": snap["family"], "series": snap["series"],
            "history": snap["history"], "quality_history": snap["quality_history"]}


def read_summary(folder: str | Path) -> dict:
    """A saved comparison's comparison.json: {"differences", "runs": {label: {"step", "history", ...}}}."""
    path = Path(folder) / COMPARISON_FILE
    try:
        summary = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise ConfigError(f"{COMPARISON_FILE}: cannot read it ({exc})") from None
    if not isinstance(summary, dict) or set(summary.get("runs", {})) != set(LABELS):
        raise ConfigError(f"{COMPARISON_FILE}: not a saved comparison of runs A and B")
    return summary
