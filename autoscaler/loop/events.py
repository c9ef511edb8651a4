"""Kubernetes Events for rescales and failures, with the HPA's reasons.

Which events a sync gives, and whether each is new or a repeat, is decided here; an
``EventSink`` (``autoscaler.kube.events`` on a cluster) writes them. A repeat of the
same reason and message on the same object bumps ``count`` and ``lastTimestamp`` of the
first one, and many different messages of one reason are combined, as client-go's
correlator does (``loop.correlator``), instead of flooding the namespace with one object
per sync.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass

from autoscaler.core.paths import (
    ACTIVATED_REASON,
    BURST_REASON,
    DEACTIVATED_REASON,
    TRUSTED_REASON,
)
from autoscaler.loop.controller import Outcome
from autoscaler.loop.correlator import EventCorrelator, Occurrence
from autoscaler.ports import JSON, EventPost, EventSink, LoopError, NotFound, Target

log = logging.getLogger("autoscaler.events")
COMPONENT = "podscale"
# Notes that report expected behaviour, not a problem: among them Podscale's paths
# acting (core.paths' notices); a forecast switching itself off is a Warning.
NORMAL_NOTES = frozenset(
    {
        "RolloutInProgress",
        "SuccessfulRescale",
        ACTIVATED_REASON,
        DEACTIVATED_REASON,
        BURST_REASON,
        TRUSTED_REASON,
    }
)


@dataclass(frozen=True, slots=True)
class Event:
    type: str  # Normal | Warning
    reason: str
    message: str


def events_for(outcome: Outcome) -> list[Event]:
    """What the HPA controller would record for this sync."""
    decision = outcome.decision
    if decision is None:
        reason = outcome.error_reason or "FailedGetScale"
        return [Event("Warning", reason, outcome.error or "cannot read the scale")]
    events = [Event("Warning", m.reason, m.error) for m in decision.metrics if m.error and m.reason]
    if outcome.note is not None:
        reason, message = outcome.note
        events.append(Event("Normal" if reason in NORMAL_NOTES else "Warning", reason, message))
    if decision.error:
        events.append(Event("Warning", "FailedComputeMetricsReplicas", decision.error))
    if outcome.patched:
        events.append(
            Event(
                "Normal",
                "SuccessfulRescale",
                f"New size: {decision.desired_replicas}; reason: {decision.rescale_reason}",
            )
        )
    elif outcome.error_reason == "ExternalScaleConflict" and outcome.error:
        events.append(Event("Warning", "ExternalScaleConflict", outcome.error))
    elif outcome.error_reason == "FailedUpdateScale":
        events.append(
            Event(
                "Warning",
                "FailedRescale",
                f"New size: {decision.desired_replicas}; reason: "
                f"{decision.rescale_reason}; error: {outcome.error}",
            )
        )
    return events


class EventRecorder:
    """Posts events about a policy object (or, for a file policy, its scale target).

    Which object to create or update is client-go's choice (``loop.correlator``): a
    repeat patches ``count`` and ``lastTimestamp`` of the first Event; an Event that
    expired meanwhile (404) is created again under the same name, as client-go does.
    """

    def __init__(self, sink: EventSink, *, correlator: EventCorrelator | None = None) -> None:
        self.sink = sink
        self.correlator = correlator or EventCorrelator()

    @staticmethod
    def involved_for(target: Target) -> JSON:
        """The policy object, or for a file policy (no object) the workload it scales."""
        if target.uid:
            return {
                "apiVersion": "podscale.dev/v1alpha1",
                "kind": "ScalingPolicy",
                "name": target.name,
                "namespace": target.namespace,
                "uid": target.uid,
            }
        return {
            "apiVersion": target.ref.api_version,
            "kind": target.ref.kind,
            "name": target.ref.name,
            "namespace": target.namespace,
        }

    def record(self, involved: JSON, event: Event, *, now: float) -> None:
        namespace = str(involved["namespace"])
        about = tuple(
            str(involved.get(k) or "") for k in ("apiVersion", "kind", "namespace", "name", "uid")
        )
        occurrence = Occurrence((COMPONENT, *about), event.type, event.reason, event.message)
        name = f"{involved['name']}.{uuid.uuid4().hex[:16]}"
        correlated = self.correlator.correlate(occurrence, now=now, new_name=name)
        if correlated is None:
            log.debug("event %s on %s throttled", event.reason, involved["name"])
            return
        post = EventPost(
            namespace=namespace,
            name=correlated.name,
            involved=involved,
            type=event.type,
            reason=event.reason,
            message=correlated.message,
            component=COMPONENT,
            first_seen=correlated.first_seen,
            last_seen=now,
            count=correlated.count,
        )
        try:
            if not correlated.create:
                try:
                    self.sink.update(post)
                    return
                except NotFound:
                    pass  # expired (or its creation failed): create it again
            self.sink.create(post)
        except LoopError as exc:
            # The count stays: the next occurrence updates (or creates) the Event.
            log.warning("cannot record event %s on %s: %s", event.reason, involved["name"], exc)
