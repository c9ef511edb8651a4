"""Traffic traces: strict CSV reading, and synthetic traces of the same type.

The CSV layout is that of ``shared/traces`` (see its README)::

    timestamp_seconds,value
    0,94
    300,56

The first column is the time in seconds; the value column is chosen by header name
or index (default ``value``, or the second column when there is no header). The
header is optional: a first line whose time cell is not a number is a header.

The shared traces hold *counts per interval*, not rates, so by default
(``kind="count"``) each value is divided by the time to the next row (the last row
by the interval before it) to give requests per second; ``kind="rate"`` reads values
that already are rates. Bad input is refused, not repaired: every problem raises
:class:`TraceError` with one line, ``FILE:LINE: what is wrong``. Blank lines are
skipped.
"""

from __future__ import annotations

import math
from itertools import pairwise
from pathlib import Path
from typing import Literal

from autoscaler.sim.load import (
    Diurnal,
    FlashCrowd,
    LoadShape,
    Ramp,
    Step,
    Trace,
    standard_normal,
)

__all__ = [
    "Trace",
    "TraceError",
    "diurnal_trace",
    "flash_crowd_trace",
    "noisy_trace",
    "ramp_trace",
    "read_trace",
    "sample",
    "step_trace",
]

TraceKind = Literal["count", "rate"]


class TraceError(ValueError):
    """A trace file that cannot be used; the message is one line naming file and line."""


def read_trace(
    path: str | Path, *, column: str | int = "value", kind: TraceKind = "count"
) -> Trace:
    """The trace in the CSV file ``path``, as requests per second."""
    name = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) else "not UTF-8 text"
        raise TraceError(f"{name}: cannot read: {reason}") from None
    return parse_trace(text, name=name, column=column, kind=kind)


def parse_trace(
    text: str, *, name: str, column: str | int = "value", kind: TraceKind = "count"
) -> Trace:
    """The trace in CSV ``text`` (``name`` is used in messages only)."""
    rows = [
        (number, line.rstrip("\r").split(","))
        for number, line in enumerate(text.split("\n"), start=1)
        if line.strip()
    ]
    if not rows:
        raise TraceError(f"{name}:1: empty trace (no data rows)")
    index = _value_index(rows[0], name=name, column=column)
    if not _is_number(rows[0][1][0]):  # a header line
        rows = rows[1:]
        if not rows:
            raise TraceError(f"{name}:2: empty trace (a header but no data rows)")
    times: list[float] = []
    values: list[float] = []
    lines: list[int] = []
    for number, cells in rows:
        where = f"{name}:{number}"
        if len(cells) <= index:
            raise TraceError(f"{where}: expected at least {index + 1} columns, got {len(cells)}")
        t = _number(cells[0], where=where, what="timestamp")
        v = _number(cells[index], where=where, what="value")
        if v < 0:
            raise TraceError(f"{where}: negative value {cells[index].strip()}")
        if times and t == times[-1]:
            raise TraceError(f"{where}: duplicate timestamp {cells[0].strip()} (line {lines[-1]})")
        if times and t < times[-1]:
            raise TraceError(
                f"{where}: timestamp {cells[0].strip()} is before the previous one "
                f"(line {lines[-1]}); rows must be sorted by time"
            )
        times.append(t)
        values.append(v)
        lines.append(number)
    if kind == "count":
        values = _counts_to_rates(times, values, where=f"{name}:{lines[0]}")
    return Trace(tuple(times), tuple(values))


def _value_index(first: tuple[int, list[str]], *, name: str, column: str | int) -> int:
    """The value column's index: by header name, or by position."""
    number, cells = first
    if isinstance(column, int):
        if column < 1:
            raise TraceError(f"{name}:{number}: column {column}: column 0 is the timestamp")
        return column
    if _is_number(cells[0]):  # no header
        if column != "value":
            raise TraceError(f"{name}:{number}: no header line, so no column named {column!r}")
        return 1
    headers = [cell.strip() for cell in cells]
    if column not in headers[1:]:
        shown = ", ".join(headers[1:]) or "none"
        raise TraceError(f"{name}:{number}: no column {column!r} (value columns: {shown})")
    return headers.index(column, 1)


def _is_number(cell: str) -> bool:
    try:
        float(cell)
    except ValueError:
        return False
    return True


def _number(cell: str, *, where: str, what: str) -> float:
    try:
        value = float(cell)
    except ValueError:
        raise TraceError(f"{where}: {what} {cell.strip()!r} is not a number") from None
    if not math.isfinite(value):
        raise TraceError(f"{where}: {what} {cell.strip()!r} is not a finite number")
    return value


def _counts_to_rates(times: list[float], counts: list[float], *, where: str) -> list[float]:
    """Events per interval -> events per second; the last row reuses the last interval."""
    if len(times) < 2:
        raise TraceError(f"{where}: a one-row count trace has no interval; use kind='rate'")
    gaps = [b - a for a, b in pairwise(times)]
    gaps.append(gaps[-1])
    return [count / gap for count, gap in zip(counts, gaps, strict=True)]


def sample(
    shape: LoadShape, *, duration: float, interval: float = 60.0, start: float = 0.0
) -> Trace:
    """``shape`` sampled every ``interval`` seconds over ``[start, start + duration)``."""
    if interval <= 0 or duration <= 0:
        raise ValueError("interval and duration must be > 0")
    count = max(1, math.ceil(duration / interval))
    times = tuple(start + i * interval for i in range(count))
    return Trace(times, tuple(shape.rate(t) for t in times))


def step_trace(
    *, before: float, after: float, at: float, duration: float, interval: float = 60.0
) -> Trace:
    return sample(Step(before=before, after=after, at=at), duration=duration, interval=interval)


def ramp_trace(
    *,
    start_rps: float,
    end_rps: float,
    start: float,
    ramp: float,
    duration: float,
    interval: float = 60.0,
) -> Trace:
    shape = Ramp(start_rps=start_rps, end_rps=end_rps, start=start, duration=ramp)
    return sample(shape, duration=duration, interval=interval)


def diurnal_trace(
    *,
    base: float,
    amplitude: float,
    duration: float,
    period: float = 86400.0,
    phase: float = 0.0,
    interval: float = 60.0,
) -> Trace:
    shape = Diurnal(base=base, amplitude=amplitude, period=period, phase=phase)
    return sample(shape, duration=duration, interval=interval)


def flash_crowd_trace(
    *,
    base: float,
    peak: float,
    start: float,
    duration: float,
    rise: float = 60.0,
    hold: float = 600.0,
    decay: float = 900.0,
    interval: float = 60.0,
) -> Trace:
    shape = FlashCrowd(base=base, peak=peak, start=start, rise=rise, hold=hold, decay=decay)
    return sample(shape, duration=duration, interval=interval)


def noisy_trace(trace: Trace, *, sigma: float, seed: int) -> Trace:
    """``trace`` with independent log-normal noise (mean 1) on every point, as
    :class:`~autoscaler.sim.load.Noisy` applies it."""
    rates = tuple(
        rate * math.exp(sigma * standard_normal(seed, i) - 0.5 * sigma * sigma)
        for i, rate in enumerate(trace.rates)
    )
    return Trace(trace.times, rates)
