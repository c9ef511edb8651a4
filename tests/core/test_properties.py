"""Properties that hold for every snapshot, checked on generated ones (hypothesis)."""

import math
from typing import Any

from builders import NOW, pod, run
from hypothesis import given, settings
from hypothesis import strategies as st

PHASES = ["Running", "Running", "Running", "Pending", "Failed", "Succeeded"]


@st.composite
def pods_strategy(draw: st.DrawFn, count: int) -> list[dict[str, Any]]:
    return [
        pod(
            f"p{i}",
            cpu=draw(st.sampled_from(["100m", "250m", "1", "2"])),
            phase=draw(st.sampled_from(PHASES)),
            ready=draw(st.sampled_from([True, True, False, None])),
            start=NOW - draw(st.integers(0, 7200)),
            ready_since=NOW - draw(st.integers(0, 7200)),
            deleting=draw(st.booleans()),
        )
        for i in range(count)
    ]


@st.composite
def rules(draw: st.DrawFn) -> dict[str, Any]:
    policies = draw(
        st.lists(
            st.fixed_dictionaries(
                {
                    "type": st.sampled_from(["Pods", "Percent"]),
                    "value": st.integers(1, 300),
                    "periodSeconds": st.integers(1, 1800),
                }
            ),
            min_size=1,
            max_size=3,
        )
    )
    return {
        "stabilizationWindowSeconds": draw(st.integers(0, 600)),
        "selectPolicy": draw(st.sampled_from(["Max", "Min", "Disabled"])),
        "policies": policies,
    }


@st.composite
def snapshots(draw: st.DrawFn, *, with_history: bool = True) -> dict[str, Any]:
    min_replicas = draw(st.integers(0, 5))
    max_replicas = draw(st.integers(max(min_replicas, 1), 40))
    current = draw(st.integers(max(min_replicas, 1), max_replicas))
    pods = draw(pods_strategy(draw(st.integers(0, current + 2))))
    names = [p["name"] for p in pods]
    kind = draw(st.sampled_from(["cpu", "pods", "external-value", "external-average"]))
    metric: dict[str, Any]
    data: dict[str, Any] = {}
    if kind == "cpu":
        metric = {
            "type": "Resource",
            "resource": {
                "name": "cpu",
                "target": {"type": "Utilization", "averageUtilization": draw(st.integers(1, 150))},
            },
        }
        data["resource"] = {
            n: {
                "timestamp": NOW - draw(st.integers(0, 120)),
                "window": 30,
                "containers": {"app": {"cpu": f"{draw(st.integers(0, 4000))}m"}},
            }
            for n in names
            if draw(st.booleans())
        }
    elif kind == "pods":
        metric = {
            "type": "Pods",
            "pods": {
                "metric": {"name": "m"},
                "target": {"type": "AverageValue", "averageValue": str(draw(st.integers(1, 100)))},
            },
        }
        data["pods"] = {
            "m": {n: str(draw(st.integers(0, 500))) for n in names if draw(st.booleans())}
        }
    else:
        target_type = "Value" if kind == "external-value" else "AverageValue"
        key = "value" if target_type == "Value" else "averageValue"
        metric = {
            "type": "External",
            "external": {
                "metric": {"name": "q"},
                "target": {"type": target_type, key: str(draw(st.integers(1, 100)))},
            },
        }
        data["external"] = {"q": [str(v) for v in draw(st.lists(st.integers(0, 2000), max_size=3))]}
    policy: dict[str, Any] = {
        "minReplicas": min_replicas,
        "maxReplicas": max_replicas,
        "metrics": [metric],
    }
    if draw(st.booleans()):
        policy["behavior"] = {"scaleUp": draw(rules()), "scaleDown": draw(rules())}
    history: dict[str, Any] = {}
    if with_history:
        times = st.integers(NOW - 900, NOW)
        history = {
            "recommendations": [
                {"time": draw(times), "replicas": draw(st.integers(0, 60))}
                for _ in range(draw(st.integers(0, 4)))
            ],
            "scaleUpEvents": [
                {"time": draw(times), "change": draw(st.integers(1, 10))}
                for _ in range(draw(st.integers(0, 3)))
            ],
            "scaleDownEvents": [
                {"time": draw(times), "change": draw(st.integers(1, 10))}
                for _ in range(draw(st.integers(0, 3)))
            ],
        }
    return {
        "now": NOW,
        "policy": policy,
        "currentReplicas": current,
        "pods": pods,
        "metrics": data,
        "history": history,
    }


