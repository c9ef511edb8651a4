"""An HPA autoscaling/v2 spec (camelCase wire names) as the core's ``Policy``.

Used for the ``policy`` of a snapshot and for ScalingPolicy documents once they are
validated; the API server's defaults are applied here (minReplicas 1, cpu at 80%).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from autoscaler.core.model import (
    CONTAINER_RESOURCE,
    EXTERNAL,
    HOLD_AND_CAP,
    METRIC_SOURCE_TYPES,
    OBJECT,
    PODS,
    RESOURCE,
    ROLLOUT_OFF,
    UTILIZATION,
    Activation,
    Behavior,
    Burst,
    Fallback,
    MetricSpec,
    MetricTarget,
    ObjectReference,
    Policy,
    Predictive,
    ScalingPolicy,
    ScalingRules,
)
from autoscaler.core.quantity import QuantityError, parse_quantity
from autoscaler.documents.read import (
    fail,
    integer,
    listing,
    mapping,
    milli,
    number,
    string,
)

DEFAULT_METRIC = MetricSpec(RESOURCE, "cpu", MetricTarget(UTILIZATION, average_utilization=80))
_SOURCE_KEYS = {
    RESOURCE: "resource",
    CONTAINER_RESOURCE: "containerResource",
    PODS: "pods",
    OBJECT: "object",
    EXTERNAL: "external",
}


def policy_from_spec(spec: Mapping[str, Any], path: str = "policy") -> Policy:
    """An HPA spec (camelCase autoscaling/v2 names) as the core's Policy, API defaults applied."""
    spec = mapping(spec, path)
    if "maxReplicas" not in spec:
        raise fail(f"{path}.maxReplicas", "required")
    max_replicas = integer(spec["maxReplicas"], f"{path}.maxReplicas", minimum=1)
    min_value = spec.get("minReplicas")
    min_replicas = 1 if min_value is None else integer(min_value, f"{path}.minReplicas", minimum=0)
    if min_replicas > max_replicas:
        raise fail(
            f"{path}.maxReplicas", f"must be greater than or equal to minReplicas ({min_replicas})"
        )
    raw_metrics = listing(spec.get("metrics"), f"{path}.metrics")
    metrics = tuple(_metric(m, f"{path}.metrics[{i}]") for i, m in enumerate(raw_metrics))
    behavior = spec.get("behavior")
    metrics = metrics or (DEFAULT_METRIC,)
    return Policy(
        max_replicas=max_replicas,
        min_replicas=min_replicas,
        metrics=metrics,
        behavior=None if behavior is None else _behavior(behavior, f"{path}.behavior"),
        fallback=_fallback(spec.get("fallback"), f"{path}.fallback"),
        rollout_awareness=_rollout_awareness(spec.get("rollout"), f"{path}.rollout"),
        predictive=_predictive(spec.get("predictive"), f"{path}.predictive", metrics),
        burst=_burst(spec.get("burst"), f"{path}.burst", max_replicas),
        activation=_activation(spec.get("activation"), path, metrics, min_replicas),
    )


# Podscale's paths (core.paths), as in a ScalingPolicy spec (docs/policies.md). Each is
# off when absent or null; the edge-only knobs (lookbackSeconds, pollSeconds) travel
# with the policy so that a recorded snapshot is the whole policy.
_PREDICTIVE_KEYS = ("leadSeconds", "maxError", "metric", "lookbackSeconds")
_BURST_KEYS = ("threshold", "maxReplicas", "stableWindowSeconds")
_ACTIVATION_KEYS = ("metric", "threshold", "cooldownSeconds", "pollSeconds")
# The metric types that can be read at zero pods: a Resource or Pods metric has no pods
# to read there, so a target woken by one would never wake.
_ACTIVATION_TYPES = (EXTERNAL, OBJECT)
MAX_LEAD_SECONDS = 3600


def _extension(value: Any, path: str, keys: tuple[str, ...]) -> Mapping[str, Any] | None:
    """An extension's mapping (None when absent or null), no field but ``keys``."""
    if value is None:
        return None
    raw = mapping(value, path)
    unknown = sorted(set(raw) - set(keys))
    if unknown:
        raise fail(f"{path}.{unknown[0]}", f"unknown field (known: {', '.join(keys)})")
    return raw


def _seconds(raw: Mapping[str, Any], path: str, key: str, default: float) -> float:
    return default if raw.get(key) is None else number(raw[key], path, key)


def _metric_name(raw: Mapping[str, Any], path: str, metrics: tuple[MetricSpec, ...]) -> str:
    """``metric``: the name of one of the policy's metrics."""
    name = string(raw.get("metric"), path, "metric")
    if not any(m.name == name for m in metrics):
        known = ", ".join(sorted({m.name for m in metrics if m.name}))
        raise fail(path, f"names no metric of this policy ({known})", "metric")
    return name


