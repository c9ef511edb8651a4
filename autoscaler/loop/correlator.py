"""Which Kubernetes Event to post or update for a new occurrence, as client-go decides.

The HPA records events through client-go's ``EventCorrelator`` (tools/record), so a
situation that lasts does not add an Event object at every sync. We follow its three
steps and its defaults:

1. *Aggregate* similar events: same involved object, type and reason, other message.
   From the 10th distinct message within 600 s of the previous one, the occurrence
   becomes one event whose message is ``(combined from similar events): <message>``.
2. *Count* identical events: same involved object, type, reason and message (or the
   same aggregate). The first is created with ``count: 1``; each repeat patches
   ``count`` and ``lastTimestamp`` (and the message of an aggregate) of that one object.
3. *Throttle* each involved object: a token bucket of 25 events refilled with one every
   300 s. A throttled occurrence is still counted, so the next update carries it.

Each memory is an LRU of 4,096 entries, as client-go's. Messages must therefore not carry
values that change at every sync (a countdown): an unchanged situation is one event.
Time is an argument, so tests drive it.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Generic, TypeVar

CACHE_ENTRIES = 4096
SIMILAR_EVENTS = 10  # distinct messages of one reason before they are combined
SIMILAR_WINDOW = 600.0  # seconds since the last similar event after which counting restarts
BURST = 25  # events an involved object may get at once
REFILL_SECONDS = 300.0  # then one more every this many seconds
COMBINED = "(combined from similar events): "

K = TypeVar("K")
V = TypeVar("V")


class _Lru(Generic[K, V]):
    def __init__(self, size: int) -> None:
        self.size = size
        self._items: OrderedDict[K, V] = OrderedDict()

    def get(self, key: K) -> V | None:
        value = self._items.get(key)
        if value is not None:
            self._items.move_to_end(key)
        return value

    def put(self, key: K, value: V) -> None:
        self._items[key] = value
        self._items.move_to_end(key)
        while len(self._items) > self.size:
            self._items.popitem(last=False)


@dataclass(frozen=True, slots=True)
class Occurrence:
    """One event to record: ``about`` identifies the involved object (and source)."""

    about: tuple[str, ...]
    type: str
    reason: str
    message: str


@dataclass(frozen=True, slots=True)
class Correlated:
    """What to send: a new Event (``create``) or an update of the one named ``name``."""

    name: str
    message: str
    count: int
    first_seen: float
    create: bool


@dataclass(slots=True)
class _Similar:
    messages: set[str] = field(default_factory=set)
    last: float = 0.0


@dataclass(slots=True)
class _Logged:
    name: str
    count: int
    first_seen: float


@dataclass(slots=True)
class _Bucket:
    tokens: float
    at: float


class EventCorrelator:
    """Aggregates, counts and throttles occurrences; see the module docstring."""

    def __init__(
        self,
        *,
        entries: int = CACHE_ENTRIES,
        similar_events: int = SIMILAR_EVENTS,
        similar_window: float = SIMILAR_WINDOW,
        burst: int = BURST,
        refill_seconds: float = REFILL_SECONDS,
    ) -> None:
        self.similar_events = similar_events
        self.similar_window = similar_window
        self.burst = burst
        self.refill_seconds = refill_seconds
        self._similar: _Lru[tuple[str, ...], _Similar] = _Lru(entries)
        self._logged: _Lru[tuple[str, ...], _Logged] = _Lru(entries)
        self._buckets: _Lru[tuple[str, ...], _Bucket] = _Lru(entries)

    def correlate(self, event: Occurrence, *, now: float, new_name: str) -> Correlated | None:
        """What to send for ``event`` at ``now``; None when the object's budget is spent.

        ``new_name`` names the Event object if a new one is created.
        """
        key, message = self._aggregate(event, now=now)
        logged = self._logged.get(key)
        if logged is None:
            logged = _Logged(new_name, 0, now)
            self._logged.put(key, logged)
        logged.count += 1
        if not self._allowed(event.about, now=now):
            return None
        return Correlated(logged.name, message, logged.count, logged.first_seen, logged.count == 1)

    def _aggregate(self, event: Occurrence, *, now: float) -> tuple[tuple[str, ...], str]:
        """The counting key and message: the event's own, or its reason's aggregate."""
        group = (*event.about, event.type, event.reason)
        similar = self._similar.get(group)
        if similar is None or now - similar.last > self.similar_window:
            similar = _Similar()
        similar.messages.add(event.message)
        similar.last = now
        self._similar.put(group, similar)
        if len(similar.messages) < self.similar_events:
            return (*group, "message", event.message), event.message
        similar.messages.discard(next(iter(similar.messages)))  # stay at the threshold
        return (*group, "combined"), COMBINED + event.message

    def _allowed(self, about: tuple[str, ...], *, now: float) -> bool:
        bucket = self._buckets.get(about)
        if bucket is None:
            bucket = _Bucket(float(self.burst), now)
        refill = (now - bucket.at) / self.refill_seconds
        bucket.tokens, bucket.at = min(float(self.burst), bucket.tokens + refill), now
        self._buckets.put(about, bucket)
        if bucket.tokens < 1:
            return False
        bucket.tokens -= 1
        return True
