"""The HPA replica formula, one function per metric kind.

Each function returns a ``MetricResult``: a proposal with the metric's current value,
or the error the HPA would report. The arithmetic follows replica_calculator.go:
integer milli-units, integer-truncated utilization percentages, float ratios,
``ceil(ratio * pods)``, and the tolerance band around 1.0.

Worked example (tests/core/cases: scale-up-unready-less-scale): three pods requesting
1 CPU, two ready using 400m and 500m against a 30% target, one unready. Utilization is
(900 * 100) // 2000 = 45%, ratio 1.5 > 1, so the unready pod is counted at 0:
(900 * 100) // 3000 = 30%, ratio 1.0 is within tolerance -> keep current replicas.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

from autoscaler.core.model import (
    AVERAGE_VALUE,
    CONTAINER_RESOURCE,
    EXTERNAL,
    OBJECT,
    PODS,
    RESOURCE,
    UTILIZATION,
    VALUE,
    MetricResult,
    MetricSpec,
    MetricStatus,
    MetricTarget,
    Snapshot,
)
from autoscaler.core.pods import PodGroups, group_pods, pod_requests, ready_running_count

MAX_INT32 = 2**31 - 1
MAX_INT64 = 2**63 - 1

# A pod's sample: (milli-value, timestamp, window seconds).
Samples = dict[str, tuple[int, float, float]]


class MetricFailure(Exception):
    """Why one metric produced no proposal (becomes ``MetricResult.error``)."""


@dataclass(frozen=True, slots=True)
class Tolerances:
    """How far the usage ratio may drift from 1.0 before the HPA acts."""

    scale_down: float
    scale_up: float

    def within(self, ratio: float) -> bool:
        return (1.0 - self.scale_down) <= ratio <= (1.0 + self.scale_up)


def target_ratio(target: MetricTarget, current: MetricStatus | None) -> float | None:
    """A metric's current value over its target (1.0 = on target): utilizations for a
    Utilization target, average values for AverageValue, values for Value; None when it
    was not read or the target has no such value."""
    if current is None:
        return None
    pairs = {
        UTILIZATION: (current.average_utilization, target.average_utilization),
        AVERAGE_VALUE: (current.average_value, target.average_value),
        VALUE: (current.value, target.value),
    }
    value, goal = pairs.get(target.type, (None, None))
    return None if value is None or not goal else value / goal


def _div(a: int, b: int) -> int:
    """Integer division truncating toward zero, like Go's ``/`` on int64."""
    q = abs(a) // abs(b)
    return q if (a >= 0) == (b > 0) else -q


def _sum_int64(values: tuple[int, ...]) -> int:
    """A sum that saturates at MaxInt64 like the HPA's external metric sums."""
    total = 0
    for value in values:
        total += value
        if total > MAX_INT64:
            return MAX_INT64
    return total


def _sum_per_pod(values: tuple[int, ...]) -> int:
    """GetExternalPerPodMetricReplicas's sum: any negative running total reads as MaxInt64.

    It detects an int64 overflow by the total turning negative, so a sum that goes
    negative because the values are negative saturates too (unlike ``_sum_int64``).
    """
    total = 0
    for value in values:
        total += value
        if total < 0 or total > MAX_INT64:
            return MAX_INT64
    return total


def _ceil_int32(x: float) -> int:
    """``int32(math.Ceil(x))`` with the HPA's clamp at MaxInt32."""
    if math.isnan(x):
        return 0
    return MAX_INT32 if x > MAX_INT32 else math.ceil(x)


# --- Resource and ContainerResource -------------------------------------------------


def resource_samples(snapshot: Snapshot, resource: str, container: str) -> Samples:
    """Per-pod samples from metrics.k8s.io, as the HPA's resource metrics client builds them.

    Without a container, a pod's value is the sum over its containers and a pod with a
    container lacking the resource is left out; with one, only that container counts,
    and a pod whose metrics lack it is left out too (it becomes a "missing" pod, as in
    the HPA's TestReplicaCalcResourceScale "missing container metric" cases).
    """
    raw = snapshot.metrics.resource
    if not raw:
        cause = snapshot.metrics.errors.get("resource")
        raise MetricFailure(cause or "no metrics returned from resource metrics API")
    samples: Samples = {}
    for pod, usage in raw.items():
        if container:
            value = usage.containers.get(container, {}).get(resource)
            if value is not None:
                samples[pod] = (value, usage.timestamp, usage.window)
            continue
        values = [c.get(resource) for c in usage.containers.values()]
        if values and None not in values:
            samples[pod] = (sum(v for v in values if v is not None), usage.timestamp, usage.window)
    return samples


