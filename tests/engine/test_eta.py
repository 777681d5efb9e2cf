"""The ETA estimator (gan_demo.training.eta) on synthetic (time, step) marks: no clock, no training."""
from __future__ import annotations

import pytest

from gan_demo.training.eta import MIN_MARKS, eta_from_marks


def marks_at(speeds: list[float], start_step: int = 0) -> list[tuple[float, int]]:
    """One mark a second; speeds[i] steps/s between second i and i + 1."""
    out, step = [(0.0, start_step)], start_step
    for i, speed in enumerate(speeds):
        step += speed
        out.append((float(i + 1), round(step)))
    return out


def test_a_steady_speed_gives_the_exact_remaining_time_and_no_spread():
    eta, low, high = eta_from_marks(marks_at([10.0] * 30), remaining=600)
    assert eta == pytest.approx(60.0) and low == pytest.approx(60.0) and high == pytest.approx(60.0)


def test_the_speed_is_the_marks_average_and_the_range_its_quartiles():
    eta, low, high = eta_from_marks(marks_at([8.0, 12.0] * 20), remaining=1000)
    assert eta == pytest.approx(100.0)  # 10 steps/s on average
    assert low == pytest.approx(1000 / 12) and high == pytest.approx(1000 / 8)


def test_too_few_marks_or_no_progress_fall_back_to_the_last_steps_speed():
    assert eta_from_marks(marks_at([5.0] * (MIN_MARKS - 2)), remaining=100, fallback_rate=20.0) == (5.0, None, None)
    assert eta_from_marks([(float(t), 7) for t in range(10)], remaining=100, fallback_rate=4.0) == (25.0, None, None)
    assert eta_from_marks([], remaining=100) == (None, None, None)  # nothing known yet


def test_marks_at_the_same_instant_do_not_divide_by_zero():
    marks = marks_at([10.0] * 10)
    marks.insert(5, marks[5])
    eta, low, high = eta_from_marks(marks, remaining=100)
    assert eta == pytest.approx(10.0) and low == pytest.approx(10.0) and high == pytest.approx(10.0)
