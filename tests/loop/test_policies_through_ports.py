"""Policies and leader election through the ports only, and the kube/ writers behind them.

The loop decides what to write (valid targets, status, events, lease timing); the
in-memory stores here stand where ``autoscaler.kube`` stands on a cluster, and the
last tests pin the REST those kube/ implementations send.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from autoscaler.kube.leases import KubeLeases
from autoscaler.kube.policies import KubePolicies
from autoscaler.loop.leader import LeaderElector
from autoscaler.loop.policies import Policies
from autoscaler.ports import JSON, EventPost, NotFound, TargetRef

NOW = 1_700_000_000.0


def policy_object(name: str, *, max_replicas: int = 5, uid: str = "") -> JSON:
    return {
        "apiVersion": "podscale.dev/v1alpha1",
        "kind": "ScalingPolicy",
        "metadata": {"name": name, "namespace": "default", "uid": uid or name, "generation": 1},
        "spec": {
            "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": name},
            "minReplicas": 1,
            "maxReplicas": max_replicas,
        },
    }


@dataclass
class MemoryPolicies:
    """A PolicyStore in memory: status writes land on the stored objects."""

    stored: list[JSON]
    watching: bool = False
    listed: int = 0
    writes: list[tuple[str, str, JSON]] = field(default_factory=list)

    def objects(self) -> list[JSON]:
        self.listed += 1
        return [dict(o) for o in self.stored]

    def watch(self) -> None:
        self.watching = True

    def cached(self) -> list[JSON] | None:
        return [dict(o) for o in self.stored] if self.watching else None

    def write_status(self, namespace: str, name: str, status: JSON) -> None:
        self.writes.append((namespace, name, status))
        for obj in self.stored:
            if obj["metadata"]["name"] == name:
                obj["status"] = {**(obj.get("status") or {}), **status}


@dataclass
class MemoryEvents:
    created: list[EventPost] = field(default_factory=list)
    updated: list[EventPost] = field(default_factory=list)

    def create(self, event: EventPost) -> None:
        self.created.append(event)

    def update(self, event: EventPost) -> None:
        self.updated.append(event)


class NoWorkloads:
    def uid(self, namespace: str, ref: TargetRef) -> str:
        return ""


def policies(store: MemoryPolicies, events: MemoryEvents, *, watch: bool = False) -> Policies:
    return Policies(
        store=store,
        events=events,
        workloads=NoWorkloads(),
        files=[],
        namespace=None,
        crds=True,
        watch=watch,
    )


def test_a_broken_object_gets_its_status_and_one_event_and_the_others_scale() -> None:
    store = MemoryPolicies([policy_object("good"), policy_object("bad", max_replicas=0)])
    events = MemoryEvents()
    loaded = policies(store, events)
    for step in range(3):
        targets = loaded.load(now=NOW + 15 * step)
        assert [t.key for t in targets] == ["default/good"]
    [(namespace, name, status)] = store.writes  # written once: unchanged afterwards
    assert (namespace, name) == ("default", "bad")
    assert status["conditions"][0]["reason"] == "InvalidPolicy"
    [event] = events.created
    assert (event.reason, event.involved["name"], event.component) == (
        "InvalidPolicy",
        "bad",
        "podscale",
    )


def test_the_watch_starts_after_the_first_listing_and_then_serves_the_loads() -> None:
    store = MemoryPolicies([policy_object("good")])
    loaded = policies(store, MemoryEvents(), watch=True)
    loaded.load(now=NOW)
    assert store.watching and store.listed == 1
    store.stored.append(policy_object("new"))
    assert {t.key for t in loaded.load(now=NOW + 15)} == {"default/good", "default/new"}
    assert store.listed == 1  # from the cache, not a second LIST


@dataclass
class RecordingApi:
    """Answers like the API server for one Lease; remembers every call."""

    lease: JSON | None = None
    calls: list[tuple[str, str, Any]] = field(default_factory=list)

    def call(self, method: str, path: str, **kwargs: Any) -> JSON:
        self.calls.append((method, path, kwargs.get("body")))
        if method == "GET":
            if self.lease is None:
                raise NotFound(f"GET {path}: not found")
            return self.lease
        if method in ("POST", "PUT"):
            body = kwargs["body"]
            self.lease = {**body, "metadata": {**body["metadata"], "resourceVersion": "7"}}
        return {}


def test_the_lease_is_created_renewed_with_its_version_and_released_in_place() -> None:
    api = RecordingApi()
    leases = KubeLeases(api, namespace="podscale-system", name="podscale")  # type: ignore[arg-type]
    elector = LeaderElector(leases, identity="me", clock=lambda: 0.0, wall=lambda: NOW)
    assert elector.try_acquire_or_renew()
    assert elector.try_acquire_or_renew()
    elector.release()
    writes = [(m, p, b) for m, p, b in api.calls if m != "GET"]
    assert [(m, p) for m, p, _ in writes] == [
        ("POST", "/apis/coordination.k8s.io/v1/namespaces/podscale-system/leases"),
        ("PUT", "/apis/coordination.k8s.io/v1/namespaces/podscale-system/leases/podscale"),
        ("PUT", "/apis/coordination.k8s.io/v1/namespaces/podscale-system/leases/podscale"),
    ]
    created, renewed, released = (b for _, _, b in writes)
    assert "resourceVersion" not in created["metadata"]
    assert renewed["metadata"]["resourceVersion"] == "7"  # a racing writer gets 409
    assert renewed["spec"]["acquireTime"] == created["spec"]["acquireTime"]
    assert released["spec"]["holderIdentity"] == ""
    assert released["spec"]["leaseDurationSeconds"] == 1
    assert released["spec"]["leaseTransitions"] == 0


def test_a_status_write_is_a_merge_patch_of_the_status_subresource() -> None:
    api = RecordingApi()
    KubePolicies(api).write_status("team", "web", {"desiredReplicas": 3})  # type: ignore[arg-type]
    assert api.calls == [
        (
            "PATCH",
            "/apis/podscale.dev/v1alpha1/namespaces/team/scalingpolicies/web/status",
            {"status": {"desiredReplicas": 3}},
        )
    ]
