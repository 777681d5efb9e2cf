"""Per-browser-session training runs: a registry keyed by session hash, with a budget of training slots.

Every visitor's share of the server is bounded here: a session not seen for `session_timeout`
seconds is dropped (its run stopped and freed), a paused run holds its slot for at most
`paused_timeout` seconds, and the budget is checked and a share reserved in one step under the
lock, so racing starts can never exceed it. The session hash is chosen by the client: it is a
dictionary key only; anything on disk is named by the server-made `Session.token`.

The budget is `max_runs` slots. A run that trains alone (its own thread: image runs, a comparison's
runs) holds one slot. Runs that can share a pooled step (gan_demo.training.pool: 2D MLP GANs, or 2D VAEs, of
the same shapes) train in pools (on a CPU a kind's runs spread over a pool per core, each pool one thread),
and a kind's pools hold max(1, its step time / POOL_SLOT_S) slots together, shared equally by their runs: what the pool measured (seconds of a stacked step per run, once
it has stepped a while at its size), or an estimate from the run's FLOPs and a per-run overhead while it grows. So a class of ring8 runs fits in one or two
slots, while every run of a pool still does at least 1 / (max_runs * POOL_SLOT_S) steps/s.
"""
from __future__ import annotations

import ctypes
import ctypes.util
import gc
import logging
import secrets
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Callable

from gan_demo.training.budget import NoRoom, TimeBudget
from gan_demo.training.eta import in_words
from gan_demo.training.compare import LABELS, Comparison
from gan_demo.core.config import RunConfig
from gan_demo.evaluation.live_quality import live_quality
from gan_demo.training.pool import PoolGroup, RunPools, pool_key
from gan_demo.training.run_loop import HandoverLock
from gan_demo.training.trainer import Trainer
from gan_demo.ui.limits import StepBudget

TIMELINE_EVERY = 50  # steps between progress grids kept for the timeline slider
TIMELINE_MAX = 120  # grids kept; past this every other one is dropped (memory stays flat)
SESSION_TIMEOUT_S = 30 * 60  # a session not seen for this long is dropped with its run
PAUSED_TIMEOUT_S = 10 * 60  # a paused run gives up its slot (it is stopped) after this long
STOP_WAIT_S = 10.0  # how long Stop waits for the step in progress before answering "stopping"
REPLACE_WAIT_S = 30.0  # how long a new Start waits for the session's previous run to end its step
POOL_SLOT_S = 0.1  # a pool holds one slot per this many seconds of its stacked step (each run in it >= 10 steps/s)
POOL_FLOPS_PER_S = 50e9  # a pooled 2D run's work rate until its pool has measured one (ring8 pooled here: ~120)
# ... plus this much a run-step whatever its FLOPs (its draws and values, the Python between the stacked products,
# small products below the FLOP rate). Measured through the app's class of 24 (BENCHMARKS.md section 34, 2 cores):
# a ring8 run's share of a pooled step took 2.1-2.2 ms at width 80 (57 MFLOPs: 1.1 ms by FLOPs alone) and 3.2-3.7 ms
# at width 128 (144 MFLOPs: 2.9 ms), so FLOPs alone priced a class of narrow runs at half its cost.
POOL_RUN_OVERHEAD_S = 1.3e-3
RUN_ID_BYTES = 8  # run ids are unguessable (64 random bits): they name a run in the API and in Explore

log = logging.getLogger(__name__)


class Busy(RuntimeError):
    """Too many runs at once: the caller shows this message instead of slowing everyone down."""


class NoSession(ValueError):
    """A request without a session hash cannot own a run (a REST call that sent none)."""


