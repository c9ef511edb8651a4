"""The HPA API server's validation rules for ``spec.metrics`` entries, ported.

Source: ``validateMetricSpec`` and the functions it calls in
``pkg/apis/autoscaling/validation/validation.go``: one ``type``, exactly the matching
source populated, and per source the fields its target must (and must not) set.
"""

from __future__ import annotations

import re
from typing import Final

from autoscaler.policy.issues import FieldPath, Finding, show
from autoscaler.policy.model import (
    CrossVersionObjectReference,
    ExternalMetricSource,
    LabelSelector,
    MetricIdentifier,
    MetricSpec,
    MetricTarget,
    ObjectMetricSource,
    PodsMetricSource,
)
from autoscaler.policy.quantity import quantity_sign

SOURCE_FIELDS: Final = {
    "Resource": "resource",
    "ContainerResource": "containerResource",
    "Pods": "pods",
    "Object": "object",
    "External": "external",
}
_TARGET_TYPES: Final = ("Utilization", "Value", "AverageValue")
_OPERATORS: Final = ("DoesNotExist", "Exists", "In", "NotIn")
DNS_LABEL: Final = re.compile(r"[a-z0-9](?:[-a-z0-9]*[a-z0-9])?")
_DNS_SUBDOMAIN: Final = re.compile(
    r"[a-z0-9](?:[-a-z0-9]*[a-z0-9])?(?:\.[a-z0-9](?:[-a-z0-9]*[a-z0-9])?)*"
)
_QUALIFIED_NAME: Final = re.compile(r"[A-Za-z0-9](?:[-A-Za-z0-9_.]*[A-Za-z0-9])?")
_CONTAINER_RESOURCES: Final = ("cpu", "memory", "ephemeral-storage")


def not_supported(value: str, allowed: tuple[str, ...]) -> str:
    """The message for a value outside a fixed vocabulary."""
    return f"unsupported value {show(value)} (must be one of: {', '.join(allowed)})"


def check_reference(ref: CrossVersionObjectReference, *, path: FieldPath) -> list[Finding]:
    findings = []
    for name, value in (("kind", ref.kind), ("name", ref.name)):
        if not value:
            findings.append(Finding((*path, name), "required"))
        else:
            findings += [Finding((*path, name), m) for m in path_segment_problems(value)]
    return findings


def path_segment_problems(value: str) -> list[str]:
    """Why ``value`` cannot be one segment of an API URL path (IsValidPathSegmentName)."""
    if value in (".", ".."):
        return [f"may not be '{value}'"]
    return [f"may not contain '{c}' (got {show(value)})" for c in "/%" if c in value]


def check_metric(metric: MetricSpec, *, path: FieldPath) -> list[Finding]:
    findings = []
    if not metric.type:
        findings.append(Finding((*path, "type"), "must specify a metric source type"))
    elif metric.type not in SOURCE_FIELDS:
        findings.append(Finding((*path, "type"), not_supported(metric.type, tuple(SOURCE_FIELDS))))
    present = {
        "resource": metric.resource,
        "containerResource": metric.container_resource,
        "pods": metric.pods,
        "object": metric.object,
        "external": metric.external,
    }
    expected = SOURCE_FIELDS.get(metric.type)
    if expected is not None and present[expected] is None:
        findings.append(
            Finding((*path, expected), "must populate information for the given metric source")
        )
    for name, source in present.items():
        if source is not None and name != expected and expected is not None:
            findings.append(Finding((*path, name), "must populate the given metric source only"))
    if expected is None or present[expected] is None:
        return findings
    at = (*path, expected)
    if metric.pods is not None and expected == "pods":
        return findings + _check_pods(metric.pods, path=at)
    if metric.object is not None and expected == "object":
        return findings + _check_object(metric.object, path=at)
    if metric.external is not None and expected == "external":
        return findings + _check_external(metric.external, path=at)
    return findings + _check_resource(metric, path=at)


def _check_resource(metric: MetricSpec, *, path: FieldPath) -> list[Finding]:
    """Resource and ContainerResource: a resource name and exactly one average target."""
    source = metric.resource or metric.container_resource
    if source is None:
        return []
    findings = []
    if not source.name:
        findings.append(Finding((*path, "name"), "must specify a resource name"))
    elif metric.container_resource is not None:
        problem = container_resource_problem(source.name)
        if problem is not None:
            findings.append(Finding((*path, "name"), problem))
    if metric.container_resource is not None:
        container = metric.container_resource.container
        if not container:
            findings.append(Finding((*path, "container"), "must specify a container"))
        elif len(container) > 63 or not DNS_LABEL.fullmatch(container):
            findings.append(
                Finding((*path, "container"), f"must be a DNS-1123 label (got {show(container)})")
            )
    target, at = source.target, (*path, "target")
    findings += _check_target(target, path=at)
    if target.average_utilization is None and target.average_value is None:
        findings.append(
            Finding(
                (*at, "averageUtilization"),
                "must set either a target raw value or a target utilization",
            )
        )
    if target.average_utilization is not None and target.average_value is not None:
        findings.append(
            Finding(
                (*at, "averageValue"),
                "may not set both a target raw value and a target utilization",
            )
        )
    return findings


