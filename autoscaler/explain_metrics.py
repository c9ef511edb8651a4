"""Each metric's arithmetic in words, with the HPA's formula filled in.

The numbers are recomputed here from the snapshot with the core's own pieces (samples,
pod groups, requests) so that a person can follow them; the proposal printed at the end
of each formula is always the core's (``MetricResult.proposal``). Worked example: two
ready pods requesting 1 cpu use 900m each against a 50 % target: ``2 pods use 1.8 of 2
cpu requested = 90%``, ``ratio 90% / 50% = 1.80``, outside ``0.9 <= ratio <= 1.1``,
``ceil(2 pods x 90% / 50%) = 4``.
"""

from __future__ import annotations

import math

from autoscaler.core.hpa import tolerances_for
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
    Pod,
    Snapshot,
)
from autoscaler.core.paths import units
from autoscaler.core.pods import PodGroups, group_pods, pod_requests, ready_running_count
from autoscaler.core.replicas import MetricFailure, Tolerances, resource_samples

Samples = dict[str, tuple[int, float, float]]


def _div(a: int, b: int) -> int:
    """Go's integer division, truncating toward zero (the core's arithmetic)."""
    q = abs(a) // abs(b)
    return q if (a >= 0) == (b > 0) else -q


def band(tolerances: Tolerances) -> str:
    return f"{1 - tolerances.scale_down:g} <= ratio <= {1 + tolerances.scale_up:g}"


def metric_samples(spec: MetricSpec, snapshot: Snapshot) -> Samples | None:
    """The per-pod samples the core averages for a Resource or Pods metric."""
    if spec.type in (RESOURCE, CONTAINER_RESOURCE):
        try:
            return resource_samples(snapshot, spec.name, spec.container)
        except MetricFailure:
            return None
    if spec.type == PODS:
        values = snapshot.metrics.pods.get(spec.name)
        return {p: (v, snapshot.now, 0.0) for p, v in values.items()} if values else None
    return None


def groups_for(spec: MetricSpec, snapshot: Snapshot, samples: Samples) -> PodGroups:
    resource = spec.name if spec.type in (RESOURCE, CONTAINER_RESOURCE) else ""
    return group_pods(
        snapshot.pods, samples, resource=resource, settings=snapshot.settings, now=snapshot.now
    )


def formula_lines(spec: MetricSpec, result: MetricResult, snapshot: Snapshot) -> list[str]:
    """How the metric's proposal was reached, one step a line (none for a failed metric)."""
    if result.proposal is None or result.current is None:
        return []
    current = snapshot.current_replicas
    if current == 0 and spec.type in (RESOURCE, CONTAINER_RESOURCE, PODS):
        return []
    tolerances = tolerances_for(snapshot)
    target = spec.target
    if spec.type in (RESOURCE, CONTAINER_RESOURCE) and target.average_value is None:
        if target.average_utilization is None:
            return []
        return _utilization_lines(spec, result, snapshot, tolerances)
    if spec.type in (RESOURCE, CONTAINER_RESOURCE, PODS):
        return _average_lines(spec, result, snapshot, tolerances)
    if spec.type in (OBJECT, EXTERNAL):
        return _value_lines(spec, result, snapshot, tolerances)
    return []


def _counted(spec: MetricSpec, snapshot: Snapshot) -> tuple[PodGroups, Samples] | None:
    samples = metric_samples(spec, snapshot)
    if samples is None or not snapshot.pods:
        return None
    groups = groups_for(spec, snapshot, samples)
    kept = {p: s for p, s in samples.items() if p not in groups.ignored and p not in groups.unready}
    return (groups, kept) if kept else None


def _pods(count: int) -> str:
    return f"{count} pod" if count == 1 else f"{count} pods"


