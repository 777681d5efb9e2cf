"""Visitors' runs in Ray actors: a host actor that trains runs by run id, and a front-end proxy with a Trainer's face.

Only `python app.py --ray ...` imports this module (it imports ray; the app without the flag never does).
A RunHost actor (one worker process, placed by Ray by its CPU and GPU needs) holds Trainers keyed by a
server-made run id (never by anything a client sent) and steps them as the app does in-process: runs that
gan_demo.training.pool would pool train as one pool there (RunPools), others alone. The front end gives each
pool its own host (up to Placement.pool_runs live runs; a larger class opens another host, which Ray may
place on another machine), each run that cannot be pooled a host of its own, and a comparison's two runs
one host that paces them. A run that needs a new host is refused at once (NoRoom) when no machine has the CPUs
and GPU share a host asks for, and a host that Ray has not placed within Placement.place_s is ended and its runs
refused, so a start never waits on a full cluster. A RemoteRun on the front end answers what the UI asks a Trainer (start, pause,
resume, stop, change, snapshot, sample_fixed, save, state, step, ...) by calling its host. The front end
keeps one latest checkpoint of every run (weights, optimizer state, step, history), pulled every
`every_steps` steps or `every_s` seconds; when a host dies (its process killed, its node lost) all its runs
come back together in one new host from those checkpoints (pooled or paced as before), each with its run
id, and train on.
"""
from __future__ import annotations

import copy
import itertools
import logging
import os
import secrets
import shutil
import tempfile
import threading
import time
import weakref
from dataclasses import dataclass
from pathlib import Path

import torch

# A Ray call made after ray.shutdown() (a late checkpoint pull) must fail, not join whatever cluster the last
# address file names: auto-connect would, and a driver whose cluster is gone then exits the whole process.
os.environ.setdefault("RAY_ENABLE_AUTO_CONNECT", "0")
import ray  # noqa: E402

from gan_demo.core import distributed
from gan_demo.training.budget import NoRoom
from gan_demo.training.compare import LABELS, Comparison, check_pair, differences
from gan_demo.training.eta import in_words
from gan_demo.training.pool import RunPools, pool_key
from gan_demo.core.config import RunConfig
from gan_demo.core.step_utils import StepContext
from gan_demo.families import FAMILIES
from gan_demo.core.files import write_atomic
from gan_demo.training.trainer import Trainer, pause_together

CALL_TIMEOUT_S = 60.0  # one call to a host (a join waits longer, in short calls)
OPEN_TIMEOUT_S = 120.0  # building a run in a new host: a worker process starts and loads the data
# Ray counts an ended worker's CPUs free again a moment after the kill: for this long after this app ended one,
# a run that finds no room looks again (every FREED_POLL_S) before it is refused.
FREED_LAG_S = 5.0
FREED_POLL_S = 0.1
JOIN_POLL_S = 1.0  # a join waits on the host in calls this long, so a dead host is noticed
STATUS_TTL_S = 0.05  # reads within this long share one status call (a UI handler reads many fields at once)
REAL_POINTS_SENT = 2048  # 2D runs: real points sent to the front end for the progress picture

log = logging.getLogger(__name__)


ENDED = ("stopped", "finished", "diverged", "failed")  # a run in these states holds no place in its host
_HOST_NUMBERS = itertools.count()


class Recovering(RuntimeError):
    """The run's host died and its replacement is being started."""


@dataclass
class Placement:
    """What each run asks of the cluster, and how often its checkpoint is pulled to the front end."""

    num_cpus: float = 1.0  # CPUs reserved per run (Ray also sets the actor's torch threads from it)
    num_gpus: float | None = None  # fraction of a GPU per run; None: 0.1 where the cluster has GPUs, else 0
    every_steps: int = 200  # pull a run's checkpoint after this many steps ...
    every_s: float = 10.0  # ... or this many seconds, whichever comes first (a lost worker loses at most this)
    poll_s: float = 1.0  # how often the front end asks the hosts whether a checkpoint is due
    # Live runs per pool host: a class beyond it opens another pool host, which Ray may place on another
    # machine (on one CPU a pool's total steps/s stops growing at about 12 ring8 runs: README, "A whole class").
    pool_runs: int = 12
    # How long a new worker may take to be placed and started before its run is refused and the worker
    # given up (a cluster that looked free but lost a node meanwhile, or racing starts took the last CPU).
    place_s: float = 60.0

    def gpus(self) -> float:
        if self.num_gpus is not None:
            return self.num_gpus
        return 0.1 if ray.cluster_resources().get("GPU", 0) > 0 else 0.0

    def request(self) -> dict[str, float]:
        """What one worker asks of one machine: {"CPU": n, "GPU": share} (a share of 0 is left out)."""
        return {name: amount for name, amount in (("CPU", self.num_cpus), ("GPU", self.gpus())) if amount > 0}


def _to_cpu(state):
    """A deep copy of a state dict (nested dicts, lists, tensors) with every tensor on the CPU."""
    if isinstance(state, torch.Tensor):
        return state.detach().to("cpu", copy=True)
    if isinstance(state, dict):
        return {k: _to_cpu(v) for k, v in state.items()}
    if isinstance(state, (list, tuple)):
        return type(state)(_to_cpu(v) for v in state)
    return copy.deepcopy(state)


