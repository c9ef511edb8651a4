"""Replay a recorded series through the forecaster, as the loop would see it.

The series (a trace's request rate, say) is held between its points, read every
``sync`` seconds as one External metric's total, refitted every ``refit`` seconds, and
each forecast (``lead`` seconds ahead) is scored against the total then read. The same
pairs the error tracker uses, over the whole replay after ``warmup`` seconds; beside it,
the error of "it stays as it was" from the same information (a forecast is made as a
sync starts, from the totals of the syncs before: the port hands ``forecasts`` no
metrics), so a number says what the forecast adds. Used by ``loadtest/bench_forecast.py`` and the
accuracy tests.
"""

from __future__ import annotations

import bisect
from collections.abc import Sequence
from dataclasses import dataclass

from autoscaler.core.model import (
    EXTERNAL,
    VALUE,
    Decision,
    History,
    MetricData,
    MetricSpec,
    MetricTarget,
    Policy,
    Predictive,
    Snapshot,
)
from autoscaler.forecast.forecaster import SeasonalForecaster
from autoscaler.ports import Target, TargetRef

METRIC = "load"


@dataclass(frozen=True, slots=True)
class Score:
    """Mean absolute error over the mean observed total, of the forecast and of "no change"."""

    forecast_error: float
    persistence_error: float
    pairs: int


def backtest_target(lead: float, lookback: float) -> Target:
    """A predictive target with one External metric (its total is the value read)."""
    spec = MetricSpec(EXTERNAL, METRIC, MetricTarget(VALUE, value=1000))
    predictive = Predictive(lead_seconds=lead, lookback_seconds=lookback)
    policy = Policy(max_replicas=1000, metrics=(spec,), predictive=predictive)
    return Target("backtest", "series", TargetRef("apps/v1", "Deployment", "series"), policy)


def backtest(
    times: Sequence[float],
    values: Sequence[float],
    *,
    lead: float = 60.0,
    sync: float = 15.0,
    refit: float = 600.0,
    warmup: float = 2 * 86_400.0,
    lookback: float = 14 * 86_400.0,
) -> Score:
    """Replay ``values`` (held from each of ``times`` to the next) and score it."""
    target = backtest_target(lead, lookback)
    forecaster = SeasonalForecaster(refit_interval=refit)
    decision = Decision(1, 1, (), (), History())
    start, end = times[0], times[-1]
    made: dict[float, tuple[float, float]] = {}  # at -> (forecast, last value known)
    previous: float | None = None
    error = persistence = observed = 0.0
    pairs = 0
    next_refit = start
    t = start
    while t <= end:
        value = values[bisect.bisect_right(times, t) - 1]
        total = round(value * 1000)
        if t >= next_refit:
            forecaster.refit(t, budget=1)
            next_refit = t + refit
        forecasts = forecaster.forecasts(target, now=t)
        due = made.pop(t, None)
        if due is not None and t - start >= warmup:
            error += abs(due[0] - total)
            persistence += abs(due[1] - total)
            observed += total
            pairs += 1
        known = total if previous is None else previous
        if forecasts:
            made[forecasts[0].at] = (forecasts[0].total, known)
        else:
            made[t + lead] = (known, known)  # no model yet: "no change"
        previous = total
        snapshot = Snapshot(
            now=t,
            policy=target.policy,
            current_replicas=1,
            status_replicas=1,
            metrics=MetricData(external={METRIC: (total,)}),
            forecasts=forecasts,
        )
        forecaster.observe(target, snapshot, decision)
        t += sync
    if observed <= 0:
        return Score(0.0, 0.0, pairs)
    return Score(error / observed, persistence / observed, pairs)
