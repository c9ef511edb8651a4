"""Publishing the simulated usage: PodMetrics for the HPA, Prometheus text for the rest.

- **PodMetrics** (``metrics.k8s.io/v1beta1``, served by a stand-in CRD on the testbed
  where tests need sub-second control). Where a real metrics-server serves that API
  it is not writable: the first refused write (405) makes the writer stand aside for
  :data:`READ_ONLY_RETRY_S`, with one warning, and metrics-server reads the kubelet
  endpoints (:mod:`~autoscaler.sim.resource_metrics`) instead. One object per
  Running pod of a managed workload, named and
  labelled like the pod (so label selectors, ``kubectl top pod`` and the HPA
  controller find it) plus ``podscale.dev/simulated=true``, which is how stale ones
  are found: only objects with that label are ever deleted.
- **Prometheus** ``/metrics`` on loopback, from a custom collector over the traffic
  counters (and the simulator's own API request counts, for the load benchmark),
  in a registry of its own (the process-wide default registry would
  carry the simulator's own process metrics and outlive a run).
"""

from __future__ import annotations

import math
import threading
import time
import zlib
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from prometheus_client import CollectorRegistry, start_http_server
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector

from autoscaler.sim.api import MERGE, QUIET, Api, Json
from autoscaler.sim.cluster import DEFAULT_BUCKETS
from autoscaler.sim.kubelet import SIM_LABEL, rfc3339
from autoscaler.sim.traffic import PodCounters, PodKey, Traffic

GROUP, VERSION, PLURAL = "metrics.k8s.io", "v1beta1", "pods"
# How long the writer stands aside after metrics.k8s.io refused a write (a real
# metrics-server serves it), before it tries again.
READ_ONLY_RETRY_S = 30.0
METHOD_NOT_ALLOWED = 405


def pod_metrics(name: str, pod: PodCounters) -> Json:
    """The PodMetrics body for one pod's latest sample."""
    cpu = max(0, math.ceil(pod.cpu_milli))
    memory = max(0, round(pod.memory_bytes))
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "PodMetrics",
        "metadata": {"name": name, "labels": {**pod.labels, SIM_LABEL: "true"}},
        "timestamp": rfc3339(pod.sampled_at or 0.0),
        "window": f"{max(pod.window, 0.001):.3f}s",
        "containers": [
            {"name": pod.container, "usage": {"cpu": f"{cpu}m", "memory": f"{memory // 1024}Ki"}}
        ],
    }


