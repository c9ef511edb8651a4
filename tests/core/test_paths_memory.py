"""The paths' memory (``History.last_burst``, ``last_active``, ``forecast_off``) reaches
them through the HPA's step: without it a burst's stable window, an activation's cooldown
and a switched-off forecast would all be forgotten from one sync to the next."""

from __future__ import annotations

from dataclasses import replace

from autoscaler.core import decide
from autoscaler.core.model import (
    AVERAGE_VALUE,
    EXTERNAL,
    PODS,
    Activation,
    Burst,
    History,
    MetricData,
    MetricSpec,
    MetricTarget,
    Pod,
    Policy,
    Predictive,
    Snapshot,
)

NOW = 1_700_000_000.0
PER_POD = MetricSpec(PODS, "rps", MetricTarget(AVERAGE_VALUE, average_value=100_000))


def _snapshot(policy: Policy, history: History, *, each: int = 50_000) -> Snapshot:
    pods = tuple(Pod(f"p{i}", ready="True", start_time=NOW - 3600) for i in range(4))
    return Snapshot(
        now=NOW,
        policy=policy,
        current_replicas=4,
        status_replicas=4,
        pods=pods,
        metrics=MetricData(pods={"rps": {p.name: each for p in pods}}),
        history=history,
    )


def test_a_burst_seen_10_s_ago_still_holds_scale_downs() -> None:
    policy = Policy(max_replicas=10, metrics=(PER_POD,), burst=Burst())
    decision = decide(_snapshot(policy, History(last_burst=NOW - 10)))
    # Half the target would ask for 2; the burst's stable window (60 s) keeps 4.
    assert decision.desired_replicas == 4
    assert decision.history.last_burst == NOW - 10


def test_the_activation_cooldown_counts_from_the_saved_last_active_time() -> None:
    queue = MetricSpec(EXTERNAL, "queue", MetricTarget(AVERAGE_VALUE, average_value=10_000))
    policy = Policy(
        max_replicas=10,
        min_replicas=0,
        metrics=(PER_POD, queue),
        activation=Activation("queue", cooldown_seconds=300),
    )
    quiet = _snapshot(policy, History(last_active=NOW - 400), each=10_000)
    quiet = replace(quiet, metrics=replace(quiet.metrics, external={"queue": (0,)}))
    decision = decide(quiet)
    # 400 s without a message on the queue, a cooldown of 300 s, the HPA asks for 1: zero.
    assert decision.desired_replicas == 0
    assert decision.history.last_active == NOW - 400


def test_a_switched_off_forecast_stays_off_without_a_new_error() -> None:
    policy = Policy(max_replicas=10, metrics=(PER_POD,), predictive=Predictive())
    decision = decide(_snapshot(policy, History(forecast_off=True)))
    assert decision.history.forecast_off is True
