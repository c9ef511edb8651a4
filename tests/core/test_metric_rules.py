"""The HPA replica formula per metric kind, with hand-worked numbers.

Each row states the pods, the samples and the proposal the HPA's replica calculator
gives for them; the arithmetic is in the row's comment. The HPA's own test cases, ported,
live in tests/core/cases/ (test_golden_cases.py).
"""

from typing import Any

import pytest
from builders import (
    NOW,
    condition,
    cpu_metric,
    external_metric,
    object_metric,
    pod,
    pods_metric,
    run,
    snapshot,
    usage,
)

ONE_MIN = NOW - 60


def cpu_case(
    pods: list[dict[str, Any]], samples: dict[str, Any], *, target: int = 50, **kw: Any
) -> dict[str, Any]:
    return run(
        snapshot(
            current=kw.pop("current", len(pods)),
            pods=pods,
            metrics=[cpu_metric(target)],
            data={"resource": samples},
            **kw,
        )
    )


@pytest.mark.parametrize(
    ("pods", "samples", "current", "proposal", "utilization"),
    [
        pytest.param(  # 2700m / 3000m = 90%; 90/50 = 1.8; ceil(1.8 * 3) = 6
            [pod("a"), pod("b"), pod("c")],
            {p: usage("900m") for p in "abc"},
            3,
            6,
            90,
            id="scale-up",
        ),
        pytest.param(  # 53%: ratio 1.06 is inside the 10% band
            [pod("a"), pod("b")], {p: usage("530m") for p in "ab"}, 2, 2, 53, id="within-tolerance"
        ),
        pytest.param(  # 55/50 = 1.1 exactly: the band is inclusive (1.0 + tolerance)
            [pod("a"), pod("b"), pod("c")],
            {p: usage("550m") for p in "abc"},
            3,
            3,
            55,
            id="tolerance-edge-inclusive",
        ),
        pytest.param(  # 10%: 0.2 * 4 = 0.8 -> 1... but a missing pod counts at 100%:
            # (300 + 1000) * 100 // 4000 = 32% -> 0.64 * 4 = 2.56 -> 3
            [pod("a"), pod("b"), pod("c"), pod("d")],
            {p: usage("100m") for p in "abc"},
            4,
            3,
            10,
            id="missing-pod-scale-down-counts-full-request",
        ),
        pytest.param(  # 90% -> ratio 1.8 > 1; the missing pod counts as 0: 1800/3000 = 60%,
            # 1.2 * 3 = 3.5999... -> 4
            [pod("a"), pod("b"), pod("c")],
            {p: usage("900m") for p in "ab"},
            3,
            4,
            90,
            id="missing-pod-scale-up-counts-zero",
        ),
        pytest.param(  # same numbers with a Pending pod instead of a missing one
            [pod("a"), pod("b"), pod("c", phase="Pending", ready=None)],
            {p: usage("900m") for p in "ab"},
            3,
            4,
            90,
            id="pending-pod-scale-up-counts-zero",
        ),
        pytest.param(  # scale-down: the unready pod is just left out: ceil(0.2 * 2) = 1
            [pod("a"), pod("b"), pod("c", phase="Pending", ready=None)],
            {p: usage("100m") for p in "ab"},
            3,
            1,
            10,
            id="pending-pod-ignored-on-scale-down",
        ),
        pytest.param(  # 60% -> up; with the missing pod at 0: 30% -> down: direction flip, keep 2
            [pod("a"), pod("b")], {"a": usage("600m")}, 2, 2, 60, id="no-direction-flip"
        ),
        pytest.param(  # deleted and failed pods vanish: ceil(1.8 * 2) = 4
            [pod("a"), pod("b"), pod("c", deleting=True), pod("d", phase="Failed")],
            {"a": usage("900m"), "b": usage("900m"), "c": usage("0")},
            4,
            4,
            90,
            id="deleted-and-failed-ignored",
        ),
        pytest.param(  # within the CPU initialization period, ready 50 s ago: a 30 s window
            # sampled 10 s ago started after readiness -> trusted: ceil(1.8 * 2) = 4
            [pod("a", start=ONE_MIN, ready_since=NOW - 50), pod("b")],
            {p: usage("900m") for p in "ab"},
            2,
            4,
            90,
            id="young-pod-sample-after-full-window-counts",
        ),
        pytest.param(  # ready 20 s ago: the window reaches before readiness -> unready, 0 on
            # scale-up: 900/2000 = 45% -> 0.9 < 1 would flip direction -> keep 2
            [pod("a", start=ONE_MIN, ready_since=NOW - 20), pod("b")],
            {p: usage("900m") for p in "ab"},
            2,
            2,
            90,
            id="young-pod-sample-too-early-is-unready",
        ),
        pytest.param(  # after the initialization period a pod that never became ready (its
            # last transition came within initialReadinessDelay of its start) is unready and
            # counts as 0 on scale-up: 1800/3000 = 60%, 1.2 * 3 = 3.5999... -> 4 (not 6)
            [pod("a", ready=False, ready_since=NOW - 3600 + 5), pod("b"), pod("c")],
            {p: usage("900m") for p in "abc"},
            3,
            4,
            90,
            id="never-ready-pod-is-unready",
        ),
        pytest.param(  # ...but one that was ready once and is unready now still counts
            [pod("a", ready=False, ready_since=NOW - 600), pod("b"), pod("c")],
            {p: usage("900m") for p in "abc"},
            3,
            6,
            90,
            id="once-ready-pod-counts",
        ),
    ],
)
def test_resource_utilization(
    pods: list[dict[str, Any]],
    samples: dict[str, Any],
    current: int,
    proposal: int,
    utilization: int,
) -> None:
    result = cpu_case(pods, samples, current=current)
    metric = result["metrics"][0]
    assert metric["error"] is None
    assert metric["proposal"] == proposal
    assert metric["current"]["averageUtilization"] == utilization


