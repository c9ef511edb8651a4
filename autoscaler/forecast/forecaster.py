"""The :class:`~autoscaler.ports.Forecaster` of ``autoscaler run`` and the simulator.

Per predictive target and forecast metric it keeps a :class:`Series`: the history of
totals, the fitted model and the error tracker. The sync path only reads and updates:
:meth:`SeasonalForecaster.forecasts` evaluates the cached model (a few cosines per
metric), :meth:`SeasonalForecaster.observe` adds one sample and nudges the short-term
correction. Fitting happens in :meth:`SeasonalForecaster.refit`, which ``autoscaler
run`` calls from a background thread and the simulator at fixed virtual times: it fits
at most ``budget`` series per call, the most stale first (never fitted, then the oldest
fit), each at most every ``refit_interval`` seconds. The state of a series is replaced
as a whole under a lock, so a sync never sees half a fit.

History that survives a restart: a series starts from :class:`HistorySource` (the
metric's own past in Prometheus, when it lives there) at its first refit, and the whole
state has a byte form (:meth:`export_state`, :meth:`import_state`) that ``autoscaler
run`` writes to ``--state-dir``. Metrics are told apart by what they measure, not by
their position, so editing a policy's metric list keeps the history of the others.
"""

from __future__ import annotations

import math
import struct
import threading
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Protocol

from autoscaler.core.model import (
    AVERAGE_VALUE,
    UTILIZATION,
    VALUE,
    Decision,
    MetricForecast,
    MetricSpec,
    Policy,
    Snapshot,
)
from autoscaler.core.paths import metric_total
from autoscaler.forecast.fit import Model, choose_short_term, fit_baseline
from autoscaler.forecast.history import (
    COARSE_STEP,
    FINE_SPAN,
    FINE_STEP,
    Points,
    TotalsHistory,
)
from autoscaler.forecast.tracking import ErrorTracker
from autoscaler.ports import LoopError, Target

REFIT_SECONDS = 600.0
MIN_HISTORY_SECONDS = 600.0  # less than this: no forecast at all
REPLAY_SECONDS = 3600.0
CHOICE_SECONDS = 6 * 3600.0  # the past a refit replays to choose the short-term settings
STATE_VERSION = 1


class HistorySource(Protocol):
    """A metric's past totals from elsewhere (Prometheus ``query_range``)."""

    def totals(
        self, target: Target, metric: int, *, start: float, end: float, step: float
    ) -> list[tuple[float, float]] | None:
        """(time, total) pairs, oldest first; None when this metric's past is not there
        (then the loop's own history is all there is). Raises LoopError on failure."""
        ...


@dataclass(slots=True)
class Series:
    """One metric of one target: its history, its model, how wrong it has been."""

    history: TotalsHistory
    tracker: ErrorTracker = field(default_factory=ErrorTracker)
    model: Model | None = None
    fitted_at: float | None = None
    # When the history source was last asked (None: never); True once answered.
    seed_asked: float | None = None
    seeded: bool = False


@dataclass(frozen=True, slots=True)
class SeriesStatus:
    """What ``/metrics`` shows of one series."""

    target: str
    metric: str
    error: float | None
    fitted_at: float | None


def completed(points: Points, now: float) -> Points:
    """The buckets that ended by ``now`` (the current one is still filling)."""
    kept = points.times + FINE_STEP / 2 <= now
    return Points(points.times[kept], points.values[kept])


def metric_id(spec: MetricSpec) -> str:
    """What a metric measures, independent of its position in the policy."""
    described = spec.described_object
    obj = f"{described.kind}/{described.name}" if described is not None else ""
    return "|".join((spec.type, spec.name, spec.container, spec.selector, obj))


def _metrics_of(
    target: Target, cache: dict[str, tuple[Policy, list[tuple[int, str]]]]
) -> list[tuple[int, str]]:
    """(index, metric id) of each metric to forecast, remembered per policy version."""
    known = cache.get(target.key)
    if known is not None and known[0] is target.policy:
        return known[1]
    found = [(i, metric_id(target.policy.metrics[i])) for i in forecast_metrics(target)]
    cache[target.key] = (target.policy, found)
    return found


def forecast_metrics(target: Target) -> list[int]:
    """The indices of the policy's metrics to forecast: the one ``predictive.metric``
    names, else every metric whose target can size replicas."""
    predictive = target.policy.predictive
    if predictive is None:
        return []
    sizable = (UTILIZATION, AVERAGE_VALUE, VALUE)
    return [
        i
        for i, spec in enumerate(target.policy.metrics)
        if spec.target.type in sizable and (not predictive.metric or spec.name == predictive.metric)
    ]


