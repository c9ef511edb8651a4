"""The ScalingPolicy document as pydantic models, in HPA ``autoscaling/v2`` wire names.

The models check only *shape*: unknown fields (typos) are rejected, types are strict
(``"2"`` is not an integer, ``yes`` is not a string) and quantities must be
Kubernetes quantity strings. The HPA API server's *rules* (``minReplicas >= 1``, one
metric source per entry, ...) live in :mod:`autoscaler.policy.checks`, so that one
document reports all its rule violations at once instead of stopping at the first.

Fields keep the optionality they have in the Kubernetes Go types: a field that is a
pointer there is ``None`` here when not written; a field that is a value there has the
Go zero value as default, so that a missing ``target.type`` is reported by the same
rule ("must specify a metric target type") as an empty one.

Podscale extensions sit beside the HPA fields of ``spec`` and are declared only on
:class:`ScalingPolicySpec` (never on the HPA spec models): ``mode``, ``fallback``,
``rollout``, ``predictive``, ``burst`` and ``activation`` today. Later extensions are
added there as new optional fields, so every existing document stays valid.
"""

from __future__ import annotations

from typing import Annotated, Any, Final, Self

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field
from pydantic.alias_generators import to_camel

from autoscaler.policy.quantity import as_quantity

API_VERSION: Final = "podscale.dev/v1alpha1"
KIND: Final = "ScalingPolicy"
MODES: Final = ("Enforce", "DryRun")
ROLLOUT_AWARENESS: Final = ("Off", "HoldAndCap")

Quantity = Annotated[str, BeforeValidator(as_quantity)]
# Every HPA integer is an int32 on the wire; a bigger number would be refused by the
# API server's decoder, so we refuse it too.
Int32 = Annotated[int, Field(ge=-(2**31), le=2**31 - 1)]


class Wire(BaseModel):
    """Base of every wire model: camelCase aliases, strict types, no unknown fields."""

    model_config = ConfigDict(
        extra="forbid",
        strict=True,
        frozen=True,
        alias_generator=to_camel,
        populate_by_name=True,
    )

    def wire(self) -> dict[str, Any]:
        """This model as plain data in wire names, leaving out unset optional fields."""
        return self.model_dump(by_alias=True, exclude_none=True)


class CrossVersionObjectReference(Wire):
    """The object a policy scales (``scaleTargetRef``) or an Object metric describes."""

    api_version: str | None = None
    kind: str = ""
    name: str = ""


class LabelSelectorRequirement(Wire):
    key: str = ""
    operator: str = ""
    values: list[str] | None = None


class LabelSelector(Wire):
    match_labels: dict[str, str] | None = None
    match_expressions: list[LabelSelectorRequirement] | None = None


class MetricIdentifier(Wire):
    name: str = ""
    selector: LabelSelector | None = None


class MetricTarget(Wire):
    """What value of a metric the policy aims for; ``type`` says which field counts."""

    type: str = ""
    value: Quantity | None = None
    average_value: Quantity | None = None
    average_utilization: Int32 | None = None


class ResourceMetricSource(Wire):
    name: str = ""
    target: MetricTarget = MetricTarget()


class ContainerResourceMetricSource(Wire):
    name: str = ""
    container: str = ""
    target: MetricTarget = MetricTarget()


class PodsMetricSource(Wire):
    metric: MetricIdentifier = MetricIdentifier()
    target: MetricTarget = MetricTarget()


class ObjectMetricSource(Wire):
    described_object: CrossVersionObjectReference = CrossVersionObjectReference()
    metric: MetricIdentifier = MetricIdentifier()
    target: MetricTarget = MetricTarget()


class ExternalMetricSource(Wire):
    metric: MetricIdentifier = MetricIdentifier()
    target: MetricTarget = MetricTarget()


class MetricSpec(Wire):
    """One entry of ``spec.metrics``: a ``type`` and the one source it names."""

    type: str = ""
    resource: ResourceMetricSource | None = None
    container_resource: ContainerResourceMetricSource | None = None
    pods: PodsMetricSource | None = None
    object: ObjectMetricSource | None = None
    external: ExternalMetricSource | None = None

    @property
    def name(self) -> str:
        """The resource name (Resource, ContainerResource) or the metric name, as the
        decision core names the metric; "" when the source is missing."""
        for source in (self.resource, self.container_resource):
            if source is not None:
                return source.name
        for holder in (self.pods, self.object, self.external):
            if holder is not None:
                return holder.metric.name
        return ""