def test_utilization_reports_raw_average_value() -> None:
    result = cpu_case([pod("a"), pod("b")], {"a": usage("900m"), "b": usage("601m")})
    assert result["metrics"][0]["current"] == {"averageUtilization": 75, "averageValue": "750m"}


def test_missing_request_fails_the_metric_with_the_hpa_message() -> None:
    result = cpu_case([pod("a"), pod("b", cpu=None)], {p: usage("900m") for p in "ab"})
    assert "missing request for cpu in container app of Pod b" in result["metrics"][0]["error"]
    assert result["desiredReplicas"] == 2
    assert result["error"].startswith("invalid metrics (1 invalid out of 1), first error is: ")
    active = condition(result, "ScalingActive")
    assert active is not None
    assert (active["status"], active["reason"]) == ("False", "FailedGetResourceMetric")
    assert active["message"].startswith("the HPA was unable to compute the replica count: ")


@pytest.mark.parametrize(
    ("data", "message"),
    [
        pytest.param({}, "no metrics returned from resource metrics API", id="absent"),
        pytest.param({"resource": {}}, "no metrics returned from resource metrics API", id="empty"),
        pytest.param(
            {"resource": {"a": usage("1", timestamp=NOW), "b": usage("1")}}, None, id="present"
        ),
    ],
)
def test_absent_resource_metrics_are_a_failed_read(
    data: dict[str, Any], message: str | None
) -> None:
    result = run(snapshot(current=2, pods=[pod("a"), pod("b")], metrics=[cpu_metric()], data=data))
    if message is None:
        assert result["metrics"][0]["error"] is None
    else:
        assert message in result["metrics"][0]["error"]


def test_no_pods_is_an_error() -> None:
    result = cpu_case([], {"x": usage("1")}, current=2)
    assert "no pods returned by selector while calculating replica count" in result["error"]


def test_container_resource_reads_only_that_container() -> None:
    containers = [
        {"name": "app", "requests": {"cpu": "1"}},
        {"name": "sidecar", "requests": {"cpu": "100m"}},
    ]
    metric = {
        "type": "ContainerResource",
        "containerResource": {
            "name": "cpu",
            "container": "app",
            "target": {"type": "Utilization", "averageUtilization": 50},
        },
    }
    sample = {
        "timestamp": NOW - 10,
        "window": 30,
        "containers": {"app": {"cpu": "900m"}, "sidecar": {"cpu": "100m"}},
    }
    result = run(
        snapshot(
            current=2,
            pods=[pod("a", containers=containers), pod("b", containers=containers)],
            metrics=[metric],
            data={"resource": {"a": sample, "b": sample}},
        )
    )
    assert result["metrics"][0]["proposal"] == 4  # 90% of the app container's 1 CPU
    assert result["metrics"][0]["current"]["averageUtilization"] == 90