def _utilization(samples: Samples, requests: dict[str, int], target: int) -> tuple[float, int, int]:
    """(ratio, utilization %, raw average) over pods that have both a sample and a request."""
    total = requested = entries = 0
    for pod, (value, _, _) in samples.items():
        if pod in requests:
            total += value
            requested += requests[pod]
            entries += 1
    if requested == 0:
        raise MetricFailure("no metrics returned matched known pods")
    utilization = _div(total * 100, requested)
    return utilization / target, utilization, _div(total, entries)


def _counted(snapshot: Snapshot, samples: Samples, *, resource: str) -> tuple[PodGroups, Samples]:
    """The pod groups, and the samples left once ignored and unready pods are dropped.

    Samples of pods the selector did not match stay: the HPA keeps them too, and they
    count in the number of metrics the second pass divides by.
    """
    if not snapshot.pods:
        raise MetricFailure("no pods returned by selector while calculating replica count")
    groups = group_pods(
        snapshot.pods, samples, resource=resource, settings=snapshot.settings, now=snapshot.now
    )
    kept = {p: s for p, s in samples.items() if p not in groups.ignored and p not in groups.unready}
    if not kept:
        raise MetricFailure("did not receive metrics for targeted pods (pods might be unready)")
    return groups, kept


def _utilization_replicas(
    snapshot: Snapshot,
    samples: Samples,
    *,
    resource: str,
    container: str,
    target: int,
    tolerances: Tolerances,
) -> tuple[int, int, int]:
    """GetResourceReplicas: (replicas, utilization %, raw average milli-value)."""
    current = snapshot.current_replicas
    groups, samples = _counted(snapshot, samples, resource=resource)
    try:
        requests = pod_requests(snapshot.pods, resource=resource, container=container)
    except ValueError as exc:
        raise MetricFailure(str(exc)) from None
    ratio, utilization, raw = _utilization(samples, requests, target)
    scale_up_with_unready = bool(groups.unready) and ratio > 1.0
    if not scale_up_with_unready and not groups.missing:
        if tolerances.within(ratio):
            return current, utilization, raw
        return _ceil_int32(ratio * groups.ready_count), utilization, raw
    if groups.missing:
        if ratio < 1.0:
            # Scale-down: a pod without a sample is assumed to use its full request
            # (or the target, when the target is above 100%).
            fallback = max(100, target)
            for pod in groups.missing:
                samples[pod] = (_div(requests[pod] * fallback, 100), 0.0, 0.0)
        elif ratio > 1.0:
            for pod in groups.missing:
                samples[pod] = (0, 0.0, 0.0)
    if scale_up_with_unready:
        for pod in groups.unready:
            samples[pod] = (0, 0.0, 0.0)
    new_ratio, _, _ = _utilization(samples, requests, target)
    return _rebalanced(current, ratio, new_ratio, len(samples), tolerances), utilization, raw


def _plain_replicas(
    snapshot: Snapshot,
    samples: Samples,
    *,
    resource: str,
    target: int,
    tolerances: Tolerances,
) -> tuple[int, int]:
    """calcPlainMetricReplicas: per-pod average values against an AverageValue target."""
    current = snapshot.current_replicas
    groups, samples = _counted(snapshot, samples, resource=resource)
    usage = _div(sum(v for v, _, _ in samples.values()), len(samples))
    ratio = usage / target
    scale_up_with_unready = bool(groups.unready) and ratio > 1.0
    if not scale_up_with_unready and not groups.missing:
        if tolerances.within(ratio):
            return current, usage
        return _ceil_int32(ratio * groups.ready_count), usage
    if groups.missing:
        if ratio < 1.0:
            for pod in groups.missing:
                samples[pod] = (target, 0.0, 0.0)
        elif ratio > 1.0:
            for pod in groups.missing:
                samples[pod] = (0, 0.0, 0.0)
    if scale_up_with_unready:
        for pod in groups.unready:
            samples[pod] = (0, 0.0, 0.0)
    new_ratio = _div(sum(v for v, _, _ in samples.values()), len(samples)) / target
    return _rebalanced(current, ratio, new_ratio, len(samples), tolerances), usage


def _rebalanced(
    current: int, ratio: float, new_ratio: float, count: int, tolerances: Tolerances
) -> int:
    """The second pass after filling in missing and unready pods: never flip direction."""
    if tolerances.within(new_ratio) or (ratio < 1.0 < new_ratio) or (ratio > 1.0 > new_ratio):
        return current
    proposal = _ceil_int32(new_ratio * count)
    if (new_ratio < 1.0 and proposal > current) or (new_ratio > 1.0 and proposal < current):
        return current
    return proposal


