"""Trainer: one GAN step, a background run loop with pause/resume/stop, bounded history.

Never imports gradio: the CLI registers a callback that prints, the UI polls snapshot().
"""
from __future__ import annotations

import contextlib
import copy
import math
import threading
import time
from collections import deque
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Callable

import torch

from .config import RunConfig
from .data import Dataset, load_dataset
from .latent import z_from_seed
from .losses import d_loss, d_score, g_loss, gradient_penalty, r1_penalty
from .models import build_models
from .viz import to_unit

STEP_VALUES = ("loss_d", "loss_g", "d_real", "d_fake", "grad_norm_d", "grad_norm_g")  # StepRecord's numbers
STATES = ("idle", "running", "paused", "stopped", "finished", "diverged", "failed")
FIXED_BATCH_IMAGES = 64  # progress-grid images (8 x 8) for unconditional image models
FIXED_BATCH_POINTS = 1024  # generated points shown for 2D sets
GOOD_STATE_EVERY = 50  # steps between snapshots of known-good weights (divergence rollback)
BLOWUP = 1e6  # a loss or gradient norm beyond this has exploded even if it is still a finite float
READBACK_STEPS = 32  # the run loop reads the step numbers back (one host sync) after this many steps...
READBACK_S = 0.25  # ...or this many seconds, whichever comes first, and whenever it pauses or ends
QUALITY_EVERY = 25  # 2D runs: steps between quality figures (modes covered, grid KL/JS) in quality_history
QUALITY_REAL_POINTS = 2048  # 2D runs: real points the generated ones are compared with
HANDOVER_S = 0.05  # the run loop waits at most this long between two steps for a waiting reader to take the lock


def native_bf16(device: torch.device) -> bool:
    """True where bf16 matrix maths runs natively, so autocast pays: CUDA GPUs from Ampere on,
    x86 CPUs with AVX512-BF16 or AMX. Elsewhere bf16 would be emulated (slower than fp32)."""
    if device.type == "cuda":
        return torch.cuda.get_device_capability(device)[0] >= 8
    if device.type == "cpu":
        cpu = getattr(torch, "cpu", None)
        return any(bool(getattr(cpu, check, lambda: False)())
                   for check in ("_is_avx512_bf16_supported", "_is_amx_tile_supported"))
    return False


def resolve_device(name: str | torch.device = "auto") -> torch.device:
    """'auto' picks cuda, then mps, then cpu; other names are checked, not guessed."""
    if isinstance(name, torch.device):
        return name
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise ValueError("device: cuda was asked for but no CUDA GPU is available (use --device cpu or auto)")
    if name == "mps" and not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
        raise ValueError("device: mps was asked for but is not available (use --device cpu or auto)")
    return torch.device(name)


@dataclass
class StepRecord:
    step: int  # G steps taken after this record
    loss_d: float  # discriminator loss (penalties included)
    loss_g: float  # generator loss
    d_real: float  # mean D(x) on real data (probability for logistic losses, raw score otherwise)
    d_fake: float  # mean D(G(z)) before the D update
    grad_norm_d: float  # L2 norm of D's gradient (last critic step)
    grad_norm_g: float  # L2 norm of G's gradient
    seconds: float  # wall time of this step

    def finite(self) -> bool:
        """False once training has blown up: a NaN or infinite value, or a loss or gradient gone astronomical."""
        values = (self.loss_d, self.loss_g, self.d_real, self.d_fake, self.grad_norm_d, self.grad_norm_g)
        return all(math.isfinite(v) for v in values) and all(
            abs(v) < BLOWUP for v in (self.loss_d, self.loss_g, self.grad_norm_d, self.grad_norm_g))


@dataclass
class QualityRecord:
    """How close a 2D run's samples are to the data (gan_demo.metrics), from G_ema on the fixed noise batch;
    for stacked-digits, its 1,000 modes counted (gan_demo.stacked.LiveModes) and no grid figures."""

    step: int  # G steps taken when measured
    grid_kl: float | None = None  # KL(real || generated) on a 20 x 20 grid (GAN Lab's measure; 0 = same histogram)
    grid_js: float | None = None  # Jensen-Shannon divergence on the same grid (0 .. ln 2 = 0.69)
    modes_covered: int | None = None  # Gaussian mixtures only: modes with enough high-quality samples
    n_modes: int | None = None  # Gaussian mixtures only: modes in all
    high_quality: float | None = None  # Gaussian mixtures only: share of samples within 3 sigma of a mode
    mode_kl: float | None = None  # Gaussian mixtures only: KL of the mode histogram from uniform