def test_a_failed_container_resource_metric_names_the_container() -> None:
    # computeReplicasForMetric: "failed to get %s container metric value: %v" with
    # spec.ContainerResource.Container, not the resource name.
    metric = {
        "type": "ContainerResource",
        "containerResource": {
            "name": "cpu",
            "container": "app",
            "target": {"type": "Utilization", "averageUtilization": 50},
        },
    }
    result = run(snapshot(current=2, pods=[pod("a"), pod("b")], metrics=[metric], data={}))
    assert result["metrics"][0]["error"].startswith("failed to get app container metric value: ")


def test_resource_average_value_target() -> None:
    metric = {
        "type": "Resource",
        "resource": {"name": "cpu", "target": {"type": "AverageValue", "averageValue": "500m"}},
    }
    result = run(
        snapshot(
            current=3,
            pods=[pod(p) for p in "abc"],
            metrics=[metric],
            data={"resource": {p: usage("900m") for p in "abc"}},
        )
    )
    assert result["metrics"][0]["proposal"] == 6  # 900m / 500m = 1.8; ceil(1.8 * 3)
    assert result["metrics"][0]["current"] == {"averageValue": "900m"}


def test_pods_metric_average_value() -> None:
    result = run(
        snapshot(
            current=2,
            pods=[pod("a"), pod("b")],
            metrics=[pods_metric("rps", "5")],
            data={"pods": {"rps": {"a": "10", "b": "12"}}},
        )
    )
    # average 11 / 5 = 2.2; ceil(2.2 * 2) = 5
    assert result["metrics"][0]["proposal"] == 5
    assert result["metrics"][0]["current"] == {"averageValue": "11"}


def test_object_value_scales_ready_pods() -> None:
    pods = [pod("a"), pod("b"), pod("c", ready=False)]
    result = run(
        snapshot(
            current=3,
            pods=pods,
            metrics=[object_metric("rps", value="50")],
            data={"object": {"rps": "100"}},
        )
    )
    assert result["metrics"][0]["proposal"] == 4  # ratio 2 * 2 Running+Ready pods
    assert result["metrics"][0]["current"] == {"value": "100"}


def test_object_average_value_divides_by_status_replicas() -> None:
    result = run(
        snapshot(
            current=4,
            statusReplicas=4,
            pods=[pod(p) for p in "abcd"],
            metrics=[object_metric("rps", average="100")],
            data={"object": {"rps": "1000"}},
        )
    )
    assert result["metrics"][0]["proposal"] == 10  # ceil(1000 / 100)
    assert result["metrics"][0]["current"] == {"averageValue": "250"}


def test_external_value_sums_every_series() -> None:
    result = run(
        snapshot(
            current=2,
            pods=[pod("a"), pod("b")],
            metrics=[external_metric("queue", value="10")],
            data={"external": {"queue": ["30", "12"]}},
        )
    )
    assert result["metrics"][0]["proposal"] == 9  # 42 / 10 = 4.2; ceil(4.2 * 2)
    assert result["metrics"][0]["current"] == {"value": "42"}


def test_an_external_average_value_wins_whatever_the_target_type_says() -> None:
    # computeStatusForExternalMetric checks Target.AverageValue before Target.Value.
    metric = external_metric("queue", value="10")
    metric["external"]["target"]["averageValue"] = "20"
    result = run(
        snapshot(
            current=2,
            pods=[pod("a"), pod("b")],
            metrics=[metric],
            data={"external": {"queue": ["30", "50"]}},
        )
    )
    assert result["metrics"][0]["proposal"] == 4  # ceil(80 / 20), not ceil(80 / 10 * 2)
    assert result["metrics"][0]["current"] == {"averageValue": "40"}  # 80 / 2 replicas


def test_an_external_average_value_reads_a_negative_sum_as_overflow() -> None:
    # GetExternalPerPodMetricReplicas sums with `usage += val; if usage < 0 { usage =
    # MaxInt64 }`: it takes any negative running total for an int64 overflow. -5000m then
    # reads as MaxInt64 milli-units; ceil(MaxInt64 / 1000) > MaxInt32 -> MaxInt32, which
    # the legacy limit cuts to max(2 * 2, 4) = 4.
    result = run(
        snapshot(
            current=2,
            pods=[pod("a"), pod("b")],
            metrics=[external_metric("queue", average="1")],
            data={"external": {"queue": ["10", "-15"]}},
        )
    )
    assert result["metrics"][0]["proposal"] == 2**31 - 1
    assert result["metrics"][0]["current"] == {"averageValue": f"{2**63 - 1}m"}
    assert result["desiredReplicas"] == 4