class RunHost:
    """A Ray actor's body: Trainers by run id, in one worker process (ray.remote is applied in RayRuns)."""

    def __init__(self, live_quality=None):
        self._live_quality = live_quality  # the figures a run measures while it trains (gan_demo.evaluation.live_quality)
        self._runs: dict[str, Trainer] = {}
        self._pulled_at: dict[str, float] = {}
        self._pools = RunPools()  # poolable runs train as one stacked step here, as in the app's own process

    def pid(self) -> int:
        return os.getpid()

    def run_ids(self) -> list[str]:
        """The runs this host holds."""
        return list(self._runs)

    def node_id(self) -> str:
        return ray.get_runtime_context().get_node_id()

    def open(self, run_id: str, cfg: dict, device: str, dataset=None, restore: dict | None = None,
             message: str = "") -> dict:
        """Build the run (from its config, or from a checkpoint pulled earlier); returns its fixed facts."""
        if restore is None:
            trainer = Trainer(RunConfig.from_dict(cfg), device=device, dataset=dataset, live_quality=self._live_quality)
        else:
            trainer = _restored(restore, device, dataset, self._live_quality)
        trainer.message = message
        self._runs[run_id] = trainer
        self._pulled_at[run_id] = time.monotonic()
        ds = trainer.dataset
        real = None
        if ds.kind == "2d":  # the points drawn under the generated ones in the progress picture
            order = torch.randperm(len(ds), generator=torch.Generator().manual_seed(0))[:REAL_POINTS_SENT]
            real = ds.x[order.to(ds.x.device)].float().cpu()
        return {
            "cfg": trainer.cfg.to_dict(), "kind": trainer.kind, "device": str(trainer.device),
            "series": list(trainer.series), "quality_every": trainer.quality_every,
            "dataset": {"name": ds.name, "kind": ds.kind, "note": ds.note, "n_classes": ds.n_classes,
                        "class_names": list(ds.class_names), "sigma": ds.sigma,
                        "modes": None if ds.modes is None else ds.modes.cpu(), "x": real},
        }

    def close(self, run_id: str) -> None:
        trainer = self._runs.pop(run_id, None)
        self._pulled_at.pop(run_id, None)
        if trainer is not None and trainer.running:
            trainer.stop()
            trainer.join(CALL_TIMEOUT_S)

    # --------------------------------------------------------------- commands
    def start(self, run_id: str, steps: int | None = None, paused: bool = False) -> None:
        """Start the run in the pool that fits it, or alone (a paced or unpoolable run); paused: as Trainer.start
        (paused before any loop can step it)."""
        self._pools.start(self._runs[run_id], steps, paused)

    def pause(self, run_id: str, *also: str) -> None:
        """Pause the run (and the runs `also`, in the same moment: a comparison's two stop at one step)."""
        pause_together(self._runs[name] for name in (run_id, *also))  # the runs stop at the same step

    def resume(self, run_id: str) -> None:
        self._runs[run_id].resume()

    def stop(self, run_id: str, message: str = "") -> None:
        self._runs[run_id].stop(message)

    def change(self, run_id: str, settings: dict) -> dict:
        trainer = self._runs[run_id]
        trainer.change(**settings)
        return trainer.cfg.to_dict()

    def join(self, run_id: str, timeout: float) -> bool:
        trainer = self._runs[run_id]
        trainer.join(timeout)
        return trainer.running

    def release_training(self, run_id: str) -> None:
        self._runs[run_id].release_training()

    def lockstep(self, run_ids: list[str], slack: int = 0) -> None:
        """Pace these runs together (a comparison's A and B, as gan_demo.training.compare.Lockstep does in-process)."""
        from gan_demo.training.compare import Lockstep

        Lockstep([self._runs[run_id] for run_id in run_ids], slack)

    def step_by_hand(self, run_id: str) -> dict | None:
        """One step of a paused run (a comparison's step-by-step mode): its record, or None if not paused."""
        trainer = self._runs[run_id]
        if trainer.state != "paused" or trainer.step >= trainer.target_steps:
            return None
        trainer.flush()  # the steps the loop took before pausing go into the history first
        rec = trainer.step_once()
        trainer.history.add(rec)
        return rec.to_dict()

    def set_message(self, run_id: str, message: str) -> None:
        self._runs[run_id].message = message

    # ---------------------------------------------------------------- reading
    def status(self, run_id: str) -> dict:
        """The few facts the UI reads often (no history)."""
        t = self._runs[run_id]
        return {"state": t.state, "step": t.step, "message": t.message, "running": t.running,
                "target_steps": t.target_steps, "steps_per_s": t.steps_per_s,
                "stop_requested": t.stop_requested, "holds_optimizers": t.holds_optimizers,
                "last_record": t.last_record, "live_values": t._live_values(),
                "cfg": t.cfg.to_dict(), "pool_size": self._pool_size(t), "paced": t.pace is not None,
                "error": None if t.error is None else f"{type(t.error).__name__}: {t.error}"}

    def _pool_size(self, trainer: Trainer) -> int:
        """How many runs share this run's pooled step (0: it trains alone or has ended)."""
        pool = self._pools.pool_of(trainer)
        return 0 if pool is None else len(pool)

    def snapshot(self, run_id: str, history: bool = True) -> dict:
        return self._runs[run_id].snapshot(history)

    def sample_fixed(self, run_id: str, ema: bool = True) -> torch.Tensor:
        return _compact(self._runs[run_id].sample_fixed(ema), self._runs[run_id].kind)

    def generate(self, run_id: str, z: torch.Tensor, y: torch.Tensor | None, ema: bool = True) -> torch.Tensor:
        return _compact(self._runs[run_id].generate(z, y, ema), self._runs[run_id].kind)

    def save(self, run_id: str) -> dict[str, bytes]:
        """The run saved as in-process Trainer.save writes it: {file name: bytes} (the front end writes them)."""
        folder = Path(tempfile.mkdtemp(prefix="gan_demo_save_"))
        try:
            self._runs[run_id].save(folder / "run")
            return {p.name: p.read_bytes() for p in (folder / "run").iterdir() if p.is_file()}
        finally:
            shutil.rmtree(folder, ignore_errors=True)

    def checkpoint(self, run_id: str, after_step: int, every_steps: int, every_s: float, force: bool = False):
        """The run's state (CPU copies) if `every_steps` steps or `every_s` seconds have passed since the
        checkpoint at `after_step` (or force), else None."""
        trainer = self._runs[run_id]
        now = time.monotonic()
        with trainer.lock:  # between two steps: weights, optimizers and step agree
            step = trainer.step
            due = step - after_step >= every_steps or (step > after_step and now - self._pulled_at[run_id] >= every_s)
            if not (due or force):
                return None
            cfg = RunConfig.from_dict(trainer.cfg.to_dict())
            cfg.step = step
            state = {"config": cfg.to_dict(), "family": _to_cpu(trainer.family.state_dict()), "step": step,
                     "target_steps": trainer.target_steps,
                     # Steps still on the device (not read back) have no record yet: the curves skip them.
                     "history": [r for r in trainer.history.records if r.step <= step],
                     "history_stride": trainer.history.stride,
                     "quality_history": [r for r in trainer.quality_history.records if r.step <= step],
                     "quality_stride": trainer.quality_history.stride}
        self._pulled_at[run_id] = now
        return state


