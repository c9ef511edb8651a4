"""Which window or limit holds a decision, and until when; the rate-limit budget left.

Recomputed from the snapshot's history with the core's normalization rules
(``core.normalize``): the stabilization window's recommendation that holds the replicas
and the time it expires, and for the direction the metrics ask for, how many replicas
the rate limits allow now (the budget left in the period) and when it grows back.
"""

from __future__ import annotations

import math

from autoscaler.core.model import (
    POLICY_PODS,
    SELECT_DISABLED,
    Decision,
    History,
    Recommendation,
    Snapshot,
)
from autoscaler.core.normalize import Rules, resolve_rules, scale_down_limit, scale_up_limit
from autoscaler.core.rules import utc_text


def limit_lines(snapshot: Snapshot, decision: Decision) -> list[str]:
    """The windows and limits that apply to this decision, in words."""
    wanted = decision.recommendation
    current = snapshot.current_replicas
    if wanted is None or decision.error is not None:
        return []
    lines = _window_lines(snapshot, max(wanted, 0))
    if wanted > current:
        lines += _up_lines(snapshot)
    elif wanted < current:
        lines += _down_lines(snapshot)
    policy = snapshot.policy
    if wanted > policy.max_replicas:
        lines.append(f"maxReplicas {policy.max_replicas} caps the {wanted} asked for")
    if wanted < policy.min_replicas:
        lines.append(f"minReplicas {policy.min_replicas} holds the {wanted} asked for")
    return lines


def _window_lines(snapshot: Snapshot, wanted: int) -> list[str]:
    history, now = snapshot.history, snapshot.now
    current = snapshot.current_replicas
    behavior = snapshot.policy.behavior
    if behavior is None:  # the highest recent recommendation, in either direction
        window = snapshot.settings.downscale_stabilization_window
        recent = [r for r in history.recommendations if r.time >= now - window]
        return _holder(recent, wanted, window, now, higher=True, held_at=None)
    up, down = resolve_rules(behavior, snapshot.settings.downscale_stabilization_window)
    if wanted > current:  # min(max(current, lowest of the scale-up window), ...)
        window = up.stabilization_window_seconds
        recent = [r for r in history.recommendations if r.time > now - window]
        return _holder(recent, wanted, window, now, higher=False, held_at=current)
    if wanted < current:  # min(current, highest of the scale-down window)
        window = down.stabilization_window_seconds
        recent = [r for r in history.recommendations if r.time > now - window]
        return _holder(recent, wanted, window, now, higher=True, held_at=current)
    return []


def _holder(
    recent: list[Recommendation],
    wanted: int,
    window: float,
    now: float,
    *,
    higher: bool,
    held_at: int | None,
) -> list[str]:
    """The recommendation that holds ``wanted`` back within ``window``, if one does;
    ``held_at``: the current replicas, which a behavior window never goes beyond."""
    # A recommendation made at ``now`` is the loop's seed (the current replicas, recorded
    # when it first sees a target): of equal ones, an earlier, real one is named.
    if higher:
        beyond = [r for r in recent if r.replicas > wanted]
        if not beyond:
            return []
        holder = max(beyond, key=lambda r: (r.replicas, r.time != now, r.time))
        held = holder.replicas if held_at is None else min(held_at, holder.replicas)
        kind, direction = "highest", "scale-down"
    else:
        beyond = [r for r in recent if r.replicas < wanted]
        if not beyond:
            return []
        holder = min(beyond, key=lambda r: (r.replicas, r.time == now, -r.time))
        held = holder.replicas if held_at is None else max(held_at, holder.replicas)
        kind, direction = "lowest", "scale-up"
    until = max(r.time for r in beyond) + window
    which = (
        f"the current replicas, {holder.replicas}, recorded now as a loop that starts now "
        "records them"
        if holder.time == now
        else f"the {kind} recent recommendation, {holder.replicas} at {utc_text(holder.time)}"
    )
    return [
        f"{direction} stabilization window {window:g} s: {which}, holds the replicas at "
        f"{held} instead of {wanted}; it holds until {utc_text(until)} "
        f"({until - now:.0f} s from now)"
    ]


def _up_lines(snapshot: Snapshot) -> list[str]:
    current, policy = snapshot.current_replicas, snapshot.policy
    if policy.behavior is None:
        limit = max(2 * current, 4)
        return [
            f"scale-up limit (no behavior): max(2 x {current}, 4) = {limit} replicas now; "
            f"budget left {max(limit - current, 0)}"
        ]
    up, _ = resolve_rules(policy.behavior, snapshot.settings.downscale_stabilization_window)
    limit = max(scale_up_limit(up, snapshot.history, now=snapshot.now, current=current), current)
    return _policy_lines("scale-up", up, snapshot, limit, limit - current)


def _down_lines(snapshot: Snapshot) -> list[str]:
    current, policy = snapshot.current_replicas, snapshot.policy
    if policy.behavior is None:
        return []
    _, down = resolve_rules(policy.behavior, snapshot.settings.downscale_stabilization_window)
    limit = min(
        scale_down_limit(down, snapshot.history, now=snapshot.now, current=current), current
    )
    return _policy_lines("scale-down", down, snapshot, limit, current - limit)


def _policy_lines(
    direction: str, rules: Rules, snapshot: Snapshot, limit: int, budget: int
) -> list[str]:
    if rules.select_policy == SELECT_DISABLED:
        return [f"{direction}: selectPolicy Disabled: no {direction} at all"]
    now, history, current = snapshot.now, snapshot.history, snapshot.current_replicas
    parts = []
    for policy in rules.policies:
        start = _period_start(history, now=now, current=current, period=policy.period_seconds)
        sign = 1 if direction == "scale-up" else -1
        if policy.type == POLICY_PODS:
            allowed = start + sign * policy.value
            sum_text = f"{start} {'+' if sign > 0 else '-'} {policy.value} = {allowed}"
        elif sign > 0:
            allowed = math.ceil(start * (1 + policy.value / 100))
            sum_text = f"ceil({start} x {1 + policy.value / 100:g}) = {allowed}"
        else:
            allowed = int(start * (1 - policy.value / 100))
            sum_text = f"int({start} x {1 - policy.value / 100:g}) = {allowed}"
        parts.append(f"{policy.type} {policy.value} per {policy.period_seconds} s: {sum_text}")
    events = history.scale_up_events if direction == "scale-up" else history.scale_down_events
    period = max((p.period_seconds for p in rules.policies), default=0)
    in_period = [e for e in events if e.time > now - period]
    lines = [
        f"{direction} limit ({'; '.join(parts)}; selectPolicy {rules.select_policy}): "
        f"{limit} replicas now; budget left {max(budget, 0)}"
    ]
    if in_period:
        moved = sum(e.change for e in in_period)
        free = min(e.time for e in in_period) + period
        lines.append(
            f"  {moved} {'replica' if moved == 1 else 'replicas'} of {direction} in the last "
            f"{period} s count against it; "
            f"the first of them leaves the period at {utc_text(free)} ({free - now:.0f} s)"
        )
    return lines


def _period_start(history: History, *, now: float, current: int, period: int) -> int:
    """The replicas at the start of the period, as the HPA's rate limits count them."""
    cutoff = now - period
    added = sum(e.change for e in history.scale_up_events if e.time > cutoff)
    removed = sum(e.change for e in history.scale_down_events if e.time > cutoff)
    return current - added + removed