@settings(max_examples=400, deadline=None)
@given(snapshots())
def test_result_stays_within_bounds_once_current_is_inside_them(doc: dict[str, Any]) -> None:
    result = run(doc)
    policy = doc["policy"]
    assert policy["minReplicas"] <= result["desiredReplicas"] <= policy["maxReplicas"]
    assert len(result["metrics"]) == 1
    assert (result["error"] is None) or result["desiredReplicas"] == doc["currentReplicas"]


def _allowance(rules: dict[str, Any], current: int, *, up: bool) -> int:
    """Most replicas one decision may add (up) or remove, with no earlier scale events."""
    if rules["selectPolicy"] == "Disabled":
        return 0
    changes = []
    for p in rules["policies"]:
        if p["type"] == "Pods":
            changes.append(p["value"])
        elif up:
            changes.append(math.ceil(current * (1 + p["value"] / 100)) - current)
        else:
            changes.append(current - int(current * (1 - p["value"] / 100)))
    return max(changes) if rules["selectPolicy"] == "Max" else min(changes)


@settings(max_examples=400, deadline=None)
@given(snapshots(with_history=False))
def test_a_scale_step_never_exceeds_what_the_behavior_policies_allow(doc: dict[str, Any]) -> None:
    behavior = doc["policy"].get("behavior")
    if behavior is None:
        return
    result = run(doc)
    current, desired = doc["currentReplicas"], result["desiredReplicas"]
    if desired > current:
        assert desired - current <= max(0, _allowance(behavior["scaleUp"], current, up=True))
    elif desired < current:
        assert current - desired <= max(0, _allowance(behavior["scaleDown"], current, up=False))


@settings(max_examples=300, deadline=None)
@given(
    current=st.integers(1, 30),
    target=st.integers(10, 1000),
    ratio=st.floats(0.9, 1.1),
    behavior=st.booleans(),
)
def test_within_tolerance_nothing_changes(
    current: int, target: int, ratio: float, behavior: bool
) -> None:
    pods = [pod(f"p{i}") for i in range(current)]
    value = str(math.floor(target * ratio))
    if abs(int(value) / target - 1.0) > 0.1:
        return
    policy: dict[str, Any] = {
        "minReplicas": 1,
        "maxReplicas": 100,
        "metrics": [
            {
                "type": "Pods",
                "pods": {
                    "metric": {"name": "m"},
                    "target": {"type": "AverageValue", "averageValue": str(target)},
                },
            }
        ],
    }
    if behavior:
        policy["behavior"] = {}
    doc = {
        "now": NOW,
        "policy": policy,
        "currentReplicas": current,
        "pods": pods,
        "metrics": {"pods": {"m": {p["name"]: value for p in pods}}},
    }
    result = run(doc)
    assert result["metrics"][0]["proposal"] == current
    assert result["desiredReplicas"] == current


# --- Podscale's paths (core.paths): the safety properties docs/policies.md promises ------