def _compact(out: torch.Tensor, kind: str) -> torch.Tensor:
    """Pictures cross the network as uint8 (a quarter of float32); 2D points stay float."""
    return out if kind == "2d" else (out.clamp(0, 1) * 255).round().to(torch.uint8)


def _uncompact(out: torch.Tensor) -> torch.Tensor:
    return out.float() / 255 if out.dtype == torch.uint8 else out


def _restored(state: dict, device: str, dataset=None, live_quality=None) -> Trainer:
    """A Trainer continued from a pulled checkpoint, as Trainer.from_checkpoint continues a saved one."""
    cfg = RunConfig.from_dict(state["config"])
    trainer = Trainer(cfg, device=device, dataset=dataset, live_quality=live_quality)
    trainer.family.load_state_dict(state["family"])
    trainer.gen.manual_seed(cfg.train.seed + trainer.step)
    trainer.target_steps = state["target_steps"]
    for history, records, stride in ((trainer.history, state["history"], state["history_stride"]),
                                     (trainer.quality_history, state["quality_history"], state["quality_stride"])):
        history.records, history.stride = list(records), stride
    trainer.last_record = trainer.history.records[-1] if trainer.history.records else None
    trainer.last_quality = trainer.quality_history.records[-1] if trainer.quality_history.records else None
    return trainer


class DatasetFace:
    """What the front end reads of a remote run's dataset: its name, labels, modes and (2D) some real points."""

    def __init__(self, facts: dict):
        self.name, self.kind, self.note = facts["name"], facts["kind"], facts["note"]
        self.n_classes, self.class_names, self.sigma = facts["n_classes"], facts["class_names"], facts["sigma"]
        self.modes, self.x, self.y = facts["modes"], facts["x"], None

    def __len__(self) -> int:
        return 0 if self.x is None else self.x.shape[0]


class FamilyFace:
    """A remote run's family as the front end sees it: its name, and (for Explore and the VAE views) a copy
    of the family on the CPU loaded from the run's last checkpoint, so at most one interval behind."""

    def __init__(self, run: "RemoteRun"):
        self._run = run
        self.name = run.cfg.family
        self._copy: tuple[int, object] | None = None  # (checkpoint step, the family loaded from it)

    def _family(self):
        ckpt = self._run.latest_checkpoint(fresh=self._copy is None)
        if self._copy is None or self._copy[0] != ckpt["step"]:
            cfg = RunConfig.from_dict(ckpt["config"])
            ctx = StepContext(device=torch.device("cpu"), generator=torch.Generator(), batch_size=1,
                              draw=_never_trained, noise=_never_trained, sync_grads=lambda module: None,
                              use_amp=False)
            family = FAMILIES[cfg.family](cfg, ctx, dist=distributed.SINGLE)
            family.load_state_dict(ckpt["family"])
            family.release_optimizers()  # the front end only samples
            self._copy = (ckpt["step"], family)
        return self._copy[1]

    def __getattr__(self, name: str):
        if name.startswith("_"):
            raise AttributeError(name)
        return getattr(self._family(), name)


def _never_trained(n: int):
    raise RuntimeError("a remote run's family copy on the front end is for sampling only")


