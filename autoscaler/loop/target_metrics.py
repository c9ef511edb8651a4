"""Per-target series beyond desired/current replicas: bounds, metrics vs targets, conditions.

They are what a dashboard or an alert needs to answer "why isn't it scaling?" without
reading the ScalingPolicy status: a target pinned at ``podscale_max_replicas``, a metric
far from its ``podscale_metric_target``, a metric that keeps failing
(``podscale_metric_errors_total``), the condition reason that holds the replicas
(``podscale_condition``). They mirror kube-state-metrics' HPA series, so an HPA dashboard
translates one to one: utilization targets are percent of the request, as written in the
policy; values and average values are in the metric's own unit (the core keeps
milli-units, divided by 1000 here: a target of ``500m`` is 0.5). docs/metrics.md lists
every series.
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping

from prometheus_client import CollectorRegistry, Counter, Gauge

from autoscaler.core.model import MetricStatus, MetricTarget
from autoscaler.loop.controller import Outcome

Key = tuple[str, str]  # (namespace, policy)
Labels = tuple[str, ...]

TARGET = ("namespace", "policy")
METRIC = (*TARGET, "metric_name", "metric_type", "metric_container", "metric_target_type")
METRIC_ERROR = (*TARGET, "metric_name", "reason")
SYNC_ERROR = (*TARGET, "reason")
CONDITION = (*TARGET, "type", "status", "reason")


def target_of(target: MetricTarget) -> tuple[str, float] | None:
    """(metric_target_type, value in the series' unit) of a metric's target."""
    if target.average_utilization is not None:
        return "utilization", float(target.average_utilization)
    if target.average_value is not None:
        return "average_value", target.average_value / 1000
    if target.value is not None:
        return "value", target.value / 1000
    return None


def current_of(status: MetricStatus, target_type: str) -> float | None:
    """The current value comparable to a target of ``target_type`` (None if unread)."""
    raw = {
        "utilization": status.average_utilization,
        "average_value": status.average_value,
        "value": status.value,
    }[target_type]
    if raw is None:
        return None
    return float(raw) if target_type == "utilization" else raw / 1000


class _PerTarget:
    """A metric's series for each target, replaced as a whole at each sync, so a label
    that changed (a new condition reason, a removed metric) leaves no stale series."""

    def __init__(self, metric: Gauge | Counter) -> None:
        self.metric = metric
        self.labels: dict[Key, set[Labels]] = {}

    def keep_only(self, key: Key, labels: set[Labels]) -> None:
        for stale in self.labels.get(key, set()) - labels:
            with contextlib.suppress(KeyError):
                self.metric.remove(*stale)
        if labels:
            self.labels[key] = labels
        else:
            self.labels.pop(key, None)

    def set(self, key: Key, values: Mapping[Labels, float]) -> None:
        self.keep_only(key, set(values))
        for labels, value in values.items():
            self.metric.labels(*labels).set(value)  # type: ignore[union-attr]

    def inc(self, key: Key, labels: Labels) -> None:
        self.labels.setdefault(key, set()).add(labels)
        self.metric.labels(*labels).inc()


class TargetMetrics:
    """Records one target's bounds, metric values, targets and conditions per sync."""

    def __init__(self, registry: CollectorRegistry) -> None:
        def gauge(name: str, documentation: str, labels: tuple[str, ...]) -> _PerTarget:
            return _PerTarget(Gauge(name, documentation, labels, registry=registry))

        self.min_replicas = gauge("podscale_min_replicas", "The policy's minReplicas.", TARGET)
        self.max_replicas = gauge("podscale_max_replicas", "The policy's maxReplicas.", TARGET)
        self.metric_target = gauge(
            "podscale_metric_target",
            "Each metric's target: percent of the request for utilization, else the "
            "metric's own unit.",
            METRIC,
        )
        self.metric_value = gauge(
            "podscale_metric_value",
            "Each metric's current value, comparable to podscale_metric_target; absent "
            "while the metric cannot be read.",
            METRIC,
        )
        self.condition = gauge(
            "podscale_condition",
            "1 for each HPA condition's current status and reason (AbleToScale, "
            "ScalingActive, ScalingLimited).",
            CONDITION,
        )
        self.metric_errors = _PerTarget(
            Counter(
                "podscale_metric_errors_total",
                "Syncs in which a metric could not be read or used, by the HPA's reason.",
                METRIC_ERROR,
                registry=registry,
            )
        )

        self.sync_errors = _PerTarget(
            Counter(
                "podscale_sync_errors_total",
                "Syncs of a target that failed to read or write its scale (or its pods), by "
                "the HPA's event reason: FailedGetScale, FailedUpdateScale, ...",
                SYNC_ERROR,
                registry=registry,
            )
        )

    def record(self, outcome: Outcome) -> None:
        target = outcome.target
        key = (target.namespace, target.name)
        if outcome.error is not None:
            self.sync_errors.inc(key, (*key, outcome.error_reason or "FailedSync"))
        self.min_replicas.set(key, {key: target.policy.min_replicas})
        self.max_replicas.set(key, {key: target.policy.max_replicas})
        decision = outcome.decision
        if decision is None:
            return  # no decision (the /scale read failed): the last values stand
        targets: dict[Labels, float] = {}
        values: dict[Labels, float] = {}
        # decide() returns one result per policy metric, in the policy's order.
        for spec, result in zip(target.policy.metrics, decision.metrics, strict=False):
            if result.error is not None:
                reason = result.reason or "FailedGetMetric"
                self.metric_errors.inc(key, (*key, spec.name, reason))
            wanted = target_of(spec.target)
            if wanted is None:
                continue
            labels = (*key, spec.name, spec.type, spec.container, wanted[0])
            targets[labels] = wanted[1]
            value = None if result.current is None else current_of(result.current, wanted[0])
            if value is not None:
                values[labels] = value
        self.metric_target.set(key, targets)
        self.metric_value.set(key, values)
        self.condition.set(
            key, {(*key, c.type, c.status, c.reason): 1.0 for c in decision.conditions}
        )

    def forget(self, key: Key) -> None:
        """Drop every series of a target not synced any more (deleted, or not ours)."""
        for series in self._all():
            series.keep_only(key, set())

    def _all(self) -> tuple[_PerTarget, ...]:
        return (
            self.min_replicas,
            self.max_replicas,
            self.metric_target,
            self.metric_value,
            self.condition,
            self.metric_errors,
            self.sync_errors,
        )
