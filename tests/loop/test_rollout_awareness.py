"""Rollout awareness: detection from workload objects, and the hold-and-cap rule."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

import pytest

from autoscaler.core import decide
from autoscaler.core.model import (
    HOLD_AND_CAP,
    RESOURCE,
    UTILIZATION,
    Behavior,
    Container,
    Decision,
    MetricData,
    MetricSpec,
    MetricTarget,
    Pod,
    PodUsage,
    Policy,
    Rollout,
    Settings,
    Snapshot,
)
from autoscaler.kube.rollouts import (
    argo_rollout,
    deployment_rollout,
    new_revision_hash,
)
from autoscaler.loop.controller import Controller
from autoscaler.loop.events import events_for
from autoscaler.ports import RolloutState, ScaleState, Target, TargetRef
from autoscaler.selectors import matches, parse_selector

NOW = 1_700_000_000.0
CPU_50 = MetricSpec(RESOURCE, "cpu", MetricTarget(UTILIZATION, average_utilization=50))
ROLLING = RolloutState(True, "4 of 8 replicas updated, 10 in all", new_hash="new")


def deployment(**status: Any) -> dict[str, Any]:
    base = {"observedGeneration": 2, "replicas": 8, "updatedReplicas": 8}
    return {
        "metadata": {"name": "web", "generation": 2},
        "spec": {"replicas": 8},
        "status": {**base, **status},
    }


@pytest.mark.parametrize(
    ("status", "rolling"),
    [
        pytest.param({}, False, id="complete"),
        pytest.param({"observedGeneration": 1}, True, id="spec-not-observed"),
        pytest.param({"updatedReplicas": 3, "replicas": 8}, True, id="few-updated"),
        pytest.param({"replicas": 10}, True, id="old-pods-left"),
        pytest.param(
            {
                "updatedReplicas": 3,
                "conditions": [{"type": "Progressing", "reason": "ProgressDeadlineExceeded"}],
            },
            False,
            id="stalled",
        ),
    ],
)
def test_a_deployment_rolls_out_until_every_pod_runs_the_new_template(
    status: dict[str, Any], rolling: bool
) -> None:
    assert deployment_rollout(deployment(**status)).in_progress is rolling


def replicaset(hash_: str, revision: int, pods: int, owner: str = "web") -> dict[str, Any]:
    return {
        "metadata": {
            "labels": {"app": "web", "pod-template-hash": hash_},
            "annotations": {"deployment.kubernetes.io/revision": str(revision)},
            "ownerReferences": [{"kind": "Deployment", "name": owner}],
        },
        "status": {"replicas": pods},
    }


def test_the_new_revision_is_the_newest_replicaset_while_older_ones_have_pods() -> None:
    sets = [replicaset("a", 1, 0), replicaset("b", 2, 6), replicaset("c", 3, 4)]
    assert new_revision_hash("web", sets) == "c"
    assert new_revision_hash("web", [*sets, replicaset("z", 9, 1, owner="other")]) == "c"
    # Old ReplicaSets empty: nothing replaced yet (or only the replicas changed).
    assert new_revision_hash("web", [replicaset("b", 2, 0), replicaset("c", 3, 8)]) == ""


def test_an_argo_canary_counts_its_stable_replicaset_only() -> None:
    canary = argo_rollout(
        {"spec": {"replicas": 5}, "status": {"currentPodHash": "new", "stableRS": "old"}}
    )
    assert canary.in_progress and canary.stable_selector("app=shop") == (
        "app=shop,rollouts-pod-template-hash=old"
    )
    done = {"currentPodHash": "new", "stableRS": "new", "replicas": 5, "updatedReplicas": 5}
    assert not argo_rollout({"spec": {"replicas": 5}, "status": done}).in_progress
    # No Argo controller status (the simulator's minimal one): never taken as rolling.
    assert not argo_rollout({"spec": {"replicas": 5}, "status": {"replicas": 5}}).in_progress


def test_a_deployments_stable_pods_are_those_not_of_the_new_revision() -> None:
    assert ROLLING.stable_selector("app=web") == "app=web,pod-template-hash!=new"
    assert RolloutState(True).stable_selector("app=web") == "app=web"


def pod(name: str) -> Pod:
    return Pod(
        name, "Running", "True", NOW - 3600, NOW - 3600, False, (Container("app", {"cpu": 100}),)
    )


def rolling_snapshot(old: int, old_cpu: int, new: int, new_cpu: int) -> Snapshot:
    """8 replicas wanted, ``old`` and ``new`` pods using ``*_cpu`` of a 100m request."""
    pods = {f"old-{i}": old_cpu for i in range(old)} | {f"new-{i}": new_cpu for i in range(new)}
    return Snapshot(
        now=NOW,
        policy=Policy(max_replicas=40, metrics=(CPU_50,)),
        current_replicas=8,
        status_replicas=old + new,
        pods=tuple(pod(name) for name in pods),
        metrics=MetricData(
            resource={n: PodUsage(NOW - 5, 30, {"app": {"cpu": c}}) for n, c in pods.items()}
        ),
        settings=Settings(),
    )


def stable_of(snapshot: Snapshot) -> tuple[Pod, ...]:
    return tuple(p for p in snapshot.pods if p.name.startswith("old-"))


def held(snapshot: Snapshot, stable: tuple[Pod, ...] | None = None) -> Decision:
    """The core's decision for ``snapshot`` under HoldAndCap while it rolls out."""
    stable = stable_of(snapshot) if stable is None else stable
    policy = replace(snapshot.policy, rollout_awareness=HOLD_AND_CAP)
    rollout = Rollout("Deployment/web", ROLLING.message, stable)
    return decide(replace(snapshot, policy=policy, rollout=rollout))


