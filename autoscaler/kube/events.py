"""core/v1 Events over the Kubernetes API: create one, or bump a repeat of it.

Which Event to create or update, and with what count, is the loop's choice
(``autoscaler.loop.events`` and its correlator); this module writes it. The ``core/v1``
form is used because the reference warns that ``events.k8s.io/v1`` needs care with
``eventTime``.
"""

from __future__ import annotations

from datetime import UTC, datetime

from autoscaler.kube.api import Api
from autoscaler.ports import EventPost

MESSAGE_LIMIT = 1024  # what the API server accepts in an Event's message


def _timestamp(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _events_path(namespace: str) -> str:
    return f"/api/v1/namespaces/{namespace}/events"


class KubeEvents:
    """A ``ports.EventSink`` writing to the API server."""

    def __init__(self, api: Api) -> None:
        self.api = api

    def update(self, event: EventPost) -> None:
        self.api.call(
            "PATCH",
            f"{_events_path(event.namespace)}/{event.name}",
            body={
                "count": event.count,
                "lastTimestamp": _timestamp(event.last_seen),
                "message": event.message[:MESSAGE_LIMIT],
            },
            content_type="application/merge-patch+json",
        )

    def create(self, event: EventPost) -> None:
        self.api.call(
            "POST",
            _events_path(event.namespace),
            body={
                "apiVersion": "v1",
                "kind": "Event",
                "metadata": {"name": event.name, "namespace": event.namespace},
                "involvedObject": event.involved,
                "type": event.type,
                "reason": event.reason,
                "message": event.message[:MESSAGE_LIMIT],
                "source": {"component": event.component},
                "firstTimestamp": _timestamp(event.first_seen),
                "lastTimestamp": _timestamp(event.last_seen),
                "count": event.count,
                "reportingComponent": event.component,
            },
        )


def external_change_times(
    api: Api, namespace: str, involved: dict[str, str], *, since: float
) -> tuple[float, ...]:
    """When another writer changed the replicas, as the loop's ``ExternalScaleChange``
    events on ``involved`` (kind, name) record it since ``since``, oldest first.

    ``autoscaler explain`` is a new process: it has none of the loop's memory of other
    writers, so it reads it back from the events the loop posted. An aggregated event
    gives its first and last occurrence only, which is what the core's other-writer rule
    needs (two changes within its window).
    """
    selector = (
        f"involvedObject.kind={involved['kind']},involvedObject.name={involved['name']},"
        "reason=ExternalScaleChange"
    )
    listing = api.call("GET", _events_path(namespace), query=[("fieldSelector", selector)])
    times: set[float] = set()
    for item in listing.get("items") or []:
        stamps = [item.get("lastTimestamp")]
        if int(item.get("count") or 1) > 1:
            stamps.append(item.get("firstTimestamp"))
        for stamp in stamps:
            if isinstance(stamp, str):
                when = datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()
                if when >= since:
                    times.add(when)
    return tuple(sorted(times))
