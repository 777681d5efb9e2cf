"""Run pools: GAN or VAE runs whose networks have the same shapes trained as one stacked step in one thread.

Each run stays a Trainer of its own (seed, data and noise stream, learning rates and other per-run
settings, pause/resume/stop, live changes, divergence rollback, history, checkpoints): the pool only
computes the steps. While a run is in a pool its networks' weights are views into the pool's stacked
tensors (R, ...), so reading the run (the progress grid, a save, a rollback) sees the weights as
trained, without copies. The stacked step (gan_demo.training.stacked) runs the runs' networks with
torch.func (vmap over functional_call): one forward and one backward per phase for all runs, with Adam,
EMA and gradient norms computed per run on the stacked tensors; image DCGANs (gan_demo.training.stacked_conv)
run side by side in the channels, BatchNorm per run included. Runs join and leave between steps; a run that fails
(an exception in its data, a NaN) leaves alone and the others train on. Never imports gradio.
"""
from __future__ import annotations

import contextlib
import threading
import time
from collections import deque

import torch

from gan_demo.training.run_loop import RunLoop, exiting, hand_over, solo_loop
from gan_demo.training.stacked import STACKED, StackedGAN, StackedVAE, _StackedNet  # noqa: F401 (benchmarks and tests reach them here)
from gan_demo.training.stacked_conv import StackedImageGAN, why_not_stackable

__all__ = ["pool_key", "why_not_poolable", "stack_class", "RunPool", "PoolGroup", "RunPools", "StackedGAN",
           "StackedImageGAN", "StackedVAE"]

MEASURED_STEPS = 8  # stacked steps at one size before a pool's own timing prices its runs (member_seconds)
IDLE_WAIT_S = 0.05  # while every run of a pool is paused: how often the loop looks for a resume, stop or newcomer
# On a CPU the runs of one pool_key spread over up to this many pools, each its own thread with its share of the
# cores: 24 ring8 runs through the app on 2 cores trained 639 class steps/s as two pools of 12 at one intra-op
# thread each, 443 as one pool at two (BENCHMARKS 19). More pools than cores only add GIL handoffs; beyond 4 is
# not measured (each pool's Python between its torch calls needs the one interpreter lock).
MAX_CPU_POOLS = 4


def why_not_poolable(trainer) -> str | None:
    """Why this run cannot train in a pool (None if it can)."""
    cfg, family = trainer.cfg, trainer.family
    if cfg.family not in STACKED:
        return f"the {cfg.family} family trains alone (pools stack {' and '.join(name.upper() + 's' for name in STACKED)})"
    if trainer.kind == "image" and cfg.family != "gan":
        return "image VAEs train alone (pools stack 2D MLP models and image GANs)"
    if trainer.kind == "2d" and cfg.model.arch != "mlp":
        return "only 2D MLP models are pooled"
    if cfg.model.n_classes:
        return "conditional models train alone"
    if trainer.dist.active:
        return "runs under torchrun train alone"
    if trainer.pace is not None:
        return "paced runs (a comparison) train alone"
    if trainer.kind == "image":
        reason = why_not_stackable(trainer)
        if reason is not None:
            return reason
    elif trainer.use_amp or getattr(family, "policy", None):
        return "autocast or augmentation: the run trains alone"
    elif any(True for net in family.networks.values() for _ in net.buffers()):
        return "networks with buffers (BatchNorm, spectral norm) train alone: set d_norm none"
    if any(opt is None for opt in family.optimizers.values()):
        return "the run's optimizers were released"
    return None


def pool_key(trainer) -> tuple | None:
    """What runs of one pool share: the networks' shapes and what the stacked step cannot vary per run.
    None: the run trains alone (why_not_poolable says why). A run trained in a Ray actor
    (gan_demo.training.remote.RemoteRun) carries the key it was placed by, found the same way."""
    if getattr(trainer, "remote", False):
        return trainer.pool_key
    if why_not_poolable(trainer) is not None:
        return None
    cfg = trainer.cfg
    model = tuple(sorted(vars(cfg.model).items()))  # arch, z_dim, width, depth, activation, d_norm, data_scale, ...
    return (cfg.family, trainer.kind, str(trainer.device), model, trainer.batch_size,
            *stack_class(trainer).shared_settings(cfg))