@st.composite
def with_paths(draw: st.DrawFn) -> dict[str, Any]:
    """A generated snapshot with some of Podscale's paths on, forecasts, and their memory."""
    doc = draw(snapshots())
    policy = doc["policy"]
    metric = policy["metrics"][0]
    name = "cpu" if metric["type"] == "Resource" else ("m" if metric["type"] == "Pods" else "q")
    if draw(st.booleans()):
        policy["predictive"] = {"maxError": draw(st.sampled_from([0.1, 0.3, 1.0]))}
    if draw(st.booleans()):
        policy["burst"] = {
            "threshold": draw(st.sampled_from([1.2, 2, 3])),
            "stableWindowSeconds": draw(st.integers(0, 300)),
        }
        if draw(st.booleans()):
            policy["burst"]["maxReplicas"] = draw(st.integers(1, policy["maxReplicas"]))
    if policy["minReplicas"] == 0 and name == "q" and draw(st.booleans()):
        policy["activation"] = {
            "metric": name,
            "threshold": str(draw(st.integers(0, 100))),
            "cooldownSeconds": draw(st.integers(0, 600)),
        }
        if draw(st.booleans()):
            doc["currentReplicas"] = 0
    doc["forecasts"] = [
        {
            "metric": 0,
            "total": f"{draw(st.integers(0, 20_000))}m"
            if name == "cpu"
            else str(draw(st.integers(0, 5000))),
            "at": NOW + draw(st.integers(-30, 120)),
            "error": draw(st.one_of(st.none(), st.floats(0, 1))),
        }
        for _ in range(draw(st.integers(0, 2)))
    ]
    memory = doc["history"]
    if draw(st.booleans()):
        memory["lastBurst"] = NOW - draw(st.integers(0, 400))
    if draw(st.booleans()):
        memory["lastActive"] = NOW - draw(st.integers(0, 900))
    memory["forecastOff"] = draw(st.booleans())
    return doc


def _without(doc: dict[str, Any], *, policy_key: str = "", forecasts: bool = False) -> Any:
    changed = {**doc, "policy": {k: v for k, v in doc["policy"].items() if k != policy_key}}
    if forecasts:
        changed["forecasts"] = []
    return changed


@settings(max_examples=400, deadline=None)
@given(with_paths(), st.integers(0, 3))
def test_every_path_keeps_the_bounds(doc: dict[str, Any], above: int) -> None:
    policy = doc["policy"]
    if above:  # maxReplicas lowered below the current replicas (during a burst, say)
        doc["currentReplicas"] = policy["maxReplicas"] + above
    result = run(doc)
    assert policy["minReplicas"] <= result["desiredReplicas"] <= policy["maxReplicas"]


@settings(max_examples=400, deadline=None)
@given(with_paths())
def test_a_forecast_never_lowers_the_decision(doc: dict[str, Any]) -> None:
    with_forecasts = run(doc)["desiredReplicas"]
    assert with_forecasts >= run(_without(doc, forecasts=True))["desiredReplicas"]


@settings(max_examples=400, deadline=None)
@given(with_paths())
def test_a_burst_never_scales_down(doc: dict[str, Any]) -> None:
    result = run(doc)
    assert result["desiredReplicas"] >= run(_without(doc, policy_key="burst"))["desiredReplicas"]
    burst = doc["policy"].get("burst")
    last = result["history"].get("lastBurst")
    if burst is not None and last is not None and NOW - last < burst["stableWindowSeconds"]:
        assert result["desiredReplicas"] >= doc["currentReplicas"]


@settings(max_examples=300, deadline=None)
@given(with_paths())
def test_a_policy_without_paths_decides_as_the_hpa(doc: dict[str, Any]) -> None:
    from autoscaler.core.hpa import hpa_decision
    from autoscaler.core.paths import activate, burst, forecast
    from autoscaler.documents import snapshot_from_document

    plain = {**doc, "policy": dict(doc["policy"])}
    for key in ("predictive", "burst", "activation"):
        plain["policy"].pop(key, None)
    if plain["currentReplicas"] == 0:
        plain["currentReplicas"] = max(1, plain["policy"]["minReplicas"])
    snapshot = snapshot_from_document(plain)
    hpa = hpa_decision(snapshot)
    assert activate(snapshot, hpa) is hpa
    assert forecast(snapshot, hpa) is hpa
    assert burst(snapshot, hpa) is hpa
    result = run(plain)
    assert "path" not in result and "proposals" not in result
    # Forecasts without spec.predictive are not read.
    assert result == run({**plain, "forecasts": []})
