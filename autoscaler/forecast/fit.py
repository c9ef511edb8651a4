"""The forecast model: a seasonal baseline plus a short-term correction.

**Baseline** (:func:`fit_baseline`, run off the sync path). Web traffic repeats daily
and often weekly. Which periods a metric has is read from its own history: for each
candidate (a day, a week) the history must cover at least two of them, and the
periodogram (``scipy.signal.periodogram`` of the evenly resampled, detrended series)
must show a peak at that frequency well above the typical power (:data:`PEAK_RATIO`
times the median). The baseline is then a harmonic regression on those periods, a
constant plus sines and cosines (:data:`HARMONICS` per period), fitted with
``scipy.optimize.least_squares`` and a robust loss (``soft_l1``, scaled by the residuals'
median absolute deviation), so a few outliers (an incident, a scrape gap filled with
zeros) do not bend the daily shape. Without a period the baseline is the recent median.

**Short-term correction** (:class:`ShortTerm`, updated at every sync in O(1)). Today
is not the average day: the residual (observed minus baseline) is followed with Holt's
linear smoothing (a level with a 5-minute time constant, a trend with 15 minutes), the
trend damped so that it never extrapolates more than :data:`TREND_HORIZON` seconds. A
day running 30 % hotter than usual is followed within minutes, a ramp is led by its
slope.

Worked example (tests/forecast/test_fit.py, ``test_follows_a_hotter_day``): two weeks
of a daily sine between 100 and 300, then a day at +30 %: the baseline predicts the
usual day, the correction's level settles near the +30 % offset, and the forecast's
error over that day stays below 10 %.
"""

from __future__ import annotations

import math
from array import array
from dataclasses import dataclass, field

import numpy as np
from scipy.optimize import least_squares
from scipy.signal import periodogram

from autoscaler.forecast.history import COARSE_STEP, Floats, Points

DAY = 86_400.0
WEEK = 7 * DAY
CANDIDATES = (DAY, WEEK)
HARMONICS = {DAY: 6, WEEK: 3}  # a week's 7th harmonic is the day's 1st: stop before it
PEAK_RATIO = 10.0
LEVEL_SECONDS = 300.0
TREND_SECONDS = 900.0
TREND_HORIZON = 600.0


@dataclass(frozen=True, slots=True)
class Baseline:
    """``constant + sum(a cos(2 pi k t / P) + b sin(2 pi k t / P))`` over the periods."""

    constant: float
    periods: tuple[float, ...] = ()
    harmonics: tuple[int, ...] = ()
    # (a_1, b_1, ..., a_K, b_K) for each period in turn.
    coefficients: tuple[float, ...] = ()

    def value(self, t: float) -> float:
        """The baseline at ``t``, in plain Python (a handful of terms: no numpy call)."""
        total, i, coefficients = self.constant, 0, self.coefficients
        for period, count in zip(self.periods, self.harmonics, strict=True):
            phase = 2 * math.pi * ((t % period) / period)
            c1, s1 = math.cos(phase), math.sin(phase)
            ck, sk = c1, s1  # cos(k phase), sin(k phase) by the angle-addition formulas
            for _ in range(count):
                total += coefficients[i] * ck + coefficients[i + 1] * sk
                i += 2
                ck, sk = ck * c1 - sk * s1, sk * c1 + ck * s1
        return total

    def values(self, times: Floats) -> Floats:
        design = _design(times, self.periods, self.harmonics)
        coefficients = np.array((self.constant, *self.coefficients))
        result: Floats = design @ coefficients
        return result


def find_periods(points: Points, *, step: float = COARSE_STEP) -> tuple[float, ...]:
    """The candidate periods the history covers twice and shows a periodogram peak at."""
    if len(points) < 8:
        return ()
    span = float(points.times[-1] - points.times[0]) + step
    found = []
    grid = np.arange(points.times[0], points.times[-1] + step / 2, step)
    series = np.interp(grid, points.times, points.values)
    frequencies, power = periodogram(series, fs=1.0 / step, detrend="linear")
    typical = float(np.median(power[1:])) if len(power) > 1 else 0.0
    for period in CANDIDATES:
        if span < 2 * period:
            continue
        nearest = int(np.argmin(np.abs(frequencies - 1.0 / period)))
        peak = float(power[max(nearest - 1, 1) : nearest + 2].max())
        if (typical <= 0 and peak > 0) or peak > PEAK_RATIO * typical:
            found.append(period)
    return tuple(found)


def fit_baseline(points: Points) -> Baseline:
    """The robust harmonic regression on the periods :func:`find_periods` finds."""
    if len(points) == 0:
        return Baseline(0.0)
    periods = find_periods(points)
    if not periods:
        return Baseline(float(np.median(points.values[-8:])))
    harmonics = tuple(HARMONICS[p] for p in periods)
    design = _design(points.times, periods, harmonics)
    # The normal equations (a 19 x 19 system) and lsmr below, not an SVD of the whole
    # design: a multithreaded LAPACK SVD on a busy 2-core machine took 0.3 s instead of 1 ms.
    gram = design.T @ design + 1e-9 * np.eye(design.shape[1])
    start = np.linalg.solve(gram, design.T @ points.values)
    residuals = design @ start - points.values
    scale = 1.4826 * float(np.median(np.abs(residuals - np.median(residuals))))
    scale = max(scale, 1e-6 * max(1.0, float(np.abs(points.values).mean())))
    result = least_squares(
        lambda x: design @ x - points.values,
        start,
        jac=lambda x: design,
        loss="soft_l1",
        f_scale=scale,
        method="trf",
        tr_solver="lsmr",
        max_nfev=50,
    )
    fitted = [float(v) for v in result.x]
    return Baseline(fitted[0], periods, harmonics, tuple(fitted[1:]))