@dataclass
class Session:
    """One browser tab's state: its run, the grids kept for the timeline, its bookmarks."""

    session_id: str  # the client's session hash: a key, never part of a path
    token: str = field(default_factory=lambda: secrets.token_hex(8))  # server-made: names this session's folders
    trainer: Trainer | None = None
    run_id: str | None = None
    run_cfg: RunConfig | None = None  # the run's settings as started (auto values kept auto): its command line
    budget: TimeBudget | None = None  # a run trained to a time budget: sets its steps once its speed is known
    timeline: deque = field(default_factory=deque)  # (step, picture) pairs, oldest first
    timeline_stride: int = TIMELINE_EVERY
    last_seen: float = field(default_factory=time.monotonic)
    bookmarks: list = field(default_factory=list)  # saved latents (dicts) from Explore; Interpolate's endpoints
    uploads: dict = field(default_factory=dict)  # server-made id -> path of a dataset file this session uploaded
    upload_sizes: dict = field(default_factory=dict)  # server-made id -> bytes of that file
    upload_digests: dict = field(default_factory=dict)  # sha256 of a file -> its server-made id (sent again: kept once)
    projected: dict | None = None  # Explore's latent found by projecting an image: {"checkpoint", "z", "label", "what"}
    projection_stop: threading.Event = field(default_factory=threading.Event)  # Explore's Stop for a projection
    starting: int = 0  # runs being started in this session: its new run (1) or comparison (2)
    reserved: float = 0.0  # the slots those runs will hold, reserved until they have started
    joining: tuple | None = None  # the pool_key of the pool that run is about to join (racing joins count it)
    pair: Comparison | None = None  # the Compare tab's runs A and B
    pair_ids: dict = field(default_factory=dict)  # "A"/"B" -> run id of the comparison's runs
    pair_timeline: deque = field(default_factory=deque)  # (step, picture) pairs of the comparison, oldest first
    sweep: dict | None = None  # a seed sweep's runs: {setting's label: [Trainer, one per seed]} (ui.seed_wall)
    # The Train and Compare tabs' live answers (tick, full update) one at a time, and never across their Start,
    # Stop, Pause, Resume or Reset: an answer computed before the run stopped or was replaced cannot land after the
    # newer one (a loaded CI run once showed "running · step 0" for good after Stop: an older tick's answer came
    # last, and the view it wrote back stopped the timer's ticks).
    view_lock: HandoverLock = field(default_factory=HandoverLock, repr=False)  # re-entrant; knows who waits

    @property
    def active(self) -> bool:
        return self.trainer is not None and self.trainer.state in ("running", "paused")

    def keep_frame(self, step: int, picture) -> None:
        """Keep a progress picture every timeline_stride steps, thinning the oldest when full."""
        if self.timeline and step - self.timeline[-1][0] < self.timeline_stride:
            return
        self.timeline.append((step, picture))
        if len(self.timeline) > TIMELINE_MAX:
            self.timeline = deque(list(self.timeline)[::2])
            self.timeline_stride *= 2


def _slots(session: Session) -> int:
    """Runs of this session counted against the cap: each run whose thread lives (training, paused, or
    finishing its last step), or the slots reserved for the runs being built, whichever is more."""
    running = (session.trainer is not None and session.trainer.running) + (session.pair.running if session.pair else 0)
    running += sum(t.running for t in _sweep_runs(session))
    # A start's reserved slots become its new runs (and its old runs are stopped): count them once.
    return max(session.starting, running)


def _live_trainers(session: Session, ended: bool = False) -> list[Trainer]:
    """The session's trainers whose threads live (with ended=True: all of them): its run, the comparison's two."""
    trainers = [t for t in (session.trainer, *(session.pair.runs.values() if session.pair else ())) if t is not None]
    trainers += _sweep_runs(session)
    return trainers if ended else [t for t in trainers if t.running]


def _sweep_runs(session: Session) -> list[Trainer]:
    """Every run of the session's seed sweep (none without one)."""
    return [t for runs in (session.sweep or {}).values() for t in runs]


def _local_run(cfg: RunConfig, device=None, dataset=None, run_id: str | None = None) -> Trainer:
    """A run trained in this process (the run id names it only in the session)."""
    return Trainer(cfg, device=device, dataset=dataset, live_quality=live_quality)


def _local_pair(cfg_a: RunConfig, cfg_b: RunConfig, device=None, run_ids: dict | None = None) -> Comparison:
    """A comparison trained in this process."""
    return Comparison(cfg_a, cfg_b, device=device, live_quality=live_quality)


def _close_remote(*runs) -> None:
    """End the actors of replaced runs on Ray (their CPU and GPU share go back to the cluster)."""
    for run in runs:
        if getattr(run, "remote", False):
            run.close()


def release_memory() -> None:
    """Give freed memory back to the system (glibc keeps it in its arenas otherwise)."""
    gc.collect()
    libc = ctypes.util.find_library("c")
    if libc:
        try:
            ctypes.CDLL(libc).malloc_trim(0)
        except (OSError, AttributeError):  # not glibc
            pass