def test_startup_cpu_of_new_pods_is_not_a_scale_up() -> None:
    """The module docstring's example: the core wants 16, the stable pods 8."""
    snapshot = rolling_snapshot(old=6, old_cpu=40, new=4, new_cpu=140)
    assert decide(snapshot).desired_replicas == 16
    decision = held(snapshot)
    assert decision.desired_replicas == 8 and decision.rescale_reason == ""
    assert decision.notice is not None and "capped at 8" in decision.notice.message
    limited = {c.type: c for c in decision.conditions}["ScalingLimited"]
    assert (limited.status, limited.reason) == ("True", "RolloutInProgress")
    assert {c.type: c for c in decision.conditions}["AbleToScale"].reason == "ReadyForNewScale"
    assert decision.history.scale_up_events == ()
    assert decision.history.recommendations[-1].replicas == 8  # not 16: no pull-up later


def test_a_real_load_increase_still_scales_up_to_what_the_stable_pods_ask() -> None:
    snapshot = rolling_snapshot(old=6, old_cpu=70, new=4, new_cpu=170)
    assert decide(snapshot).desired_replicas == 16  # 2.2 x 10 pods, limited to +100%
    assert held(snapshot).desired_replicas == 12  # ceil(1.4 x 8)
    # The one scale event is the held size's, for behavior's rate limits to read.
    with_behavior = replace(snapshot, policy=replace(snapshot.policy, behavior=Behavior()))
    assert [e.change for e in held(with_behavior).history.scale_up_events] == [4]


def test_no_scale_down_during_a_rollout() -> None:
    snapshot = rolling_snapshot(old=6, old_cpu=10, new=4, new_cpu=10)
    snapshot = replace(snapshot, settings=Settings(downscale_stabilization_window=0))
    assert decide(snapshot).desired_replicas == 2
    decision = held(snapshot)
    assert decision.desired_replicas == 8
    assert decision.history.scale_down_events == ()
    assert decision.history.recommendations[-1].replicas == 2  # the low proposal is kept


def test_no_stable_pods_left_holds_at_the_current_replicas() -> None:
    snapshot = rolling_snapshot(old=0, old_cpu=0, new=10, new_cpu=140)
    assert held(snapshot, stable=()).desired_replicas == 8


