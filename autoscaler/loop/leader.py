"""Leader election on a ``coordination.k8s.io/v1`` Lease, the way client-go does it.

Only the leader writes. Safety comes from three rules:

- a standby takes the lease only when it has seen the lease record *unchanged* for a
  whole ``lease_duration`` on its own monotonic clock (no trust in other clocks);
- the leader stops writing as soon as it has not renewed for ``renew_deadline``, which
  is shorter than ``lease_duration``; so it has stopped before any standby can take over;
- every write of the lease carries the resourceVersion read, so two candidates racing
  for it cannot both win (the loser gets 409 Conflict).

On shutdown the leader releases the lease (empty holder, 1 s duration) so a standby
takes over within a retry period instead of a lease duration.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime

from autoscaler.ports import Conflict, LeaseRecord, LeaseStore, LoopError, NotFound

log = logging.getLogger("autoscaler.leader")


def _micro_time(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class LeaderElector:
    """Acquires and renews a Lease; ``leading()`` says whether this replica may write.

    Only the timing is decided here; reading and writing the Lease is ``leases``'s
    (``autoscaler.kube.leases`` on a cluster).
    """

    def __init__(
        self,
        leases: LeaseStore,
        *,
        identity: str,
        lease_duration: float = 15.0,
        renew_deadline: float = 10.0,
        retry_period: float = 2.0,
        clock: Callable[[], float] = time.monotonic,
        wall: Callable[[], float] = time.time,
    ) -> None:
        if not retry_period < renew_deadline < lease_duration:
            raise ValueError("need retry_period < renew_deadline < lease_duration")
        self.leases = leases
        self.name = leases.name
        self.identity = identity
        self.lease_duration = lease_duration
        self.renew_deadline = renew_deadline
        self.retry_period = retry_period
        self.clock = clock
        self.wall = wall
        self._renewed_at: float | None = None  # our last successful renew (monotonic)
        self._observed: tuple[str, str | None] | None = None  # (holder, renewTime) last seen
        self._observed_at = 0.0
        self.stop = threading.Event()

    def leading(self) -> bool:
        renewed = self._renewed_at
        return renewed is not None and self.clock() - renewed < self.renew_deadline

    def try_acquire_or_renew(self) -> bool:
        """One attempt; True when this replica holds the lease afterwards."""
        now = self.clock()
        try:
            lease = self.leases.read()
        except NotFound:
            return self._write(self.leases.create, self._record(transitions=0), now)
        except LoopError as exc:
            log.warning("cannot read lease %s: %s", self.name, exc)
            return self.leading()
        observed = (lease.holder, lease.renew_time)
        if observed != self._observed:
            # Seen when the answer came, not when it was asked for (as client-go): a slow
            # read may show a renew made long after ``now``.
            self._observed, self._observed_at = observed, self.clock()
        if lease.holder == self.identity:
            record = self._record(transitions=lease.transitions, acquired=lease.acquire_time)
        else:
            duration = float(lease.duration_seconds or self.lease_duration)
            if lease.holder and now - self._observed_at < duration:
                self._renewed_at = None
                return False
            record = self._record(transitions=lease.transitions + 1)
        return self._write(self.leases.replace, replace(record, version=lease.version), now)

    def _record(self, *, transitions: int, acquired: str | None = None) -> LeaseRecord:
        stamp = _micro_time(self.wall())
        return LeaseRecord(
            holder=self.identity,
            duration_seconds=math.ceil(self.lease_duration),
            acquire_time=acquired or stamp,
            renew_time=stamp,
            transitions=transitions,
        )

    def _write(
        self, write: Callable[[LeaseRecord], None], record: LeaseRecord, started: float
    ) -> bool:
        was_leading = self.leading()
        try:
            write(record)
        except Conflict:
            self._renewed_at = None  # someone else wrote first
            return False
        except LoopError as exc:
            log.warning("cannot write lease %s: %s", self.name, exc)
            return self.leading()
        self._renewed_at = started
        if not was_leading:
            log.info("became leader", extra={"lease": self.name, "identity": self.identity})
        return True

    def release(self) -> None:
        """Give the lease up at shutdown so a standby need not wait it out."""
        if not self.leading():
            return
        self._renewed_at = None
        try:
            lease = self.leases.read()
            if lease.holder != self.identity:
                return
            released = replace(
                lease, holder="", duration_seconds=1, renew_time=_micro_time(self.wall())
            )
            self.leases.replace(released)
            log.info("released the lease", extra={"lease": self.name})
        except LoopError as exc:
            log.warning("cannot release lease %s: %s", self.name, exc)

    def run(self) -> None:
        """Renew (or try to acquire) every retry period until stopped."""
        while not self.stop.is_set():
            try:
                self.try_acquire_or_renew()
            except Exception:  # a bug or an odd answer must not end the election for good
                log.exception("leader election attempt failed")
            self.stop.wait(self.retry_period)
