"""Bad policies that break exactly one of the CRD's CEL rules (``autoscaler.crd.VALIDATIONS``).

Shared by ``tests/policy/test_crd_rules.py`` (``autoscaler validate`` refuses each one with
the rule's own words) and ``tests/e2e/test_crd_e2e.py`` (the API server refuses each one at
``kubectl apply`` on the current testbed, where it evaluates the rules), so the two
checkers are held to the same cases.
"""

from __future__ import annotations

import copy
from typing import Any, NamedTuple

CPU = {"type": "Resource", "resource": {"name": "cpu", "target": {
    "type": "Utilization", "averageUtilization": 50}}}  # fmt: skip
QUEUE = {"type": "External", "external": {"metric": {"name": "queue"}, "target": {
    "type": "AverageValue", "averageValue": "30"}}}  # fmt: skip
INGRESS = {"apiVersion": "networking.k8s.io/v1", "kind": "Ingress", "name": "main"}


class RuleCase(NamedTuple):
    """A good spec's ``change``, and where and how a checker must refuse it."""

    change: dict[str, Any]
    field: str  # as the API server names it: spec.metrics[0].resource...
    message: str  # the rule's message; autoscaler validate's starts with it


def _metric(**source: Any) -> dict[str, Any]:
    return {"metrics": [source]}


CASES: dict[str, RuleCase] = {
    "maxReplicas below minReplicas": RuleCase(
        {"minReplicas": 5, "maxReplicas": 3},
        "spec.maxReplicas", "must be greater than or equal to minReplicas"),
    "minReplicas 0 on CPU alone": RuleCase(
        {"minReplicas": 0},
        "spec.metrics", "must specify at least one Object or External metric to support "
        "scaling to zero replicas"),
    "activation without minReplicas 0": RuleCase(
        {"metrics": [CPU, QUEUE], "activation": {"metric": "queue"}},
        "spec.activation", "needs minReplicas: 0: activation scales from and to zero"),
    "burst above maxReplicas": RuleCase(
        {"burst": {"maxReplicas": 11}},
        "spec.burst.maxReplicas", "must be between 1 and maxReplicas"),
    "type without its source": RuleCase(
        _metric(type="Pods", resource=CPU["resource"]),
        "spec.metrics[0]", "must populate information for the given metric source"),
    "two sources": RuleCase(
        _metric(type="Resource", resource=CPU["resource"], external=QUEUE["external"]),
        "spec.metrics[0]", "must populate the given metric source only"),
    "Resource target without a value": RuleCase(
        _metric(type="Resource", resource={"name": "cpu", "target": {
            "type": "Value", "value": "1"}}),
        "spec.metrics[0].resource.target.averageUtilization",
        "must set either a target raw value or a target utilization"),
    "Resource target with both": RuleCase(
        _metric(type="Resource", resource={"name": "cpu", "target": {
            "type": "Utilization", "averageUtilization": 50, "averageValue": "100m"}}),
        "spec.metrics[0].resource.target.averageValue",
        "may not set both a target raw value and a target utilization"),
    "ContainerResource target with both": RuleCase(
        _metric(type="ContainerResource", containerResource={
            "name": "cpu", "container": "app", "target": {
                "type": "Utilization", "averageUtilization": 50, "averageValue": "100m"}}),
        "spec.metrics[0].containerResource.target.averageValue",
        "may not set both a target raw value and a target utilization"),
    "Pods target without averageValue": RuleCase(
        _metric(type="Pods", pods={"metric": {"name": "rps"}, "target": {
            "type": "Value", "value": "10"}}),
        "spec.metrics[0].pods.target.averageValue", "must specify a positive target averageValue"),
    "Object target without a value": RuleCase(
        _metric(type="Object", object={"describedObject": INGRESS, "metric": {"name": "rps"},
                                       "target": {"type": "Utilization",
                                                  "averageUtilization": 50}}),
        "spec.metrics[0].object.target.averageValue",
        "must set either a target value or averageValue"),
    "External target without a value": RuleCase(
        _metric(type="External", external={"metric": {"name": "queue"}, "target": {
            "type": "Utilization", "averageUtilization": 50}}),
        "spec.metrics[0].external.target.averageValue",
        "must set either a target value for metric or a per-pod target"),
    "External target with both": RuleCase(
        _metric(type="External", external={"metric": {"name": "queue"}, "target": {
            "type": "Value", "value": "30", "averageValue": "3"}}),
        "spec.metrics[0].external.target.value",
        "may not set both a target value for metric and a per-pod target"),
}  # fmt: skip


def good_policy(namespace: str | None = None) -> dict[str, Any]:
    """A valid ScalingPolicy (2-10 replicas at 50 % CPU) the cases change."""
    metadata = {"name": "web"} if namespace is None else {"name": "web", "namespace": namespace}
    return {
        "apiVersion": "podscale.dev/v1alpha1",
        "kind": "ScalingPolicy",
        "metadata": metadata,
        "spec": {
            "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"},
            "minReplicas": 2,
            "maxReplicas": 10,
            "metrics": [CPU],
        },
    }


def bad_policy(case: RuleCase, namespace: str | None = None) -> dict[str, Any]:
    """:func:`good_policy` with ``case``'s change to its spec."""
    policy = good_policy(namespace)
    policy["spec"].update(copy.deepcopy(case.change))
    return policy
