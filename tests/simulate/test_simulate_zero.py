"""Scale to zero in the simulator: a workload at zero replicas drops (and counts) what
it is offered, the activation metric comes from the load, and a target at zero gets the
loop's activation fast path: a read every ``pollSeconds`` between syncs, so it wakes up
within a poll of the first load, not at the next 15 s sync.

Worked example (``test_a_target_at_zero_wakes_within_a_poll``): syncs at 7.5 s into
each 15 s step, from t = -52.5 (a one-minute warm-up); the load starts at t = 300 s,
between the syncs at 292.5 and 307.5. As in the loop, the target is read every 2 s from
the first sync that left it at zero, whatever the syncs do: ..., 297.5, 299.5, 301.5.
The read at 301.5 s sees [299.5, 301.5), 1.5 s of it at 50 rps, and writes 0 -> 1
there, six seconds before the next sync.
"""

from __future__ import annotations

from pathlib import Path

from autoscaler.sim.load import Trace, TraceLoad
from autoscaler.simulate.engine import Plan, RunResult, Subject, simulate
from autoscaler.simulate.setup import load_targets

POLICY = """\
apiVersion: podscale.dev/v1alpha1
kind: ScalingPolicy
metadata: {{name: reports, namespace: default}}
spec:
  scaleTargetRef: {{apiVersion: apps/v1, kind: Deployment, name: reports}}
  minReplicas: 0
  maxReplicas: 10
  {activation}
  metrics:
    - type: External
      external:
        metric: {{name: queue_messages_ready}}
        target: {{type: AverageValue, averageValue: "10"}}
"""
ACTIVATION = (
    'activation: {metric: queue_messages_ready, threshold: "0", cooldownSeconds: 300, '
    "pollSeconds: 2}"
)
# Nothing, then 50 rps from t = 300 s to t = 900 s, then nothing again.
BURSTY = TraceLoad(trace=Trace((0.0, 300.0, 900.0), (0.0, 50.0, 0.0)))


def run(tmp_path: Path, activation: str = ACTIVATION) -> RunResult:
    path = tmp_path / "reports.yaml"
    path.write_text(POLICY.format(activation=activation))
    target = load_targets([str(path)])[0]
    plan = Plan(load=BURSTY, duration=1800.0, warmup=60.0, sync_phase=7.5)
    [result] = simulate(plan, [Subject(label="reports", target=target, replicas=0)])
    return result


def test_a_target_at_zero_wakes_within_a_poll(tmp_path: Path) -> None:
    result = run(tmp_path)
    first = result.changes[0]
    assert (first.before, first.after) == (0, 1)
    assert first.t == 301.5  # a poll, not the sync at 307.5


def test_without_activation_nothing_polls_between_syncs(tmp_path: Path) -> None:
    result = run(tmp_path, activation="")
    # minReplicas 0 without activation: the HPA's own rule (no pods, no scaling).
    assert all(change.t % 15 == 7.5 for change in result.changes)


def test_load_offered_at_zero_is_dropped_and_counted(tmp_path: Path) -> None:
    series = run(tmp_path).series
    at = series.t.index(292.5)  # [292.5, 307.5): half of it at 50 rps, no pod ready
    assert series.offered[at] == 25.0
    assert series.dropped[at] == 25.0 and series.served[at] == 0.0
    assert series.replicas[at] == 1  # woken within the step


def test_back_to_zero_only_after_the_cooldown(tmp_path: Path) -> None:
    result = run(tmp_path)
    down = [c for c in result.changes if c.after == 0]
    assert down, result.changes
    assert down[0].t >= 900.0 + 300.0
    assert result.series.replicas[-1] == 0
