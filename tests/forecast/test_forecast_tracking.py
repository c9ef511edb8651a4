"""Error tracking: each forecast scored against the total observed at its time."""

from __future__ import annotations

import pytest

from autoscaler.forecast.tracking import MATCH_SECONDS, ErrorTracker

T0 = 1_700_000_000.0


def test_worked_example() -> None:
    tracker = ErrorTracker(min_pairs=3)
    for i, forecast in enumerate((110.0, 90.0, 100.0)):
        tracker.made(T0 + 60 * (i + 1), forecast)
    assert tracker.error(T0) is None
    for i in range(3):
        tracker.observed(T0 + 60 * (i + 1), 100.0)
    assert tracker.error(T0 + 180) == pytest.approx(20 / 300)


def test_none_until_enough_pairs() -> None:
    tracker = ErrorTracker(min_pairs=20)
    for i in range(19):
        tracker.made(T0 + 15 * i, 50.0)
        tracker.observed(T0 + 15 * i, 100.0)
    assert tracker.error(T0 + 15 * 19) is None
    tracker.made(T0 + 15 * 19, 50.0)
    tracker.observed(T0 + 15 * 19, 100.0)
    assert tracker.error(T0 + 15 * 19) == pytest.approx(0.5)


def test_a_forecast_is_settled_by_the_first_total_at_or_after_its_time() -> None:
    tracker = ErrorTracker(min_pairs=1)
    tracker.made(T0 + 60, 200.0)
    tracker.observed(T0 + 50, 100.0)  # before its time: not yet
    assert tracker.error(T0 + 50) is None
    tracker.observed(T0 + 65, 100.0)
    assert tracker.error(T0 + 65) == pytest.approx(1.0)


def test_a_forecast_whose_time_passed_without_a_sync_says_nothing() -> None:
    tracker = ErrorTracker(min_pairs=1)
    tracker.made(T0 + 60, 200.0)
    tracker.observed(T0 + 60 + MATCH_SECONDS + 1, 100.0)
    assert tracker.error(T0 + 200) is None and not tracker.pending


def test_old_pairs_leave_the_window() -> None:
    tracker = ErrorTracker(window=3600, min_pairs=1)
    tracker.made(T0, 0.0)
    tracker.observed(T0, 100.0)  # 100 % wrong
    for i in range(1, 10):
        tracker.made(T0 + 3000 + i, 100.0)
        tracker.observed(T0 + 3000 + i, 100.0)
    assert tracker.error(T0 + 3010) == pytest.approx(0.1)
    assert tracker.error(T0 + 3601) == 0.0  # the wrong one left the window


def test_zero_load_forecast_as_zero_is_no_error() -> None:
    tracker = ErrorTracker(min_pairs=1)
    tracker.made(T0, 0.0)
    tracker.observed(T0, 0.0)
    assert tracker.error(T0) == 0.0
    tracker.made(T0 + 15, 10.0)
    tracker.observed(T0 + 15, 0.0)
    assert tracker.error(T0 + 15) == 10.0  # capped, never infinite
