"""An in-memory cluster on a virtual clock: workloads, pods, traffic and metrics.

It plays the parts of the Kubernetes API that an autoscaler touches: workload
controllers that create and delete pods when ``replicas`` changes (a ReplicaSet's
choice of victims, or a StatefulSet's ordinals), a scheduler with optional node
capacity, kubelets that move pods through :mod:`autoscaler.sim.podmodel`, a Service
that spreads each workload's load over its ready pods (:func:`~autoscaler.sim.load.serve`),
and metrics-server plus a Prometheus exporter per pod.

Time moves only in :meth:`InMemoryCluster.step` (or :meth:`~InMemoryCluster.sync` for a
clock that moves by itself). Over an interval ``[t0, t1]`` the cluster serves the load
offered at ``t0`` with the pods serving at ``t0`` (a left Riemann sum: exact for
step-hold traces aligned with the steps), records usage sampled over that interval
(timestamp ``t1``, window ``t1 - t0``), then advances every pod to ``t1``, schedules
pending pods and lets controllers react. The work per step is O(pods).
"""

from __future__ import annotations

import math
import random
from collections.abc import Mapping
from dataclasses import dataclass, field

from autoscaler.core.model import Container, Pod, PodUsage
from autoscaler.sim.clock import Clock, ManualClock
from autoscaler.sim.load import Constant, LoadShape, ServeResult, serve
from autoscaler.sim.podmodel import (
    RUNNING,
    PodModel,
    PodState,
    advance,
    bind,
    delete,
    deletion_rank,
    new_pod,
)

# Prometheus client libraries' default histogram buckets (seconds); +Inf is the count.
DEFAULT_BUCKETS: tuple[float, ...] = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)
KINDS = ("Deployment", "StatefulSet", "Rollout")
# The characters Kubernetes uses in generated names (no vowels, no look-alikes).
_NAME_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"


@dataclass(frozen=True, slots=True, kw_only=True)
class Nodes:
    """``count`` identical nodes with this much allocatable CPU and memory each."""

    count: int
    cpu_milli: int
    memory_bytes: int


@dataclass(frozen=True, slots=True, kw_only=True)
class Workload:
    """A scalable workload's fixed description; ``replicas`` is state, kept apart."""

    name: str
    model: PodModel = field(default_factory=PodModel)
    kind: str = "Deployment"
    namespace: str = "default"
    selector: Mapping[str, str] = field(default_factory=dict)
    container: str = "app"


@dataclass(frozen=True, slots=True, kw_only=True)
class PodMetrics:
    """What a pod's exporter and metrics-server would report now.

    ``timestamp``/``window``/``cpu_milli``/``memory_bytes`` are None until the pod has
    run for one step. Counters are cumulative requests: ``served`` (equal to the
    latency count), ``dropped`` (this pod's overflow share; load offered while no pod
    was ready shows only in :class:`Totals`), and cumulative ``latency_buckets``
    ``(le seconds, count)`` with ``latency_sum_seconds``, as a Prometheus histogram.
    """

    name: str
    timestamp: float | None
    window: float | None
    cpu_milli: float | None
    memory_bytes: float | None
    served: float
    dropped: float
    latency_buckets: tuple[tuple[float, float], ...]
    latency_sum_seconds: float


@dataclass(frozen=True, slots=True, kw_only=True)
class Totals:
    """A workload's cumulative requests (offered == served + dropped, up to rounding)
    and its latest traffic moment (None before the first step)."""

    offered: float
    served: float
    dropped: float
    last: ServeResult | None


@dataclass(frozen=True, slots=True, kw_only=True)
class SnapshotInputs:
    """The pod-level parts of an :class:`autoscaler.core.model.Snapshot`."""

    current_replicas: int
    status_replicas: int
    pods: tuple[Pod, ...]
    usage: dict[str, PodUsage]


