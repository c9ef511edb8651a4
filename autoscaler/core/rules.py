"""Podscale's own rules, applied after the HPA's reconcile (order: ``core.decide``).

Each rule takes the snapshot and the decision so far and returns the decision it
settles on, with a ``Notice`` saying what it did. A rule never records scale events:
``core.decide`` records the one event of a sync after every rule has run.

**Rollout hold** (``spec.rollout.awareness: HoldAndCap``). During a rolling update or a
canary the HPA counts the surge and canary pods (and their start-up CPU) and inflates
the replicas, and every scale-up makes the Deployment controller surge again (users
report 383 -> 664 pods). While the target rolls out this rule:

- never scales down: the pods are being replaced, their usage says little;
- scales up only as far as the *stable revision's* pods ask for: each metric's usage
  ratio is measured on the stable pods alone and applied to ``spec.replicas`` (not to
  the pod count, which includes surge and canary pods); a ratio within the scale-up
  tolerance asks for nothing, so the cap is the current replicas.

So ``desired = max(current, min(HPA decision, cap))``. Worked example (pinned by
tests/loop/test_rollout_awareness.py::test_startup_cpu_of_new_pods_is_not_a_scale_up):
8 replicas requesting 100m, target 50%, a rollout with 2 surge pods. 6 old pods use
40m, 4 new ones 140m while they warm up: over all 10 pods 80%, ratio 1.6, the HPA
wants 16. The 6 stable pods alone use 40%, ratio 0.8: the cap stays 8 and so do the
replicas. Had the load grown so that the stable pods used 70% (ratio 1.4 > 1.1), the
cap would be ceil(1.4 * 8) = 12. The cap reuses the HPA's per-metric arithmetic on a
snapshot that holds only the stable pods, with the spec replicas as both replica counts.

**Other writer** (always on). When something else keeps changing the replicas (two
changes within 600 s: a GitOps sync, a person with kubectl, another autoscaler), a
scale is not written until 600 s after its last change, instead of fighting in a loop
that neither side can win: ``AbleToScale=False`` with reason ``ExternalScaleConflict``.
The message names when scaling resumes rather than counting down, so that it stays the
same from sync to sync (and its event is counted, not posted again).

**Fallback** (``spec.fallback``). After ``failureThreshold`` consecutive syncs (this one
included) in which no usable metric could be read, hold ``replicas`` (within the
policy's bounds) instead of freezing at whatever the target had: KEDA's fallback.
"""

from __future__ import annotations

import math
from dataclasses import replace

from autoscaler.core.hpa import ABLE_TO_SCALE, SCALING_LIMITED, tolerances_for
from autoscaler.core.model import (
    HOLD_AND_CAP,
    Condition,
    Decision,
    History,
    Notice,
    Pod,
    Recommendation,
    Snapshot,
)
from autoscaler.core.replicas import compute_metric, target_ratio

ROLLOUT_REASON = "RolloutInProgress"
FALLBACK_REASON = "FallbackReplicas"
CONFLICT_REASON = "ExternalScaleConflict"
CONFLICT_WINDOW = 600.0  # seconds in which repeated outside changes mean a fight
CONFLICT_CHANGES = 2  # outside changes within the window that make Podscale step back


def hold_during_rollout(snapshot: Snapshot, decision: Decision) -> Decision:
    """The decision held at the current replicas and capped by the stable pods."""
    rollout = snapshot.rollout
    if snapshot.policy.rollout_awareness != HOLD_AND_CAP or rollout is None:
        return decision
    current, policy = snapshot.current_replicas, snapshot.policy
    who = f"{rollout.workload} is" if rollout.workload else "the target is"
    if decision.error is not None or current == 0:
        return replace(
            decision, notice=Notice(ROLLOUT_REASON, f"{who} rolling out: no decision to hold")
        )
    cap = stable_cap(snapshot, rollout.stable_pods)
    desired = max(current, min(decision.desired_replicas, cap))
    desired = min(max(desired, policy.min_replicas), policy.max_replicas)
    # Short and stable across syncs: events with the same message are counted, not repeated.
    message = f"rolling out: no scale-down, scale-up capped at {cap} by the stable pods"
    notice = Notice(ROLLOUT_REASON, f"{who} {message}")
    if desired == decision.desired_replicas:
        return replace(decision, notice=notice)
    conditions = tuple(
        _able(c, desired, current) for c in decision.conditions if c.type != SCALING_LIMITED
    )
    progress = f"{rollout.message}; " if rollout.message else ""
    detail = (
        f"{message} ({progress}{len(rollout.stable_pods)} stable pods; "
        f"the metrics alone want {decision.desired_replicas})"
    )
    limited = Condition(SCALING_LIMITED, "True", ROLLOUT_REASON, detail)
    return replace(
        decision,
        desired_replicas=desired,
        conditions=(*conditions, limited),
        history=_capped(decision.history, snapshot.now, cap),
        rescale_reason=f"{decision.rescale_reason}; {ROLLOUT_REASON}" if desired != current else "",
        notice=notice,
    )


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
        rollout=None,
    )
    tolerances = tolerances_for(snapshot)
    cap = current
    for spec in snapshot.policy.metrics:
        ratio = target_ratio(spec.target, compute_metric(spec, stable, tolerances).current)
        if ratio is not None and ratio > 1.0 + tolerances.scale_up:
            cap = max(cap, math.ceil(ratio * current))
    return cap


