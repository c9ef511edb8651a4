"""``hpa_decision(snapshot)``: one reconcile of the HPA controller, without the I/O.

The order of steps is ``reconcileAutoscaler`` in horizontal.go: bounds first (a target
with zero replicas is left alone unless minReplicas is 0; one outside [min, max] is
brought back inside), then every metric's proposal, the largest valid one wins, no
scale-down while any metric is invalid, then stabilization and rate limits. The HPA keeps
its history in controller memory and reads the clock; here both arrive in the snapshot
and the updated history leaves with the decision.

The decision returned carries this sync's recommendation but neither its scale event nor
pruning: ``autoscaler.core.decide`` records the event once, after Podscale's own rules
(which may change the replicas) have run, and prunes.
"""

from __future__ import annotations

from autoscaler.core.model import (
    Condition,
    Decision,
    History,
    MetricResult,
    Recommendation,
    Snapshot,
)
from autoscaler.core.normalize import (
    Limited,
    limit_legacy,
    limit_with_behavior,
    resolve_rules,
    stabilize_legacy,
    stabilize_with_behavior,
)
from autoscaler.core.replicas import Tolerances, compute_metric

ABLE_TO_SCALE = "AbleToScale"
SCALING_ACTIVE = "ScalingActive"
SCALING_LIMITED = "ScalingLimited"


class _Conditions:
    """HPA conditions in the order the controller first sets them; later sets overwrite."""

    def __init__(self) -> None:
        self._by_type: dict[str, Condition] = {}

    def set(self, kind: str, status: bool, reason: str, message: str) -> None:
        self._by_type[kind] = Condition(kind, "True" if status else "False", reason, message)

    def all(self) -> tuple[Condition, ...]:
        return tuple(self._by_type.values())


def tolerances_for(snapshot: Snapshot) -> Tolerances:
    """The controller's tolerance, overridden per direction by behavior.*.tolerance."""
    default = snapshot.settings.tolerance
    behavior = snapshot.policy.behavior
    if behavior is None:
        return Tolerances(default, default)
    down = behavior.scale_down.tolerance if behavior.scale_down else None
    up = behavior.scale_up.tolerance if behavior.scale_up else None
    return Tolerances(default if down is None else down, default if up is None else up)


def hpa_decision(snapshot: Snapshot) -> Decision:
    """What the HPA controller would do for this target now, and why (no scale event)."""
    policy = snapshot.policy
    current = snapshot.current_replicas
    conditions = _Conditions()
    conditions.set(
        ABLE_TO_SCALE,
        True,
        "SucceededGetScale",
        "the HPA controller was able to get the target's current scale",
    )
    unread = tuple(MetricResult(m.type, m.name) for m in policy.metrics)

    if current == 0 and policy.min_replicas != 0:
        conditions.set(
            SCALING_ACTIVE,
            False,
            "ScalingDisabled",
            "scaling is disabled since the replica count of the target is zero",
        )
        return Decision(current, None, unread, conditions.all(), snapshot.history)
    if current > policy.max_replicas:
        return _rescale(
            snapshot,
            conditions,
            policy.max_replicas,
            None,
            unread,
            snapshot.history,
            "Current number of replicas above Spec.MaxReplicas",
        )
    if current < policy.min_replicas:
        return _rescale(
            snapshot,
            conditions,
            policy.min_replicas,
            None,
            unread,
            snapshot.history,
            "Current number of replicas below Spec.MinReplicas",
        )

    tolerances = tolerances_for(snapshot)
    results = tuple(compute_metric(spec, snapshot, tolerances) for spec in policy.metrics)
    proposal, source = 0, ""
    for result in results:
        if result.proposal is not None and (proposal == 0 or result.proposal > proposal):
            proposal, source = result.proposal, result.description
    invalid = [r for r in results if r.proposal is None]
    recommendation = proposal if len(invalid) < len(results) else None
    if not results or len(invalid) == len(results) or (invalid and proposal < current):
        return _no_decision(snapshot, conditions, results, recommendation, invalid)
    conditions.set(
        SCALING_ACTIVE,
        True,
        "ValidMetricFound",
        f"the HPA was able to successfully calculate a replica count from {source}",
    )

    # The HPA starts from 0 and takes the proposal only if it is larger: a negative
    # proposal (negative metric values) is normalized, and recorded, as 0.
    desired = max(proposal, 0)
    reason = ""
    if desired > current:
        reason = f"{source} above target"
    elif desired < current:
        reason = "All metrics below target"
    stabilized, limited = _normalize(snapshot, desired)
    conditions.set(ABLE_TO_SCALE, True, stabilized.reason, stabilized.message)
    conditions.set(
        SCALING_LIMITED, limited.replicas != stabilized.replicas, limited.reason, limited.message
    )
    before = snapshot.history
    history = History(
        (*before.recommendations, Recommendation(snapshot.now, desired)),
        before.scale_up_events,
        before.scale_down_events,
        # Podscale's paths' memory (core.paths) travels on untouched.
        before.last_burst,
        before.last_active,
        before.forecast_off,
    )
    if limited.replicas == current:
        return Decision(current, recommendation, results, conditions.all(), history)
    return _rescale(
        snapshot, conditions, limited.replicas, recommendation, results, history, reason
    )


