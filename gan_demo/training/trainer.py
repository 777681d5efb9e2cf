"""Trainer: any model family's steps, a background run loop with pause/resume/stop, batched read-back, named history, rollback.

Knows nothing of G or D (minGPT's Trainer "has nothing to do with GPT"): the family built from
the config (gan_demo.families) owns its networks, optimizers and train_step. Never imports
gradio: the CLI registers a callback that prints, the UI polls snapshot().
"""
from __future__ import annotations

import dataclasses
import math
import threading
import time
from collections import deque
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Callable

import torch

from gan_demo.core import distributed
from gan_demo.core.config import LIVE_SETTINGS, RunConfig, apply_live, check_live_values, live_section
from gan_demo.data.datasets import Dataset, load_dataset
from gan_demo.core.step_utils import (BLOWUP, StepContext, all_finite, autocast, bf16_autocast, copied_state, data_scale, native_bf16, resolve_device,
                     z_from_seed)
from gan_demo.families import FAMILIES
from gan_demo.data.image_cache import to_unit
from gan_demo.training.eta import WINDOW_S as ETA_WINDOW_S, eta_from_marks
from gan_demo.training.run_loop import HANDOVER_S, HandoverLock, RunControl, RunLoop, solo_loop

__all__ = ["Trainer", "StepRecord", "QualityRecord", "History", "HandoverLock", "resolve_device", "native_bf16", "BLOWUP",
           "HANDOVER_S", "pause_together"]

STATES = ("idle", "running", "paused", "stopped", "finished", "diverged", "failed")
FIXED_BATCH_IMAGES = 64  # progress-grid images (8 x 8) for unconditional image models
FIXED_BATCH_POINTS = 1024  # generated points shown for 2D sets
PAUSE_WAIT_S = 5.0  # pause() waits at most this long for the loop to take the pause (a step in flight to end)
GOOD_STATE_EVERY = 50  # steps between snapshots of known-good weights (divergence rollback)
READBACK_STEPS = 32  # the run loop reads the step numbers back (one host sync) after this many steps...
READBACK_S = 0.25  # ...or this many seconds, whichever comes first, and whenever it pauses or ends (one process only:
# under torchrun every rank reads back at the same step numbers, never by the clock, or the ranks would hang)


@dataclass
class StepRecord:
    """One training step's numbers: the family's named series (a GAN's loss_d, loss_g, d_real, d_fake,
    grad_norm_d, grad_norm_g; a VAE's loss, recon, kl, ...), readable as attributes (rec.loss_d)."""

    step: int  # steps taken after this record
    values: dict[str, float]  # series name -> value, in the family's order
    seconds: float = 0.0  # wall time of this step
    bounded: tuple[str, ...] = field(default=(), repr=False)  # series that have exploded beyond BLOWUP

    def __getattr__(self, name: str) -> float:
        values = self.__dict__.get("values")
        if values is not None and name in values:
            return values[name]
        raise AttributeError(f"{type(self).__name__} has no series {name!r}")

    def __reduce__(self):
        # Pickled by its fields: the default would look up __setstate__ through __getattr__ above, an
        # AttributeError per record (3x the time of a checkpoint's history pulled from a Ray worker).
        return (type(self), (self.step, self.values, self.seconds, self.bounded))

    def finite(self) -> bool:
        """False once training has blown up: a NaN or infinite value, or a bounded one gone astronomical."""
        return (all(math.isfinite(v) for v in self.values.values())
                and all(abs(self.values[n]) < BLOWUP for n in self.bounded if n in self.values))

    def to_dict(self) -> dict:
        """{"step", every series, "seconds"}: plain data for snapshot() and the UI."""
        return {"step": self.step, **self.values, "seconds": self.seconds}


