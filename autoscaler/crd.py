"""The ScalingPolicy CustomResourceDefinition and its field reference, made from the models.

``autoscaler crd`` prints the CRD that ``deploy/`` installs; ``scripts/gen-docs`` writes
``docs/policies.md`` from the same walk over the pydantic models of
:mod:`autoscaler.policy.model`, so a field added there appears in the CRD, in
``kubectl explain scalingpolicy.spec`` and in the docs at once (tests compare the
checked-in files with this output, and fail on a field without a description).

Kubernetes wants a *structural* schema: every node has a ``type`` (no ``$ref``, no
``anyOf`` of types), except quantities, which are ``x-kubernetes-int-or-string`` as in
the HPA's own OpenAPI. ``additionalProperties: false`` is not allowed there: the API
server prunes unknown fields instead (and ``kubectl apply`` warns about them). The
schema also carries what the HPA's OpenAPI requires (``scaleTargetRef.kind``, a metric's
``type``, ...) and the closed vocabularies (``mode``, ``selectPolicy``, ...), so a typo is
refused at ``kubectl apply`` time, and the cross-field rules as CEL
(``x-kubernetes-validations``: ``maxReplicas >= minReplicas``, one source per metric, ...;
Kubernetes 1.25+). What CEL cannot say (quantity signs, name syntax) is checked by
``autoscaler validate`` and the loop, which check everything.
"""

from __future__ import annotations

import types
import typing
from typing import Any, Final, Union

import yaml
from pydantic import BaseModel, BeforeValidator
from pydantic.fields import FieldInfo

from autoscaler.policy import checks, metric_checks, model
from autoscaler.policy.model import API_VERSION, KIND
from autoscaler.policy.quantity import as_quantity

GROUP, VERSION = API_VERSION.split("/")
PLURAL: Final = "scalingpolicies"
NAME: Final = f"{PLURAL}.{GROUP}"
# controller-gen's pattern for resource.Quantity strings (applies to strings only).
QUANTITY_PATTERN: Final = (
    r"^(\+|-)?(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))(([KMGTPE]i)|[numkMGTPE]|"
    r"([eE](\+|-)?(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))))?$"
)
_INT32_RANGE: Final = (-(2**31), 2**31 - 1)

# Fields the HPA's OpenAPI marks required although our models default them (the models
# default them so that `autoscaler validate` reports every problem of a file at once).
REQUIRED: Final[dict[str, tuple[str, ...]]] = {
    "CrossVersionObjectReference": ("kind", "name"),
    "LabelSelectorRequirement": ("key", "operator"),
    "MetricIdentifier": ("name",),
    "MetricTarget": ("type",),
    "ResourceMetricSource": ("name", "target"),
    "ContainerResourceMetricSource": ("name", "container", "target"),
    "PodsMetricSource": ("metric", "target"),
    "ObjectMetricSource": ("describedObject", "metric", "target"),
    "ExternalMetricSource": ("metric", "target"),
    "MetricSpec": ("type",),
    "HPAScalingPolicy": ("type", "value", "periodSeconds"),
}
ENUMS: Final[dict[str, tuple[str, ...]]] = {
    "ScalingPolicySpec.mode": model.MODES,
    "RolloutAwareness.awareness": model.ROLLOUT_AWARENESS,
    "MetricSpec.type": tuple(metric_checks.SOURCE_FIELDS),
    "MetricTarget.type": metric_checks._TARGET_TYPES,
    "LabelSelectorRequirement.operator": metric_checks._OPERATORS,
    "HPAScalingRules.selectPolicy": checks._SELECT_POLICIES,
    "HPAScalingPolicy.type": checks._POLICY_TYPES,
}
BOUNDS: Final[dict[str, dict[str, float]]] = {
    "ScalingPolicySpec.minReplicas": {"minimum": 0},
    "ScalingPolicySpec.maxReplicas": {"minimum": 1},
    "MetricTarget.averageUtilization": {"minimum": 1},
    "HPAScalingRules.stabilizationWindowSeconds": {
        "minimum": 0,
        "maximum": checks.MAX_STABILIZATION_WINDOW_SECONDS,
    },
    "HPAScalingPolicy.value": {"minimum": 1},
    "HPAScalingPolicy.periodSeconds": {"minimum": 1, "maximum": checks.MAX_PERIOD_SECONDS},
    "Fallback.replicas": {"minimum": 0},
    "Fallback.failureThreshold": {"minimum": 1},
    "Predictive.leadSeconds": {"minimum": 1, "maximum": checks.MAX_LEAD_SECONDS},
    "Predictive.maxError": {"minimum": 0.01},
    "Predictive.lookbackSeconds": {"minimum": 3600, "maximum": checks.MAX_LOOKBACK_SECONDS},
    "Burst.threshold": {"minimum": 1.01},
    "Burst.maxReplicas": {"minimum": 1},
    "Burst.stableWindowSeconds": {"minimum": 0, "maximum": checks.MAX_STABILIZATION_WINDOW_SECONDS},
    "Activation.cooldownSeconds": {"minimum": 0},
    "Activation.pollSeconds": {"minimum": 0.5, "maximum": 60},
}