def _able(condition: Condition, desired: int, current: int) -> Condition:
    """AbleToScale as the HPA words it, for the held or capped size."""
    if condition.type != ABLE_TO_SCALE or condition.reason != "SucceededRescale":
        return condition
    if desired == current:
        return replace(condition, reason="ReadyForNewScale", message="recommended size "
                       "matches current size")  # fmt: skip
    return replace(condition, message="the HPA controller was able to update the target "
                   f"scale to {desired}")  # fmt: skip


def _capped(history: History, now: float, cap: int) -> History:
    """This sync's recommendation capped: an inflated one would pull the replicas up
    through the stabilization window once the rollout completes."""
    recommendations = tuple(
        Recommendation(r.time, min(r.replicas, cap)) if r.time == now else r
        for r in history.recommendations
    )
    return replace(history, recommendations=recommendations)


def fall_back(snapshot: Snapshot, decision: Decision) -> Decision:
    """The policy's fallback replicas, within its bounds, after repeated failed reads.

    Also carries the count of consecutive failed syncs on, for the next snapshot.
    """
    failed = snapshot.failed_syncs + 1 if decision.error is not None else 0
    decision = replace(decision, failed_syncs=failed)
    fallback = snapshot.policy.fallback
    if fallback is None or decision.error is None or failed < fallback.failure_threshold:
        return decision
    policy = snapshot.policy
    desired = min(max(fallback.replicas, policy.min_replicas), policy.max_replicas)
    reason = f"fallback: {failed} consecutive syncs without a usable metric"
    return replace(
        decision,
        desired_replicas=desired,
        rescale_reason=reason,
        notice=Notice(FALLBACK_REASON, reason),
    )


def hold_for_other_writer(snapshot: Snapshot, decision: Decision) -> Decision:
    """No scale while another writer keeps changing the replicas (see the module doc)."""
    current = snapshot.current_replicas
    recent = [t for t in snapshot.external_changes if t > snapshot.now - CONFLICT_WINDOW]
    if len(recent) < CONFLICT_CHANGES or decision.desired_replicas == current:
        return decision
    message = (
        f"{len(recent)} changes by another writer within {CONFLICT_WINDOW:.0f} s: not "
        f"fighting it; scaling resumes at {utc_text(recent[-1] + CONFLICT_WINDOW)} unless "
        "it changes the replicas again"
    )
    able = Condition(ABLE_TO_SCALE, "False", CONFLICT_REASON, message)
    conditions = (able, *(c for c in decision.conditions if c.type != ABLE_TO_SCALE))
    return replace(
        decision,
        desired_replicas=current,
        conditions=conditions,
        rescale_reason="",
        notice=Notice(CONFLICT_REASON, message),
    )


def utc_text(timestamp: float) -> str:
    """Seconds since the epoch as RFC 3339 UTC (``2026-12-07T21:52:14Z``), by arithmetic:
    the core imports no time module. Days to a civil date by the well-known era method
    (400-year eras of 146,097 days, years starting in March)."""
    days, rest = divmod(int(timestamp // 1), 86_400)
    hour, rest = divmod(rest, 3_600)
    minute, second = divmod(rest, 60)
    shifted = days + 719_468  # days from 0000-03-01 to 1970-01-01
    era, day_of_era = divmod(shifted, 146_097)
    year_of_era = (
        day_of_era - day_of_era // 1_460 + day_of_era // 36_524 - day_of_era // 146_096
    ) // 365
    day_of_year = day_of_era - (365 * year_of_era + year_of_era // 4 - year_of_era // 100)
    month_index = (5 * day_of_year + 2) // 153  # 0 = March
    day = day_of_year - (153 * month_index + 2) // 5 + 1
    month = month_index + 3 if month_index < 10 else month_index - 9
    year = year_of_era + era * 400 + (1 if month <= 2 else 0)
    return f"{year:04d}-{month:02d}-{day:02d}T{hour:02d}:{minute:02d}:{second:02d}Z"
