"""Best-practice warnings: valid policies that probably do not do what the user wants.

Nothing here is an error (the HPA would accept all of it); each warning says what
will happen at run time and what to write instead. Rules read the policy both as
written (to tell "you wrote 1" from "1 is the default") and with defaults applied.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

from autoscaler.policy.issues import FieldPath, Finding, Issue, format_path
from autoscaler.policy.loader import LoadedPolicy
from autoscaler.policy.metric_checks import SOURCE_FIELDS
from autoscaler.policy.model import HPAScalingRules, MetricSpec, MetricTarget
from autoscaler.policy.quantity import quantity_value

HIGH_MAX_REPLICAS: Final = 1000
_TARGET_FIELDS: Final = {
    "Utilization": "averageUtilization",
    "Value": "value",
    "AverageValue": "averageValue",
}


def lint(loaded: LoadedPolicy) -> list[Finding]:
    """Every best-practice warning for one valid policy."""
    found = _replicas(loaded) + _metrics(loaded) + _behavior(loaded) + _fallback(loaded)
    return found + _rollout(loaded)


def lint_all(policies: Sequence[LoadedPolicy]) -> list[Issue]:
    """Warnings for every policy, located in its file, plus cross-policy warnings."""
    issues = []
    for loaded in policies:
        for finding in lint(loaded):
            issues.append(
                Issue(
                    "warning",
                    loaded.file,
                    loaded.line_of(finding.path),
                    format_path(finding.path),
                    finding.message,
                )
            )
    return issues + _shared_targets(policies)


def _replicas(loaded: LoadedPolicy) -> list[Finding]:
    spec, written = loaded.policy.spec, loaded.written.spec
    low, high = spec.min_replicas or 0, spec.max_replicas
    findings = []
    if low == 1:
        how = "is 1" if written.min_replicas is not None else "defaults to 1"
        findings.append(
            Finding(
                ("spec", "minReplicas"),
                f"minReplicas {how}: a single pod is a single point of failure "
                "(use 2 or more for a service)",
            )
        )
    if high > HIGH_MAX_REPLICAS:
        findings.append(
            Finding(
                ("spec", "maxReplicas"),
                f"{high} is very high: check that the cluster, quotas and the target's "
                "dependencies can take that many pods",
            )
        )
    if high == low:
        findings.append(
            Finding(
                ("spec", "maxReplicas"),
                f"equals minReplicas ({low}): autoscaling is effectively off",
            )
        )
    return findings


def _metrics(loaded: LoadedPolicy) -> list[Finding]:
    metrics = loaded.policy.spec.metrics or []
    defaulted = not loaded.written.spec.metrics
    findings = []
    first_of: dict[tuple[str, str], int] = {}
    for index, metric in enumerate(metrics):
        source = SOURCE_FIELDS[metric.type]
        path: FieldPath = ("spec",) if defaulted else ("spec", "metrics", index, source)
        findings += _metric(metric, path=path, defaulted=defaulted)
        named = metric.pods or metric.object or metric.external
        if named is None:  # Resource and ContainerResource name no custom metric
            continue
        identifier = named.metric
        earlier = first_of.setdefault((metric.type, identifier.name), index)
        if earlier != index:
            findings.append(
                Finding(
                    (*path, "metric", "name"),
                    f'{metric.type} metric "{identifier.name}" is also metrics[{earlier}]: '
                    "a policy reads one value per metric name, so both would get the same "
                    "one whatever their selectors; give the series different metric names",
                )
            )
    return findings


def _metric(metric: MetricSpec, *, path: FieldPath, defaulted: bool) -> list[Finding]:
    resource = metric.resource or metric.container_resource
    target = _target_of(metric)
    findings = []
    if resource is not None:
        name = resource.name
        owner = "every container of the target's pods"
        if metric.container_resource is not None:
            owner = f'container "{metric.container_resource.container}"'
        if target.average_utilization is not None:  # the controller reads averageValue first
            lead = "no metrics given, so the default is cpu at 80%: " if defaulted else ""
            findings.append(
                Finding(
                    path if defaulted else (*path, "target", "averageUtilization"),
                    f"{lead}utilization is a percentage of resource requests: {owner} must "
                    f"set resources.requests.{name}, or the metric cannot be computed",
                )
            )
        if name == "memory":
            findings.append(
                Finding(
                    (*path, "name"),
                    "memory rarely shrinks when load drops (caches, heaps), so a memory "
                    "target may never let the target scale down; prefer cpu or a load metric",
                )
            )
        elif name != "cpu":
            findings.append(
                Finding(
                    (*path, "name"),
                    f'metrics.k8s.io reports only cpu and memory: "{name}" cannot be read',
                )
            )
    if not defaulted:
        findings += _target_consistency(metric, target, path=(*path, "target"))
    return findings


def _target_of(metric: MetricSpec) -> MetricTarget:
    source = (
        metric.resource
        or metric.container_resource
        or metric.pods
        or metric.object
        or metric.external
    )
    return source.target if source is not None else MetricTarget()


def _target_consistency(
    metric: MetricSpec, target: MetricTarget, *, path: FieldPath
) -> list[Finding]:
    """The controller reads the field ``type`` names; a mismatch means a surprise."""
    if (
        metric.resource is None
        and metric.container_resource is None
        and target.type == "Utilization"
    ):
        return [
            Finding(
                (*path, "type"),
                "Utilization applies only to Resource and ContainerResource metrics; "
                f"use Value or AverageValue for {metric.type}",
            )
        ]
    expected = _TARGET_FIELDS[target.type]
    written = {
        "averageUtilization": target.average_utilization,
        "value": target.value,
        "averageValue": target.average_value,
    }
    others = [name for name, value in written.items() if value is not None and name != expected]
    if written[expected] is None and others:
        better = next(t for t, f in _TARGET_FIELDS.items() if f == others[0])
        return [
            Finding(
                (*path, "type"),
                f"type is {target.type} but {expected} is not set ({others[0]} is): "
                f"use type: {better}",
            )
        ]
    return [
        Finding((*path, name), f"ignored: the target type is {target.type}, which uses {expected}")
        for name in others
    ]


def _behavior(loaded: LoadedPolicy) -> list[Finding]:
    behavior = loaded.policy.spec.behavior
    written = loaded.written.spec.behavior
    if behavior is None or written is None:
        return []
    up, down = behavior.scale_up, behavior.scale_down
    spec = loaded.policy.spec
    findings = []
    path: FieldPath = ("spec", "behavior")
    if down is not None and down.stabilization_window_seconds == 0:
        findings.append(
            Finding(
                (*path, "scaleDown", "stabilizationWindowSeconds"),
                "scale-down with no stabilization window follows every dip in load and "
                "risks flapping; use 300 (the HPA default) or more",
            )
        )
    if down is not None and down.select_policy == "Disabled":
        findings.append(
            Finding(
                (*path, "scaleDown", "selectPolicy"),
                "scale-down is disabled: replicas never decrease, they stay at their peak",
            )
        )
    if down is not None and down.tolerance is not None and quantity_value(down.tolerance) >= 1:
        findings.append(
            Finding(
                (*path, "scaleDown", "tolerance"),
                "a scale-down tolerance of 1 or more means usage would have to fall below "
                "zero: the policy can never scale down",
            )
        )
    if (
        up is not None
        and up.select_policy == "Disabled"
        and spec.max_replicas > (spec.min_replicas or 0)
    ):
        findings.append(
            Finding(
                (*path, "scaleUp", "selectPolicy"),
                "scale-up is disabled: the policy never adds replicas, whatever the load",
            )
        )
    elif up is not None and spec.min_replicas == 0 and _stuck_at_zero(up):
        findings.append(
            Finding(
                (*path, "scaleUp", "policies"),
                "a Percent policy cannot add pods to 0 replicas (any percent of 0 is 0), so "
                "the target can never scale up from zero: add a Pods policy "
                "(and keep selectPolicy Max)",
            )
        )
    return findings


def _stuck_at_zero(rules: HPAScalingRules) -> bool:
    """Whether the scale-up limit from 0 replicas is 0 (Percent policies win)."""
    types = {policy.type for policy in rules.policies or []}
    if rules.select_policy == "Min":
        return "Percent" in types
    return "Pods" not in types


def _fallback(loaded: LoadedPolicy) -> list[Finding]:
    spec = loaded.policy.spec
    low, high = spec.min_replicas or 0, spec.max_replicas
    if spec.fallback is None or low <= spec.fallback.replicas <= high:
        return []
    return [
        Finding(
            ("spec", "fallback", "replicas"),
            f"{spec.fallback.replicas} is outside [minReplicas, maxReplicas] = [{low}, {high}]",
        )
    ]


# The kinds whose rollouts the loop can see (autoscaler.kube.rollouts).
ROLLOUT_KINDS: Final = {("apps/v1", "Deployment"), ("argoproj.io/v1alpha1", "Rollout")}


def _rollout(loaded: LoadedPolicy) -> list[Finding]:
    spec = loaded.policy.spec
    ref = spec.scale_target_ref
    if spec.rollout_awareness == "Off" or (ref.api_version or "apps/v1", ref.kind) in ROLLOUT_KINDS:
        return []
    return [
        Finding(
            ("spec", "rollout", "awareness"),
            f"has no effect on a {ref.kind} ({ref.api_version or 'apps/v1'}): only the "
            "rollouts of apps/v1 Deployments and argoproj.io Rollouts are detected",
        )
    ]


def _shared_targets(policies: Sequence[LoadedPolicy]) -> list[Issue]:
    """Two enforcing policies on one target would fight over its replica count."""
    first: dict[tuple[str, str, str], LoadedPolicy] = {}
    issues = []
    for loaded in policies:
        if loaded.policy.spec.mode != "Enforce":
            continue
        ref = loaded.policy.spec.scale_target_ref
        key = (loaded.policy.metadata.namespace, ref.kind, ref.name)
        earlier = first.setdefault(key, loaded)
        if earlier is loaded:
            continue
        path: FieldPath = ("spec", "scaleTargetRef")
        issues.append(
            Issue(
                "warning",
                loaded.file,
                loaded.line_of(path),
                format_path(path),
                f'{ref.kind} "{ref.name}" is also scaled by policy '
                f'"{earlier.policy.metadata.name}" ({earlier.file}:{earlier.line}): the two '
                "would fight; make one of them mode: DryRun",
            )
        )
    return issues
