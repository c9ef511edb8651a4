"""The rows of ``autoscaler status``: kubectl's HPA TARGETS format, conditions, ages."""

from __future__ import annotations

from typing import Any

import pytest

from autoscaler.status_command import HEADERS, row, table
from autoscaler.status_text import age, condition_summary, targets_text


def resource(name: str, target: dict[str, Any]) -> dict[str, Any]:
    return {"type": "Resource", "resource": {"name": name, "target": target}}


def external(name: str, target: dict[str, Any]) -> dict[str, Any]:
    return {"type": "External", "external": {"metric": {"name": name}, "target": target}}


def pods(name: str, average: str) -> dict[str, Any]:
    target = {"type": "AverageValue", "averageValue": average}
    return {"type": "Pods", "pods": {"metric": {"name": name}, "target": target}}


CPU_50 = resource("cpu", {"type": "Utilization", "averageUtilization": 50})
CPU_STATUS = {
    "type": "Resource",
    "resource": {"name": "cpu", "current": {"averageUtilization": 90}},
}


@pytest.mark.parametrize(
    ("metrics", "current", "expected"),
    [
        ([CPU_50], [CPU_STATUS], "cpu: 90%/50%"),
        ([CPU_50], [], "cpu: <unknown>/50%"),
        (
            [resource("memory", {"type": "AverageValue", "averageValue": "200Mi"})],
            [
                {
                    "type": "Resource",
                    "resource": {"name": "memory", "current": {"averageValue": "150Mi"}},
                }
            ],
            "memory: 150Mi/200Mi",
        ),
        (
            [pods("rps", "100")],
            [
                {
                    "type": "Pods",
                    "pods": {"metric": {"name": "rps"}, "current": {"averageValue": "56250m"}},
                }
            ],
            "56250m/100",
        ),
        (
            [external("queue", {"type": "AverageValue", "averageValue": "10"})],
            [],
            "<unknown>/10 (avg)",
        ),
        (
            [external("queue", {"type": "Value", "value": "30"})],
            [
                {
                    "type": "External",
                    "external": {"metric": {"name": "queue"}, "current": {"value": "12"}},
                }
            ],
            "12/30",
        ),
        # Paired by name, not position: the first metric failed and has no status entry.
        ([pods("rps", "100"), CPU_50], [CPU_STATUS], "<unknown>/100, cpu: 90%/50%"),
        (
            [CPU_50, pods("a", "1"), pods("b", "2")],
            [CPU_STATUS],
            "cpu: 90%/50%, <unknown>/1 + 1 more...",
        ),
        ([], [], "<none>"),
        ([{"type": "Bogus"}], [], "<unknown type>"),
    ],
)
def test_targets_read_as_kubectl_get_hpa_prints_them(
    metrics: list[dict[str, Any]], current: list[dict[str, Any]], expected: str
) -> None:
    assert targets_text(metrics, current) == expected


def test_the_condition_that_needs_attention_comes_first() -> None:
    ok = [{"type": "AbleToScale", "status": "True", "reason": "ReadyForNewScale"}]
    limited = [*ok, {"type": "ScalingLimited", "status": "True", "reason": "TooManyReplicas"}]
    failing = [
        *limited,
        {"type": "ScalingActive", "status": "False", "reason": "FailedGetResourceMetric"},
    ]
    assert condition_summary(ok) == "OK"
    assert condition_summary(limited) == "Limited TooManyReplicas"
    assert condition_summary(failing) == "ScalingActive=False FailedGetResourceMetric"
    assert condition_summary([]) == "-"


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(5, "5s"), (119, "119s"), (130, "2m10s"), (600, "10m"), (3 * 3600 + 60, "3h1m"),
     (9 * 3600, "9h"), (50 * 3600, "2d2h"), (30 * 86_400, "30d"), (800 * 86_400, "2y")],
)  # fmt: skip
def test_ages_read_like_kubectls(seconds: float, text: str) -> None:
    assert age(seconds) == text


def test_a_row_without_status_yet_is_readable_and_the_table_is_aligned() -> None:
    obj = {
        "metadata": {
            "name": "web",
            "namespace": "shop",
            "creationTimestamp": "2026-12-07T10:00:00Z",
        },
        "spec": {"scaleTargetRef": {"kind": "Deployment", "name": "web"}, "maxReplicas": 10},
    }
    now = 1_796_642_400.0  # 2026-12-07T11:20:00Z
    cells = row(obj, now=now, with_namespace=True)
    assert cells == [
        "shop", "web", "Deployment/web", "cpu: <unknown>/80%", "1", "10", "-", "-", "Enforce", "-",
        "<none>", "-", "80m",
    ]  # fmt: skip
    text = table([cells[1:]], HEADERS)
    header, line = text.splitlines()
    assert header.index("TARGETS") == line.index("cpu:")
