"""What forecasting costs, off and on the sync path, and how right it is on real traffic.

- **fit**: one refit (periodogram, robust harmonic regression, short-term choice) of a
  metric with 14 days of history (a daily and weekly wave with noise), through
  ``SeasonalForecaster.refit`` over many targets: ms per fit;
- **sync path** at 10,000 predictive targets with fitted models: ``forecasts()`` +
  ``observe()`` per target as a sync calls them (µs per target, ms per sync), and the
  histories' memory;
- **error** on every trace in ``loadtest/traces`` (lead 60 s, a sync every 15 s, refits
  every 10 minutes, the first two days not scored): the forecast's error (mean absolute
  error over the mean) and, from the same information, "no change since the last sync".

Run: ``.venv/bin/python loadtest/bench_forecast.py [--targets 10000] [--fit-targets 200]
[--days N]`` (``--days`` cuts each trace; the default replays them whole, ~5-8 minutes
on 2 busy cores). BLAS is kept to one thread (as the service should run it: small
matrices; see docs/forecasting.md).
"""

from __future__ import annotations

import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # before numpy loads

import argparse
import copy
import csv
import math
import platform
import statistics
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

from autoscaler.core.model import Decision, History, MetricData, Snapshot
from autoscaler.forecast.backtest import METRIC, backtest, backtest_target
from autoscaler.forecast.forecaster import SeasonalForecaster, metric_id
from autoscaler.forecast.history import TotalsHistory
from autoscaler.ports import Target

HERE = Path(__file__).resolve().parent
DAY = 86_400.0
T0 = 1_700_000_100.0


def fortnight() -> TotalsHistory:
    """14 days of 1-minute totals: a daily and a weekly wave, 5 % noise."""
    history = TotalsHistory(14 * DAY)
    rng = np.random.default_rng(0)
    times = T0 + 60.0 * np.arange(int(14 * DAY / 60))
    values = (
        200 + 100 * np.sin(2 * np.pi * times / DAY) + 40 * np.sin(2 * np.pi * times / (7 * DAY))
    ) * (1 + 0.05 * rng.standard_normal(len(times)))
    for t, value in zip(times, values, strict=True):
        history.add(float(t), float(value) * 1000)
    return history


def targets(count: int) -> list[Target]:
    base = backtest_target(60.0, 14 * DAY)
    return [
        Target("bench", f"t{i}", base.ref, base.policy, metric_specs=base.metric_specs)
        for i in range(count)
    ]


def filled(count: int, history: TotalsHistory) -> tuple[SeasonalForecaster, list[Target]]:
    """A forecaster knowing ``count`` targets, each with a copy of ``history``."""
    forecaster = SeasonalForecaster()
    data = history.to_bytes()
    chosen = targets(count)
    now = T0 + 14 * DAY
    for target in chosen:
        forecaster.forecasts(target, now=now)  # known
        key = (target.key, metric_id(target.policy.metrics[0]))
        forecaster._series[key].history = TotalsHistory.from_bytes(data)
    return forecaster, chosen


def bench_fit(count: int) -> dict[str, float]:
    forecaster, _ = filled(count, fortnight())
    now = T0 + 14 * DAY
    forecaster.refit(now, budget=1)  # warm: imports, first calls
    started = time.perf_counter()
    fitted = forecaster.refit(now, budget=count)
    seconds = time.perf_counter() - started
    assert fitted == count - 1, fitted
    return {"fits": fitted, "ms_per_fit": seconds / fitted * 1000, "seconds": seconds}


def bench_sync_path(count: int) -> dict[str, float]:
    history = fortnight()
    forecaster, chosen = filled(1, history)
    now = T0 + 14 * DAY
    forecaster.refit(now, budget=1)
    model = next(iter(forecaster._series.values())).model
    assert model is not None
    # Every other target gets its own copy of the fitted model (a fit each would take
    # count x the fit time; the sync path does not care which model it evaluates).
    forecaster, chosen = filled(count, history)
    for series in forecaster._series.values():
        series.model = copy.deepcopy(model)
        series.fitted_at = now
    decision = Decision(1, 1, (), (), History())
    rounds = []
    for round_ in range(3):
        t = now + 15 * (round_ + 1)
        snapshots = [
            Snapshot(
                now=t,
                policy=target.policy,
                current_replicas=1,
                status_replicas=1,
                metrics=MetricData(external={METRIC: (250_000,)}),
            )
            for target in chosen
        ]
        spent = 0.0
        for target, snapshot in zip(chosen, snapshots, strict=True):
            started = time.perf_counter()
            made = forecaster.forecasts(target, now=t)
            spent += time.perf_counter() - started
            seen = replace(snapshot, forecasts=made)  # the controller's work, not timed
            started = time.perf_counter()
            forecaster.observe(target, seen, decision)
            spent += time.perf_counter() - started
        rounds.append(spent)
    best = min(rounds)
    return {
        "targets": count,
        "us_per_target": best / count * 1e6,
        "ms_per_sync": best * 1000,
        "history_mb": forecaster.nbytes() / 1e6,
        "state_mb": len(forecaster.export_state()) / 1e6,
    }


