"""The run loop apart from the run: the thread that steps runs, pause/resume/stop flags, the handover lock.

A run (gan_demo.training.trainer.Trainer) keeps its own bookkeeping (history, read-back, rollback, checkpoints);
this module owns the thread and the order of a step loop. run_solo steps one run, as Trainer.start does;
gan_demo.training.pool steps a pool of runs in one thread with the same controls. Never imports gradio, nor the
Trainer (runs are handed in).
"""
from __future__ import annotations

import atexit
import os
import sys
import threading
import time
import weakref
from typing import Callable

import torch

from gan_demo.core.step_utils import StepInterrupted

SMALL_OPS_THREADS = 1  # a 2D model's matrices are too small to split: two threads made ring8 2.8x slower (BENCHMARKS 19)
HANDOVER_S = 0.05  # the run loop waits at most this long between two steps for a waiting reader to take the lock
TRAINING_NICE = 5  # a training thread runs this many nice levels below the process (Linux), so requests come first
EXIT_JOIN_S = 30.0  # at interpreter exit: how long the live run loops get, all together, to end their current step

_exiting = threading.Event()
_live_loops: "weakref.WeakSet[RunLoop]" = weakref.WeakSet()


def exiting() -> bool:
    """Whether the interpreter is exiting: a step loop then ends after its current step, finishing nothing."""
    return _exiting.is_set()


@atexit.register
def _end_loops_at_exit() -> None:
    """A daemon thread still inside torch's C++ code when the interpreter exits aborts the process ("terminate
    called without an active exception", exit status 134): every live loop ends its step first, then exit goes on."""
    _exiting.set()
    loops = [loop for loop in list(_live_loops) if loop.alive]
    for loop in loops:
        loop.wake()
    deadline = time.monotonic() + EXIT_JOIN_S
    for loop in loops:
        loop.join(max(0.0, deadline - time.monotonic()))


def own_threads(threads: int) -> None:
    """The calling thread computes with `threads` intra-op threads; threads started later still get torch's count
    (torch.set_num_threads also sets the count every later thread starts with, so a helper puts that back)."""
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    if threads != before:
        helper = threading.Thread(target=torch.set_num_threads, args=(before,), name="threads-restore")
        helper.start()
        helper.join()


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


def hand_over(lock: HandoverLock) -> None:
    """Between two steps: if a reader waits for the lock, give it the chance to take it first."""
    deadline = time.perf_counter() + HANDOVER_S
    while lock.waiting and time.perf_counter() < deadline:
        time.sleep(0.0005)


class RunControl:
    """One run's pause/resume/stop flags, set from any thread and read by whichever loop steps the run."""

    def __init__(self):
        self.stop_event = threading.Event()
        self.unpaused = threading.Event()
        self.unpaused.set()
        # set by the loop stepping the run once a pause has taken hold: the step in flight ended and was read back
        self.halted = threading.Event()
        self.paused_at: float | None = None  # time.monotonic() of the pause, while paused (the app's slot limit)

    def reset(self) -> None:
        """Before a new start: not stopped, not paused."""
        self.stop_event.clear()
        self.unpaused.set()
        self.halted.clear()
        self.paused_at = None

    def pause(self) -> None:
        self.halted.clear()
        self.unpaused.clear()
        self.paused_at = time.monotonic()

    def resume(self) -> None:
        self.paused_at = None
        self.unpaused.set()

    def stop(self) -> None:
        self.stop_event.set()
        self.paused_at = None
        self.unpaused.set()

    @property
    def stop_requested(self) -> bool:
        return self.stop_event.is_set()

    @property
    def paused(self) -> bool:
        return not self.unpaused.is_set()


