"""The metric series `autoscaler run` exports, taken from the code's own registry.

``catalogue()`` records a few outcomes through the real ``LoopMetrics`` (the same calls a
sync makes) so that every labelled family has samples; the dashboard, the alert rules
and docs/metrics.md are checked against it, never against a hand-written list.
``promtool_series()`` turns such a registry into `promtool test rules` input series.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace

from prometheus_client import CollectorRegistry

from autoscaler.core.model import (
    AVERAGE_VALUE,
    EXTERNAL,
    RESOURCE,
    UTILIZATION,
    Condition,
    Decision,
    History,
    MetricForecast,
    MetricResult,
    MetricSpec,
    MetricStatus,
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

CPU_50 = MetricSpec(RESOURCE, "cpu", MetricTarget(UTILIZATION, average_utilization=50))
QUEUE_30 = MetricSpec(EXTERNAL, "queue_depth", MetricTarget(AVERAGE_VALUE, average_value=30_000))
# Labels a scrape adds (PodMonitor, or the usual kubernetes-pods job).
TARGET_LABELS = frozenset({"instance", "job", "pod", "namespace"})


def target(namespace: str, name: str, *metrics: MetricSpec, max_replicas: int = 10) -> Target:
    return Target(
        namespace,
        name,
        TargetRef("apps/v1", "Deployment", name),
        Policy(max_replicas=max_replicas, min_replicas=1, metrics=metrics),
    )


def conditions(active: tuple[str, str], limited: tuple[str, str]) -> tuple[Condition, ...]:
    return (
        Condition("AbleToScale", "True", "ReadyForNewScale", ""),
        Condition("ScalingActive", *active, ""),
        Condition("ScalingLimited", *limited, ""),
    )


def at_max() -> Outcome:
    """shop/web: 4 of at most 4 replicas, cpu at 100 % of a 50 % target: wants 8."""
    cpu = MetricResult(RESOURCE, "cpu", 8, MetricStatus(average_utilization=100))
    decision = Decision(
        4,
        8,
        (cpu,),
        conditions(("True", "ValidMetricFound"), ("True", "TooManyReplicas")),
        History(),
    )
    return Outcome(target("shop", "web", CPU_50, max_replicas=4), 4, decision)


def scaled_up() -> Outcome:
    """shop/api: 2 -> 3 replicas, well below its maximum."""
    cpu = MetricResult(RESOURCE, "cpu", 3, MetricStatus(average_utilization=70))
    decision = Decision(
        3,
        3,
        (cpu,),
        conditions(("True", "ValidMetricFound"), ("False", "DesiredWithinRange")),
        History(),
    )
    return Outcome(target("shop", "api", CPU_50), 2, decision, patched=True)


def metric_failing() -> Outcome:
    """jobs/worker: its only metric fails, so nothing is computed."""
    queue = MetricResult(EXTERNAL, "queue_depth", error="no data", reason="FailedGetExternalMetric")
    decision = Decision(
        2,
        None,
        (queue,),
        conditions(("False", "FailedGetExternalMetric"), ("False", "DesiredWithinRange")),
        History(),
        error="no metric could be computed",
    )
    return Outcome(target("jobs", "worker", QUEUE_30), 2, decision)


def write_failing() -> Outcome:
    """jobs/mailer: the /scale write is refused."""
    return Outcome(
        target("jobs", "mailer", CPU_50),
        2,
        None,
        error="cannot scale: forbidden",
        error_reason="FailedUpdateScale",
    )


def forecast_led() -> Outcome:
    """shop/front: a predictive policy whose forecast (12 % off) raised 4 to 6."""
    queue = MetricResult(EXTERNAL, "queue_depth", 4, MetricStatus(average_value=30_000))
    decision = Decision(
        6,
        4,
        (queue,),
        conditions(("True", "ValidMetricFound"), ("False", "DesiredWithinRange")),
        History(),
        path="forecast",
    )
    front = target("shop", "front", QUEUE_30)
    policy = replace(front.policy, predictive=Predictive())
    front = replace(front, policy=policy)
    forecast = MetricForecast(0, 180_000, 1_700_000_060.0, 0.12)
    snapshot = Snapshot(1_700_000_000.0, policy, 4, 4, forecasts=(forecast,))
    return Outcome(front, 4, decision, patched=True, snapshot=snapshot)


@dataclass
class Replica:
    """One `autoscaler run` process as Prometheus would scrape it."""

    leading: bool = True
    sync_seconds: tuple[float, ...] = (0.2,)
    outcomes: tuple[Callable[[], Outcome], ...] = (
        at_max,
        scaled_up,
        metric_failing,
        write_failing,
        forecast_led,
    )
    metrics: LoopMetrics = field(default_factory=LoopMetrics)

    def __post_init__(self) -> None:
        self.metrics.expose_process(
            kube_requests=lambda: 12,
            prometheus_queries=lambda: 3,
            leading=lambda: self.leading,
            sync_period=15,
        )
        expose_forecaster(
            self.metrics.registry,
            status=lambda: [SeriesStatus("shop/front", "queue_depth", 0.12, 1_700_000_000.0)],
            fits=lambda: 1,
            refit_seconds=lambda: 0.02,
        )
        for seconds in self.sync_seconds:
            self.metrics.sync_seconds.observe(seconds)
        for outcome in self.outcomes:
            self.metrics.record(outcome())

    @property
    def registry(self) -> CollectorRegistry:
        return self.metrics.registry


@dataclass(frozen=True)
class Family:
    name: str
    type: str
    documentation: str
    labels: frozenset[str]  # without the scrape's target labels
    samples: frozenset[str]  # the names PromQL sees (name_total, name_bucket, ...)


def catalogue() -> dict[str, Family]:
    """Every family the controller exports, with its labels and sample names."""
    families = {}
    for family in Replica().registry.collect():
        samples = [s for s in family.samples if not s.name.endswith("_created")]
        families[family.name] = Family(
            family.name,
            family.type,
            family.documentation,
            frozenset(label for s in samples for label in s.labels if label != "le"),
            frozenset(s.name for s in samples),
        )
    return families


def exported_names() -> dict[str, frozenset[str]]:
    """Sample name -> the labels it carries (``le`` for buckets; plus target labels)."""
    names: dict[str, frozenset[str]] = {}
    for family in catalogue().values():
        for sample in family.samples:
            extra = {"le"} if sample.endswith("_bucket") else set()
            names[sample] = family.labels | extra | TARGET_LABELS
    return names


def promtool_series(
    registry: CollectorRegistry, instance: str, steps: int = 60
) -> list[dict[str, str]]:
    """Input series for `promtool test rules`, one sample a minute for ``steps`` minutes:
    gauges hold their value; cumulative samples (counters, histogram buckets, sums and
    counts) grow by their value every minute, as if each sync repeated the same."""
    series = []
    for family in registry.collect():
        for sample in family.samples:
            if sample.name.endswith("_created"):
                continue
            labels = {**sample.labels, "instance": instance, "job": "podscale"}
            labels.setdefault("namespace", "podscale-system")
            selector = ", ".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
            value = f"{sample.value:g}"
            grows = family.type in ("counter", "histogram")
            values = f"0+{value}x{steps}" if grows else f"{value}x{steps}"
            series.append({"series": f"{sample.name}{{{selector}}}", "values": values})
    return series


def at_max_and_enough() -> Outcome:
    """shop/web at its maximum of 4, and 4 is what its metrics ask for."""
    cpu = MetricResult(RESOURCE, "cpu", 4, MetricStatus(average_utilization=50))
    decision = Decision(
        4,
        4,
        (cpu,),
        conditions(("True", "ValidMetricFound"), ("False", "DesiredWithinRange")),
        History(),
    )
    return Outcome(target("shop", "web", CPU_50, max_replicas=4), 4, decision)
