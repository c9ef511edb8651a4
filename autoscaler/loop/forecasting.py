"""The forecaster's life in ``autoscaler run``: background refits and a state file.

Refits (:class:`Refitter`) run in their own thread, never in a sync: every
``period`` seconds one pass fits at most ``budget`` series (the most stale first), so
10,000 predictive targets are refitted over several passes while each sync only
evaluates cached models. The thread is bounded in work per pass and stops with the
service.

The loop's own history survives a restart in one file (:class:`StateFile`,
``--state-dir``): written every ``save_every`` seconds by the same thread and once at
shutdown, atomically (a temporary file renamed over the old one), read at start. It is
bounded like the histories it holds (one per live predictive target and metric, each
bounded by its lookback, about 10 KB compressed for 14 days); a target gone when the
loop prunes it is gone from the next file, a history older than its lookback is not
loaded. Metrics that live in Prometheus do not need it: their past is read back with
``query_range`` (:mod:`autoscaler.loop.forecast_history`).
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Protocol

log = logging.getLogger("autoscaler.forecast")

STATE_FILE = "forecast-history.bin"


class Refits(Protocol):
    def refit(self, now: float, budget: int = 100) -> int: ...

    def export_state(self) -> bytes: ...

    def import_state(self, data: bytes, *, now: float) -> int: ...


class StateFile:
    """The forecaster's histories in ``DIR/forecast-history.bin``."""

    def __init__(self, directory: str | Path) -> None:
        self.path = Path(directory) / STATE_FILE

    def load(self, forecaster: Refits, *, now: float) -> int:
        """The histories saved before (0 when there is no file); a file this release
        cannot read is logged and ignored: the histories start afresh."""
        try:
            data = self.path.read_bytes()
        except FileNotFoundError:
            return 0
        except OSError as exc:
            log.warning("cannot read %s: %s; forecasts start afresh", self.path, exc.strerror)
            return 0
        try:
            return forecaster.import_state(data, now=now)
        except ValueError as exc:
            log.warning("%s: %s; forecasts start afresh", self.path, exc)
            return 0

    def save(self, forecaster: Refits) -> None:
        """Write atomically: a crash mid-write leaves the previous file whole."""
        data = forecaster.export_state()
        temporary = self.path.with_name(self.path.name + ".tmp")
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            temporary.write_bytes(data)
            os.replace(temporary, self.path)
        except OSError as exc:
            log.warning("cannot write %s: %s", self.path, exc.strerror or exc)


class Refitter:
    """Refits in a background thread; saves the state file now and then."""

    def __init__(
        self,
        forecaster: Refits,
        *,
        period: float = 30.0,
        budget: int = 200,
        state: StateFile | None = None,
        save_every: float = 300.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.forecaster = forecaster
        self.period = period
        self.budget = budget
        self.state = state
        self.save_every = save_every
        self.clock = clock
        self.stop = threading.Event()
        self.passes = 0
        self.fits = 0
        self.last_pass_seconds = 0.0
        self._saved = clock()
        self._thread: threading.Thread | None = None

    def run_pass(self) -> int:
        """One bounded pass: at most ``budget`` fits; then the file, if it is time."""
        started = time.monotonic()
        try:
            fitted = self.forecaster.refit(self.clock(), self.budget)
        except Exception:  # a bug in a fit must not stop later passes; logged with its trace
            log.exception("forecast refit failed")
            fitted = 0
        self.last_pass_seconds = time.monotonic() - started
        self.passes += 1
        self.fits += fitted
        if self.state is not None and self.clock() - self._saved >= self.save_every:
            self.state.save(self.forecaster)
            self._saved = self.clock()
        return fitted

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="forecast-refit", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self.stop.wait(self.period):
            self.run_pass()

    def close(self, timeout: float = 10.0) -> None:
        """Stop the thread (after its current pass) and save the state one last time."""
        self.stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
        if self.state is not None:
            self.state.save(self.forecaster)
