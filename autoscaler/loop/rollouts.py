"""Rollout awareness: spot a workload between two revisions, and hold and cap its scale.

During a rolling update or a canary the HPA counts the surge and canary pods (and
their start-up CPU) and inflates the replicas, and every scale-up makes the Deployment
controller surge again (users report 383 -> 664 pods). With ``spec.rollout.awareness:
HoldAndCap`` the loop, while the target rolls out:

- never scales down: the pods are being replaced, their usage says little;
- scales up only as far as the *stable revision's* pods ask for: each metric's usage
  ratio is measured on the stable pods alone and applied to ``spec.replicas`` (not to
  the pod count, which includes surge and canary pods); a ratio within the scale-up
  tolerance asks for nothing, so the cap is the current replicas.

So ``desired = max(current, min(core decision, cap))``. Worked example (pinned by
tests/loop/test_rollout_awareness.py::test_startup_cpu_of_new_pods_is_not_a_scale_up):
8 replicas requesting 100m, target 50%, a rollout with 2 surge pods. 6 old pods use
40m, 4 new ones 140m while they warm up: over all 10 pods 80%, ratio 1.6, the core
wants 16. The 6 stable pods alone use 40%, ratio 0.8: the cap stays 8 and so do the
replicas. Had the load grown so that the stable pods used 70% (ratio 1.4 > 1.1), the
cap would be ceil(1.4 * 8) = 12.

The pure core is untouched: the cap reuses its per-metric arithmetic on a snapshot
that holds only the stable pods, with the spec replicas as both replica counts.
"""

from __future__ import annotations

import math
from dataclasses import replace
from typing import Any

from autoscaler.core.decide import ABLE_TO_SCALE, SCALING_LIMITED, tolerances_for
from autoscaler.core.model import (
    AVERAGE_VALUE,
    UTILIZATION,
    VALUE,
    Condition,
    Decision,
    History,
    MetricStatus,
    MetricTarget,
    Pod,
    Recommendation,
    ScaleEvent,
    Snapshot,
)
from autoscaler.core.replicas import compute_metric
from autoscaler.loop.interfaces import RolloutState

JSON = dict[str, Any]
REASON = "RolloutInProgress"
DEPLOYMENT_HASH = "pod-template-hash"
ARGO_HASH = "rollouts-pod-template-hash"
REVISION = "deployment.kubernetes.io/revision"


def deployment_rollout(obj: JSON) -> RolloutState:
    """An apps/v1 Deployment's rollout, from the object alone (``new_hash`` comes later).

    In progress while the controller has not observed the latest spec, fewer replicas
    than wanted run the new template, or old pods are still around. A rollout past its
    progress deadline is stalled, not progressing: the loop scales it as the HPA would.
    """
    meta, spec, status = obj.get("metadata") or {}, obj.get("spec") or {}, obj.get("status") or {}
    wanted = 1 if spec.get("replicas") is None else int(spec["replicas"])
    updated, total = int(status.get("updatedReplicas") or 0), int(status.get("replicas") or 0)
    stalled = any(
        c.get("type") == "Progressing" and c.get("reason") == "ProgressDeadlineExceeded"
        for c in status.get("conditions") or []
    )
    generation, observed = meta.get("generation"), status.get("observedGeneration")
    if stalled:
        return RolloutState(False, "progress deadline exceeded")
    if generation is not None and observed != generation:
        return RolloutState(True, f"generation {generation} not observed yet")
    if updated < wanted or total > updated:
        return RolloutState(True, f"{updated} of {wanted} replicas updated, {total} in all")
    return RolloutState(False)


def new_revision_hash(deployment: str, replicasets: list[JSON]) -> str:
    """The pod-template-hash of the Deployment's newest ReplicaSet, while older ones have pods.

    The newest revision is the highest ``deployment.kubernetes.io/revision`` among the
    ReplicaSets the Deployment named ``deployment`` owns (by name: a namespace holds one
    Deployment of a name). "" when no older one has pods: nothing has been replaced yet
    (or the change was only the replica count), so every pod is stable.
    """
    owned = []
    for rs in replicasets:
        meta = rs.get("metadata") or {}
        owners = meta.get("ownerReferences") or []
        if any(o.get("kind") == "Deployment" and o.get("name") == deployment for o in owners):
            revision = str((meta.get("annotations") or {}).get(REVISION, "0"))
            pods = int((rs.get("status") or {}).get("replicas") or 0)
            hash_ = str((meta.get("labels") or {}).get(DEPLOYMENT_HASH, ""))
            owned.append((int(revision) if revision.isdigit() else 0, pods, hash_))
    if not owned:
        return ""
    newest = max(owned)
    return newest[2] if any(pods for rev, pods, _ in owned if rev != newest[0]) else ""


