"""A forecast metric's past read back from a real Prometheus (backfilled with promtool):
the totals equal the known data, a target's pods are told by name, and a forecaster
with no history of its own forecasts at its first refit."""

from __future__ import annotations

import math
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from prometheus_fixture import PrometheusServer, running_prometheus

from autoscaler.core.model import (
    AVERAGE_VALUE,
    EXTERNAL,
    RESOURCE,
    UTILIZATION,
    MetricSpec,
    MetricTarget,
    Policy,
    Predictive,
)
from autoscaler.forecast.forecaster import SeasonalForecaster
from autoscaler.loop.custom_metrics import PrometheusMetrics
from autoscaler.loop.forecast_history import PrometheusHistory, pod_pattern
from autoscaler.loop.resource_prometheus import PrometheusResourceMetrics
from autoscaler.metrics.declarations import MetricDeclaration
from autoscaler.metrics.prometheus import PrometheusSettings, PrometheusSource
from autoscaler.ports import LoopError, Target, TargetRef

pytestmark = pytest.mark.prometheus

DAY = 86_400.0
QUEUE = MetricSpec(EXTERNAL, "queue_depth", MetricTarget(AVERAGE_VALUE, average_value=10_000))
CPU = MetricSpec(RESOURCE, "cpu", MetricTarget(UTILIZATION, average_utilization=50))
CPU_PODS = ("web-7d9f8c6b5-abcde", "web-7d9f8c6b5-fghij", "webhook-abc12")


def queue(t: float) -> float:
    """Known data: a daily wave between 100 and 500 messages."""
    return 300 + 200 * math.sin(2 * math.pi * t / DAY)


@dataclass(frozen=True)
class Known:
    server: PrometheusServer
    end: float  # the last backfilled sample


def _openmetrics(start: float, end: float) -> str:
    lines = ["# TYPE test_queue_depth gauge"]
    t = start
    while t <= end:
        lines.append(f'test_queue_depth{{namespace="shop"}} {queue(t):.3f} {t:.0f}')
        t += 60
    lines.append("# TYPE container_cpu_usage_seconds counter")
    t, used = end - 3 * 3600, 0.0
    while t <= end:
        for pod in CPU_PODS:
            lines.append(
                f'container_cpu_usage_seconds_total{{namespace="shop",pod="{pod}",'
                f'container="app"}} {used:.1f} {t:.0f}'
            )
        used += 0.5 * 15  # half a core, scraped every 15 s
        t += 15
    return "\n".join(lines) + "\n# EOF\n"


@pytest.fixture(scope="module")
def known() -> Iterator[Known]:
    end = (time.time() // 60) * 60 - 5 * 60
    with running_prometheus([], backfill=_openmetrics(end - 3 * DAY, end)) as server:
        yield Known(server, end)


def source(known: Known) -> PrometheusSource:
    return PrometheusSource(settings=PrometheusSettings(url=known.server.url, timeout=10))


def history(known: Known) -> PrometheusHistory:
    declaration = MetricDeclaration.model_validate(
        {
            "name": "queue_depth",
            "type": "External",
            "query": 'test_queue_depth{namespace="{namespace}"}',
        }
    )
    custom = PrometheusMetrics(source(known), {"queue_depth": declaration})
    return PrometheusHistory(custom, PrometheusResourceMetrics(source(known)))


def target(*metrics: MetricSpec) -> Target:
    policy = Policy(max_replicas=50, metrics=metrics, predictive=Predictive(lead_seconds=60))
    return Target("shop", "web", TargetRef("apps/v1", "Deployment", "web"), policy)


def test_an_external_metrics_past_is_the_known_data(known: Known) -> None:
    end = known.end
    totals = history(known).totals(target(QUEUE), 0, start=end - DAY, end=end, step=900)
    assert totals is not None and len(totals) == 97
    for t, total in totals:
        assert total == pytest.approx(queue(t) * 1000, abs=1)


def test_cpu_is_summed_over_the_targets_pods_only(known: Known) -> None:
    end = known.end
    totals = history(known).totals(target(CPU), 0, start=end - 3600, end=end, step=60)
    assert totals is not None and len(totals) > 50
    # Two web pods at half a core each; webhook-abc12 is another workload's pod.
    assert all(total == pytest.approx(1000, abs=5) for _, total in totals)


def test_a_metric_prometheus_does_not_serve_has_no_past(known: Known) -> None:
    no_resources = PrometheusHistory(history(known).custom, None)
    assert no_resources.totals(target(CPU), 0, start=0, end=1, step=60) is None
    undeclared = MetricSpec(EXTERNAL, "other", QUEUE.target)
    assert history(known).totals(target(undeclared), 0, start=0, end=1, step=60) is None


def test_an_unreachable_prometheus_is_a_loop_error(known: Known) -> None:
    dead = PrometheusSource(settings=PrometheusSettings(url="http://127.0.0.1:9", timeout=1))
    declaration = history(known).custom
    assert declaration is not None
    broken = PrometheusHistory(PrometheusMetrics(dead, declaration.declarations), None)
    with pytest.raises(
        LoopError, match=re.escape("history of queue_depth from prometheus http://127.0.0.1:9:")
    ):
        broken.totals(target(QUEUE), 0, start=known.end - 3600, end=known.end, step=60)


def test_a_forecaster_seeded_from_prometheus_forecasts_at_its_first_refit(known: Known) -> None:
    web = target(QUEUE)
    forecaster = SeasonalForecaster(history_source=history(known))
    now = known.end + 60
    assert forecaster.forecasts(web, now=now) == ()  # known, no history of its own
    assert forecaster.refit(now) == 1
    (forecast,) = forecaster.forecasts(web, now=now)
    assert forecast.at == now + 60
    assert forecast.total == pytest.approx(queue(now + 60) * 1000, rel=0.05)
    (series,) = forecaster.status()
    assert series.fitted_at == now


@pytest.mark.parametrize(
    ("kind", "name", "yes", "no"),
    [
        ("Deployment", "web", "web-7d9f8c6b5-abcde", "web-api-7d9f8c6b5-abcde"),
        ("StatefulSet", "db", "db-12", "db-x"),
        ("ReplicaSet", "rs", "rs-ab3cd", "rs-ab3cd-1"),
    ],
)
def test_pods_are_told_by_their_controllers_names(kind: str, name: str, yes: str, no: str) -> None:
    pattern = pod_pattern(kind, name)
    assert pattern.fullmatch(yes) and not pattern.fullmatch(no)
