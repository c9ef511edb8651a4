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
from datetime import UTC, datetime
from typing import Any

from autoscaler.kube.api import Api
from autoscaler.ports import Conflict, LoopError, NotFound

log = logging.getLogger("autoscaler.leader")


def _micro_time(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class LeaderElector:
    """Acquires and renews a Lease; ``leading()`` says whether this replica may write."""

    def __init__(
        self,
        api: Api,
        *,
        namespace: str,
        name: str,
        identity: str,
        lease_duration: float = 15.0,
        renew_deadline: float = 10.0,
        retry_period: float = 2.0,
        clock: Callable[[], float] = time.monotonic,
        wall: Callable[[], float] = time.time,
    ) -> None:
        if not retry_period < renew_deadline < lease_duration:
            raise ValueError("need retry_period < renew_deadline < lease_duration")
        self.api = api
        self.path = f"/apis/coordination.k8s.io/v1/namespaces/{namespace}/leases"
        self.name = name
        self.identity = identity
        self.lease_duration = lease_duration
        self.renew_deadline = renew_deadline
        self.retry_period = retry_period
        self.clock = clock
        self.wall = wall
        self._renewed_at: float | None = None  # our last successful renew (monotonic)
        self._observed: tuple[str, Any] | None = None  # (holder, renewTime) last seen
        self._observed_at = 0.0
        self.stop = threading.Event()

    def leading(self) -> bool:
        renewed = self._renewed_at
        return renewed is not None and self.clock() - renewed < self.renew_deadline

    def try_acquire_or_renew(self) -> bool:
        """One attempt; True when this replica holds the lease afterwards."""
        now = self.clock()
        try:
            lease = self.api.call("GET", f"{self.path}/{self.name}")
        except NotFound:
            return self._write("POST", self.path, self._body(transitions=0), now)
        except LoopError as exc:
            log.warning("cannot read lease %s: %s", self.name, exc)
            return self.leading()
        spec = lease.get("spec") or {}
        holder = spec.get("holderIdentity") or ""
        record = (holder, spec.get("renewTime"))
        if record != self._observed:
            # Seen when the answer came, not when it was asked for (as client-go): a slow
            # read may show a renew made long after ``now``.
            self._observed, self._observed_at = record, self.clock()
        transitions = int(spec.get("leaseTransitions") or 0)
        if holder == self.identity:
            body = self._body(transitions=transitions, acquired=spec.get("acquireTime"))
        else:
            duration = float(spec.get("leaseDurationSeconds") or self.lease_duration)
            if holder and now - self._observed_at < duration:
                self._renewed_at = None
                return False
            body = self._body(transitions=transitions + 1)
        body["metadata"]["resourceVersion"] = (lease.get("metadata") or {}).get("resourceVersion")
        return self._write("PUT", f"{self.path}/{self.name}", body, now)

    def _body(self, *, transitions: int, acquired: Any = None) -> dict[str, Any]:
        stamp = _micro_time(self.wall())
        return {
            "apiVersion": "coordination.k8s.io/v1",
            "kind": "Lease",
            "metadata": {"name": self.name},
            "spec": {
                "holderIdentity": self.identity,
                "leaseDurationSeconds": math.ceil(self.lease_duration),
                "acquireTime": acquired or stamp,
                "renewTime": stamp,
                "leaseTransitions": transitions,
            },
        }

    def _write(self, method: str, path: str, body: dict[str, Any], started: float) -> bool:
        was_leading = self.leading()
        try:
            self.api.call(method, path, body=body)
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
            lease = self.api.call("GET", f"{self.path}/{self.name}")
            spec = lease.get("spec") or {}
            if spec.get("holderIdentity") != self.identity:
                return
            spec.update(
                holderIdentity="", leaseDurationSeconds=1, renewTime=_micro_time(self.wall())
            )
            self.api.call("PUT", f"{self.path}/{self.name}", body=lease)
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
