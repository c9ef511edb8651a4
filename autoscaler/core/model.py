"""The values the decision core reads and returns.

Everything here is a dataclass built by the edge (``autoscaler.documents`` for
snapshot files, the control loop for live reads). Quantities are integer milli-units,
times are seconds since the epoch as floats, durations are seconds. The core trusts
these types: validation happens where the data enters. Nothing in the core mutates them;
the per-pod classes are left unfrozen only because frozen dataclasses construct four
times slower, and a snapshot holds dozens of them (loadtest/bench_decide.py).
"""

from __future__ import annotations

from dataclasses import dataclass, field

# Metric source types, target types and scaling-policy vocabulary of autoscaling/v2.
RESOURCE = "Resource"
CONTAINER_RESOURCE = "ContainerResource"
PODS = "Pods"
OBJECT = "Object"
EXTERNAL = "External"
METRIC_SOURCE_TYPES = (RESOURCE, CONTAINER_RESOURCE, PODS, OBJECT, EXTERNAL)

UTILIZATION = "Utilization"
VALUE = "Value"
AVERAGE_VALUE = "AverageValue"

POLICY_PODS = "Pods"
POLICY_PERCENT = "Percent"
SELECT_MAX = "Max"
SELECT_MIN = "Min"
SELECT_DISABLED = "Disabled"


@dataclass(frozen=True, slots=True)
class MetricTarget:
    """An HPA MetricTarget; ``value`` and ``average_value`` are milli-units."""

    type: str
    value: int | None = None
    average_value: int | None = None
    average_utilization: int | None = None


@dataclass(frozen=True, slots=True)
class ObjectReference:
    """The object an Object metric describes (used only in messages)."""

    kind: str
    name: str
    api_version: str = ""


@dataclass(frozen=True, slots=True)
class MetricSpec:
    """One entry of ``spec.metrics``.

    ``name`` is the resource name for Resource/ContainerResource and the metric name
    otherwise. An unknown ``type`` is kept (not rejected) so that the decision can
    report it the way the HPA does: a failed metric with reason InvalidMetricSourceType.
    """

    type: str
    name: str
    target: MetricTarget
    container: str = ""
    described_object: ObjectReference | None = None
    selector: str = ""


@dataclass(frozen=True, slots=True)
class ScalingPolicy:
    """One HPAScalingPolicy: change by ``value`` pods or percent per ``period_seconds``."""

    type: str
    value: int
    period_seconds: int


@dataclass(frozen=True, slots=True)
class ScalingRules:
    """HPAScalingRules for one direction; ``None`` means "not set" (defaults apply)."""

    stabilization_window_seconds: int | None = None
    select_policy: str | None = None
    policies: tuple[ScalingPolicy, ...] | None = None
    tolerance: float | None = None


@dataclass(frozen=True, slots=True)
class Behavior:
    """Both directions of ``spec.behavior``; ``None`` anywhere means "not given"."""

    scale_up: ScalingRules | None = None
    scale_down: ScalingRules | None = None


# spec.rollout.awareness values.
ROLLOUT_OFF = "Off"
HOLD_AND_CAP = "HoldAndCap"


@dataclass(frozen=True, slots=True)
class Fallback:
    """``spec.fallback``: the replicas to hold once ``failure_threshold`` consecutive
    syncs (this one included) could not read any usable metric."""

    replicas: int
    failure_threshold: int = 3


@dataclass(frozen=True, slots=True)
class Predictive:
    """``spec.predictive``: scale up ahead of a forecast load (``core.paths``).

    ``lead_seconds`` is how far ahead the forecast looks (pod start-up + readiness + a
    sync); past ``max_error`` (the forecast's recent mean absolute error relative to the
    mean load) the forecast switches itself off, and back on below ``max_error`` times
    :data:`~autoscaler.core.paths.TRUST_AGAIN`. ``metric`` names the metric forecast (by
    its name in ``metrics``); empty means every metric the edge forecasts.
    """

    lead_seconds: float = 60.0
    max_error: float = 0.3
    metric: str = ""
    # For the edge, not the decision: how much history the forecast is fitted on.
    lookback_seconds: float = 14 * 86_400.0


