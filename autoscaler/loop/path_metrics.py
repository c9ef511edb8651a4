"""Per-target series of Podscale's own paths: which one set the replicas, and how far
the forecast is trusted.

``podscale_decision_path`` says which path won the last sync (reactive, forecast,
burst, activation); for a predictive policy ``podscale_forecast_trusted`` is 0 while
the forecast has switched itself off (``ForecastUntrusted``) and
``podscale_forecast_error`` is the error the decision compared with ``maxError``, as
the snapshot carried it. When each series was last fitted is read from the forecaster
at scrape time (:func:`fit_times`). docs/metrics.md lists them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence

from prometheus_client import CollectorRegistry, Gauge
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from autoscaler.forecast.forecaster import SeriesStatus
from autoscaler.loop.controller import Outcome
from autoscaler.loop.target_metrics import TARGET, Key, Labels
from autoscaler.loop.target_metrics import _PerTarget as PerTarget

FORECAST_METRIC = (*TARGET, "metric_name")


class PathMetrics:
    """Records each target's winning path and its forecast's trust per sync."""

    def __init__(self, registry: CollectorRegistry) -> None:
        def gauge(name: str, documentation: str, labels: tuple[str, ...]) -> PerTarget:
            return PerTarget(Gauge(name, documentation, labels, registry=registry))

        self.path = gauge(
            "podscale_decision_path",
            "1 for the path that set the replicas at the last sync: reactive, forecast, "
            "burst or activation.",
            (*TARGET, "path"),
        )
        self.trusted = gauge(
            "podscale_forecast_trusted",
            "Predictive policies: 1 while the forecast is trusted, 0 while it has switched "
            "itself off for being wrong (ForecastUntrusted).",
            TARGET,
        )
        self.error = gauge(
            "podscale_forecast_error",
            "Predictive policies: each forecast metric's recent mean absolute error over its "
            "mean total, as the last decision compared it with maxError; absent until measured.",
            FORECAST_METRIC,
        )

    def record(self, outcome: Outcome) -> None:
        decision, target = outcome.decision, outcome.target
        if decision is None:
            return  # no decision (the /scale read failed): the last values stand
        key = (target.namespace, target.name)
        self.path.set(key, {(*key, decision.path): 1.0})
        policy = target.policy
        if policy.predictive is None:
            self.trusted.set(key, {})
            self.error.set(key, {})
            return
        self.trusted.set(key, {key: 0.0 if decision.history.forecast_off else 1.0})
        errors: dict[Labels, float] = {}
        forecasts = outcome.snapshot.forecasts if outcome.snapshot is not None else ()
        for forecast in forecasts:
            if forecast.error is not None and 0 <= forecast.metric < len(policy.metrics):
                errors[(*key, policy.metrics[forecast.metric].name)] = forecast.error
        self.error.set(key, errors)

    def forget(self, key: Key) -> None:
        for series in (self.path, self.trusted, self.error):
            series.keep_only(key, set())


def expose_forecaster(
    registry: CollectorRegistry,
    *,
    status: Callable[[], Sequence[SeriesStatus]],
    fits: Callable[[], float],
    refit_seconds: Callable[[], float],
) -> None:
    """The forecaster's own series, read at scrape time: when each series was fitted,
    how many fits ran, how long the last background pass took."""

    class _Forecaster(Collector):
        def collect(self) -> Iterator[Metric]:
            fitted = GaugeMetricFamily(
                "podscale_forecast_fit_timestamp_seconds",
                "Predictive policies: when each forecast metric's model was last fitted "
                "(Unix time); absent before its first fit.",
                labels=list(FORECAST_METRIC),
            )
            for series in status():
                if series.fitted_at is not None:
                    namespace, _, name = series.target.partition("/")
                    fitted.add_metric([namespace, name, series.metric], series.fitted_at)
            yield fitted
            total = CounterMetricFamily(
                "podscale_forecast_fits", "Forecast models fitted (in the background)."
            )
            total.add_metric([], fits())
            yield total
            last = GaugeMetricFamily(
                "podscale_forecast_refit_pass_seconds",
                "How long the last background refit pass took (at most a bounded number of fits).",
            )
            last.add_metric([], refit_seconds())
            yield last

    registry.register(_Forecaster())
