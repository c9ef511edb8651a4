"""Snapshots as ``autoscaler decide`` documents: the inverse of ``documents.snapshot``.

The live loop (``autoscaler run --record``, ``--once``) and the simulator (``--snapshots``)
write every snapshot they decide on as a snapshot document (docs/snapshots.md), so that
``autoscaler decide`` can replay it to the same decision, or ``decide --explain`` say why
the loop did what it did.
"""

from __future__ import annotations

import re
from typing import Any

from autoscaler.core.model import (
    CONTAINER_RESOURCE,
    OBJECT,
    RESOURCE,
    ROLLOUT_OFF,
    MetricData,
    MetricSpec,
    MetricTarget,
    Pod,
    Policy,
    Rollout,
    ScalingRules,
    Snapshot,
)
from autoscaler.core.quantity import format_milli
from autoscaler.documents.snapshot import history_to_document

_SOURCE_KEYS = {
    RESOURCE: "resource",
    CONTAINER_RESOURCE: "containerResource",
    "Pods": "pods",
    OBJECT: "object",
    "External": "external",
}

_EXPRESSION = re.compile(r"([^\s,=]*) ([a-z]*) \(([^)]*)\)(?:,|$)")
_LABEL = re.compile(r"([^,=]*)=([^,]*)(?:,|$)")
_OPERATORS = {"in": "In", "notin": "NotIn", "exists": "Exists", "doesnotexist": "DoesNotExist"}


def snapshot_to_document(snapshot: Snapshot) -> dict[str, Any]:
    """The snapshot document that ``autoscaler decide`` parses back into ``snapshot``."""
    settings = snapshot.settings
    document: dict[str, Any] = {
        "now": snapshot.now,
        "policy": policy_to_spec(snapshot.policy),
        "currentReplicas": snapshot.current_replicas,
        "statusReplicas": snapshot.status_replicas,
        "pods": [_pod(p) for p in snapshot.pods],
        "metrics": _metrics(snapshot.metrics),
        "history": history_to_document(snapshot.history),
        "settings": {
            "tolerance": settings.tolerance,
            "cpuInitializationPeriod": settings.cpu_initialization_period,
            "initialReadinessDelay": settings.initial_readiness_delay,
            "downscaleStabilizationWindow": settings.downscale_stabilization_window,
        },
        "rollout": _rollout(snapshot.rollout),
        "failedSyncs": snapshot.failed_syncs,
        "externalChanges": list(snapshot.external_changes),
    }
    if snapshot.forecasts:
        document["forecasts"] = [
            {"metric": f.metric, "total": format_milli(f.total), "at": f.at, "error": f.error}
            for f in snapshot.forecasts
        ]
    return document


def _rollout(rollout: Rollout | None) -> dict[str, Any] | None:
    if rollout is None:
        return None
    return {
        "workload": rollout.workload,
        "message": rollout.message,
        "stablePods": [_pod(p) for p in rollout.stable_pods],
    }


def policy_to_spec(policy: Policy) -> dict[str, Any]:
    """The policy as an autoscaling/v2 spec (camelCase), as ``policy_from_spec`` reads it."""
    spec: dict[str, Any] = {
        "minReplicas": policy.min_replicas,
        "maxReplicas": policy.max_replicas,
        "metrics": [_metric(m) for m in policy.metrics],
    }
    behavior = policy.behavior
    if behavior is not None:
        spec["behavior"] = {
            key: _rules(rules)
            for key, rules in (("scaleUp", behavior.scale_up), ("scaleDown", behavior.scale_down))
            if rules is not None
        }
    if policy.fallback is not None:
        spec["fallback"] = {
            "replicas": policy.fallback.replicas,
            "failureThreshold": policy.fallback.failure_threshold,
        }
    if policy.rollout_awareness != ROLLOUT_OFF:
        spec["rollout"] = {"awareness": policy.rollout_awareness}
    spec.update(_paths(policy))
    return spec


def _paths(policy: Policy) -> dict[str, Any]:
    """Podscale's paths the policy enables, in ScalingPolicy wire names."""
    out: dict[str, Any] = {}
    predictive, burst, activation = policy.predictive, policy.burst, policy.activation
    if predictive is not None:
        out["predictive"] = {
            "leadSeconds": predictive.lead_seconds,
            "maxError": predictive.max_error,
            "lookbackSeconds": predictive.lookback_seconds,
        }
        if predictive.metric:
            out["predictive"]["metric"] = predictive.metric
    if burst is not None:
        out["burst"] = {
            "threshold": burst.threshold,
            "stableWindowSeconds": burst.stable_window_seconds,
        }
        if burst.max_replicas is not None:
            out["burst"]["maxReplicas"] = burst.max_replicas
    if activation is not None:
        out["activation"] = {
            "metric": activation.metric,
            "threshold": format_milli(activation.threshold),
            "cooldownSeconds": activation.cooldown_seconds,
            "pollSeconds": activation.poll_seconds,
        }
    return out


