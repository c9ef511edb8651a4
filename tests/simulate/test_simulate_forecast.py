"""The simulator forecasts with the loop's forecaster: a predictive policy's snapshots
carry forecasts once it has history, refits happen at fixed virtual times (a run
repeats itself), and a ramp makes the forecast path lead."""

from __future__ import annotations

from dataclasses import replace

from autoscaler.core.model import FORECAST, Decision, Predictive, Snapshot
from autoscaler.ports import Target
from autoscaler.sim.load import Trace, TraceLoad
from autoscaler.simulate.engine import Plan, Subject, simulate
from autoscaler.simulate.setup import bundled, load_targets

# An hour at 100 rps, then a ramp to 600 rps over 30 minutes.
RAMP = TraceLoad(
    trace=Trace(
        tuple(60.0 * i for i in range(91)),
        tuple([100.0] * 60 + [100.0 + 500 * i / 30 for i in range(31)]),
    )
)


def run(predictive: bool) -> list[tuple[Snapshot, Decision]]:
    target = load_targets([bundled("simulate-policy.yaml")])[0]
    if predictive:
        policy = replace(target.policy, predictive=Predictive(lead_seconds=60))
        target = replace(target, policy=policy)
    seen: list[tuple[Snapshot, Decision]] = []

    def observe(_: Target, snapshot: Snapshot, decision: Decision) -> None:
        seen.append((snapshot, decision))

    plan = Plan(load=RAMP, duration=90 * 60.0, warmup=60.0, sync_phase=5.0)
    simulate(plan, [Subject(label="web", target=target, replicas=2)], observer=observe)
    return seen


def test_a_predictive_policy_forecasts_and_repeats_itself() -> None:
    seen = run(predictive=True)
    with_forecasts = [s for s, _ in seen if s.forecasts]
    assert with_forecasts and with_forecasts[0].now - seen[0][0].now >= 600  # after history
    assert any(d.path == FORECAST for _, d in seen)
    again = run(predictive=True)
    assert [(s.forecasts, d.desired_replicas) for s, d in again] == [
        (s.forecasts, d.desired_replicas) for s, d in seen
    ]


def test_a_plain_policy_has_no_forecaster() -> None:
    assert not any(s.forecasts for s, _ in run(predictive=False))
