"""The fit: periods found where the history shows them, a baseline that matches a
seasonal load, a correction that follows a day running hotter than usual, and an
error bound on a real trace (checked against "no change")."""

from __future__ import annotations

import csv
import math
from pathlib import Path

import numpy as np
import pytest

from autoscaler.forecast.backtest import backtest
from autoscaler.forecast.fit import DAY, WEEK, Model, ShortTerm, find_periods, fit_baseline
from autoscaler.forecast.history import TotalsHistory

T0 = 1_700_000_100.0
TRACES = Path(__file__).resolve().parents[2] / "loadtest" / "traces"


def seasonal(t: float) -> float:
    """A daily wave between 100 and 300 and a weekly one of +-40."""
    return 200 + 100 * math.sin(2 * math.pi * t / DAY) + 40 * math.sin(2 * math.pi * t / WEEK)


def filled(days: float, *, noise: float = 0.05, step: float = 60.0) -> TotalsHistory:
    history = TotalsHistory(14 * DAY)
    rng = np.random.default_rng(7)
    for i in range(int(days * DAY / step)):
        t = T0 + i * step
        history.add(t, seasonal(t) * (1 + noise * float(rng.standard_normal())))
    return history


def test_daily_and_weekly_periods_are_found_once_covered_twice() -> None:
    assert find_periods(filled(14).coarse.points()) == (DAY, WEEK)
    assert find_periods(filled(10).coarse.points()) == (DAY,)  # a week seen once: not yet
    assert find_periods(filled(1.5).coarse.points()) == ()


def test_noise_has_no_period() -> None:
    history = TotalsHistory(14 * DAY)
    rng = np.random.default_rng(3)
    for i in range(14 * 96):
        history.add(T0 + 900 * i, 200 + 20 * float(rng.standard_normal()))
    assert find_periods(history.coarse.points()) == ()


def test_baseline_predicts_the_next_day_of_a_seasonal_load() -> None:
    baseline = fit_baseline(filled(14).coarse.points())
    ahead = [T0 + 14 * DAY + 600 * i for i in range(144)]
    errors = [abs(baseline.value(t) - seasonal(t)) for t in ahead]
    assert sum(errors) / sum(seasonal(t) for t in ahead) < 0.03


def test_a_robust_fit_ignores_an_outage() -> None:
    history = filled(14, noise=0.02)
    for i in range(8):  # two hours reading zero (a scrape outage)
        history.coarse.add(T0 + 3 * DAY + 900 * i, 0.0)
    baseline = fit_baseline(history.coarse.points())
    ahead = [T0 + 14 * DAY + 600 * i for i in range(144)]
    errors = [abs(baseline.value(t) - seasonal(t)) for t in ahead]
    assert sum(errors) / sum(seasonal(t) for t in ahead) < 0.03


def test_follows_a_hotter_day() -> None:
    """Two weeks as usual, then a day 30 % hotter, with 5 % noise: the baseline alone
    would be about 23 % off all day (0.3 / 1.3); the correction follows."""
    rng = np.random.default_rng(11)
    times = [T0 + 60 * i for i in range(int(15 * DAY / 60))]
    values = [
        seasonal(t) * (1.3 if t >= T0 + 14 * DAY else 1.0) * (1 + 0.05 * rng.standard_normal())
        for t in times
    ]
    score = backtest(times, values, sync=60, refit=3600, warmup=14 * DAY)
    assert score.pairs > 1000
    assert score.forecast_error < 0.06
    assert score.forecast_error < score.persistence_error


def test_short_term_without_trend_is_its_level() -> None:
    short = ShortTerm(level_seconds=0, trend_horizon=0)
    for i, value in enumerate((10.0, 20.0, 30.0)):
        short.update(T0 + 15 * i, value)
    assert short.predict(T0 + 1000) == 30.0
    trending = ShortTerm(level_seconds=0)
    for i in range(100):
        trending.update(T0 + 15 * i, 2.0 * 15 * i)  # +2 per second
    assert trending.predict(T0 + 99 * 15 + 60) > 2.0 * 15 * 99 + 60  # leads the ramp


def read_trace(name: str, days: float) -> tuple[list[float], list[float]]:
    with (TRACES / name).open() as file:
        rows = list(csv.DictReader(file))
    times = [T0 + float(r["timestamp_seconds"]) for r in rows]
    values = [float(r["value"]) for r in rows]
    kept = sum(1 for t in times if t < T0 + days * DAY)
    return times[:kept], values[:kept]


def test_error_on_the_nasa_trace_is_bounded() -> None:
    """Five days of the NASA trace (1-minute request counts), the last two scored."""
    times, values = read_trace("nasa_http_jul1995_requests_1min.csv", 5)
    score = backtest(times, values, sync=30, refit=1800, warmup=3 * DAY)
    assert score.pairs > 5000
    assert score.forecast_error < 0.30
    assert score.forecast_error <= score.persistence_error


def test_the_tabulated_baseline_is_the_baseline() -> None:
    baseline = fit_baseline(filled(14).coarse.points())
    model = Model(baseline, fitted_at=T0 + 14 * DAY)
    model.tabulate(T0 + 14 * DAY, T0 + 14 * DAY + 3 * 3600)
    for i in range(500):
        t = T0 + 14 * DAY + 21.7 * i
        assert model.baseline_at(t) == pytest.approx(baseline.value(t), abs=0.05)
    beyond = T0 + 15 * DAY
    assert model.baseline_at(beyond) == baseline.value(beyond)  # past the table: exact
