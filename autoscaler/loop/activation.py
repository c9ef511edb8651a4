"""The fast path of scale-to-zero: targets at zero read between full syncs.

A target whose policy has ``activation`` and that the last sync left at zero replicas
has no pods, so nothing it serves can wait 15 s for the next sync: its activation
metric is read every ``pollSeconds`` (default 2 s) instead, through the controller's
own sync of that one target (``Controller.poll``: gather -> snapshot -> decide -> write
-> record), so the core decides the wake-up and ``--explain``, events and the status
see it like any other decision.

This module only keeps the schedule; the service runs the polls in its own thread
between syncs, which bounds them by construction: one poll at a time, never during a
sync, the next read of a target ``pollSeconds`` after the previous one *ended* (a slow
read delays the next instead of piling up), and nothing once the loop stops or loses
the lease. A target leaves the schedule when a poll or a sync finds it above zero (it
woke up: the full syncs take it from 1 to N), when it is not at zero in a sync, or when
its policy goes away.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from autoscaler.loop.controller import Outcome
from autoscaler.ports import Target


@dataclass(slots=True)
class _Waiting:
    target: Target
    due: float  # on the service's monotonic clock


def waits_at_zero(outcome: Outcome) -> bool:
    """Whether the outcome leaves an activation target at zero, waiting for its metric.

    A dry run is left to the full syncs: it never writes, so it would stay at zero and
    report the same would-be wake-up every poll.
    """
    target, policy = outcome.target, outcome.target.policy
    if policy.activation is None or policy.min_replicas != 0 or target.mode == "DryRun":
        return False
    return outcome.current == 0 and not outcome.patched


class ActivationPolls:
    """Which targets at zero to read between syncs, and when each is next due."""

    def __init__(self, *, enabled: bool = True) -> None:
        self.enabled = enabled  # False for a dry-run service: nothing would be written
        self._waiting: dict[str, _Waiting] = {}

    def __len__(self) -> int:
        return len(self._waiting)

    def after_sync(self, outcomes: Sequence[Outcome], *, at: float) -> None:
        """Take the targets a full sync left at zero (with their latest policy); keep the
        due time of those already waiting, drop every other."""
        waiting: dict[str, _Waiting] = {}
        if self.enabled:
            for outcome in outcomes:
                if not waits_at_zero(outcome):
                    continue
                target = outcome.target
                old = self._waiting.get(target.key)
                due = old.due if old is not None else at + _poll_seconds(target)
                waiting[target.key] = _Waiting(target, due)
        self._waiting = waiting

    def next_due(self) -> float | None:
        return min((w.due for w in self._waiting.values()), default=None)

    def due(self, *, at: float) -> list[Target]:
        """The targets to read now, the longest overdue first."""
        ready = sorted((w for w in self._waiting.values() if w.due <= at), key=lambda w: w.due)
        return [w.target for w in ready]

    def polled(self, outcome: Outcome, *, at: float) -> None:
        """After a poll that ended at ``at``: due again ``pollSeconds`` later while the
        target stays at zero; out of the fast path once it woke up (or vanished)."""
        key = outcome.target.key
        waiting = self._waiting.get(key)
        if waiting is None:
            return
        if outcome.current is None or outcome.current > 0 or outcome.patched:
            del self._waiting[key]
            return
        waiting.due = at + _poll_seconds(waiting.target)

    def clear(self) -> None:
        self._waiting.clear()


def _poll_seconds(target: Target) -> float:
    activation = target.policy.activation
    assert activation is not None
    return activation.poll_seconds
