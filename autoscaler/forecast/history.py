"""A metric's totals over time, downsampled into fixed buckets and bounded in size.

A forecast needs two views of the past: the last minutes at full detail (the
short-term correction follows them) and days or weeks at a coarse one (the seasonal
fit). :class:`TotalsHistory` keeps both as ring buffers of bucket means: 1-minute
buckets over the last day and 15-minute buckets over the policy's lookback. Every
sample goes into both, so its size is fixed by the lookback alone, whatever the sync
period: 14 days are 1,440 + 1,344 buckets of 6 bytes (a float32 mean and a uint16
count), about 17 KB per forecast metric. Samples older than a tier's span fall out of
it as newer ones arrive; a sample older than the newest bucket's span is dropped.

The byte form (:meth:`TotalsHistory.to_bytes`) starts with a version byte so that a
state written by an older release is recognised (and refused with a clear message)
rather than misread.
"""

from __future__ import annotations

import math
import struct
import zlib
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

FINE_STEP = 60.0
FINE_SPAN = 86_400.0
COARSE_STEP = 900.0
FORMAT_VERSION = 1
_NONE = -(2**63)  # "no bucket yet" in the byte form
_HEADER = struct.Struct("<d")
_TIER = struct.Struct("<dIq")
_MAX_COUNT = np.iinfo(np.uint16).max

Floats = npt.NDArray[np.float64]


@dataclass(frozen=True, slots=True)
class Points:
    """Non-empty buckets, oldest first: bucket centre times and mean totals."""

    times: Floats
    values: Floats

    def __len__(self) -> int:
        return len(self.times)


class Tier:
    """A ring of ``size`` buckets of ``step`` seconds ending at the newest sample's."""

    def __init__(self, step: float, size: int) -> None:
        self.step = step
        self.size = size
        self.means = np.zeros(size, dtype=np.float32)
        self.counts = np.zeros(size, dtype=np.uint16)
        # The newest bucket's index (time // step); None before the first sample.
        self.newest: int | None = None

    def add(self, t: float, value: float) -> None:
        bucket = math.floor(t / self.step)
        if self.newest is None:
            self.newest = bucket
        elif bucket > self.newest:
            self._clear(self.newest + 1, bucket)
            self.newest = bucket
        elif bucket <= self.newest - self.size:
            return  # older than the ring holds
        slot = bucket % self.size
        count = int(self.counts[slot])
        if count == _MAX_COUNT:
            return
        mean = float(self.means[slot])
        self.means[slot] = mean + (value - mean) / (count + 1)
        self.counts[slot] = count + 1

    def _clear(self, first: int, last: int) -> None:
        if last - first + 1 >= self.size:
            self.means[:] = 0
            self.counts[:] = 0
            return
        slots = np.arange(first, last + 1) % self.size
        self.means[slots] = 0
        self.counts[slots] = 0

    def points(self) -> Points:
        if self.newest is None:
            return Points(np.zeros(0), np.zeros(0))
        buckets = np.arange(self.newest - self.size + 1, self.newest + 1)
        slots = buckets % self.size
        kept = self.counts[slots] > 0
        times = (buckets[kept] + 0.5) * self.step
        return Points(times.astype(np.float64), self.means[slots][kept].astype(np.float64))

    def to_bytes(self) -> bytes:
        newest = _NONE if self.newest is None else self.newest
        header = _TIER.pack(self.step, self.size, newest)
        return header + self.means.tobytes() + self.counts.tobytes()

    @classmethod
    def from_bytes(cls, data: memoryview) -> tuple[Tier, memoryview]:
        step, size, newest = _TIER.unpack_from(data)
        if not (step > 0 and 0 < size <= 10_000_000):
            raise ValueError(f"a history tier of {size} buckets of {step} s")
        tier = cls(step, size)
        body = data[_TIER.size :]
        means_end = size * 4
        counts_end = means_end + size * 2
        if len(body) < counts_end:
            raise ValueError("truncated")
        tier.means = np.frombuffer(body[:means_end], dtype=np.float32).copy()
        tier.counts = np.frombuffer(body[means_end:counts_end], dtype=np.uint16).copy()
        tier.newest = None if newest == _NONE else int(newest)
        return tier, body[counts_end:]


class TotalsHistory:
    """One metric's totals: the fine tier (the last day) and the coarse one (lookback)."""

    def __init__(self, lookback_seconds: float) -> None:
        self.lookback = float(lookback_seconds)
        fine_span = min(FINE_SPAN, self.lookback)
        self.fine = Tier(FINE_STEP, max(1, math.ceil(fine_span / FINE_STEP)))
        self.coarse = Tier(COARSE_STEP, max(1, math.ceil(self.lookback / COARSE_STEP)))

    def add(self, t: float, total: float) -> None:
        if not math.isfinite(total):
            return
        self.fine.add(t, total)
        self.coarse.add(t, total)

    @property
    def newest(self) -> float | None:
        """The end of the newest bucket (None: empty)."""
        if self.fine.newest is None:
            return None
        return (self.fine.newest + 1) * self.fine.step

    def span(self) -> float:
        """Seconds between the oldest and the newest sample's buckets (0: empty)."""
        coarse = self.coarse.points()
        if len(coarse) == 0:
            return 0.0
        fine = self.fine.points()
        first = min(coarse.times[0] - COARSE_STEP / 2, fine.times[0] - FINE_STEP / 2)
        last = fine.times[-1] + FINE_STEP / 2
        return float(last - first)

    def recent(self, since: float) -> Points:
        """The fine buckets that start at or after ``since``."""
        points = self.fine.points()
        kept = points.times - FINE_STEP / 2 >= since
        return Points(points.times[kept], points.values[kept])

    def nbytes(self) -> int:
        return sum(t.means.nbytes + t.counts.nbytes for t in (self.fine, self.coarse))

    def to_bytes(self) -> bytes:
        payload = _HEADER.pack(self.lookback) + self.fine.to_bytes() + self.coarse.to_bytes()
        return bytes([FORMAT_VERSION]) + zlib.compress(payload, 6)

    @classmethod
    def from_bytes(cls, data: bytes) -> TotalsHistory:
        """The history :meth:`to_bytes` wrote; ValueError (one line) for anything else."""
        if not data:
            raise ValueError("history: empty")
        if data[0] != FORMAT_VERSION:
            raise ValueError(
                f"history: format version {data[0]}, this release reads {FORMAT_VERSION}"
            )
        try:
            body = memoryview(zlib.decompress(data[1:]))
            (lookback,) = _HEADER.unpack_from(body)
            history = cls(lookback)
            history.fine, rest = Tier.from_bytes(body[_HEADER.size :])
            history.coarse, rest = Tier.from_bytes(rest)
        except (zlib.error, struct.error, ValueError) as exc:
            raise ValueError(f"history: unreadable ({exc})") from None
        return history

    def with_lookback(self, lookback_seconds: float) -> TotalsHistory:
        """A history of another lookback holding what this one holds (bucket means)."""
        other = TotalsHistory(lookback_seconds)
        for mine, theirs in ((self.coarse, other.coarse), (self.fine, other.fine)):
            points = mine.points()
            for t, value in zip(points.times, points.values, strict=True):
                theirs.add(float(t), float(value))
        return other
