"""Metric values kept in memory, refreshed from Prometheus in the background, in batches.

Why a cache: the HPA controller asks for every External metric of every HPA on each
sync, five workers at a time, with no timeout of its own; an adapter that queries
Prometheus per request (prometheus-adapter's way) makes every HPA wait on Prometheus.
Here a request is a dictionary lookup. Each distinct ``(namespace, metric, selector)``
seen in a request becomes an :class:`Entry`; a refresher task collects every entry that
is due (its ``cacheTTL`` elapsed) in one :meth:`PrometheusSource.collect` call, which
sends each distinct query once. Only the requests for a new key that arrive before its
first collection wait, each at most ``first_wait`` seconds.

Freshness: a value is served while it is younger than the declaration's ``maxAge``
(the source already refuses samples older than ``maxAge``, so an answer is never more
than about twice that old). When Prometheus cannot be reached the last value is served
until then, and afterwards 503 with the source's message, never a silently old value.
A failure that describes the data itself (stale samples, NaN, a bad result shape)
replaces the value at once. No series is an empty ``items`` list, as prometheus-adapter
answers (the HPA counts that as a failed metric too).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

from autoscaler.adapter import schemas
from autoscaler.metrics.declarations import MetricDeclaration
from autoscaler.metrics.prometheus import (
    NO_DATA,
    QUERY_FAILED,
    TIMESTAMP_LABEL,
    MetricRequest,
    PrometheusSource,
    QueryRunner,
    stamped_query,
)
from autoscaler.selectors import Requirement

log = logging.getLogger("autoscaler.adapter")

MIN_INTERVAL: Final = 0.5  # seconds between refreshes of one entry, whatever its TTL
_CAPTURE_LIMIT: Final = 20_000


@dataclass(frozen=True, slots=True)
class CacheSettings:
    """How the cache behaves (seconds, entries); every wait is bounded."""

    default_ttl: float = 10.0
    first_wait: float = 3.0
    idle_after: float = 600.0
    max_entries: int = 10_000
    max_batch: int = 1_000


@dataclass(frozen=True, slots=True)
class Key:
    namespace: str
    metric: str
    selector: str  # canonical form, see autoscaler.selectors.canonical


@dataclass(frozen=True, slots=True)
class Answer:
    """An HTTP status code and the JSON body to send."""

    code: int
    body: bytes


@dataclass(slots=True)
class Entry:
    """One key's latest value; ``body`` is the last good answer, ``error`` the last failure."""

    key: Key
    declaration: MetricDeclaration
    requirements: tuple[Requirement, ...]
    last_requested: float
    ready: asyncio.Event = field(default_factory=asyncio.Event)
    body: bytes | None = None
    fetched_at: float = 0.0  # wall clock of the collection that produced body
    error: str | None = None
    next_due: float = 0.0  # monotonic


@dataclass(frozen=True, slots=True)
class _Outcome:
    body: bytes | None
    error: str | None
    keep_body: bool  # a transport failure: the previous body stays while fresh


class LabelCapture:
    """Wraps a query runner and remembers each answer's series labels.

    The batched source hands External values back as milli-values only, in the order of
    the answer's series; the adapter also wants each series' labels (``metricLabels``),
    so it reads them from the same answer here rather than querying twice.
    """

    def __init__(self, inner: QueryRunner) -> None:
        self._inner = inner
        self.labels: dict[str, list[dict[str, str]]] = {}

    def __call__(self, query: str, *, time: float) -> list[dict[str, Any]]:
        result = self._inner(query, time=time)
        # Bounded, oldest answer out first: the queries of the batch being collected
        # are the newest, so none of them loses its labels before it is served.
        self.labels.pop(query, None)
        while len(self.labels) >= _CAPTURE_LIMIT:
            del self.labels[next(iter(self.labels))]
        self.labels[query] = [
            {k: v for k, v in item["metric"].items() if k != "__name__"}
            for item in result
            if isinstance(item, dict) and TIMESTAMP_LABEL not in item.get("metric", {})
        ]
        return result

    def series_labels(self, query: str) -> list[dict[str, str]]:
        """The labels of ``query``'s series, as the source sent it (see its ``_one``)."""
        return self.labels.get(stamped_query(query), [])


