"""The HPA API server's validation rules, one table row per rule (exact path and text)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from policy_helpers import DELETE, load, messages, patched

from autoscaler.policy import LoadResult

__all__ = ["load"]  # the fixture, imported from policy_helpers

Load = Callable[[str | dict[str, Any]], LoadResult]

EXTERNAL = {
    "type": "External",
    "external": {"metric": {"name": "queue"}, "target": {"type": "Value", "value": "10"}},
}
OBJECT = {
    "type": "Object",
    "object": {
        "describedObject": {"apiVersion": "networking.k8s.io/v1", "kind": "Ingress", "name": "w"},
        "metric": {"name": "rps"},
        "target": {"type": "Value", "value": "100"},
    },
}
CONTAINER_RESOURCE = {
    "type": "ContainerResource",
    "containerResource": {
        "name": "cpu",
        "container": "app",
        "target": {"type": "Utilization", "averageUtilization": 60},
    },
}
T = "spec.metrics[0].resource.target"
XT = "spec.metrics.0.external.target"

INVALID = [
    # replicas
    (
        "min-negative",
        {"spec.minReplicas": -1},
        ["spec.minReplicas: must be greater than or equal to 0 (got -1)"],
    ),
    (
        "min-zero-without-object-or-external",
        {"spec.minReplicas": 0},
        [
            "spec.metrics: must specify at least one Object or External metric to support scaling "
            "to zero replicas"
        ],
    ),
    ("max-zero", {"spec.maxReplicas": 0}, ["spec.maxReplicas: must be greater than 0 (got 0)"]),
    (
        "max-below-min",
        {"spec.minReplicas": 5, "spec.maxReplicas": 3},
        ["spec.maxReplicas: must be greater than or equal to minReplicas (3 < 5)"],
    ),
    ("max-missing", {"spec.maxReplicas": DELETE}, ["spec.maxReplicas: required"]),
    (
        "max-not-int32",
        {"spec.maxReplicas": 2**31},
        ["spec.maxReplicas: must be a 32-bit integer (got 2147483648)"],
    ),
    ("max-string", {"spec.maxReplicas": "10"}, ['spec.maxReplicas: must be an integer (got "10")']),
    ("min-bool", {"spec.minReplicas": True}, ["spec.minReplicas: must be an integer (got true)"]),
    # scaleTargetRef and metadata
    (
        "target-kind-missing",
        {"spec.scaleTargetRef.kind": DELETE},
        ["spec.scaleTargetRef.kind: required"],
    ),
    ("target-name-empty", {"spec.scaleTargetRef.name": ""}, ["spec.scaleTargetRef.name: required"]),
    (
        "target-name-slash",
        {"spec.scaleTargetRef.name": "a/b"},
        ["spec.scaleTargetRef.name: may not contain '/' (got \"a/b\")"],
    ),
    ("target-missing", {"spec.scaleTargetRef": DELETE}, ["spec.scaleTargetRef: required"]),
    ("name-missing", {"metadata.name": DELETE}, ["metadata.name: required"]),
    (
        "name-not-dns",
        {"metadata.name": "Web_1"},
        [
            "metadata.name: must be a lowercase RFC 1123 subdomain: lowercase letters, digits, "
            "'-' and '.', "
            'starting and ending with a letter or digit (got "Web_1")'
        ],
    ),
    (
        "namespace-not-dns",
        {"metadata.namespace": "a.b"},
        [
            "metadata.namespace: must be a lowercase RFC 1123 label: at most 63 lowercase "
            "letters, digits "
            "and '-', starting and ending with a letter or digit (got \"a.b\")"
        ],
    ),
    # metric source
    (
        "type-missing",
        {"spec.metrics.0.type": DELETE},
        ["spec.metrics[0].type: must specify a metric source type"],
    ),
    (
        "type-unknown",
        {"spec.metrics.0.type": "Cpu"},
        [
            'spec.metrics[0].type: unsupported value "Cpu" (must be one of: Resource, '
            "ContainerResource, Pods, Object, External)"
        ],
    ),
    (
        "source-missing",
        {"spec.metrics.0.type": "Pods"},
        [
            "spec.metrics[0].pods: must populate information for the given metric source",
            "spec.metrics[0].resource: must populate the given metric source only",
        ],
    ),
    (
        "two-sources",
        {"spec.metrics.0.external": EXTERNAL["external"]},
        ["spec.metrics[0].external: must populate the given metric source only"],
    ),
    # Resource / ContainerResource
    (
        "resource-name-missing",
        {"spec.metrics.0.resource.name": DELETE},
        ["spec.metrics[0].resource.name: must specify a resource name"],
    ),
    (
        "resource-no-target-value",
        {"spec.metrics.0.resource.target": {"type": "AverageValue"}},
        [f"{T}.averageUtilization: must set either a target raw value or a target utilization"],
    ),
    (
        "resource-both-targets",
        {"spec.metrics.0.resource.target.averageUtilization": 50},
        [f"{T}.averageValue: may not set both a target raw value and a target utilization"],
    ),
    (
        "utilization-zero",
        {"spec.metrics.0.resource.target": {"type": "Utilization", "averageUtilization": 0}},
        [f"{T}.averageUtilization: must be greater than 0 (got 0)"],
    ),
    (
        "average-value-zero",
        {"spec.metrics.0.resource.target.averageValue": "0"},
        [f'{T}.averageValue: must be positive (got "0")'],
    ),
    (
        "average-value-negative-number",
        {"spec.metrics.0.resource.target.averageValue": -2},
        [f'{T}.averageValue: must be positive (got "-2")'],
    ),
    (
        "quantity-syntax",
        {"spec.metrics.0.resource.target.averageValue": "12 cores"},
        [f'{T}.averageValue: must be a quantity such as 500m, 1.5, 512Mi or 1e3 (got "12 cores")'],
    ),
    (
        "quantity-float-out-of-range",
        {"spec.metrics.0.resource.target.averageValue": 1e300},
        [f'{T}.averageValue: must be a quantity such as 500m, 1.5, 512Mi or 1e3 (got "1e+300")'],
    ),
    (
        "quantity-bool",
        {"spec.metrics.0.resource.target.averageValue": True},
        [f"{T}.averageValue: must be a quantity such as 500m, 1.5 or 512Mi (got a boolean)"],
    ),
    (
        "target-type-missing",
        {"spec.metrics.0.resource.target.type": DELETE},
        [f"{T}.type: must specify a metric target type"],
    ),
    (
        "target-type-unknown",
        {"spec.metrics.0.resource.target.type": "Average"},
        [f'{T}.type: must be either Utilization, Value, or AverageValue (got "Average")'],
    ),
    (
        "container-missing",
        {
            "spec.metrics.0": {
                "type": "ContainerResource",
                "containerResource": {
                    "name": "cpu",
                    "target": {"type": "Utilization", "averageUtilization": 60},
                },
            }
        },
        ["spec.metrics[0].containerResource.container: must specify a container"],
    ),
    (
        "container-resource-name-not-standard",
        {"spec.metrics.0": CONTAINER_RESOURCE, "spec.metrics.0.containerResource.name": "gpu"},
        [
            "spec.metrics[0].containerResource.name: must be a standard resource for containers "
            '(cpu, memory, ephemeral-storage, hugepages-<size>) or fully qualified (got "gpu")'
        ],
    ),
    (
        "container-resource-name-not-extended",
        {
            "spec.metrics.0": CONTAINER_RESOURCE,
            "spec.metrics.0.containerResource.name": "requests.example.com/gpu",
        },
        [
            "spec.metrics[0].containerResource.name: doesn't follow extended resource name "
            'standard (got "requests.example.com/gpu")'
        ],
    ),
    (
        "container-resource-name-not-qualified",
        {"spec.metrics.0": CONTAINER_RESOURCE, "spec.metrics.0.containerResource.name": "a/b/c"},
        [
            "spec.metrics[0].containerResource.name: must be a qualified name such as "
            'example.com/gpu (got "a/b/c")'
        ],
    ),
    # Pods
    (
        "pods-no-average-value",
        {
            "spec.metrics.0": {
                "type": "Pods",
                "pods": {"metric": {"name": "rps"}, "target": {"type": "Value", "value": "5"}},
            }
        },
        ["spec.metrics[0].pods.target.averageValue: must specify a positive target averageValue"],
    ),
    (
        "pods-no-metric-name",
        {
            "spec.metrics.0": {
                "type": "Pods",
                "pods": {"target": {"type": "AverageValue", "averageValue": "5"}},
            }
        },
        ["spec.metrics[0].pods.metric.name: must specify a metric name"],
    ),
    # Object
    (
        "object-no-described",
        {"spec.metrics.0": OBJECT, "spec.metrics.0.object.describedObject": DELETE},
        [
            "spec.metrics[0].object.describedObject.kind: required",
            "spec.metrics[0].object.describedObject.name: required",
        ],
    ),
    (
        "object-no-value",
        {"spec.metrics.0": OBJECT, "spec.metrics.0.object.target": {"type": "Value"}},
        [
            "spec.metrics[0].object.target.averageValue: must set either a target value or "
            "averageValue"
        ],
    ),
    # External
    (
        "external-no-value",
        {"spec.metrics.0": EXTERNAL, f"{XT}": {"type": "Value"}},
        [
            "spec.metrics[0].external.target.averageValue: must set either a target value for "
            "metric or a per-pod target"
        ],
    ),
    (
        "external-both",
        {"spec.metrics.0": EXTERNAL, f"{XT}.averageValue": "3"},
        [
            "spec.metrics[0].external.target.value: may not set both a target value for metric "
            "and a per-pod target"
        ],
    ),
    (
        "external-metric-name-missing",
        {"spec.metrics.0": EXTERNAL, "spec.metrics.0.external.metric": {}},
        ["spec.metrics[0].external.metric.name: must specify a metric name"],
    ),
    (
        "selector-in-without-values",
        {
            "spec.metrics.0": EXTERNAL,
            "spec.metrics.0.external.metric.selector": {
                "matchExpressions": [{"key": "q", "operator": "In"}]
            },
        },
        [
            "spec.metrics[0].external.metric.selector.matchExpressions[0].values: "
            "must be specified when `operator` is 'In' or 'NotIn'"
        ],
    ),
    (
        "selector-exists-with-values",
        {
            "spec.metrics.0": EXTERNAL,
            "spec.metrics.0.external.metric.selector": {
                "matchExpressions": [{"key": "q", "operator": "Exists", "values": ["a"]}]
            },
        },
        [
            "spec.metrics[0].external.metric.selector.matchExpressions[0].values: "
            "may not be specified when `operator` is 'Exists' or 'DoesNotExist'"
        ],
    ),
    (
        "selector-bad-operator",
        {
            "spec.metrics.0": EXTERNAL,
            "spec.metrics.0.external.metric.selector": {
                "matchExpressions": [{"key": "q", "operator": "Is"}]
            },
        },
        [
            "spec.metrics[0].external.metric.selector.matchExpressions[0].operator: "
            'unsupported value "Is" (must be one of: DoesNotExist, Exists, In, NotIn)'
        ],
    ),
    # behavior
    (
        "window-negative",
        {"spec.behavior.scaleDown.stabilizationWindowSeconds": -1},
        [
            "spec.behavior.scaleDown.stabilizationWindowSeconds: must be greater than or equal to "
            "zero (got -1)"
        ],
    ),
    (
        "window-too-long",
        {"spec.behavior.scaleUp.stabilizationWindowSeconds": 3601},
        [
            "spec.behavior.scaleUp.stabilizationWindowSeconds: must be less than or equal to 3600 "
            "(got 3601)"
        ],
    ),
    (
        "select-policy-unknown",
        {"spec.behavior.scaleUp.selectPolicy": "Maximum"},
        [
            'spec.behavior.scaleUp.selectPolicy: unsupported value "Maximum" (must be one of: '
            "Disabled, Max, Min)"
        ],
    ),
    (
        "policies-empty",
        {"spec.behavior.scaleDown.policies": []},
        ["spec.behavior.scaleDown.policies: must specify at least one Policy"],
    ),
    (
        "policy-type-unknown",
        {"spec.behavior.scaleUp.policies": [{"type": "Pod", "value": 1, "periodSeconds": 60}]},
        [
            'spec.behavior.scaleUp.policies[0].type: unsupported value "Pod" (must be one of: '
            "Percent, Pods)"
        ],
    ),
    (
        "policy-value-zero",
        {"spec.behavior.scaleUp.policies": [{"type": "Pods", "value": 0, "periodSeconds": 60}]},
        ["spec.behavior.scaleUp.policies[0].value: must be greater than zero (got 0)"],
    ),
    (
        "policy-period-zero",
        {"spec.behavior.scaleUp.policies": [{"type": "Pods", "value": 1, "periodSeconds": 0}]},
        ["spec.behavior.scaleUp.policies[0].periodSeconds: must be greater than zero (got 0)"],
    ),
    (
        "policy-period-too-long",
        {"spec.behavior.scaleUp.policies": [{"type": "Pods", "value": 1, "periodSeconds": 1801}]},
        [
            "spec.behavior.scaleUp.policies[0].periodSeconds: must be less than or equal to 1800 "
            "(got 1801)"
        ],
    ),
    (
        "tolerance-negative",
        {"spec.behavior.scaleDown.tolerance": "-50m"},
        ['spec.behavior.scaleDown.tolerance: must be greater than or equal to zero (got "-50m")'],
    ),
    # Podscale extensions
    (
        "mode-unknown",
        {"spec.mode": "Audit"},
        ['spec.mode: unsupported value "Audit" (must be one of: Enforce, DryRun)'],
    ),
    (
        "fallback-negative",
        {"spec.fallback": {"replicas": -1}},
        ["spec.fallback.replicas: must be greater than or equal to 0 (got -1)"],
    ),
    (
        "fallback-threshold-zero",
        {"spec.fallback": {"replicas": 3, "failureThreshold": 0}},
        ["spec.fallback.failureThreshold: must be greater than 0 (got 0)"],
    ),
    (
        "fallback-replicas-missing",
        {"spec.fallback": {"failureThreshold": 2}},
        ["spec.fallback.replicas: required"],
    ),
    (
        "predictive-lead-out-of-range",
        {"spec.predictive": {"leadSeconds": 0}},
        ["spec.predictive.leadSeconds: must be between 1 and 3600 (got 0)"],
    ),
    (
        "predictive-unknown-metric",
        {"spec.predictive": {"metric": "rps"}},
        ['spec.predictive.metric: "rps" is not a metric of spec.metrics (metrics: "cpu")'],
    ),
    (
        "predictive-max-error-string",
        {"spec.predictive": {"maxError": "30%"}},
        ['spec.predictive.maxError: Input should be a valid number (got "30%")'],
    ),
    (
        "burst-threshold-at-one",
        {"spec.burst": {"threshold": 1}},
        ["spec.burst.threshold: must be between 1.01 and 1000 (got 1)"],
    ),
    (
        "burst-ceiling-above-max",
        {"spec.burst": {"maxReplicas": 11}},
        ["spec.burst.maxReplicas: must be between 1 and maxReplicas 10 (got 11)"],
    ),
    (
        "activation-needs-min-zero",
        {"spec.metrics.1": EXTERNAL, "spec.activation": {"metric": "queue"}},
        [
            "spec.activation: needs minReplicas: 0: activation scales from and to zero (got 2)",
        ],
    ),
    (
        "activation-on-cpu",
        {
            "spec.minReplicas": 0,
            "spec.metrics.1": EXTERNAL,
            "spec.activation": {"metric": "cpu"},
        },
        [
            'spec.activation.metric: "cpu" is a Resource metric: a target at zero has no pods '
            "to measure; name an External or Object metric"
        ],
    ),
    (
        "activation-metric-missing",
        {"spec.activation": {"threshold": "5"}},
        ["spec.activation.metric: required"],
    ),
    # document shape
    (
        "unknown-field-typo",
        {"spec.minReplica": 2},
        ['spec.minReplica: unknown field (did you mean "minReplicas"?)'],
    ),
    (
        "unknown-field-deep",
        {"spec.metrics.0.resource.target.averageUtilisation": 2},
        [f'{T}.averageUtilisation: unknown field (did you mean "averageUtilization"?)'],
    ),
    ("unknown-top-level", {"extra": {}}, ["extra: unknown field"]),
    (
        "metrics-not-a-list",
        {"spec.metrics": {"type": "Resource"}},
        ["spec.metrics: must be a list (got a mapping)"],
    ),
    (
        "wrong-api-version",
        {"apiVersion": "podscale.dev/v1"},
        ['apiVersion: unsupported apiVersion "podscale.dev/v1" (must be podscale.dev/v1alpha1)'],
    ),
    (
        "kind-missing",
        {"kind": DELETE},
        ["kind: required (must be ScalingPolicy or HorizontalPodAutoscaler)"],
    ),
    (
        "kind-other",
        {"kind": "Deployment"},
        ['kind: unsupported kind "Deployment" (must be ScalingPolicy or HorizontalPodAutoscaler)'],
    ),
    # a shape error does not hide the rule errors of other fields
    (
        "shape-and-rule-errors",
        {"spec.minReplicas": "2", "spec.maxReplicas": 0},
        [
            'spec.minReplicas: must be an integer (got "2")',
            "spec.maxReplicas: must be greater than 0 (got 0)",
        ],
    ),
]


@pytest.mark.parametrize(
    ("changes", "expected"), [row[1:] for row in INVALID], ids=[row[0] for row in INVALID]
)
def test_an_invalid_policy_reports_the_field_and_the_rule(
    load: Load, changes: dict[str, Any], expected: list[str]
) -> None:
    result = load(patched(changes))
    assert messages(result) == expected
    assert result.policies == []


VALID = [
    ("base", {}),
    ("scale-to-zero-with-external", {"spec.minReplicas": 0, "spec.metrics.1": EXTERNAL}),
    ("scale-to-zero-with-object", {"spec.minReplicas": 0, "spec.metrics": [OBJECT]}),
    ("min-absent", {"spec.minReplicas": DELETE}),
    ("metrics-absent", {"spec.metrics": DELETE}),
    ("metrics-empty", {"spec.metrics": []}),
    ("number-quantity", {"spec.metrics.0.resource.target.averageValue": 1.5}),
    ("exponent-quantity", {"spec.metrics.0.resource.target.averageValue": "1e3"}),
    ("binary-quantity", {"spec.metrics.0.resource.target.averageValue": "512Mi"}),
    ("tolerance", {"spec.behavior.scaleUp.tolerance": "50m"}),
    ("container-resource-cpu", {"spec.metrics.0": CONTAINER_RESOURCE}),
    *(
        (
            f"container-resource-{name}",
            {"spec.metrics.0": CONTAINER_RESOURCE, "spec.metrics.0.containerResource.name": name},
        )
        for name in ("ephemeral-storage", "hugepages-2Mi", "example.com/gpu", "kubernetes.io/x")
    ),
    ("dry-run", {"spec.mode": "DryRun"}),
    ("fallback", {"spec.fallback": {"replicas": 3}}),
    (
        "podscale-paths",
        {
            "spec.minReplicas": 0,
            "spec.metrics.1": EXTERNAL,
            "spec.predictive": {"leadSeconds": 75, "maxError": 0.25, "metric": "cpu"},
            "spec.burst": {"threshold": 2.5, "maxReplicas": 8, "stableWindowSeconds": 120},
            "spec.activation": {"metric": "queue", "threshold": "3", "cooldownSeconds": 600},
        },
    ),
    ("labels", {"metadata.labels": {"team": "web"}, "metadata.annotations": {"a": "b"}}),
    ("target-without-api-version", {"spec.scaleTargetRef.apiVersion": DELETE}),
    (
        "selector",
        {
            "spec.metrics.1": EXTERNAL,
            "spec.metrics.1.external.metric.selector": {
                "matchLabels": {"q": "a"},
                "matchExpressions": [{"key": "b", "operator": "Exists"}],
            },
        },
    ),
    (
        "policies-limits",
        {
            "spec.behavior.scaleUp": {
                "stabilizationWindowSeconds": 3600,
                "selectPolicy": "Min",
                "policies": [{"type": "Percent", "value": 1, "periodSeconds": 1800}],
            }
        },
    ),
]


@pytest.mark.parametrize("changes", [row[1] for row in VALID], ids=[row[0] for row in VALID])
def test_a_valid_policy_loads_without_errors(load: Load, changes: dict[str, Any]) -> None:
    result = load(patched(changes))
    assert messages(result) == []
    assert len(result.policies) == 1
