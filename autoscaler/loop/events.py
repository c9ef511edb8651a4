"""Kubernetes Events for rescales and failures, with the HPA's reasons.

Events are ``core/v1`` (the reference warns that ``events.k8s.io/v1`` from this client
needs care with ``eventTime``). A repeat of the same reason and message on the same
object bumps ``count`` and ``lastTimestamp`` of the first one, as client-go's correlator
does, instead of flooding the namespace with one object per sync.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass

from autoscaler.kube.api import JSON, Api
from autoscaler.loop.controller import Outcome
from autoscaler.loop.crs import now_rfc3339
from autoscaler.loop.interfaces import LoopError, Target

log = logging.getLogger("autoscaler.events")
COMPONENT = "podscale"
# Notes that report expected behaviour, not a problem.
NORMAL_NOTES = frozenset({"RolloutInProgress"})


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
    """Posts events about a policy object (or, for a file policy, its scale target)."""

    def __init__(self, api: Api) -> None:
        self.api = api
        self._seen: dict[tuple[str, str, str, str], tuple[str, int]] = {}

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
        key = (
            namespace,
            str(involved.get("uid") or involved["name"]),
            event.reason,
            event.message,
        )
        stamp = now_rfc3339(now)
        path = f"/api/v1/namespaces/{namespace}/events"
        try:
            if key in self._seen:
                name, count = self._seen[key]
                self.api.call(
                    "PATCH",
                    f"{path}/{name}",
                    body={"count": count + 1, "lastTimestamp": stamp},
                    content_type="application/merge-patch+json",
                )
                self._seen[key] = (name, count + 1)
                return
            name = f"{involved['name']}.{uuid.uuid4().hex[:16]}"
            self.api.call(
                "POST",
                path,
                body={
                    "apiVersion": "v1",
                    "kind": "Event",
                    "metadata": {"name": name, "namespace": namespace},
                    "involvedObject": involved,
                    "type": event.type,
                    "reason": event.reason,
                    "message": event.message[:1024],
                    "source": {"component": COMPONENT},
                    "firstTimestamp": stamp,
                    "lastTimestamp": stamp,
                    "count": 1,
                    "reportingComponent": COMPONENT,
                },
            )
            if len(self._seen) > 10_000:  # messages carry values: forget old ones now and then
                self._seen.clear()
            self._seen[key] = (name, 1)
        except LoopError as exc:
            self._seen.pop(key, None)  # e.g. the event expired: post a new one next time
            log.warning("cannot record event %s on %s: %s", event.reason, involved["name"], exc)
