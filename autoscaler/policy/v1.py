"""An ``autoscaling/v1`` HPA read as the API server reads it: as ``autoscaling/v2``.

A v1 HPA has one field for metrics, ``targetCPUUtilizationPercentage``; when a v2 HPA
with more metrics or a ``behavior`` is read through v1, the API server keeps them in
two JSON annotations, and converts them back on the way in (``pkg/apis/autoscaling/v1/
conversion.go``): ``autoscaling.alpha.kubernetes.io/metrics`` holds v1 MetricSpecs
(the v2beta1 field names: ``targetAverageValue``, ``metricName``, ...), listed before
the cpu metric, and ``autoscaling.alpha.kubernetes.io/behavior`` a v2 behavior. Both
annotations are removed once read; so is the status one (``.../conditions``,
``.../current-metrics``), which the server derives itself.
"""

from __future__ import annotations

import difflib
import json
from typing import Any, Final

from autoscaler.policy.issues import Finding

METRICS_ANNOTATION: Final = "autoscaling.alpha.kubernetes.io/metrics"
BEHAVIOR_ANNOTATION: Final = "autoscaling.alpha.kubernetes.io/behavior"
ROUND_TRIP_ANNOTATIONS: Final = (
    METRICS_ANNOTATION,
    BEHAVIOR_ANNOTATION,
    "autoscaling.alpha.kubernetes.io/conditions",
    "autoscaling.alpha.kubernetes.io/current-metrics",
)
CPU_FIELD: Final = "targetCPUUtilizationPercentage"
V1_SPEC_FIELDS: Final = ("scaleTargetRef", "minReplicas", "maxReplicas", CPU_FIELD)


def to_v2(data: dict[str, Any]) -> tuple[dict[str, Any], list[Finding]]:
    """A v1 HPA document as its v2 form (apiVersion included), and annotation problems.

    Spec fields that are not v1 fields (``metrics``, ``behavior`` among them) are
    reported as unknown and left out; a ``targetCPUUtilizationPercentage`` that is not
    an integer is left in place, for the v2 model to report.
    """
    findings: list[Finding] = []
    result = {**data, "apiVersion": "autoscaling/v2"}
    metadata = data.get("metadata")
    annotations = metadata.get("annotations") if isinstance(metadata, dict) else None
    metrics: list[Any] = []
    behavior: Any = None
    if isinstance(metadata, dict) and isinstance(annotations, dict):
        metrics = _json(annotations, METRICS_ANNOTATION, list, findings) or []
        metrics = [_metric(m) for m in metrics]
        behavior = _json(annotations, BEHAVIOR_ANNOTATION, dict, findings)
        behavior = None if behavior is None else _behavior(behavior)
        rest = {k: v for k, v in annotations.items() if k not in ROUND_TRIP_ANNOTATIONS}
        result["metadata"] = {**metadata, "annotations": rest}
        if not rest:
            del result["metadata"]["annotations"]
    spec = data.get("spec")
    if isinstance(spec, dict):
        for name in [k for k in spec if k not in V1_SPEC_FIELDS]:
            close = difflib.get_close_matches(name, V1_SPEC_FIELDS, n=1, cutoff=0.6)
            hint = f' (did you mean "{close[0]}"?)' if close else ""
            findings.append(Finding(("spec", name), "unknown field" + hint))
        spec = {k: v for k, v in spec.items() if k in V1_SPEC_FIELDS}
        cpu = spec.get(CPU_FIELD)
        if isinstance(cpu, int) and not isinstance(cpu, bool):
            del spec[CPU_FIELD]
            metrics.append(_resource("cpu", {"type": "Utilization", "averageUtilization": cpu}))
        elif cpu is None:
            spec.pop(CPU_FIELD, None)
        if metrics:
            spec["metrics"] = metrics
        if behavior is not None:
            spec["behavior"] = behavior
        result["spec"] = spec
    return result, findings


