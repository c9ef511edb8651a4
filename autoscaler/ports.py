"""The bottom layer the loop and its edges share: small Protocols and our own errors.

The loop sees the cluster and the metric sources only through these; the Kubernetes
implementations live in ``autoscaler.kube``, in-memory ones in the simulator. Errors
are ours (not the HTTP library's) so that the loop, the adapter and the simulator can
tell a vanished object from a conflict from an outage without knowing which client
produced them; messages are one line for users. Nothing here imports another layer of
Podscale's but the core's values (import-linter's layers contract).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from autoscaler.core.model import (
    Decision,
    History,
    MetricForecast,
    Pod,
    PodUsage,
    Policy,
    Snapshot,
)

if TYPE_CHECKING:
    from autoscaler.policy.model import MetricSpec as SpecMetric

JSON = dict[str, Any]  # an API object as decoded JSON


class LoopError(Exception):
    """A failed read or write at the edge; the message is one line for users."""


class NotFound(LoopError):
    """The object (or the API serving it) does not exist."""


class Conflict(LoopError):
    """The object changed since it was read (HTTP 409)."""


class Gone(LoopError):
    """HTTP 410: the resourceVersion to resume a watch from is too old: list again."""


class Unavailable(LoopError):
    """The API or source is unreachable, overloaded (429) or failing (5xx)."""


class Forbidden(LoopError):
    """The service account lacks a permission; the message names the verb and resource."""


@dataclass(frozen=True, slots=True)
class TargetRef:
    """A ``scaleTargetRef``: anything with a scale subresource."""

    api_version: str
    kind: str
    name: str

    def __str__(self) -> str:
        return f"{self.kind}/{self.name}"


@dataclass(frozen=True, slots=True)
class Target:
    """One policy and the workload it scales, ready for the loop."""

    namespace: str
    name: str
    ref: TargetRef
    policy: Policy
    mode: str = "Enforce"
    source: str = ""
    # The history saved in a ScalingPolicy's status, so a restart keeps its windows.
    saved_history: History | None = None
    # The ScalingPolicy object (None for a policy read from a file).
    uid: str | None = None
    # The metrics as written (selectors, described objects) for the metric sources.
    metric_specs: tuple[SpecMetric, ...] = ()

    @property
    def key(self) -> str:
        return f"{self.namespace}/{self.name}"


@dataclass(frozen=True, slots=True)
class RolloutState:
    """Whether the workload is between two revisions, and how to tell its stable pods.

    Filled from the workload object by the watch caches (``autoscaler.kube.rollouts``);
    a plain GET of ``/scale`` cannot say, so that path leaves ``ScaleState.rollout`` None.
    At most one of ``stable_hash`` (Argo Rollouts names its stable ReplicaSet) and
    ``new_hash`` (a Deployment: every revision but the newest is stable) is set; with
    neither, no new pod exists yet and every pod is stable.
    """

    in_progress: bool
    message: str = ""
    hash_label: str = "pod-template-hash"
    stable_hash: str = ""
    new_hash: str = ""

    def stable_selector(self, selector: str) -> str:
        """``selector`` narrowed to the stable revision's pods."""
        if self.stable_hash:
            return f"{selector},{self.hash_label}={self.stable_hash}"
        if self.new_hash:
            return f"{selector},{self.hash_label}!={self.new_hash}"
        return selector


@dataclass(frozen=True, slots=True)
class ScaleState:
    """The target's scale subresource: spec and status replicas, and its pod selector."""

    replicas: int
    status_replicas: int
    selector: str
    # Known only when read from the workload object (watch caches), else None.
    rollout: RolloutState | None = None
    # The object's version when read: a write to /scale carries it, so a change made by
    # someone else since (or a stale cache) is a conflict, not silently overwritten.
    resource_version: str = ""


class ScaleClient(Protocol):
    def get_scale(self, namespace: str, ref: TargetRef) -> ScaleState: ...

    def get_scale_uncached(self, namespace: str, ref: TargetRef) -> ScaleState:
        """The scale as the API server has it now, never from a cache: what resolves a
        write whose answer was lost."""
        ...

    def set_replicas(self, namespace: str, ref: TargetRef, replicas: int) -> None: ...