def resource_metric(spec: MetricSpec, snapshot: Snapshot, tolerances: Tolerances) -> MetricResult:
    """Resource and ContainerResource metrics against metrics.k8s.io samples."""
    resource, container = spec.name, spec.container
    is_container = spec.type == CONTAINER_RESOURCE
    reason = "FailedGetContainerResourceMetric" if is_container else "FailedGetResourceMetric"
    # The HPA names the container in a ContainerResource failure, the resource otherwise.
    outer = (
        f"failed to get {container} container metric value"
        if is_container
        else f"failed to get {resource} resource metric value"
    )
    target = spec.target
    try:
        samples = resource_samples(snapshot, resource, container)
    except MetricFailure as exc:
        inner = f"unable to get metrics for resource {resource}: {exc}"
        wrapped = "usage" if target.average_value is not None else "utilization"
        return _failed(spec, reason, outer, f"failed to get {resource} {wrapped}: {inner}")
    if target.average_value is not None:
        try:
            proposal, usage = _plain_replicas(
                snapshot,
                samples,
                resource=resource,
                target=target.average_value,
                tolerances=tolerances,
            )
        except MetricFailure as exc:
            return _failed(spec, reason, outer, f"failed to get {resource} usage: {exc}")
        return MetricResult(
            spec.type,
            spec.name,
            proposal,
            MetricStatus(average_value=usage),
            description=f"{resource} resource",
        )
    if target.average_utilization is None:
        return _failed(
            spec,
            reason,
            outer,
            "invalid resource metric source: neither an average "
            "utilization target nor an average value (usage) target was set",
        )
    try:
        proposal, utilization, raw = _utilization_replicas(
            snapshot,
            samples,
            resource=resource,
            container=container,
            target=target.average_utilization,
            tolerances=tolerances,
        )
    except MetricFailure as exc:
        return _failed(spec, reason, outer, f"failed to get {resource} utilization: {exc}")
    kind = "container resource" if is_container else "resource"
    return MetricResult(
        spec.type,
        spec.name,
        proposal,
        MetricStatus(average_utilization=utilization, average_value=raw),
        description=f"{resource} {kind} utilization (percentage of request)",
    )


# --- Pods, Object, External ------------------------------------------------------------


def pods_metric(spec: MetricSpec, snapshot: Snapshot, tolerances: Tolerances) -> MetricResult:
    outer = "failed to get pods metric value"
    values = snapshot.metrics.pods.get(spec.name)
    target = spec.target.average_value
    if not values:
        return _failed(
            spec,
            "FailedGetPodsMetric",
            outer,
            f"unable to get metric {spec.name}: "
            + _cause(snapshot, spec, "no metrics returned from custom metrics API"),
        )
    if target is None:
        return _failed(
            spec,
            "FailedGetPodsMetric",
            outer,
            "invalid pods metric source: no average value target was set",
        )
    samples: Samples = {pod: (v, snapshot.now, 0.0) for pod, v in values.items()}
    try:
        proposal, usage = _plain_replicas(
            snapshot, samples, resource="", target=target, tolerances=tolerances
        )
    except MetricFailure as exc:
        return _failed(spec, "FailedGetPodsMetric", outer, str(exc))
    return MetricResult(
        spec.type,
        spec.name,
        proposal,
        MetricStatus(average_value=usage),
        description=f"pods metric {spec.name}",
    )


def _usage_ratio_replicas(snapshot: Snapshot, ratio: float, tolerances: Tolerances) -> int:
    """getUsageRatioReplicaCount: scale Running+Ready pods by the ratio; from zero, ceil(ratio)."""
    current = snapshot.current_replicas
    if current == 0:
        return _ceil_int32(ratio)
    if tolerances.within(ratio):
        return current
    if not snapshot.pods:
        raise MetricFailure(
            "unable to calculate ready pods: "
            "no pods returned by selector while calculating replica count"
        )
    return _ceil_int32(ratio * ready_running_count(snapshot.pods))


def _per_pod_replicas(
    snapshot: Snapshot, usage: int, target: int, tolerances: Tolerances
) -> tuple[int, int]:
    """GetObjectPerPodMetricReplicas / GetExternalPerPodMetricReplicas (AverageValue)."""
    status = snapshot.status_replicas
    denominator = float(target) * float(status)
    ratio = (
        usage / denominator
        if denominator
        else math.copysign(math.inf, usage)
        if usage
        else math.nan
    )
    replicas = status
    if not tolerances.within(ratio):
        replicas = _ceil_int32(usage / target)
    if float(usage) >= float(MAX_INT64):
        return replicas, MAX_INT64
    average = math.ceil(usage / status) if status else usage
    return replicas, average