# Defaults the API server fills in (structural defaulting), so that printer columns are
# never blank and `kubectl get -o yaml` shows what applies; the same as the models'.
DEFAULTS: Final[dict[str, Any]] = {
    "ScalingPolicySpec.minReplicas": 1,
    "ScalingPolicySpec.mode": "Enforce",
}


def _rule(rule: str, message: str, field_path: str | None = None) -> dict[str, str]:
    """One ``x-kubernetes-validations`` entry (CEL; GA in Kubernetes 1.29, on from 1.25)."""
    entry = {"rule": rule, "message": message}
    return entry if field_path is None else {**entry, "fieldPath": field_path}


_EVERY_SOURCE: Final = tuple(metric_checks.SOURCE_FIELDS.values())
_HAS_EITHER = "has(self.target.{0}) || has(self.target.{1})"
_NOT_BOTH = "!(has(self.target.{0}) && has(self.target.{1}))"

# The cross-field rules of autoscaler validate (and of the HPA's API validation) that a
# schema can say, so that `kubectl apply` refuses them on Kubernetes 1.25+ with the same
# words; older API servers ignore them and the loop reports the policy as invalid. Each
# rule guards its fields with has(): a missing field is the schema's `required` to report.
# Not here: that activation.metric and predictive.metric name a metric of spec.metrics
# (comparing names of unbounded length over the list costs the API server's CEL budget
# many times over); `autoscaler validate` and the loop check those.
VALIDATIONS: Final[dict[str, list[dict[str, str]]]] = {
    "ScalingPolicySpec": [
        _rule("!has(self.minReplicas) || self.maxReplicas >= self.minReplicas",
              "must be greater than or equal to minReplicas", ".maxReplicas"),
        _rule("!has(self.minReplicas) || self.minReplicas != 0 || (has(self.metrics) && "
              "self.metrics.exists(m, m.type == 'Object' || m.type == 'External'))",
              "must specify at least one Object or External metric to support scaling to "
              "zero replicas", ".metrics"),
        _rule("!has(self.activation) || (has(self.minReplicas) && self.minReplicas == 0)",
              "needs minReplicas: 0: activation scales from and to zero", ".activation"),
        _rule("!has(self.burst) || !has(self.burst.maxReplicas) || "
              "self.burst.maxReplicas <= self.maxReplicas",
              "must be between 1 and maxReplicas", ".burst.maxReplicas"),
    ],
    "MetricSpec": [
        _rule(" && ".join(f"(self.type != '{t}' || has(self.{f}))"
                          for t, f in metric_checks.SOURCE_FIELDS.items()),
              "must populate information for the given metric source"),
        _rule(" + ".join(f"(has(self.{f}) ? 1 : 0)" for f in _EVERY_SOURCE) + " <= 1",
              "must populate the given metric source only"),
    ],
    "ResourceMetricSource": [
        _rule("!has(self.target) || " + _HAS_EITHER.format("averageUtilization", "averageValue"),
              "must set either a target raw value or a target utilization",
              ".target.averageUtilization"),
        _rule("!has(self.target) || " + _NOT_BOTH.format("averageUtilization", "averageValue"),
              "may not set both a target raw value and a target utilization",
              ".target.averageValue"),
    ],
    "PodsMetricSource": [
        _rule("!has(self.target) || has(self.target.averageValue)",
              "must specify a positive target averageValue", ".target.averageValue"),
    ],
    "ObjectMetricSource": [
        _rule("!has(self.target) || " + _HAS_EITHER.format("value", "averageValue"),
              "must set either a target value or averageValue", ".target.averageValue"),
    ],
    "ExternalMetricSource": [
        _rule("!has(self.target) || " + _HAS_EITHER.format("value", "averageValue"),
              "must set either a target value for metric or a per-pod target",
              ".target.averageValue"),
        _rule("!has(self.target) || " + _NOT_BOTH.format("value", "averageValue"),
              "may not set both a target value for metric and a per-pod target", ".target.value"),
    ],
}  # fmt: skip
VALIDATIONS["ContainerResourceMetricSource"] = VALIDATIONS["ResourceMetricSource"]