class MetricCache:
    """Entries by key, a refresher task, and the per-request answer."""

    def __init__(
        self,
        *,
        source: PrometheusSource,
        capture: LabelCapture,
        settings: CacheSettings,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.source = source
        self.capture = capture
        self.settings = settings
        self.clock = clock
        self.entries: dict[Key, Entry] = {}
        self.refreshes = 0  # batches collected, for tests and logs
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._refresh_forever(), name="adapter-refresh")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        self.source.close()

    async def answer(
        self, key: Key, declaration: MetricDeclaration, requirements: tuple[Requirement, ...]
    ) -> Answer:
        """The cached answer for ``key``; a new key waits (bounded) for its first value."""
        entry = self.entries.get(key)
        now = time.monotonic()
        if entry is None:
            entry = self._register(key, declaration, requirements, now)
            self._wake.set()
        if not entry.ready.is_set():  # also a request arriving while the first one waits
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(entry.ready.wait(), self.settings.first_wait)
        entry.last_requested = now
        return self._render(entry)

    async def answer_direct(
        self, key: Key, declaration: MetricDeclaration, requirements: tuple[Requirement, ...]
    ) -> Answer:
        """Query Prometheus for this one request (the per-request path, for comparison)."""
        entry = Entry(key, declaration, requirements, last_requested=0.0)
        now = self.clock()
        (outcome,) = await asyncio.to_thread(self._collect, [entry], now)
        self._apply(entry, outcome, now)
        return self._render(entry)

    def _register(
        self,
        key: Key,
        declaration: MetricDeclaration,
        requirements: tuple[Requirement, ...],
        now: float,
    ) -> Entry:
        if len(self.entries) >= self.settings.max_entries:
            oldest = min(self.entries.values(), key=lambda e: e.last_requested)
            del self.entries[oldest.key]
        entry = Entry(key, declaration, requirements, last_requested=now)
        self.entries[key] = entry
        return entry

    def fresh_body(self, entry: Entry) -> bytes | None:
        """The entry's body when it can be served as is (the fast path), else None."""
        if entry.body is None or self.clock() - entry.fetched_at > entry.declaration.max_age:
            return None
        entry.last_requested = time.monotonic()
        return entry.body

    def _render(self, entry: Entry) -> Answer:
        name = entry.key.metric
        age = self.clock() - entry.fetched_at
        if entry.body is not None and age <= entry.declaration.max_age:
            return Answer(200, entry.body)
        if entry.error is not None:
            return Answer(503, schemas.status(503, f"unable to fetch metric {name}: {entry.error}"))
        if entry.body is not None:
            message = (
                f"the value of metric {name} is {age:.0f} s old, older than its maxAge "
                f"{entry.declaration.max_age:g} s"
            )
            return Answer(503, schemas.status(503, message))
        message = f"no value collected yet for metric {name}; retry shortly"
        return Answer(503, schemas.status(503, message))

    async def _refresh_forever(self) -> None:
        while True:
            wait = await self.refresh_due()
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), wait)

    async def refresh_due(self) -> float:
        """Collect every due entry in batches; returns seconds until the next is due."""
        mono = time.monotonic()
        idle = [
            k for k, e in self.entries.items() if mono - e.last_requested > self.settings.idle_after
        ]
        for key in idle:
            del self.entries[key]
        due = [e for e in self.entries.values() if e.next_due <= mono]
        for start in range(0, len(due), self.settings.max_batch):
            batch = due[start : start + self.settings.max_batch]
            now = self.clock()
            try:
                outcomes = await asyncio.to_thread(self._collect, batch, now)
            except Exception as exc:  # a bug must not stop the refresher; say so in one line
                log.error("adapter: refresh failed: %s: %s", type(exc).__name__, exc)
                outcomes = [_Outcome(None, "internal error while collecting", True)] * len(batch)
            self.refreshes += 1
            done = time.monotonic()
            for entry, outcome in zip(batch, outcomes, strict=True):
                self._apply(entry, outcome, now)
                entry.next_due = done + max(MIN_INTERVAL, self._ttl(entry))
        upcoming = [e.next_due for e in self.entries.values()]
        return max(0.05, min(upcoming, default=mono + 1.0) - time.monotonic())

    def _ttl(self, entry: Entry) -> float:
        ttl = entry.declaration.cache_ttl
        return min(self.settings.default_ttl, entry.declaration.max_age) if ttl is None else ttl

    def _apply(self, entry: Entry, outcome: _Outcome, now: float) -> None:
        if outcome.body is not None:
            entry.body, entry.fetched_at, entry.error = outcome.body, now, None
        else:
            entry.error = outcome.error
            if not outcome.keep_body:
                entry.body = None
        entry.ready.set()

    def _collect(self, entries: Sequence[Entry], now: float) -> list[_Outcome]:
        """Runs in a worker thread: one batched collection, one outcome per entry."""
        requests = [
            MetricRequest(
                target=str(index),
                namespace=entry.key.namespace,
                declaration=entry.declaration,
                selector=entry.requirements,
            )
            for index, entry in enumerate(entries)
        ]
        collection = self.source.collect(requests, now=now)
        outcomes = []
        for request, entry in zip(requests, entries, strict=True):
            metrics = collection.targets[request.target]
            name = entry.key.metric
            failure = metrics.failures.get(name)
            if failure is None or failure.reason == NO_DATA:
                values = metrics.external.get(name, ())
                labels = self.capture.series_labels(_rendered(request))
                if len(labels) != len(values):
                    labels = [{} for _ in values]
                body = schemas.value_list(name, zip(labels, values, strict=True), timestamp=now)
                outcomes.append(_Outcome(body, None, False))
            else:
                message = f"{failure.reason}: {failure.message}"
                outcomes.append(_Outcome(None, message, failure.reason == QUERY_FAILED))
        return outcomes


def _rendered(request: MetricRequest) -> str:
    return request.declaration.template.render(
        namespace=request.namespace, selector=request.selector
    )