def argo_rollout(obj: JSON) -> RolloutState:
    """An Argo Rollout's rollout: a current pod hash that is not the stable one yet.

    A Rollout whose status lacks those fields (an old controller, or none) is never
    taken to be rolling out.
    """
    spec, status = obj.get("spec") or {}, obj.get("status") or {}
    current, stable = str(status.get("currentPodHash") or ""), str(status.get("stableRS") or "")
    if not current:
        return RolloutState(False, hash_label=ARGO_HASH)
    if stable and stable != current:
        return RolloutState(
            True, f"canary {current}, stable {stable}", ARGO_HASH, stable_hash=stable
        )
    wanted = 1 if spec.get("replicas") is None else int(spec["replicas"])
    updated, total = int(status.get("updatedReplicas") or 0), int(status.get("replicas") or 0)
    if updated < wanted or total > updated:
        message = f"{updated} of {wanted} replicas updated, {total} in all"
        return RolloutState(True, message, ARGO_HASH, new_hash=current)
    return RolloutState(False, hash_label=ARGO_HASH)


def stable_cap(snapshot: Snapshot, stable_pods: tuple[Pod, ...]) -> int:
    """The replicas the stable pods alone ask for (the current replicas at least)."""
    current = snapshot.current_replicas
    names = {p.name for p in stable_pods}
    data = snapshot.metrics
    resource = (
        None
        if data.resource is None
        else {pod: usage for pod, usage in data.resource.items() if pod in names}
    )
    per_pod = {m: {p: v for p, v in vals.items() if p in names} for m, vals in data.pods.items()}
    stable = replace(
        snapshot,
        pods=stable_pods,
        status_replicas=current,
        metrics=replace(data, resource=resource, pods=per_pod),
        history=History(),
    )
    tolerances = tolerances_for(snapshot)
    cap = current
    for spec in snapshot.policy.metrics:
        ratio = _ratio(spec.target, compute_metric(spec, stable, tolerances).current)
        if ratio is not None and ratio > 1.0 + tolerances.scale_up:
            cap = max(cap, math.ceil(ratio * current))
    return cap


def _ratio(target: MetricTarget, current: MetricStatus | None) -> float | None:
    if current is None:
        return None
    pairs = {
        UTILIZATION: (current.average_utilization, target.average_utilization),
        AVERAGE_VALUE: (current.average_value, target.average_value),
        VALUE: (current.value, target.value),
    }
    value, goal = pairs.get(target.type, (None, None))
    return None if value is None or not goal else value / goal


def hold_and_cap(
    snapshot: Snapshot, decision: Decision, stable_pods: tuple[Pod, ...], rollout: RolloutState
) -> tuple[Decision, str]:
    """The decision held at the current replicas and capped by the stable pods; a message."""
    current, policy = snapshot.current_replicas, snapshot.policy
    if decision.error is not None or current == 0:
        return decision, "rolling out: no decision to hold"
    cap = stable_cap(snapshot, stable_pods)
    desired = max(current, min(decision.desired_replicas, cap))
    desired = min(max(desired, policy.min_replicas), policy.max_replicas)
    # Short and stable across syncs: events with the same message are counted, not repeated.
    message = f"rolling out: no scale-down, scale-up capped at {cap} by the stable pods"
    if desired == decision.desired_replicas:
        return decision, message
    conditions = tuple(
        _able(c, desired, current) for c in decision.conditions if c.type != SCALING_LIMITED
    )
    detail = (
        f"{message} ({rollout.message}; {len(stable_pods)} stable pods; "
        f"the metrics alone want {decision.desired_replicas})"
    )
    limited = Condition(SCALING_LIMITED, "True", REASON, detail)
    return (
        replace(
            decision,
            desired_replicas=desired,
            conditions=(*conditions, limited),
            history=_rebased(decision.history, snapshot, desired, cap),
            rescale_reason=f"{decision.rescale_reason}; {REASON}" if desired != current else "",
        ),
        message,
    )


def _able(condition: Condition, desired: int, current: int) -> Condition:
    """AbleToScale as the core words it, for the held or capped size."""
    if condition.type != ABLE_TO_SCALE or condition.reason != "SucceededRescale":
        return condition
    if desired == current:
        return replace(condition, reason="ReadyForNewScale", message="recommended size "
                       "matches current size")  # fmt: skip
    return replace(condition, message="the HPA controller was able to update the target "
                   f"scale to {desired}")  # fmt: skip


def _rebased(history: History, snapshot: Snapshot, desired: int, cap: int) -> History:
    """The history as if the core had decided ``desired``: this sync's event redone, and
    its recommendation capped (an inflated one would pull the replicas up after the rollout
    through the stabilization window)."""
    now = snapshot.now
    recommendations = tuple(
        Recommendation(r.time, min(r.replicas, cap)) if r.time == now else r
        for r in history.recommendations
    )
    up = tuple(e for e in history.scale_up_events if e.time != now)
    down = tuple(e for e in history.scale_down_events if e.time != now)
    change = desired - snapshot.current_replicas
    if change > 0:
        up = (*up, ScaleEvent(now, change))
    elif change < 0:
        down = (*down, ScaleEvent(now, -change))
    return History(recommendations, up, down)
