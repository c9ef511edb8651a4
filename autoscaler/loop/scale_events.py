"""The scale events a sync keeps in a target's history, for the behavior rate limits.

A decision records the event of the change it asks for; the controller keeps it only if
the write happened, adds one for a write confirmed only at a later sync, and records the
change of the fallback replicas it applies itself.
"""

from __future__ import annotations

from dataclasses import replace

from autoscaler.core.model import Decision, History, ScaleEvent, Snapshot
from autoscaler.loop.guards import Unanswered


def with_scale_event(history: History, write: Unanswered) -> History:
    """``history`` plus the scale event of a write confirmed only after its sync."""
    change = write.replicas - write.before
    if change > 0:
        ups = (*history.scale_up_events, ScaleEvent(write.at, change))
        return replace(history, scale_up_events=ups)
    if change < 0:
        downs = (*history.scale_down_events, ScaleEvent(write.at, -change))
        return replace(history, scale_down_events=downs)
    return history


def without_new_events(decision: Decision, before: History) -> History:
    return replace(
        decision.history,
        scale_up_events=before.scale_up_events,
        scale_down_events=before.scale_down_events,
    )


def with_fallback(decision: Decision, snapshot: Snapshot, replicas: int, failures: int) -> Decision:
    """The policy's fallback replicas, within its bounds, after repeated failed reads."""
    policy = snapshot.policy
    desired = min(max(replicas, policy.min_replicas), policy.max_replicas)
    change = desired - snapshot.current_replicas
    history = decision.history
    if change > 0:
        history = replace(
            history, scale_up_events=(*history.scale_up_events, ScaleEvent(snapshot.now, change))
        )
    elif change < 0:
        history = replace(
            history,
            scale_down_events=(*history.scale_down_events, ScaleEvent(snapshot.now, -change)),
        )
    return replace(
        decision,
        desired_replicas=desired,
        history=history,
        rescale_reason=f"fallback: {failures} consecutive syncs without a usable metric",
    )
