"""The pre-roll (``--history``): the load before the recorded range runs through the same
loop unrecorded, so the loop's memory (and a forecaster) learns from it.

Aspects: the recorded range starts from the state the pre-roll left (not from the
warm-up's first rate); nothing of the pre-roll is recorded or observed; a predictive
policy gets up to a week of the trace by default and the output says so; every run of
one command gets the same pre-roll; ``--history`` past the trace's start is one line.
"""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from autoscaler.cli import main
from autoscaler.core.model import Snapshot
from autoscaler.sim.load import Trace, TraceLoad
from autoscaler.simulate.engine import Plan, Subject, simulate
from autoscaler.simulate.setup import bundled, load_targets

HOUR = 3600.0
# Two hours at 2,000 rps, then 100 rps: recorded from the second hour on (offset 2 h)
# with a pre-roll of up to two hours.
BUSY_THEN_QUIET = TraceLoad(trace=Trace((0.0, 2 * HOUR), (2000.0, 100.0)), time_offset=2 * HOUR)
PREDICTIVE = """\
apiVersion: podscale.dev/v1alpha1
kind: ScalingPolicy
metadata: {name: web, namespace: default}
spec:
  scaleTargetRef: {apiVersion: apps/v1, kind: Deployment, name: web}
  minReplicas: 2
  maxReplicas: 20
  predictive: {leadSeconds: 60}
  metrics:
    - type: Pods
      pods:
        metric: {name: http_requests_per_second}
        target: {type: AverageValue, averageValue: "60"}
"""


def web() -> Subject:
    return Subject(label="web", target=load_targets([bundled("simulate-policy.yaml")])[0])


def test_the_recorded_range_starts_from_the_state_the_pre_roll_left() -> None:
    quiet = Plan(load=BUSY_THEN_QUIET, duration=600.0, warmup=600.0)
    rolled = Plan(load=BUSY_THEN_QUIET, duration=600.0, warmup=600.0, history=HOUR)
    [fresh] = simulate(quiet, [web()])
    [after] = simulate(rolled, [web()])
    # Without a pre-roll the warm-up holds 100 rps: 3 pods (minReplicas). After an hour
    # at 2,000 rps the loop holds its replicas through the scale-down window.
    assert fresh.series.replicas[0] == 3
    assert after.series.replicas[0] >= 30
    assert len(after.series.t) == len(fresh.series.t) == 40
    assert after.series.offered == fresh.series.offered  # the pre-roll is not recorded


def test_the_observer_sees_nothing_of_the_pre_roll() -> None:
    seen: list[Snapshot] = []
    plan = Plan(load=BUSY_THEN_QUIET, duration=600.0, warmup=60.0, history=HOUR)
    simulate(plan, [web()], observer=lambda target, snapshot, decision: seen.append(snapshot))
    assert len(seen) == 40
    assert min(s.now for s in seen) >= 1_700_000_000.0


def test_the_history_must_be_positive() -> None:
    with pytest.raises(ValueError, match="history"):
        Plan(load=BUSY_THEN_QUIET, duration=600.0, history=-1.0)


def simulate_cli(*args: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(["simulate", *args], out=out, err=err)
    return code, out.getvalue(), err.getvalue()


NASA = "loadtest/traces/nasa_http_jul1995_requests_1min.csv"


def test_a_predictive_policy_gets_the_trace_before_the_offset_by_default(tmp_path: Path) -> None:
    policy = tmp_path / "web.yaml"
    policy.write_text(PREDICTIVE)
    code, out, err = simulate_cli(
        str(policy), "--trace", NASA, "--offset", "6h", "--duration", "1h", "--compare",
        "--out", str(tmp_path),
    )  # fmt: skip
    assert code == 0, err
    assert "Pre-roll: 6 h of the trace before the recorded range" in out
    report = json.loads((tmp_path / "report.json").read_text())
    assert report["historySeconds"] == 6 * HOUR
    assert [r["label"] for r in report["runs"]] == ["web", "hpa-default"]


def test_a_policy_without_predictive_gets_no_pre_roll_unless_asked(tmp_path: Path) -> None:
    code, out, err = simulate_cli(
        bundled("simulate-policy.yaml"), "--trace", NASA, "--offset", "6h",
        "--duration", "30m", "--out", str(tmp_path),
    )  # fmt: skip
    assert code == 0, err
    assert "Pre-roll" not in out
    assert json.loads((tmp_path / "report.json").read_text())["historySeconds"] == 0
    code, out, err = simulate_cli(
        bundled("simulate-policy.yaml"), "--trace", NASA, "--offset", "6h",
        "--duration", "30m", "--history", "1h",
    )  # fmt: skip
    assert code == 0, err
    assert "Pre-roll: 1 h of the load before the recorded range" in out


def test_a_history_longer_than_the_trace_before_the_offset_is_one_line() -> None:
    code, out, err = simulate_cli(
        bundled("simulate-policy.yaml"), "--trace", NASA, "--offset", "1d", "--history", "2d",
    )  # fmt: skip
    assert code == 2 and out == ""
    assert err == (
        "autoscaler simulate: --history 2 d: only 1 d of the trace lie before the recorded "
        "range (give a larger --offset)\n"
    )


def predictive_subject(tmp_path: Path) -> Subject:
    policy = tmp_path / "web.yaml"
    policy.write_text(PREDICTIVE)
    return Subject(label="web", target=load_targets([str(policy)])[0], replicas=4)


def first_recorded_forecasts(subject: Subject, history: float) -> tuple[object, ...]:
    snapshots: list[Snapshot] = []
    plan = Plan(load=BUSY_THEN_QUIET, duration=300.0, warmup=60.0, history=history)
    simulate(plan, [subject], observer=lambda target, s, decision: snapshots.append(s))
    recorded = [s for s in snapshots if s.now >= 1_700_000_000.0]
    return recorded[0].forecasts


def test_the_forecaster_learns_from_the_pre_roll(tmp_path: Path) -> None:
    subject = predictive_subject(tmp_path)
    # Without a pre-roll the forecaster has a minute of warm-up: too little to fit.
    assert first_recorded_forecasts(subject, 0.0) == ()
    # After an hour of the load before, it forecasts from the first recorded sync.
    [forecast] = first_recorded_forecasts(subject, HOUR)
    assert forecast.metric == 0 and forecast.total > 0


def test_a_predictive_run_with_a_pre_roll_repeats_itself(tmp_path: Path) -> None:
    subject = predictive_subject(tmp_path)
    plan = Plan(load=BUSY_THEN_QUIET, duration=1800.0, warmup=60.0, history=HOUR)
    [first] = simulate(plan, [subject])
    [second] = simulate(plan, [subject])
    assert first.series == second.series and first.changes == second.changes
