"""Events are aggregated as client-go's EventCorrelator does: one object per situation.

The numbers are client-go's defaults (tools/record/events_cache.go): identical events
are counted on the first one; from the 10th distinct message of one reason within 600 s
they are combined; an involved object gets 25 events at once, then one every 300 s.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from test_loop_controller import NOW, FakeCluster, controller, target

from autoscaler.kube.events import KubeEvents
from autoscaler.loop.correlator import COMBINED, EventCorrelator, Occurrence
from autoscaler.loop.events import Event, EventRecorder, events_for
from autoscaler.ports import NotFound

ABOUT = ("podscale", "apps/v1", "Deployment", "default", "web", "")


def occurrence(message: str, reason: str = "FailedGetResourceMetric") -> Occurrence:
    return Occurrence(ABOUT, "Warning", reason, message)


def test_the_same_event_is_counted_on_the_first_object() -> None:
    correlator = EventCorrelator()
    sent = [
        correlator.correlate(occurrence("down"), now=NOW + i, new_name=f"e{i}") for i in range(3)
    ]
    assert [(s.name, s.count, s.create) for s in sent if s] == [
        ("e0", 1, True),
        ("e0", 2, False),
        ("e0", 3, False),
    ]
    assert {s.first_seen for s in sent if s} == {NOW}


def test_a_different_message_or_reason_is_another_event() -> None:
    correlator = EventCorrelator()
    a = correlator.correlate(occurrence("a"), now=NOW, new_name="a")
    b = correlator.correlate(occurrence("b"), now=NOW, new_name="b")
    c = correlator.correlate(occurrence("a", reason="Other"), now=NOW, new_name="c")
    assert [s.create for s in (a, b, c) if s] == [True, True, True]


def test_the_tenth_similar_message_within_ten_minutes_is_combined() -> None:
    correlator = EventCorrelator()
    sent = [
        correlator.correlate(occurrence(f"value {i}"), now=NOW + i, new_name=f"e{i}")
        for i in range(12)
    ]
    assert all(s is not None for s in sent)
    own = [s for s in sent[:9] if s]
    assert [s.message for s in own] == [f"value {i}" for i in range(9)]
    combined = [s for s in sent[9:] if s]
    assert [(s.name, s.count, s.create) for s in combined] == [
        ("e9", 1, True),
        ("e9", 2, False),
        ("e9", 3, False),
    ]
    assert combined[-1].message == COMBINED + "value 11"


def test_similar_messages_start_afresh_after_ten_quiet_minutes() -> None:
    correlator = EventCorrelator()
    for i in range(9):
        correlator.correlate(occurrence(f"value {i}"), now=NOW, new_name=f"e{i}")
    later = correlator.correlate(occurrence("value 9"), now=NOW + 601, new_name="late")
    assert later is not None and later.message == "value 9" and later.create


def test_an_object_gets_25_events_at_once_then_one_every_five_minutes() -> None:
    correlator = EventCorrelator()
    sent = [correlator.correlate(occurrence("same"), now=NOW, new_name="e") for _ in range(27)]
    assert sum(s is not None for s in sent) == 25
    assert correlator.correlate(occurrence("same"), now=NOW + 299, new_name="e") is None
    after = correlator.correlate(occurrence("same"), now=NOW + 300, new_name="e")
    assert after is not None and after.count == 29  # the throttled ones were counted


@dataclass
class RecordingApi:
    """An Api that answers every call and remembers it; ``expired`` names answer 404."""

    calls: list[tuple[str, str, Any]] = field(default_factory=list)
    expired: set[str] = field(default_factory=set)

    def call(self, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        self.calls.append((method, path, kwargs.get("body")))
        if method == "PATCH" and path.rsplit("/", 1)[-1] in self.expired:
            raise NotFound(f"{method} {path}: not found")
        return {}


INVOLVED = {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web", "namespace": "default"}


def test_the_recorder_posts_once_then_patches_count_and_last_timestamp() -> None:
    api = RecordingApi()
    recorder = EventRecorder(KubeEvents(api))  # type: ignore[arg-type]
    for i in range(3):
        recorder.record(INVOLVED, Event("Warning", "R", "same"), now=NOW + 15 * i)
    methods = [m for m, _, _ in api.calls]
    assert methods == ["POST", "PATCH", "PATCH"]
    name = api.calls[0][2]["metadata"]["name"]
    assert api.calls[2][1].endswith(f"/events/{name}")
    assert api.calls[2][2]["count"] == 3
    assert api.calls[2][2]["lastTimestamp"] == "2023-11-14T22:13:50Z"


def test_an_expired_event_is_created_again_under_its_name() -> None:
    api = RecordingApi()
    recorder = EventRecorder(KubeEvents(api))  # type: ignore[arg-type]
    recorder.record(INVOLVED, Event("Warning", "R", "same"), now=NOW)
    name = api.calls[0][2]["metadata"]["name"]
    api.expired.add(name)
    recorder.record(INVOLVED, Event("Warning", "R", "same"), now=NOW + 3600)
    assert [m for m, _, _ in api.calls] == ["POST", "PATCH", "POST"]
    again = api.calls[2][2]
    assert again["metadata"]["name"] == name and again["count"] == 2


def test_a_held_target_is_one_event_counted_at_every_sync() -> None:
    cluster = FakeCluster(replicas={"hot": 2}, cpu={"hot": "900"})
    loop = controller(cluster)
    api = RecordingApi()
    recorder = EventRecorder(KubeEvents(api))  # type: ignore[arg-type]
    loop.sync([target("hot")], now=NOW)
    for step in range(1, 9):
        if step <= 2:
            cluster.replicas["hot"] = 2  # a GitOps sync resets it, twice: then we hold
        for outcome in loop.sync([target("hot")], now=NOW + 15 * step):
            for event in events_for(outcome):
                recorder.record(INVOLVED, event, now=NOW + 15 * step)
    conflicts = [
        c for c in api.calls if c[0] == "POST" and c[2]["reason"] == "ExternalScaleConflict"
    ]
    assert len(conflicts) == 1  # created once at step 2; the later syncs count on it
    name = conflicts[0][2]["metadata"]["name"]
    counts = [c[2]["count"] for c in api.calls if c[0] == "PATCH" and c[1].endswith(name)]
    assert counts == [2, 3, 4, 5, 6, 7]