def _value_metric(
    spec: MetricSpec,
    snapshot: Snapshot,
    tolerances: Tolerances,
    *,
    usage: int,
    per_pod_usage: int,
    reason: str,
    outer: str,
    description: str,
) -> MetricResult:
    """An Object or External metric's Value or AverageValue path.

    ``per_pod_usage`` is the total the AverageValue path divides: the HPA sums an
    External metric's series differently for each path.
    """
    target = spec.target
    # The HPA picks an External metric's path by which field is set, averageValue first,
    # whatever the target's type says; an Object metric's by the type.
    by_type = spec.type != EXTERNAL
    average_target, value_target = target.average_value, target.value
    if average_target is not None and (target.type == AVERAGE_VALUE or not by_type):
        proposal, average = _per_pod_replicas(snapshot, per_pod_usage, average_target, tolerances)
        return MetricResult(
            spec.type,
            spec.name,
            proposal,
            MetricStatus(average_value=average),
            # The HPA names an Object metric's per-pod path "external metric" too.
            description=f"external metric {spec.name}({spec.selector})",
        )
    if value_target is not None and (target.type == VALUE or not by_type):
        try:
            proposal = _usage_ratio_replicas(snapshot, usage / value_target, tolerances)
        except MetricFailure as exc:
            return _failed(spec, reason, outer, str(exc))
        return MetricResult(
            spec.type, spec.name, proposal, MetricStatus(value=usage), description=description
        )
    kind = "object" if spec.type == OBJECT else "external"
    return _failed(
        spec,
        reason,
        outer,
        f"invalid {kind} metric source: neither a value target nor an average value target was set",
    )


def object_metric(spec: MetricSpec, snapshot: Snapshot, tolerances: Tolerances) -> MetricResult:
    ref = spec.described_object
    where = f"{ref.kind} {ref.name}" if ref else "object"
    outer = "failed to get object metric value"
    usage = snapshot.metrics.object.get(spec.name)
    if usage is None:
        return _failed(
            spec,
            "FailedGetObjectMetric",
            outer,
            f"unable to get metric {spec.name}: "
            + _cause(snapshot, spec, f"no metric returned from custom metrics API on {where}"),
        )
    return _value_metric(
        spec,
        snapshot,
        tolerances,
        usage=usage,
        per_pod_usage=usage,
        reason="FailedGetObjectMetric",
        outer=outer,
        description=f"{ref.kind if ref else 'Object'} metric {spec.name}",
    )


def external_metric(spec: MetricSpec, snapshot: Snapshot, tolerances: Tolerances) -> MetricResult:
    outer = f"failed to get {spec.name} external metric value"
    values = snapshot.metrics.external.get(spec.name)
    if not values:
        return _failed(
            spec,
            "FailedGetExternalMetric",
            outer,
            f"unable to get external metric {spec.name}: "
            + _cause(snapshot, spec, "no metrics returned from external metrics API"),
        )
    return _value_metric(
        spec,
        snapshot,
        tolerances,
        usage=_sum_int64(values),
        per_pod_usage=_sum_per_pod(values),
        reason="FailedGetExternalMetric",
        outer=outer,
        description=f"external metric {spec.name}({spec.selector})",
    )


def _cause(snapshot: Snapshot, spec: MetricSpec, default: str) -> str:
    """The source's own reason for a failed read, if it gave one."""
    return snapshot.metrics.errors.get(spec.name, default)


def _failed(spec: MetricSpec, reason: str, outer: str, inner: str) -> MetricResult:
    """A failed metric: ``error`` is what the HPA returns, ``description`` its condition text."""
    return MetricResult(
        spec.type, spec.name, error=f"{outer}: {inner}", reason=reason, description=inner
    )


Calculator = Callable[[MetricSpec, Snapshot, Tolerances], MetricResult]

CALCULATORS: dict[str, Calculator] = {
    RESOURCE: resource_metric,
    CONTAINER_RESOURCE: resource_metric,
    PODS: pods_metric,
    OBJECT: object_metric,
    EXTERNAL: external_metric,
}


def compute_metric(spec: MetricSpec, snapshot: Snapshot, tolerances: Tolerances) -> MetricResult:
    """The proposal for one metric, or an InvalidMetricSourceType failure for unknown types."""
    calculator = CALCULATORS.get(spec.type)
    if calculator is None:
        inner = f'unknown metric source type "{spec.type}"'
        return MetricResult(
            spec.type, spec.name, error=inner, reason="InvalidMetricSourceType", description=inner
        )
    return calculator(spec, snapshot, tolerances)
