"""Scale-to-zero on the testbed, shared by tests/e2e and loadtest/bench_activation.py.

A Deployment at zero under a ScalingPolicy with ``minReplicas: 0`` and ``activation`` on
an External metric, ``queue_ready``, declared as every Podscale metric is (a
MetricDeclarations query over a series Prometheus scrapes every second from the test's
exporter, one series per queue). The wake-up latency is measured from the first sample
above the threshold, by its Prometheus timestamp, to the Deployment's ``spec.replicas``
turning 0 -> 1 as a watch sees it (the watch's time is at or after the write's, so the
figure errs on the slow side).
"""

from __future__ import annotations

import json
import threading
import time
from itertools import pairwise
from typing import Any

from kubernetes import client, watch
from prometheus_fixture import PrometheusServer

SERIES = "podscale_e2e_queue_ready"
DECLARATIONS = f"""\
apiVersion: podscale.dev/v1alpha1
kind: MetricDeclarations
metadata: {{name: activation}}
spec:
  metrics:
    - name: queue_ready
      type: External
      query: sum({SERIES}{{namespace="{{namespace}}", {{selector}}}})
      maxAge: 30
"""


def activation_policy(
    name: str, *, threshold: str = "0", cooldown: float = 300, poll: float | None = None
) -> dict[str, Any]:
    """Deployment ``name`` at 0-5 replicas, 10 messages of its queue per pod, woken when
    its queue reads above ``threshold``; scale-downs at once (no window)."""
    activation: dict[str, Any] = {
        "metric": "queue_ready",
        "threshold": threshold,
        "cooldownSeconds": cooldown,
    }
    if poll is not None:
        activation["pollSeconds"] = poll
    return {
        "apiVersion": "podscale.dev/v1alpha1",
        "kind": "ScalingPolicy",
        "metadata": {"name": name},
        "spec": {
            "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": name},
            "minReplicas": 0,
            "maxReplicas": 5,
            "metrics": [
                {
                    "type": "External",
                    "external": {
                        "metric": {
                            "name": "queue_ready",
                            "selector": {"matchLabels": {"queue": name}},
                        },
                        "target": {"type": "AverageValue", "averageValue": "10"},
                    },
                }
            ],
            "behavior": {"scaleDown": {"stabilizationWindowSeconds": 0}},
            "activation": activation,
        },
    }


def queue_labels(namespace: str, name: str) -> dict[str, str]:
    return {"namespace": namespace, "queue": name}


def first_sample_above(
    prometheus: PrometheusServer, namespace: str, name: str, threshold: float, *, after: float
) -> float | None:
    """The Prometheus timestamp of the first sample of ``name``'s queue above
    ``threshold`` taken at or after ``after`` (epoch seconds); None if there is none."""
    labels = ", ".join(f'{k}="{v}"' for k, v in queue_labels(namespace, name).items())
    for series in prometheus.query(f"{SERIES}{{{labels}}}[5m]"):
        for stamp, value in series.get("values") or []:
            if float(stamp) >= after and float(value) > threshold:
                return float(stamp)
    return None


class _Watch:
    """A thread following one namespaced list with the official client's watch (listing
    again after a dropped watch) and handing every object to ``seen``."""

    def __init__(self, list_call: Any, *args: Any) -> None:
        self._list_call, self._args = list_call, args
        self._lock = threading.Lock()
        self._watch = watch.Watch()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="e2e-watch", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                for event in self._watch.stream(self._list_call, *self._args, timeout_seconds=30):
                    with self._lock:
                        self.seen(event["object"], time.time())
                    if self._stop.is_set():
                        return
            except Exception:  # a dropped watch (or the namespace going away): again
                self._stop.wait(0.5)

    def seen(self, obj: Any, now: float) -> None:
        raise NotImplementedError

    def close(self) -> None:
        self._stop.set()
        self._watch.stop()
        self._thread.join(timeout=35)


class ReplicaWatch(_Watch):
    """The Deployments of a namespace: each one's (wall time seen, spec.replicas) at
    every change."""

    def __init__(self, kube: client.ApiClient, namespace: str) -> None:
        self.changes: dict[str, list[tuple[float, int]]] = {}
        super().__init__(client.AppsV1Api(kube).list_namespaced_deployment, namespace)

    def seen(self, obj: Any, now: float) -> None:
        changes = self.changes.setdefault(obj.metadata.name, [])
        replicas = int(obj.spec.replicas or 0)
        if not changes or changes[-1][1] != replicas:
            changes.append((now, replicas))

    def current(self, name: str) -> int | None:
        with self._lock:
            changes = self.changes.get(name)
            return changes[-1][1] if changes else None

    def woken_at(self, name: str, *, after: float) -> float | None:
        """When the watch first saw ``name`` go from 0 to more, at or after ``after``."""
        with self._lock:
            changes = list(self.changes.get(name, []))
        for (_, before), (when, replicas) in pairwise(changes):
            if when >= after and before == 0 and replicas > 0:
                return when
        return None


class StatusWatch(_Watch):
    """The ScalingPolicy objects of a namespace: every distinct status each one had."""

    def __init__(self, kube: client.ApiClient, namespace: str) -> None:
        self.statuses: dict[str, list[dict[str, Any]]] = {}
        api = client.CustomObjectsApi(kube)
        call = api.list_namespaced_custom_object
        super().__init__(call, "podscale.dev", "v1alpha1", namespace, "scalingpolicies")

    def seen(self, obj: Any, now: float) -> None:
        status = obj.get("status") or {}
        statuses = self.statuses.setdefault(obj["metadata"]["name"], [])
        if not statuses or statuses[-1] != status:
            statuses.append(status)

    def of(self, name: str) -> list[dict[str, Any]]:
        with self._lock:
            return list(self.statuses.get(name, []))


def events(kube: client.ApiClient, namespace: str) -> list[dict[str, Any]]:
    """The namespace's Events as JSON objects (reason, message, type, count, ...)."""
    listing = client.CoreV1Api(kube).list_namespaced_event(namespace, _preload_content=False)
    items: list[dict[str, Any]] = json.loads(listing.data)["items"]
    return items


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100)."""
    ordered = sorted(values)
    rank = max(1, -(-len(ordered) * q // 100))
    return ordered[int(rank) - 1]
