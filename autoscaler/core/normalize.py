"""From a raw recommendation to the replica count the HPA would write.

Two paths, as in horizontal.go:

- *legacy* (no ``behavior``): keep the highest recommendation of the downscale
  stabilization window, then clamp to [minReplicas, min(maxReplicas, max(2 * current, 4))].
- *behavior*: stabilize between the lowest recommendation of the scale-up window and the
  highest of the scale-down window, then limit the step by the direction's policies
  (Pods or Percent per periodSeconds, combined by selectPolicy), then clamp to
  [minReplicas, maxReplicas].

Each step returns the reason and message the HPA puts in its AbleToScale and
ScalingLimited conditions.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from autoscaler.core.model import (
    POLICY_PERCENT,
    POLICY_PODS,
    SELECT_DISABLED,
    SELECT_MIN,
    Behavior,
    History,
    ScaleEvent,
    ScalingPolicy,
    ScalingRules,
)

# autoscaling/v2 defaults (pkg/apis/autoscaling/v2/defaults.go).
DEFAULT_SCALE_UP = ScalingRules(
    stabilization_window_seconds=0,
    select_policy="Max",
    policies=(ScalingPolicy(POLICY_PODS, 4, 15), ScalingPolicy(POLICY_PERCENT, 100, 15)),
)
DEFAULT_SCALE_DOWN_POLICIES = (ScalingPolicy(POLICY_PERCENT, 100, 15),)

WITHIN_RANGE = ("DesiredWithinRange", "the desired count is within the acceptable range")
SCALE_UP_LIMIT = (
    "ScaleUpLimit",
    "the desired replica count is increasing faster than the maximum scale rate",
)
SCALE_DOWN_LIMIT = (
    "ScaleDownLimit",
    "the desired replica count is decreasing faster than the maximum scale rate",
)
TOO_MANY = ("TooManyReplicas", "the desired replica count is more than the maximum replica count")
TOO_FEW = ("TooFewReplicas", "the desired replica count is less than the minimum replica count")
READY_FOR_NEW_SCALE = ("ReadyForNewScale", "recommended size matches current size")
SCALE_UP_STABILIZED = (
    "ScaleUpStabilized",
    "recent recommendations were lower than current one, applying the lowest recent recommendation",
)
SCALE_DOWN_STABILIZED = (
    "ScaleDownStabilized",
    "recent recommendations were higher than current "
    "one, applying the highest recent recommendation",
)


@dataclass(frozen=True, slots=True)
class Limited:
    """A replica count with the reason and message of the step that produced it."""

    replicas: int
    reason: str
    message: str


@dataclass(frozen=True, slots=True)
class Rules:
    """One direction's rules with every default filled in."""

    stabilization_window_seconds: int
    select_policy: str
    policies: tuple[ScalingPolicy, ...]


def resolve_rules(behavior: Behavior, downscale_window: float) -> tuple[Rules, Rules]:
    """Fill unset fields with the autoscaling/v2 defaults (scale-down window from settings)."""
    up = behavior.scale_up or ScalingRules()
    down = behavior.scale_down or ScalingRules()
    default_up = DEFAULT_SCALE_UP
    return (
        Rules(
            _first(up.stabilization_window_seconds, default_up.stabilization_window_seconds),
            up.select_policy or "Max",
            up.policies if up.policies is not None else default_up.policies or (),
        ),
        Rules(
            _first(down.stabilization_window_seconds, int(downscale_window)),
            down.select_policy or "Max",
            down.policies if down.policies is not None else DEFAULT_SCALE_DOWN_POLICIES,
        ),
    )


def _first(value: int | None, default: int | None) -> int:
    return value if value is not None else (default or 0)


# --- legacy path ------------------------------------------------------------------------


def stabilize_legacy(history: History, *, now: float, window: float, desired: int) -> Limited:
    """The highest recommendation not older than the window (the HPA keeps t >= now - window)."""
    cutoff = now - window
    highest = desired
    for rec in history.recommendations:
        if rec.time >= cutoff and rec.replicas > highest:
            highest = rec.replicas
    reason = READY_FOR_NEW_SCALE if highest == desired else SCALE_DOWN_STABILIZED
    return Limited(highest, *reason)