class Host:
    """One RunHost actor as the front end sees it: its handle, the runs placed in it, what they share there (a
    pool's key, a comparison's pacing), and its replacement when it dies: one new actor for all its runs."""

    def __init__(self, runs: "RayRuns", key: tuple | None = None, slack: int | None = None):
        self._runs = runs
        self.placed_by = key  # the pool_key its runs share (None: a run alone, or a comparison)
        # The registry's key of this pool (what pool_key reads of its runs): each pool host is priced on its own.
        self.key = None if key is None else (key, next(_HOST_NUMBERS))
        self.slack = slack  # a comparison: its runs are paced in the actor with this slack (None: not paced)
        self.members: list["RemoteRun"] = []  # the runs placed here and not closed
        self.actor = runs.new_host()
        self._up = self.actor.pid.remote()  # answered once Ray has placed the actor and its process runs
        self._lock = threading.Lock()  # guards _recovery
        self._recovery: tuple | None = None  # (the dead actor, its replacement's done event)

    def ready(self) -> None:
        """Wait (at most Placement.place_s) until Ray has placed and started this host's actor. If it has not,
        the actor is given up (so it cannot take a CPU later) and NoRoom is raised: its runs cannot start."""
        limit = self._runs.placement.place_s
        try:
            ray.get(self._up, timeout=limit)
        except ray.exceptions.GetTimeoutError:
            self._runs.give_up(self)
            raise NoRoom(f"busy: the cluster could not place a new worker for this run within {limit:.0f} s "
                         "(its machines are full, or one was lost meanwhile); try again in a minute") from None

    def live(self) -> list["RemoteRun"]:
        """The runs here that are about to start, starting, training, paused or stopping, by their last known
        status (no call to the actor: the registry reads this under its lock)."""
        return [run for run in list(self.members) if run.holds_place()]

    # The registry's face of a pool (gan_demo.training.pool.RunPool): its size, whether it holds a run, its
    # price. Its runs are those started and not ended (a run placed here but not started joins at its start).
    def __len__(self) -> int:
        return sum(1 for run in self.live() if run.started)

    def __contains__(self, run) -> bool:
        return run.started and run in self.live()

    def member_seconds(self) -> float | None:
        return None  # priced by the registry's estimate of a run's step (the actor's timings stay there)

    def replace(self, dead) -> threading.Event:
        """Start replacing a dead actor in a thread of its own (once per dead actor, whichever of its runs
        noticed first); the event is set when it is done or has failed."""
        with self._lock:
            if self._recovery is None or self._recovery[0] is not dead:
                done = threading.Event()
                self._recovery = (dead, done)
                threading.Thread(target=self._recover, args=(dead, done), name="ray-recover", daemon=True).start()
            return self._recovery[1]

    def _recover(self, dead, done: threading.Event) -> None:
        """Replace a dead actor: a new one continues every run from its latest checkpoint, as it was (training
        or paused), pooled or paced there as before."""
        replacement = None
        try:
            runs = [run for run in list(self.members) if not run._closed]
            if self.actor is not dead or not runs:
                return
            actor = self._runs.new_host()
            replacement = actor
            plans = [(run, *run._reopen(actor)) for run in runs]  # each run built there from its checkpoint
            if self.slack is not None:  # paced before they start, as a new comparison is (paced runs train alone)
                ray.get(actor.lockstep.remote([run.run_id for run in runs], self.slack), timeout=CALL_TIMEOUT_S)
            for run, was, message, facts in plans:
                run._restart(actor, was, message)
            self.actor = actor
            for run, was, message, facts in plans:
                run._take_facts(facts)
                run._status = None
                run.recoveries += 1
        except Exception:  # no room on the cluster, or the new actor died too: the next call tries again
            log.warning("replacing the lost worker of %s failed", [run.run_id for run in self.members],
                        exc_info=True)
            if replacement is not None and self.actor is not replacement:  # not left waiting to take a CPU later
                ray.kill(replacement)
            with self._lock:
                self._recovery = None
        finally:
            done.set()


