"""How wrong the forecasts have been: the number the core compares with ``maxError``.

Each forecast made for a time ``at`` waits until a total is observed at or just after
``at`` (within :data:`MATCH_SECONDS`: a forecast whose time passed without a sync says
nothing); the pair then counts towards the error, defined as the mean absolute error
over the mean observed total of the pairs of the last :data:`WINDOW_SECONDS` (a scale-
free number: 0.3 is "30 % off on average"). Until :data:`MIN_PAIRS` pairs exist the
error is None, which the core reads as "not measured yet".

Worked example (tests/forecast/test_tracking.py): forecasts of 110, 90, 100 for totals
that turn out to be 100 each: (10 + 10 + 0) / 300 = 6.7 %.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

WINDOW_SECONDS = 3 * 3600.0
MIN_PAIRS = 20
MATCH_SECONDS = 120.0
MAX_PENDING = 512
MAX_ERROR = 10.0  # what "every forecast was wrong, and the load was zero" reads as


@dataclass(slots=True)
class ErrorTracker:
    window: float = WINDOW_SECONDS
    min_pairs: int = MIN_PAIRS
    pending: deque[tuple[float, float]] = field(default_factory=lambda: deque(maxlen=MAX_PENDING))
    # (time, |forecast - observed|, observed) of each matched forecast, oldest first.
    pairs: deque[tuple[float, float, float]] = field(default_factory=deque)
    _error_sum: float = 0.0
    _observed_sum: float = 0.0

    def made(self, at: float, forecast: float) -> None:
        """A forecast for ``at`` (one per time: a later one for the same time replaces it)."""
        if self.pending and self.pending[-1][0] >= at:
            if self.pending[-1][0] == at:
                self.pending[-1] = (at, forecast)
            return
        self.pending.append((at, forecast))

    def observed(self, t: float, total: float) -> None:
        """A total seen at ``t``: it settles every forecast made for ``t`` or before."""
        while self.pending and self.pending[0][0] <= t:
            at, forecast = self.pending.popleft()
            if t - at <= MATCH_SECONDS:
                error = abs(forecast - total)
                self.pairs.append((t, error, total))
                self._error_sum += error
                self._observed_sum += total
        self._trim(t)

    def error(self, now: float) -> float | None:
        """The recent relative error (see the module doc); None: too few pairs yet."""
        self._trim(now)
        if len(self.pairs) < self.min_pairs:
            return None
        if self._observed_sum <= 0:
            return 0.0 if self._error_sum <= 0 else MAX_ERROR
        return min(MAX_ERROR, max(0.0, self._error_sum / self._observed_sum))

    def _trim(self, now: float) -> None:
        while self.pairs and self.pairs[0][0] < now - self.window:
            _, error, total = self.pairs.popleft()
            self._error_sum -= error
            self._observed_sum -= total
        if not self.pairs:
            self._error_sum = self._observed_sum = 0.0  # no drift from float sums