class History:
    """Records with flat memory: past max_points, every other point is dropped and the stride doubles."""

    def __init__(self, max_points: int = 2000, record_type: type = StepRecord):
        self.max_points = max_points
        self.stride = 1
        self.records: list = []
        self.record_type = record_type

    def add(self, rec: StepRecord) -> None:
        if rec.step % self.stride:
            return
        self.records.append(rec)
        if len(self.records) > self.max_points:
            self.stride *= 2
            self.records = [r for r in self.records if r.step % self.stride == 0]

    def columns(self) -> dict[str, list]:
        names = [f.name for f in fields(self.record_type)]
        return {n: [getattr(r, n) for r in self.records] for n in names}

    def __len__(self) -> int:
        return len(self.records)


def _data_scale(ds: Dataset) -> float:
    """The spread of a 2D set (std over both axes), rounded so configs stay readable."""
    if ds.kind != "2d":
        return 1.0
    std = float(ds.x.float().std())
    return float(f"{max(std, 1e-3):.3g}")


def _grad_norm(params) -> torch.Tensor:
    grads = [p.grad for p in params if p.grad is not None]
    if not grads:
        return torch.zeros(())
    return torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(g.float()) for g in grads]))


@contextlib.contextmanager
def _frozen(module: torch.nn.Module):
    """Build the graph without weight gradients for module (D in the G step: they would be discarded)."""
    module.requires_grad_(False)
    try:
        yield
    finally:
        module.requires_grad_(True)  # autograd fixed what it needs when the graph was built


def _step_values(out: dict[str, torch.Tensor]) -> torch.Tensor:
    """A step's STEP_VALUES as one float tensor on the device (reading it back is one host sync)."""
    return torch.stack([out[n].float().reshape(()) for n in STEP_VALUES])


def _all_finite(module: torch.nn.Module) -> bool:
    checks = [torch.isfinite(t).all() for t in module.state_dict().values() if t.is_floating_point()]
    return bool(torch.stack(checks).all()) if checks else True  # one host sync, not one per tensor


class HandoverLock:
    """A re-entrant lock that knows whether someone is waiting for it.

    The run loop releases the trainer's lock after each step and takes it again at once, so a
    plain lock lets a reader (the progress grid, a slider on the live run) wait through two or
    three steps. The loop checks `waiting` between steps and lets the reader in first.
    """

    def __init__(self):
        self._lock = threading.RLock()
        self._count = threading.Lock()
        self._waiting = 0

    @property
    def waiting(self) -> int:
        return self._waiting

    def acquire(self, blocking: bool = True, timeout: float = -1) -> bool:
        with self._count:
            self._waiting += 1
        try:
            return self._lock.acquire(blocking, timeout)
        finally:
            with self._count:
                self._waiting -= 1

    def release(self) -> None:
        self._lock.release()

    def __enter__(self) -> "HandoverLock":
        self.acquire()
        return self

    def __exit__(self, *exc) -> None:
        self.release()