class PodSource(Protocol):
    def pods(self, namespace: str, selector: str) -> tuple[Pod, ...]: ...


class ResourceMetricSource(Protocol):
    """metrics.k8s.io (or its Prometheus stand-in): per-pod usage samples.

    ``namespace_wide``: ``usage`` answers for every pod of the namespace, not only those
    the selector matches (the loop then keeps the target's own pods). ``new_sync`` is
    called as each sync starts, so per-sync caches start afresh.
    """

    namespace_wide: bool

    def usage(self, namespace: str, selector: str) -> dict[str, PodUsage]: ...

    def new_sync(self) -> None: ...


class PolicyStore(Protocol):
    """ScalingPolicy objects as the cluster has them, and their status written back.

    Raises LoopError (NotFound when the CRD is not installed) when a read or write fails.
    """

    def objects(self) -> list[JSON]:
        """Every object, read from the API server now."""
        ...

    def watch(self) -> None:
        """Start keeping a watch cache of the objects (once the CRD is known to exist)."""
        ...

    def cached(self) -> list[JSON] | None:
        """The watch cache's objects once it has synced; None before (or without one)."""
        ...

    def write_status(self, namespace: str, name: str, status: JSON) -> None:
        """Merge ``status`` into one object's status subresource."""
        ...


@dataclass(frozen=True, slots=True)
class EventPost:
    """One core/v1 Event as the loop decided it: new, or a repeat of an existing one."""

    namespace: str
    name: str
    involved: JSON  # the object reference it is about
    type: str  # Normal | Warning
    reason: str
    message: str
    component: str
    first_seen: float
    last_seen: float
    count: int


class EventSink(Protocol):
    def create(self, event: EventPost) -> None: ...

    def update(self, event: EventPost) -> None:
        """Set count, last timestamp and message of the Event named; NotFound when it
        expired meanwhile."""
        ...


@dataclass(frozen=True, slots=True)
class LeaseRecord:
    """What a Lease says; times are the API's MicroTime text, compared only for change."""

    holder: str = ""
    duration_seconds: int | None = None
    acquire_time: str | None = None
    renew_time: str | None = None
    transitions: int = 0
    # The resourceVersion read: a write carries it, so two racing writers cannot both win.
    version: str | None = None


class LeaseStore(Protocol):
    """One named Lease. Raises NotFound (none yet), Conflict (changed since read), LoopError."""

    name: str

    def read(self) -> LeaseRecord: ...

    def create(self, record: LeaseRecord) -> None: ...

    def replace(self, record: LeaseRecord) -> None: ...


class WorkloadReader(Protocol):
    def uid(self, namespace: str, ref: TargetRef) -> str:
        """The workload's uid ("" when its answer has none); LoopError when unreadable."""
        ...


class Forecaster(Protocol):
    """Forecasts of a predictive target's metric totals (``spec.predictive``).

    The sync path only reads a cached model and records what it saw; fitting runs
    elsewhere (``autoscaler run``: a background thread; the simulator: fixed virtual
    times), so a sync of many targets is not slowed down by it.
    """

    def forecasts(self, target: Target, *, now: float) -> tuple[MetricForecast, ...]:
        """The forecasts for a predictive target now (from the last fit, cached: no
        fitting on the sync path); () when there is no usable model yet."""
        ...

    def observe(self, target: Target, snapshot: Snapshot, decision: Decision) -> None:
        """Record this sync's metric totals (core.paths.metric_total) for the target's
        history and for the forecast's error tracking."""
        ...

    def forget(self, live: set[str]) -> None:
        """Drop the memory of every target whose key is not in ``live`` (gone away)."""
        ...


__all__ = [
    "JSON",
    "Conflict",
    "EventPost",
    "EventSink",
    "Forbidden",
    "Forecaster",
    "LeaseRecord",
    "LeaseStore",
    "LoopError",
    "NotFound",
    "PodSource",
    "PolicyStore",
    "ResourceMetricSource",
    "RolloutState",
    "ScaleClient",
    "ScaleState",
    "Target",
    "TargetRef",
    "Unavailable",
    "WorkloadReader",
]