def _predictive(value: Any, path: str, metrics: tuple[MetricSpec, ...]) -> Predictive | None:
    raw = _extension(value, path, _PREDICTIVE_KEYS)
    if raw is None:
        return None
    defaults = Predictive()
    lead = _seconds(raw, path, "leadSeconds", defaults.lead_seconds)
    if not 0 < lead <= MAX_LEAD_SECONDS:
        raise fail(
            path, f"must be above 0 and at most {MAX_LEAD_SECONDS} (got {lead:g})", "leadSeconds"
        )
    max_error = _seconds(raw, path, "maxError", defaults.max_error)
    if max_error <= 0:
        raise fail(path, f"must be above 0 (got {max_error:g})", "maxError")
    lookback = _seconds(raw, path, "lookbackSeconds", defaults.lookback_seconds)
    if lookback <= 0:
        raise fail(path, f"must be above 0 (got {lookback:g})", "lookbackSeconds")
    metric = "" if raw.get("metric") is None else _metric_name(raw, path, metrics)
    return Predictive(lead, max_error, metric, lookback)


def _burst(value: Any, path: str, max_replicas: int) -> Burst | None:
    raw = _extension(value, path, _BURST_KEYS)
    if raw is None:
        return None
    defaults = Burst()
    threshold = _seconds(raw, path, "threshold", defaults.threshold)
    if threshold <= 1:
        raise fail(path, f"must be above 1 (got {threshold:g})", "threshold")
    ceiling = raw.get("maxReplicas")
    if ceiling is not None:
        ceiling = integer(ceiling, path, "maxReplicas", minimum=1)
        if ceiling > max_replicas:
            raise fail(path, f"must be at most maxReplicas ({max_replicas})", "maxReplicas")
    window = _seconds(raw, path, "stableWindowSeconds", defaults.stable_window_seconds)
    return Burst(threshold, ceiling, window)


def _activation(
    value: Any, policy: str, metrics: tuple[MetricSpec, ...], min_replicas: int
) -> Activation | None:
    path = f"{policy}.activation"
    raw = _extension(value, path, _ACTIVATION_KEYS)
    if raw is None:
        return None
    if min_replicas != 0:
        raise fail(f"{policy}.minReplicas", f"must be 0 with activation (got {min_replicas})")
    name = _metric_name(raw, path, metrics)
    kinds = {m.type for m in metrics if m.name == name}
    if not kinds & set(_ACTIVATION_TYPES):
        raise fail(
            path,
            "must name an External or Object metric: at zero there are no pods to read",
            "metric",
        )
    defaults = Activation(name)
    threshold = (
        defaults.threshold
        if raw.get("threshold") is None
        else milli(raw["threshold"], path, "threshold")
    )
    cooldown = _seconds(raw, path, "cooldownSeconds", defaults.cooldown_seconds)
    poll = _seconds(raw, path, "pollSeconds", defaults.poll_seconds)
    if poll <= 0:
        raise fail(path, f"must be above 0 (got {poll:g})", "pollSeconds")
    return Activation(name, threshold, cooldown, poll)


def _fallback(value: Any, path: str) -> Fallback | None:
    """Podscale's ``fallback`` (as in a ScalingPolicy spec); None when absent."""
    if value is None:
        return None
    raw = mapping(value, path)
    if "replicas" not in raw:
        raise fail(f"{path}.replicas", "required")
    return Fallback(
        replicas=integer(raw["replicas"], f"{path}.replicas", minimum=0),
        failure_threshold=integer(
            raw.get("failureThreshold", 3), f"{path}.failureThreshold", minimum=1
        ),
    )


def _rollout_awareness(value: Any, path: str) -> str:
    """Podscale's ``rollout.awareness`` (as in a ScalingPolicy spec); Off when absent."""
    if value is None:
        return ROLLOUT_OFF
    awareness = mapping(value, path).get("awareness", ROLLOUT_OFF)
    if awareness not in (ROLLOUT_OFF, HOLD_AND_CAP):
        raise fail(f"{path}.awareness", f"must be {ROLLOUT_OFF} or {HOLD_AND_CAP}")
    return str(awareness)


