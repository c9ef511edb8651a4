"""Small builders for snapshot documents (the wire format of `autoscaler decide`).

Keyword-only and defaulted, so a test states only what it is about.
"""

from __future__ import annotations

from typing import Any

NOW = 1_700_000_000
HOUR_AGO = NOW - 3600


def pod(
    name: str,
    *,
    cpu: str | None = "1",
    memory: str | None = None,
    phase: str = "Running",
    ready: bool | None = True,
    start: float | None = HOUR_AGO,
    ready_since: float | None = None,
    deleting: bool = False,
    containers: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    requests = {k: v for k, v in (("cpu", cpu), ("memory", memory)) if v is not None}
    doc: dict[str, Any] = {
        "name": name,
        "phase": phase,
        "ready": ready,
        "startTime": start,
        "deleting": deleting,
        "containers": containers or [{"name": "app", "requests": requests}],
    }
    if ready_since is not None:
        doc["readySince"] = ready_since
    return doc


def usage(
    cpu: str, *, timestamp: float = NOW - 10, window: float = 30, **more: str
) -> dict[str, Any]:
    return {"timestamp": timestamp, "window": window, "containers": {"app": {"cpu": cpu, **more}}}


def cpu_metric(utilization: int = 50) -> dict[str, Any]:
    return {
        "type": "Resource",
        "resource": {
            "name": "cpu",
            "target": {"type": "Utilization", "averageUtilization": utilization},
        },
    }


def pods_metric(name: str, average: str) -> dict[str, Any]:
    return {
        "type": "Pods",
        "pods": {
            "metric": {"name": name},
            "target": {"type": "AverageValue", "averageValue": average},
        },
    }


def external_metric(
    name: str, *, value: str | None = None, average: str | None = None
) -> dict[str, Any]:
    target: dict[str, Any] = (
        {"type": "Value", "value": value}
        if value is not None
        else {"type": "AverageValue", "averageValue": average}
    )
    return {"type": "External", "external": {"metric": {"name": name}, "target": target}}


def object_metric(
    name: str, *, value: str | None = None, average: str | None = None
) -> dict[str, Any]:
    target: dict[str, Any] = (
        {"type": "Value", "value": value}
        if value is not None
        else {"type": "AverageValue", "averageValue": average}
    )
    return {
        "type": "Object",
        "object": {
            "describedObject": {
                "apiVersion": "networking.k8s.io/v1",
                "kind": "Ingress",
                "name": "web",
            },
            "metric": {"name": name},
            "target": target,
        },
    }


UNLIMITED_BEHAVIOR: dict[str, Any] = {
    "scaleUp": {
        "stabilizationWindowSeconds": 0,
        "policies": [{"type": "Percent", "value": 100000, "periodSeconds": 15}],
    },
    "scaleDown": {
        "stabilizationWindowSeconds": 0,
        "policies": [{"type": "Percent", "value": 100, "periodSeconds": 15}],
    },
}


def snapshot(
    *,
    current: int,
    pods: list[dict[str, Any]] | None = None,
    metrics: list[dict[str, Any]] | None = None,
    data: dict[str, Any] | None = None,
    min_replicas: int = 1,
    max_replicas: int = 100,
    behavior: dict[str, Any] | None = None,
    history: dict[str, Any] | None = None,
    settings: dict[str, Any] | None = None,
    **extra: Any,
) -> dict[str, Any]:
    policy: dict[str, Any] = {"minReplicas": min_replicas, "maxReplicas": max_replicas}
    if metrics is not None:
        policy["metrics"] = metrics
    if behavior is not None:
        policy["behavior"] = behavior
    doc: dict[str, Any] = {
        "now": NOW,
        "policy": policy,
        "currentReplicas": current,
        "pods": pods or [],
        "metrics": data or {},
        **extra,
    }
    if history is not None:
        doc["history"] = history
    if settings is not None:
        doc["settings"] = settings
    return doc


def run(doc: dict[str, Any]) -> dict[str, Any]:
    """Decide one snapshot document and return the result document."""
    from autoscaler.core import decide
    from autoscaler.documents import decision_to_document, snapshot_from_document

    return decision_to_document(decide(snapshot_from_document(doc)))


def condition(result: dict[str, Any], kind: str) -> dict[str, Any] | None:
    return next((c for c in result["conditions"] if c["type"] == kind), None)