@dataclass
class RollingCluster:
    """One Deployment 'web' mid-rollout: pods labelled with their revision's hash."""

    cpu: dict[tuple[str, str], int]  # (pod name, hash) -> milli-CPU
    rollout: RolloutState | None = ROLLING
    writes: list[int] = field(default_factory=list)

    def get_scale(self, namespace: str, ref: TargetRef) -> ScaleState:
        return ScaleState(8, len(self.cpu), "app=web", self.rollout)

    def get_scale_uncached(self, namespace: str, ref: TargetRef) -> ScaleState:
        return self.get_scale(namespace, ref)

    def set_replicas(self, namespace: str, ref: TargetRef, replicas: int) -> None:
        self.writes.append(replicas)

    def _matching(self, selector: str) -> list[tuple[str, int]]:
        wanted = parse_selector(selector)
        return [
            (name, cpu)
            for (name, hash_), cpu in self.cpu.items()
            if matches(wanted, {"app": "web", "pod-template-hash": hash_})
        ]

    def pods(self, namespace: str, selector: str) -> tuple[Pod, ...]:
        return tuple(pod(name) for name, _ in self._matching(selector))

    namespace_wide = False

    def new_sync(self) -> None:
        pass

    def usage(self, namespace: str, selector: str) -> dict[str, PodUsage]:
        return {n: PodUsage(NOW - 5, 30, {"app": {"cpu": c}}) for n, c in self._matching(selector)}


def sync(cluster: RollingCluster, awareness: str) -> Any:
    target = Target(
        "default",
        "web",
        TargetRef("apps/v1", "Deployment", "web"),
        Policy(max_replicas=40, metrics=(CPU_50,), rollout_awareness=awareness),
    )
    loop = Controller(
        scales=cluster,
        pods=cluster,
        resource_metrics=cluster,
        custom_metrics=None,
        settings=Settings(),
    )
    return loop.sync([target], now=NOW)[0]


def warming_cluster(rollout: RolloutState | None = ROLLING) -> RollingCluster:
    old = {(f"old-{i}", "old"): 40 for i in range(6)}
    return RollingCluster(old | {(f"new-{i}", "new"): 140 for i in range(4)}, rollout)


def test_the_loop_holds_a_rolling_target_and_says_so_in_a_normal_event() -> None:
    cluster = warming_cluster()
    outcome = sync(cluster, "HoldAndCap")
    assert cluster.writes == [] and outcome.desired == 8
    assert outcome.note is not None and outcome.note[0] == "RolloutInProgress"
    assert "Deployment/web is rolling out" in outcome.note[1]
    (event,) = [e for e in events_for(outcome) if e.reason == "RolloutInProgress"]
    assert event.type == "Normal"


@pytest.mark.parametrize(
    ("awareness", "rollout"),
    [
        pytest.param("Off", ROLLING, id="awareness-off"),
        pytest.param("HoldAndCap", None, id="rollout-unknown"),  # the GET /scale path
        pytest.param("HoldAndCap", RolloutState(False), id="not-rolling"),
    ],
)
def test_otherwise_the_loop_scales_as_the_hpa(awareness: str, rollout: RolloutState | None) -> None:
    cluster = warming_cluster(rollout)
    outcome = sync(cluster, awareness)
    assert cluster.writes == [16] and outcome.note is None


POLICY = """\
apiVersion: podscale.dev/v1alpha1
kind: ScalingPolicy
metadata: {{name: web}}
spec:
  scaleTargetRef: {{apiVersion: apps/v1, kind: {kind}, name: web}}
  maxReplicas: 10
  rollout: {{awareness: {awareness}}}
"""


def validate(tmp_path: Any, kind: str, awareness: str) -> tuple[int, str]:
    import io

    from autoscaler.policy import run_validate

    path = tmp_path / "web.yaml"
    path.write_text(POLICY.format(kind=kind, awareness=awareness))
    out, err = io.StringIO(), io.StringIO()
    code = run_validate([str(path)], out=out, err=err)
    return code, out.getvalue() + err.getvalue()


def test_the_policy_option_is_validated_linted_and_carried_to_the_target(tmp_path: Any) -> None:
    from autoscaler.loop.targets import targets_from_files

    code, text = validate(tmp_path, "Deployment", "Hold")
    assert code != 0 and 'spec.rollout.awareness: unsupported value "Hold"' in text
    code, text = validate(tmp_path, "StatefulSet", "HoldAndCap")
    assert code == 0 and "spec.rollout.awareness: has no effect on a StatefulSet" in text
    code, text = validate(tmp_path, "Deployment", "HoldAndCap")
    assert code == 0 and "rollout" not in text
    (loaded,) = targets_from_files([str(tmp_path)]).targets
    assert loaded.policy.rollout_awareness == "HoldAndCap"
    code, text = validate(tmp_path, "Deployment", "Off")  # YAML reads a bare Off as false
    assert code != 0 and 'write "Off" in quotes' in text
    assert validate(tmp_path, "Deployment", '"Off"')[0] == 0