class RemoteRun:
    """A run trained in a RunHost actor, with the surface the UI uses from a Trainer.

    Commands go to its host; a dead host is replaced from the latest checkpoints (see module docstring).
    """

    remote = True  # the 2D lab, which steps and reads a run's nets directly, shows only its status

    def __init__(self, runs: "RayRuns", cfg: RunConfig, device: str, dataset=None, run_id: str | None = None,
                 host: Host | None = None, key: tuple | None = None):
        self._runs = runs
        self.run_id = run_id or "run-" + secrets.token_hex(8)  # server-made: the host's key for this run
        self._device_arg = device
        self._dataset_ref = None if dataset is None else ray.put(dataset)
        self.lock = threading.RLock()  # Explore's sampler draws under it (the nets it reads are local copies)
        self.paused_at: float | None = None  # front-end clock (the registry's slot limit)
        self.recoveries = 0  # hosts replaced so far
        self.started = False  # start() was called (a run placed but not started holds its place in a pool host)
        self._checkpoint: dict | None = None  # the latest pulled state: one per run (bounded memory)
        self._closed = False
        self._status, self._status_at = None, 0.0
        if host is not None:  # a comparison's host
            host.members.append(self)
            self._group = host
        else:  # a pool's host, or one of its own
            self._group = runs.place(self, key)
        try:
            try:
                facts = self._open(cfg)
            except ray.exceptions.RayActorError:  # the pool's host died meanwhile (it is being replaced): a new one
                if host is not None or key is None:
                    raise
                self._group.members.remove(self)
                self._group = runs.place(self, key, new=True)
                facts = self._open(cfg)
        except NoRoom:
            runs.leave(self)
            raise
        # What gan_demo.training.pool.pool_key reads (None: trains alone): the kind of pool, shared by all its hosts.
        self.pool_key = self._group.placed_by
        self._take_facts(facts)
        self.family = FamilyFace(self)
        self._refresh()
        runs.watch(self)

    def _open(self, cfg: RunConfig) -> dict:
        self._group.ready()
        return ray.get(self._host.open.remote(self.run_id, cfg.to_dict(), self._device_arg, self._dataset_ref),
                       timeout=OPEN_TIMEOUT_S)

    @property
    def _host(self):
        """The actor that holds this run now (a new one after a recovery)."""
        return self._group.actor

    def _take_facts(self, facts: dict) -> None:
        self._cfg_dict, self._cfg = facts["cfg"], RunConfig.from_dict(facts["cfg"])
        self.kind, self.series, self.quality_every = facts["kind"], tuple(facts["series"]), facts["quality_every"]
        self.device = torch.device("cpu")  # where the front end's copies are (Explore's nets); the run's is in snapshot()
        self.dataset = DatasetFace(facts["dataset"])

    def holds_place(self) -> bool:
        """Not closed, and not ended by its last known status (placed, starting, training, paused, stopping)."""
        state = (self._status or {}).get("state", "idle")
        return not self._closed and state not in ENDED

    # ------------------------------------------------------------ calls
    def _call(self, name: str, *args, timeout: float = CALL_TIMEOUT_S, wait: bool = True):
        """host.name(run_id, *args). A dead host is replaced (in the background) and the call made again once
        the new one is up; with wait=False a dead host raises Recovering instead of waiting."""
        for attempt in (0, 1):
            host = self._host
            try:
                return ray.get(getattr(host, name).remote(self.run_id, *args), timeout=timeout)
            except ray.exceptions.RayActorError:
                if attempt or self._closed:
                    raise
                done = self._group.replace(host)
                if not wait:
                    raise Recovering(self.run_id) from None
                done.wait(OPEN_TIMEOUT_S + 4 * CALL_TIMEOUT_S)

    def _reopen(self, actor) -> tuple[dict, str, dict]:
        """Build this run in a new actor from its latest checkpoint: (its status before, the message saying
        so, its facts). Started again by _restart once every run of the host is built."""
        was = self._status or {"state": "idle", "step": 0}
        ckpt = self._checkpoint
        from_step = ckpt["step"] if ckpt else 0
        lost_at = max(was["step"], from_step)  # the last step the front end heard of
        message = (f"its worker was lost at step {lost_at:,}; the run came back on a new worker from its "
                   f"checkpoint at step {from_step:,} (steps after it are trained again)")
        log.warning("run %s: %s", self.run_id, message)
        facts = ray.get(actor.open.remote(self.run_id, self._cfg.to_dict() if ckpt is None else None,
                                          self._device_arg, self._dataset_ref, ckpt, message),
                        timeout=OPEN_TIMEOUT_S)
        return was, message, facts

    def _restart(self, actor, was: dict, message: str) -> None:
        """Put the rebuilt run back in the state it had: training, paused or stopping (in its pool there)."""
        if was["state"] not in ("running", "paused", "stopping"):
            return
        paused = was["state"] == "paused"  # started paused: the new host's loop takes no step before the pause
        ray.get(actor.start.remote(self.run_id, was.get("target_steps"), paused), timeout=CALL_TIMEOUT_S)
        if was["state"] == "stopping":
            ray.get(actor.stop.remote(self.run_id, ""), timeout=CALL_TIMEOUT_S)
        ray.get(actor.set_message.remote(self.run_id, message), timeout=CALL_TIMEOUT_S)  # start cleared it

    def _refresh(self) -> dict:
        if self._closed:  # its host is gone on purpose: the last status, ended
            ended = {**(self._status or {"state": "stopped", "step": 0}), "running": False}
            if ended.get("state") in ("running", "paused", "stopping"):
                ended["state"] = "stopped"
            return ended
        try:
            status = self._call("status", wait=False)
        except Recovering:  # the last status, saying what is happening, until the new host is up
            if self._status is None:
                return self._refresh_waiting()
            lost = {**(self._status or {"state": "idle", "step": 0}), "running": True}
            lost["message"] = ("its worker was lost; the run is coming back on a new worker from its checkpoint at "
                               f"step {self.checkpoint_step or 0:,}")
            return lost
        return self._keep(status)

    def _refresh_waiting(self) -> dict:
        return self._keep(self._call("status"))

    def _keep(self, status: dict) -> dict:
        self._status, self._status_at = status, time.monotonic()
        if status["state"] != "paused":
            self.paused_at = None
        return status

    def _read(self) -> dict:
        """The host's status, fresh within STATUS_TTL_S (commands always refresh it)."""
        if self._status is None or time.monotonic() - self._status_at > STATUS_TTL_S:
            return self._refresh()
        return self._status

    # ---------------------------------------------------------- commands
    def start(self, steps: int | None = None, paused: bool = False) -> None:
        """Its host starts it; paused: paused before its host's loop can take a step (Trainer.start)."""
        self.started = True
        self._call("start", steps, paused)
        if paused:
            self._paused()
        else:
            self._refresh()

    def pause(self) -> None:
        self._call("pause")
        self._paused()

    def _paused(self) -> None:
        """After a pause: the status read again, and the front end's clock of the pause started."""
        if self._refresh()["state"] == "paused" and self.paused_at is None:
            self.paused_at = time.monotonic()

    def resume(self) -> None:
        self._call("resume")
        self._refresh()

    def stop(self, message: str = "") -> None:
        self._call("stop", message)
        self._refresh()

    def change(self, **settings) -> None:
        self._call("change", settings)

    def join(self, timeout: float | None = None) -> None:
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            wait = JOIN_POLL_S if deadline is None else min(JOIN_POLL_S, deadline - time.monotonic())
            if wait <= 0 or not self._call("join", wait, timeout=wait + CALL_TIMEOUT_S):
                break
        self._refresh()

    def step_by_hand(self) -> dict | None:
        out = self._call("step_by_hand")
        self._refresh()
        return out

    def release_training(self) -> None:
        self._call("release_training")
        self._refresh()

    def close(self) -> None:
        """Stop the run and free its place in its host; the host ends with its last run (the session is gone,
        or it started a new run)."""
        self._closed = True
        self._runs.forget(self)
        self._runs.leave(self)

    # ----------------------------------------------------------- reading
    @property
    def cfg(self) -> RunConfig:
        """The run's resolved config as the host has it now (live changes recorded in its schedule)."""
        status = self._read()
        if status["cfg"] != self._cfg_dict:
            self._cfg_dict, self._cfg = status["cfg"], RunConfig.from_dict(status["cfg"])
        return self._cfg

    @property
    def state(self) -> str:
        return self._read()["state"]

    @property
    def step(self) -> int:
        return self._read()["step"]

    @property
    def message(self) -> str:
        return self._read()["message"]

    @property
    def running(self) -> bool:
        return self._read()["running"]

    @property
    def target_steps(self) -> int:
        return self._read()["target_steps"]

    @property
    def steps_per_s(self) -> float:
        return self._read()["steps_per_s"]

    @property
    def stop_requested(self) -> bool:
        return self._read()["stop_requested"]

    @property
    def holds_optimizers(self) -> bool:
        return self._read()["holds_optimizers"]

    @property
    def last_record(self):
        return self._read()["last_record"]

    @property
    def error(self) -> str | None:
        return self._read()["error"]

    @property
    def pool_size(self) -> int:
        """How many runs share this run's pooled step in its host (0: it trains alone or has ended)."""
        return self._read()["pool_size"]

    @property
    def paced(self) -> bool:
        """Whether its host paces it with the other run of its comparison."""
        return self._read()["paced"]

    def _live_values(self) -> dict:
        return self._read()["live_values"]

    def snapshot(self, history: bool = True) -> dict:
        return self._call("snapshot", history)

    def sample_fixed(self, ema: bool = True) -> torch.Tensor:
        return _uncompact(self._call("sample_fixed", ema))

    def generate(self, z: torch.Tensor, y: torch.Tensor | None = None, ema: bool = True) -> torch.Tensor:
        return _uncompact(self._call("generate", z.cpu(), None if y is None else y.cpu(), ema))

    def save(self, run_dir: str | Path) -> Path:
        """Save as Trainer.save does, into a folder the server named."""
        run_dir = Path(run_dir)
        run_dir.mkdir(parents=True, exist_ok=True)
        for name, data in self._call("save").items():
            write_atomic(run_dir / name, lambda f, data=data: f.write(data))
        return run_dir

    # ------------------------------------------------------- checkpoints
    def pull_checkpoint(self, force: bool = False) -> bool:
        """Ask the host for the run's state if one is due (or force); keep only the latest. True if pulled."""
        after = self._checkpoint["step"] if self._checkpoint else 0
        p = self._runs.placement
        try:
            state = self._call("checkpoint", after, p.every_steps, p.every_s, force, wait=force)
        except Recovering:
            return False
        if state is None:
            return False
        self._checkpoint = state
        return True

    def latest_checkpoint(self, fresh: bool = False) -> dict:
        if fresh or self._checkpoint is None:
            self.pull_checkpoint(force=True)
        return self._checkpoint

    @property
    def checkpoint_step(self) -> int | None:
        return None if self._checkpoint is None else self._checkpoint["step"]

    def host_pid(self) -> int:
        return ray.get(self._host.pid.remote(), timeout=CALL_TIMEOUT_S)

    def host_node(self) -> str:
        return ray.get(self._host.node_id.remote(), timeout=CALL_TIMEOUT_S)


