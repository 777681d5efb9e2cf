"""Long jobs (projections, Quality evaluations): a few run at a time; each visitor has at most one waiting or
running, and the rest wait in a fair queue that tells them their place."""
from __future__ import annotations

import contextlib
import threading
from collections import deque
from typing import Callable, Iterator

from gan_demo.ui.sessions import Busy

THREADS = 8  # handlers of one kind of job Gradio runs at once (its concurrency_limit): running and waiting
WAIT_POLL_S = 1.0  # how often a waiting job re-reads its place (it is also woken whenever one ends)


class JobQueue:
    """At most `workers` jobs run at once; each session holds at most `per_session` places (waiting or
    running); at most `max_waiting` wait. Jobs start in the order they arrived, and with one place per
    session that order takes the sessions in turn: a visitor who sends 100 projections gets one place and
    99 refusals, instead of a queue that makes everyone else wait behind them."""

    def __init__(self, what: str, workers: int = 1, per_session: int = 1, max_waiting: int = THREADS - 1):
        self.what = what  # the job in words, plural: "projections"
        self.workers, self.per_session, self.max_waiting = workers, per_session, max_waiting
        self._cond = threading.Condition()
        self._waiting: deque[object] = deque()  # tickets, first come first
        self._held: dict[str, int] = {}  # session key -> places it holds
        self._running = 0

    @contextlib.contextmanager
    def turn(self, session_key: str, on_wait: Callable[[int], None] | None = None) -> Iterator[None]:
        """Hold a place for this session's job, wait for its turn, and run the body; Busy (a sentence saying
        the limit) when the session already holds its places or the queue is full. on_wait(n) is told how
        many jobs are ahead each time the place changes (n >= 1), outside the lock."""
        ticket = object()
        with self._cond:
            if self._held.get(session_key, 0) >= self.per_session:
                raise Busy(f"you already have {self.per_session} of the {self.what} in the queue or running (at most "
                           f"{self.per_session} per visitor): wait for it to finish, or stop it")
            if len(self._waiting) >= self.max_waiting:
                raise Busy(f"busy: {len(self._waiting)} {self.what} are waiting (at most {self.max_waiting}); "
                           "try again in a minute")
            self._held[session_key] = self._held.get(session_key, 0) + 1
            self._waiting.append(ticket)
        try:
            told = None
            while True:
                with self._cond:
                    if self._waiting[0] is ticket and self._running < self.workers:
                        self._waiting.popleft()
                        self._running += 1
                        break
                    ahead = self._waiting.index(ticket) + self._running  # jobs that start before this one
                    if ahead == told:
                        self._cond.wait(WAIT_POLL_S)
                        continue
                if on_wait is not None:
                    on_wait(ahead)
                told = ahead
        except BaseException:
            with self._cond:
                if ticket in self._waiting:
                    self._waiting.remove(ticket)
                self._release(session_key)
            raise
        try:
            yield
        finally:
            with self._cond:
                self._running -= 1
                self._release(session_key)

    def _release(self, session_key: str) -> None:
        """(the lock held) give back one of the session's places and wake the waiting jobs."""
        left = self._held.get(session_key, 1) - 1
        if left:
            self._held[session_key] = left
        else:
            self._held.pop(session_key, None)
        self._cond.notify_all()

    def waiting(self) -> int:
        with self._cond:
            return len(self._waiting)

    def running(self) -> int:
        with self._cond:
            return self._running
