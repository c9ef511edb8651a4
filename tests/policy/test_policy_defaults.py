"""Defaults exactly as the HPA API server applies them (autoscaling/v2 defaults.go)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from policy_helpers import DELETE, load, messages, patched

from autoscaler.policy import AutoscalingSpec, LoadResult

__all__ = ["load"]

Load = Callable[[str | dict[str, Any]], LoadResult]

CPU_80 = {
    "type": "Resource",
    "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": 80}},
}
SCALE_UP_DEFAULT = {
    "stabilizationWindowSeconds": 0,
    "selectPolicy": "Max",
    "policies": [
        {"type": "Pods", "value": 4, "periodSeconds": 15},
        {"type": "Percent", "value": 100, "periodSeconds": 15},
    ],
}
SCALE_DOWN_DEFAULT = {
    "selectPolicy": "Max",
    "policies": [{"type": "Percent", "value": 100, "periodSeconds": 15}],
}


def hpa_spec(load: Load, changes: dict[str, Any]) -> dict[str, Any]:
    result = load(patched(changes))
    assert messages(result) == []
    return result.policies[0].policy.hpa_spec()


def test_min_replicas_defaults_to_one(load: Load) -> None:
    assert hpa_spec(load, {"spec.minReplicas": DELETE})["minReplicas"] == 1


@pytest.mark.parametrize("metrics", [DELETE, []], ids=["absent", "empty"])
def test_no_metrics_means_cpu_utilization_80(load: Load, metrics: object) -> None:
    assert hpa_spec(load, {"spec.metrics": metrics})["metrics"] == [CPU_80]


def test_behavior_stays_absent_when_not_given(load: Load) -> None:
    assert "behavior" not in hpa_spec(load, {"spec.behavior": DELETE})


def test_an_empty_behavior_gets_both_directions_and_no_scale_down_window(load: Load) -> None:
    behavior = hpa_spec(load, {"spec.behavior": {}})["behavior"]
    assert behavior == {"scaleUp": SCALE_UP_DEFAULT, "scaleDown": SCALE_DOWN_DEFAULT}


def test_a_rules_object_overrides_only_the_fields_it_sets(load: Load) -> None:
    behavior = hpa_spec(
        load,
        {
            "spec.behavior": {
                "scaleUp": {"selectPolicy": "Min"},
                "scaleDown": {
                    "stabilizationWindowSeconds": 60,
                    "policies": [{"type": "Pods", "value": 1, "periodSeconds": 30}],
                    "tolerance": "0.05",
                },
            }
        },
    )["behavior"]
    assert behavior["scaleUp"] == {**SCALE_UP_DEFAULT, "selectPolicy": "Min"}
    assert behavior["scaleDown"] == {
        "stabilizationWindowSeconds": 60,
        "selectPolicy": "Max",
        "policies": [{"type": "Pods", "value": 1, "periodSeconds": 30}],
        "tolerance": "0.05",
    }


def test_a_null_field_takes_the_default(load: Load) -> None:
    behavior = hpa_spec(load, {"spec.behavior": {"scaleUp": {"policies": None}}})["behavior"]
    assert behavior["scaleUp"] == SCALE_UP_DEFAULT


def test_hpa_spec_carries_only_hpa_fields_in_wire_names(load: Load) -> None:
    spec = hpa_spec(load, {"spec.mode": "DryRun", "spec.fallback": {"replicas": 3}})
    assert set(spec) == {"scaleTargetRef", "minReplicas", "maxReplicas", "metrics", "behavior"}
    assert spec["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"}


def test_extension_defaults(load: Load) -> None:
    result = load(patched({"spec.fallback": {"replicas": 3}}))
    spec = result.policies[0].policy.spec
    assert spec.mode == "Enforce"
    assert spec.fallback is not None and spec.fallback.failure_threshold == 3
    assert result.policies[0].policy.metadata.namespace == "default"


def test_namespace_defaults_to_default(load: Load) -> None:
    result = load(patched({"metadata.namespace": DELETE}))
    assert result.policies[0].policy.key == ("default", "web")


def test_number_quantities_become_strings(load: Load) -> None:
    spec = hpa_spec(load, {"spec.metrics.0.resource.target.averageValue": 0.5})
    assert spec["metrics"][0]["resource"]["target"]["averageValue"] == "0.5"


def test_autoscaling_spec_parses_a_snapshot_policy_without_a_target() -> None:
    spec = AutoscalingSpec.model_validate({"maxReplicas": 5}).with_defaults()
    assert spec.wire() == {"minReplicas": 1, "maxReplicas": 5, "metrics": [CPU_80]}