def lower_thread_priority(by: int) -> None:
    """The calling thread's OS priority set `by` nice levels below the process's (its main thread's; at most
    19, never raised), for it alone and the threads it starts from now on (torch's intra-op threads). A
    thread started by a training thread (a run leaving its pool) lands at the same level, not lower.
    Linux only (elsewhere a thread id is not something setpriority takes); a refusal changes nothing."""
    if by <= 0 or not sys.platform.startswith("linux"):
        return
    tid = threading.get_native_id()
    try:
        now = os.getpriority(os.PRIO_PROCESS, tid)
        wanted = min(19, os.getpriority(os.PRIO_PROCESS, os.getpid()) + by)
        if wanted > now:
            os.setpriority(os.PRIO_PROCESS, tid, wanted)
    except OSError:
        pass


class RunLoop:
    """The background thread that runs a step loop (body) to its end: run_solo for one run, a pool's loop for many.

    The thread runs `nice` levels below the process: in a web server on a few cores, a visitor's request
    (a slider's picture, a poll) then preempts training instead of queueing behind a whole stacked step,
    and training still takes every cycle nobody else wants.
    threads: torch's intra-op threads for this thread's ops (None: torch's count; see own_threads).
    wake: what gets the body out of a wait without end (a paused run's) once the interpreter exits; the body
    checks `exiting()` between steps and returns."""

    def __init__(self, body: Callable[[], None], name: str = "gan-trainer", nice: int = TRAINING_NICE,
                 threads: int | None = None, wake: Callable[[], None] | None = None):
        def run() -> None:
            lower_thread_priority(nice)
            if threads:
                own_threads(threads)
            body()

        self._thread = threading.Thread(target=run, name=name, daemon=True)
        self._wake = wake

    def start(self) -> None:
        _live_loops.add(self)
        self._thread.start()

    def wake(self) -> None:
        if self._wake is not None:
            self._wake()

    def join(self, timeout: float | None = None) -> None:
        self._thread.join(timeout)

    @property
    def alive(self) -> bool:
        return self._thread.is_alive()

    def is_current(self) -> bool:
        """Whether the caller runs in this loop's thread."""
        return threading.current_thread() is self._thread


def solo_threads(kind: str, device) -> int | None:
    """The intra-op threads of one run's training thread: one for a 2D model on a CPU (its ops are too small
    for two threads to share); None (torch's count) for images and on a GPU."""
    return SMALL_OPS_THREADS if kind == "2d" and getattr(device, "type", str(device)) == "cpu" else None


def solo_loop(run) -> RunLoop:
    """The (unstarted) thread that trains one run alone: run_solo with the run's own intra-op threads."""
    return RunLoop(lambda: run_solo(run), name="gan-trainer", threads=solo_threads(run.kind, run.device),
                   wake=run.control.unpaused.set)


def run_solo(run) -> None:
    """The step loop of one run until its target step, a stop, a divergence or an error.

    run: a Trainer (anything with its step methods): begin_loop, pace, control, queue_step, read_back,
    read_back_due, stop_decided, finish and fail. Pausing reads back every step taken first, then waits;
    under torchrun (run.dist.active) there is no pause and read-backs go by step count only."""
    run.begin_loop()
    read_at = time.perf_counter()
    many = run.dist.active
    try:
        while run.step < run.target_steps:
            if exiting():
                return
            if run.pace is not None:  # a comparison keeps its runs at the same step
                run.pace(run)
            if not many and run.control.paused:
                if not run.read_back():  # show every step taken before waiting
                    return
                run.control.halted.set()
                run.control.unpaused.wait()
                if exiting():
                    return
            if run.stop_decided():
                break
            hand_over(run.lock)
            try:
                run.queue_step()
            except StepInterrupted:  # Stop asked for mid-step: the step is abandoned, not counted
                break
            # The step numbers are read back in batches: a read is a host sync, which on a GPU
            # would stall the queue of kernels every step.
            if run.read_back_due(None if many else time.perf_counter() - read_at):
                if not run.read_back():
                    return
                read_at = time.perf_counter()
        if not run.read_back():
            return
        run.finish()
    except Exception as exc:  # kept for the caller instead of dying silently in a thread
        run.fail(exc)