class _Pod:
    """A pod and its running counters (mutable: updated in place every step)."""

    __slots__ = (
        "buckets",
        "core",
        "cpu",
        "dropped",
        "latency_sum",
        "memory",
        "node",
        "sampled_at",
        "sequence",
        "served",
        "state",
        "window",
    )

    def __init__(self, state: PodState, sequence: int, buckets: int) -> None:
        self.state = state
        self.sequence = sequence
        self.node: int | None = None
        self.served = 0.0
        self.dropped = 0.0
        self.buckets = [0.0] * buckets
        self.latency_sum = 0.0
        self.cpu = 0.0
        self.memory = 0.0
        self.sampled_at: float | None = None
        self.window = 0.0
        # The core's view of ``state``, rebuilt only when the state changes (states are
        # immutable and ``advance`` returns the same object when nothing happened).
        self.core: tuple[PodState, Pod] | None = None


class _Running:
    """A workload's changing state."""

    __slots__ = (
        "containers",
        "dropped",
        "last",
        "load",
        "offered",
        "pods",
        "replicas",
        "served",
        "spec",
        "template_hash",
    )

    def __init__(self, spec: Workload, replicas: int, load: LoadShape, rng: random.Random) -> None:
        self.spec = spec
        self.replicas = replicas
        self.load = load
        self.pods: dict[str, _Pod] = {}  # in creation order
        self.template_hash = "".join(rng.choices(_NAME_ALPHABET, k=10))
        self.offered = self.served = self.dropped = 0.0
        self.last: ServeResult | None = None
        requests = {
            "cpu": spec.model.cpu_request_milli,
            "memory": spec.model.memory_request_bytes * 1000,
        }
        self.containers = (Container(spec.container, requests),)


