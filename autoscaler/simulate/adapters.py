"""The control loop's I/O edges over an :class:`~autoscaler.sim.cluster.InMemoryCluster`.

:class:`ClusterEdges` is at once the loop's ScaleClient, PodSource,
ResourceMetricSource and CustomMetricSource, so ``Controller`` runs unchanged: the
scale subresource is the workload's ``replicas``, pods and metrics-server samples
come from :meth:`InMemoryCluster.snapshot_inputs`, and the Prometheus-backed metrics a
policy names (Pods, Object, External) are computed from the traffic model.

A metric's *name* says which quantity of the model stands in for it (the simulator
cannot run the policy's PromQL):

- a name containing ``latency`` (or ``duration``): mean request latency, in seconds,
  or milliseconds when the name ends in ``_ms``/``milliseconds``;
- a name containing ``queue``, ``backlog``, ``lag``, ``messages``, ``inflight``,
  ``in_flight`` or ``concurrency``: requests in the system, by Little's law
  (``rate x latency``), the proxy of a queue length;
- any other name: the request rate (requests per second, dropped ones included, as an
  ingress or an exporter's ``http_requests_total`` counts them).

A Pods metric gives each pod that served the last step its share (a pod not serving
yet has no series, as a pod not yet scraped has none); an Object metric gives the
workload's total; an External metric a one-series list of the total.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from autoscaler.core.model import EXTERNAL, OBJECT, PODS, MetricData, Pod, PodUsage
from autoscaler.ports import NotFound, ScaleState, Target, TargetRef
from autoscaler.sim.cluster import InMemoryCluster, SnapshotInputs
from autoscaler.sim.load import MAX_UTILIZATION
from autoscaler.sim.podmodel import PodModel

_QUEUE_WORDS = ("queue", "backlog", "lag", "messages", "inflight", "in_flight", "concurrency")


def metric_quantity(name: str) -> str:
    """Which model quantity feeds the metric ``name``: latency, queue or rate."""
    lowered = name.lower()
    if "latency" in lowered or "duration" in lowered:
        return "latency"
    if any(word in lowered for word in _QUEUE_WORDS):
        return "queue"
    return "rate"


def selector_for(name: str) -> str:
    """The label selector of a simulated workload: ``app=<name>``."""
    return f"app={name}"


class ClusterEdges:
    """Scale, pods and metrics of the workloads of one cluster, as the loop reads them.

    ``models`` maps each workload name to its pod model (for latency); ``step`` is the
    cluster's step, the window of the traffic metrics. Snapshot inputs
    are computed once per workload per cluster moment: the loop reads the scale, the
    pods and the usage of a target in one sync, and each read would otherwise walk
    every pod again.
    """

    def __init__(
        self, cluster: InMemoryCluster, *, models: Mapping[str, PodModel], step: float
    ) -> None:
        self._cluster = cluster
        self._step = step
        self._models = dict(models)
        self._cache: dict[str, tuple[float, SnapshotInputs]] = {}

    # --- ScaleClient --------------------------------------------------------------

    def get_scale(self, namespace: str, ref: TargetRef) -> ScaleState:
        inputs = self._inputs(ref.name)
        return ScaleState(
            replicas=inputs.current_replicas,
            status_replicas=inputs.status_replicas,
            selector=selector_for(ref.name),
        )

    def get_scale_uncached(self, namespace: str, ref: TargetRef) -> ScaleState:
        return self.get_scale(namespace, ref)  # no cache in the simulator

    def set_replicas(self, namespace: str, ref: TargetRef, replicas: int) -> None:
        self._known(ref.name)
        self._cluster.scale(ref.name, replicas)
        self._cache.pop(ref.name, None)

    # --- PodSource and ResourceMetricSource ----------------------------------------

    def pods(self, namespace: str, selector: str) -> tuple[Pod, ...]:
        return self._inputs(selector.removeprefix("app=")).pods

    namespace_wide = False

    def new_sync(self) -> None:
        """The simulated cluster is read afresh at every step."""

    def usage(self, namespace: str, selector: str) -> dict[str, PodUsage]:
        return dict(self._inputs(selector.removeprefix("app=")).usage)

    # --- CustomMetricSource --------------------------------------------------------

    def read_all(self, targets: Sequence[Target], *, now: float) -> Mapping[str, MetricData]:
        return {target.key: self._custom(target) for target in targets}

    def _custom(self, target: Target) -> MetricData:
        name = target.ref.name
        self._known(name)
        last = self._cluster.totals(name).last
        if last is None:  # no traffic moment yet: every custom read fails, as a new exporter
            return MetricData()
        # Only pods that served the whole last interval have a rate yet: one that turned
        # ready since has not been scraped with traffic (giving it the others' rate would
        # double-count the load the moment new pods arrive).
        since = self._cluster.now - self._step
        serving = [
            p.name
            for p in self._cluster.pods(name)
            if p.serving and p.ready_since is not None and p.ready_since <= since
        ]
        model = self._models[name]
        per_pod_rate = last.offered_rps / max(1, last.ready_pods)
        latency_ms = last.latency_ms
        if last.ready_pods == 0:  # nobody answers: the saturated latency of the model
            latency_ms = model.base_latency_ms / (1.0 - MAX_UTILIZATION)
        pods: dict[str, dict[str, int]] = {}
        objects: dict[str, int] = {}
        external: dict[str, tuple[int, ...]] = {}
        for metric in target.policy.metrics:
            if metric.type == PODS:
                value = _value(metric.name, rate=per_pod_rate, latency_ms=latency_ms)
                pods[metric.name] = {pod: value for pod in serving}
            elif metric.type in (OBJECT, EXTERNAL):
                value = _value(metric.name, rate=last.offered_rps, latency_ms=latency_ms)
                if metric.type == OBJECT:
                    objects[metric.name] = value
                else:
                    external[metric.name] = (value,)
        return MetricData(pods=pods, object=objects, external=external)

    def _known(self, name: str) -> None:
        if name not in self._models:
            raise NotFound(f"deployments.apps {name!r} not found in the simulation")

    def _inputs(self, name: str) -> SnapshotInputs:
        self._known(name)
        now = self._cluster.now
        cached = self._cache.get(name)
        if cached is not None and cached[0] == now:
            return cached[1]
        inputs = self._cluster.snapshot_inputs(name)
        self._cache[name] = (now, inputs)
        return inputs


def _value(name: str, *, rate: float, latency_ms: float) -> int:
    """The metric ``name`` in milli-units, from a request rate and a mean latency."""
    quantity = metric_quantity(name)
    if quantity == "latency":
        lowered = name.lower()
        in_ms = lowered.endswith("_ms") or lowered.endswith("milliseconds")
        value = latency_ms if in_ms else latency_ms / 1000.0
    elif quantity == "queue":
        value = rate * latency_ms / 1000.0  # Little's law: L = lambda * W
    else:
        value = rate
    return round(value * 1000)
