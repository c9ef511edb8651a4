"""Warnings about a simulation that would otherwise mislead: targets out of reach, and
replicas pinned at maxReplicas.

A target out of reach is found from the pod model before anything runs: a pod's CPU
use is at most ``idle + capacity x cpuPerRequest`` (a pod never serves more than its
capacity), capped at its limit, and its memory at ``base + capacity x perRps``. A
Resource or ContainerResource target at or above that ceiling, times one plus the
scale-up tolerance, can never ask for another pod: ``policies/native-hpa.yaml`` wants
400m per pod from pods that use at most 210m in the default model
(``test_a_target_no_pod_can_reach_is_a_warning``). Latency targets have a ceiling too:
the model's latency saturates at 100 times its idle value.

Pinned at maxReplicas is read from the run: a policy whose ``spec.replicas`` sat at its
maxReplicas for at least :data:`AT_MAX_SHARE` of the recorded time could not follow
the load, whatever its behavior.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any, Final

from autoscaler.core.model import (
    AVERAGE_VALUE,
    CONTAINER_RESOURCE,
    PODS,
    RESOURCE,
    UTILIZATION,
    VALUE,
    MetricSpec,
    Settings,
)
from autoscaler.sim.load import MAX_UTILIZATION
from autoscaler.sim.podmodel import PodModel
from autoscaler.simulate.adapters import metric_quantity
from autoscaler.simulate.engine import Subject

AT_MAX_SHARE: Final = 0.10


def unreachable_targets(subject: Subject, *, settings: Settings) -> list[str]:
    """One line per metric of ``subject`` that no pod of its model can push past target."""
    policy = subject.target.policy
    rules = None if policy.behavior is None else policy.behavior.scale_up
    tolerance = settings.tolerance
    if rules is not None and rules.tolerance is not None:
        tolerance = rules.tolerance
    lines = []
    for spec in policy.metrics:
        found = _ceiling(spec, subject.model)
        if found is None:
            continue
        most, target, shown = found
        if most <= target * (1 + tolerance):
            lines.append(
                f"{subject.label}: the {spec.name} target ({shown(target)}) is out of reach: "
                f"a pod of this model reaches at most {shown(most)} (at its "
                f"{subject.model.capacity_rps:g} rps capacity), so this metric never asks "
                "for more pods"
            )
    return lines


def pinned_at_max(subject: Subject, summary: Mapping[str, Any]) -> str | None:
    """A line when ``subject`` sat at maxReplicas for a long share of the run."""
    recorded = summary["recordedMinutes"]
    pinned = summary["atMaxReplicasMinutes"]
    if not recorded or pinned < AT_MAX_SHARE * recorded:
        return None
    maximum = subject.target.policy.max_replicas
    return (
        f"{subject.label}: replicas sat at maxReplicas ({maximum}) for {pinned:,.0f} of "
        f"{recorded:,.0f} minutes ({100 * pinned / recorded:.0f} %): the load needs more "
        "pods than the policy allows"
    )


def _ceiling(spec: MetricSpec, model: PodModel) -> tuple[float, float, Any] | None:
    """(the most the metric can be, its target, a formatter), or None if unbounded."""
    target = spec.target
    if spec.type in (RESOURCE, CONTAINER_RESOURCE) and spec.name in ("cpu", "memory"):
        used, request = _resource_ceiling(spec.name, model)
        if target.type == UTILIZATION and target.average_utilization is not None:
            return 100 * used / request, float(target.average_utilization), _percent
        if target.type == AVERAGE_VALUE and target.average_value is not None:
            show = _milli if spec.name == "cpu" else _bytes
            return used, target.average_value / (1 if spec.name == "cpu" else 1000), show
        return None
    if metric_quantity(spec.name) != "latency":
        return None
    value = target.average_value if spec.type == PODS else target.value
    if value is None or (spec.type != PODS and target.type != VALUE):
        return None
    most_ms = model.base_latency_ms / (1 - MAX_UTILIZATION)
    lowered = spec.name.lower()
    in_ms = lowered.endswith("_ms") or lowered.endswith("milliseconds")
    most = most_ms if in_ms else most_ms / 1000
    return most, value / 1000, _plain


def _resource_ceiling(name: str, model: PodModel) -> tuple[float, float]:
    """(the most a pod uses, its request): millicores for CPU, bytes for memory."""
    if name == "cpu":
        busiest = model.idle_cpu_milli + model.capacity_rps * model.cpu_per_request_milli
        return min(busiest, model.cpu_limit_milli), model.cpu_request_milli
    busiest = model.memory_base_bytes + model.capacity_rps * model.memory_per_rps_bytes
    return busiest, model.memory_request_bytes


def _percent(value: float) -> str:
    return f"{value:.0f} % of the request"


def _milli(value: float) -> str:
    return f"{value:.0f}m"


def _bytes(value: float) -> str:
    return f"{value / 2**20:.0f}Mi"


def _plain(value: float) -> str:
    return f"{value:g}"


def all_warnings(
    subjects: list[Subject], summaries: list[dict[str, Any]], *, settings: Settings
) -> Iterator[str]:
    """Every warning of a simulation: targets out of reach, then pinned replicas."""
    for subject in subjects:
        yield from unreachable_targets(subject, settings=settings)
    for subject, summary in zip(subjects, summaries, strict=True):
        line = pinned_at_max(subject, summary)
        if line is not None:
            yield line