def _metric(metric: MetricSpec) -> dict[str, Any]:
    key = _SOURCE_KEYS.get(metric.type)
    if key is None:
        return {"type": metric.type}
    source: dict[str, Any] = {"target": _target(metric.target)}
    if metric.type in (RESOURCE, CONTAINER_RESOURCE):
        source["name"] = metric.name
        if metric.type == CONTAINER_RESOURCE:
            source["container"] = metric.container
    else:
        identifier: dict[str, Any] = {"name": metric.name}
        selector = _selector(metric.selector)
        if selector:
            identifier["selector"] = selector
        source["metric"] = identifier
        described = metric.described_object
        if metric.type == OBJECT and described is not None:
            source["describedObject"] = {
                "kind": described.kind,
                "name": described.name,
                "apiVersion": described.api_version,
            }
    return {"type": metric.type, key: source}


def _selector(text: str) -> dict[str, Any]:
    """The LabelSelector that ``policy_from_spec`` renders as ``text``.

    That text is the matchLabels as ``k=v`` (sorted), then each matchExpressions entry
    as ``key operator (v1,v2)``, all joined by commas; an empty dict for ``""``.
    """
    labels: dict[str, str] = {}
    expressions: list[dict[str, Any]] = []
    position = 0
    while position < len(text):
        found = _EXPRESSION.match(text, position)
        if found is not None:
            key, operator, values = found.groups()
            expression: dict[str, Any] = {
                "key": key,
                "operator": _OPERATORS.get(operator, operator),
            }
            if values:
                expression["values"] = values.split(",")
            expressions.append(expression)
        else:
            found = _LABEL.match(text, position)
            if found is None:
                break
            labels[found[1]] = found[2]
        position = found.end()
    selector: dict[str, Any] = {}
    if labels:
        selector["matchLabels"] = labels
    if expressions:
        selector["matchExpressions"] = expressions
    return selector


def _target(target: MetricTarget) -> dict[str, Any]:
    out: dict[str, Any] = {"type": target.type}
    if target.value is not None:
        out["value"] = format_milli(target.value)
    if target.average_value is not None:
        out["averageValue"] = format_milli(target.average_value)
    if target.average_utilization is not None:
        out["averageUtilization"] = target.average_utilization
    return out


def _rules(rules: ScalingRules) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if rules.stabilization_window_seconds is not None:
        out["stabilizationWindowSeconds"] = rules.stabilization_window_seconds
    if rules.select_policy is not None:
        out["selectPolicy"] = rules.select_policy
    if rules.policies is not None:
        out["policies"] = [
            {"type": p.type, "value": p.value, "periodSeconds": p.period_seconds}
            for p in rules.policies
        ]
    if rules.tolerance is not None:
        out["tolerance"] = rules.tolerance
    return out


def _pod(pod: Pod) -> dict[str, Any]:
    return {
        "name": pod.name,
        "phase": pod.phase,
        "ready": pod.ready,
        "readySince": pod.ready_since,
        "startTime": pod.start_time,
        "deleting": pod.deleting,
        "containers": [
            {"name": c.name, "requests": {k: format_milli(v) for k, v in c.requests.items()}}
            for c in pod.containers
        ],
    }


def _metrics(data: MetricData) -> dict[str, Any]:
    out: dict[str, Any] = {
        "pods": {
            name: {pod: format_milli(v) for pod, v in values.items()}
            for name, values in data.pods.items()
        },
        "object": {name: format_milli(v) for name, v in data.object.items()},
        "external": {name: [format_milli(v) for v in vs] for name, vs in data.external.items()},
        "errors": dict(data.errors),
    }
    if data.resource is not None:
        out["resource"] = {
            pod: {
                "timestamp": usage.timestamp,
                "window": usage.window,
                "containers": {
                    c: {r: format_milli(q) for r, q in resources.items()}
                    for c, resources in usage.containers.items()
                },
            }
            for pod, usage in data.resource.items()
        }
    return out
