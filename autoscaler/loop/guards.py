"""Per-target memory the HPA does not have: who else writes the replicas.

``WriterGuard`` notices another writer (a GitOps sync, a person with kubectl, another
autoscaler) changing the target's replicas between two syncs. The first change is
reported and then handled like the HPA would (the next decision starts from the new
count); the times of such changes go into the snapshot, and the core's other-writer rule
(``core.rules.hold_for_other_writer``) stops scaling while they keep coming.

It must never take our own writes for someone else's. Three ways we recognise them:

- a write that was answered is remembered with the object version it was based on; a
  cache still showing that version has not caught up with it yet; any other change seen
  right after our write is checked with a read from the API server itself, since a
  cache may show an even older version;
- a write whose answer was lost (the connection broke after the API server applied it)
  is resolved by the controller with a fresh read (``Controller``);
- if that read fails too, the write is *unanswered*: the next read that shows exactly the
  value we asked for is our write arriving, not another writer.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from autoscaler.core.rules import CONFLICT_WINDOW


@dataclass(frozen=True, slots=True)
class Unanswered:
    """A write of ours whose outcome is unknown: ``before`` -> ``replicas`` at ``at``."""

    replicas: int
    before: int
    at: float
    reason: str = ""  # the decision's rescale reason, for the event once confirmed


@dataclass(frozen=True, slots=True)
class Observation:
    """What one read of the replicas tells about writers.

    ``external``: the message when someone else changed them. ``confirmed``: an
    unanswered write of ours that this read shows applied (reported once), so the
    controller can count the scale event that did happen.
    """

    external: str | None = None
    confirmed: Unanswered | None = None
    # The read is older than our last write (a watch cache behind): a write based on it
    # would be refused (409), and its count is not news.
    stale: bool = False
    # Changed right after our own write: a cache behind it, or another writer. Only a
    # read from the API server itself can tell (``observe(..., verified=True)``).
    doubtful: bool = False


@dataclass(slots=True)
class _Seen:
    replicas: int
    ours: bool  # the last change to this count was our own write
    changes: list[float] = field(default_factory=list)
    # The object version our last write was based on: seeing it again means a cache that
    # has not caught up with the write yet, not another writer.
    read_version: str = ""
    # Our last write, if its outcome is still unknown.
    unanswered: Unanswered | None = None


class WriterGuard:
    def __init__(self) -> None:
        self._seen: dict[str, _Seen] = {}

    def observe(
        self, key: str, replicas: int, *, now: float, version: str = "", verified: bool = False
    ) -> Observation:
        """Record the replicas read this sync: who changed them, if they changed.

        ``verified``: read from the API server itself, not a cache that may lag.
        """
        seen = self._seen.get(key)
        if seen is None:
            self._seen[key] = _Seen(replicas, ours=False)
            return Observation()
        if replicas == seen.replicas:
            return Observation()
        if seen.ours and version and version == seen.read_version:
            return Observation(stale=True)  # the object we wrote over: a cache behind us
        if seen.ours and not verified:
            return Observation(doubtful=True)  # nothing recorded until the API server says
        pending, seen.unanswered = seen.unanswered, None
        if pending is not None and replicas == pending.replicas:
            seen.replicas, seen.ours, seen.read_version = replicas, True, ""
            return Observation(confirmed=pending)
        before = seen.replicas
        seen.replicas, seen.ours = replicas, False
        seen.changes = [*_recent(seen.changes, now), now]
        message = f"replicas changed from {before} to {replicas} by another writer"
        return Observation(external=message)

    def changes(self, key: str, *, now: float) -> tuple[float, ...]:
        """When another writer changed this target's replicas, within the window."""
        seen = self._seen.get(key)
        if seen is None:
            return ()
        return _recent(seen.changes, now)

    def wrote(self, key: str, replicas: int, *, read_version: str = "") -> None:
        """Our write of ``replicas`` was applied (answered, or confirmed by a fresh read)."""
        seen = self._seen.setdefault(key, _Seen(replicas, ours=True))
        seen.replicas, seen.ours, seen.read_version = replicas, True, read_version
        seen.unanswered = None

    def unanswered(
        self, key: str, replicas: int, *, before: int, now: float, reason: str = ""
    ) -> None:
        """We asked for ``replicas`` (the target had ``before``) and cannot tell whether
        it was applied."""
        seen = self._seen.setdefault(key, _Seen(before, ours=False))
        seen.unanswered = Unanswered(replicas, before, now, reason)

    def forget(self, keys: set[str]) -> None:
        for key in [k for k in self._seen if k not in keys]:
            del self._seen[key]

    def ignore(self, key: str) -> None:
        """Stop watching ``key`` (a shadowed target): its record starts afresh later."""
        self._seen.pop(key, None)


def _recent(times: list[float], now: float) -> tuple[float, ...]:
    """The change times the core's other-writer rule can still count: its own window,
    so that the guard's memory and the rule never disagree."""
    return tuple(t for t in times if t > now - CONFLICT_WINDOW)