class PodMetricsWriter:
    """Keeps one PodMetrics object per sampled pod, and none for pods that are gone.

    ``resolution`` is metrics-server's ``--metric-resolution``: each pod's object is
    rewritten at most that often, the pods spread evenly over it, so a large cluster
    costs ``pods / resolution`` writes a second instead of ``pods`` a tick (0: every
    tick). A new pod's first sample is written at once.
    """

    def __init__(
        self,
        *,
        api: Api,
        namespace: str | None,
        resolution: float = 0.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._api = api
        self._namespace = namespace
        self._resolution = resolution
        self._clock = clock
        self._known: set[PodKey] = set()
        self._due: dict[PodKey, float] = {}  # when each pod's object is next rewritten
        self._listed_at: float | None = None
        self._read_only_until = float("-inf")

    def publish(self, pods: dict[PodKey, PodCounters]) -> None:
        now = self._clock()
        if now < self._read_only_until:
            return
        if self._listed_at is None or now - self._listed_at >= self._resolution:
            listed = self._list()
            if listed is not None:
                self._known, self._listed_at = listed, now
        for key, pod in pods.items():
            due = self._due.get(key)
            if pod.sampled_at is None or (due is not None and now < due):
                continue
            written = self._write(key, pod)
            if written is None:
                self._read_only_until = now + READ_ONLY_RETRY_S
                return
            if written:
                # After the first write, each pod keeps its own phase within the period.
                phase = 1.0 if due is not None else _spread(key)
                self._due[key] = now + self._resolution * phase
        api, custom = self._api, self._api.custom
        for namespace, name in sorted(self._known - pods.keys()):
            api.call(
                f"delete PodMetrics {namespace}/{name}",
                custom.delete_namespaced_custom_object,
                GROUP,
                VERSION,
                namespace,
                PLURAL,
                name,
            )
            self._known.discard((namespace, name))
        for gone in [k for k in self._due if k not in pods]:
            del self._due[gone]

    def _write(self, key: PodKey, pod: PodCounters) -> bool | None:
        """Patch the pod's object, or create it when it is not there; True when written,
        None when the API is read-only (a real metrics-server's)."""
        api, custom = self._api, self._api.custom
        namespace, name = key
        body = pod_metrics(name, pod)
        what = f"write PodMetrics {namespace}/{name}"
        if key in self._known:
            reply = api.call(
                what,
                custom.patch_namespaced_custom_object,
                GROUP,
                VERSION,
                namespace,
                PLURAL,
                name,
                body,
                _content_type=MERGE,
            )
            if reply.status != 404:
                return reply.ok
        created = api.call(
            what,
            custom.create_namespaced_custom_object,
            GROUP,
            VERSION,
            namespace,
            PLURAL,
            body,
            quiet=(*QUIET, METHOD_NOT_ALLOWED),
        )
        if created.status == METHOD_NOT_ALLOWED:
            api.warn(
                "metrics.k8s.io refuses PodMetrics writes (a metrics-server serves it): "
                f"leaving pod metrics to it for {READ_ONLY_RETRY_S:.0f} s"
            )
            return None
        if created.ok:
            self._known.add(key)
        return created.ok

    def _list(self) -> set[PodKey] | None:
        api, custom = self._api, self._api.custom
        selector = f"{SIM_LABEL}=true"
        if self._namespace is None:
            reply = api.call(
                "list PodMetrics",
                custom.list_cluster_custom_object,
                GROUP,
                VERSION,
                PLURAL,
                label_selector=selector,
            )
        else:
            reply = api.call(
                "list PodMetrics",
                custom.list_namespaced_custom_object,
                GROUP,
                VERSION,
                self._namespace,
                PLURAL,
                label_selector=selector,
            )
        items = reply.items()
        if items is None:
            return None
        return {(i["metadata"]["namespace"], i["metadata"]["name"]) for i in items}


class TrafficCollector(Collector):
    """Per-pod series in the names cAdvisor and a typical HTTP exporter use, plus
    per-workload totals (``podscale_sim_requests_*``) that survive pod deletion."""

    def __init__(self, traffic: Traffic) -> None:
        self._traffic = traffic

    def collect(self) -> Iterator[Metric]:
        pods = self._traffic.pods()
        http = ["namespace", "pod"]
        container = ["namespace", "pod", "container"]
        served = CounterMetricFamily("http_requests", "Requests served.", labels=http)
        dropped = CounterMetricFamily("http_requests_dropped", "Requests dropped.", labels=http)
        latency = HistogramMetricFamily(
            "http_request_duration_seconds", "Request latency (simulated).", labels=http
        )
        cpu = CounterMetricFamily(
            "container_cpu_usage_seconds", "CPU time used, in seconds.", labels=container
        )
        memory = GaugeMetricFamily(
            "container_memory_working_set_bytes", "Working set, in bytes.", labels=container
        )
        for (namespace, name), pod in sorted(pods.items()):
            served.add_metric([namespace, name], pod.served)
            dropped.add_metric([namespace, name], pod.dropped)
            buckets = [
                (_le(le), count) for le, count in zip(DEFAULT_BUCKETS, pod.buckets, strict=True)
            ]
            buckets.append(("+Inf", pod.served))
            latency.add_metric([namespace, name], buckets, pod.latency_sum)
            cpu.add_metric([namespace, name, pod.container], pod.cpu_seconds)
            memory.add_metric([namespace, name, pod.container], pod.memory_bytes)
        yield from (served, dropped, latency, cpu, memory)
        yield from _totals(self._traffic)


def _totals(traffic: Traffic) -> Iterable[Metric]:
    labels = ["kind", "namespace", "workload"]
    families = {
        name: CounterMetricFamily(
            f"podscale_sim_requests_{name}", f"Requests {name}, all pods.", labels=labels
        )
        for name in ("offered", "served", "dropped")
    }
    for w in traffic.workloads():
        families["offered"].add_metric(list(w.key), w.offered)
        families["served"].add_metric(list(w.key), w.served)
        families["dropped"].add_metric(list(w.key), w.dropped)
    return families.values()


def _le(value: float) -> str:
    return f"{value:g}"


class ApiCollector(Collector):
    """The simulator's own API requests (``podscale_sim_api_requests_total``), by client
    method and HTTP status (0: no answer): what it costs the API server."""

    def __init__(self, api: Api) -> None:
        self._api = api

    def collect(self) -> Iterator[Metric]:
        sent = CounterMetricFamily(
            "podscale_sim_api_requests",
            "API requests the simulator sent, by client method and HTTP status.",
            labels=["method", "code"],
        )
        for (method, code), count in sorted(self._api.requests_sent().items()):
            sent.add_metric([method, str(code)], count)
        yield sent


def serve_metrics(
    traffic: Traffic, *, host: str, port: int, api: Api | None = None
) -> tuple[Any, threading.Thread]:
    """Start ``/metrics`` on ``host:port`` (0: any free port); returns (server, thread)."""
    registry = CollectorRegistry(auto_describe=True)
    registry.register(TrafficCollector(traffic))
    if api is not None:
        registry.register(ApiCollector(api))
    server, thread = start_http_server(port, addr=host, registry=registry)
    return server, thread


def _spread(key: PodKey) -> float:
    """A stable fraction in [0, 1) per pod, so that the pods' writes spread evenly."""
    return zlib.crc32("/".join(key).encode()) % 1000 / 1000
