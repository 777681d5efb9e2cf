"""Live views under a class: each run's progress picture drawn once per shown step, and a slower refresh under load.

Every open Train tab polls its run (the live route for the picture and status line, its own Gradio event for the
curves); with a class of 24 tabs that can cost more than the training. A run's picture depends only on the run
and the step its snapshot shows, so the first poll of a new step draws it and every other poll of that step
(another tab on the same run, a reload, the API) gets the same picture, already encoded: its PNG is made at most
once (the timeline's kept frame, a watch page) and written to one file at most once (the Train tab's image,
which Gradio then serves without encoding it again). The tabs' refresh interval, and more steeply their own
events', grow with the number of live runs.
"""
from __future__ import annotations

import secrets
import threading
import time
import weakref
from collections import OrderedDict, deque
from pathlib import Path
from typing import Callable

from gan_demo.ui.explore_images import png
from gan_demo.ui.tempdirs import temp_dir

# Up to this many live runs, every tab refreshes its picture and status line at its own pace (the Train tab's
# TICK_S); past it the tabs of a class together refresh RUNS_AT_FULL_RATE / TICK_S times a second (5.3). As Gradio
# events (each ~40 ms of the server's interpreter that the training threads wait for) 24 open tabs cost a class
# 0.69-0.75 of its speed at 8 a second, 0.76-0.79 at 5.3 (BENCHMARKS 19); as the live route's polls ~0.05
# (BENCHMARKS 24).
RUNS_AT_FULL_RATE = 4
SLOWEST_TICK_S = 6.0  # the slowest refresh, however many runs train
RUNS_KEPT = 48  # pictures kept: the latest of this many runs (a class and more; ~0.8 MB each)
FILES_KEPT_S = 30.0  # a picture's file stays this long after it was written (Gradio copies it at once), then goes


# The Train tab's own Gradio event (its curves, buttons and timeline; the picture and status line come from the
# live route) costs the training far more than the route's polls: 24 tabs sending it 2.7 times a second in all
# kept a class at 0.75 of its speed, the route's 5 polls a second at 0.95 (BENCHMARKS 24). So the open tabs send
# it at most TAB_EVENTS_PER_S times a second together once a few runs train, each at least every SLOWEST_CURVES_S.
TAB_EVENTS_PER_S = 1.0
SLOWEST_CURVES_S = 30.0


def curves_s(live_runs: int, fastest_s: float) -> float:
    """Seconds between a Train tab's own updates (its curves) with this many runs training or paused: fastest_s
    when few train, then live_runs / TAB_EVENTS_PER_S (24 s for a class of 24), at most SLOWEST_CURVES_S."""
    return max(fastest_s, min(SLOWEST_CURVES_S, live_runs / TAB_EVENTS_PER_S))


def refresh_s(live_runs: int, tick_s: float) -> float:
    """Seconds between a tab's live updates (tick_s when few runs train) with this many runs training or
    paused on the server: slower in proportion past RUNS_AT_FULL_RATE, at most SLOWEST_TICK_S."""
    return max(tick_s, min(SLOWEST_TICK_S, tick_s * live_runs / RUNS_AT_FULL_RATE))


class LivePicture:
    """A run's picture at one step: the image, its PNG encoded at most once, and a file of it written at most once."""

    def __init__(self, image, files: "PictureFiles"):
        self.image = image
        self._files = files
        self._png: bytes | None = None
        self._path: str | None = None
        self._lock = threading.Lock()

    def png(self) -> bytes:
        with self._lock:
            if self._png is None:
                self._png = png(self.image)
            return self._png

    def path(self) -> str:
        """A PNG file of the picture (for a gr.Image output: Gradio serves the file as it is)."""
        data = self.png()
        with self._lock:
            if self._path is None:
                self._path = self._files.write(data)
            return self._path


class PictureFiles:
    """The live pictures' files: one folder, each file removed FILES_KEPT_S after it was written (by the next
    write), so the folder holds at most the pictures of the last half minute."""

    def __init__(self, folder: Callable[[], Path], kept_s: float = FILES_KEPT_S, clock: Callable[[], float] = time.monotonic):
        self._folder_of, self._folder = folder, None
        self.kept_s, self.clock = kept_s, clock
        self._written: deque[tuple[float, Path]] = deque()
        self._lock = threading.Lock()

    def write(self, data: bytes) -> str:
        with self._lock:
            if self._folder is None:
                self._folder = self._folder_of()
            now = self.clock()
            while self._written and now - self._written[0][0] > self.kept_s:
                self._written.popleft()[1].unlink(missing_ok=True)
            path = self._folder / f"{secrets.token_hex(16)}.png"  # server-made, as every file name here
            self._written.append((now, path))
        path.write_bytes(data)
        return str(path)

    def __len__(self) -> int:
        with self._lock:
            return len(self._written)


class PictureCache:
    """The latest picture of each run, by (run, step): drawn by the first poll of a step, shared by the rest.

    A poll that asks while another draws the same run waits for that drawing instead of drawing again.
    Runs are keyed by identity through a weak reference (the cache never keeps an ended run's networks
    alive, and a reused id is told apart); the least recently asked runs are dropped past RUNS_KEPT."""

    def __init__(self, runs_kept: int = RUNS_KEPT, files: PictureFiles | None = None):
        self.runs_kept = runs_kept
        self.files = files if files is not None else PictureFiles(_live_folder)
        self._entries: OrderedDict[int, tuple] = OrderedDict()  # id(run) -> (weakref(run), step, picture, lock)
        self._lock = threading.Lock()
        self.draws = 0  # pictures drawn since the start (what the cache saves is polls - draws)

    def get(self, run, step: int, draw: Callable[[], object]):
        """The run's picture at `step`: draw() once per (run, step) however many polls ask."""
        return self.picture(run, step, draw).image

    def picture(self, run, step: int, draw: Callable[[], object]) -> LivePicture:
        """The run's LivePicture at `step` (its image drawn by draw() once per (run, step), its PNG and file
        made once, by whichever poll asks first)."""
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
            picture = LivePicture(draw(), self.files)
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


def _live_folder() -> Path:
    return temp_dir("live_")  # under the app's temp root, removed at exit