@dataclass
class QualityRecord:
    """How close a 2D run's samples are to the data, from the sampling net on the fixed noise batch;
    for stacked-digits, its 1,000 modes counted and no grid figures (measured by gan_demo.evaluation.live_quality)."""

    step: int  # steps taken when measured
    grid_kl: float | None = None  # KL(real || generated) on a 20 x 20 grid (GAN Lab's measure; 0 = same histogram)
    grid_js: float | None = None  # Jensen-Shannon divergence on the same grid (0 .. ln 2 = 0.69)
    modes_covered: int | None = None  # Gaussian mixtures only: modes with enough high-quality samples
    n_modes: int | None = None  # Gaussian mixtures only: modes in all
    high_quality: float | None = None  # Gaussian mixtures only: share of samples within 3 sigma of a mode
    mode_kl: float | None = None  # Gaussian mixtures only: KL of the mode histogram from uniform

    def to_dict(self) -> dict:
        return asdict(self)


class History:
    """Records with flat memory: past max_points, every other point is dropped and the stride doubles.

    names: the columns (attributes of the records); default those of a QualityRecord-like dataclass
    record_type, or "step" alone."""

    def __init__(self, max_points: int = 2000, record_type: type | None = None, names: tuple[str, ...] | None = None):
        self.max_points = max_points
        self.stride = 1
        self.records: list = []
        if names is None:
            names = tuple(f.name for f in fields(record_type)) if record_type is not None else ("step",)
        self.names = names

    def add(self, rec) -> None:
        if rec.step % self.stride:
            return
        self.records.append(rec)
        if len(self.records) > self.max_points:
            self.stride *= 2
            self.records = [r for r in self.records if r.step % self.stride == 0]

    def columns(self) -> dict[str, list]:
        return {n: self._column(n) for n in self.names}

    def _column(self, name: str) -> list:
        records = self.records
        if records and isinstance(records[0], StepRecord) and name not in records[0].__dict__:
            try:  # a series: read from each record's values, not through StepRecord.__getattr__ (5x slower)
                return [r.values[name] for r in records]
            except KeyError:
                pass  # a record without it: getattr below raises as it always did
        return [getattr(r, name) for r in records]

    def __len__(self) -> int:
        return len(self.records)


def _step_values(out: dict[str, torch.Tensor], series: tuple[str, ...]) -> torch.Tensor:
    """A step's series as one float tensor on the device (reading it back is one host sync)."""
    return torch.stack([out[n].float().reshape(()) for n in series])