class RemotePair(Comparison):
    """A comparison on Ray: runs A and B in one host, paced together there (Lockstep) as in-process, and
    after a lost worker both back in one new host, paced again."""

    def __init__(self, runs: "RayRuns", cfg_a: RunConfig, cfg_b: RunConfig, run_ids: dict[str, str],
                 slack: int = 0):
        check_pair(cfg_a, cfg_b)
        host = runs.new_group(slack=slack)  # a lost host comes back with both runs, paced again
        self.runs = {label: RemoteRun(runs, cfg, runs.device, run_id=run_ids[label], host=host)
                     for label, cfg in zip(LABELS, (cfg_a, cfg_b))}
        self.started = dict(zip(LABELS, (cfg_a, cfg_b)))
        self.diff = differences(self.runs["A"].cfg, self.runs["B"].cfg)
        ray.get(host.actor.lockstep.remote([run.run_id for run in self.runs.values()], slack),
                timeout=CALL_TIMEOUT_S)
        self.lockstep = None  # in the host

    def pause(self, which: str | None = None) -> None:
        """One call pauses both runs (two calls would let the second run on alone while the first is paused)."""
        picked = self.pick(which)
        picked[0]._call("pause", *(run.run_id for run in picked[1:]))
        for run in picked:
            run._paused()

    def step(self, which: str | None = None) -> dict[str, dict]:
        picked = self.pick(which)
        out = {label: run.step_by_hand() for label, run in self.runs.items() if run in picked}
        return {label: rec for label, rec in out.items() if rec is not None}


