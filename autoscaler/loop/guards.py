"""Per-target memory the HPA does not have: who else writes the replicas.

``WriterGuard`` notices another writer (a GitOps sync, a person with kubectl, another
autoscaler) changing the target's replicas between two syncs. The first change is
reported and then handled like the HPA would (the next decision starts from the new
count); when it keeps happening, we stop writing for a while instead of fighting in a
loop that neither side can win, and say so.
"""

from __future__ import annotations

from dataclasses import dataclass, field

CONFLICT_WINDOW = 600.0  # seconds in which repeated outside changes mean a fight
CONFLICT_CHANGES = 2  # outside changes within the window that make us step back


@dataclass(slots=True)
class _Seen:
    replicas: int
    ours: bool  # the last change to this count was our own write
    changes: list[float] = field(default_factory=list)
    # The object version our last write was based on: seeing it again means a cache that
    # has not caught up with the write yet, not another writer.
    read_version: str = ""


class WriterGuard:
    def __init__(self, *, window: float = CONFLICT_WINDOW, changes: int = CONFLICT_CHANGES):
        self.window = window
        self.changes = changes
        self._seen: dict[str, _Seen] = {}

    def observe(self, key: str, replicas: int, *, now: float, version: str = "") -> str | None:
        """Record the replicas read this sync; a message when someone else changed them."""
        seen = self._seen.get(key)
        if seen is None:
            self._seen[key] = _Seen(replicas, ours=False)
            return None
        if replicas == seen.replicas:
            return None
        if seen.ours and version and version == seen.read_version:
            return None  # the same object we wrote over: a cache lagging behind our write
        before = seen.replicas
        seen.replicas, seen.ours = replicas, False
        seen.changes = [t for t in seen.changes if t > now - self.window] + [now]
        return f"replicas changed from {before} to {replicas} by another writer"

    def held_until(self, key: str, *, now: float) -> float | None:
        """When writes may resume, if another writer keeps changing this target."""
        seen = self._seen.get(key)
        if seen is None:
            return None
        recent = [t for t in seen.changes if t > now - self.window]
        if len(recent) < self.changes:
            return None
        return recent[-1] + self.window

    def wrote(self, key: str, replicas: int, *, read_version: str = "") -> None:
        seen = self._seen.setdefault(key, _Seen(replicas, ours=True))
        seen.replicas, seen.ours, seen.read_version = replicas, True, read_version

    def forget(self, keys: set[str]) -> None:
        for key in [k for k in self._seen if k not in keys]:
            del self._seen[key]

    def ignore(self, key: str) -> None:
        """Stop watching ``key`` (a shadowed target): its record starts afresh later."""
        self._seen.pop(key, None)
