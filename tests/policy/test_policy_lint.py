"""Best-practice warnings: valid policies that probably misbehave (exact path and text)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from policy_helpers import BASE, DELETE, load, messages, patched, validate, warnings

from autoscaler.policy import LoadResult

__all__ = ["load"]

Load = Callable[[str | dict[str, Any]], LoadResult]

UTILIZATION = {"type": "Utilization", "averageUtilization": 70}
EXTERNAL = {
    "type": "External",
    "external": {
        "metric": {"name": "queue"},
        "target": {"type": "AverageValue", "averageValue": "5"},
    },
}
T = "spec.metrics[0].resource"
REQUESTS = "utilization is a percentage of resource requests: "

WARNINGS = [
    ("none-for-the-base-policy", {}, []),
    (
        "min-one",
        {"spec.minReplicas": 1},
        [
            "spec.minReplicas: minReplicas is 1: a single pod is a single point of failure (use 2 "
            "or more for a service)"
        ],
    ),
    (
        "min-one-by-default",
        {"spec.minReplicas": DELETE},
        [
            "spec.minReplicas: minReplicas defaults to 1: a single pod is a single point of "
            "failure (use 2 or more for a service)"
        ],
    ),
    (
        "max-very-high",
        {"spec.maxReplicas": 5000},
        [
            "spec.maxReplicas: 5000 is very high: check that the cluster, quotas and the target's "
            "dependencies can take that many pods"
        ],
    ),
    (
        "max-equals-min",
        {"spec.maxReplicas": 2},
        ["spec.maxReplicas: equals minReplicas (2): autoscaling is effectively off"],
    ),
    (
        "cpu-utilization",
        {"spec.metrics.0.resource.target": UTILIZATION},
        [
            f"{T}.target.averageUtilization: {REQUESTS}every container of the target's pods must "
            "set "
            "resources.requests.cpu, or the metric cannot be computed"
        ],
    ),
    (
        "container-utilization",
        {
            "spec.metrics.0": {
                "type": "ContainerResource",
                "containerResource": {"name": "cpu", "container": "app", "target": UTILIZATION},
            }
        },
        [
            f"spec.metrics[0].containerResource.target.averageUtilization: {REQUESTS}container "
            '"app" must set '
            "resources.requests.cpu, or the metric cannot be computed"
        ],
    ),
    (
        "default-metric",
        {"spec.metrics": DELETE},
        [
            f"spec: no metrics given, so the default is cpu at 80%: {REQUESTS}every container of "
            "the target's "
            "pods must set resources.requests.cpu, or the metric cannot be computed"
        ],
    ),
    (
        "memory",
        {"spec.metrics.0.resource.name": "memory"},
        [
            f"{T}.name: memory rarely shrinks when load drops (caches, heaps), so a memory target "
            "may never "
            "let the target scale down; prefer cpu or a load metric"
        ],
    ),
    (
        "unknown-resource",
        {"spec.metrics.0.resource.name": "gpu"},
        [f'{T}.name: metrics.k8s.io reports only cpu and memory: "gpu" cannot be read'],
    ),
    (
        "type-names-other-field",
        {"spec.metrics.0.resource.target.type": "Utilization"},
        [
            f"{T}.target.type: type is Utilization but averageUtilization is not set "
            "(averageValue is): "
            "use type: AverageValue"
        ],
    ),
    (
        "extra-field-ignored",
        {"spec.metrics.0": EXTERNAL, "spec.metrics.0.external.target.averageUtilization": 5},
        [
            "spec.metrics[0].external.target.averageUtilization: ignored: the target type is "
            "AverageValue, "
            "which uses averageValue"
        ],
    ),
    (
        "utilization-on-external",
        {"spec.metrics.0": EXTERNAL, "spec.metrics.0.external.target.type": "Utilization"},
        [
            "spec.metrics[0].external.target.type: Utilization applies only to Resource and "
            "ContainerResource metrics; use Value or AverageValue for External"
        ],
    ),
    (
        "scale-down-window-zero",
        {"spec.behavior.scaleDown.stabilizationWindowSeconds": 0},
        [
            "spec.behavior.scaleDown.stabilizationWindowSeconds: scale-down with no stabilization "
            "window follows "
            "every dip in load and risks flapping; use 300 (the HPA default) or more"
        ],
    ),
    (
        "scale-down-disabled",
        {"spec.behavior.scaleDown.selectPolicy": "Disabled"},
        [
            "spec.behavior.scaleDown.selectPolicy: scale-down is disabled: replicas never "
            "decrease, they stay at their peak"
        ],
    ),
    (
        "scale-down-tolerance-one",
        {"spec.behavior.scaleDown.tolerance": "1"},
        [
            "spec.behavior.scaleDown.tolerance: a scale-down tolerance of 1 or more means usage "
            "would have to "
            "fall below zero: the policy can never scale down"
        ],
    ),
    ("scale-down-tolerance-below-one", {"spec.behavior.scaleDown.tolerance": "999m"}, []),
    (
        "scale-up-disabled",
        {"spec.behavior.scaleUp.selectPolicy": "Disabled"},
        [
            "spec.behavior.scaleUp.selectPolicy: scale-up is disabled: the policy never adds "
            "replicas, whatever the load"
        ],
    ),
    (
        "percent-only-from-zero",
        {
            "spec.minReplicas": 0,
            "spec.metrics.0": EXTERNAL,
            "spec.behavior.scaleUp.policies": [
                {"type": "Percent", "value": 100, "periodSeconds": 15}
            ],
        },
        [
            "spec.behavior.scaleUp.policies: a Percent policy cannot add pods to 0 replicas (any "
            "percent of 0 is 0), "
            "so the target can never scale up from zero: add a Pods policy (and keep selectPolicy "
            "Max)"
        ],
    ),
    (
        "min-select-with-percent-from-zero",
        {
            "spec.minReplicas": 0,
            "spec.metrics.0": EXTERNAL,
            "spec.behavior.scaleUp.selectPolicy": "Min",
        },
        [
            "spec.behavior.scaleUp.policies: a Percent policy cannot add pods to 0 replicas (any "
            "percent of 0 is 0), "
            "so the target can never scale up from zero: add a Pods policy (and keep selectPolicy "
            "Max)"
        ],
    ),
    ("default-scale-up-leaves-zero", {"spec.minReplicas": 0, "spec.metrics.0": EXTERNAL}, []),
    (
        "fallback-outside-bounds",
        {"spec.fallback": {"replicas": 12}},
        ["spec.fallback.replicas: 12 is outside [minReplicas, maxReplicas] = [2, 10]"],
    ),
    ("fallback-inside-bounds", {"spec.fallback": {"replicas": 10}}, []),
    (
        "same-metric-name-twice",
        {
            "spec.metrics": [
                EXTERNAL,
                {
                    "type": "External",
                    "external": {
                        "metric": {"name": "queue", "selector": {"matchLabels": {"q": "b"}}},
                        "target": {"type": "AverageValue", "averageValue": "5"},
                    },
                },
            ]
        },
        [
            'spec.metrics[1].external.metric.name: External metric "queue" is also metrics[0]: '
            "a policy reads one value per metric name, so both would get the same one whatever "
            "their selectors; give the series different metric names"
        ],
    ),
]


@pytest.mark.parametrize(
    ("changes", "expected"), [row[1:] for row in WARNINGS], ids=[row[0] for row in WARNINGS]
)
def test_a_risky_policy_gets_a_warning_naming_the_field(
    load: Load, changes: dict[str, Any], expected: list[str]
) -> None:
    result = load(patched(changes))
    assert messages(result) == []
    assert warnings(result) == expected


def test_warnings_do_not_fail_validate_and_are_prefixed(tmp_path: Path) -> None:
    path = tmp_path / "p.yaml"
    path.write_text(yaml.safe_dump(patched({"spec.minReplicas": 1})))
    code, out, err = validate(str(path))
    assert code == 0
    assert err.startswith(f"warning: {path}:")
    assert out == "1 file, 1 policy: 0 errors, 1 warning\n"


def test_two_enforcing_policies_on_one_target_get_a_warning(tmp_path: Path) -> None:
    first, second, shadow = tmp_path / "a.yaml", tmp_path / "b.yaml", tmp_path / "c.yaml"
    first.write_text(yaml.safe_dump(BASE))
    second.write_text(yaml.safe_dump(patched({"metadata.name": "web2"})))
    shadow.write_text(yaml.safe_dump(patched({"metadata.name": "web3", "spec.mode": "DryRun"})))
    _, _, err = validate(str(first), str(second), str(shadow))
    line = second.read_text().splitlines().index("  scaleTargetRef:") + 1
    assert err.splitlines() == [
        f'warning: {second}:{line}: spec.scaleTargetRef: Deployment "web" is also scaled by '
        'policy "web" '
        f"({first}:1): the two would fight; make one of them mode: DryRun"
    ]
