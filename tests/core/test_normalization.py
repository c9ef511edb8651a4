"""Stabilization windows, rate limits and bounds, told as timelines.

Every case feeds a Pods metric whose proposal is exactly the wanted raw recommendation
(one pod per replica, each at `wanted / current` times the target), then checks what the
normalization made of it.
"""

from typing import Any

import pytest
from builders import NOW, condition, pod, pods_metric, run, snapshot


def decide_for(
    *,
    current: int,
    wanted: int,
    behavior: dict[str, Any] | None = None,
    history: dict[str, Any] | None = None,
    min_replicas: int = 1,
    max_replicas: int = 100,
) -> dict[str, Any]:
    """A snapshot whose single metric proposes exactly `wanted` replicas."""
    pods = [pod(f"p{i}") for i in range(current)]
    # Average = wanted per pod against a target of `current`: ratio wanted/current.
    data = {"pods": {"load": {p["name"]: str(wanted) for p in pods}}}
    result = run(
        snapshot(
            current=current,
            pods=pods,
            metrics=[pods_metric("load", str(current))],
            data=data,
            behavior=behavior,
            history=history,
            min_replicas=min_replicas,
            max_replicas=max_replicas,
        )
    )
    assert result["recommendation"] == wanted, result
    return result


def reason(result: dict[str, Any], kind: str) -> tuple[str, str]:
    found = condition(result, kind)
    assert found is not None
    return found["status"], found["reason"]


# --- legacy (no behavior) ----------------------------------------------------------------


def test_legacy_keeps_the_highest_recommendation_of_the_downscale_window() -> None:
    result = decide_for(
        current=8, wanted=4, history={"recommendations": [{"time": NOW - 100, "replicas": 8}]}
    )
    assert result["desiredReplicas"] == 8
    assert reason(result, "AbleToScale") == ("True", "ScaleDownStabilized")


def test_legacy_window_includes_its_exact_start() -> None:
    history = {"recommendations": [{"time": NOW - 300, "replicas": 8}]}
    assert decide_for(current=8, wanted=4, history=history)["desiredReplicas"] == 8


def test_legacy_forgets_recommendations_older_than_the_window() -> None:
    result = decide_for(
        current=8, wanted=4, history={"recommendations": [{"time": NOW - 301, "replicas": 8}]}
    )
    assert result["desiredReplicas"] == 4
    assert reason(result, "AbleToScale") == ("True", "SucceededRescale")


def test_legacy_scale_up_is_capped_at_twice_current_or_four() -> None:
    result = decide_for(current=2, wanted=10)
    assert result["desiredReplicas"] == 4
    assert reason(result, "ScalingLimited") == ("True", "ScaleUpLimit")
    assert decide_for(current=3, wanted=10)["desiredReplicas"] == 6


def test_legacy_max_replicas_limit() -> None:
    result = decide_for(current=8, wanted=20, max_replicas=10)
    assert result["desiredReplicas"] == 10
    assert reason(result, "ScalingLimited") == ("True", "TooManyReplicas")


def test_legacy_min_replicas_limit() -> None:
    result = decide_for(current=4, wanted=1, min_replicas=2)
    assert result["desiredReplicas"] == 2
    assert reason(result, "ScalingLimited") == ("True", "TooFewReplicas")


# --- behavior ----------------------------------------------------------------------------


def test_scale_up_window_applies_the_lowest_recent_recommendation() -> None:
    behavior = {"scaleUp": {"stabilizationWindowSeconds": 60}}
    history = {"recommendations": [{"time": NOW - 30, "replicas": 3}]}
    result = decide_for(current=3, wanted=6, behavior=behavior, history=history)
    assert result["desiredReplicas"] == 3
    assert reason(result, "AbleToScale") == ("True", "ScaleUpStabilized")


def test_behavior_windows_exclude_their_exact_start() -> None:
    behavior = {"scaleUp": {"stabilizationWindowSeconds": 60}}
    history = {"recommendations": [{"time": NOW - 60, "replicas": 3}]}
    assert (
        decide_for(current=3, wanted=6, behavior=behavior, history=history)["desiredReplicas"] == 6
    )


def test_scale_down_window_defaults_to_the_controller_setting() -> None:
    history = {"recommendations": [{"time": NOW - 299, "replicas": 10}]}
    result = decide_for(current=10, wanted=5, behavior={"scaleUp": {}}, history=history)
    assert result["desiredReplicas"] == 10
    assert reason(result, "AbleToScale") == ("True", "ScaleDownStabilized")


@pytest.mark.parametrize(
    ("events", "desired"),
    [
        pytest.param([], 7, id="no-recent-events"),
        pytest.param([{"time": NOW - 30, "change": 1}], 6, id="one-added-this-period"),
        pytest.param([{"time": NOW - 60, "change": 1}], 7, id="event-at-period-start-is-outside"),
    ],
)
def test_pods_policy_limits_scale_up_per_period(events: list[dict[str, Any]], desired: int) -> None:
    behavior = {"scaleUp": {"policies": [{"type": "Pods", "value": 2, "periodSeconds": 60}]}}
    result = decide_for(current=5, wanted=10, behavior=behavior, history={"scaleUpEvents": events})
    assert result["desiredReplicas"] == desired
    assert reason(result, "ScalingLimited") == ("True", "ScaleUpLimit")


def test_percent_policy_limits_scale_down() -> None:
    behavior = {
        "scaleDown": {
            "stabilizationWindowSeconds": 0,
            "policies": [{"type": "Percent", "value": 50, "periodSeconds": 60}],
        }
    }
    result = decide_for(current=10, wanted=1, behavior=behavior)
    assert result["desiredReplicas"] == 5
    assert reason(result, "ScalingLimited") == ("True", "ScaleDownLimit")