def _metric(value: Any, path: str) -> MetricSpec:
    raw = mapping(value, path)
    kind = string(raw.get("type"), f"{path}.type")
    if kind not in METRIC_SOURCE_TYPES:
        # Not a snapshot error: the decision reports it as InvalidMetricSourceType.
        return MetricSpec(kind, "", MetricTarget(""))
    key = _SOURCE_KEYS[kind]
    source = mapping(raw.get(key), f"{path}.{key}")
    if not source:
        raise fail(f"{path}.{key}", f"required for a metric of type {kind}")
    target = _target(source.get("target"), f"{path}.{key}.target")
    if kind in (RESOURCE, CONTAINER_RESOURCE):
        container = (
            string(source.get("container"), f"{path}.{key}.container")
            if kind == CONTAINER_RESOURCE
            else ""
        )
        return MetricSpec(
            kind, string(source.get("name"), f"{path}.{key}.name"), target, container=container
        )
    metric = mapping(source.get("metric"), f"{path}.{key}.metric")
    name = string(metric.get("name"), f"{path}.{key}.metric.name")
    selector = _selector_text(metric.get("selector"))
    described = None
    if kind == OBJECT:
        ref = mapping(source.get("describedObject"), f"{path}.{key}.describedObject")
        described = ObjectReference(
            string(ref.get("kind"), f"{path}.{key}.describedObject.kind"),
            string(ref.get("name"), f"{path}.{key}.describedObject.name"),
            str(ref.get("apiVersion", "")),
        )
    return MetricSpec(kind, name, target, described_object=described, selector=selector)


def _target(value: Any, path: str) -> MetricTarget:
    raw = mapping(value, path)
    if not raw:
        raise fail(path, "required")
    utilization = raw.get("averageUtilization")
    return MetricTarget(
        type=string(raw.get("type"), f"{path}.type"),
        value=_positive(raw.get("value"), f"{path}.value"),
        average_value=_positive(raw.get("averageValue"), f"{path}.averageValue"),
        average_utilization=(
            None
            if utilization is None
            else integer(utilization, f"{path}.averageUtilization", minimum=1)
        ),
    )


def _positive(value: Any, path: str) -> int | None:
    """A target quantity in milli-units: positive, as the API server requires (the
    decision divides by it), after rounding up as MilliValue() does ("1n" is 1)."""
    if value is None:
        return None
    result = milli(value, path)
    if result <= 0:
        raise fail(path, f"must be positive (got {value!r})")
    return result


def _selector_text(value: Any) -> str:
    """A metric selector in Kubernetes' string form, for messages only."""
    if not isinstance(value, Mapping):
        return ""
    parts = [f"{k}={v}" for k, v in sorted(mapping(value.get("matchLabels"), "").items())]
    for expr in value.get("matchExpressions") or []:
        if isinstance(expr, Mapping):
            values = ",".join(str(v) for v in expr.get("values") or [])
            parts.append(f"{expr.get('key')} {str(expr.get('operator', '')).lower()} ({values})")
    return ",".join(parts)


def _behavior(value: Any, path: str) -> Behavior:
    raw = mapping(value, path)
    up, down = raw.get("scaleUp"), raw.get("scaleDown")
    return Behavior(
        scale_up=None if up is None else _rules(up, f"{path}.scaleUp"),
        scale_down=None if down is None else _rules(down, f"{path}.scaleDown"),
    )


def _rules(value: Any, path: str) -> ScalingRules:
    raw = mapping(value, path)
    window = raw.get("stabilizationWindowSeconds")
    select = raw.get("selectPolicy")
    if select is not None and select not in ("Max", "Min", "Disabled"):
        raise fail(f"{path}.selectPolicy", f"must be Max, Min or Disabled (got {select!r})")
    policies = raw.get("policies")
    tolerance = raw.get("tolerance")
    return ScalingRules(
        stabilization_window_seconds=(
            None
            if window is None
            else integer(window, f"{path}.stabilizationWindowSeconds", minimum=0)
        ),
        select_policy=select,
        policies=None
        if policies is None
        else tuple(
            _scaling_policy(p, f"{path}.policies[{i}]")
            for i, p in enumerate(listing(policies, path))
        ),
        tolerance=None if tolerance is None else _tolerance(tolerance, f"{path}.tolerance"),
    )


def _scaling_policy(value: Any, path: str) -> ScalingPolicy:
    raw = mapping(value, path)
    kind = raw.get("type")
    if kind not in ("Pods", "Percent"):
        raise fail(f"{path}.type", f"must be Pods or Percent (got {kind!r})")
    return ScalingPolicy(
        kind,
        integer(raw.get("value"), f"{path}.value", minimum=1),
        integer(raw.get("periodSeconds"), f"{path}.periodSeconds", minimum=1),
    )


def _tolerance(value: Any, path: str) -> float:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return number(value, path)
    try:
        exact = parse_quantity(str(value))
    except QuantityError as exc:
        raise fail(path, str(exc)) from None
    if exact < 0:
        raise fail(path, f"must be at least 0 (got {value})")
    return float(exact)
