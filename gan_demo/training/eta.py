"""The remaining time of a run from (time, step) marks: a pure function, so synthetic timings can test it."""
from __future__ import annotations

from typing import Sequence

WINDOW_S = 60.0  # the speed: steps over about the last minute
MIN_MARKS = 5  # marks needed before the window's speed (and a range) is used


def eta_from_marks(marks: Sequence[tuple[float, int]], remaining: int,
                   fallback_rate: float = 0.0) -> tuple[float | None, float | None, float | None]:
    """(ETA, low, high) in seconds for `remaining` steps, from (time s, step) marks in time order that cover
    about the last WINDOW_S (the caller drops older ones).

    The speed is the steps over the marks' span; low and high come from the quartiles of the speeds between
    consecutive marks (steps/s swings while other runs share the CPU). With fewer than MIN_MARKS marks, or
    no progress across them: remaining / fallback_rate (the last steps' speed) and no range.
    """
    if len(marks) >= MIN_MARKS:
        (t0, s0), (t1, s1) = marks[0], marks[-1]
        if s1 > s0 and t1 > t0:
            pairs = [(a, b) for a, b in zip(marks, marks[1:]) if b[0] > a[0]]
            speeds = sorted((b[1] - a[1]) / (b[0] - a[0]) for a, b in pairs)
            low, high = speeds[len(speeds) // 4], speeds[(3 * len(speeds)) // 4]
            eta = remaining / ((s1 - s0) / (t1 - t0))
            return eta, (remaining / high if high > 0 else None), (remaining / low if low > 0 else None)
    return (remaining / fallback_rate if fallback_rate > 0 else None), None, None


def in_words(seconds: float) -> str:
    """A duration as a refusal or a status says it: "40 s" under a minute, else whole minutes ("12 min")."""
    seconds = max(0, int(round(seconds)))
    return f"{seconds} s" if seconds < 60 else f"{round(seconds / 60)} min"