def test_percent_scale_down_truncates_and_scale_up_rounds_up() -> None:
    down = {
        "scaleDown": {
            "stabilizationWindowSeconds": 0,
            "policies": [{"type": "Percent", "value": 10, "periodSeconds": 60}],
        }
    }
    assert decide_for(current=15, wanted=1, behavior=down)["desiredReplicas"] == 13  # int(15 * 0.9)
    up = {"scaleUp": {"policies": [{"type": "Percent", "value": 10, "periodSeconds": 60}]}}
    assert decide_for(current=15, wanted=40, behavior=up)["desiredReplicas"] == 17  # ceil(15 * 1.1)


@pytest.mark.parametrize(("select", "desired"), [("Max", 20), ("Min", 14), ("Disabled", 10)])
def test_select_policy(select: str, desired: int) -> None:
    behavior = {
        "scaleUp": {
            "selectPolicy": select,
            "policies": [
                {"type": "Pods", "value": 4, "periodSeconds": 15},
                {"type": "Percent", "value": 100, "periodSeconds": 15},
            ],
        }
    }
    result = decide_for(current=10, wanted=50, behavior=behavior)
    assert result["desiredReplicas"] == desired
    assert reason(result, "ScalingLimited") == ("True", "ScaleUpLimit")


def test_scale_down_disabled_holds_replicas() -> None:
    behavior = {"scaleDown": {"selectPolicy": "Disabled", "stabilizationWindowSeconds": 0}}
    assert decide_for(current=10, wanted=2, behavior=behavior)["desiredReplicas"] == 10


def test_behavior_max_replicas_limit() -> None:
    result = decide_for(current=8, wanted=20, behavior={}, max_replicas=10)
    assert result["desiredReplicas"] == 10
    assert reason(result, "ScalingLimited") == ("True", "TooManyReplicas")


def test_behavior_min_replicas_limit() -> None:
    behavior = {"scaleDown": {"stabilizationWindowSeconds": 0}}
    result = decide_for(current=8, wanted=1, behavior=behavior, min_replicas=3)
    assert result["desiredReplicas"] == 3
    assert reason(result, "ScalingLimited") == ("True", "TooFewReplicas")


# --- history handed back -----------------------------------------------------------------


def test_history_gains_the_recommendation_and_the_scale_event_and_loses_stale_entries() -> None:
    behavior = {
        "scaleUp": {
            "stabilizationWindowSeconds": 0,
            "policies": [{"type": "Pods", "value": 4, "periodSeconds": 60}],
        },
        "scaleDown": {"stabilizationWindowSeconds": 120},
    }
    history = {
        "recommendations": [{"time": NOW - 500, "replicas": 9}, {"time": NOW - 100, "replicas": 3}],
        "scaleUpEvents": [{"time": NOW - 200, "change": 5}, {"time": NOW - 30, "change": 1}],
    }
    result = decide_for(current=3, wanted=5, behavior=behavior, history=history)
    assert result["desiredReplicas"] == 5
    assert result["history"] == {
        "recommendations": [{"time": NOW - 100, "replicas": 3}, {"time": NOW, "replicas": 5}],
        "scaleUpEvents": [{"time": NOW - 30, "change": 1}, {"time": NOW, "change": 2}],
        "scaleDownEvents": [],
    }


def test_chained_decisions_converge_like_the_hpa() -> None:
    """Feeding each decision's history into the next: scale-down waits out the window."""
    # Seeded as the live loop does for a target it sees for the first time.
    history: dict[str, Any] = {"recommendations": [{"time": NOW, "replicas": 10}]}
    current = 10
    for step in range(0, 400, 15):
        now = NOW + step
        pods = [pod(f"p{i}") for i in range(current)]
        doc = snapshot(
            current=current,
            pods=pods,
            metrics=[pods_metric("load", str(current))],
            data={"pods": {"load": {p["name"]: "4" for p in pods}}},
            history=history,
        )
        doc["now"] = now
        result = run(doc)
        history, current = result["history"], result["desiredReplicas"]
        if step < 300:
            assert current == 10, f"scaled down after {step}s, inside the 300 s window"
    assert current < 10


ONE_POD_A_MINUTE_UP = {
    "scaleUp": {
        "stabilizationWindowSeconds": 0,
        "policies": [{"type": "Pods", "value": 4, "periodSeconds": 60}],
    },
    "scaleDown": {"stabilizationWindowSeconds": 0},  # default policy: Percent 100 per 15 s
}


def test_a_scale_down_is_kept_as_long_as_the_scale_up_limit_can_count_it() -> None:
    # calculateScaleUpLimitWithScalingRules starts from current - added + deleted within
    # the scale-up period (60 s): a scale-down 30 s ago still counts, although the
    # scale-down policies only look back 15 s.
    history = {"scaleDownEvents": [{"time": NOW - 30, "change": 2}]}
    held = decide_for(current=4, wanted=4, behavior=ONE_POD_A_MINUTE_UP, history=history)
    assert held["history"]["scaleDownEvents"] == [{"time": NOW - 30, "change": 2}]
    later = decide_for(current=4, wanted=20, behavior=ONE_POD_A_MINUTE_UP, history=history)
    assert later["desiredReplicas"] == 10  # (4 - 0 + 2) + 4
    assert reason(later, "ScalingLimited") == ("True", "ScaleUpLimit")


def test_without_behavior_no_scale_event_is_recorded() -> None:
    # storeScaleEvent returns at once when the HPA has no behavior: nothing reads them.
    result = decide_for(current=2, wanted=4)
    assert result["desiredReplicas"] == 4
    assert result["history"]["scaleUpEvents"] == []