def _json(annotations: dict[str, Any], key: str, kind: type, findings: list[Finding]) -> Any:
    text = annotations.get(key)
    if text is None:
        return None
    path = ("metadata", "annotations", key)
    try:
        value = json.loads(text) if isinstance(text, str) else None
    except ValueError as exc:
        findings.append(Finding(path, f"not JSON: {exc}"))
        return None
    if not isinstance(value, kind):
        what = "a JSON list of metrics" if kind is list else "a JSON object"
        findings.append(Finding(path, f"must be {what}"))
        return None
    return value


def _metric(old: Any) -> Any:
    """One v1 (v2beta1-shaped) MetricSpec as v2, converted as the API server does."""
    if not isinstance(old, dict):
        return old  # the v2 model reports it
    kind = old.get("type")
    source = old.get(_SOURCE.get(str(kind), ""))
    if not isinstance(source, dict):
        return old
    if kind in ("Resource", "ContainerResource"):
        utilization = source.get("targetAverageUtilization")
        if utilization is not None:
            target = {"type": "Utilization", "averageUtilization": utilization}
        else:
            target = {"type": "AverageValue", "averageValue": source.get("targetAverageValue")}
        converted = _resource(source.get("name", ""), target)
        if kind == "ContainerResource":
            body = {**converted["resource"], "container": source.get("container", "")}
            return {"type": kind, "containerResource": body}
        return converted
    metric = {"name": source.get("metricName", "")}
    selector = source.get("metricSelector" if kind == "External" else "selector")
    if selector is not None:
        metric["selector"] = selector
    if kind == "Pods":
        target = {"type": "AverageValue", "averageValue": source.get("targetAverageValue")}
        return {"type": kind, "pods": {"metric": metric, "target": target}}
    if kind == "Object":
        if source.get("averageValue") is not None:
            target = {"type": "AverageValue", "averageValue": source["averageValue"]}
        else:
            target = {"type": "Value", "value": source.get("targetValue")}
        body = {"describedObject": source.get("target", {}), "metric": metric, "target": target}
        return {"type": kind, "object": body}
    if source.get("targetValue") is not None:
        target = {"type": "Value", "value": source["targetValue"]}
    else:
        target = {"type": "AverageValue", "averageValue": source.get("targetAverageValue")}
    return {"type": kind, "external": {"metric": metric, "target": target}}


def _behavior(encoded: dict[str, Any]) -> dict[str, Any] | None:
    """The behavior annotation in v2 wire names.

    The server writes its *internal* Go type there, without JSON tags, so the keys are
    Go field names (``ScaleUp``, ``PeriodSeconds``), which Go reads back ignoring case.
    """
    behavior = {}
    for direction in ("scaleUp", "scaleDown"):
        rules = _any_case(encoded, direction)
        if isinstance(rules, dict):
            behavior[direction] = _rules(rules)
    return behavior or None


def _rules(rules: dict[str, Any]) -> dict[str, Any]:
    converted: dict[str, Any] = {}
    for name in ("stabilizationWindowSeconds", "selectPolicy", "tolerance"):
        value = _any_case(rules, name)
        if value is not None:
            converted[name] = value
    policies = _any_case(rules, "policies")
    if isinstance(policies, list):
        converted["policies"] = [
            {n: _any_case(p, n) for n in ("type", "value", "periodSeconds")}
            if isinstance(p, dict)
            else p
            for p in policies
        ]
    return converted


def _any_case(mapping: dict[str, Any], name: str) -> Any:
    """``mapping[name]`` with the key matched regardless of case (as Go's decoder)."""
    folded = name.casefold()
    return next((v for k, v in mapping.items() if k.casefold() == folded), None)


_SOURCE: Final = {
    "Resource": "resource",
    "ContainerResource": "containerResource",
    "Pods": "pods",
    "Object": "object",
    "External": "external",
}


def _resource(name: Any, target: dict[str, Any]) -> dict[str, Any]:
    return {"type": "Resource", "resource": {"name": name, "target": target}}