def _design(times: Floats, periods: tuple[float, ...], harmonics: tuple[int, ...]) -> Floats:
    columns = [np.ones_like(times)]
    for period, count in zip(periods, harmonics, strict=True):
        phase = 2 * np.pi * (np.mod(times, period) / period)
        for k in range(1, count + 1):
            columns += [np.cos(k * phase), np.sin(k * phase)]
    return np.column_stack(columns)


@dataclass(slots=True)
class ShortTerm:
    """Holt's linear smoothing of the residual over irregular sample times.

    ``level_seconds`` is the level's time constant (0: the latest residual as it is);
    ``trend_horizon`` how far the damped trend extrapolates (0: no trend).
    """

    level_seconds: float = 300.0
    trend_horizon: float = TREND_HORIZON
    level: float = 0.0
    trend: float = 0.0  # per second
    at: float | None = None

    def update(self, t: float, residual: float) -> None:
        if self.at is None:
            self.level, self.at = residual, t
            return
        dt = t - self.at
        if dt <= 0:  # a second sample at the same time: it replaces the first
            self.level = residual if self.level_seconds <= 0 else self.level
            return
        expected = self.level + self.trend * dt
        weight = 1.0 if self.level_seconds <= 0 else 1 - math.exp(-dt / self.level_seconds)
        level = expected + (residual - expected) * weight
        slope = (level - self.level) / dt
        self.trend += (slope - self.trend) * (1 - math.exp(-dt / TREND_SECONDS))
        self.level, self.at = level, t

    def predict(self, t: float) -> float:
        if self.at is None:
            return 0.0
        if self.trend_horizon <= 0:
            return self.level
        ahead = max(0.0, t - self.at)
        damped = self.trend_horizon * (1 - math.exp(-ahead / self.trend_horizon))
        return self.level + self.trend * damped


# The short-term settings a refit chooses from, by replaying the last hours.
SHORT_TERM_CHOICES = tuple(
    (level, horizon) for level in (0.0, 60.0, LEVEL_SECONDS) for horizon in (0.0, TREND_HORIZON)
)


def choose_short_term(baseline: Baseline, recent: Points, *, lead: float) -> ShortTerm:
    """The short-term settings whose ``lead``-ahead forecasts were best over ``recent``
    (the last hours at 1-minute detail): noisy metrics want a smooth level, step-like
    ones the latest value, ramps a trend. The first choice wins ties (and a short past).
    """
    if len(recent) < 3:
        return ShortTerm()
    residuals = recent.values - baseline.values(recent.times)
    future = np.interp(recent.times + lead, recent.times, recent.values)
    usable = recent.times + lead <= recent.times[-1]
    best, best_error = ShortTerm(), math.inf
    ahead = baseline.values(recent.times + lead)
    for level_seconds, horizon in SHORT_TERM_CHOICES:
        candidate = ShortTerm(level_seconds, horizon)
        error = 0.0
        for i, t in enumerate(recent.times):
            candidate.update(float(t), float(residuals[i]))
            if usable[i]:
                error += abs(float(ahead[i]) + candidate.predict(float(t) + lead) - future[i])
        if error < best_error:
            best, best_error = ShortTerm(level_seconds, horizon), error
    return best


TABLE_STEP = 60.0


@dataclass(slots=True)
class Model:
    """A fitted baseline and its running correction; ``fitted_at`` is the refit's time.

    The sync path evaluates the baseline twice per metric (the observed residual, the
    forecast); :meth:`tabulate` precomputes it every minute until the next refits, so
    each evaluation is a linear interpolation (the baseline's fastest harmonic has a
    4-hour period: the interpolation is off by less than 0.01 % of its amplitude).
    """

    baseline: Baseline
    fitted_at: float
    short_term: ShortTerm = field(default_factory=ShortTerm)
    _table_start: float = 0.0
    _table: array[float] = field(default_factory=lambda: array("d"))

    def tabulate(self, start: float, end: float) -> None:
        count = max(2, math.ceil((end - start) / TABLE_STEP) + 1)
        times: Floats = np.asarray(start + TABLE_STEP * np.arange(count), dtype=np.float64)
        self._table_start, self._table = start, array("d", self.baseline.values(times).tolist())

    def baseline_at(self, t: float) -> float:
        position = (t - self._table_start) / TABLE_STEP
        i = math.floor(position)
        if 0 <= i < len(self._table) - 1:
            low = self._table[i]
            return low + (self._table[i + 1] - low) * (position - i)
        return self.baseline.value(t)

    def observe(self, t: float, total: float) -> None:
        self.short_term.update(t, total - self.baseline_at(t))

    def predict(self, t: float) -> float:
        """The total expected at ``t``, never below zero."""
        return max(0.0, self.baseline_at(t) + self.short_term.predict(t))

    def replay(self, points: Points) -> None:
        """Start the correction from recent history (after a refit)."""
        if len(points) == 0:
            return
        residuals = points.values - self.baseline.values(points.times)
        for t, residual in zip(points.times, residuals, strict=True):
            self.short_term.update(float(t), float(residual))