def bench_concurrent(count: int) -> dict[str, float]:
    """One sync of ``count`` targets alone, then while a background thread refits
    (bounded passes of 50, as ``autoscaler run`` does): the sync's own time."""
    import threading

    history = fortnight()
    forecaster, chosen = filled(count, history)
    now = T0 + 14 * DAY
    forecaster.refit(now, budget=count)  # every model fitted once
    decision = Decision(1, 1, (), (), History())

    def sync(t: float) -> float:
        started = time.perf_counter()
        for target in chosen:
            made = forecaster.forecasts(target, now=t)
            seen = Snapshot(
                now=t,
                policy=target.policy,
                current_replicas=1,
                status_replicas=1,
                metrics=MetricData(external={METRIC: (250_000,)}),
                forecasts=made,
            )
            forecaster.observe(target, seen, decision)
        return time.perf_counter() - started

    alone = min(sync(now + 15 * (i + 1)) for i in range(3))
    stop = threading.Event()
    later = now + 3600  # every model is due again
    fits = [0]

    def refits() -> None:
        while not stop.is_set():
            fits[0] += forecaster.refit(later, budget=50)

    thread = threading.Thread(target=refits)
    thread.start()
    try:
        busy = min(sync(later + 15 * (i + 1)) for i in range(3))
    finally:
        stop.set()
        thread.join(timeout=60)
    return {"targets": count, "alone_ms": alone * 1000, "busy_ms": busy * 1000, "fits": fits[0]}


def read_trace(path: Path, days: float | None) -> tuple[list[float], list[float], float]:
    with path.open() as file:
        rows = list(csv.DictReader(file))
    times = [T0 + float(r["timestamp_seconds"]) for r in rows]
    values = [float(r["value"]) for r in rows]
    if days is not None:
        kept = sum(1 for t in times if t < T0 + days * DAY)
        times, values = times[:kept], values[:kept]
    step = statistics.median(np.diff(times)) if len(times) > 1 else math.nan
    return times, values, step


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--targets", type=int, default=10_000)
    parser.add_argument("--fit-targets", type=int, default=200)
    parser.add_argument("--days", type=float, default=None, help="cut each trace to N days")
    args = parser.parse_args()
    print(
        f"bench_forecast: {platform.python_version()}, {os.cpu_count()} CPUs, "
        f"load {' '.join(f'{x:.2f}' for x in os.getloadavg())}",
        flush=True,
    )

    fit = bench_fit(args.fit_targets)
    print(
        f"fit (14 days of history): {fit['ms_per_fit']:.1f} ms per fit "
        f"({fit['fits']:.0f} fits in {fit['seconds']:.2f} s)",
        flush=True,
    )
    sync = bench_sync_path(args.targets)
    print(
        f"sync path at {sync['targets']:.0f} targets: {sync['us_per_target']:.1f} us per target "
        f"(forecasts + observe), {sync['ms_per_sync']:.0f} ms per sync; histories "
        f"{sync['history_mb']:.0f} MB in memory, state file {sync['state_mb']:.0f} MB",
        flush=True,
    )
    both = bench_concurrent(min(args.targets, 2000))
    print(
        f"sync of {both['targets']:.0f} targets' forecasts alone: {both['alone_ms']:.0f} ms; "
        f"while a background thread refits: {both['busy_ms']:.0f} ms "
        f"({both['fits']:.0f} fits meanwhile)",
        flush=True,
    )
    print("error (lead 60 s, sync 15 s, refit 10 min, first 2 days not scored):")
    print(f"  {'trace':<45} {'step':>5} {'days':>5} {'forecast':>9} {'no change':>10} {'s':>6}")
    for path in sorted((HERE / "traces").glob("*.csv")):
        times, values, step = read_trace(path, args.days)
        started = time.perf_counter()
        score = backtest(times, values, lead=60.0, sync=15.0, refit=600.0, warmup=2 * DAY)
        seconds = time.perf_counter() - started
        days = (times[-1] - times[0]) / DAY
        print(
            f"  {path.name:<45} {step:>4.0f}s {days:>5.1f} {score.forecast_error:>9.3f} "
            f"{score.persistence_error:>10.3f} {seconds:>6.0f}",
            flush=True,
        )


if __name__ == "__main__":
    main()