def _utilization_lines(
    spec: MetricSpec, result: MetricResult, snapshot: Snapshot, tolerances: Tolerances
) -> list[str]:
    counted = _counted(spec, snapshot)
    target = spec.target.average_utilization
    if counted is None or not target:
        return []
    groups, samples = counted
    try:
        requests = pod_requests(snapshot.pods, resource=spec.name, container=spec.container)
    except ValueError:
        return []
    utilization, total, requested = _utilization(samples, requests)
    if requested == 0:
        return []
    ratio = utilization / target
    name = spec.name
    lines = [
        f"{_pods(len([p for p in samples if p in requests]))} use {units(total)} of "
        f"{units(requested)} {name} requested = {utilization}%; "
        f"ratio {utilization}% / {target}% = {ratio:.2f}"
    ]
    proposal, current = result.proposal, snapshot.current_replicas
    unready_up = bool(groups.unready) and ratio > 1.0
    if not unready_up and not groups.missing:
        if tolerances.within(ratio):
            return [*lines, f"{band(tolerances)}: no change, {current} replicas"]
        return [
            *lines,
            f"outside {band(tolerances)}: ceil({_pods(groups.ready_count)} x {utilization}% "
            f"/ {target}%) = {proposal}",
        ]
    filled = dict(samples)
    if groups.missing and ratio != 1.0:
        at = max(100, target) if ratio < 1.0 else 0
        why = "scaling down" if ratio < 1.0 else "scaling up"
        lines.append(
            f"{_pods(len(groups.missing))} without a sample counted at {at}% of the request "
            f"({why}): {', '.join(sorted(groups.missing))}"
        )
        for pod in groups.missing:
            filled[pod] = (_div(requests[pod] * at, 100), 0.0, 0.0)
    if unready_up:
        lines.append(
            f"{_pods(len(groups.unready))} not ready or pending counted at 0% (scaling up): "
            f"{', '.join(sorted(groups.unready))}"
        )
        for pod in groups.unready:
            filled[pod] = (0, 0.0, 0.0)
    again, total, requested = _utilization(filled, requests)
    new_ratio = again / target
    count = len(filled)
    lines.append(
        f"again: {_pods(count)} use {units(total)} of {units(requested)} {name} = {again}%; "
        f"ratio {again}% / {target}% = {new_ratio:.2f}"
    )
    return lines + _second_pass(ratio, new_ratio, count, f"{again}% / {target}%", result, snapshot)


def _second_pass(
    ratio: float,
    new_ratio: float,
    count: int,
    fraction: str,
    result: MetricResult,
    snapshot: Snapshot,
) -> list[str]:
    tolerances = tolerances_for(snapshot)
    current = snapshot.current_replicas
    if tolerances.within(new_ratio):
        return [f"{band(tolerances)}: no change, {current} replicas"]
    if (ratio < 1.0 < new_ratio) or (ratio > 1.0 > new_ratio):
        return [f"the ratio changed direction once they count: no change, {current} replicas"]
    asked = math.ceil(new_ratio * count)
    text = f"outside {band(tolerances)}: ceil({_pods(count)} x {fraction}) = {asked}"
    if asked != result.proposal:
        text += f", against the direction of the ratio: no change, {current} replicas"
    return [text]


def _utilization(samples: Samples, requests: dict[str, int]) -> tuple[int, int, int]:
    """(utilization %, usage, requests) over the pods with a sample and a request."""
    total = requested = 0
    for pod, (value, _, _) in samples.items():
        if pod in requests:
            total += value
            requested += requests[pod]
    return (_div(total * 100, requested) if requested else 0), total, requested


def _average_lines(
    spec: MetricSpec, result: MetricResult, snapshot: Snapshot, tolerances: Tolerances
) -> list[str]:
    counted = _counted(spec, snapshot)
    target = spec.target.average_value
    if counted is None or not target:
        return []
    groups, samples = counted
    usage = _div(sum(v for v, _, _ in samples.values()), len(samples))
    ratio = usage / target
    per_pod = f"{units(usage)} / {units(target)}"
    lines = [f"{_pods(len(samples))} average {units(usage)} per pod; ratio {per_pod} = {ratio:.2f}"]
    current = snapshot.current_replicas
    unready_up = bool(groups.unready) and ratio > 1.0
    if not unready_up and not groups.missing:
        if tolerances.within(ratio):
            return [*lines, f"{band(tolerances)}: no change, {current} replicas"]
        return [
            *lines,
            f"outside {band(tolerances)}: ceil({_pods(groups.ready_count)} x {per_pod}) "
            f"= {result.proposal}",
        ]
    filled = dict(samples)
    if groups.missing and ratio != 1.0:
        at = target if ratio < 1.0 else 0
        why = "the target, scaling down" if ratio < 1.0 else "0, scaling up"
        lines.append(
            f"{_pods(len(groups.missing))} without a sample counted at {why}: "
            f"{', '.join(sorted(groups.missing))}"
        )
        for pod in groups.missing:
            filled[pod] = (at, 0.0, 0.0)
    if unready_up:
        lines.append(
            f"{_pods(len(groups.unready))} not ready or pending counted at 0 (scaling up): "
            f"{', '.join(sorted(groups.unready))}"
        )
        for pod in groups.unready:
            filled[pod] = (0, 0.0, 0.0)
    again = _div(sum(v for v, _, _ in filled.values()), len(filled))
    new_ratio = again / target
    lines.append(
        f"again: {_pods(len(filled))} average {units(again)}; "
        f"ratio {units(again)} / {units(target)} = {new_ratio:.2f}"
    )
    fraction = f"{units(again)} / {units(target)}"
    return lines + _second_pass(ratio, new_ratio, len(filled), fraction, result, snapshot)


