"""The uid of a workload a file policy scales, for the events recorded on it.

A policy file has no object of its own, so its events go on the workload. `kubectl
describe` lists an object's events by ``involvedObject.uid`` as well as its name, so an
event without the uid is in `kubectl get events` but not in `describe`. The uid is read
from the workload's ``/scale`` (which carries it, and which Podscale may already read:
no extra permission), once per workload, after one discovery request per kind.
"""

from __future__ import annotations

from autoscaler.kube.api import Api
from autoscaler.ports import LoopError, TargetRef

RETRY_SECONDS = 60.0  # how long a workload that could not be read is not asked again


class WorkloadUids:
    def __init__(self, api: Api) -> None:
        self.api = api
        self._plurals: dict[tuple[str, str], str] = {}  # (apiVersion, kind) -> plural
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
            scale = self.api.call("GET", f"{self._collection(namespace, ref)}/{ref.name}/scale")
        except LoopError:
            scale = {}
        uid = str((scale.get("metadata") or {}).get("uid") or "")
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

    def _collection(self, namespace: str, ref: TargetRef) -> str:
        version = ref.api_version
        base = f"/apis/{version}" if "/" in version else f"/api/{version}"
        plural = self._plurals.get((version, ref.kind))
        if plural is None:
            resources = self.api.call("GET", base).get("resources") or []
            plural = next(
                (
                    r["name"]
                    for r in resources
                    if r.get("kind") == ref.kind and "/" not in r["name"]
                ),
                None,
            )
            if plural is None:
                raise LoopError(f"kind {ref.kind} is not served by API {version}")
            self._plurals[(version, ref.kind)] = plural
        return f"{base}/namespaces/{namespace}/{plural}"