@dataclass(frozen=True, slots=True)
class Burst:
    """``spec.burst``: Knative's panic mode. When a metric reads ``threshold`` times its
    target or more, scale at once to what it asks for, past the scale-up rate limits, up
    to ``max_replicas`` (None: the policy's), and refuse scale-downs until
    ``stable_window_seconds`` have passed without a burst."""

    threshold: float = 2.0
    max_replicas: int | None = None
    stable_window_seconds: float = 60.0


@dataclass(frozen=True, slots=True)
class Activation:
    """``spec.activation`` (with ``minReplicas: 0``): 0 -> 1 once metric ``metric`` reads
    above ``threshold`` (milli-units, the metric's value as read: an External metric's
    sum, an Object metric's value, a Pods metric's average), 1 -> 0 only after
    ``cooldown_seconds`` without a reading above it. Between 1 and N the HPA decides."""

    metric: str
    threshold: int = 0
    cooldown_seconds: float = 300.0
    # For the edge, not the decision: how often the loop reads the activation metric of
    # a target at zero, so that waking up does not wait for the next full sync.
    poll_seconds: float = 2.0


@dataclass(frozen=True, slots=True)
class Policy:
    """The part of an HPA spec the decision needs, plus Podscale's own rules."""

    max_replicas: int
    min_replicas: int = 1
    metrics: tuple[MetricSpec, ...] = ()
    behavior: Behavior | None = None
    fallback: Fallback | None = None
    rollout_awareness: str = ROLLOUT_OFF
    predictive: Predictive | None = None
    burst: Burst | None = None
    activation: Activation | None = None


@dataclass(slots=True)
class Container:
    """A container's name and resource requests (resource name -> milli-units)."""

    name: str
    requests: dict[str, int] = field(default_factory=dict)


@dataclass(slots=True)
class Pod:
    """What the HPA reads of a pod the target's selector matches.

    ``ready`` is the PodReady condition status: "True", "False", "Unknown", or None
    when the pod has no such condition.
    """

    name: str
    phase: str = "Running"
    ready: str | None = None
    ready_since: float | None = None
    start_time: float | None = None
    deleting: bool = False
    containers: tuple[Container, ...] = ()


@dataclass(slots=True)
class PodUsage:
    """One pod's metrics.k8s.io sample: container -> resource -> milli-units."""

    timestamp: float
    window: float
    containers: dict[str, dict[str, int]]


@dataclass(frozen=True, slots=True)
class MetricData:
    """Everything the metric sources returned; a missing key is a failed read."""

    resource: dict[str, PodUsage] | None = None
    pods: dict[str, dict[str, int]] = field(default_factory=dict)
    object: dict[str, int] = field(default_factory=dict)
    external: dict[str, tuple[int, ...]] = field(default_factory=dict)
    # Why a read failed, when the source said: "resource" for metrics.k8s.io, else the
    # metric name. The decision quotes it instead of a generic "no metrics returned".
    errors: dict[str, str] = field(default_factory=dict)


@dataclass(slots=True)
class Recommendation:
    time: float
    replicas: int


@dataclass(slots=True)
class ScaleEvent:
    time: float
    change: int


@dataclass(frozen=True, slots=True)
class History:
    """Earlier recommendations and scale events, passed in and handed back out.

    The last three are Podscale's paths' memory (``core.paths``): when the last burst
    was seen, when the activation metric last read above its threshold, and whether the
    forecast is switched off for being wrong. The HPA has none of them.
    """

    recommendations: tuple[Recommendation, ...] = ()
    scale_up_events: tuple[ScaleEvent, ...] = ()
    scale_down_events: tuple[ScaleEvent, ...] = ()
    last_burst: float | None = None
    last_active: float | None = None
    forecast_off: bool = False


@dataclass(frozen=True, slots=True)
class Settings:
    """Controller-wide knobs; defaults are kube-controller-manager's."""

    tolerance: float = 0.1
    cpu_initialization_period: float = 300.0
    initial_readiness_delay: float = 30.0
    downscale_stabilization_window: float = 300.0


@dataclass(frozen=True, slots=True)
class Rollout:
    """The target is between two revisions, as the loop saw it.

    ``stable_pods`` are the stable revision's pods (their usage is what a rollout-aware
    policy trusts); ``workload`` names the target and ``message`` says how far the
    rollout is, both only for messages.
    """

    workload: str = ""
    message: str = ""
    stable_pods: tuple[Pod, ...] = ()