def test_an_external_value_keeps_a_negative_sum() -> None:
    # GetExternalMetricReplicas only saturates a positive overflow: 10 - 15 = -5 stays,
    # ratio -5 / 10 = -0.5; ceil(-0.5 * 2 ready pods) = -1 (then min/max bring it to 1).
    result = run(
        snapshot(
            current=2,
            pods=[pod("a"), pod("b")],
            metrics=[external_metric("queue", value="10")],
            data={"external": {"queue": ["10", "-15"]}},
        )
    )
    assert result["metrics"][0]["proposal"] == -1
    assert result["metrics"][0]["current"] == {"value": "-5"}


def test_a_negative_proposal_is_normalized_as_zero() -> None:
    # reconcileAutoscaler starts desiredReplicas at 0 and takes the metrics' proposal only
    # `if metricDesiredReplicas > desiredReplicas`: a proposal of -1 (sum -5 against a
    # Value of 10, ceil(-0.5 * 2) = -1) is normalized, and recorded, as 0. With
    # minReplicas 0 that is within range: ScalingLimited False, DesiredWithinRange.
    result = run(
        snapshot(
            current=2,
            min_replicas=0,
            pods=[pod("a"), pod("b")],
            metrics=[external_metric("queue", value="10")],
            data={"external": {"queue": ["10", "-15"]}},
        )
    )
    assert result["metrics"][0]["proposal"] == -1
    assert result["desiredReplicas"] == 0
    limited = condition(result, "ScalingLimited")
    assert limited is not None
    assert (limited["status"], limited["reason"]) == ("False", "DesiredWithinRange")
    assert result["history"]["recommendations"][-1]["replicas"] == 0


def test_an_object_metric_follows_its_target_type() -> None:
    metric = object_metric("rps", value="50")
    metric["object"]["target"]["averageValue"] = "1"
    result = run(
        snapshot(
            current=2,
            pods=[pod("a"), pod("b")],
            metrics=[metric],
            data={"object": {"rps": "100"}},
        )
    )
    assert result["metrics"][0]["current"] == {"value": "100"}
    assert result["metrics"][0]["proposal"] == 4  # ratio 2 * 2 ready pods


def test_an_object_average_value_is_named_like_the_hpa_names_it() -> None:
    result = run(
        snapshot(
            current=4,
            statusReplicas=4,
            pods=[pod(p) for p in "abcd"],
            metrics=[object_metric("rps", average="100")],
            data={"object": {"rps": "1000"}},
        )
    )
    [active] = [c for c in result["conditions"] if c["type"] == "ScalingActive"]
    assert active["message"].endswith("from external metric rps()")


def test_external_scales_from_zero_when_min_replicas_is_zero() -> None:
    result = run(
        snapshot(
            current=0,
            min_replicas=0,
            metrics=[external_metric("queue", value="10")],
            data={"external": {"queue": ["30"]}},
        )
    )
    assert result["metrics"][0]["proposal"] == 3  # from zero: ceil(ratio)
    assert result["desiredReplicas"] == 3


def test_external_scales_to_zero() -> None:
    result = run(
        snapshot(
            current=2,
            min_replicas=0,
            pods=[pod("a"), pod("b")],
            metrics=[external_metric("queue", average="10")],
            data={"external": {"queue": ["0"]}},
        )
    )
    assert result["desiredReplicas"] == 0


def test_zero_replicas_disable_scaling_unless_min_is_zero() -> None:
    result = run(
        snapshot(
            current=0,
            metrics=[external_metric("queue", value="10")],
            data={"external": {"queue": ["30"]}},
        )
    )
    assert result["desiredReplicas"] == 0
    active = condition(result, "ScalingActive")
    assert active is not None and active["reason"] == "ScalingDisabled"


@pytest.mark.parametrize(
    ("current", "desired", "reason"),
    [(12, 10, "above"), (1, 3, "below")],
)
def test_replicas_outside_bounds_are_brought_inside(
    current: int, desired: int, reason: str
) -> None:
    result = run(snapshot(current=current, min_replicas=3, max_replicas=10, metrics=[cpu_metric()]))
    assert result["desiredReplicas"] == desired
    able = condition(result, "AbleToScale")
    assert able is not None and able["reason"] == "SucceededRescale"


