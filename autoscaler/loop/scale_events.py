"""The scale events a sync keeps in a target's history, for the behavior rate limits.

A decision records the event of the change it asks for (``core.decide``); the controller
keeps it only if the write happened, and adds one for a write confirmed only at a later
sync.
"""

from __future__ import annotations

from dataclasses import replace

from autoscaler.core.model import Decision, History, ScaleEvent
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