class InMemoryCluster:
    """Workloads and their pods on ``clock``; deterministic for a given ``seed``."""

    def __init__(
        self, clock: Clock, *, nodes: Nodes | None = None, seed: int = 0, histograms: bool = True
    ) -> None:
        self._clock = clock
        # Per-pod latency histograms (for the exporter of ``autoscaler sim``); the policy
        # simulator reads none, and skipping them is a third of the cost of a step.
        self._histograms = histograms
        self._now = clock.now()
        # Free [cpu, memory] per node; None: unlimited room, every pod binds at once.
        self._free: list[list[int]] | None = None
        if nodes is not None:
            self._free = [[nodes.cpu_milli, nodes.memory_bytes] for _ in range(nodes.count)]
        self._rng = random.Random(seed)
        self._workloads: dict[str, _Running] = {}
        self._sequence = 0

    @property
    def now(self) -> float:
        """The time the cluster's state describes."""
        return self._now

    def add_workload(
        self, workload: Workload, *, replicas: int = 1, load: LoadShape | None = None
    ) -> None:
        """Create the workload and its pods now; ``load`` defaults to no traffic."""
        if workload.name in self._workloads:
            raise ValueError(f"workload {workload.name!r} already exists")
        if workload.kind not in KINDS:
            raise ValueError(f"kind must be one of {', '.join(KINDS)} (got {workload.kind!r})")
        shape = Constant(0.0) if load is None else load
        running = _Running(workload, _replicas(replicas), shape, self._rng)
        self._workloads[workload.name] = running
        self._reconcile(running)

    def scale(self, name: str, replicas: int) -> None:
        """Set ``spec.replicas``; the controller creates or deletes pods at once."""
        running = self._get(name)
        running.replicas = _replicas(replicas)
        self._reconcile(running)

    def replicas(self, name: str) -> int:
        return self._get(name).replicas

    def set_load(self, name: str, shape: LoadShape) -> None:
        self._get(name).load = shape

    def step(self, dt: float) -> None:
        """Advance the (manual) clock by ``dt`` seconds and the cluster with it."""
        if not isinstance(self._clock, ManualClock):
            raise TypeError("step() needs a ManualClock; call sync() with other clocks")
        self._clock.advance(dt)
        self.sync()

    def sync(self) -> None:
        """Bring the cluster from its last time to the clock's now."""
        now = self._clock.now()
        if now < self._now:
            raise ValueError(f"the clock went back from {self._now} to {now}")
        if now > self._now:
            for running in self._workloads.values():
                self._serve(running, self._now, now)
            self._now = now
            for running in self._workloads.values():
                self._advance(running)
            self._schedule(self._pending())
            for running in self._workloads.values():
                self._reconcile(running)

    def pods(self, name: str) -> tuple[PodState, ...]:
        """Every pod of the workload that still exists, terminating ones included."""
        return tuple(pod.state for pod in self._get(name).pods.values())

    def metrics(self, name: str) -> tuple[PodMetrics, ...]:
        return tuple(_pod_metrics(pod) for pod in self._get(name).pods.values())

    def totals(self, name: str) -> Totals:
        r = self._get(name)
        return Totals(offered=r.offered, served=r.served, dropped=r.dropped, last=r.last)

    def snapshot_inputs(self, name: str) -> SnapshotInputs:
        """Pods and metrics-server samples in the decision core's types."""
        running = self._get(name)
        container = running.spec.container
        pods = []
        usage = {}
        for pod in running.pods.values():
            state = pod.state
            cached = pod.core
            if cached is None or cached[0] is not state:
                cached = pod.core = (state, _core_pod(state, running.containers))
            pods.append(cached[1])
            if pod.sampled_at is not None:
                usage[state.name] = PodUsage(
                    timestamp=pod.sampled_at,
                    window=pod.window,
                    containers={
                        container: {
                            "cpu": math.ceil(pod.cpu),
                            "memory": round(pod.memory) * 1000,
                        }
                    },
                )
        active = sum(1 for pod in running.pods.values() if not pod.state.deleting)
        return SnapshotInputs(
            current_replicas=running.replicas,
            status_replicas=active,
            pods=tuple(pods),
            usage=usage,
        )

    def _get(self, name: str) -> _Running:
        try:
            return self._workloads[name]
        except KeyError:
            raise KeyError(f"no workload named {name!r}") from None

    def _serve(self, running: _Running, start: float, end: float) -> None:
        dt = end - start
        model = running.spec.model
        serving = [pod for pod in running.pods.values() if pod.state.serving]
        result = serve(running.load.rate(start), len(serving), model)
        running.last = result
        running.offered += result.offered_rps * dt
        running.served += result.served_rps * dt
        running.dropped += result.dropped_rps * dt
        served = result.per_pod_rps * dt
        dropped, mean, shares = 0.0, 0.0, [0.0] * len(DEFAULT_BUCKETS)
        histograms = self._histograms
        if serving:
            dropped = result.dropped_rps / len(serving) * dt
            mean = result.latency_ms / 1000.0
            if histograms:
                # Exponential latency with that mean (the M/M/1 sojourn time distribution).
                shares = [served * -math.expm1(-le / mean) for le in DEFAULT_BUCKETS]
        for pod in running.pods.values():
            state = pod.state
            if state.phase != RUNNING:
                continue
            pod.sampled_at, pod.window = end, dt
            if state.serving:
                pod.cpu, pod.memory = result.cpu_milli, result.memory_bytes
                pod.served += served
                pod.dropped += dropped
                pod.latency_sum += served * mean
                if histograms:
                    buckets = pod.buckets
                    for i, share in enumerate(shares):
                        buckets[i] += share
            else:
                pod.cpu, pod.memory = model.idle_cpu_milli, float(model.memory_base_bytes)

    def _advance(self, running: _Running) -> None:
        model, now = running.spec.model, self._now
        for name, pod in list(running.pods.items()):
            state = advance(pod.state, now, model)
            if state is None:
                del running.pods[name]
                if self._free is not None and pod.node is not None:
                    self._free[pod.node][0] += model.cpu_request_milli
                    self._free[pod.node][1] += model.memory_request_bytes
            else:
                pod.state = state

    def _pending(self) -> list[tuple[_Pod, PodModel]]:
        return [
            (pod, running.spec.model)
            for running in self._workloads.values()
            for pod in running.pods.values()
            if not pod.state.bound and not pod.state.deleting
        ]

    def _reconcile(self, running: _Running) -> None:
        """What the workload's controller does now: create or delete pods."""
        now = self._now
        active = [pod for pod in running.pods.values() if not pod.state.deleting]
        missing = running.replicas - len(active)
        if running.spec.kind == "StatefulSet":
            # OrderedReady: one pod at a time, each waiting for the one before it.
            if len(active) < len(running.pods) or any(not p.state.ready for p in active):
                return
            missing = max(-1, min(1, missing))
        if missing < 0:
            if running.spec.kind == "StatefulSet":
                victims = sorted(active, key=lambda p: -_ordinal(p.state.name))
            else:
                victims = sorted(active, key=lambda p: (deletion_rank(p.state), -p.sequence))
            for pod in victims[:-missing]:
                pod.state = delete(pod.state, now=now)
                if not pod.state.bound:  # never reached a kubelet: gone at once
                    del running.pods[pod.state.name]
        created = []
        for _ in range(missing):
            name = self._pod_name(running)
            self._sequence += 1
            pod = _Pod(new_pod(name=name, now=now), self._sequence, len(DEFAULT_BUCKETS))
            running.pods[name] = pod
            created.append((pod, running.spec.model))
        self._schedule(created)

    def _pod_name(self, running: _Running) -> str:
        """``web-0``, ``web-1``... for a StatefulSet; ``web-<hash>-<5 chars>`` otherwise."""
        name = running.spec.name
        if running.spec.kind == "StatefulSet":
            used = {_ordinal(pod) for pod in running.pods}
            return f"{name}-{min(set(range(len(used) + 1)) - used)}"
        while True:
            suffix = "".join(self._rng.choices(_NAME_ALPHABET, k=5))
            candidate = f"{name}-{running.template_hash}-{suffix}"
            if candidate not in running.pods:
                return candidate

    def _schedule(self, pods: list[tuple[_Pod, PodModel]]) -> None:
        """Bind pods, oldest first, to the first node with room for their requests."""
        for pod, model in pods:
            if self._free is None:
                pod.state = bind(pod.state, now=self._now)
                continue
            cpu, memory = model.cpu_request_milli, model.memory_request_bytes
            for index, free in enumerate(self._free):
                if free[0] >= cpu and free[1] >= memory:
                    free[0] -= cpu
                    free[1] -= memory
                    pod.node = index
                    pod.state = bind(pod.state, now=self._now)
                    break


