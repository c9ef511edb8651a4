"""Live traffic: each workload's load spread over its ready pods, and what it costs.

The live twin of the accounting inside :class:`~autoscaler.sim.cluster.InMemoryCluster`,
for pods that exist in a real API server. Over each tick ``[t0, t1]`` a workload's
load offered at ``t0`` is served (:func:`~autoscaler.sim.load.serve`) by the pods that
were serving at ``t0`` (a left Riemann sum, so a pod that turns ready during the tick
starts serving at the next one). Running pods that do not serve (starting or
terminating) idle at the model's idle CPU and base memory.

Counters only grow while a pod exists and vanish with it, as a real exporter's do;
the per-workload totals keep everything, so ``offered == served + dropped`` holds
exactly (by :func:`serve`) at the workload level even while no pod is ready.

Thread safety: the runner thread writes, the admin API and the Prometheus collector
read copies; one lock guards it all.
"""

from __future__ import annotations

import dataclasses
import math
import threading
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import NamedTuple

from autoscaler.sim.cluster import DEFAULT_BUCKETS
from autoscaler.sim.load import LoadShape, ServeResult, serve
from autoscaler.sim.podmodel import PodModel

Key = tuple[str, str, str]  # (kind, namespace, name)
PodKey = tuple[str, str]  # (namespace, name)


class RunningPod(NamedTuple):
    """A Running pod as the traffic model needs it."""

    name: str
    labels: dict[str, str]
    container: str  # the container its usage is reported on
    serving: bool  # ready and not terminating: the Service sends it traffic


@dataclass(slots=True, kw_only=True)
class PodCounters:
    """One pod's exporter: cumulative counters and the latest usage sample."""

    workload: Key
    container: str
    served: float = 0.0
    dropped: float = 0.0
    buckets: list[float] = field(default_factory=lambda: [0.0] * len(DEFAULT_BUCKETS))
    latency_sum: float = 0.0
    cpu_seconds: float = 0.0
    cpu_milli: float = 0.0
    memory_bytes: float = 0.0
    sampled_at: float | None = None
    window: float = 0.0
    labels: dict[str, str] = field(default_factory=dict)


@dataclass(slots=True, kw_only=True)
class WorkloadTraffic:
    """A workload's load (its time origin is ``epoch``), model and running totals."""

    key: Key
    model: PodModel
    load: LoadShape
    epoch: float
    offered: float = 0.0
    served: float = 0.0
    dropped: float = 0.0
    last: ServeResult | None = None
    serving: tuple[str, ...] = ()  # pod names serving since the last tick
    replicas: int = 0  # spec.replicas, as last seen
    pods: int = 0  # pods not terminating
    ready: int = 0

    def rate(self, now: float) -> float:
        return max(0.0, self.load.rate(max(0.0, now - self.epoch)))


class Traffic:
    """All workloads' traffic; see the module docstring."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._workloads: dict[Key, WorkloadTraffic] = {}
        self._pods: dict[PodKey, PodCounters] = {}
        self._last: float | None = None

    def ensure(self, key: Key, *, model: PodModel, load: LoadShape, epoch: float) -> None:
        """Start tracking a workload (a no-op when it is already tracked)."""
        with self._lock:
            if key not in self._workloads:
                self._workloads[key] = WorkloadTraffic(key=key, model=model, load=load, epoch=epoch)

    def retain(self, keys: Iterable[Key]) -> None:
        """Forget workloads that no longer exist."""
        keep = set(keys)
        with self._lock:
            for key in [k for k in self._workloads if k not in keep]:
                del self._workloads[key]

    def set_load(self, namespace: str, name: str, load: LoadShape, *, now: float) -> list[Key]:
        """Replace the load of every workload so named (its time origin becomes ``now``)."""
        with self._lock:
            hits = [k for k in self._workloads if k[1:] == (namespace, name)]
            for key in hits:
                self._workloads[key].load = load
                self._workloads[key].epoch = now
        return hits

    def tick(
        self,
        running: dict[Key, list[RunningPod]],
        *,
        counts: dict[Key, tuple[int, int, int]],
        now: float,
    ) -> None:
        """Account the interval since the last tick, then record who serves from now.

        ``running`` maps each workload to its Running pods (pods not listed are gone);
        ``counts`` to its ``(spec.replicas, pods, ready pods)``, for the admin API.
        """
        with self._lock:
            # A wall clock stepped back gives no interval (not a negative one): counters
            # never shrink, and accounting carries on from ``now``.
            start = self._last if self._last is not None and self._last <= now else now
            self._last = now
            alive: set[PodKey] = set()
            for key, workload in self._workloads.items():
                pods = running.get(key, [])
                for pod in pods:
                    pk = (key[1], pod.name)
                    alive.add(pk)
                    if pk not in self._pods:
                        self._pods[pk] = PodCounters(workload=key, container=pod.container)
                    self._pods[pk].labels = pod.labels
                self._account(workload, pods, start=start, end=now)
                workload.replicas, workload.pods, workload.ready = counts.get(key, (0, 0, 0))
            for pk in [p for p in self._pods if p not in alive]:
                del self._pods[pk]

    def _account(
        self, workload: WorkloadTraffic, running: list[RunningPod], *, start: float, end: float
    ) -> None:
        dt = end - start
        namespace, model = workload.key[1], workload.model
        names = {pod.name for pod in running}
        serving = [n for n in workload.serving if n in names]
        result = serve(workload.rate(start), len(workload.serving), model)
        workload.last = result
        workload.offered += result.offered_rps * dt
        workload.served += result.served_rps * dt
        workload.dropped += result.dropped_rps * dt
        per_pod = result.per_pod_rps * dt
        dropped = result.dropped_rps / result.ready_pods * dt if result.ready_pods else 0.0
        mean = result.latency_ms / 1000.0 if result.ready_pods else 0.0
        shares = [
            per_pod * -math.expm1(-le / mean) if mean > 0 else per_pod for le in DEFAULT_BUCKETS
        ]
        busy = set(serving)
        for item in running:
            pod = self._pods[(namespace, item.name)]
            if item.name in busy:
                pod.cpu_milli, pod.memory_bytes = result.cpu_milli, result.memory_bytes
                pod.served += per_pod
                pod.dropped += dropped
                pod.latency_sum += per_pod * mean
                for i, share in enumerate(shares):
                    pod.buckets[i] += share
            else:
                pod.cpu_milli, pod.memory_bytes = (
                    model.idle_cpu_milli,
                    float(model.memory_base_bytes),
                )
            pod.cpu_seconds += pod.cpu_milli / 1000.0 * dt
            if dt > 0:
                pod.sampled_at, pod.window = end, dt
        workload.serving = tuple(pod.name for pod in running if pod.serving)

    def workloads(self) -> list[WorkloadTraffic]:
        with self._lock:
            return [dataclasses.replace(w) for w in self._workloads.values()]

    def pods(self) -> dict[PodKey, PodCounters]:
        with self._lock:
            return {
                k: dataclasses.replace(p, buckets=list(p.buckets), labels=dict(p.labels))
                for k, p in self._pods.items()
            }
