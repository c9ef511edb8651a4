"""One line per policy compared with its ``hpa-default`` baseline: the deltas and a word.

The verdict reads the SLO figures only (``sloMissMinutes`` and ``badRequests``, the
same ruler for every policy) and puts the cost next to them:

- ``better``: neither figure higher than the baseline's, at least one lower;
- ``worse``: neither lower, at least one higher;
- ``same``: both equal; ``mixed``: one lower and the other higher.

For example ``web vs hpa-default: better: SLO-miss minutes 64 -> 40 (-37 %),
dropped+slow 368k -> 217k (-41 %), replica-hours 249.4 -> 265.0 (+6 %)``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def verdict(policy: str, baseline: str, mine: Mapping[str, Any], theirs: Mapping[str, Any]) -> str:
    """The comparison line of ``policy`` (summary ``mine``) with ``baseline`` (``theirs``)."""
    keys = ("sloMissMinutes", "badRequests")
    lower = [mine[k] < theirs[k] for k in keys]
    higher = [mine[k] > theirs[k] for k in keys]
    if any(lower) and any(higher):
        word = "mixed"
    elif any(lower):
        word = "better"
    elif any(higher):
        word = "worse"
    else:
        word = "same"
    parts = [
        _delta("SLO-miss minutes", mine["sloMissMinutes"], theirs["sloMissMinutes"], _minutes),
        _delta("dropped+slow", mine["badRequests"], theirs["badRequests"], count),
        _delta("replica-hours", mine["replicaHours"], theirs["replicaHours"], _hours),
    ]
    return f"{policy} vs {baseline}: {word}: " + ", ".join(parts)


def _delta(name: str, mine: float, theirs: float, shown: Any) -> str:
    change = _percent(mine, theirs)
    return f"{name} {shown(theirs)} -> {shown(mine)}{change}"


def _percent(mine: float, theirs: float) -> str:
    if theirs == 0:
        return "" if mine == 0 else " (from none)"
    return f" ({100 * (mine - theirs) / theirs:+.0f} %)"


def _minutes(value: float) -> str:
    return f"{value:,.0f}" if value >= 10 else f"{value:,.1f}"


def _hours(value: float) -> str:
    return f"{value:,.1f}"


def count(value: float) -> str:
    """A request count, short: 1.2M, 368k, 4,321."""
    if value >= 1e6:
        return f"{value / 1e6:.1f}M"
    if value >= 1e4:
        return f"{value / 1e3:.0f}k"
    return f"{value:,.0f}"
