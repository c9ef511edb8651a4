"""/metrics for Podscale's paths: the winning path, the forecast's trust and error, and
when each forecast was fitted, read from the real registry's exposition."""

from __future__ import annotations

from dataclasses import replace

from prometheus_client import generate_latest

from autoscaler.core.model import (
    AVERAGE_VALUE,
    EXTERNAL,
    Decision,
    History,
    MetricForecast,
    MetricSpec,
    MetricTarget,
    Policy,
    Predictive,
    Snapshot,
)
from autoscaler.forecast.forecaster import SeriesStatus
from autoscaler.loop.controller import Outcome
from autoscaler.loop.path_metrics import expose_forecaster
from autoscaler.loop.service import LoopMetrics
from autoscaler.ports import Target, TargetRef

QUEUE = MetricSpec(EXTERNAL, "queue", MetricTarget(AVERAGE_VALUE, average_value=1000))
POLICY = Policy(max_replicas=10, metrics=(QUEUE,), predictive=Predictive())
WEB = Target("shop", "web", TargetRef("apps/v1", "Deployment", "web"), POLICY)


def outcome(path: str, *, off: bool, error: float | None) -> Outcome:
    decision = Decision(3, 3, (), (), History(forecast_off=off), path=path)
    forecast = MetricForecast(0, 3000, 1_700_000_060.0, error)
    snapshot = Snapshot(1_700_000_000.0, POLICY, 3, 3, forecasts=(forecast,))
    return Outcome(WEB, 3, decision, snapshot=snapshot)


def text(metrics: LoopMetrics) -> str:
    return generate_latest(metrics.registry).decode()


def test_path_trust_and_error_follow_each_decision() -> None:
    metrics = LoopMetrics()
    metrics.record(outcome("forecast", off=False, error=0.12))
    page = text(metrics)
    assert 'podscale_decision_path{namespace="shop",path="forecast",policy="web"} 1.0' in page
    assert 'podscale_forecast_trusted{namespace="shop",policy="web"} 1.0' in page
    assert 'podscale_forecast_error{metric_name="queue",namespace="shop",policy="web"} 0.12' in page
    metrics.record(outcome("reactive", off=True, error=None))
    page = text(metrics)
    assert 'path="forecast"' not in page  # replaced, not added
    assert 'podscale_decision_path{namespace="shop",path="reactive",policy="web"} 1.0' in page
    assert 'podscale_forecast_trusted{namespace="shop",policy="web"} 0.0' in page
    assert "podscale_forecast_error{" not in page  # not measured: absent


def test_a_plain_policy_has_a_path_but_no_forecast_series() -> None:
    metrics = LoopMetrics()
    plain = replace(
        outcome("reactive", off=False, error=None), target=replace(WEB, policy=Policy(10))
    )
    metrics.record(plain)
    page = text(metrics)
    assert 'podscale_decision_path{namespace="shop",path="reactive",policy="web"} 1.0' in page
    assert "podscale_forecast_trusted{" not in page


def test_a_gone_policy_loses_its_series() -> None:
    metrics = LoopMetrics()
    metrics.record(outcome("forecast", off=False, error=0.1))
    metrics.forget(set())
    page = text(metrics)
    assert "podscale_decision_path{" not in page and "podscale_forecast_error{" not in page


def test_fit_times_are_read_from_the_forecaster_at_scrape_time() -> None:
    metrics = LoopMetrics()
    status = [SeriesStatus("shop/web", "queue", 0.1, None)]
    expose_forecaster(
        metrics.registry, status=lambda: status, fits=lambda: 3, refit_seconds=lambda: 0.5
    )
    assert "podscale_forecast_fit_timestamp_seconds{" not in text(metrics)
    status[0] = SeriesStatus("shop/web", "queue", 0.1, 1_700_000_000.0)
    page = text(metrics)
    assert (
        'podscale_forecast_fit_timestamp_seconds{metric_name="queue",namespace="shop",'
        'policy="web"} 1.7e+09' in page
    )
    assert "podscale_forecast_fits_total 3.0" in page
    assert "podscale_forecast_refit_pass_seconds 0.5" in page


def test_history_queries_count_as_prometheus_queries() -> None:
    from autoscaler.forecast.forecaster import SeasonalForecaster
    from autoscaler.loop.forecast_history import PrometheusHistory
    from autoscaler.run_command import Sources

    history = PrometheusHistory(None, None)
    history.queries = 3
    forecaster = SeasonalForecaster(history_source=history)
    sources = Sources(None, None, None, None, None, None, forecaster)  # type: ignore[arg-type]
    assert sources.prometheus_queries() == 3