def container_resource_problem(name: str) -> str | None:
    """Why ``name`` cannot name a container's resource, as ValidateContainerResourceName says.

    The API server checks ContainerResource names (not Resource names): cpu, memory,
    ephemeral-storage, hugepages-<size>, or a qualified name, which unless it is in
    kubernetes.io must also be a valid extended resource name (example.com/gpu).
    """
    if not _is_qualified_name(name):
        return f"must be a qualified name such as example.com/gpu (got {show(name)})"
    if "/" not in name:
        if name in _CONTAINER_RESOURCES or name.startswith("hugepages-"):
            return None
        return (
            "must be a standard resource for containers (cpu, memory, ephemeral-storage, "
            f"hugepages-<size>) or fully qualified (got {show(name)})"
        )
    if "kubernetes.io/" in name:
        return None
    if not name.startswith("requests.") and _is_qualified_name("requests." + name):
        return None
    return f"doesn't follow extended resource name standard (got {show(name)})"


def _is_qualified_name(value: str) -> bool:
    """IsQualifiedName: an optional DNS-subdomain prefix and "/", then a 63-character name."""
    prefix, slash, name = value.rpartition("/")
    if slash and (len(prefix) > 253 or not _DNS_SUBDOMAIN.fullmatch(prefix)):
        return False
    return len(name) <= 63 and _QUALIFIED_NAME.fullmatch(name) is not None


def _check_pods(source: PodsMetricSource, *, path: FieldPath) -> list[Finding]:
    """Pods: a metric name and a per-pod averageValue (what the controller reads)."""
    at = (*path, "target")
    findings = _check_identifier(source.metric, path=(*path, "metric"))
    findings += _check_target(source.target, path=at)
    if source.target.average_value is None:
        findings.append(
            Finding((*at, "averageValue"), "must specify a positive target averageValue")
        )
    return findings


def _check_object(source: ObjectMetricSource, *, path: FieldPath) -> list[Finding]:
    """Object: the described object, a metric name, and a value or averageValue."""
    at = (*path, "target")
    findings = check_reference(source.described_object, path=(*path, "describedObject"))
    findings += _check_identifier(source.metric, path=(*path, "metric"))
    findings += _check_target(source.target, path=at)
    if source.target.value is None and source.target.average_value is None:
        findings.append(
            Finding((*at, "averageValue"), "must set either a target value or averageValue")
        )
    return findings


def _check_external(source: ExternalMetricSource, *, path: FieldPath) -> list[Finding]:
    """External: a metric name and exactly one of value and averageValue."""
    at, target = (*path, "target"), source.target
    findings = _check_identifier(source.metric, path=(*path, "metric"))
    findings += _check_target(target, path=at)
    if target.value is None and target.average_value is None:
        findings.append(
            Finding(
                (*at, "averageValue"),
                "must set either a target value for metric or a per-pod target",
            )
        )
    if target.value is not None and target.average_value is not None:
        findings.append(
            Finding(
                (*at, "value"), "may not set both a target value for metric and a per-pod target"
            )
        )
    return findings


def _check_target(target: MetricTarget, *, path: FieldPath) -> list[Finding]:
    findings = []
    if not target.type:
        findings.append(Finding((*path, "type"), "must specify a metric target type"))
    elif target.type not in _TARGET_TYPES:
        findings.append(
            Finding(
                (*path, "type"),
                f"must be either Utilization, Value, or AverageValue (got {show(target.type)})",
            )
        )
    for name, quantity in (("value", target.value), ("averageValue", target.average_value)):
        if quantity is not None and quantity_sign(quantity) != 1:
            findings.append(Finding((*path, name), f"must be positive (got {show(quantity)})"))
    if target.average_utilization is not None and target.average_utilization < 1:
        findings.append(
            Finding(
                (*path, "averageUtilization"),
                f"must be greater than 0 (got {target.average_utilization})",
            )
        )
    return findings


def _check_identifier(identifier: MetricIdentifier, *, path: FieldPath) -> list[Finding]:
    findings = []
    if not identifier.name:
        findings.append(Finding((*path, "name"), "must specify a metric name"))
    else:
        findings += [Finding((*path, "name"), m) for m in path_segment_problems(identifier.name)]
    if identifier.selector is not None:
        findings += _check_selector(identifier.selector, path=(*path, "selector"))
    return findings


def _check_selector(selector: LabelSelector, *, path: FieldPath) -> list[Finding]:
    """The LabelSelector rules: a known operator, and values exactly when it needs them."""
    findings = []
    for index, requirement in enumerate(selector.match_expressions or []):
        at = (*path, "matchExpressions", index)
        if not requirement.key:
            findings.append(Finding((*at, "key"), "required"))
        operator, values = requirement.operator, requirement.values or []
        if operator in ("In", "NotIn") and not values:
            findings.append(
                Finding((*at, "values"), "must be specified when `operator` is 'In' or 'NotIn'")
            )
        elif operator in ("Exists", "DoesNotExist") and values:
            findings.append(
                Finding(
                    (*at, "values"),
                    "may not be specified when `operator` is 'Exists' or 'DoesNotExist'",
                )
            )
        elif operator not in _OPERATORS:
            findings.append(Finding((*at, "operator"), not_supported(operator, _OPERATORS)))
    return findings