class HPAScalingPolicy(Wire):
    type: str = ""
    value: Int32 = 0
    period_seconds: Int32 = 0


class HPAScalingRules(Wire):
    """One direction of ``behavior``; unset fields take the API server's defaults."""

    stabilization_window_seconds: Int32 | None = None
    select_policy: str | None = None
    policies: list[HPAScalingPolicy] | None = None
    tolerance: Quantity | None = None


class HorizontalPodAutoscalerBehavior(Wire):
    scale_up: HPAScalingRules | None = None
    scale_down: HPAScalingRules | None = None


class AutoscalingSpec(Wire):
    """The autoscaling part of an HPA spec, without the target reference.

    This is what a decision needs (the ``policy`` of a ``decide`` snapshot).
    """

    min_replicas: Int32 | None = None
    max_replicas: Int32
    metrics: list[MetricSpec] | None = None
    behavior: HorizontalPodAutoscalerBehavior | None = None

    def with_defaults(self) -> Self:
        """A copy with the defaults the HPA API server applies.

        As ``pkg/apis/autoscaling/v2/defaults.go``: ``minReplicas`` 1; no metrics means
        one cpu Utilization 80 metric; behavior defaults only when ``behavior`` is
        given, and then a written rules object overrides only the fields it sets. The
        scale-down stabilization window stays unset: the controller fills it from its
        ``--horizontal-pod-autoscaler-downscale-stabilization`` setting.
        """
        behavior = self.behavior
        if behavior is not None:
            behavior = HorizontalPodAutoscalerBehavior(
                scale_up=_merge_rules(behavior.scale_up, _SCALE_UP_DEFAULTS),
                scale_down=_merge_rules(behavior.scale_down, _SCALE_DOWN_DEFAULTS),
            )
        return self.model_copy(
            update={
                "min_replicas": 1 if self.min_replicas is None else self.min_replicas,
                "metrics": self.metrics or [_DEFAULT_CPU_METRIC],
                "behavior": behavior,
            }
        )


class HorizontalPodAutoscalerSpec(AutoscalingSpec):
    """An ``autoscaling/v2`` HorizontalPodAutoscalerSpec, field for field."""

    scale_target_ref: CrossVersionObjectReference


class Fallback(Wire):
    """Replicas to hold after ``failureThreshold`` consecutive failed metric reads."""

    replicas: Int32
    failure_threshold: Int32 = 3


def _quoted_off(value: Any) -> Any:
    """YAML 1.1 (PyYAML, and kubectl's parser) reads a bare ``Off`` as false: say so."""
    if isinstance(value, bool):
        raise ValueError(f'must be a string (got {str(value).lower()}): write "Off" in quotes')
    return value


class RolloutAwareness(Wire):
    """What to do while the target rolls out (``autoscaler.core.rules`` has the rule).

    ``Off`` (the default) scales as the HPA does, counting surge and canary pods;
    ``HoldAndCap`` never scales down and scales up only as far as the stable revision's
    pods ask for, until the rollout completes.
    """

    awareness: Annotated[str, BeforeValidator(_quoted_off)] = "Off"


class Predictive(Wire):
    """Scale up ahead of a forecast of the metric (``autoscaler.core.paths``)."""

    lead_seconds: float = 60.0
    max_error: float = 0.3
    metric: str | None = None
    lookback_seconds: float = 14 * 86_400.0


class Burst(Wire):
    """Knative-style panic mode: scale at once when a metric reads far above target."""

    threshold: float = 2.0
    max_replicas: Int32 | None = None
    stable_window_seconds: float = 60.0


class Activation(Wire):
    """Scale to and from zero on one metric (with ``minReplicas: 0``), as KEDA does."""

    metric: str
    threshold: Quantity = "0"
    cooldown_seconds: float = 300.0
    poll_seconds: float = 2.0


