"""Podscale's paths remember across syncs (history.lastActive, lastBurst, forecastOff).

Each sync's snapshot carries the history the previous decision returned, as the loop
and the simulator feed it back. The HPA's step builds its history of its own fields
(recommendations and scale events); each path must take its memory from the snapshot,
or a cooldown restarts at every sync (a target never goes back to zero), a burst's
hold ends early and a forecast switched off is trusted again at once.
"""

from __future__ import annotations

from autoscaler.core import decide
from autoscaler.core.model import (
    AVERAGE_VALUE,
    EXTERNAL,
    Activation,
    Burst,
    Decision,
    History,
    MetricData,
    MetricForecast,
    MetricSpec,
    MetricTarget,
    Policy,
    Predictive,
    Recommendation,
    Settings,
    Snapshot,
)

NOW = 1_700_000_000.0
# 10 per pod: an External AverageValue target needs no pods to measure.
QUEUE = MetricSpec(EXTERNAL, "queue", MetricTarget(AVERAGE_VALUE, average_value=10_000))


def sync(policy: Policy, replicas: int, queue: int, history: History, at: float) -> Decision:
    return decide(
        Snapshot(
            now=at,
            policy=policy,
            current_replicas=replicas,
            status_replicas=replicas,
            pods=(),
            metrics=MetricData(external={"queue": (queue,)}),
            history=history,
            settings=Settings(downscale_stabilization_window=0),
        )
    )


def test_an_idle_target_goes_back_to_zero_once_the_cooldown_has_passed() -> None:
    policy = Policy(
        max_replicas=5,
        min_replicas=0,
        metrics=(QUEUE,),
        activation=Activation("queue", cooldown_seconds=60),
    )
    history = History(recommendations=(Recommendation(NOW, 1),), last_active=NOW)
    decision = sync(policy, 1, 0, history, NOW + 15)
    assert decision.desired_replicas == 1 and decision.history.last_active == NOW
    for step in range(2, 6):  # 30 .. 75 s after the last activity
        decision = sync(policy, 1, 0, decision.history, NOW + 15 * step)
    assert decision.desired_replicas == 0
    assert decision.notice is not None and decision.notice.reason == "ScaledToZero"


def test_a_bursts_hold_outlasts_the_syncs_after_it() -> None:
    policy = Policy(
        max_replicas=20, metrics=(QUEUE,), burst=Burst(threshold=2.0, stable_window_seconds=60)
    )
    history = History(last_burst=NOW)  # no recommendation: no window holds the replicas
    decision = sync(policy, 8, 8_000, history, NOW + 15)  # calm: the HPA would go to 1
    assert decision.history.last_burst == NOW
    assert decision.desired_replicas == 8  # no scale-down within 60 s of the burst


def test_a_forecast_switched_off_stays_off_until_it_is_accurate_again() -> None:
    policy = Policy(
        max_replicas=20, metrics=(QUEUE,), predictive=Predictive(lead_seconds=60, max_error=0.3)
    )
    off = History(recommendations=(Recommendation(NOW, 2),), forecast_off=True)
    decision = decide(
        Snapshot(
            now=NOW + 15,
            policy=policy,
            current_replicas=2,
            status_replicas=2,
            pods=(),
            metrics=MetricData(external={"queue": (20_000,)}),
            history=off,
            settings=Settings(downscale_stabilization_window=0),
            forecasts=(MetricForecast(0, 90_000, NOW + 75, 0.28),),  # under 0.3, not under 0.24
        )
    )
    assert decision.history.forecast_off and decision.desired_replicas == 2
    assert decision.notice is None  # no ForecastTrusted either


def test_a_paths_write_gives_its_own_reason_for_the_rescale_event() -> None:
    # The loop's SuccessfulRescale event reads "New size: N; reason: <rescale_reason>".
    policy = Policy(
        max_replicas=5,
        min_replicas=0,
        metrics=(QUEUE,),
        activation=Activation("queue", cooldown_seconds=60),
    )
    woken = sync(policy, 0, 1_000, History(), NOW)
    assert woken.desired_replicas == 1
    assert woken.rescale_reason.startswith('activation: "queue" reads 1, above 0')
    idle = History(recommendations=(Recommendation(NOW, 1),), last_active=NOW - 120)
    asleep = sync(policy, 1, 0, idle, NOW)
    assert asleep.desired_replicas == 0
    assert asleep.rescale_reason.startswith("activation: no reading above 0 for 120 s")