# One line per wire field: `kubectl explain` shows it and docs/policies.md lists it. A
# model field missing here fails `autoscaler crd` (KeyError) and the tests.
DESCRIPTIONS: Final[dict[str, str]] = {
    "ScalingPolicySpec.scaleTargetRef": "The workload to scale: any kind with a /scale "
    "subresource (Deployment, StatefulSet, ReplicaSet, Argo Rollouts Rollout, ...).",
    "ScalingPolicySpec.minReplicas": "Lower bound for the replicas; default 1. 0 allows "
    "scaling to zero and needs an Object or External metric.",
    "ScalingPolicySpec.maxReplicas": "Upper bound for the replicas; at least minReplicas.",
    "ScalingPolicySpec.metrics": "The metrics to scale on; the largest proposal wins. "
    "Default: one Resource cpu metric at 80% average utilization.",
    "ScalingPolicySpec.behavior": "Scale-up and scale-down rules (stabilization windows, "
    "rate limits); unset: the HPA's defaults.",
    "ScalingPolicySpec.mode": "Podscale: Enforce (default) writes decisions to the target's "
    "/scale; DryRun only computes and reports them (status, events, metrics).",
    "ScalingPolicySpec.fallback": "Podscale: replicas to hold when the metrics cannot be read "
    "several times in a row. Unset: keep the current replicas (as the HPA).",
    "ScalingPolicySpec.rollout": "Podscale: what to do while the target rolls out (a "
    "Deployment's rolling update, an Argo Rollouts canary). Unset: as the HPA.",
    "RolloutAwareness.awareness": '"Off" (default; quoted, YAML reads a bare Off as false) '
    "scales as the HPA, counting surge and canary "
    "pods; HoldAndCap never scales down and scales up only as far as the stable revision's "
    "pods ask for, until the rollout completes (Deployments and Argo Rollouts, with the "
    "watch cache on).",
    "CrossVersionObjectReference.apiVersion": "API group and version of the object, e.g. "
    "apps/v1; default apps/v1 for a scale target.",
    "CrossVersionObjectReference.kind": "Kind of the object, e.g. Deployment.",
    "CrossVersionObjectReference.name": "Name of the object, in the policy's namespace.",
    "LabelSelector.matchLabels": "Labels that must all match exactly.",
    "LabelSelector.matchExpressions": "Set-based requirements that must all match.",
    "LabelSelectorRequirement.key": "The label key.",
    "LabelSelectorRequirement.operator": "How the key relates to the values.",
    "LabelSelectorRequirement.values": "Values for In and NotIn; empty for Exists and "
    "DoesNotExist.",
    "MetricIdentifier.name": "The metric's name (a declared metric for Prometheus-backed sources).",
    "MetricIdentifier.selector": "Narrows the metric's series by label; unset: all of them.",
    "MetricTarget.type": "Which of value, averageValue or averageUtilization is the target.",
    "MetricTarget.value": "Target for the metric's total value (quantity).",
    "MetricTarget.averageValue": "Target for the value per pod (quantity): total / pods.",
    "MetricTarget.averageUtilization": "Target percentage of the pods' resource requests "
    "(Resource and ContainerResource only); the pods must set requests.",
    "ResourceMetricSource.name": "cpu or memory.",
    "ResourceMetricSource.target": "The value to aim for.",
    "ContainerResourceMetricSource.name": "cpu or memory.",
    "ContainerResourceMetricSource.container": "The container whose usage counts; the "
    "others (sidecars) are ignored.",
    "ContainerResourceMetricSource.target": "The value to aim for.",
    "PodsMetricSource.metric": "A per-pod metric, averaged over the target's pods.",
    "PodsMetricSource.target": "The value to aim for; only AverageValue.",
    "ObjectMetricSource.describedObject": "The object the metric describes (e.g. an Ingress).",
    "ObjectMetricSource.metric": "The object's metric.",
    "ObjectMetricSource.target": "The value to aim for: Value or AverageValue.",
    "ExternalMetricSource.metric": "A metric not tied to any Kubernetes object (a queue).",
    "ExternalMetricSource.target": "The value to aim for: Value or AverageValue.",
    "MetricSpec.type": "Which source below is set; exactly that one.",
    "MetricSpec.resource": "CPU or memory of the target's pods (metrics.k8s.io, or "
    "Prometheus with autoscaler run --resource-metrics prometheus).",
    "MetricSpec.containerResource": "CPU or memory of one container of the target's pods.",
    "MetricSpec.pods": "A custom metric per pod (e.g. requests per second).",
    "MetricSpec.object": "A metric of another object in the namespace.",
    "MetricSpec.external": "A metric from outside the cluster (e.g. a queue length).",
    "HorizontalPodAutoscalerBehavior.scaleUp": "Rules when the proposal is above the current "
    "replicas. Default: no window; +4 pods or +100% per 15 s, whichever is more.",
    "HorizontalPodAutoscalerBehavior.scaleDown": "Rules when the proposal is below the current "
    "replicas. Default: 300 s window (the controller's setting); -100% per 15 s.",
    "HPAScalingRules.stabilizationWindowSeconds": "Seconds of past recommendations to consider: "
    "scale down to the highest (scale up to the lowest) of the window.",
    "HPAScalingRules.selectPolicy": "Which policy wins when several apply: Max (the largest "
    "change, default), Min, or Disabled (never scale in this direction).",
    "HPAScalingRules.policies": "Rate limits; at least one when the rules are given.",
    "HPAScalingRules.tolerance": "Ignore changes smaller than this ratio (quantity, e.g. 0.05); "
    "default the controller's --tolerance (0.1).",
    "HPAScalingPolicy.type": "Pods (a number of pods) or Percent (of the current replicas).",
    "HPAScalingPolicy.value": "How many pods, or what percent, per period.",
    "HPAScalingPolicy.periodSeconds": "The period the limit applies over (1-1800 s).",
    "Fallback.replicas": "Replicas to set while the metrics keep failing.",
    "Fallback.failureThreshold": "Consecutive failed syncs before the fallback applies; default 3.",
    "ScalingPolicySpec.predictive": "Podscale: scale up ahead of a forecast of the load, fitted "
    "on the metric's history; only ever earlier than the HPA, never lower (docs/beyond-hpa.md).",
    "Predictive.leadSeconds": "How far ahead to forecast: pod start-up + readiness + a sync; "
    "default 60.",
    "Predictive.maxError": "The forecast switches itself off while its recent error (mean "
    "absolute error / mean load) is above this, and on again below 0.8 times it; default 0.3.",
    "Predictive.metric": "The metric to forecast (a name in metrics); default every metric.",
    "Predictive.lookbackSeconds": "How much history the forecast is fitted on; default 14 days.",
    "ScalingPolicySpec.burst": "Podscale: when a metric reads threshold times its target, scale "
    "at once past the scale-up rate limits; no scale-down until a stable window passes.",
    "Burst.threshold": "Current / target ratio that starts a burst; default 2.",
    "Burst.maxReplicas": "The most replicas a burst scales to at once; default maxReplicas.",
    "Burst.stableWindowSeconds": "Seconds without a burst before scale-downs resume; default 60.",
    "ScalingPolicySpec.activation": "Podscale: with minReplicas 0, wake from zero when a metric "
    "crosses a threshold and return to zero after a cooldown without activity (KEDA-style).",
    "Activation.metric": "The metric that wakes the target (an External or Object metric of "
    "metrics, by name: a target at zero has no pods to read a Pods metric from).",
    "Activation.threshold": "Active while the metric reads above this quantity; default 0.",
    "Activation.cooldownSeconds": "Seconds without activity before scaling to zero; default 300.",
    "Activation.pollSeconds": "How often the metric of a target at zero is read; default 2.",
}