def stack_class(trainer):
    """The stacked step that trains this run's pool: image GANs through grouped convolutions, the rest by family."""
    return StackedImageGAN if trainer.kind == "image" else STACKED[trainer.cfg.family]


class RunPool:
    """Runs with one pool_key stepped together by one thread (gan_demo.training.run_loop.RunLoop).

    add(trainer) joins a run at the next step; it leaves when it finishes, stops, diverges, fails,
    or changes a setting the pool cannot vary (then `regroup` places it, e.g. RunPools.add). A paused
    run stays in the pool without stepping. The thread ends when the last run has left."""

    def __init__(self, key: tuple, regroup=None, threads: int | None = None):
        self.key = key
        self.regroup = regroup  # fn(trainer): where a run goes whose pool_key changed (default: train alone)
        self.threads = threads  # torch's intra-op threads of the pool's thread (None: as torch gives them)
        self.members: list = []  # every run in the pool (stepping or paused)
        self._joining: list = []
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self.loop: RunLoop | None = None
        self.stack: StackedGAN | StackedImageGAN | StackedVAE | None = None
        self._stacked: list = []  # the runs the current stack holds, in order
        self.steps_taken = 0  # pooled steps (each steps every active run once)
        self.timings: deque = deque(maxlen=32)  # (seconds, runs) of the latest stacked steps: what a run costs here
        self._key_checked: dict = {}  # run -> its settings_changed when its pool_key was last found to be this pool's

    def __len__(self) -> int:
        with self._lock:
            return len(self.members) + len(self._joining)

    def __contains__(self, trainer) -> bool:
        with self._lock:
            return trainer in self.members or trainer in self._joining

    def member_seconds(self) -> float | None:
        """What one run's share of a stacked step takes (step seconds / runs, the fastest of the latest
        steps at the pool's current size: other work on the machine only ever slows a step down), or
        None until MEASURED_STEPS steps at this size (a pool that grows, a class starting at once, is
        priced by estimate): the price of a run in this pool (the app's admission)."""
        runs = len(self._stacked)
        timings = [s / n for s, n in list(self.timings) if n == runs]
        return min(timings) if len(timings) >= MEASURED_STEPS else None

    def add(self, trainer, steps: int | None = None, paused: bool = False) -> None:
        """Start trainer in this pool (its pool_key must be this pool's); paused: as Trainer.start."""
        self.add_all([trainer], steps, paused)

    def add_all(self, trainers: list, steps: int | None = None, paused: bool = False) -> None:
        """Start these runs in this pool at the same pooled step (a seed sweep: runs that stay at one step
        count with one learning rate, which _StackedAdam updates in one fused call for the whole stack)."""
        if any(pool_key(trainer) != self.key for trainer in trainers):
            raise ValueError("add: the run's networks or settings differ from this pool's")
        for trainer in trainers:
            with trainer.lock:
                trainer.prepare_start(steps, paused)
                trainer.pooled = threading.Event()
        with self._lock:
            self._joining.extend(trainers)
            if self.loop is None or not self.loop.alive:
                self.loop = RunLoop(self._run, name="gan-pool", threads=self.threads)
                self.loop.start()
        self._wake.set()

    # ------------------------------------------------------------------ membership
    def _admit(self) -> bool:
        """Newcomers join; False once no run is left (the thread then ends)."""
        with self._lock:
            for trainer in self._joining:
                trainer.begin_loop()
                self.members.append(trainer)
            self._joining.clear()
            if not self.members:
                self.loop = None  # the next add starts a new thread
                return False
            return True

    def _restack(self, active: list) -> None:
        """The stack holds exactly `active` (weights handed back to the runs that leave it). Every run
        concerned is locked meanwhile: a paused run's 2D lab step by hand never sees its weights moved."""
        if active == self._stacked:
            return
        with contextlib.ExitStack() as locks:
            for trainer in dict.fromkeys(self._stacked + list(active)):
                locks.enter_context(trainer.lock)
            if self.stack is not None:
                self.stack.release()
            self.stack = stack_class(active[0])([t.family for t in active]) if active else None
            self._stacked = list(active)

    def _leave(self, trainer) -> None:
        """trainer leaves the pool (its state already says why); its weights become its own again."""
        if trainer in self._stacked:
            self._restack([t for t in self._stacked if t is not trainer])
        self.members.remove(trainer)
        self._key_checked.pop(trainer, None)
        trainer.pooled.set()

    def _end(self, trainer) -> None:
        """Read back the last steps and finish (or stop) the run, or roll it back if they diverged."""
        if trainer.read_back():
            trainer.finish()
        self._leave(trainer)

    def _fail(self, trainer, exc: Exception) -> None:
        trainer.fail(exc)
        self._leave(trainer)

    # ------------------------------------------------------------------ the loop
    def _run(self) -> None:
        read_at = time.perf_counter()
        try:
            while self._admit():
                if exiting():
                    return
                active = self._settle()
                if not active:
                    self._wake.wait(IDLE_WAIT_S)
                    self._wake.clear()
                    continue
                self._step(active)
                if any(t.read_back_due(time.perf_counter() - read_at) for t in self._stacked):
                    self._read_back_all()
                    read_at = time.perf_counter()
        except Exception as exc:  # a fault of the pool itself (not of one run): every run fails with it
            for trainer in list(self.members) + list(self._joining):
                trainer.fail(exc)
                trainer.pooled.set()
            with self._lock:
                self.members.clear()
                self._joining.clear()
                self.loop = None

    def _settle(self) -> list:
        """Runs leave that stop, finish or changed pool; paused runs step out of the stack. The runs to step."""
        for trainer in list(self.members):
            try:
                if trainer.stop_decided() or trainer.step >= trainer.target_steps:
                    self._end(trainer)
                elif trainer.control.paused and trainer in self._stacked:
                    if not trainer.read_back():  # show every step taken before waiting
                        self._leave(trainer)
                        continue
                    self._restack([t for t in self._stacked if t is not trainer])
            except Exception as exc:
                self._fail(trainer, exc)
        active = [t for t in self.members if not t.control.paused]
        for trainer in self.members:
            if trainer.control.paused:  # its steps are read back and it is out of the stack: the pause holds
                trainer.control.halted.set()
        self._restack(active)
        return active

    def _step(self, active: list) -> None:
        """One step of every active run: each run's live changes and draws alone (a fault there fails that
        run alone, and a run whose change needs another pool moves), then one stacked step for the rest."""
        for trainer in active:
            hand_over(trainer.lock)
        with contextlib.ExitStack() as locks:
            for trainer in active:
                locks.enter_context(trainer.lock)
            draws, failed, moved = {}, [], []
            for trainer in active:
                try:
                    trainer.apply_due_changes()
                    if self._key_checked.get(trainer) != trainer.settings_changed:  # a change may need another pool
                        if pool_key(trainer) != self.key:
                            moved.append(trainer)
                            continue
                        self._key_checked[trainer] = trainer.settings_changed
                    draws[trainer] = self.stack.draw(trainer.family)
                except Exception as exc:
                    failed.append((trainer, exc))
            for trainer, exc in failed:
                self._fail(trainer, exc)
            for trainer in moved:
                self._move(trainer)
            if not self._stacked:
                return
            start = time.perf_counter()
            values = self.stack.train_step([draws[t] for t in self._stacked])  # (R, series)
            seconds = time.perf_counter() - start
            self.timings.append((seconds, len(self._stacked)))
            for i, trainer in enumerate(self._stacked):
                trainer.queue_values(values[i], seconds)
            self.steps_taken += 1

    def _move(self, trainer) -> None:
        """A live change the pool cannot vary: the run leaves and goes on where regroup puts it
        (its join() follows it there)."""
        if not trainer.read_back():
            self._leave(trainer)
            return
        if trainer in self._stacked:
            self._restack([t for t in self._stacked if t is not trainer])
        self.members.remove(trainer)
        self._key_checked.pop(trainer, None)
        left, trainer.pooled = trainer.pooled, None
        try:
            (self.regroup or _train_alone)(trainer)
        except Exception as exc:
            trainer.fail(exc)
        left.set()

    def _read_back_all(self) -> None:
        for trainer in list(self._stacked):
            try:
                ok = trainer.read_back()  # a divergence rolls this run back; it then leaves
            except Exception as exc:
                self._fail(trainer, exc)
                continue
            if not ok:
                self._leave(trainer)


