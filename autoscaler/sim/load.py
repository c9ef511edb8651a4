"""Offered load over time, and what a set of ready pods makes of it.

A load shape is anything with ``rate(t) -> float``: the requests per second offered
at time ``t`` (seconds, on the simulation's clock). Shapes are frozen values and pure
functions of ``t``; even :class:`Noisy` hashes ``(seed, t)`` instead of keeping a
random stream, so a shape can be sampled in any order, any number of times, and
give the same series.

:func:`serve` is the whole traffic model: the offered rate is spread evenly over the
ready pods (a round-robin Service), each serves up to its capacity and drops the
rest, and latency grows with utilization like an M/M/1 queue.
"""

from __future__ import annotations

import math
from bisect import bisect_right
from dataclasses import dataclass
from itertools import pairwise
from typing import Protocol

from autoscaler.sim.podmodel import PodModel

_MASK64 = (1 << 64) - 1
# Latency at or above this utilization is the saturated value: the queue is unbounded.
MAX_UTILIZATION = 0.99


class LoadShape(Protocol):
    def rate(self, t: float) -> float:
        """Offered requests per second at time ``t`` (>= 0)."""
        ...


@dataclass(frozen=True, slots=True)
class Constant:
    rps: float

    def rate(self, t: float) -> float:
        return self.rps


@dataclass(frozen=True, slots=True, kw_only=True)
class Step:
    """``before`` until ``at``, then ``after`` (from ``at`` inclusive)."""

    before: float
    after: float
    at: float

    def rate(self, t: float) -> float:
        return self.before if t < self.at else self.after


@dataclass(frozen=True, slots=True, kw_only=True)
class Ramp:
    """``start_rps`` until ``start``, linear to ``end_rps`` over ``duration``, then held."""

    start_rps: float
    end_rps: float
    start: float
    duration: float

    def rate(self, t: float) -> float:
        if t <= self.start:
            return self.start_rps
        if t >= self.start + self.duration:
            return self.end_rps
        fraction = (t - self.start) / self.duration
        return self.start_rps + (self.end_rps - self.start_rps) * fraction


@dataclass(frozen=True, slots=True, kw_only=True)
class Diurnal:
    """``base + amplitude * sin(2π (t - phase) / period)``, never below zero.

    With the defaults the day starts at the mean and peaks at ``phase + period / 4``
    (06:00 of a day starting at t = 0); set ``phase`` to move the peak.
    """

    base: float
    amplitude: float
    period: float = 86400.0
    phase: float = 0.0

    def rate(self, t: float) -> float:
        angle = 2.0 * math.pi * (t - self.phase) / self.period
        return max(0.0, self.base + self.amplitude * math.sin(angle))


@dataclass(frozen=True, slots=True, kw_only=True)
class FlashCrowd:
    """A sudden crowd: ``base``, a linear rise to ``peak`` over ``rise`` seconds from
    ``start``, ``hold`` seconds at the peak, then an exponential return to ``base``
    with time constant ``decay`` (the shape of a link on a busy front page)."""

    base: float
    peak: float
    start: float
    rise: float = 60.0
    hold: float = 600.0
    decay: float = 900.0

    def rate(self, t: float) -> float:
        if t < self.start:
            return self.base
        since = t - self.start
        if since < self.rise:
            return self.base + (self.peak - self.base) * since / self.rise
        since -= self.rise
        if since <= self.hold:
            return self.peak
        if self.decay <= 0:
            return self.base
        return self.base + (self.peak - self.base) * math.exp(-(since - self.hold) / self.decay)


@dataclass(frozen=True, slots=True, kw_only=True)
class Noisy:
    """``shape`` times log-normal noise: ``rate * exp(sigma * z - sigma² / 2)``.

    The factor has mean 1, so noise does not change the average load, and it never
    makes a rate negative. ``z`` is a standard normal drawn from a hash of ``seed``
    and the ``interval`` the time falls in: constant within an interval, independent
    across intervals, and the same for the same seed whatever the sampling order.
    """

    shape: LoadShape
    sigma: float
    seed: int = 0
    interval: float = 1.0

    def rate(self, t: float) -> float:
        z = standard_normal(self.seed, math.floor(t / self.interval))
        return self.shape.rate(t) * math.exp(self.sigma * z - 0.5 * self.sigma * self.sigma)