def _value_lines(
    spec: MetricSpec, result: MetricResult, snapshot: Snapshot, tolerances: Tolerances
) -> list[str]:
    status = result.current
    assert status is not None
    target, current = spec.target, snapshot.current_replicas
    if status.value is not None and target.value:
        usage = status.value
        ratio = usage / target.value
        lines = [f"{units(usage)} / target {units(target.value)} = ratio {ratio:.2f}"]
        if current == 0:
            return [*lines, f"from zero: ceil({ratio:.2f}) = {result.proposal}"]
        if tolerances.within(ratio):
            return [*lines, f"{band(tolerances)}: no change, {current} replicas"]
        ready = ready_running_count(snapshot.pods)
        return [
            *lines,
            f"outside {band(tolerances)}: ceil({ready} ready pods x {units(usage)} / "
            f"{units(target.value)}) = {result.proposal}",
        ]
    if target.average_value and (target.type == AVERAGE_VALUE or spec.type == EXTERNAL):
        total = _total(spec, snapshot)
        if total is None:
            return []
        replicas = snapshot.status_replicas
        per = f"({units(target.average_value)} x {replicas} pods)"
        ratio = total / (target.average_value * replicas) if replicas else math.inf
        lines = [f"{units(total)} in total / {per} = ratio {ratio:.2f}"]
        if tolerances.within(ratio):
            return [*lines, f"{band(tolerances)}: no change, {replicas} replicas"]
        return [
            *lines,
            f"outside {band(tolerances)}: ceil({units(total)} / {units(target.average_value)}"
            f" per pod) = {result.proposal}",
        ]
    return []


def _total(spec: MetricSpec, snapshot: Snapshot) -> int | None:
    if spec.type == OBJECT:
        return snapshot.metrics.object.get(spec.name)
    values = snapshot.metrics.external.get(spec.name)
    return sum(values) if values else None


def target_text(spec: MetricSpec) -> str:
    target = spec.target
    if target.average_utilization is not None and target.type == UTILIZATION:
        return f"{target.average_utilization}% of request"
    if target.average_value is not None and target.type in (AVERAGE_VALUE, UTILIZATION):
        return f"{units(target.average_value)} per pod"
    if target.value is not None and target.type == VALUE:
        return f"{units(target.value)} in total"
    return "no usable target"


def current_text(result: MetricResult) -> str:
    current = result.current
    if current is None:
        return "?"
    if current.average_utilization is not None:
        raw = units(current.average_value or 0)
        return f"{current.average_utilization}% of request ({raw} per pod)"
    if current.average_value is not None:
        return f"{units(current.average_value)} per pod"
    return f"{units(current.value or 0)} in total"


def pod_lines(snapshot: Snapshot) -> list[str]:
    """Which pods were counted how, by the first metric that reads pods (a Resource
    metric's groups include the CPU initialization rules)."""
    pods = snapshot.pods
    if not pods:
        return ["Pods: none matched"]
    spec = next(
        (m for m in snapshot.policy.metrics if m.type in (RESOURCE, CONTAINER_RESOURCE, PODS)),
        None,
    )
    samples = metric_samples(spec, snapshot) if spec is not None else None
    data = snapshot.metrics
    read_empty = data.resource is not None and "resource" not in data.errors
    if samples is None and spec is not None and spec.type != PODS and read_empty:
        samples = {}  # read, but no sample for any pod: every pod is missing its metrics
    groups = None if spec is None or samples is None else groups_for(spec, snapshot, samples)
    by_kind: dict[str, list[str]] = {}
    for pod in pods:
        by_kind.setdefault(_kind(pod, groups, spec), []).append(pod.name)
    counts = f" (as {spec.name} counts them)" if groups is not None and spec is not None else ""
    lines = [f"Pods: {len(pods)} matched{counts}"]
    for kind in _KINDS:
        names = by_kind.get(kind)
        if names:
            lines.append(f"  {len(names)} {kind}: {', '.join(sorted(names))}")
    return lines


_READY = "ready, counted"
_KINDS = (
    _READY,
    "ready",
    "not ready",
    "not ready (counted at 0% when scaling up, left out otherwise)",
    "pending (counted at 0% when scaling up, left out otherwise)",
    "with a CPU sample from their initialization period (counted as not ready)",
    "without metrics (counted at 100% of the request when scaling down, 0% when scaling up)",
    "being deleted or failed (ignored)",
)


def _kind(pod: Pod, groups: PodGroups | None, spec: MetricSpec | None) -> str:
    if pod.deleting or pod.phase == "Failed":
        return _KINDS[7]
    if pod.phase == "Pending":
        return _KINDS[4]
    if groups is None:
        return _KINDS[1] if pod.ready == "True" else _KINDS[2]
    if pod.name in groups.missing:
        return _KINDS[6]
    if pod.name in groups.unready:
        return _KINDS[3] if pod.ready != "True" else _KINDS[5]
    return _READY