def _ordinal(name: str) -> int:
    return int(name.rsplit("-", 1)[1])


def _replicas(value: int) -> int:
    if value < 0:
        raise ValueError(f"replicas must be >= 0 (got {value})")
    return value


def _core_pod(state: PodState, containers: tuple[Container, ...]) -> Pod:
    """A PodState as the HPA sees it: no Ready condition until a kubelet owns the pod,
    then Ready=False since ``start_time`` until it turns True."""
    ready = None if state.start_time is None else ("True" if state.ready else "False")
    return Pod(
        name=state.name,
        phase=state.phase,
        ready=ready,
        ready_since=state.ready_since if state.ready else state.start_time,
        start_time=state.start_time,
        deleting=state.deleting,
        containers=containers,
    )


def _pod_metrics(pod: _Pod) -> PodMetrics:
    sampled = pod.sampled_at is not None
    return PodMetrics(
        name=pod.state.name,
        timestamp=pod.sampled_at,
        window=pod.window if sampled else None,
        cpu_milli=pod.cpu if sampled else None,
        memory_bytes=pod.memory if sampled else None,
        served=pod.served,
        dropped=pod.dropped,
        latency_buckets=tuple(zip(DEFAULT_BUCKETS, pod.buckets, strict=True)),
        latency_sum_seconds=pod.latency_sum,
    )