@dataclass(frozen=True, slots=True, repr=False)
class Trace:
    """A series of ``(time, requests/s)`` points: strictly increasing finite times,
    finite non-negative rates, at least one point. Read by
    :func:`autoscaler.sim.traces.read_trace` or made by its generators."""

    times: tuple[float, ...]
    rates: tuple[float, ...]

    def __post_init__(self) -> None:
        if not self.times or len(self.times) != len(self.rates):
            raise ValueError("a trace needs one rate per time, and at least one point")
        if not all(math.isfinite(t) for t in self.times):
            raise ValueError("trace times must be finite")
        if any(b <= a for a, b in pairwise(self.times)):
            raise ValueError("trace times must be strictly increasing")
        if not all(math.isfinite(r) and r >= 0 for r in self.rates):
            raise ValueError("trace rates must be finite and >= 0")

    def __repr__(self) -> str:
        return f"Trace({len(self.times)} points, t={self.times[0]:g}..{self.times[-1]:g})"

    @property
    def period(self) -> float:
        """How long the trace lasts: its span plus one more (last) interval."""
        if len(self.times) == 1:
            return 1.0
        return self.times[-1] - self.times[0] + (self.times[-1] - self.times[-2])


@dataclass(frozen=True, slots=True, kw_only=True)
class TraceLoad:
    """A trace played back with step-hold: each point's rate holds until the next.

    Step-hold (not linear interpolation) because the traces count events per
    interval: the rate over ``[t_i, t_(i+1))`` *is* the value at ``t_i``, and holding
    it keeps the total number of requests equal to the trace's. Trace time
    ``t + time_offset`` plays at simulation time ``t`` (an offset of 1.07e6 starts the
    NASA trace on launch day). Before the first point the rate is 0; after the last
    it holds the last rate, or with ``loop`` the trace repeats every
    :attr:`Trace.period` seconds.
    """

    trace: Trace
    scale: float = 1.0
    time_offset: float = 0.0
    loop: bool = False

    def rate(self, t: float) -> float:
        times = self.trace.times
        when = t + self.time_offset
        if self.loop:
            when = times[0] + math.fmod(when - times[0], self.trace.period)
            if when < times[0]:
                when += self.trace.period
        index = bisect_right(times, when) - 1
        return 0.0 if index < 0 else self.trace.rates[index] * self.scale

    def mean(self, start: float, end: float) -> float:
        """The exact mean rate over ``[start, end)`` (``end > start``) without ``loop``:
        each trace step weighs by how much of the interval it covers."""
        times, rates = self.trace.times, self.trace.rates
        low, high = start + self.time_offset, end + self.time_offset
        index = bisect_right(times, low) - 1
        total, edge = 0.0, low
        while edge < high:
            following = times[index + 1] if index + 1 < len(times) else math.inf
            upper = min(following, high)
            if index >= 0:
                total += rates[index] * (upper - edge)
            edge, index = upper, index + 1
        return total * self.scale / (end - start)


@dataclass(frozen=True, slots=True)
class Scaled:
    """``load`` times ``factor`` (``--scale``, or ``--peak`` once the peak is known)."""

    load: LoadShape
    factor: float

    def rate(self, t: float) -> float:
        return self.load.rate(t) * self.factor


# The width of the slices a shape without an exact mean is sampled in (seconds).
MEAN_RESOLUTION = 1.0