class RayRuns:
    """The app's link to a Ray cluster: makes RemoteRuns, and pulls their checkpoints in one thread."""

    def __init__(self, placement: Placement | None = None, device: str = "auto", live_quality=None):
        self.placement = placement or Placement()
        self.device = device
        self.live_quality = live_quality  # handed to every host: the figures its runs measure while they train
        self._actor = ray.remote(RunHost)
        self._pool_hosts: dict[tuple, list[Host]] = {}  # pool_key -> the hosts of its pools, in order opened
        self._place_lock = threading.Lock()  # placing a run and a host's last run leaving never interleave
        self._freed_at = -float("inf")  # time.monotonic() when this app last ended a host (its CPUs come back)
        self.pools = RayPools(self)  # the registry's face of these pools (SessionRegistry.pools)
        self._watched: "weakref.WeakSet[RemoteRun]" = weakref.WeakSet()
        self._watch_lock = threading.Lock()
        self._closed = threading.Event()
        self._thread = threading.Thread(target=self._pull_loop, name="ray-checkpoints", daemon=True)
        self._thread.start()

    @classmethod
    def connect(cls, address: str, placement: Placement | None = None, device: str = "auto",
                live_quality=None) -> "RayRuns":
        """Join the cluster at `address`; "auto": one already running on this machine, else a new local one
        on the loopback (no dashboard); "local": always a new local one."""
        if not ray.is_initialized():
            if address == "auto":
                try:
                    ray.init(address="auto", log_to_driver=False)
                except ConnectionError:
                    address = "local"
            if address == "local":
                ray.init(include_dashboard=False, _node_ip_address="127.0.0.1", log_to_driver=False)
            elif address != "auto":
                ray.init(address=address, log_to_driver=False)
        return cls(placement, device, live_quality)

    def new_host(self):
        p = self.placement
        # max_restarts=0: a dead host is replaced by RemoteRun from its checkpoint, not restarted empty by Ray.
        # max_concurrency: a pool host answers every run's status, join and checkpoint calls at once.
        return self._actor.options(num_cpus=p.num_cpus, num_gpus=p.gpus(), max_concurrency=8 + 2 * p.pool_runs,
                                   max_restarts=0).remote(self.live_quality)

    def make_run(self, cfg: RunConfig, device=None, dataset=None, run_id: str | None = None) -> RemoteRun:
        """The registry's run factory (the front end's device is not the workers'; self.device is): a run that
        the app would pool goes into the host of a pool of its kind with room, or opens one; others train alone."""
        return RemoteRun(self, cfg, self.device, dataset=dataset, run_id=run_id, key=placement_key(cfg, dataset))

    def place(self, run: RemoteRun, key: tuple | None, new: bool = False) -> Host:
        """Where a new run goes: alone in a host of its own (key None), or into the pool host of its key with
        the fewest live runs below Placement.pool_runs, else a new one (new=True: a new one). The run is counted
        there at once, so racing starts fill the hosts evenly."""
        with self._place_lock:
            if key is None:
                host = self.new_group()
            else:
                hosts = self._pool_hosts.setdefault(key, [])
                room = [h for h in hosts if len(h.live()) < self.placement.pool_runs]
                if new or not room:
                    hosts.append(self.new_group(key=key))
                    room = hosts[-1:]
                host = min(room, key=lambda h: len(h.live()))
            host.members.append(run)
            return host

    def new_group(self, key: tuple | None = None, slack: int | None = None) -> Host:
        """A new host for a run (or a comparison), if some machine of the cluster has the CPUs (and GPU share) its
        worker asks for; else NoRoom at once, saying what is full and when a place should free. Ray is asked
        what is free now: a worker placed a moment ago may not show yet, and Host.ready bounds that case."""
        need = self.placement.request()
        free = _free_per_node()
        while not _fits(free, need) and time.monotonic() < self._freed_at + FREED_LAG_S:
            time.sleep(FREED_POLL_S)  # a worker this app just ended: Ray gives its CPUs back a moment later
            free = _free_per_node()
        if not _fits(free, need):
            raise NoRoom(self._no_room_message(need, free))
        return Host(self, key=key, slack=slack)

    def _no_room_message(self, need: dict[str, float], free: list[dict[str, float]]) -> str:
        """Why a run that needs a new worker is refused: what is full, and when a worker of this app should end
        (its runs' ETAs, from their last known status: no call to the actors)."""
        total = ray.cluster_resources()
        full = [name for name, amount in need.items() if not _fits(free, {name: amount})]
        held = {"CPU": f"every CPU of the cluster ({total.get('CPU', 0.0):g} in all) is held by other runs' workers",
                "GPU": f"no GPU of the cluster ({total.get('GPU', 0.0):g} in all) has a {need.get('GPU', 0.0):g} "
                       "share free (other runs' workers hold the rest)"}
        asks = " and ".join(f"{amount:g} {name}" for name, amount in need.items())
        what = (" and ".join(held[name] for name in full) if full else
                f"no machine of the cluster has {asks} free at once (other runs' workers hold the rest)")
        wait = self._host_eta()
        when = (f"a place should free in about {in_words(wait)}, when the runs of a worker finish" if wait is not None
                else "try again in a few minutes, when other visitors' runs have ended")
        return f"busy: {what}, and this run needs a new worker ({asks} on one machine); {when}"

    def _host_eta(self) -> float | None:
        """Seconds until the first of this app's workers has no live run left (None: no worker says when)."""
        with self._watch_lock:
            runs = [run for run in self._watched if run.holds_place()]
        ends: dict[int, list[float | None]] = {}
        for run in runs:
            status = run._status or {}
            rate, left = status.get("steps_per_s") or 0.0, status.get("target_steps", 0) - status.get("step", 0)
            eta = left / rate if status.get("state") == "running" and rate > 0 else None
            ends.setdefault(id(run._group), []).append(eta)
        known = [max(etas) for etas in ends.values() if None not in etas]
        return min(known) if known else None

    def give_up(self, host: Host) -> None:
        """End a host whose actor Ray did not place in time (it must not take a CPU later) and forget it."""
        with self._place_lock:
            if host in self._pool_hosts.get(host.placed_by, []):
                self._pool_hosts[host.placed_by].remove(host)
        try:
            ray.kill(host.actor)
            self._freed_at = time.monotonic()
        except Exception:  # already gone
            log.warning("ending an unplaced worker failed", exc_info=True)

    def leave(self, run: RemoteRun) -> None:
        """A closed run leaves its host: the host drops the run (freeing its memory there), and ends with
        its last run."""
        host = run._group
        with self._place_lock:
            if run in host.members:
                host.members.remove(run)
            last = not host.members
            if last and host in self._pool_hosts.get(host.placed_by, []):
                self._pool_hosts[host.placed_by].remove(host)
        try:
            if last:
                ray.kill(host.actor)
                self._freed_at = time.monotonic()
            else:
                host.actor.close.remote(run.run_id)
        except Exception:  # already dead
            log.warning("ending run %s in its host failed", run.run_id, exc_info=True)

    def make_pair(self, cfg_a: RunConfig, cfg_b: RunConfig, device=None, run_ids: dict | None = None) -> RemotePair:
        """The registry's comparison factory: runs A and B in one host, keyed by the session's run ids."""
        run_ids = run_ids or {label: "run-" + secrets.token_hex(8) for label in LABELS}
        return RemotePair(self, cfg_a, cfg_b, run_ids)

    def watch(self, run: RemoteRun) -> None:
        with self._watch_lock:
            self._watched.add(run)

    def forget(self, run: RemoteRun) -> None:
        with self._watch_lock:
            self._watched.discard(run)

    def forget_session(self, session) -> None:
        """A session ended: end the hosts of its runs (the registry's on_drop hook)."""
        pair = getattr(session, "pair", None)
        for run in (getattr(session, "trainer", None), *(pair.runs.values() if pair is not None else ())):
            if isinstance(run, RemoteRun):
                run.close()

    def _pull_loop(self) -> None:
        while not self._closed.wait(self.placement.poll_s):
            if not ray.is_initialized():  # ray.shutdown() came first: nothing to pull from
                continue
            with self._watch_lock:
                runs = list(self._watched)
            for run in runs:
                try:
                    run.pull_checkpoint()
                except Exception:  # a run that cannot be reached now is retried at the next pull
                    if not run._closed:
                        log.warning("checkpoint pull for %s failed", run.run_id, exc_info=True)
            del runs

    def close(self) -> None:
        self._closed.set()
        self._thread.join(self.placement.poll_s + CALL_TIMEOUT_S)