def test_unknown_metric_type_is_a_failed_metric_not_a_bad_snapshot() -> None:
    result = run(snapshot(current=2, metrics=[{"type": "Magic"}]))
    assert result["metrics"][0]["error"] == 'unknown metric source type "Magic"'
    active = condition(result, "ScalingActive")
    assert active is not None and active["reason"] == "InvalidMetricSourceType"
    assert result["desiredReplicas"] == 2


def test_largest_proposal_wins_across_metrics() -> None:
    result = run(
        snapshot(
            current=2,
            pods=[pod("a"), pod("b")],
            behavior={},
            metrics=[cpu_metric(50), pods_metric("rps", "5")],
            data={
                "resource": {p: usage("600m") for p in "ab"},
                "pods": {"rps": {"a": "10", "b": "10"}},
            },
        )
    )
    assert [m["proposal"] for m in result["metrics"]] == [3, 4]
    assert result["recommendation"] == 4
    assert result["desiredReplicas"] == 4
    active = condition(result, "ScalingActive")
    assert active is not None and active["message"].endswith("from pods metric rps")


def test_an_invalid_metric_does_not_block_a_scale_up() -> None:
    result = run(
        snapshot(
            current=2,
            pods=[pod("a"), pod("b")],
            metrics=[cpu_metric(50), pods_metric("rps", "5")],
            data={"pods": {"rps": {"a": "10", "b": "10"}}},
        )
    )
    assert result["metrics"][0]["error"] is not None
    assert result["desiredReplicas"] == 4
    assert result["error"] is None


def test_an_invalid_metric_blocks_a_scale_down() -> None:
    result = run(
        snapshot(
            current=4,
            pods=[pod(p) for p in "abcd"],
            metrics=[cpu_metric(50), pods_metric("rps", "5")],
            data={"pods": {"rps": {p: "1" for p in "abcd"}}},
        )
    )
    assert result["metrics"][1]["proposal"] == 1
    assert result["recommendation"] == 1
    assert result["desiredReplicas"] == 4
    assert result["error"].startswith("invalid metrics (1 invalid out of 2)")
    active = condition(result, "ScalingActive")
    assert active is not None and (active["status"], active["reason"]) == (
        "False",
        "FailedGetResourceMetric",
    )


def test_per_direction_tolerance_overrides_the_controller_tolerance() -> None:
    pods = [pod(p) for p in "abc"]
    data = {"resource": {p: usage("700m") for p in "abc"}}  # 70/50 = 1.4
    loose = run(
        snapshot(
            current=3,
            pods=pods,
            metrics=[cpu_metric()],
            data=data,
            behavior={"scaleUp": {"tolerance": "0.5"}},
        )
    )
    assert loose["metrics"][0]["proposal"] == 3
    strict = run(
        snapshot(
            current=3,
            pods=pods,
            metrics=[cpu_metric()],
            data=data,
            behavior={"scaleDown": {"tolerance": "0.5"}},
        )
    )
    assert strict["metrics"][0]["proposal"] == 5  # ceil(1.4 * 3) = 4.2 -> 5


def test_sidecar_init_containers_count_toward_requests() -> None:
    sidecar = {"name": "proxy", "restartPolicy": "Always", "requests": {"cpu": "1"}}
    plain_init = {"name": "migrate", "requests": {"cpu": "4"}}
    pods = [pod(p) | {"initContainers": [sidecar, plain_init]} for p in "ab"]
    sample = {
        "timestamp": NOW - 10,
        "window": 30,
        "containers": {"app": {"cpu": "900m"}, "proxy": {"cpu": "900m"}},
    }
    result = run(
        snapshot(
            current=2,
            pods=pods,
            metrics=[cpu_metric(50)],
            data={"resource": {"a": sample, "b": sample}},
        )
    )
    # (1800m + 1800m) / (2 + 2 CPU requested; the plain init container does not count) = 90%
    assert result["metrics"][0]["current"]["averageUtilization"] == 90


def test_a_source_error_is_quoted_in_the_failed_metric() -> None:
    cause = "metrics-server not found: install it or run with --resource-metrics prometheus"
    result = run(
        snapshot(
            current=2,
            pods=[pod("a"), pod("b")],
            metrics=[cpu_metric(50), pods_metric("rps", "5")],
            data={"errors": {"resource": cause, "rps": "Prometheus at http://p:9090 refused"}},
        )
    )
    assert cause in result["metrics"][0]["error"]
    assert "Prometheus at http://p:9090 refused" in result["metrics"][1]["error"]