def normalized(snapshot: Snapshot, desired: int) -> Limited:
    """``desired`` through this sync's stabilization and rate limits (Podscale's forecast
    path asks the same question of a larger proposal)."""
    return _normalize(snapshot, desired)[1]


def _normalize(snapshot: Snapshot, desired: int) -> tuple[Limited, Limited]:
    """Stabilize, then limit: the legacy path without behavior, the policy path with it."""
    policy, history, now = snapshot.policy, snapshot.history, snapshot.now
    current = snapshot.current_replicas
    if policy.behavior is None:
        window = snapshot.settings.downscale_stabilization_window
        stabilized = stabilize_legacy(history, now=now, window=window, desired=desired)
        limited = limit_legacy(
            current, stabilized.replicas, policy.min_replicas, policy.max_replicas
        )
        return stabilized, limited
    up, down = resolve_rules(policy.behavior, snapshot.settings.downscale_stabilization_window)
    stabilized = stabilize_with_behavior(
        history, now=now, up=up, down=down, current=current, desired=desired
    )
    limited = limit_with_behavior(
        history,
        now=now,
        up=up,
        down=down,
        current=current,
        desired=stabilized.replicas,
        min_replicas=policy.min_replicas,
        max_replicas=policy.max_replicas,
    )
    return stabilized, limited


def _no_decision(
    snapshot: Snapshot,
    conditions: _Conditions,
    results: tuple[MetricResult, ...],
    recommendation: int | None,
    invalid: list[MetricResult],
) -> Decision:
    """All metrics failed, or one failed while the others would scale down: hold still."""
    if invalid:
        first = invalid[0]
        conditions.set(
            SCALING_ACTIVE,
            False,
            first.reason,
            f"the HPA was unable to compute the replica count: {first.description}",
        )
        error = (
            f"invalid metrics ({len(invalid)} invalid out of {len(results)}), "
            f"first error is: {first.error}"
        )
    else:
        conditions.set(
            SCALING_ACTIVE,
            False,
            "InvalidMetricSourceType",
            "the HPA was unable to compute the replica count: no metrics are defined",
        )
        error = "no metrics are defined"
    return Decision(
        snapshot.current_replicas,
        recommendation,
        results,
        conditions.all(),
        snapshot.history,
        error,
    )


def _rescale(
    snapshot: Snapshot,
    conditions: _Conditions,
    desired: int,
    recommendation: int | None,
    results: tuple[MetricResult, ...],
    history: History,
    reason: str,
) -> Decision:
    """A decision that changes the scale (its event is recorded by ``core.decide``)."""
    conditions.set(
        ABLE_TO_SCALE,
        True,
        "SucceededRescale",
        f"the HPA controller was able to update the target scale to {desired}",
    )
    return Decision(
        desired, recommendation, results, conditions.all(), history, rescale_reason=reason
    )
