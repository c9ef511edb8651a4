"""The uid of a workload a file policy scales, for the events recorded on it.

A policy file has no object of its own, so its events go on the workload. `kubectl
describe` lists an object's events by ``involvedObject.uid`` as well as its name, so an
event without the uid is in `kubectl get events` but not in `describe`. The uid is read
from the workload's ``/scale`` (which carries it, and which Podscale may already read:
no extra permission), once per workload, through a ``WorkloadReader`` (``kube.scale``
on a cluster, its discovery cached).
"""

from __future__ import annotations

from autoscaler.ports import LoopError, TargetRef, WorkloadReader

RETRY_SECONDS = 60.0  # how long a workload that could not be read is not asked again


class WorkloadUids:
    def __init__(self, scales: WorkloadReader) -> None:
        self.scales = scales
        self._uids: dict[tuple[str, TargetRef], str] = {}
        self._failed: dict[tuple[str, TargetRef], float] = {}  # -> when to ask again

    def uid(self, namespace: str, ref: TargetRef, *, now: float) -> str | None:
        """The uid, or None when the workload cannot be read (it may not exist yet)."""
        key = (namespace, ref)
        if key in self._uids:
            return self._uids[key]
        if self._failed.get(key, 0.0) > now:
            return None
        try:
            uid = self.scales.uid(namespace, ref)
        except LoopError:
            uid = ""
        if not uid:
            if len(self._failed) > 10_000:
                self._failed.clear()
            self._failed[key] = now + RETRY_SECONDS
            return None
        self._failed.pop(key, None)
        if len(self._uids) > 10_000:  # workloads of policies long gone: read again
            self._uids.clear()
        self._uids[key] = uid
        return uid

    def forget(self, namespace: str, ref: TargetRef) -> None:
        """Read it again next time: the workload may have been deleted (and recreated)."""
        self._uids.pop((namespace, ref), None)
