"""One ``coordination.k8s.io/v1`` Lease over the Kubernetes API, for leader election.

When to take, renew or give up the lease is the loop's choice
(``autoscaler.loop.leader``); this module reads and writes the object. Every write
carries the resourceVersion that was read, so the API server refuses (409) a write
based on a record someone else has changed since.
"""

from __future__ import annotations

from autoscaler.kube.api import Api
from autoscaler.ports import JSON, LeaseRecord


class KubeLeases:
    """The Lease ``name`` in ``namespace``: a ``ports.LeaseStore``."""

    def __init__(self, api: Api, *, namespace: str, name: str) -> None:
        self.api = api
        self.path = f"/apis/coordination.k8s.io/v1/namespaces/{namespace}/leases"
        self.name = name

    def read(self) -> LeaseRecord:
        lease = self.api.call("GET", f"{self.path}/{self.name}")
        spec = lease.get("spec") or {}
        duration = spec.get("leaseDurationSeconds")
        return LeaseRecord(
            holder=spec.get("holderIdentity") or "",
            duration_seconds=int(duration) if duration else None,
            acquire_time=spec.get("acquireTime"),
            renew_time=spec.get("renewTime"),
            transitions=int(spec.get("leaseTransitions") or 0),
            version=(lease.get("metadata") or {}).get("resourceVersion"),
        )

    def create(self, record: LeaseRecord) -> None:
        self.api.call("POST", self.path, body=self._body(record))

    def replace(self, record: LeaseRecord) -> None:
        self.api.call("PUT", f"{self.path}/{self.name}", body=self._body(record))

    def _body(self, record: LeaseRecord) -> JSON:
        metadata: JSON = {"name": self.name}
        if record.version is not None:
            metadata["resourceVersion"] = record.version
        return {
            "apiVersion": "coordination.k8s.io/v1",
            "kind": "Lease",
            "metadata": metadata,
            "spec": {
                "holderIdentity": record.holder,
                "leaseDurationSeconds": record.duration_seconds,
                "acquireTime": record.acquire_time,
                "renewTime": record.renew_time,
                "leaseTransitions": record.transitions,
            },
        }