class SessionRegistry:
    """Sessions by hash and runs by id; at most max_runs train (or sit paused) at once across all sessions."""

    def __init__(self, max_runs: int = 2, session_timeout: float = SESSION_TIMEOUT_S,
                 paused_timeout: float = PAUSED_TIMEOUT_S, clock: Callable[[], float] = time.monotonic,
                 pools: RunPools | None = None):
        self.max_runs = max_runs  # the budget in slots (see the module's docstring)
        self.pools = pools  # where poolable runs train together (None: every run trains alone, one slot each)
        self._member_s: dict[tuple, float] = {}  # pool_key -> a run's estimated seconds of a pooled step
        self.session_timeout = session_timeout
        self.paused_timeout = paused_timeout
        self.clock = clock
        self.on_drop: list[Callable[[Session], None]] = []  # e.g. the catalog forgets the session's files
        # Builds a session's run: in this process by default; `--ray` sets gan_demo.training.remote.RayRuns.make_run.
        self.make_run: Callable[..., Trainer] = _local_run
        self.make_pair: Callable[..., Comparison] = _local_pair
        self._sessions: dict[str, Session] = {}
        self._lock = threading.Lock()
        self._reaper: threading.Thread | None = None
        self._closed = threading.Event()

    # ------------------------------------------------------------------ sessions
    def get(self, session_id: str | None) -> Session:
        """The session for this hash (made on first use); marks it seen."""
        if not session_id:
            raise NoSession("this request has no session: use gradio_client, or send the same session_hash "
                            "(any random string) with every call")
        with self._lock:
            session = self._sessions.get(session_id)
            if session is None:
                session = self._sessions[session_id] = Session(session_id)
            session.last_seen = self.clock()
        self._release_if_ended(session)  # the visitor's next event after a run ends frees its training state
        return session

    def by_run_id(self, run_id: str) -> Session | None:
        with self._lock:
            return next((s for s in self._sessions.values()
                         if s.run_id == run_id or run_id in s.pair_ids.values()), None)

    def active_runs(self) -> int:
        """Runs holding a slot across all sessions (a comparison holds two)."""
        with self._lock:
            return sum(_slots(s) for s in self._sessions.values())

    def slots_in_use(self) -> float:
        """The budget held across all sessions (at most max_runs)."""
        with self._lock:
            return sum(self._load(s) for s in self._sessions.values())

    def __len__(self) -> int:
        return len(self._sessions)

    # ------------------------------------------------------------------- prices
    def _member_seconds(self, key: tuple, pool: PoolGroup | None) -> float:
        """One run's share of the pool's stacked step: measured, or estimated from its FLOPs."""
        measured = pool.member_seconds() if pool is not None else None
        if measured is not None:
            return measured
        return self._member_s.get(key, POOL_SLOT_S)

    def _pool_slots(self, pool: PoolGroup, runs: int) -> float:
        return max(1.0, runs * self._member_seconds(pool.key, pool) / POOL_SLOT_S)

    def price(self, trainer: Trainer) -> float:
        """The slots this live run holds: one alone, its share of its pool's slots when pooled."""
        pool = self.pools.group_of(trainer) if self.pools is not None else None  # its kind's pools, priced as one
        if pool is None:
            return 1.0
        runs = max(1, len(pool))
        return self._pool_slots(pool, runs) / runs

    def _price_new(self, trainer: Trainer, count: int = 1) -> tuple[Callable[[], float], tuple | None]:
        """(the slots a new run will add, read under the lock; the pool_key it joins or None): one alone
        or as a new pool, the pool's growth when it joins one (counting other sessions' racing joins).
        count: that many runs like trainer join at once (a seed sweep's runs of one setting)."""
        key = pool_key(trainer) if self.pools is not None else None
        if key is None:
            return (lambda: float(count)), None
        if key not in self._member_s:  # step_cost builds the nets on the meta device: once per kind of run
            flops, _ = StepBudget(trainer.cfg).cost(trainer.cfg.train)
            self._member_s[key] = flops / POOL_FLOPS_PER_S + POOL_RUN_OVERHEAD_S

        def price() -> float:
            pool = self.pools.joining(trainer)
            runs = (len(pool) if pool is not None else 0) + sum(
                1 for s in self._sessions.values() if s.starting and s.joining == key)
            member = self._member_seconds(key, pool)
            return max(1.0, (runs + count) * member / POOL_SLOT_S) - (max(1.0, runs * member / POOL_SLOT_S) if runs else 0.0)

        return price, key

    def _load(self, session: Session) -> float:
        """The slots this session holds: its live runs' prices, or what its starting runs reserved."""
        return max(session.reserved, sum(self.price(t) for t in _live_trainers(session)))

    # ---------------------------------------------------------------------- runs
    def start(self, session: Session, cfg: RunConfig, device, dataset=None, budget: TimeBudget | None = None,
              paused: bool = False, local: bool = False) -> Trainer:
        """Build a Trainer for the session's new run and start it, unless the server is full.

        A server past its budget refuses before anything is built. The trainer is built (outside the lock) to
        price it (alone: one slot; joining a pool: what the pool grows by), then its share is checked
        and reserved under the lock, so racing starts cannot exceed max_runs. The session's previous run
        (and its comparison) is stopped, and the new one starts, in a pool when it can share one, only
        once the old threads have ended.
        budget: train for minutes instead of cfg.train.steps (its steps are set once the speed is measured).
        paused: the run starts paused before its first step (the 2D lab's step mode steps it by hand); returns
        once the pause holds. On Ray it is paused right after its host starts it.
        local: the run trains in this process even when runs are placed on Ray (the 2D lab steps its nets by
        hand); it trains alone, one slot.
        """
        self._reserve(session, 1, 0.0, check_only=True)
        run_id = "run-" + secrets.token_hex(RUN_ID_BYTES)
        # a bad config fails here, old run untouched
        try:
            make_run = _local_run if local else self.make_run
            trainer = make_run(cfg, device=device, dataset=dataset, run_id=run_id)
        except NoRoom as e:  # on Ray: no machine can hold the new worker this run needs
            raise Busy(str(e)) from None
        if budget is not None:
            budget.attach(trainer)
        remote = getattr(trainer, "remote", False)  # on Ray: its host steps it
        price, joining = self._price_new(trainer)
        try:
            self._reserve(session, 1, price, joining)
        except Busy:
            _close_remote(trainer)  # a refused run on Ray frees its place in its actor
            raise
        try:
            self._end_live_runs(session)
            _close_remote(session.trainer)
            with self._lock:
                session.trainer, session.run_cfg, session.budget = trainer, cfg, budget
                session.run_id = run_id
                session.timeline.clear()
                session.timeline_stride = TIMELINE_EVERY
                if self.pools is not None:  # paused: no loop sees the run before its pause (no step first)
                    self.pools.start(trainer, paused=paused)  # alone when it cannot be pooled (pool_note says why)
                else:
                    trainer.start(paused=paused)
        finally:
            with self._lock:
                session.starting, session.reserved, session.joining = 0, 0.0, None
        if paused and not remote:
            trainer.wait_paused()  # the pause holds: its loop has begun and stepped nothing
        return trainer

    def start_pair(self, session: Session, cfg_a: RunConfig, cfg_b: RunConfig, device) -> Comparison:
        """Build and start the session's comparison (runs A and B: two slots of the cap, reserved at once).

        Like start(): refused when the server has fewer than two free slots; the session's previous run
        and comparison are stopped first (a visitor trains one run or one comparison at a time).
        """
        self._reserve(session, len(LABELS), float(len(LABELS)))  # paced runs train alone: a slot each
        try:
            run_ids = {label: "run-" + secrets.token_hex(RUN_ID_BYTES) for label in LABELS}
            # a bad config fails here, old runs untouched
            try:
                pair = self.make_pair(cfg_a, cfg_b, device=device, run_ids=run_ids)
            except NoRoom as e:  # on Ray: no machine can hold the comparison's new worker
                raise Busy(str(e)) from None
            self._end_live_runs(session)
            _close_remote(*(session.pair.runs.values() if session.pair else ()))
            with self._lock:
                session.pair = pair
                session.pair_ids = run_ids
                session.pair_timeline.clear()
                pair.start()
        finally:
            with self._lock:
                session.starting, session.reserved = 0, 0.0
        return pair

    def start_sweep(self, session: Session, groups: dict[str, list[RunConfig]], device, dataset=None) -> dict:
        """Build and start the session's seed sweep: {label: [RunConfig per seed]} -> {label: [Trainer]}.

        Like start(): the runs of one setting train in pools (runs that cannot be pooled hold a slot
        each), priced by what their pools grow by and reserved at once, or refused (Busy) when they do not
        fit; the session's previous run, comparison and sweep are stopped first. dataset: one copy the
        runs share (each samples it with its own seeded generator).
        """
        n = sum(len(cfgs) for cfgs in groups.values())
        # without pools (runs on Ray) each run holds a slot: refused before any is built
        self._reserve(session, n, 0.0 if self.pools is not None else float(n), check_only=True)
        # a bad config fails here, old runs untouched
        built: dict[str, list[Trainer]] = {}
        try:
            for label, cfgs in groups.items():
                built[label] = []
                for cfg in cfgs:
                    built[label].append(self.make_run(cfg, device=device, dataset=dataset,
                                                      run_id="run-" + secrets.token_hex(RUN_ID_BYTES)))
        except NoRoom as e:  # on Ray: the runs built so far give their places back
            _close_remote(*(t for runs in built.values() for t in runs))
            raise Busy(str(e)) from None
        prices = [self._price_new(runs[0], len(runs))[0] for runs in built.values() if runs]
        try:
            self._reserve(session, n, lambda: sum(price() for price in prices))
        except Busy:
            _close_remote(*(t for runs in built.values() for t in runs))
            raise
        try:
            self._end_live_runs(session)
            _close_remote(*_sweep_runs(session))
            with self._lock:
                session.sweep = built
                if self.pools is not None:  # each pool's runs join at one step (RunPools.start_all)
                    self.pools.start_all(_sweep_runs(session))
                else:
                    for trainer in _sweep_runs(session):
                        trainer.start()
        finally:
            with self._lock:
                session.starting, session.reserved = 0, 0.0
        return built

    def stop_sweep(self, session: Session, wait: float = STOP_WAIT_S) -> None:
        """Stop every run of the session's sweep at its next step boundary, as stop() does."""
        runs = [t for t in _sweep_runs(session) if t.running]
        for trainer in runs:
            trainer.stop()
        deadline = time.monotonic() + wait
        for trainer in runs:
            trainer.join(max(0.0, deadline - time.monotonic()))

    def _reserve(self, session: Session, n: int, price: float | Callable[[], float], joining: tuple | None = None,
                 check_only: bool = False) -> None:
        """Reserve `price` slots (a number, or a function read under the lock) for the session's n new
        run(s), or raise Busy saying why (check_only: only refuse a server already past its budget).
        The session's own live runs do not count: the new start replaces them."""
        if not check_only:
            self.sweep()
        with self._lock:
            if session.starting:
                raise Busy("busy: a run is already starting in this session; wait for it")
            others = [s for s in self._sessions.values() if s is not session and _slots(s)]
            held = sum(self._load(s) for s in others)
            price = price() if callable(price) else price
            if held + price > self.max_runs + 1e-9:
                raise Busy(self._busy_message(others, held, n, max(price, 1e-9)))
            if not check_only:
                session.starting, session.reserved, session.joining = n, price, joining

    def _end_live_runs(self, session: Session) -> None:
        """Stop the session's run and comparison before new ones start; Busy if a thread will not end."""
        live = [t for t in (session.trainer, *(session.pair.runs.values() if session.pair else ())) if t is not None]
        live += _sweep_runs(session)
        for trainer in live:
            if trainer.running:
                trainer.stop()
        for trainer in live:
            trainer.join(REPLACE_WAIT_S)
            if trainer.running:
                raise Busy("busy: your previous run is still finishing its current step; press Start again "
                           "in a moment")

    def stop(self, session: Session, wait: float = STOP_WAIT_S) -> None:
        """Ask the session's run to stop at its next step boundary; wait up to `wait` seconds for it.

        Until its thread has really ended the run keeps its slot (its state reads "stopping").
        """
        trainer = session.trainer
        if trainer is not None and trainer.running:
            trainer.stop()
            trainer.join(wait)
        self._release_if_ended(session)

    def stop_pair(self, session: Session, which: str | None = None, wait: float = STOP_WAIT_S) -> None:
        """Stop the comparison's runs (both, or "A" or "B") at their next step boundary, as stop() does."""
        pair = session.pair
        if pair is None:
            return
        pair.stop(which)
        for trainer in pair.pick(which):
            trainer.join(wait)
        self._release_if_ended(session)

    def _busy_message(self, holders: list[Session], held: float, wanted: int = 1, price: float = 1.0) -> str:
        """Why a start is refused, and when enough slots are expected to free (the lock held)."""
        runs = sum(_slots(s) for s in holders)
        wait = self._wait_for(holders, held, price)
        when = f"a slot should free in about {in_words(wait)}" if wait is not None else "try again in a minute"
        need = (f"; a comparison trains two runs, so it needs {wanted} free slots (the cap counts runs, not "
                f"visitors)" if wanted > 1 else "")
        limit = (f"limit {self.max_runs}" if abs(held - runs) < 1e-6 else
                 f"using {held:.1f} of its {self.max_runs} slots: runs pooled together share theirs")
        return (f"busy: {runs} runs are training or paused on this server ({limit}){need}; "
                f"{when} (a paused run gives up its slot after {in_words(self.paused_timeout)}, "
                f"a visitor's run is stopped {in_words(self.session_timeout)} after their last visit)")

    def _wait_for(self, holders: list[Session], held: float, price: float) -> float | None:
        """Seconds until enough slots free for `price`, from the live runs' ETAs, the paused runs' and
        the sessions' time-outs (None: no run says when it ends)."""
        now = self.clock()
        events = []  # (seconds from now, slots freed, the session they belong to)
        for s in holders:
            for t in _live_trainers(s):
                if t.state == "paused" and t.paused_at is not None:
                    events.append((max(0.0, self.paused_timeout - (now - t.paused_at)), self.price(t), s))
                elif t.state in ("running", "stopping"):
                    eta = t.snapshot()["eta_s"] if t.state == "running" else 0.0
                    if eta is not None:
                        events.append((eta, self.price(t), s))
            events.append((max(0.0, self.session_timeout - (now - s.last_seen)), float("inf"), s))
        freed: dict[int, float] = {}
        total = 0.0
        for seconds, slots, s in sorted(events, key=lambda e: e[0]):
            load = self._load(s)
            gain = min(slots, load - freed.get(id(s), 0.0))  # a session frees at most what it holds
            freed[id(s)] = freed.get(id(s), 0.0) + gain
            total += gain
            if held - total + price <= self.max_runs + 1e-9:
                return seconds
        return None

    # ----------------------------------------------------------- clean-up
    def sweep(self) -> None:
        """Drop sessions not seen for session_timeout, stop runs paused past paused_timeout,
        and free the training state of runs that have ended."""
        now = self.clock()
        with self._lock:
            expired = [sid for sid, s in self._sessions.items()
                       if now - s.last_seen > self.session_timeout and not s.starting]
            sessions = list(self._sessions.values())
        for s in sessions:
            for t in _live_trainers(s):
                if t.state == "paused" and t.paused_at is not None and now - t.paused_at > self.paused_timeout:
                    t.stop(f"stopped after {in_words(self.paused_timeout)} paused, to free its slot for other "
                           "visitors; it can still be saved and explored")
            self._release_if_ended(s)
        for sid in expired:
            self.drop(sid)
        if expired:
            release_memory()

    def _release_if_ended(self, session: Session) -> None:
        # 2D runs keep their (small) optimizers: the 2D lab can still step them by hand.
        for trainer in _live_trainers(session, ended=True):
            if trainer.kind == "image" and not trainer.running and trainer.holds_optimizers:
                trainer.release_training()

    def drop(self, session_id: str) -> None:
        """The browser tab closed or the session expired: stop its run and forget it."""
        with self._lock:
            session = self._sessions.pop(session_id, None)
        if session is None:
            return
        for trainer in _live_trainers(session):
            trainer.stop()
        for trainer in _live_trainers(session):
            trainer.join(STOP_WAIT_S)
        for hook in self.on_drop:
            try:
                hook(session)
            except Exception:  # a hook's failure must not keep the session alive
                log.warning("session clean-up hook failed", exc_info=True)
        session.trainer = session.pair = session.sweep = None
        session.timeline.clear()
        session.pair_timeline.clear()

    def start_reaper(self, every: float | None = None) -> None:
        """Sweep in a background thread every `every` seconds (default: a quarter of the shorter timeout)."""
        if self._reaper is not None:
            return
        every = every or max(1.0, min(self.session_timeout, self.paused_timeout) / 4)

        def loop():
            while not self._closed.wait(every):
                try:
                    self.sweep()
                except Exception:
                    log.warning("session sweep failed", exc_info=True)

        self._reaper = threading.Thread(target=loop, name="session-reaper", daemon=True)
        self._reaper.start()

    def close(self) -> None:
        """Stop the reaper and every run (the server is shutting down)."""
        self._closed.set()
        for sid in list(self._sessions):
            self.drop(sid)