@dataclass(frozen=True, slots=True)
class MetricForecast:
    """The edge's forecast for one metric of the policy (``metrics[metric]``).

    ``total`` is the metric's *total* expected at ``at`` (about now + the policy's lead
    time), in milli-units: what :func:`autoscaler.core.paths.metric_total` measures now
    (the usage summed over the pods for Resource and Pods metrics, the value for Object
    and External ones), so that the core turns it into replicas with the target it has
    now. ``error`` is the forecast's recent mean absolute error relative to the mean
    total (None: not measured yet); the edge fits, the core decides whether to trust it.
    """

    metric: int
    total: int
    at: float
    error: float | None = None


@dataclass(frozen=True, slots=True)
class Snapshot:
    """Everything one decision for one target depends on, frozen at ``now``.

    ``rollout`` is None unless the target is rolling out (and the loop could tell);
    ``failed_syncs`` counts the consecutive earlier syncs without a usable metric, for
    the policy's fallback; ``external_changes`` are the times another writer changed the
    replicas: all three are Podscale's, the HPA has none of them.
    """

    now: float
    policy: Policy
    current_replicas: int
    status_replicas: int
    pods: tuple[Pod, ...] = ()
    metrics: MetricData = field(default_factory=MetricData)
    history: History = field(default_factory=History)
    settings: Settings = field(default_factory=Settings)
    rollout: Rollout | None = None
    failed_syncs: int = 0
    # When the loop saw another writer (kubectl, GitOps, another autoscaler) change the
    # replicas, oldest first: repeated changes make Podscale step back instead of fighting.
    external_changes: tuple[float, ...] = ()
    # The edge's forecasts for a policy with ``predictive`` (none: the reactive path only).
    forecasts: tuple[MetricForecast, ...] = ()


@dataclass(frozen=True, slots=True)
class Condition:
    """An HPA status condition with the controller's reason and message."""

    type: str
    status: str
    reason: str
    message: str


@dataclass(frozen=True, slots=True)
class MetricStatus:
    """The HPA MetricValueStatus fields that apply (milli-units for values)."""

    average_utilization: int | None = None
    average_value: int | None = None
    value: int | None = None


@dataclass(frozen=True, slots=True)
class MetricResult:
    """One metric's proposal, or why there is none.

    ``reason`` is the ScalingActive reason the HPA would give for a failure
    (FailedGetResourceMetric, ...); ``description`` names the metric the way the HPA
    does in its messages ("cpu resource utilization (percentage of request)").
    """

    type: str
    name: str
    proposal: int | None = None
    current: MetricStatus | None = None
    error: str | None = None
    reason: str = ""
    description: str = ""


@dataclass(frozen=True, slots=True)
class Notice:
    """A Podscale rule that changed or held the HPA's decision: worth an event."""

    reason: str
    message: str


# Which path chose the replicas (``Decision.path``).
REACTIVE = "reactive"
FORECAST = "forecast"
BURST = "burst"
ACTIVATION = "activation"


@dataclass(frozen=True, slots=True)
class PathProposal:
    """What one of Podscale's paths proposed this sync, with its numbers in words;
    ``replicas`` is None when the path had nothing to propose (off, untrusted, idle)."""

    path: str
    replicas: int | None
    detail: str


@dataclass(frozen=True, slots=True)
class Decision:
    """What the loop would do now, and why.

    ``failed_syncs`` is the snapshot's count carried on (0 after a sync with a usable
    metric), for the next snapshot; ``notice`` says which of Podscale's rules acted;
    ``path`` which path set the replicas and ``proposals`` what each of Podscale's paths
    the policy enables proposed (both for explanations, status and metrics).
    """

    desired_replicas: int
    recommendation: int | None
    metrics: tuple[MetricResult, ...]
    conditions: tuple[Condition, ...]
    history: History
    error: str | None = None
    rescale_reason: str = ""
    failed_syncs: int = 0
    notice: Notice | None = None
    path: str = REACTIVE
    proposals: tuple[PathProposal, ...] = ()