def _fits(free: list[dict[str, float]], need: dict[str, float]) -> bool:
    """Whether one machine (of `free`, what each has free) has all of `need` at once."""
    return any(all(node.get(name, 0.0) >= amount - 1e-9 for name, amount in need.items()) for node in free)


def _free_per_node() -> list[dict[str, float]]:
    """What each live machine of the cluster has free now ({"CPU": ..., "GPU": ...} per node): a worker is
    placed on one machine, so the cluster's total free CPUs can mislead."""
    try:
        from ray._private.state import available_resources_per_node
        return list(available_resources_per_node().values())
    except (ImportError, AttributeError):  # a Ray without it: the whole cluster as one machine
        return [ray.available_resources()]


def placement_key(cfg: RunConfig, dataset=None) -> tuple | None:
    """The pool_key a run of this config would have (None: it trains alone), found as the app finds it in-process:
    on a Trainer built here, on the CPU, for runs on 2D data only (only those pool: GANs and VAEs; their data is
    small)."""
    if cfg.kind != "2d":
        return None
    return pool_key(Trainer(cfg, device="cpu", dataset=dataset))


class PoolKind:
    """The registry's face of every pool host of one kind (one pool_key) together: a class's pooled runs are
    priced as one pool, as in-process (max(1, runs x a run's estimated step / POOL_SLOT_S) slots), however many
    hosts Ray spreads them over. Priced by the estimate alone (member_seconds None): a host's measured step
    depends on the load of its machine, which would make admission depend on timing."""

    def __init__(self, runs: RayRuns, key: tuple):
        self._runs = runs
        self.key = key

    def hosts(self) -> list[Host]:
        return list(self._runs._pool_hosts.get(self.key, ()))

    def __len__(self) -> int:
        return sum(len(h) for h in self.hosts())

    def __contains__(self, run) -> bool:
        return any(run in h for h in self.hosts())

    def __eq__(self, other) -> bool:
        return isinstance(other, PoolKind) and other._runs is self._runs and other.key == self.key

    def __hash__(self) -> int:
        return hash(self.key)

    def member_seconds(self) -> float | None:
        return None


class RayPools:
    """The session registry's face of the pools on Ray (as gan_demo.training.pool.RunPools in-process): a run's
    kind of pool (PoolKind, all its hosts) prices it, so a class's pooled runs share their slots as in the app's
    own process."""

    def __init__(self, runs: RayRuns):
        self._runs = runs

    def start(self, run: RemoteRun, steps: int | None = None, paused: bool = False) -> None:
        run.start(steps, paused)  # placed at make_run; its host pools it (a local run: trains alone, here)

    def start_all(self, runs: list, steps: int | None = None, paused: bool = False) -> None:
        for run in runs:  # one call each to its host: they join its pool as the calls come
            run.start(steps, paused)

    def pool_of(self, run) -> PoolKind | None:
        host = getattr(run, "_group", None)
        return PoolKind(self._runs, host.placed_by) if host is not None and host.key is not None and run in host else None

    group_of = pool_of  # a kind of pool is already every host of it

    def joining(self, run) -> PoolKind | None:
        host = getattr(run, "_group", None)
        if host is None or host.key is None:
            return None
        kind = PoolKind(self._runs, host.placed_by)
        return kind if len(kind) else None

    @property
    def running(self) -> int:
        return sum(len(h) for hosts in list(self._runs._pool_hosts.values()) for h in hosts)