class SeasonalForecaster:
    """Forecaster: seasonal baseline + short-term correction, refitted in the background."""

    def __init__(
        self,
        *,
        refit_interval: float = REFIT_SECONDS,
        history_source: HistorySource | None = None,
    ) -> None:
        self.refit_interval = refit_interval
        self.history_source = history_source
        self._series: dict[tuple[str, str], Series] = {}
        self._targets: dict[str, Target] = {}  # the last version seen of each target
        self._metric_ids: dict[str, tuple[Policy, list[tuple[int, str]]]] = {}
        self._lock = threading.Lock()

    # The sync path -----------------------------------------------------------------

    def forecasts(self, target: Target, *, now: float) -> tuple[MetricForecast, ...]:
        predictive = target.policy.predictive
        if predictive is None:
            return ()
        at = now + predictive.lead_seconds
        found = []
        with self._lock:
            self._targets[target.key] = target
            for index, metric in _metrics_of(target, self._metric_ids):
                # Known from now on: the next refit may seed its history from Prometheus.
                series = self._series_for(target.key, metric, predictive.lookback_seconds)
                if series.model is None:
                    continue
                total = series.model.predict(at)
                error = series.tracker.error(now)
                found.append(MetricForecast(index, round(total), at, error))
        return tuple(found)

    def observe(self, target: Target, snapshot: Snapshot, decision: Decision) -> None:
        predictive = target.policy.predictive
        if predictive is None:
            return
        now = snapshot.now
        with self._lock:
            self._targets[target.key] = target
            for index, metric in _metrics_of(target, self._metric_ids):
                spec = target.policy.metrics[index]
                series = self._series_for(target.key, metric, predictive.lookback_seconds)
                for made in snapshot.forecasts:
                    if made.metric == index:
                        series.tracker.made(made.at, made.total)
                total = metric_total(spec, snapshot)
                if total is None:
                    continue
                series.history.add(now, total)
                series.tracker.observed(now, total)
                if series.model is not None:
                    series.model.observe(now, total)

    def _series_for(self, key: str, metric: str, lookback: float) -> Series:
        series = self._series.get((key, metric))
        if series is None:
            series = self._series[(key, metric)] = Series(TotalsHistory(lookback))
        elif series.history.lookback != lookback:
            series.history = series.history.with_lookback(lookback)
        return series

    def forget(self, live: Iterable[str]) -> None:
        """Drop every target not in ``live`` (its policy went away)."""
        keep = set(live)
        with self._lock:
            self._series = {k: s for k, s in self._series.items() if k[0] in keep}
            self._targets = {k: t for k, t in self._targets.items() if k in keep}
            self._metric_ids = {k: m for k, m in self._metric_ids.items() if k in keep}

    # Off the sync path ---------------------------------------------------------------

    def refit(self, now: float, budget: int = 100) -> int:
        """Fit up to ``budget`` series whose model is missing or older than the refit
        interval, the most stale first; returns how many were fitted."""
        due = self._due(now)
        done = 0
        source_failed = False
        for key, target, index in due[: max(0, budget)]:
            if not source_failed:
                # One failure (Prometheus down or slow) ends this pass's asking: each ask
                # waits up to its timeout, and the sync path never waits for any of them.
                source_failed = not self._seed(key, target, index, now=now)
            with self._lock:
                series = self._series.get(key)
                if series is None or series.history.span() < MIN_HISTORY_SECONDS:
                    continue  # too little history even after asking the source
                coarse = series.history.coarse.points()
                recent = completed(series.history.recent(now - CHOICE_SECONDS), now)
            assert target.policy.predictive is not None
            baseline = fit_baseline(coarse)
            short_term = choose_short_term(
                baseline, recent, lead=target.policy.predictive.lead_seconds
            )
            model = Model(baseline, fitted_at=now, short_term=short_term)
            # Until well past the next refit (a refit pass may run late).
            model.tabulate(now - REPLAY_SECONDS, now + 6 * self.refit_interval + 3600)
            with self._lock:
                series = self._series.get(key)
                if series is None:
                    continue
                model.replay(completed(series.history.recent(now - REPLAY_SECONDS), now))
                series.model, series.fitted_at = model, now
            done += 1
        return done

    def _due(self, now: float) -> list[tuple[tuple[str, str], Target, int]]:
        """The series to fit now, the most stale first (never fitted: oldest history)."""
        with self._lock:
            stale: list[tuple[float, tuple[str, str], Target, int]] = []
            for target in self._targets.values():
                predictive = target.policy.predictive
                if predictive is None:
                    continue
                for index in forecast_metrics(target):
                    key = (target.key, metric_id(target.policy.metrics[index]))
                    series = self._series.get(key)
                    if series is None:
                        continue
                    last = series.fitted_at
                    if last is not None and now - last < self.refit_interval:
                        continue  # fresh (the common case): decided without the arrays
                    newest = series.history.newest
                    if newest is not None and newest < now - predictive.lookback_seconds:
                        series.history = TotalsHistory(predictive.lookback_seconds)
                        series.model = None  # everything it knew is past the lookback
                    idle = series.model is None and not self._seeds(series, now)
                    if idle and series.history.span() < MIN_HISTORY_SECONDS:
                        continue  # nothing to fit yet, nothing to ask for: costs nothing
                    stale.append((-math.inf if last is None else last, key, target, index))
        stale.sort(key=lambda item: (item[0], item[1]))
        return [(key, target, index) for _, key, target, index in stale]

    def _seeds(self, series: Series, now: float) -> bool:
        """Whether the history source is to be asked for this series' past now."""
        if self.history_source is None or series.seeded:
            return False
        return series.seed_asked is None or now - series.seed_asked >= self.refit_interval

    def _seed(self, key: tuple[str, str], target: Target, index: int, *, now: float) -> bool:
        """Ask the history source once for the lookback (retried each refit interval);
        False when the source failed."""
        source, predictive = self.history_source, target.policy.predictive
        if source is None or predictive is None:
            return True
        with self._lock:
            series = self._series.get(key)
            if series is None or not self._seeds(series, now):
                return True
            series.seed_asked = now
        lookback = predictive.lookback_seconds
        fine_start = now - min(FINE_SPAN, lookback)
        try:
            coarse = source.totals(target, index, start=now - lookback, end=now, step=COARSE_STEP)
            fine = (
                None
                if coarse is None
                else source.totals(target, index, start=fine_start, end=now, step=FINE_STEP)
            )
        except LoopError:
            return False  # asked again after the refit interval
        with self._lock:
            series = self._series.get(key)
            if series is None:
                return True
            series.seeded = True
            for t, total in coarse or ():
                if t < fine_start:  # the fine answer covers the last day, in both tiers
                    series.history.coarse.add(t, total)
            for t, total in fine or ():
                series.history.add(t, total)
        return True

    # Status and persistence --------------------------------------------------------

    def status(self) -> list[SeriesStatus]:
        """Each series' error and last fit, for ``/metrics``."""
        with self._lock:
            out = []
            for (key, metric), series in self._series.items():
                newest = series.history.newest
                error = None if newest is None else series.tracker.error(newest)
                out.append(SeriesStatus(key, metric.split("|")[1], error, series.fitted_at))
        return out

    def nbytes(self) -> int:
        with self._lock:
            return sum(s.history.nbytes() for s in self._series.values())

    def export_state(self) -> bytes:
        """Every series' history (not its model: a restart refits), versioned."""
        with self._lock:
            items = [(k, s.history.to_bytes()) for k, s in sorted(self._series.items())]
        out = [bytes([STATE_VERSION]), struct.pack("<I", len(items))]
        for (key, metric), blob in items:
            for part in (key.encode(), metric.encode(), blob):
                out += [struct.pack("<I", len(part)), part]
        return b"".join(out)

    def import_state(self, data: bytes, *, now: float) -> int:
        """Take the histories :meth:`export_state` wrote (those not past their lookback);
        returns how many. ValueError (one line) for anything unreadable."""
        if not data or data[0] != STATE_VERSION:
            got = data[0] if data else "none"
            raise ValueError(f"forecast state: format version {got}, expected {STATE_VERSION}")
        view, offset = memoryview(data), 1
        try:
            (count,) = struct.unpack_from("<I", view, offset)
            offset += 4
            loaded: dict[tuple[str, str], Series] = {}
            for _ in range(count):
                parts: list[bytes] = []
                for _ in range(3):
                    (size,) = struct.unpack_from("<I", view, offset)
                    parts.append(bytes(view[offset + 4 : offset + 4 + size]))
                    offset += 4 + size
                    if offset > len(view):
                        raise ValueError("truncated")
                history = TotalsHistory.from_bytes(parts[2])
                newest = history.newest
                if newest is None or newest < now - history.lookback:
                    continue
                loaded[(parts[0].decode(), parts[1].decode())] = Series(history)
        except (struct.error, UnicodeDecodeError, ValueError) as exc:
            raise ValueError(f"forecast state: unreadable ({exc})") from None
        with self._lock:
            for key, series in loaded.items():
                mine = self._series.get(key)
                if mine is None or mine.history.newest is None:  # what was seen here wins
                    self._series[key] = series
        return len(loaded)
