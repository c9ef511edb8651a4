"""The simulated loop is the live loop: same snapshots, same decisions, as `decide` too.

A simulation records every snapshot its controller builds (the controller's observer);
replaying them through a second Controller over plain sources (the live loop's code
path with other I/O edges), through `autoscaler.core.decide` and through the
`autoscaler decide` command must give the same decisions, step by step.
"""

from __future__ import annotations

import io
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from autoscaler.cli import main
from autoscaler.core import decide
from autoscaler.core.model import (
    RESOURCE,
    UTILIZATION,
    Decision,
    MetricData,
    MetricSpec,
    MetricTarget,
    Pod,
    PodUsage,
    Policy,
    Settings,
    Snapshot,
)
from autoscaler.documents import decision_to_document, policy_from_spec
from autoscaler.documents.write import policy_to_spec, snapshot_to_document
from autoscaler.loop.controller import Controller
from autoscaler.ports import ScaleState, Target, TargetRef, Unavailable
from autoscaler.sim.load import FlashCrowd
from autoscaler.simulate.baseline import NAME, hpa_default_target
from autoscaler.simulate.engine import Plan, Subject, simulate
from autoscaler.simulate.setup import bundled, load_targets

Step = tuple[Target, Snapshot, Decision]
CPU_60 = MetricSpec(RESOURCE, "cpu", MetricTarget(UTILIZATION, average_utilization=60))


def record(target: Target) -> list[Step]:
    """Every (target, snapshot, decision) of an hour with a flash crowd, warm-up included."""
    steps: list[Step] = []
    plan = Plan(
        load=FlashCrowd(base=200, peak=1500, start=900, rise=60, hold=600, decay=600),
        duration=3600,
    )
    subject = Subject(label=target.name, target=target, replicas=2)
    simulate(plan, [subject], observer=lambda t, s, d: steps.append((t, s, d)))
    return steps


def example() -> Target:
    return load_targets([bundled("simulate-policy.yaml")])[0]


def cpu_policy() -> Target:
    policy = Policy(max_replicas=30, min_replicas=2, metrics=(CPU_60,))
    return Target("default", "cpu", TargetRef("apps/v1", "Deployment", "web"), policy)


@pytest.fixture(scope="module", params=["example", "cpu"])
def baseline_steps(request: pytest.FixtureRequest) -> list[Step]:
    target = example() if request.param == "example" else cpu_policy()
    return record(hpa_default_target(target))


def test_a_recorded_policy_reads_back_the_same_with_its_metric_selectors() -> None:
    # The selector names the metric in the decision's messages ("external metric q(...)"),
    # so a replayed snapshot must carry it whole, set-based requirements included.
    selector = {
        "matchLabels": {"app": "web", "tier": "a"},
        "matchExpressions": [
            {"key": "region", "operator": "In", "values": ["eu", "us"]},
            {"key": "zone", "operator": "NotIn", "values": ["b"]},
            {"key": "canary", "operator": "DoesNotExist"},
            {"key": "queue", "operator": "Exists"},
        ],
    }
    spec = {
        "maxReplicas": 5,
        "metrics": [
            {
                "type": "External",
                "external": {
                    "metric": {"name": "jobs", "selector": selector},
                    "target": {"type": "Value", "value": "10"},
                },
            }
        ],
    }
    policy = policy_from_spec(spec)
    assert policy_from_spec(policy_to_spec(policy)) == policy


def test_the_baseline_is_the_policy_without_behavior() -> None:
    target = example()
    baseline = hpa_default_target(target)
    assert baseline.name == NAME and baseline.ref == target.ref
    assert target.policy.behavior is not None and baseline.policy.behavior is None
    assert baseline.policy.metrics == target.policy.metrics
    assert (baseline.policy.min_replicas, baseline.policy.max_replicas) == (3, 40)


def test_hpa_default_matches_autoscaler_decide_step_by_step(
    baseline_steps: list[Step], tmp_path: Path
) -> None:
    assert len({d.desired_replicas for _, _, d in baseline_steps}) > 2  # it did scale
    path = tmp_path / "snapshots.json"
    path.write_text(json.dumps([snapshot_to_document(s) for _, s, _ in baseline_steps]))
    out, err = io.StringIO(), io.StringIO()
    assert main(["decide", str(path)], out=out, err=err) == 0, err.getvalue()
    decided = json.loads(out.getvalue())
    recorded = [json.loads(json.dumps(decision_to_document(d))) for _, _, d in baseline_steps]
    assert len(decided) == len(recorded)
    for index, (got, want) in enumerate(zip(decided, recorded, strict=True)):
        assert got == want, f"step {index}"


