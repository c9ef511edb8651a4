"""``decide(snapshot) -> Decision``: every decision Podscale makes, in one documented order.

1. The HPA controller's reconcile (``autoscaler.core.hpa``): bounds, each metric's
   proposal, stabilization windows, rate limits. A policy without Podscale's
   extensions stops here, and decides exactly as the HPA does.
2. Podscale's own paths (``autoscaler.core.paths``), each opt-in per policy: activation
   (``spec.activation``: zero <-> one), the forecast (``spec.predictive``) and the burst
   (``spec.burst``), which can only raise what the HPA decided, so a forecast or a burst
   never scales down and never later than the HPA would.
3. Podscale's own rules (``autoscaler.core.rules``), each of which may change or hold
   the replicas chosen so far, in this order: the rollout hold (``spec.rollout``), then
   the fallback replicas (``spec.fallback``), so that a target whose metrics are gone
   gets its fallback even while it rolls out, then the other-writer hold, last, because
   no scale of any kind is written while something else keeps changing the replicas.
4. The scale event, recorded once for whatever replicas the steps above settled on
   (only with ``behavior``, as the HPA's storeScaleEvent: nothing else reads them), and
   the history pruned to what a later decision can read.

The live loop, ``autoscaler decide`` and the simulator all call this function, so each
of them sees (and ``--explain`` explains) every step.
"""

from __future__ import annotations

from dataclasses import replace

from autoscaler.core.hpa import hpa_decision
from autoscaler.core.model import Decision, History, ScaleEvent, Snapshot
from autoscaler.core.normalize import resolve_rules
from autoscaler.core.paths import activate, burst, forecast
from autoscaler.core.rules import fall_back, hold_during_rollout, hold_for_other_writer


def decide(snapshot: Snapshot) -> Decision:
    """What Podscale would do for this target now, and why."""
    decision = hpa_decision(snapshot)
    decision = activate(snapshot, decision)
    decision = forecast(snapshot, decision)
    decision = burst(snapshot, decision)
    decision = hold_during_rollout(snapshot, decision)
    decision = fall_back(snapshot, decision)
    decision = hold_for_other_writer(snapshot, decision)
    return replace(decision, history=_pruned(snapshot, _with_event(snapshot, decision)))


def _with_event(snapshot: Snapshot, decision: Decision) -> History:
    """The history with this sync's scale event, which behavior's rate limits read."""
    history = decision.history
    change = decision.desired_replicas - snapshot.current_replicas
    if change == 0 or snapshot.policy.behavior is None:
        return history
    event = ScaleEvent(snapshot.now, abs(change))
    if change > 0:
        return replace(history, scale_up_events=(*history.scale_up_events, event))
    return replace(history, scale_down_events=(*history.scale_down_events, event))


def _pruned(snapshot: Snapshot, history: History) -> History:
    """Drop history no later decision can read: older than every window and period.

    Each direction's limit counts the other direction's events too (a scale-up limit
    starts from the replicas at the start of its period, scale-downs included), so both
    event lists are kept for the longest period of either direction.
    """
    now = snapshot.now
    behavior = snapshot.policy.behavior
    downscale = snapshot.settings.downscale_stabilization_window
    if behavior is None:
        window: float = downscale
        period = 15
    else:
        up, down = resolve_rules(behavior, downscale)
        window = float(max(up.stabilization_window_seconds, down.stabilization_window_seconds))
        period = max((p.period_seconds for p in (*up.policies, *down.policies)), default=0)
    return replace(
        history,
        recommendations=tuple(r for r in history.recommendations if r.time >= now - window),
        scale_up_events=tuple(e for e in history.scale_up_events if e.time >= now - period),
        scale_down_events=tuple(e for e in history.scale_down_events if e.time >= now - period),
    )
