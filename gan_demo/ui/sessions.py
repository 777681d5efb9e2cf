"""Per-browser-session training runs: a registry keyed by session hash, with a cap on concurrent runs."""
from __future__ import annotations

import secrets
import threading
import time
from collections import deque
from dataclasses import dataclass, field

from ..config import RunConfig
from ..trainer import Trainer

TIMELINE_EVERY = 50  # steps between progress grids kept for the timeline slider
TIMELINE_MAX = 120  # grids kept; past this every other one is dropped (memory stays flat)


class Busy(RuntimeError):
    """Too many runs at once: the caller shows this message instead of slowing everyone down."""


@dataclass
class Session:
    """One browser tab's state: its run, the grids kept for the timeline, its bookmarks."""

    session_id: str
    trainer: Trainer | None = None
    run_id: str | None = None
    timeline: deque = field(default_factory=deque)  # (step, picture) pairs, oldest first
    timeline_stride: int = TIMELINE_EVERY
    last_seen: float = field(default_factory=time.time)
    bookmarks: list = field(default_factory=list)  # saved latents (dicts) from Explore; Interpolate's endpoints

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


class SessionRegistry:
    """Sessions by hash and runs by id; at most max_runs train at once across all sessions."""

    def __init__(self, max_runs: int = 2):
        self.max_runs = max_runs
        self._sessions: dict[str, Session] = {}
        self._lock = threading.Lock()

    def get(self, session_id: str) -> Session:
        with self._lock:
            session = self._sessions.get(session_id)
            if session is None:
                session = self._sessions[session_id] = Session(session_id)
            session.last_seen = time.time()
            return session

    def active_runs(self) -> int:
        with self._lock:
            return sum(s.active for s in self._sessions.values())

    def start(self, session: Session, cfg: RunConfig, device, dataset=None) -> Trainer:
        """Build a Trainer for the session's new run and start it, unless the server is full."""
        with self._lock:
            others = sum(s.active for s in self._sessions.values() if s is not session)
            if others >= self.max_runs:
                raise Busy(f"busy: {others} runs are training on this server (limit {self.max_runs}); "
                           "try again in a minute")
        trainer = Trainer(cfg, device=device, dataset=dataset)  # a bad config fails here, old run untouched
        self.stop(session)
        session.trainer = trainer
        session.run_id = "run-" + secrets.token_hex(4)
        session.timeline.clear()
        session.timeline_stride = TIMELINE_EVERY
        trainer.start()
        return trainer

    def stop(self, session: Session) -> None:
        if session.trainer is not None and session.trainer.running:
            session.trainer.stop()
            session.trainer.join(10)

    def by_run_id(self, run_id: str) -> Session | None:
        with self._lock:
            return next((s for s in self._sessions.values() if s.run_id == run_id), None)

    def drop(self, session_id: str) -> None:
        """The browser tab closed: stop its run and forget it."""
        with self._lock:
            session = self._sessions.pop(session_id, None)
        if session is not None:
            self.stop(session)

    def __len__(self) -> int:
        return len(self._sessions)
