"""Training to a time budget: the steps a run of N minutes takes, set from the measured speed of its first steps."""
from __future__ import annotations

import time

from gan_demo.core.config import ConfigError

MAX_MINUTES = 24 * 60  # a day
MEASURE_SHARE = 0.05  # share of the budget spent measuring the speed (the run's own first steps, kept)...
MEASURE_MAX_S = 30.0  # ...but no longer than this
MEASURE_MIN_STEPS = 5  # at least this many steps before the speed counts (the first ones warm up)
PLACEHOLDER_STEPS = 100_000_000  # the run's steps while the speed is measured (config.validate's upper bound)


def check_minutes(minutes: float) -> None:
    if not (isinstance(minutes, (int, float)) and not isinstance(minutes, bool) and 0 < minutes <= MAX_MINUTES):
        raise ConfigError(f"minutes: must be a number of minutes above 0 and at most {MAX_MINUTES:,} (got {minutes!r})")


def steps_for(minutes: float, steps_done: int, elapsed: float, steps_per_s: float, lr_decay: float = 0.0,
              limit: int | None = None) -> int:
    """The total steps of a `minutes` run that took `steps_done` steps in its first `elapsed` seconds and
    now runs at `steps_per_s`: those steps, plus what the rest of the budget holds at that speed.

    With an end-of-run learning-rate decay over the last lr_decay share, at least enough steps that the
    decay starts after every step already taken: those ran at the full rate, so a rerun with --steps N
    (the decay placed from N) repeats them exactly. limit: a cap (the web's)."""
    total = max(steps_done, 1, steps_done + round(steps_per_s * max(0.0, minutes * 60.0 - elapsed)))
    if lr_decay > 0:
        # engine.lr_factor is 1 while step <= steps - max(1, round(decay * steps)); the last step taken is steps_done - 1
        while total - max(1, round(lr_decay * total)) < steps_done - 1:
            total += 1
    return min(total, limit) if limit else total


class TimeBudget:
    """A Trainer callback that sets a run's steps from its speed: the run starts with a placeholder step count,
    and once MEASURE_SHARE of the budget (at most MEASURE_MAX_S) has passed, the steps become those that fill
    the budget at the speed measured after the first MEASURE_MIN_STEPS (over at least as many more), in
    cfg.train.steps too, so config.json (and the command it gives) repeats the run exactly. One process only: under torchrun, ranks would read different clocks."""

    def __init__(self, minutes: float, limit: int | None = None, clock=time.perf_counter):
        check_minutes(minutes)
        self.minutes, self.limit, self.clock = float(minutes), limit, clock
        self.started = self.start_step = self.trainer = None
        self.warm: tuple[float, int] | None = None  # (clock, step) once the first steps are behind
        self.steps: int | None = None  # the chosen total, once decided

    def attach(self, trainer) -> None:
        """Before trainer.start()/run(): placeholder steps, the clock starts, and the callback is registered."""
        t = trainer.cfg.train
        if trainer.dist.active:
            raise ConfigError("minutes: not under torchrun (each process reads its own clock); give --steps")
        if t.lr_decay >= 1:
            raise ConfigError("minutes: lr_decay 1 decays the learning rates from the first step, so they depend on "
                              "the total steps before the speed is known; use lr_decay below 1, or give the steps")
        t.steps = PLACEHOLDER_STEPS if self.limit is None else min(PLACEHOLDER_STEPS, max(self.limit, trainer.step + 1))
        trainer.target_steps = t.steps
        self.started, self.start_step, self.trainer = self.clock(), trainer.step, trainer
        trainer.add_callback(self)

    def __call__(self, trainer, rec) -> None:
        if self.steps is not None:
            return
        now, done = self.clock(), trainer.step - self.start_step
        if self.warm is None:  # the first steps allocate and warm caches: the speed is timed after them
            if done >= MEASURE_MIN_STEPS:
                self.warm = (now, trainer.step)
            return
        timed_s, timed_steps = now - self.warm[0], trainer.step - self.warm[1]
        if timed_steps < MEASURE_MIN_STEPS or now - self.started < min(MEASURE_SHARE * self.minutes * 60.0, MEASURE_MAX_S):
            return
        t = trainer.cfg.train
        limit = None if self.limit is None else self.limit - self.start_step
        total = self.start_step + steps_for(self.minutes, done, now - self.started, timed_steps / max(timed_s, 1e-9),
                                            t.lr_decay, limit)
        self.steps = max(total, trainer.step)
        t.steps = self.steps
        trainer.target_steps = self.steps

    def finish(self, trainer) -> None:
        """After the run: one stopped before the speed was known keeps the steps it took (not the placeholder)."""
        if self.steps is None:
            self.steps = trainer.step
            trainer.cfg.train.steps = max(1, trainer.step)

    @property
    def decided(self) -> bool:
        return self.steps is not None



class NoRoom(RuntimeError):
    """A cluster has no place for the worker a new run needs: the message says what is full and when a place
    should free (the app shows it as it shows a full server)."""