@dataclass
class Replay:
    """The live loop's sources, answering with one recorded snapshot at a time."""

    snapshot: Snapshot | None = None
    writes: list[int] = field(default_factory=list)

    def _now(self) -> Snapshot:
        assert self.snapshot is not None
        return self.snapshot

    def get_scale(self, namespace: str, ref: TargetRef) -> ScaleState:
        s = self._now()
        return ScaleState(s.current_replicas, s.status_replicas, f"app={ref.name}")

    def get_scale_uncached(self, namespace: str, ref: TargetRef) -> ScaleState:
        return self.get_scale(namespace, ref)

    def set_replicas(self, namespace: str, ref: TargetRef, replicas: int) -> None:
        self.writes.append(replicas)

    def pods(self, namespace: str, selector: str) -> tuple[Pod, ...]:
        return self._now().pods

    namespace_wide = False

    def new_sync(self) -> None:
        pass

    def usage(self, namespace: str, selector: str) -> dict[str, PodUsage]:
        resource = self._now().metrics.resource
        if resource is None:
            raise Unavailable("no resource metrics recorded")
        return resource

    def read_all(self, targets: Sequence[Target], *, now: float) -> Mapping[str, MetricData]:
        m = self._now().metrics
        data = MetricData(pods=m.pods, object=m.object, external=m.external, errors=m.errors)
        return {t.key: data for t in targets}


@pytest.mark.parametrize("make", [example, cpu_policy], ids=["example", "cpu"])
def test_the_live_loop_and_decide_take_the_simulated_loops_decisions(
    make: Callable[[], Target],
) -> None:
    target = make()
    steps = record(target)
    replay = Replay()
    seen: list[Decision] = []
    live = Controller(
        scales=replay,
        pods=replay,
        resource_metrics=replay,
        custom_metrics=replay,
        settings=Settings(),
        observer=lambda t, s, d: seen.append(d),
    )
    for _, snapshot, decision in steps:
        replay.snapshot = snapshot
        live.sync([target], now=snapshot.now)
        assert seen[-1] == decision
        assert decide(snapshot) == decision
    changes = [d.desired_replicas for _, s, d in steps if d.desired_replicas != s.current_replicas]
    assert replay.writes == changes and len(changes) >= 2


PATHS_POLICY = {
    "minReplicas": 0,
    "maxReplicas": 30,
    "metrics": [
        {
            "type": "External",
            "external": {
                "metric": {"name": "queue_messages_ready"},
                "target": {"type": "AverageValue", "averageValue": "2"},
            },
        },
        {
            "type": "Pods",
            "pods": {
                "metric": {"name": "http_requests_per_second"},
                "target": {"type": "AverageValue", "averageValue": "60"},
            },
        },
    ],
    "predictive": {"leadSeconds": 60, "metric": "http_requests_per_second"},
    "burst": {"threshold": 1.5, "stableWindowSeconds": 120},
    "activation": {"metric": "queue_messages_ready", "cooldownSeconds": 300},
}


def record_paths() -> list[Step]:
    """An hour of a flash crowd from nothing for a policy with every path of Podscale's."""
    policy = policy_from_spec(PATHS_POLICY)
    target = Target("default", "paths", TargetRef("apps/v1", "Deployment", "web"), policy)
    steps: list[Step] = []
    plan = Plan(
        load=FlashCrowd(base=0, peak=1500, start=900, rise=30, hold=600, decay=0),
        duration=3600,
        sync_phase=7.5,
    )
    subject = Subject(label="paths", target=target, replicas=0)
    simulate(plan, [subject], observer=lambda t, s, d: steps.append((t, s, d)))
    return steps


def test_the_simulated_paths_are_recorded_with_their_forecasts() -> None:
    steps = record_paths()
    paths = {d.path for _, _, d in steps}
    assert {"activation", "burst"} <= paths, paths
    assert any(s.forecasts for _, s, _ in steps)
    assert any(s.current_replicas == 0 for _, s, _ in steps[1:])  # back to zero after


def test_podscale_paths_replay_through_decide_to_the_same_replicas(tmp_path: Path) -> None:
    """Podscale's own paths (forecasts in the snapshots, a burst, a wake-up from zero by
    an activation poll, the cooldown back to zero) replay through ``autoscaler decide``
    to the same decisions."""
    steps = record_paths()
    path = tmp_path / "snapshots.json"
    path.write_text(json.dumps([snapshot_to_document(s) for _, s, _ in steps]))
    out, err = io.StringIO(), io.StringIO()
    assert main(["decide", str(path)], out=out, err=err) == 0, err.getvalue()
    decided = json.loads(out.getvalue())
    recorded = [json.loads(json.dumps(decision_to_document(d))) for _, _, d in steps]
    for index, (got, want) in enumerate(zip(decided, recorded, strict=True)):
        assert got == want, f"step {index}"