class Field(typing.NamedTuple):
    """One property of a model as the CRD and the docs see it."""

    owner: str
    name: str
    annotation: Any
    required: bool

    @property
    def key(self) -> str:
        return f"{self.owner}.{self.name}"


def fields(cls: type[BaseModel]) -> list[Field]:
    """The wire fields of ``cls`` in document order (``scaleTargetRef`` first, as the HPA)."""
    owner = cls.__name__
    out = [
        Field(owner, info.alias or name, _annotation(info), _required(owner, info))
        for name, info in cls.model_fields.items()
    ]
    return sorted(out, key=lambda f: f.name != "scaleTargetRef")


def _annotation(info: FieldInfo) -> Any:
    """The field's type with its constraints (pydantic moves ``Int32``'s into metadata)."""
    if not info.metadata:
        return info.annotation
    return typing.Annotated[(info.annotation, *info.metadata)]


def _required(owner: str, info: FieldInfo) -> bool:
    return info.is_required() or (info.alias or "") in REQUIRED.get(owner, ())


def _unwrap(annotation: Any) -> tuple[Any, list[Any]]:
    """(bare type, Annotated metadata) with ``X | None`` reduced to ``X``."""
    metadata: list[Any] = []
    while True:
        origin = typing.get_origin(annotation)
        if origin in (Union, types.UnionType):
            annotation = next(a for a in typing.get_args(annotation) if a is not type(None))
        elif origin is typing.Annotated:
            annotation, *extra = typing.get_args(annotation)
            metadata += extra
        else:
            return annotation, metadata