def limit_legacy(current: int, desired: int, min_replicas: int, max_replicas: int) -> Limited:
    """convertDesiredReplicasWithRules: scale-up capped at max(2 * current, 4)."""
    scale_up_limit = int(max(2.0 * current, 4.0))
    if max_replicas > scale_up_limit:
        maximum, reason = scale_up_limit, SCALE_UP_LIMIT
    else:
        maximum, reason = max_replicas, TOO_MANY
    if desired < min_replicas:
        return Limited(min_replicas, *TOO_FEW)
    if desired > maximum:
        return Limited(maximum, *reason)
    return Limited(desired, *WITHIN_RANGE)


# --- behavior path ----------------------------------------------------------------------


def stabilize_with_behavior(
    history: History, *, now: float, up: Rules, down: Rules, current: int, desired: int
) -> Limited:
    """Clamp between the scale-up window's lowest and the scale-down window's highest."""
    up_cutoff = now - up.stabilization_window_seconds
    down_cutoff = now - down.stabilization_window_seconds
    up_recommendation = down_recommendation = desired
    for rec in history.recommendations:
        if rec.time > up_cutoff:
            up_recommendation = min(rec.replicas, up_recommendation)
        if rec.time > down_cutoff:
            down_recommendation = max(rec.replicas, down_recommendation)
    replicas = min(max(current, up_recommendation), down_recommendation)
    if replicas == desired:
        return Limited(replicas, *READY_FOR_NEW_SCALE)
    reason = SCALE_UP_STABILIZED if desired >= current else SCALE_DOWN_STABILIZED
    return Limited(replicas, *reason)


def _change_in_period(events: tuple[ScaleEvent, ...], *, now: float, period: int) -> int:
    cutoff = now - period
    return sum(e.change for e in events if e.time > cutoff)


def _period_start(history: History, *, now: float, current: int, period: int) -> int:
    added = _change_in_period(history.scale_up_events, now=now, period=period)
    removed = _change_in_period(history.scale_down_events, now=now, period=period)
    return current - added + removed


def scale_up_limit(rules: Rules, history: History, *, now: float, current: int) -> int:
    """calculateScaleUpLimitWithScalingRules: the most replicas the policies allow now."""
    if rules.select_policy == SELECT_DISABLED:
        return current
    pick = min if rules.select_policy == SELECT_MIN else max
    result: int | None = None
    for policy in rules.policies:
        start = _period_start(history, now=now, current=current, period=policy.period_seconds)
        if policy.type == POLICY_PODS:
            proposed = start + policy.value
        else:
            proposed = math.ceil(start * (1 + policy.value / 100))
        result = proposed if result is None else pick(result, proposed)
    return result if result is not None else (2**31 - 1 if pick is min else -(2**31))


def scale_down_limit(rules: Rules, history: History, *, now: float, current: int) -> int:
    """calculateScaleDownLimitWithBehaviors: the fewest replicas the policies allow now."""
    if rules.select_policy == SELECT_DISABLED:
        return current
    pick = max if rules.select_policy == SELECT_MIN else min
    result: int | None = None
    for policy in rules.policies:
        start = _period_start(history, now=now, current=current, period=policy.period_seconds)
        if policy.type == POLICY_PODS:
            proposed = start - policy.value
        else:
            proposed = int(start * (1 - policy.value / 100))
        result = proposed if result is None else pick(result, proposed)
    return result if result is not None else (-(2**31) if pick is max else 2**31 - 1)


def limit_with_behavior(
    history: History,
    *,
    now: float,
    up: Rules,
    down: Rules,
    current: int,
    desired: int,
    min_replicas: int,
    max_replicas: int,
) -> Limited:
    """convertDesiredReplicasWithBehaviorRate: rate limits first, then min/max."""
    if desired > current:
        limit = max(scale_up_limit(up, history, now=now, current=current), current)
        if max_replicas > limit:
            maximum, reason = limit, SCALE_UP_LIMIT
        else:
            maximum, reason = max_replicas, TOO_MANY
        if desired > maximum:
            return Limited(maximum, *reason)
    elif desired < current:
        limit = min(scale_down_limit(down, history, now=now, current=current), current)
        if min_replicas < limit:
            minimum, reason = limit, SCALE_DOWN_LIMIT
        else:
            minimum, reason = min_replicas, TOO_FEW
        if desired < minimum:
            return Limited(minimum, *reason)
    return Limited(desired, *WITHIN_RANGE)
