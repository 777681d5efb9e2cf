"""Live views under a class: each run's progress picture drawn once per shown step, and a slower refresh under load.

Every open Train tab polls its run (gr.Timer); with a class of 24 tabs the drawing can cost more than
the training. A run's picture depends only on the run and the step its snapshot shows, so the first
poll of a new step draws it and every other poll of that step (another tab on the same run, a reload,
the API) gets the same picture. The tabs' refresh interval grows with the number of live runs.
"""
from __future__ import annotations

import threading
import weakref
from collections import OrderedDict
from typing import Callable

RUNS_AT_FULL_RATE = 6  # up to this many live runs, every tab refreshes at its own pace (the Train tab's TICK_S)
SLOWEST_TICK_S = 4.0  # the slowest refresh, however many runs train
RUNS_KEPT = 48  # pictures kept: the latest of this many runs (a class and more; ~0.8 MB each)


def refresh_s(live_runs: int, tick_s: float) -> float:
    """Seconds between a tab's live updates (tick_s when few runs train) with this many runs training or
    paused on the server: slower in proportion past RUNS_AT_FULL_RATE, at most SLOWEST_TICK_S."""
    return max(tick_s, min(SLOWEST_TICK_S, tick_s * live_runs / RUNS_AT_FULL_RATE))


class PictureCache:
    """The latest picture of each run, by (run, step): drawn by the first poll of a step, shared by the rest.

    A poll that asks while another draws the same run waits for that drawing instead of drawing again.
    Runs are keyed by identity through a weak reference (the cache never keeps an ended run's networks
    alive, and a reused id is told apart); the least recently asked runs are dropped past RUNS_KEPT."""

    def __init__(self, runs_kept: int = RUNS_KEPT):
        self.runs_kept = runs_kept
        self._entries: OrderedDict[int, tuple] = OrderedDict()  # id(run) -> (weakref(run), step, picture, lock)
        self._lock = threading.Lock()
        self.draws = 0  # pictures drawn since the start (what the cache saves is polls - draws)

    def get(self, run, step: int, draw: Callable[[], object]):
        """The run's picture at `step`: draw() once per (run, step) however many polls ask."""
        with self._lock:
            entry = self._entries.get(id(run))
            if entry is None or entry[0]() is not run:
                entry = (weakref.ref(run), None, None, threading.Lock())
                self._entries[id(run)] = entry
            self._entries.move_to_end(id(run))
            while len(self._entries) > self.runs_kept:
                self._entries.popitem(last=False)
        run_lock = entry[3]
        with run_lock:  # one drawing per run at a time; the others wait and take its picture
            with self._lock:
                current = self._entries.get(id(run), entry)
            if current[0]() is run and current[1] == step:
                return current[2]
            picture = draw()
            with self._lock:
                self.draws += 1
                if id(run) in self._entries:
                    self._entries[id(run)] = (weakref.ref(run), step, picture, run_lock)
            return picture

    def forget(self, run) -> None:
        """Drop a run's picture (its session ended)."""
        with self._lock:
            entry = self._entries.get(id(run))
            if entry is not None and entry[0]() is run:
                del self._entries[id(run)]