class Trainer:
    """Trains one model family (cfg.family: a GAN, a VAE) in steps or in a background thread.

    Owns what every family shares: the device and precision, the seeded data and noise stream, the
    run thread (pause/resume/stop), batched read-back into a history of the family's named series,
    divergence rollback through the family's state dict, checkpoints, and the live quality figures measured by
    the live_quality callback it is handed (gan_demo.evaluation.live_quality).
    The family (self.family) owns its networks, optimizers and phases: callers reach them there
    (trainer.family.G; the 2D lab's single steps are run_phase("d") and run_phase("g")).

    dist (gan_demo.core.distributed.Dist): this process's place under torchrun; each rank trains on its
    share of the global batch, with data and noise seeded by seed + rank and averaged gradients.
    """

    def __init__(self, cfg: RunConfig, device: str | torch.device | None = None, dataset: Dataset | None = None,
                 dist: distributed.Dist | None = None, live_quality: Callable[["Trainer"], object] | None = None):
        self.dist = dist if dist is not None else distributed.SINGLE
        self.device = resolve_device(device if device is not None else cfg.train.device)
        cfg = dataclasses.replace(cfg, train=dataclasses.replace(cfg.train, world_size=self.dist.world_size))
        cfg.validate()
        cfg.resolved()  # the defaults filled in and checked too (the batch against the processes) before any data loads
        if dataset is None:  # under torchrun the master downloads first, then the others load
            dataset = distributed.master_first(lambda: load_dataset(cfg.data, self.device), self.dist)
        self.dataset = dataset
        ds = self.dataset
        self.cfg = cfg.resolved(
            channels=ds.channels if ds.kind == "image" else None,
            n_classes=ds.n_classes,
            data_dim=ds.data_dim if ds.kind == "2d" else 2,
            data_scale=data_scale(ds) if cfg.step == 0 else None,
            n_images=len(ds) if ds.kind == "image" else None,  # augment "auto" (a resumed run keeps what it chose)
        )
        if self.cfg.model.conditional and ds.n_classes == 0:
            raise ValueError(f"conditional: dataset {ds.name!r} has no labels")
        t, m = self.cfg.train, self.cfg.model
        self.kind = ds.kind
        self.batch_size = distributed.local_batch(t.batch_size, self.dist)  # this rank's share of the global batch
        # Training noise and data indices come from one seeded generator on the device (seed + rank).
        self.gen = torch.Generator(device=self.device).manual_seed(distributed.seed_for(t.seed, self.dist))
        # bf16 autocast for the convolutions of image models, by default on GPUs with native bf16 only (on a
        # CPU it was no faster alone and ~75x slower beside a busy process: BENCHMARKS.md section 17); 2D points
        # stay fp32 (tiny MLPs, and coordinates need the bits).
        use_amp = ds.kind == "image" and bf16_autocast(t.amp, self.device)
        # The family trains through this context: data and noise by this trainer's methods (a subclass may
        # change how they are drawn), gradients averaged over the processes between backward and step.
        self.ctx = StepContext(device=self.device, generator=self.gen, batch_size=self.batch_size,
                               draw=self._real_batch, noise=self._noise, sync_grads=self._sync_grads, use_amp=use_amp,
                               interrupted=self._interrupted)
        self.family = FAMILIES[self.cfg.family](self.cfg, self.ctx, dist=self.dist)  # weights from the seed alone
        self.family.step = self.cfg.step

        # The progress grid: a fixed noise batch drawn on the CPU, so a seed is the same picture everywhere.
        if ds.kind == "2d":
            n_fixed = FIXED_BATCH_POINTS
        elif m.n_classes:
            n_fixed = m.n_classes * 8
        else:
            n_fixed = FIXED_BATCH_IMAGES
        self.fixed_z = z_from_seed(t.seed + 1, m.z_dim, n_fixed)
        self.fixed_y = torch.arange(n_fixed) % m.n_classes if m.n_classes else None

        # Run-loop state.
        self.series = tuple(self.family.series)  # the named numbers of each step, in order
        self.history = History(names=("step", *self.series, "seconds"))
        self.state = "idle"
        self.message = ""
        self.target_steps = t.steps
        self.callbacks: list[Callable[["Trainer", StepRecord], None]] = []
        self.pace: Callable[["Trainer"], None] | None = None  # called before each step of the run loop (gan_demo.training.compare.Lockstep)
        self.lock = HandoverLock()  # held for each step; take it to read models consistently
        self.control = RunControl()  # pause/resume/stop, read by the loop that steps this run
        self.loop: RunLoop | None = None  # the thread stepping this run alone (start); a pool steps it otherwise
        self.pooled: threading.Event | None = None  # while a pool steps this run: set when the pool lets it go
        self.pool_note: str | None = None  # why RunPools trained this run alone, if it did
        self._stop_agreed = False  # under torchrun: some rank asked to stop, as agreed at the last read-back
        self._rate = deque(maxlen=50)  # (time, step) for steps/s
        self._good_state = None
        self._good_step = -1
        self._pending: list[tuple[int, torch.Tensor, float]] = []  # (step, its numbers on the device, seconds)
        self.last_record: StepRecord | None = None
        self.error: Exception | None = None
        # Settings changed while training (the app's live controls) and a replayed schedule (--schedule):
        # cfg.schedule records every change at the step it took effect; a resumed run has already applied
        # the entries up to its step (its config holds their values).
        self._queued_changes: dict = {}
        self._changes_lock = threading.Lock()
        self.settings_changed = 0  # how many times settings changed while training (a pool re-checks its key then)
        self._next_change = sum(1 for entry in self.cfg.schedule if entry["step"] < self.step or
                                (self.step > 0 and entry["step"] == self.step))

        # Live quality figures (2D runs, stacked digits): measured by the callback the caller hands in.
        self.quality_history = History(record_type=QualityRecord)
        self.last_quality: QualityRecord | None = None
        self._live_quality = live_quality(self) if live_quality is not None else None
        self.quality_every = self._live_quality.every if self._live_quality is not None else 0

    # ------------------------------------------------------------------ steps
    @property
    def step(self) -> int:
        """Steps taken (the family counts them: a GAN's G updates, a VAE's ELBO steps)."""
        return self.family.step

    @step.setter
    def step(self, value: int) -> None:
        self.family.step = int(value)

    @property
    def use_amp(self) -> bool:
        """bf16 autocast in the family's forward passes (the bench switches it)."""
        return self.ctx.use_amp

    @use_amp.setter
    def use_amp(self, value: bool) -> None:
        self.ctx.use_amp = bool(value)

    @property
    def precision(self) -> str:
        """What the training step computes in: "bf16 autocast" or "fp32"."""
        return "bf16 autocast" if self.use_amp else "fp32"

    def _autocast(self):
        return autocast(self.device, self.use_amp)

    def _noise(self, n: int) -> torch.Tensor:
        return torch.randn(n, self.cfg.model.z_dim, generator=self.gen, device=self.device)

    def _real_batch(self, n: int) -> tuple[torch.Tensor, torch.Tensor | None]:
        """n real samples (and labels) drawn by this rank's generator."""
        return self.dataset.sample(n, self.gen)

    def _sync_grads(self, module: torch.nn.Module) -> None:
        """Between backward and the optimizer step: module's gradients averaged over the ranks (no-op in one process)."""
        distributed.average_gradients(module, self.dist)

    def change(self, **settings) -> None:
        """Change live settings (config.LIVE_SETTINGS for the run's family) from the next step on.

        Checked here (ConfigError naming the setting); applied at the next step boundary, where it is
        recorded in cfg.schedule, so the checkpoint keeps it and `--schedule` replays it."""
        check_live_values(self.cfg.family, settings)
        trial = RunConfig.from_dict({**self.cfg.to_dict(), "schedule": []})
        apply_live(trial, settings)
        trial.validate()
        with self._changes_lock:
            self._queued_changes.update(settings)

    def _apply_due_changes(self) -> None:
        """At a step boundary (the lock held): the schedule's entries for this step, then queued live changes."""
        schedule = self.cfg.schedule
        due = {}
        while self._next_change < len(schedule) and schedule[self._next_change]["step"] <= self.step:
            due.update({k: v for k, v in schedule[self._next_change].items() if k != "step"})
            self._next_change += 1
        with self._changes_lock:
            live, self._queued_changes = self._queued_changes, {}
        if live:
            schedule.insert(self._next_change, {"step": self.step, **live})  # before any later replayed entry
            self._next_change += 1
            due.update(live)
        if due:
            apply_live(self.cfg, due)
            self.family.apply_settings(due)
            self.settings_changed += 1

    def _step_tensors(self) -> tuple[dict[str, torch.Tensor], float]:
        self._apply_due_changes()
        start = time.perf_counter()
        out = self.family.train_step()
        return out, time.perf_counter() - start

    def step_once(self) -> StepRecord:
        """One training step of the family (a GAN: n_critic D steps, then one G step). Returns its record
        (reads it back at once)."""
        with self.lock:
            out, seconds = self._step_tensors()
            rec = self._record(out, seconds)
            self.last_record = rec
            return rec

    def _queue_step(self) -> None:
        """One step whose numbers stay on the device until _read_back (no host sync here)."""
        with self.lock:
            out, seconds = self._step_tensors()
            self._pending.append((self.step, _step_values(out, self.series), seconds))
            self._rate.append((time.perf_counter(), self.step))  # host-side facts: no need to wait for the read

    def run_phase(self, name: str) -> dict[str, float]:
        """One of the family's phases alone (the 2D lab's step-by-step mode), its numbers read back.
        A GAN has "d" (one discriminator update) and "g" (one generator update, which counts as a step)."""
        phases = self.family.phases
        if name not in phases:
            raise ValueError(f"phase: the {self.family.name} family has {', '.join(phases)} (got {name!r})")
        with self.lock:
            self._apply_due_changes()
            return {k: float(v) for k, v in phases[name]().items()}

    def _make_record(self, step: int, row: list[float], seconds: float) -> StepRecord:
        return StepRecord(step, dict(zip(self.series, row)), seconds, self.family.bounded)

    def _record(self, out: dict[str, torch.Tensor], seconds: float) -> StepRecord:
        return self._make_record(self.step, _step_values(out, self.series).tolist(), seconds)  # one host sync

    def _read_back(self) -> bool:
        """Turn the queued steps into records (one host sync for all of them), check them, keep them,
        and tell the callbacks. False when training has diverged (weights are then rolled back).

        Under torchrun every rank calls this at the same step numbers; one all-reduce averages the
        records over the ranks and agrees on divergence and stop, so all ranks branch alike."""
        with self.lock:
            if not self._pending:
                return True
            stacked = torch.stack([values for _, values, _ in self._pending])  # (steps, len(series))
            rows = stacked.tolist()
            records = [self._make_record(step, row, seconds) for (step, _, seconds), row in zip(self._pending, rows)]
            bad = next((i for i, rec in enumerate(records) if not rec.finite()), None)
            if self.dist.active:
                rows, bad, self._stop_agreed = distributed.agree_on_read_back(stacked, bad, self.control.stop_requested, self.dist)
                records = [self._make_record(step, row, seconds) for (step, _, seconds), row in zip(self._pending, rows)]
            for i, rec in enumerate(records):
                if i == bad:
                    self._pending.clear()
                    good = self._restore_good_state()
                    self._forget_after(good)
                    self.state = "diverged"
                    self.message = f"diverged at step {rec.step}; lower the learning rate (weights restored to step {good})"
                    return False
                self.last_record = rec
                self.history.add(rec)
            measure = (self.quality_every
                       and (self.last_quality is None or self.step - self.last_quality.step >= self.quality_every))
            if measure:
                self._measure_quality()
            if self.step - self._good_step >= GOOD_STATE_EVERY:
                self._save_good_state()
            # Last: snapshot() (which takes no lock) shows these steps once their quality figures are in.
            self._pending.clear()
        for rec in records:
            for fn in self.callbacks:
                fn(self, rec)
        return True

    def flush(self) -> bool:
        """Read back the steps whose numbers are still on the device (as the run loop does when it pauses);
        False if they show a divergence. For single steps taken by hand while the loop waits."""
        return self._read_back()

    def _measure_quality(self) -> None:
        """The live quality figures of the sampling net (the live_quality callback's measure), into quality_history."""
        self.last_quality = QualityRecord(self.step, **self._live_quality.measure(self.generate))
        self.quality_history.add(self.last_quality)

    # -------------------------------------------------------- divergence guard
    def _save_good_state(self) -> None:
        finite = all(all_finite(net) for net in self.family.networks.values())
        if not distributed.all_agree(finite, self.dist, self.device):
            return
        self._good_state = copied_state(self.family.state_dict())  # nets, optimizers and the step
        self._good_step = self.step

    def _forget_after(self, step: int) -> None:
        """After a rollback to `step`: the records of the undone steps no longer describe the weights."""
        for history in (self.history, self.quality_history):
            history.records = [r for r in history.records if r.step <= step]
        self.last_record = self.history.records[-1] if self.history.records else None
        if self.last_quality is not None and self.last_quality.step > step:
            self.last_quality = self.quality_history.records[-1] if self.quality_history.records else None

    def _restore_good_state(self) -> int:
        if self._good_state is None:
            return self.step
        self.family.load_state_dict(self._good_state)
        # The weights go back; the settings stay as the user last set them (the optimizers' saved learning
        # rates would otherwise undo a change made since).
        self.family.apply_settings({name: value for name, value in self._live_values().items() if value is not None})
        return self.step

    def _live_values(self) -> dict:
        """The current value of every live setting of this run's family."""
        return {name: getattr(live_section(self.cfg, name), name) for name in LIVE_SETTINGS.get(self.cfg.family, ())}

    # ---------------------------------------------------------------- run loop
    def add_callback(self, fn: Callable[["Trainer", StepRecord], None]) -> None:
        """fn(trainer, record) runs in the training thread after every step."""
        self.callbacks.append(fn)

    def start(self, steps: int | None = None, paused: bool = False) -> None:
        """Train in a background thread until `steps` total steps (default cfg.train.steps); paused: the thread
        starts paused and steps nothing until resume (the 2D lab's step mode)."""
        with self.lock:
            self.prepare_start(steps, paused)
            self.loop = solo_loop(self)
            self.loop.start()

    def prepare_start(self, steps: int | None = None, paused: bool = False) -> None:
        """The run's side of a start (the lock held), whichever loop then steps it: a solo thread or a pool.
        paused: paused before any loop can see it, so its first look finds the pause (no step is taken first)."""
        if self.running:
            raise RuntimeError("a run is already in progress")
        self.target_steps = steps if steps is not None else self.cfg.train.steps
        self.control.reset()
        self.state = "running"
        if paused:
            self.pause(wait=False)
        self.message = ""
        self.error = None
        self._stop_agreed = False
        self._rate.clear()

    def run(self, steps: int | None = None) -> str:
        """Train in the calling thread (the CLI); returns the final state."""
        self.start(steps)
        self.join()
        if self.error is not None:
            raise self.error
        return self.state

    def pause(self, wait: bool = True) -> None:
        """The app's pause (one process; under torchrun a paused rank would leave the others waiting). Returns once
        the loop stepping the run has taken the pause (the step in flight ended and was read back: the status,
        the history and the curves then show the same step), or after PAUSE_WAIT_S. wait=False: at once (runs
        paused together, a comparison's two: pause_together)."""
        if self.state == "running" and not self.dist.active:
            self.control.pause()
            self.state = "paused"
            if wait:
                self.wait_paused()

    def wait_paused(self) -> None:
        """Until the pause holds (see pause), at most PAUSE_WAIT_S."""
        if self.state == "paused" and self.running:
            self.control.halted.wait(PAUSE_WAIT_S)

    def resume(self) -> None:
        if self.state == "paused":
            self.state = "running"
            self.control.resume()

    def stop(self, message: str = "") -> None:
        """Stop at the next step boundary; the state reads "stopping" until the thread has ended."""
        self.control.stop_event.set()
        if self.running and self.state in ("running", "paused"):
            self.state = "stopping"
            if message:
                self.message = message
        self.control.stop()

    @property
    def paused_at(self) -> float | None:
        """time.monotonic() of the pause, while paused (the app's slot limit)."""
        return self.control.paused_at

    @paused_at.setter
    def paused_at(self, value: float | None) -> None:
        self.control.paused_at = value

    def release_training(self) -> None:
        """Free what only training needs once a run has ended (optimizers, rollback copy, image data);
        the networks stay for sampling, scoring and saving (a saved run then has no optimizer state)."""
        if self.running:
            raise RuntimeError("release_training: the run is still going")
        with self.lock:
            self.family.release_optimizers()
            self._good_state = None
            self._pending.clear()
            if self.kind == "image":
                self.dataset.x = self.dataset.x[:0]
                if self.dataset.y is not None:
                    self.dataset.y = self.dataset.y[:0]

    @property
    def holds_optimizers(self) -> bool:
        """False once release_training has dropped the family's optimizer state."""
        return any(opt is not None for opt in self.family.optimizers.values())

    def join(self, timeout: float | None = None) -> None:
        """Wait for the run to end: its own thread, or its pool's letting it go (a run that moves from
        a pool to another or to a thread of its own is followed there)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            loop, pooled = self.loop, self.pooled
            left = None if deadline is None else max(0.0, deadline - time.monotonic())
            if pooled is not None and not pooled.is_set():
                pooled.wait(left)
            elif loop is not None and loop.alive:
                loop.join(left)
            else:
                return
            if deadline is not None and time.monotonic() >= deadline:
                return

    @property
    def stop_requested(self) -> bool:
        """Stop was asked for (the run ends at its next step boundary)."""
        return self.control.stop_requested

    @property
    def running(self) -> bool:
        """Its own thread is alive, or a pool is stepping it."""
        if self.loop is not None and self.loop.alive:
            return True
        return self.pooled is not None and not self.pooled.is_set()

    def _interrupted(self) -> bool:
        """Whether the step in progress should end between its phases: Stop was asked for, in the run's own
        loop (a single step asked for by hand always completes), in one process (under torchrun ranks
        stop only at the step boundaries they agreed on)."""
        return (self.control.stop_requested and not self.dist.active and self.loop is not None
                and self.loop.is_current())

    # The run's side of a step loop (gan_demo.training.run_loop.run_solo and gan_demo.training.pool call these).
    def begin_loop(self) -> None:
        """Before the first step of a loop: the known-good weights a divergence rolls back to."""
        self._save_good_state()

    def queue_step(self) -> None:
        self._queue_step()

    def apply_due_changes(self) -> None:
        """At a step boundary (the lock held): scheduled and live setting changes (a pool steps the run)."""
        self._apply_due_changes()

    def queue_values(self, values: torch.Tensor, seconds: float) -> None:
        """A step computed elsewhere (a pool, the lock held): its numbers in series order, on the device."""
        self._pending.append((self.step, values, seconds))
        self._rate.append((time.perf_counter(), self.step))

    def read_back(self) -> bool:
        return self._read_back()

    def read_back_due(self, elapsed_s: float | None) -> bool:
        """Time to read back: READBACK_STEPS steps pending, or READBACK_S seconds since the last read
        (elapsed_s None: by step count only, as under torchrun)."""
        return len(self._pending) >= READBACK_STEPS or (elapsed_s is not None and elapsed_s >= READBACK_S)

    def stop_decided(self) -> bool:
        """Stop asked for: at once in one process; under torchrun only once all ranks agreed at a read-back."""
        return self._stop_agreed if self.dist.active else self.control.stop_requested

    _stop_decided = stop_decided

    def finish(self) -> None:
        """The loop ended without divergence or error: stopped or finished."""
        self.state = "stopped" if self.stop_decided() else "finished"

    def fail(self, exc: Exception) -> None:
        """The loop raised while stepping this run: kept for the caller instead of dying silently in a thread."""
        self._pending.clear()
        self.state = "failed"
        self.message = f"training failed: {type(exc).__name__}: {exc}"
        self.error = exc

    # ------------------------------------------------------------------ reading
    @property
    def steps_per_s(self) -> float:
        if len(self._rate) < 2:
            return 0.0
        (t0, s0), (t1, s1) = self._rate[0], self._rate[-1]
        return (s1 - s0) / (t1 - t0) if t1 > t0 else 0.0

    ETA_MARK_S = 0.5  # at most one (time, step) mark per this many seconds

    def _eta(self, remaining: int) -> tuple[float | None, float | None, float | None]:
        """(ETA, low, high) in seconds (gan_demo.training.eta.eta_from_marks) from the (time, step) marks of
        about the last ETA_WINDOW_S: each snapshot (the UI polls about every second) leaves one. Marks are
        dropped while the run does not train."""
        marks = self.__dict__.setdefault("_eta_marks", deque())
        if self.state != "running":
            marks.clear()
            return None, None, None
        now = time.monotonic()
        if not marks or now - marks[-1][0] >= self.ETA_MARK_S:
            marks.append((now, self.step))
        while len(marks) > 2 and now - marks[1][0] >= ETA_WINDOW_S:
            marks.popleft()
        return eta_from_marks(list(marks), remaining, self.steps_per_s)

    def snapshot(self, history: bool = True) -> dict:
        """A small, UI-free summary of the run: numbers and history, no pictures. history=False leaves out the
        curves ("history", "quality_history"): a status poll need not copy every recorded step."""
        rate = self.steps_per_s
        # Steps whose numbers are still on the device are not shown yet, so that the step, the last
        # record and the history describe the same moment (at most READBACK_S behind the training).
        step = self.step - len(self._pending)
        remaining = max(0, self.target_steps - step)
        eta, eta_low, eta_high = self._eta(remaining)
        out = {
            "step": step,
            "target_steps": self.target_steps,
            "state": self.state,
            "message": self.message,
            "steps_per_s": rate,
            "eta_s": eta,  # smoothed over about the last minute of steps (_eta)
            "eta_range_s": (eta_low, eta_high) if eta_low is not None and eta_high is not None else None,
            "device": str(self.device),
            "kind": self.kind,
            "precision": self.precision,
            "family": self.family.name,
            "series": list(self.series),  # the names in "last" and "history" besides step and seconds
            "last": self.last_record.to_dict() if self.last_record else None,
            "quality": self.last_quality.to_dict() if self.last_quality else None,
            "schedule": [dict(entry) for entry in self.cfg.schedule if entry["step"] <= step],  # changes made so far
        }
        if history:
            out.update(history=self.history.columns(), quality_history=self.quality_history.columns())
        return out

    @torch.no_grad()
    def generate(self, z: torch.Tensor, y: torch.Tensor | None = None, ema: bool = True) -> torch.Tensor:
        """Samples on the CPU: data coordinates for 2D sets, [0, 1] images otherwise.

        In the training's precision (bf16 autocast where it trains so): this draws the progress
        grid while training runs, and each such forward pass is CPU time taken from the training.
        Sliders, interpolation and `eval` sample in fp32 through gan_demo.explore.sampler.
        """
        net = self.family.decoder_net(ema)
        with self.lock, self._autocast():
            was_training = net.training
            net.eval()
            out = net(z.to(self.device), None if y is None else y.to(self.device)).float()
            net.train(was_training)
        out = out.cpu()
        return out if self.kind == "2d" else to_unit(out)

    def sample_fixed(self, ema: bool = True) -> torch.Tensor:
        """The sampling net (a GAN's G_ema, a VAE's decoder) on the fixed noise batch (the progress grid)."""
        return self.generate(self.fixed_z, self.fixed_y, ema=ema)

    # ------------------------------------------------------------- checkpoints
    def save(self, run_dir: str | Path) -> Path:
        from gan_demo.training.checkpoint import dataset_info_of, save_networks

        with self.lock:
            cfg = RunConfig.from_dict(self.cfg.to_dict())
            cfg.step = self.step
            return save_networks(run_dir, cfg, self.family.networks, self.family.optimizers,
                                 step=self.step, dataset_info=dataset_info_of(self.dataset))

    @classmethod
    def from_checkpoint(cls, run_dir: str | Path, device: str | torch.device | None = None,
                        dataset: Dataset | None = None, dist: distributed.Dist | None = None,
                        live_quality: Callable[["Trainer"], object] | None = None) -> "Trainer":
        """Rebuild a run to continue training: weights, optimizer state and step count.
        Under torchrun the master reads the folder and sends its contents to the other ranks."""
        dist = dist if dist is not None else distributed.SINGLE
        state = distributed.from_master(lambda: _resume_state(run_dir), dist)
        cfg = RunConfig.from_dict(state["config"])
        trainer = cls(cfg, device=device if device is not None else "auto", dataset=dataset, dist=dist,
                      live_quality=live_quality)
        trainer.family.load_state_dict(state["family"])
        # Continue the noise stream from a point that depends on the step, not on the first run.
        trainer.gen.manual_seed(distributed.seed_for(cfg.train.seed + trainer.step, dist))
        return trainer


def pause_together(runs) -> None:
    """Pause these runs in one moment (a comparison's two): every pause flag first, then wait for each pause to
    hold (Trainer.pause), so that no run trains on alone while another's pause is waited for."""
    runs = list(runs)
    for run in runs:
        run.pause(wait=False)
    for run in runs:
        run.wait_paused()


def _resume_state(run_dir: str | Path) -> dict:
    """A checkpoint folder as plain data on the CPU: its config and the family's state dict (networks,
    optimizer state where saved, step)."""
    from gan_demo.training.checkpoint import load_checkpoint

    ckpt = load_checkpoint(run_dir, "cpu")
    cfg = ckpt.cfg.to_dict()
    cfg["step"] = ckpt.step
    family = {name: net.state_dict() for name, net in ckpt.networks.items()}
    family.update(ckpt.opt_state or {})
    family["step"] = ckpt.step
    return {"config": cfg, "family": family}
