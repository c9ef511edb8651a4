"""Any workload's ``/scale`` subresource, found through API discovery.

Deployments, StatefulSets, ReplicaSets and custom resources such as Argo Rollouts all
expose ``autoscaling/v1`` Scale at ``.../{plural}/{name}/scale``. Discovery maps the
policy's ``apiVersion``/``kind`` to the plural and checks that a scale subresource
exists, so a policy on a kind without one fails with a message saying exactly that.
Writes are a merge patch of ``spec.replicas`` on ``/scale`` only: nothing else of the
workload is touched, so a GitOps tool never sees drift from us.
"""

from __future__ import annotations

from typing import Any

from autoscaler.kube.api import Api
from autoscaler.ports import LoopError, NotFound, ScaleState, TargetRef


class KubeScales:
    """ScaleClient over the Kubernetes API."""

    def __init__(self, api: Api) -> None:
        self.api = api
        self._plurals: dict[tuple[str, str], str] = {}
        # (namespace, kind, name) -> resourceVersion of the last read, for the next write.
        # Only the last read is kept (a sync reads, then writes, one target at a time), so
        # targets that went away leave nothing behind.
        self.versions: dict[tuple[str, str, str], str] = {}

    def _collection(self, namespace: str, ref: TargetRef) -> str:
        version = ref.api_version or "v1"
        base = f"/api/{version}" if "/" not in version else f"/apis/{version}"
        key = (version, ref.kind)
        if key not in self._plurals:
            try:
                listing = self.api.call("GET", base)
            except NotFound:
                raise NotFound(f"API {version} is not served by this cluster") from None
            resources = listing.get("resources", [])
            names = {r.get("name") for r in resources}
            plural = next(
                (
                    r["name"]
                    for r in resources
                    if r.get("kind") == ref.kind and "/" not in r["name"]
                ),
                None,
            )
            if plural is None:
                raise NotFound(f"kind {ref.kind} is not served by API {version}")
            if f"{plural}/scale" not in names:
                raise LoopError(
                    f"{ref.kind} ({version}) has no scale subresource: it cannot be scaled"
                )
            self._plurals[key] = plural
        return f"{base}/namespaces/{namespace}/{self._plurals[key]}"

    def get_scale(self, namespace: str, ref: TargetRef) -> ScaleState:
        scale = self.api.call("GET", f"{self._collection(namespace, ref)}/{ref.name}/scale")
        spec, status = scale.get("spec") or {}, scale.get("status") or {}
        version = str((scale.get("metadata") or {}).get("resourceVersion") or "")
        self.remember(namespace, ref, version)
        return ScaleState(
            replicas=int(spec.get("replicas") or 0),
            status_replicas=int(status.get("replicas") or 0),
            selector=str(status.get("selector") or ""),
            resource_version=version,
        )

    def uid(self, namespace: str, ref: TargetRef) -> str:
        """The workload's uid, as its ``/scale`` carries it ("" when it has none)."""
        scale = self.api.call("GET", f"{self._collection(namespace, ref)}/{ref.name}/scale")
        return str((scale.get("metadata") or {}).get("uid") or "")

    def get_scale_uncached(self, namespace: str, ref: TargetRef) -> ScaleState:
        return self.get_scale(namespace, ref)  # every read here goes to the API server

    def remember(self, namespace: str, ref: TargetRef, version: str) -> None:
        """The version a read of ``ref`` returned, for the write that may follow it."""
        self.versions.clear()
        self.versions[(namespace, ref.kind, ref.name)] = version

    def set_replicas(self, namespace: str, ref: TargetRef, replicas: int) -> None:
        """Merge-patch spec.replicas, conditional on the version the decision was based on.

        Like the HPA, which writes back the Scale it read: if the workload changed since
        (another writer, or a watch cache that lagged), the API answers 409 and the next
        sync decides again from fresh data instead of overwriting it.
        """
        body: dict[str, Any] = {"spec": {"replicas": replicas}}
        version = self.versions.pop((namespace, ref.kind, ref.name), "")
        if version:
            body["metadata"] = {"resourceVersion": version}
        self.api.call(
            "PATCH",
            f"{self._collection(namespace, ref)}/{ref.name}/scale",
            body=body,
            content_type="application/merge-patch+json",
        )
