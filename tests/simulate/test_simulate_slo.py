"""The SLO figures: one ruler for every policy, minutes cut from the served traffic,
and the verdict line that reads them.

Aspects: a policy setting (the scale-up tolerance) moves the diagnostic
``underProvisionedMinutes`` but never the SLO figures of the same traffic; how a step's
drops and slow requests fall into minutes; the verdict's words and deltas.
"""

from __future__ import annotations

import inspect
from dataclasses import replace

import pytest

from autoscaler.core.model import Behavior, ScalingRules
from autoscaler.sim.load import Constant
from autoscaler.simulate.engine import Plan, RunResult, Series, Subject
from autoscaler.simulate.report import slo_miss_minutes, summarize
from autoscaler.simulate.setup import bundled, load_targets
from autoscaler.simulate.verdict import verdict


def with_tolerance(tolerance: float) -> Subject:
    target = load_targets([bundled("simulate-policy.yaml")])[0]
    behavior = target.policy.behavior or Behavior()
    up = replace(behavior.scale_up or ScalingRules(), tolerance=tolerance)
    policy = replace(target.policy, behavior=replace(behavior, scale_up=up))
    return Subject(label=f"tolerance {tolerance}", target=replace(target, policy=policy))


def eight_steps() -> Series:
    """Two minutes at 15 s: the metric 20-40 % over target, a drop in the second minute,
    and in the first minute latency that makes 2 % of requests slow."""
    return Series(
        t=[15.0 * i for i in range(8)],
        offered=[300.0] * 8,
        served=[300.0] * 5 + [290.0] + [300.0] * 2,
        dropped=[0.0] * 5 + [10.0] + [0.0] * 2,
        slow=[6.0] * 4 + [0.0] * 4,
        latency_ms=[60.0] * 8,
        ready=[4] * 8,
        replicas=[4] * 8,
        desired=[5] * 8,
        pods=[4] * 8,
        ratio=[1.2, 1.4, 1.2, 1.4, 1.2, 1.4, 1.2, 1.4],
    )


def test_two_policies_differing_only_in_tolerance_get_the_same_ruler() -> None:
    plan = Plan(load=Constant(300.0), duration=120.0)
    strict, loose = with_tolerance(0.1), with_tolerance(0.5)
    first = summarize(RunResult(strict, series=eight_steps()), plan=plan)
    second = summarize(RunResult(loose, series=eight_steps()), plan=plan)
    ruler = ("sloMissMinutes", "badRequests", "droppedRequests", "slowRequests")
    assert [first[k] for k in ruler] == [second[k] for k in ruler] == [2.0, 510.0, 150.0, 360.0]
    # The diagnostic is measured against each policy's own tolerance: it moves.
    assert first["underProvisionedMinutes"] == 2.0
    assert second["underProvisionedMinutes"] == 0.0


def test_the_slo_ruler_takes_no_policy_input() -> None:
    assert list(inspect.signature(slo_miss_minutes).parameters) == [
        "offered", "dropped", "slow", "step",
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("dropped", "slow", "step", "minutes"),
    [
        pytest.param([0, 0, 0, 0, 0, 0, 0, 0.01], [0] * 8, 15.0, 1.0, id="one-drop-one-minute"),
        pytest.param([0] * 8, [1.0] * 8, 15.0, 0.0, id="exactly-1-percent-slow-is-met"),
        pytest.param([0] * 8, [1.01] + [1.0] * 7, 15.0, 1.0, id="just-over-1-percent"),
        pytest.param([5.0, 0.0], [0.0, 0.0], 300.0, 5.0, id="a-5-minute-step-is-5-minutes"),
        pytest.param([0] * 4 + [1.0], [0.0] * 5, 15.0, 0.25, id="a-last-partial-minute"),
    ],
)
def test_one_dropped_request_misses_its_whole_minute(
    dropped: list[float], slow: list[float], step: float, minutes: float
) -> None:
    offered = [100.0] * len(dropped)
    found = slo_miss_minutes(offered, dropped, slow, step=step)
    assert found == pytest.approx(minutes) and isinstance(found, float)  # the table's "0.0"


def summary(slo: float, bad: float, hours: float) -> dict[str, float]:
    return {"sloMissMinutes": slo, "badRequests": bad, "replicaHours": hours}


@pytest.mark.parametrize(
    ("mine", "word"),
    [
        pytest.param(summary(40, 2e5, 265), "better", id="better"),
        pytest.param(summary(80, 4e5, 240), "worse", id="worse"),
        pytest.param(summary(40, 4e5, 250), "mixed", id="mixed"),
        pytest.param(summary(64, 3.68e5, 250), "same", id="same"),
    ],
)
def test_the_verdict_reads_the_slo_figures_only(mine: dict[str, float], word: str) -> None:
    line = verdict("web", "hpa-default", mine, summary(64, 3.68e5, 249.4))
    assert line.startswith(f"web vs hpa-default: {word}: SLO-miss minutes 64 -> ")


def test_the_verdict_says_each_delta_in_percent() -> None:
    line = verdict("web", "hpa-default", summary(40, 2.17e5, 265.0), summary(64, 3.68e5, 249.4))
    assert line == (
        "web vs hpa-default: better: SLO-miss minutes 64 -> 40 (-38 %), "
        "dropped+slow 368k -> 217k (-41 %), replica-hours 249.4 -> 265.0 (+6 %)"
    )