def model_of(annotation: Any) -> type[BaseModel] | None:
    """The model an annotation holds, alone or as list items (``list[MetricSpec]``)."""
    bare, _ = _unwrap(annotation)
    if typing.get_origin(bare) is list:
        bare, _ = _unwrap(typing.get_args(bare)[0])
    return bare if isinstance(bare, type) and issubclass(bare, BaseModel) else None


def _is_quantity(metadata: list[Any]) -> bool:
    return any(isinstance(m, BeforeValidator) and m.func is as_quantity for m in metadata)


def _is_int32(metadata: list[Any]) -> bool:
    low = {getattr(m, "ge", None) for m in metadata}
    high = {getattr(m, "le", None) for m in metadata}
    return _INT32_RANGE[0] in low and _INT32_RANGE[1] in high


def type_schema(annotation: Any) -> dict[str, Any]:
    """The structural schema of one annotation (a model, list, map, str, int, quantity)."""
    bare, metadata = _unwrap(annotation)
    for item in metadata:  # Int32 = Annotated[int, Field(...)] nests a FieldInfo
        if isinstance(item, FieldInfo):
            metadata += item.metadata
    if _is_quantity(metadata):
        return {
            "anyOf": [{"type": "integer"}, {"type": "string"}],
            "pattern": QUANTITY_PATTERN,
            "x-kubernetes-int-or-string": True,
        }
    origin = typing.get_origin(bare)
    if origin is list:
        return {"type": "array", "items": type_schema(typing.get_args(bare)[0])}
    if origin is dict:
        return {"type": "object", "additionalProperties": type_schema(typing.get_args(bare)[1])}
    if isinstance(bare, type) and issubclass(bare, BaseModel):
        return object_schema(bare)
    if bare is str:
        return {"type": "string"}
    if bare is bool:
        return {"type": "boolean"}
    if bare is int:
        return {"type": "integer", "format": "int32" if _is_int32(metadata) else "int64"}
    if bare is float:
        return {"type": "number"}
    raise TypeError(f"no CRD schema for {annotation!r}")


def object_schema(cls: type[BaseModel]) -> dict[str, Any]:
    """An object schema for a model: described, typed properties, required, enums, bounds,
    and its CEL rules."""
    properties: dict[str, Any] = {}
    for field in fields(cls):
        schema = type_schema(field.annotation)
        schema.update(BOUNDS.get(field.key, {}))
        if field.key in ENUMS:
            schema["enum"] = list(ENUMS[field.key])
        if field.key in DEFAULTS:
            schema["default"] = DEFAULTS[field.key]
        properties[field.name] = {"description": DESCRIPTIONS[field.key], **schema}
    schema = {"type": "object", "properties": properties}
    required = [f.name for f in fields(cls) if f.required]
    if required:
        schema["required"] = required
    if cls.__name__ in VALIDATIONS:
        schema["x-kubernetes-validations"] = VALIDATIONS[cls.__name__]
    return schema


