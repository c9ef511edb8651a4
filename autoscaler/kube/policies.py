"""ScalingPolicy objects over the Kubernetes API: list, watch cache, status writes.

The loop decides which objects are valid and what their status says
(``autoscaler.loop.crs``); this module only knows where they live and how to read and
write them.
"""

from __future__ import annotations

from autoscaler.kube.api import Api
from autoscaler.kube.informer import Informer
from autoscaler.policy.model import API_VERSION
from autoscaler.ports import JSON

PLURAL = "scalingpolicies"


def policies_path(namespace: str | None) -> str:
    """The collection of ScalingPolicy objects: one namespace's, or all of them."""
    scope = f"/namespaces/{namespace}" if namespace else ""
    return f"/apis/{API_VERSION}{scope}/{PLURAL}"


class KubePolicies:
    """ScalingPolicy objects of one namespace (or all): a ``ports.PolicyStore``."""

    def __init__(self, api: Api, *, namespace: str | None = None) -> None:
        self.api = api
        self.namespace = namespace
        self._informer: Informer[JSON] | None = None

    def objects(self) -> list[JSON]:
        listing = self.api.call("GET", policies_path(self.namespace))
        items: list[JSON] = listing.get("items") or []
        return items

    def watch(self) -> None:
        if self._informer is None:
            self._informer = Informer(
                self.api, policies_path(self.namespace), lambda obj: obj, name=PLURAL
            )
            self._informer.start()

    def cached(self) -> list[JSON] | None:
        informer = self._informer
        if informer is None or not informer.synced.is_set():
            return None
        return informer.items()

    def write_status(self, namespace: str, name: str, status: JSON) -> None:
        self.api.call(
            "PATCH",
            f"{policies_path(namespace)}/{name}/status",
            body={"status": status},
            content_type="application/merge-patch+json",
        )
