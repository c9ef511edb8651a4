"""Pods and their metrics.k8s.io samples, as the decision core's values."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from autoscaler.core.model import Container, Pod, PodUsage
from autoscaler.core.quantity import QuantityError, to_milli
from autoscaler.kube.api import Api
from autoscaler.ports import LoopError, NotFound

METRICS_SERVER_MISSING = (
    "metrics.k8s.io is not served (metrics-server not found): install metrics-server or "
    "run with --resource-metrics prometheus (AUTOSCALER_RESOURCE_METRICS)"
)


def _time(text: Any) -> float | None:
    if not text:
        return None
    return datetime.fromisoformat(str(text).replace("Z", "+00:00")).timestamp()


def _milli(value: Any) -> int | None:
    try:
        return to_milli(value)
    except QuantityError:
        return None


def _requests(container: dict[str, Any]) -> dict[str, int]:
    raw = (container.get("resources") or {}).get("requests") or {}
    parsed = {name: _milli(q) for name, q in raw.items()}
    return {name: v for name, v in parsed.items() if v is not None}


def pod_from_json(obj: dict[str, Any]) -> Pod:
    """The fields of a Pod the HPA reads: phase, PodReady, start time, deletion, requests."""
    meta, spec, status = obj.get("metadata") or {}, obj.get("spec") or {}, obj.get("status") or {}
    ready = next((c for c in status.get("conditions") or [] if c.get("type") == "Ready"), None)
    containers = list(spec.get("containers") or [])
    containers += [
        c for c in spec.get("initContainers") or [] if c.get("restartPolicy") == "Always"
    ]
    return Pod(
        name=str(meta.get("name", "")),
        phase=str(status.get("phase") or "Pending"),
        ready=None if ready is None else str(ready.get("status")),
        ready_since=None if ready is None else _time(ready.get("lastTransitionTime")),
        start_time=_time(status.get("startTime")),
        deleting=bool(meta.get("deletionTimestamp")),
        containers=tuple(Container(str(c.get("name", "")), _requests(c)) for c in containers),
    )


def _window(text: Any) -> float:
    """A metav1.Duration such as "30s", "1m0s" or "500ms" in seconds."""
    value = str(text or "0s")
    total, number = 0.0, ""
    units = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 0.001}
    i = 0
    while i < len(value):
        ch = value[i]
        if ch.isdigit() or ch == ".":
            number += ch
            i += 1
            continue
        unit = "ms" if value.startswith("ms", i) else ch
        total += float(number or 0) * units.get(unit, 0.0)
        number = ""
        i += len(unit)
    return total


class KubePods:
    """PodSource and ResourceMetricSource over the Kubernetes API."""

    def __init__(self, api: Api) -> None:
        self.api = api

    def pods(self, namespace: str, selector: str) -> tuple[Pod, ...]:
        listing = self.api.call(
            "GET", f"/api/v1/namespaces/{namespace}/pods", query=[("labelSelector", selector)]
        )
        return tuple(pod_from_json(item) for item in listing.get("items") or [])

    namespace_wide = False  # metrics.k8s.io answers for the selector

    def new_sync(self) -> None:
        """Nothing cached between syncs."""

    def usage(self, namespace: str, selector: str) -> dict[str, PodUsage]:
        return {name: usage for _, name, usage in usage_from_json(self.api, namespace, selector)}


def usage_from_json(
    api: Api, namespace: str, selector: str = ""
) -> list[tuple[dict[str, str], str, PodUsage]]:
    """PodMetrics of a namespace (by selector) as (labels, pod name, usage)."""
    query = [("labelSelector", selector)] if selector else []
    try:
        listing = api.call(
            "GET", f"/apis/metrics.k8s.io/v1beta1/namespaces/{namespace}/pods", query=query
        )
    except NotFound:
        raise LoopError(METRICS_SERVER_MISSING) from None
    found = []
    for item in listing.get("items") or []:
        containers: dict[str, dict[str, int]] = {}
        for c in item.get("containers") or []:
            usage = {k: _milli(v) for k, v in (c.get("usage") or {}).items()}
            containers[str(c.get("name", ""))] = {k: v for k, v in usage.items() if v is not None}
        meta = item.get("metadata") or {}
        sample = PodUsage(
            timestamp=_time(item.get("timestamp")) or 0.0,
            window=_window(item.get("window")),
            containers=containers,
        )
        found.append((dict(meta.get("labels") or {}), str(meta.get("name", "")), sample))
    return found