class Trainer:
    """Owns G, D, G_ema, their optimizers and the data; trains in steps or in a background thread."""

    def __init__(self, cfg: RunConfig, device: str | torch.device | None = None, dataset: Dataset | None = None):
        self.device = resolve_device(device if device is not None else cfg.train.device)
        cfg.validate()
        self.dataset = dataset if dataset is not None else load_dataset(cfg.data, self.device)
        ds = self.dataset
        self.cfg = cfg.resolved(
            channels=ds.channels if ds.kind == "image" else None,
            n_classes=ds.n_classes,
            data_dim=ds.data_dim if ds.kind == "2d" else 2,
            data_scale=_data_scale(ds) if cfg.step == 0 else None,
        )
        if self.cfg.model.conditional and ds.n_classes == 0:
            raise ValueError(f"conditional: dataset {ds.name!r} has no labels")
        t, m = self.cfg.train, self.cfg.model
        self.kind = ds.kind

        # Weights from the seed alone, without touching the caller's global RNG.
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(t.seed)
            G, D = build_models(m)
        self.G = G.to(self.device)
        self.D = D.to(self.device)
        if ds.kind == "image" and self.device.type == "cpu":
            # oneDNN convolutions run natively in NHWC: faster on CPU (BENCHMARKS.md); saved weights stay contiguous
            self.G.to(memory_format=torch.channels_last)
            self.D.to(memory_format=torch.channels_last)
        self.G_ema = copy.deepcopy(self.G).eval().requires_grad_(False)
        adam = dict(betas=(t.beta1, t.beta2))
        if self.device.type == "cuda":
            adam["fused"] = True
        self.opt_G = torch.optim.Adam(self.G.parameters(), lr=t.lr_g, **adam)
        self.opt_D = torch.optim.Adam(self.D.parameters(), lr=t.lr_d, **adam)
        # Training noise and data indices come from one seeded generator on the device.
        self.gen = torch.Generator(device=self.device).manual_seed(t.seed)
        self.step = self.cfg.step
        # bf16 autocast for the convolutions of image models, where the hardware has bf16 (BENCHMARKS.md:
        # 1.6-1.8x on a CPU with AVX512-BF16); 2D points stay fp32 (tiny MLPs, and coordinates need the bits).
        self.use_amp = t.amp and ds.kind == "image" and native_bf16(self.device)

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
        self.history = History()
        self.state = "idle"
        self.message = ""
        self.target_steps = t.steps
        self.callbacks: list[Callable[["Trainer", StepRecord], None]] = []
        self.lock = HandoverLock()  # held for each step; take it to read models consistently
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self.paused_at: float | None = None  # time.monotonic() of the pause, while paused (the app's slot limit)
        self._unpaused = threading.Event()
        self._unpaused.set()
        self._rate = deque(maxlen=50)  # (time, step) for steps/s
        self._good_state = None
        self._good_step = -1
        self._pending: list[tuple[int, torch.Tensor, float]] = []  # (step, its numbers on the device, seconds)
        self.last_record: StepRecord | None = None
        self.error: Exception | None = None

        # 2D runs: quality figures every QUALITY_EVERY steps, against a fixed draw of real points.
        self.quality_history = History(record_type=QualityRecord)
        self.last_quality: QualityRecord | None = None
        self._quality_real = None
        if ds.kind == "2d":
            order = torch.randperm(len(ds), generator=torch.Generator().manual_seed(t.seed))[:QUALITY_REAL_POINTS]
            self._quality_real = ds.x[order.to(ds.x.device)].float().cpu()
        from .stacked import LIVE_EVERY, LiveModes
        self._live_modes = LiveModes.for_run(self.cfg, self.device)  # stacked-digits with a cached classifier
        self.quality_every = QUALITY_EVERY if ds.kind == "2d" else (LIVE_EVERY if self._live_modes else 0)

    # ------------------------------------------------------------------ steps
    @property
    def precision(self) -> str:
        """What the training step computes in: "bf16 autocast" or "fp32"."""
        return "bf16 autocast" if self.use_amp else "fp32"

    def _autocast(self):
        if self.use_amp:
            return torch.autocast(self.device.type, dtype=torch.bfloat16)
        return contextlib.nullcontext()

    def _noise(self, n: int) -> torch.Tensor:
        return torch.randn(n, self.cfg.model.z_dim, generator=self.gen, device=self.device)

    def _d_update(self) -> dict[str, torch.Tensor]:
        """(1) Update D: maximise log D(x) + log(1 - D(G(z))) (or the chosen loss)."""
        t = self.cfg.train
        real, y = self.dataset.sample(t.batch_size, self.gen)
        y = y if self.cfg.model.n_classes else None
        z = self._noise(t.batch_size)
        with self._autocast():
            with torch.no_grad():
                fake = self.G(z, y)
            real_logits = self.D(real, y).float()
            fake_logits = self.D(fake.detach(), y).float()
            loss = d_loss(t.loss, real_logits, fake_logits)
        if t.loss == "wgan-gp":
            loss = loss + t.gp_weight * gradient_penalty(self.D, real, fake.detach().to(real.dtype), y, generator=self.gen)
        if t.r1_gamma > 0:
            loss = loss + 0.5 * t.r1_gamma * r1_penalty(self.D, real, y)
        self.opt_D.zero_grad(set_to_none=True)
        loss.backward()
        gnorm = _grad_norm(self.D.parameters())
        self.opt_D.step()
        return {
            "loss_d": loss.detach(),
            "d_real": d_score(t.loss, real_logits.detach()),
            "d_fake": d_score(t.loss, fake_logits.detach()),
            "grad_norm_d": gnorm,
        }

    def _g_update(self) -> dict[str, torch.Tensor]:
        """(2) Update G: make D call its samples real, then fold G into G_ema."""
        t = self.cfg.train
        y = None
        half = t.batch_size // 2
        if self.cfg.model.n_classes:
            _, y = self.dataset.sample(t.batch_size, self.gen)
            if t.mode_seeking > 0 and half:
                y[half:2 * half] = y[:half]  # pairs (i, i + half) share a label for the mode-seeking term
        z = self._noise(t.batch_size)
        with self._autocast(), _frozen(self.D):
            fake = self.G(z, y)
            fake_logits = self.D(fake, y).float()
            loss = g_loss(t.loss, fake_logits)
            if t.mode_seeking > 0 and half:
                # MSGAN (Mao et al. 2019): two latents with the same label should give images as far
                # apart as the latents are; penalising the inverse ratio stops G from ignoring z.
                ratio = ((fake[:half] - fake[half:2 * half]).abs().mean()
                         / (z[:half] - z[half:2 * half]).abs().mean())
                loss = loss + t.mode_seeking / (ratio.float() + 1e-5)
        self.opt_G.zero_grad(set_to_none=True)
        loss.backward()
        gnorm = _grad_norm(self.G.parameters())
        self.opt_G.step()
        self._update_ema()
        self.step += 1
        return {"loss_g": loss.detach(), "grad_norm_g": gnorm}

    @torch.no_grad()
    def _update_ema(self) -> None:
        decay = self.cfg.train.ema_decay
        # Ramp up so early snapshots are not dominated by the random initial weights.
        decay = min(decay, (1 + self.step) / (10 + self.step))
        ema_p = list(self.G_ema.parameters())
        g_p = [p.detach() for p in self.G.parameters()]
        torch._foreach_lerp_(ema_p, g_p, 1.0 - decay)
        for b_ema, b in zip(self.G_ema.buffers(), self.G.buffers()):
            b_ema.copy_(b)

    def _step_tensors(self) -> tuple[dict[str, torch.Tensor], float]:
        start = time.perf_counter()
        self.G.train()
        self.D.train()
        for _ in range(self.cfg.train.n_critic):
            d_out = self._d_update()
        g_out = self._g_update()
        return {**d_out, **g_out}, time.perf_counter() - start

    def step_once(self) -> StepRecord:
        """One round of updates: n_critic D steps, then one G step. Returns its record (reads it back at once)."""
        with self.lock:
            out, seconds = self._step_tensors()
            rec = self._record(out, seconds)
            self.last_record = rec
            return rec

    def _queue_step(self) -> None:
        """One step whose numbers stay on the device until _read_back (no host sync here)."""
        with self.lock:
            out, seconds = self._step_tensors()
            self._pending.append((self.step, _step_values(out), seconds))
            self._rate.append((time.perf_counter(), self.step))  # host-side facts: no need to wait for the read

    def d_step_only(self) -> dict[str, float]:
        """One discriminator update alone (the 2D lab's step-by-step mode)."""
        with self.lock:
            self.G.train()
            self.D.train()
            return {k: float(v) for k, v in self._d_update().items()}

    def g_step_only(self) -> dict[str, float]:
        """One generator update alone (the 2D lab's step-by-step mode); counts as a step."""
        with self.lock:
            self.G.train()
            self.D.train()
            return {k: float(v) for k, v in self._g_update().items()}

    def _record(self, out: dict[str, torch.Tensor], seconds: float) -> StepRecord:
        return StepRecord(self.step, *_step_values(out).tolist(), seconds=seconds)  # one host sync

    def _read_back(self) -> bool:
        """Turn the queued steps into records (one host sync for all of them), check them, keep them,
        and tell the callbacks. False when training has diverged (weights are then rolled back)."""
        with self.lock:
            if not self._pending:
                return True
            rows = torch.stack([values for _, values, _ in self._pending]).tolist()
            records = [StepRecord(step, *row, seconds=seconds) for (step, _, seconds), row in zip(self._pending, rows)]
            for rec in records:
                if not rec.finite():
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

    def _measure_quality(self) -> None:
        """Quality figures of G_ema on the fixed noise batch (2D runs), into quality_history."""
        from .metrics import grid_divergence, mode_metrics

        if self._live_modes is not None:  # stacked-digits: 1,000 modes read by the digits classifier
            self.last_quality = QualityRecord(self.step, **self._live_modes.measure(self.generate))
            self.quality_history.add(self.last_quality)
            return
        fake = self.generate(self.fixed_z)
        grid = grid_divergence(self._quality_real, fake)
        rec = QualityRecord(self.step, grid_kl=grid["kl"], grid_js=grid["js"])
        ds = self.dataset
        if ds.modes is not None:
            m = mode_metrics(fake, ds.modes, ds.sigma)
            rec.modes_covered, rec.n_modes = m["modes_covered"], m["n_modes"]
            rec.high_quality, rec.mode_kl = m["high_quality"], m["mode_kl"]
        self.last_quality = rec
        self.quality_history.add(rec)

    # -------------------------------------------------------- divergence guard
    def _save_good_state(self) -> None:
        if not (_all_finite(self.G) and _all_finite(self.D)):
            return
        self._good_state = {
            "G": copy.deepcopy(self.G.state_dict()),
            "D": copy.deepcopy(self.D.state_dict()),
            "G_ema": copy.deepcopy(self.G_ema.state_dict()),
            "opt_G": copy.deepcopy(self.opt_G.state_dict()),
            "opt_D": copy.deepcopy(self.opt_D.state_dict()),
            "step": self.step,
        }
        self._good_step = self.step

    def _forget_after(self, step: int) -> None:
        """After a rollback to `step`: the records of the undone steps no longer describe the weights."""
        for history in (self.history, self.quality_history):
            history.records = [r for r in history.records if r.step <= step]
        self.last_record = self.history.records[-1] if self.history.records else None
        if self.last_quality is not None and self.last_quality.step > step:
            self.last_quality = self.quality_history.records[-1] if self.quality_history.records else None

    def _restore_good_state(self) -> int:
        s = self._good_state
        if s is None:
            return self.step
        self.G.load_state_dict(s["G"])
        self.D.load_state_dict(s["D"])
        self.G_ema.load_state_dict(s["G_ema"])
        self.opt_G.load_state_dict(s["opt_G"])
        self.opt_D.load_state_dict(s["opt_D"])
        self.step = s["step"]
        return self.step

    # ---------------------------------------------------------------- run loop
    def add_callback(self, fn: Callable[["Trainer", StepRecord], None]) -> None:
        """fn(trainer, record) runs in the training thread after every step."""
        self.callbacks.append(fn)

    def start(self, steps: int | None = None) -> None:
        """Train in a background thread until `steps` total G steps (default cfg.train.steps)."""
        with self.lock:
            if self._thread is not None and self._thread.is_alive():
                raise RuntimeError("a run is already in progress")
            self.target_steps = steps if steps is not None else self.cfg.train.steps
            self._stop.clear()
            self._unpaused.set()
            self.state = "running"
            self.message = ""
            self.error = None
            self._rate.clear()
            self._thread = threading.Thread(target=self._loop, name="gan-trainer", daemon=True)
            self._thread.start()

    def run(self, steps: int | None = None) -> str:
        """Train in the calling thread (the CLI); returns the final state."""
        self.start(steps)
        self.join()
        if self.error is not None:
            raise self.error
        return self.state

    def pause(self) -> None:
        if self.state == "running":
            self._unpaused.clear()
            self.paused_at = time.monotonic()
            self.state = "paused"

    def resume(self) -> None:
        if self.state == "paused":
            self.state = "running"
            self.paused_at = None
            self._unpaused.set()

    def stop(self, message: str = "") -> None:
        """Stop at the next step boundary; the state reads "stopping" until the thread has ended."""
        self._stop.set()
        if self.running and self.state in ("running", "paused"):
            self.state = "stopping"
            if message:
                self.message = message
        self.paused_at = None
        self._unpaused.set()

    def release_training(self) -> None:
        """Free what only training needs once a run has ended (optimizers, rollback copy, image data);
        G, G_ema and D stay for sampling, scoring and saving (a saved run then has no optimizer state)."""
        if self.running:
            raise RuntimeError("release_training: the run is still going")
        with self.lock:
            self.opt_G = self.opt_D = None
            self._good_state = None
            self._pending.clear()
            if self.kind == "image":
                self.dataset.x = self.dataset.x[:0]
                if self.dataset.y is not None:
                    self.dataset.y = self.dataset.y[:0]

    def join(self, timeout: float | None = None) -> None:
        if self._thread is not None:
            self._thread.join(timeout)

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def _loop(self) -> None:
        self._save_good_state()
        read_at = time.perf_counter()
        try:
            while self.step < self.target_steps:
                if not self._unpaused.is_set():
                    if not self._read_back():  # show every step taken before waiting
                        return
                    self._unpaused.wait()
                if self._stop.is_set():
                    break
                self._hand_over()
                self._queue_step()
                # The step numbers are read back in batches: a read is a host sync, which on a GPU
                # would stall the queue of kernels every step.
                if len(self._pending) >= READBACK_STEPS or time.perf_counter() - read_at >= READBACK_S:
                    if not self._read_back():
                        return
                    read_at = time.perf_counter()
            if not self._read_back():
                return
            self.state = "stopped" if self._stop.is_set() else "finished"
        except Exception as exc:  # kept for the caller instead of dying silently in a thread
            self._pending.clear()
            self.state = "failed"
            self.message = f"training failed: {type(exc).__name__}: {exc}"
            self.error = exc

    def _hand_over(self) -> None:
        """Between two steps: if a reader waits for the lock, give it the chance to take it first."""
        deadline = time.perf_counter() + HANDOVER_S
        while self.lock.waiting and time.perf_counter() < deadline:
            time.sleep(0.0005)

    # ------------------------------------------------------------------ reading
    @property
    def steps_per_s(self) -> float:
        if len(self._rate) < 2:
            return 0.0
        (t0, s0), (t1, s1) = self._rate[0], self._rate[-1]
        return (s1 - s0) / (t1 - t0) if t1 > t0 else 0.0

    def snapshot(self) -> dict:
        """A small, UI-free summary of the run: numbers and history, no pictures."""
        rate = self.steps_per_s
        # Steps whose numbers are still on the device are not shown yet, so that the step, the last
        # record and the history describe the same moment (at most READBACK_S behind the training).
        step = self.step - len(self._pending)
        remaining = max(0, self.target_steps - step)
        return {
            "step": step,
            "target_steps": self.target_steps,
            "state": self.state,
            "message": self.message,
            "steps_per_s": rate,
            "eta_s": remaining / rate if rate > 0 and self.state == "running" else None,
            "device": str(self.device),
            "kind": self.kind,
            "precision": self.precision,
            "last": asdict(self.last_record) if self.last_record else None,
            "history": self.history.columns(),
            "quality": asdict(self.last_quality) if self.last_quality else None,
            "quality_history": self.quality_history.columns(),
        }

    @torch.no_grad()
    def generate(self, z: torch.Tensor, y: torch.Tensor | None = None, ema: bool = True) -> torch.Tensor:
        """Samples on the CPU: data coordinates for 2D sets, [0, 1] images otherwise.

        In the training's precision (bf16 autocast where it trains so): this draws the progress
        grid while training runs, and each such forward pass is CPU time taken from the training.
        Sliders, interpolation and `eval` sample in fp32 through gan_demo.sampler.
        """
        net = self.G_ema if ema else self.G
        with self.lock, self._autocast():
            was_training = net.training
            net.eval()
            out = net(z.to(self.device), None if y is None else y.to(self.device)).float()
            net.train(was_training)
        out = out.cpu()
        return out if self.kind == "2d" else to_unit(out)

    def sample_fixed(self, ema: bool = True) -> torch.Tensor:
        """G applied to the fixed noise batch (the progress grid)."""
        return self.generate(self.fixed_z, self.fixed_y, ema=ema)

    # ------------------------------------------------------------- checkpoints
    def save(self, run_dir: str | Path) -> Path:
        from .checkpoint import dataset_info_of, save_checkpoint

        with self.lock:
            cfg = RunConfig.from_dict(self.cfg.to_dict())
            cfg.step = self.step
            return save_checkpoint(
                run_dir, cfg, self.G, self.G_ema, self.D, self.opt_G, self.opt_D,
                step=self.step, dataset_info=dataset_info_of(self.dataset),
            )

    @classmethod
    def from_checkpoint(cls, run_dir: str | Path, device: str | torch.device | None = None,
                        dataset: Dataset | None = None) -> "Trainer":
        """Rebuild a run to continue training: weights, optimizer state and step count."""
        from .checkpoint import load_checkpoint

        ckpt = load_checkpoint(run_dir, "cpu")
        cfg = ckpt.cfg
        trainer = cls(cfg, device=device if device is not None else "auto", dataset=dataset)
        trainer.G.load_state_dict(ckpt.G.state_dict())
        trainer.G_ema.load_state_dict(ckpt.G_ema.state_dict())
        trainer.D.load_state_dict(ckpt.D.state_dict())
        if ckpt.opt_state:
            trainer.opt_G.load_state_dict(ckpt.opt_state["opt_G"])
            trainer.opt_D.load_state_dict(ckpt.opt_state["opt_D"])
        trainer.step = ckpt.step
        # Continue the noise stream from a point that depends on the step, not on the first run.
        trainer.gen.manual_seed(cfg.train.seed + ckpt.step)
        return trainer
