"""Where simulated time comes from.

Everything in the simulator takes time as an argument; only the owner of a clock reads
it. A :class:`ManualClock` makes days of traffic replay in seconds and makes tests
exact; a :class:`WallClock` lets the same model drive a live cluster in real time.
"""

from __future__ import annotations

import math
import time
from typing import Protocol


class Clock(Protocol):
    """A source of "now" in seconds (since the epoch, or since the start of a run)."""

    def now(self) -> float: ...


class ManualClock:
    """Virtual time that moves only when told to, and never backwards.

    Refusing to go backwards catches a whole class of simulator bugs (pods that
    become ready before they start, counters that shrink) where they happen.
    """

    __slots__ = ("_now",)

    def __init__(self, start: float = 0.0) -> None:
        self._now = _finite(start, "start")

    def now(self) -> float:
        return self._now

    def advance(self, seconds: float) -> float:
        """Move forward by ``seconds`` (>= 0) and return the new time."""
        if _finite(seconds, "seconds") < 0:
            raise ValueError(f"cannot advance a clock by a negative duration ({seconds})")
        self._now += seconds
        return self._now

    def set(self, when: float) -> None:
        """Jump to ``when``, which must not be earlier than now."""
        if _finite(when, "when") < self._now:
            raise ValueError(f"cannot set the clock back from {self._now} to {when}")
        self._now = when

    def __repr__(self) -> str:
        return f"ManualClock({self._now!r})"


class WallClock:
    """Real time: seconds since the epoch, as ``time.time()`` gives it."""

    __slots__ = ()

    def now(self) -> float:
        return time.time()


def _finite(value: float, name: str) -> float:
    if not math.isfinite(value):
        raise ValueError(f"{name} must be a finite number of seconds (got {value})")
    return float(value)