def _train_alone(trainer) -> None:
    """A run that left its pool for a setting it cannot share goes on in its own thread."""
    with trainer.lock:
        trainer.loop = solo_loop(trainer)
        trainer.loop.start()


class PoolGroup:
    """Every live pool of one pool_key in a process, seen as one: what the app's admission prices (a class's
    runs of one kind cost as one pool, however many threads step them)."""

    def __init__(self, key: tuple, pools: list[RunPool]):
        self.key = key
        self.pools = pools

    def __len__(self) -> int:
        return sum(len(p) for p in self.pools)

    def __contains__(self, trainer) -> bool:
        return any(trainer in p for p in self.pools)

    def member_seconds(self) -> float | None:
        """A run's share of a stacked step, the least any of its pools measured (None until one has)."""
        measured = [s for s in (p.member_seconds() for p in self.pools) if s is not None]
        return min(measured) if measured else None


class RunPools:
    """Every pool of a process, by pool_key: start(trainer) puts a run into a pool that fits it, or starts it
    alone when it cannot be pooled (the reason is kept in trainer.pool_note).

    On a CPU the runs of one key spread over up to `cpu_pools` pools (default: the cores torch uses, at most
    MAX_CPU_POOLS), a new run joining the smallest once they all exist; each pool's thread uses
    cores // cpu_pools intra-op threads (at least one). On a GPU one pool per key. cores: torch's intra-op
    threads (default: torch's count in the thread that makes the RunPools)."""

    def __init__(self, cpu_pools: int | None = None, cores: int | None = None):
        self.cores = cores or torch.get_num_threads()
        self.cpu_pools = cpu_pools or max(1, min(self.cores, MAX_CPU_POOLS))
        self.pools: dict[tuple, list[RunPool]] = {}  # pool_key -> its live pools
        self._lock = threading.Lock()

    def start(self, trainer, steps: int | None = None, paused: bool = False) -> None:
        self.start_all([trainer], steps, paused)

    def start_all(self, trainers: list, steps: int | None = None, paused: bool = False) -> None:
        """start() for each run, the runs that share a pool joining it at the same step (RunPool.add_all);
        paused: each run starts paused (Trainer.start)."""
        joining: dict[RunPool, list] = {}
        alone = []
        with self._lock:
            self._drop_empty()
            for trainer in trainers:
                key = pool_key(trainer)
                trainer.pool_note = why_not_poolable(trainer)
                if key is None:
                    alone.append(trainer)
                    continue
                pools = self.pools.setdefault(key, [])
                on_cpu = trainer.device.type == "cpu"
                if len(pools) < (self.cpu_pools if on_cpu else 1):
                    threads = max(1, self.cores // self.cpu_pools) if on_cpu else None
                    pools.append(RunPool(key, regroup=self._regroup, threads=threads))
                pool = min(pools, key=lambda p: len(p) + len(joining.get(p, ())))
                joining.setdefault(pool, []).append(trainer)
            for pool, runs in joining.items():
                pool.add_all(runs, steps, paused)
        for trainer in alone:
            trainer.start(steps, paused)

    def _drop_empty(self) -> None:
        for key in list(self.pools):
            self.pools[key] = [p for p in self.pools[key] if len(p)]
            if not self.pools[key]:
                del self.pools[key]

    def _live(self) -> list[RunPool]:
        with self._lock:
            return [p for pools in self.pools.values() for p in pools]

    def pool_of(self, trainer) -> RunPool | None:
        """The pool stepping this run (None: it trains alone or has ended)."""
        return next((p for p in self._live() if trainer in p), None)

    def group_of(self, trainer) -> PoolGroup | None:
        """Every pool of this run's kind, when it trains in one of them (None: it trains alone or has ended)."""
        pool = self.pool_of(trainer)
        return None if pool is None else self._group(pool.key)

    def joining(self, trainer) -> PoolGroup | None:
        """The live pools start(trainer) would put this run among (None: it would train alone or start them)."""
        key = pool_key(trainer)
        group = self._group(key) if key is not None else None
        return group if group is not None and len(group) else None

    def _group(self, key: tuple) -> PoolGroup | None:
        with self._lock:
            pools = list(self.pools.get(key, ()))
        return PoolGroup(key, pools) if pools else None

    def _regroup(self, trainer) -> None:
        self.start(trainer, trainer.target_steps)

    @property
    def running(self) -> int:
        return sum(len(p) for p in self._live())