def mean_rate(shape: LoadShape, start: float, end: float) -> float:
    """The mean rate of ``shape`` over ``[start, end)``: offered requests / seconds.

    Exact for constant, step-hold trace and scaled shapes (a trace step that a sync
    interval straddles counts in proportion to the overlap); any other shape is
    sampled at the midpoints of slices of at most :data:`MEAN_RESOLUTION` seconds.
    ``end <= start`` gives the rate at ``start``. Worked example: a trace at 100 rps
    until t = 60 and 300 rps from then has a mean of 200 over ``[52.5, 67.5)``
    (``test_the_mean_of_a_trace_weighs_each_step_by_its_overlap``).
    """
    if end <= start:
        return shape.rate(start)
    if isinstance(shape, Constant):
        return shape.rps
    if isinstance(shape, Scaled):
        return mean_rate(shape.load, start, end) * shape.factor
    if isinstance(shape, TraceLoad) and not shape.loop:
        return shape.mean(start, end)
    slices = max(1, math.ceil((end - start) / MEAN_RESOLUTION))
    width = (end - start) / slices
    return sum(shape.rate(start + (i + 0.5) * width) for i in range(slices)) / slices


@dataclass(frozen=True, slots=True, kw_only=True)
class ServeResult:
    """One moment of traffic for one workload. Per-pod values are for each ready pod
    (all ready pods are alike under an even spread); with no ready pod they describe
    nothing and are 0, except ``utilization`` and ``latency_ms`` which are infinite."""

    offered_rps: float
    served_rps: float
    dropped_rps: float
    ready_pods: int
    per_pod_rps: float
    utilization: float
    cpu_milli: float
    memory_bytes: float
    latency_ms: float


def serve(offered_rps: float, ready_pods: int, model: PodModel) -> ServeResult:
    """Spread ``offered_rps`` evenly over ``ready_pods`` pods of ``model``.

    Conservation holds by construction: ``dropped = offered - served``, and when
    nothing overflows, ``served`` is ``offered`` itself (no rounding at all).
    Latency is the M/M/1 mean sojourn time ``base / (1 - min(util, 0.99))``: equal to
    ``base_latency_ms`` when idle, doubling at 50 % utilization, 100 times when saturated,
    where ``util`` is the *offered* per-pod rate over capacity.
    """
    if not math.isfinite(offered_rps) or offered_rps < 0:
        raise ValueError(f"offered load must be a finite rate >= 0 (got {offered_rps})")
    if ready_pods < 0:
        raise ValueError(f"ready_pods must be >= 0 (got {ready_pods})")
    if ready_pods == 0:
        return ServeResult(
            offered_rps=offered_rps,
            served_rps=0.0,
            dropped_rps=offered_rps,
            ready_pods=0,
            per_pod_rps=0.0,
            utilization=math.inf if offered_rps > 0 else 0.0,
            cpu_milli=0.0,
            memory_bytes=0.0,
            latency_ms=math.inf,
        )
    offered_each = offered_rps / ready_pods
    capacity = model.capacity_rps
    if offered_each <= capacity:
        served, per_pod = offered_rps, offered_each
    else:
        served, per_pod = capacity * ready_pods, capacity
    utilization = offered_each / capacity
    cpu = min(model.idle_cpu_milli + per_pod * model.cpu_per_request_milli, model.cpu_limit_milli)
    return ServeResult(
        offered_rps=offered_rps,
        served_rps=served,
        dropped_rps=offered_rps - served,
        ready_pods=ready_pods,
        per_pod_rps=per_pod,
        utilization=utilization,
        cpu_milli=cpu,
        memory_bytes=model.memory_base_bytes + per_pod * model.memory_per_rps_bytes,
        latency_ms=model.base_latency_ms / (1.0 - min(utilization, MAX_UTILIZATION)),
    )


def standard_normal(seed: int, index: int) -> float:
    """A standard normal value that depends only on ``(seed, index)`` (Box-Muller on a
    splitmix64 hash): reproducible across runs, platforms and sampling orders."""
    first = _splitmix64((seed * 0x9E3779B97F4A7C15 + index) & _MASK64)
    second = _splitmix64(first)
    u1 = ((first >> 11) + 1) / 2.0**53  # in (0, 1]: log is finite
    u2 = (second >> 11) / 2.0**53
    return math.sqrt(-2.0 * math.log(u1)) * math.cos(2.0 * math.pi * u2)


def _splitmix64(x: int) -> int:
    x = (x + 0x9E3779B97F4A7C15) & _MASK64
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & _MASK64
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & _MASK64
    return x ^ (x >> 31)
