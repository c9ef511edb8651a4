"""One pod: what it costs, how fast it starts, and where it is in its life.

:class:`PodModel` holds the numbers of a workload's pods (delays, requests, how much
traffic one pod serves and what that costs). :class:`PodState` is one pod at one
moment, and :func:`advance` moves it to a later moment. Every state is computed from
timestamps, never from how often ``advance`` ran, so a pod advanced in 15 s steps and
one advanced once are identical; that is what makes a simulation independent of its
step size wherever lifecycle is concerned.

Lifecycle (timestamps in seconds, the same clock as ``now``)::

    created --(a node has room)--> bound (status.startTime) --schedule_delay--> Running
            --ready_delay--> Ready
    deleted --termination_grace--> gone   (at once if never bound: no kubelet owns it)

A deleted pod makes no further progress (a terminating pod never becomes ready) and
stops serving at once, as the endpoints controller drops terminating pods; the
model assumes the application drains for the whole grace period.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

PENDING = "Pending"
RUNNING = "Running"

MI = 2**20


@dataclass(frozen=True, slots=True, kw_only=True)
class PodModel:
    """The numbers behind every pod of a workload; defaults are a small web service.

    Units: durations in seconds, CPU in millicores, memory in bytes, load in
    requests per second (rps).

    - ``schedule_delay``: from bound to a node until Running (image pull, container
      start).
    - ``ready_delay``: from Running until the readiness probe first passes.
    - ``termination_grace``: from deletion until the pod is gone.
    - ``capacity_rps``: the most a ready pod serves; beyond it requests are dropped.
    - ``cpu_per_request_milli``: millicores used per rps served (2.0 means a pod
      serving 100 rps uses 200m on top of ``idle_cpu_milli``). Usage is capped at
      ``cpu_limit_milli`` (throttling); keep ``capacity_rps`` at or below
      :attr:`cpu_bound_rps` for a model where the limit never binds.
    - ``memory_base_bytes`` + ``memory_per_rps_bytes`` per rps served: working set.
    - ``base_latency_ms``: mean latency of a request on an idle pod.
    """

    schedule_delay: float = 2.0
    ready_delay: float = 10.0
    termination_grace: float = 30.0
    cpu_request_milli: int = 250
    cpu_limit_milli: int = 1000
    memory_request_bytes: int = 256 * MI
    capacity_rps: float = 100.0
    cpu_per_request_milli: float = 2.0
    idle_cpu_milli: float = 10.0
    memory_base_bytes: int = 128 * MI
    memory_per_rps_bytes: int = 256 * 1024
    base_latency_ms: float = 20.0

    def __post_init__(self) -> None:
        for spec in dataclasses.fields(self):
            value = getattr(self, spec.name)
            if not math.isfinite(value) or value < 0:
                raise ValueError(f"{spec.name} must be a finite number >= 0 (got {value})")
        if self.capacity_rps <= 0:
            raise ValueError(f"capacity_rps must be > 0 (got {self.capacity_rps})")
        if self.cpu_limit_milli < self.cpu_request_milli:
            raise ValueError(
                f"cpu_limit_milli ({self.cpu_limit_milli}) must be >= "
                f"cpu_request_milli ({self.cpu_request_milli})"
            )

    @property
    def cpu_bound_rps(self) -> float:
        """The rps at which CPU usage reaches the limit (inf when requests are free)."""
        if self.cpu_per_request_milli == 0:
            return math.inf
        return max(0.0, self.cpu_limit_milli - self.idle_cpu_milli) / self.cpu_per_request_milli


# Start-up speeds a benchmark or ``autoscaler simulate --pod`` picks by name:
# (schedule_delay, ready_delay), from bound to Running and from Running to Ready.
# "fast" is the default model (Ready 12 s after binding); "slow" is Ready after 45 s,
# as many real pods are (a JVM, a cache to warm, a cautious readiness probe).
POD_STARTS: dict[str, tuple[float, float]] = {"fast": (2.0, 10.0), "slow": (5.0, 40.0)}


def with_start(model: PodModel, speed: str) -> PodModel:
    """``model`` with the start-up delays of ``speed`` (a key of :data:`POD_STARTS`)."""
    schedule, ready = POD_STARTS[speed]
    return dataclasses.replace(model, schedule_delay=schedule, ready_delay=ready)


@dataclass(frozen=True, slots=True, kw_only=True)
class PodState:
    """One pod at one moment.

    ``start_time`` is when it was bound to a node (the kubelet's ``status.startTime``,
    which precedes image pulls); ``running_since`` when it turned Running;
    ``ready_since`` when it turned Ready (None while not ready). The HPA reads
    exactly these to discount starting pods, so they follow Kubernetes' meaning.
    """

    name: str
    created: float
    phase: str = PENDING
    ready: bool = False
    start_time: float | None = None
    running_since: float | None = None
    ready_since: float | None = None
    deletion_time: float | None = None

    @property
    def deleting(self) -> bool:
        return self.deletion_time is not None

    @property
    def bound(self) -> bool:
        return self.start_time is not None

    @property
    def serving(self) -> bool:
        """Whether traffic reaches it: ready and not terminating."""
        return self.ready and self.deletion_time is None


def new_pod(*, name: str, now: float) -> PodState:
    """A pod just created by its controller: Pending and not yet on a node."""
    return PodState(name=name, created=now)


def bind(pod: PodState, *, now: float) -> PodState:
    """The pod placed on a node at ``now``; its start-up delays count from here."""
    if pod.start_time is not None:
        return pod
    return dataclasses.replace(pod, start_time=now)


def delete(pod: PodState, *, now: float) -> PodState:
    """The pod marked for deletion at ``now`` (a second deletion changes nothing)."""
    if pod.deletion_time is not None:
        return pod
    return dataclasses.replace(pod, deletion_time=now)


def advance(pod: PodState, now: float, model: PodModel) -> PodState | None:
    """The pod as it is at ``now``, or None when it is gone.

    Returns ``pod`` itself when nothing changed, so callers can skip work cheaply.
    """
    if pod.deletion_time is not None:
        if pod.start_time is None or now >= pod.deletion_time + model.termination_grace:
            return None
        now = min(now, pod.deletion_time)  # terminating: no further progress
    if pod.start_time is None or pod.ready:
        return pod
    running_at = pod.start_time + model.schedule_delay
    if now < running_at:
        return pod
    ready_at = running_at + model.ready_delay
    if now < ready_at:
        if pod.phase == RUNNING:
            return pod
        return dataclasses.replace(pod, phase=RUNNING, running_since=running_at)
    return dataclasses.replace(
        pod, phase=RUNNING, running_since=running_at, ready=True, ready_since=ready_at
    )


def deletion_rank(pod: PodState) -> tuple[bool, bool, bool, float, float]:
    """Sort key putting first the pods a ReplicaSet deletes first on scale-down.

    The controller's order (``ActivePodsWithRanks``, less its node-spread and
    restart-count rules): unscheduled before scheduled, Pending before Running, not
    ready before ready, ready for less time before longer, newer before older.
    """
    ready_since = pod.ready_since if pod.ready and pod.ready_since is not None else 0.0
    return (pod.bound, pod.phase == RUNNING, pod.ready, -ready_since, -pod.created)