EXTENSION_FIELDS: Final = ("mode", "fallback", "rollout", "predictive", "burst", "activation")
DECISION_EXTENSIONS: Final = ("fallback", "rollout", "predictive", "burst", "activation")


class ScalingPolicySpec(HorizontalPodAutoscalerSpec):
    """The HPA spec plus Podscale's extensions (documented in the module docstring).

    ``mode``: ``Enforce`` writes the decisions to the target's scale subresource;
    ``DryRun`` only computes and reports them (to trial a policy beside a real HPA).
    """

    mode: str = "Enforce"
    fallback: Fallback | None = None
    rollout: RolloutAwareness | None = None
    predictive: Predictive | None = None
    burst: Burst | None = None
    activation: Activation | None = None

    @property
    def rollout_awareness(self) -> str:
        return "Off" if self.rollout is None else self.rollout.awareness

    def hpa_spec(self) -> dict[str, Any]:
        """The HPA part of this spec, with API server defaults, in wire names.

        The dict carries exactly the ``autoscaling/v2`` HorizontalPodAutoscalerSpec
        fields (``scaleTargetRef``, ``minReplicas``, ``maxReplicas``, ``metrics``,
        ``behavior``), which ``autoscaler.documents.policy_from_spec`` consumes.
        """
        defaulted = self.with_defaults()
        return defaulted.model_dump(by_alias=True, exclude_none=True, exclude=set(EXTENSION_FIELDS))

    def decision_spec(self) -> dict[str, Any]:
        """What the decision reads: the HPA part plus the rules of Podscale's that
        ``autoscaler.core`` applies (``fallback``, ``rollout``, ``predictive``, ``burst``,
        ``activation``), in wire names."""
        spec = self.hpa_spec()
        extensions = self.model_dump(
            by_alias=True, exclude_none=True, include=set(DECISION_EXTENSIONS)
        )
        return {**spec, **extensions}


class ObjectMeta(Wire):
    name: str
    namespace: str = "default"
    labels: dict[str, str] | None = None
    annotations: dict[str, str] | None = None


class ScalingPolicy(Wire):
    """A ``podscale.dev/v1alpha1`` ScalingPolicy document."""

    api_version: str = API_VERSION
    kind: str = KIND
    metadata: ObjectMeta
    spec: ScalingPolicySpec

    @property
    def key(self) -> tuple[str, str]:
        """(namespace, name): what must be unique across all loaded policies."""
        return (self.metadata.namespace, self.metadata.name)

    def hpa_spec(self) -> dict[str, Any]:
        """Shortcut for ``spec.hpa_spec()``: the normalized HPA spec as wire data."""
        return self.spec.hpa_spec()


class HorizontalPodAutoscaler(Wire):
    """A native ``autoscaling/v2`` or ``v2beta2`` HPA manifest (``status`` is ignored;
    a ``v1`` one is read through :func:`autoscaler.policy.v1.to_v2` first)."""

    api_version: str
    kind: str
    metadata: ObjectMeta
    spec: HorizontalPodAutoscalerSpec
    status: dict[str, Any] | None = None


_DEFAULT_CPU_METRIC: Final = MetricSpec(
    type="Resource",
    resource=ResourceMetricSource(
        name="cpu", target=MetricTarget(type="Utilization", average_utilization=80)
    ),
)
_SCALE_UP_DEFAULTS: Final = HPAScalingRules(
    stabilization_window_seconds=0,
    select_policy="Max",
    policies=[
        HPAScalingPolicy(type="Pods", value=4, period_seconds=15),
        HPAScalingPolicy(type="Percent", value=100, period_seconds=15),
    ],
)
_SCALE_DOWN_DEFAULTS: Final = HPAScalingRules(
    select_policy="Max",
    policies=[HPAScalingPolicy(type="Percent", value=100, period_seconds=15)],
)


def _merge_rules(given: HPAScalingRules | None, defaults: HPAScalingRules) -> HPAScalingRules:
    """``defaults`` overridden by every field ``given`` sets (``policies: []`` included)."""
    if given is None:
        return defaults
    written = {name: getattr(given, name) for name in given.model_fields_set}
    return defaults.model_copy(update={k: v for k, v in written.items() if v is not None})