def status_schema() -> dict[str, Any]:
    """What the loop writes under ``status``, as the HPA's status plus Podscale's history."""
    int32 = {"type": "integer", "format": "int32"}
    condition = {
        "type": "object",
        "required": ["type", "status"],
        "properties": {
            "type": {"type": "string", "description": "AbleToScale, ScalingActive or ..."},
            "status": {"type": "string", "enum": ["True", "False", "Unknown"]},
            "reason": {"type": "string"},
            "message": {"type": "string"},
            "lastTransitionTime": {"type": "string", "format": "date-time"},
        },
    }
    return {
        "type": "object",
        "description": "Observed state, written by the Podscale loop (as an HPA's status).",
        "properties": {
            "observedGeneration": {"type": "integer", "format": "int64"},
            "lastScaleTime": {"type": "string", "format": "date-time"},
            "currentReplicas": {**int32, "description": "Replicas the target has."},
            "desiredReplicas": {**int32, "description": "Replicas the policy wants."},
            "targets": {
                "type": "string",
                "description": "Each metric's current value over its target, as kubectl get "
                "hpa shows TARGETS (cpu: 90%/50%, 120/100 (avg)).",
            },
            "currentMetrics": {
                "type": "array",
                "description": "The last value read for each metric (HPA MetricStatus).",
                "items": {"type": "object", "x-kubernetes-preserve-unknown-fields": True},
            },
            "conditions": {"type": "array", "items": condition},
            "history": {
                "type": "object",
                "description": "Recommendations and scale events kept across restarts "
                "(stabilization windows and rate limits); internal to Podscale.",
                "x-kubernetes-preserve-unknown-fields": True,
            },
            "path": {
                "type": "string",
                "description": "Which path set desiredReplicas: reactive (the HPA's "
                "arithmetic), forecast, burst or activation.",
            },
            "proposals": {
                "type": "array",
                "description": "What each of Podscale's paths the policy enables proposed "
                "(its details as of the last status write).",
                "items": {
                    "type": "object",
                    "required": ["path", "detail"],
                    "properties": {
                        "path": {"type": "string"},
                        "replicas": {
                            **int32,
                            "nullable": True,
                            "description": "Replicas proposed; null when the path had "
                            "nothing to propose (off, untrusted, idle).",
                        },
                        "detail": {"type": "string", "description": "Why, with the numbers."},
                    },
                },
            },
        },
    }


PRINTER_COLUMNS: Final = [
    {"name": "Reference", "type": "string", "jsonPath": ".spec.scaleTargetRef.name"},
    {"name": "Kind", "type": "string", "jsonPath": ".spec.scaleTargetRef.kind", "priority": 1},
    {"name": "Targets", "type": "string", "jsonPath": ".status.targets"},
    {"name": "MinPods", "type": "integer", "jsonPath": ".spec.minReplicas"},
    {"name": "MaxPods", "type": "integer", "jsonPath": ".spec.maxReplicas"},
    {"name": "Replicas", "type": "integer", "jsonPath": ".status.currentReplicas"},
    {"name": "Desired", "type": "integer", "jsonPath": ".status.desiredReplicas"},
    {"name": "Mode", "type": "string", "jsonPath": ".spec.mode"},
    {"name": "Path", "type": "string", "jsonPath": ".status.path", "priority": 1},
    {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"},
]


def crd() -> dict[str, Any]:
    """The ``apiextensions.k8s.io/v1`` CustomResourceDefinition of ScalingPolicy."""
    schema = {
        "type": "object",
        "description": "How to scale one workload: an autoscaling/v2 HPA spec plus Podscale's "
        "extensions. See docs/policies.md.",
        "required": ["spec"],
        "properties": {
            "apiVersion": {"type": "string"},
            "kind": {"type": "string"},
            "metadata": {"type": "object"},
            "spec": object_schema(model.ScalingPolicySpec),
            "status": status_schema(),
        },
    }
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": NAME, "labels": {"app.kubernetes.io/name": "podscale"}},
        "spec": {
            "group": GROUP,
            "scope": "Namespaced",
            "names": {
                "plural": PLURAL,
                "singular": "scalingpolicy",
                "kind": KIND,
                "listKind": f"{KIND}List",
                "shortNames": ["sp"],
                "categories": ["podscale"],
            },
            "versions": [
                {
                    "name": VERSION,
                    "served": True,
                    "storage": True,
                    "subresources": {"status": {}},
                    "additionalPrinterColumns": PRINTER_COLUMNS,
                    "schema": {"openAPIV3Schema": schema},
                }
            ],
        },
    }


HEADER: Final = "# Generated by `autoscaler crd` from autoscaler/policy/model.py: do not edit.\n"


def crd_yaml() -> str:
    """The CRD as the YAML file checked in under ``deploy/base/crd/``."""
    return HEADER + yaml.safe_dump(crd(), sort_keys=False, width=100)


def run_crd(*, out: typing.TextIO) -> int:
    """``autoscaler crd``: print the CRD (``kubectl apply -f -`` takes it as it is)."""
    out.write(crd_yaml())
    return 0
