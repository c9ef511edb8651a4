"""Kubernetes Events for rescales and failures, with the HPA's reasons.

Events are ``core/v1`` (the reference warns that ``events.k8s.io/v1`` from this client
needs care with ``eventTime``). A repeat of the same reason and message on the same
object bumps ``count`` and ``lastTimestamp`` of the first one, and many different messages
of one reason are combined, as client-go's correlator does (``loop.correlator``), instead
of flooding the namespace with one object per sync.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass

from autoscaler.kube.api import JSON, Api
from autoscaler.loop.controller import Outcome
from autoscaler.loop.correlator import EventCorrelator, Occurrence
from autoscaler.loop.crs import now_rfc3339
from autoscaler.ports import LoopError, NotFound, Target

log = logging.getLogger("autoscaler.events")
COMPONENT = "podscale"
# Notes that report expected behaviour, not a problem.
NORMAL_NOTES = frozenset({"RolloutInProgress", "SuccessfulRescale"})


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

    def __init__(self, api: Api, *, correlator: EventCorrelator | None = None) -> None:
        self.api = api
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
        path = f"/api/v1/namespaces/{namespace}/events"
        stamp = now_rfc3339(now)
        try:
            if not correlated.create:
                try:
                    self.api.call(
                        "PATCH",
                        f"{path}/{correlated.name}",
                        body={
                            "count": correlated.count,
                            "lastTimestamp": stamp,
                            "message": correlated.message[:1024],
                        },
                        content_type="application/merge-patch+json",
                    )
                    return
                except NotFound:
                    pass  # expired (or its creation failed): create it again
            self.api.call(
                "POST",
                path,
                body={
                    "apiVersion": "v1",
                    "kind": "Event",
                    "metadata": {"name": correlated.name, "namespace": namespace},
                    "involvedObject": involved,
                    "type": event.type,
                    "reason": event.reason,
                    "message": correlated.message[:1024],
                    "source": {"component": COMPONENT},
                    "firstTimestamp": now_rfc3339(correlated.first_seen),
                    "lastTimestamp": stamp,
                    "count": correlated.count,
                    "reportingComponent": COMPONENT,
                },
            )
        except LoopError as exc:
            # The count stays: the next occurrence updates (or creates) the Event.
            log.warning("cannot record event %s on %s: %s", event.reason, involved["name"], exc)
