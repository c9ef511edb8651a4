"""The Kubernetes edge without a cluster: the API wrapper, the informer and the watch
caches, over a fake ``ApiClient`` that answers each request from a handler."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from kubernetes.client.exceptions import ApiException

from autoscaler.kube.api import Api
from autoscaler.kube.cache import KNOWN, CachedScales
from autoscaler.kube.informer import Informer
from autoscaler.kube.scale import KubeScales
from autoscaler.ports import LoopError, ScaleState, TargetRef, Unavailable


@dataclass
class Response:
    status: int = 200
    body: Any = None
    lines: list[dict[str, Any]] = field(default_factory=list)  # a watch's events
    reason: str = "OK"
    headers: dict[str, str] = field(default_factory=dict)

    def read(self) -> bytes:
        if isinstance(self.body, bytes):
            return self.body
        return json.dumps(self.body or {}).encode()

    @property
    def response(self) -> Response:  # the urllib3 response a watch streams from
        return self

    def stream(self, amount: int, decode_content: bool = True) -> Iterator[bytes]:
        for line in self.lines:
            yield json.dumps(line).encode() + b"\n"

    def release_conn(self) -> None:
        pass


Handler = Callable[[str, str, dict[str, str], Any], Response]


class FakeClient:
    """Enough of kubernetes.client.ApiClient for ``Api``: each call goes to ``handler``."""

    user_agent = ""

    def __init__(self, handler: Handler) -> None:
        self.handler = handler

    def param_serialize(
        self,
        method: str,
        path: str,
        query_params: list[tuple[str, str]] | None = None,
        header_params: Any = None,
        body: Any = None,
        auth_settings: Any = None,
    ) -> tuple[Any, ...]:
        return method, path, header_params, body, dict(query_params or [])

    def call_api(
        self, method: str, url: str, headers: Any, body: Any, query: Any, **_: Any
    ) -> Response:
        return self.handler(method, url, query, body)


class NoWait(threading.Event):
    """A stop event whose back-off waits return at once (the tests need no sleeping)."""

    def wait(self, timeout: float | None = None) -> bool:
        return self.is_set()


def test_a_watch_answered_with_http_410_lists_again_instead_of_retrying_for_ever() -> None:
    lists: list[str] = []
    watches: list[str] = []
    informer: Informer[dict[str, Any]]

    def handler(method: str, path: str, query: dict[str, str], body: Any) -> Response:
        if "watch" not in query:
            version = str(10 * (len(lists) + 1))
            lists.append(version)
            return Response(body={"metadata": {"resourceVersion": version}, "items": []})
        watches.append(query["resourceVersion"])
        if len(watches) >= 3:
            informer.stop.set()
        if query["resourceVersion"] == "10":  # compacted away: the request itself is 410
            status = {"kind": "Status", "code": 410, "reason": "Expired", "message": "too old"}
            return Response(status=410, reason="Gone", body=status)
        return Response(lines=[])  # a watch that ends (its timeout)

    informer = Informer(Api(FakeClient(handler)), "/api/v1/pods", lambda o: o, name="pods")  # type: ignore[arg-type]
    informer.stop = NoWait()
    informer.run()
    assert lists == ["10", "20"]
    assert watches[:2] == ["10", "20"]


def test_a_request_without_any_http_answer_is_unavailable_not_an_empty_success() -> None:
    def handler(method: str, path: str, query: dict[str, str], body: Any) -> Response:
        # What the client raises on an SSL failure: status 0, a reason of two lines.
        raise ApiException(status=0, reason="SSLError\ncertificate verify failed")

    api = Api(FakeClient(handler))  # type: ignore[arg-type]
    with pytest.raises(Unavailable) as caught:
        api.call("GET", "/api/v1/namespaces/shop/pods")
    assert "\n" not in str(caught.value)
    assert "certificate verify failed" in str(caught.value)


def test_a_kubernetes_message_on_several_lines_is_one_line() -> None:
    denial = "admission webhook denied the request:\n  replicas above quota"

    def handler(method: str, path: str, query: dict[str, str], body: Any) -> Response:
        return Response(status=400, reason="Bad Request", body={"message": denial})

    with pytest.raises(LoopError) as caught:
        Api(FakeClient(handler)).call("PATCH", "/x", body={})  # type: ignore[arg-type]
    assert str(caught.value) == (
        "PATCH /x: HTTP 400: admission webhook denied the request: replicas above quota"
    )


def test_an_answer_that_is_not_json_is_a_loop_error_not_a_crash() -> None:
    def handler(method: str, path: str, query: dict[str, str], body: Any) -> Response:
        return Response(body=b"<html>proxy login</html>")

    with pytest.raises(LoopError, match="not JSON"):
        Api(FakeClient(handler)).call("GET", "/apis/apps/v1")  # type: ignore[arg-type]


def test_an_argo_rollout_is_read_as_its_scale_subresource_reads_it() -> None:
    # Argo Rollouts' CRD: statusReplicasPath .status.HPAReplicas, which during a canary
    # counts fewer pods than status.replicas (argo-rollouts#4868).
    _, transform = KNOWN[("argoproj.io/v1alpha1", "Rollout")]
    rollout = {
        "metadata": {"resourceVersion": "5"},
        "spec": {"replicas": 8},
        "status": {"replicas": 10, "HPAReplicas": 8, "selector": "app=web"},
    }
    assert transform(rollout).status_replicas == 8


def _deployment(*, updated: int, total: int) -> dict[str, Any]:
    return {
        "metadata": {"namespace": "shop", "name": "web", "generation": 1, "resourceVersion": "1"},
        "spec": {"replicas": 4, "selector": {"matchLabels": {"app": "web"}}},
        "status": {"observedGeneration": 1, "replicas": total, "updatedReplicas": updated},
    }


def _replicaset(hash_: str, revision: int, pods: int) -> dict[str, Any]:
    return {
        "metadata": {
            "name": f"web-{hash_}",
            "labels": {"pod-template-hash": hash_},
            "annotations": {"deployment.kubernetes.io/revision": str(revision)},
            "ownerReferences": [{"kind": "Deployment", "name": "web"}],
        },
        "status": {"replicas": pods},
    }


def test_a_new_rollout_soon_after_another_does_not_reuse_its_revision_hash() -> None:
    replicasets: list[dict[str, Any]] = []

    def handler(method: str, path: str, query: dict[str, str], body: Any) -> Response:
        return Response(body={"items": replicasets})

    cache = CachedScales(Api(FakeClient(handler)))  # type: ignore[arg-type]
    clock = [0.0]
    cache.clock = lambda: clock[0]
    _, transform = KNOWN[("apps/v1", "Deployment")]
    informer: Informer[ScaleState] = Informer(cache.api, "/apis/apps/v1/deployments", transform)
    cache.informers[("apps/v1", "Deployment")] = informer
    informer.synced.set()
    ref = TargetRef("apps/v1", "Deployment", "web")

    # Rollout 1: revision 2 (hash b) replaces revision 1 (hash a).
    replicasets[:] = [_replicaset("a", 1, 2), _replicaset("b", 2, 4)]
    informer._items["shop/web"] = transform(_deployment(updated=4, total=6))
    first = cache.get_scale("shop", ref)
    assert first.rollout is not None and first.rollout.new_hash == "b"
    # It finishes; 10 s later rollout 2 starts: revision 3 (hash c) replaces b.
    clock[0] = 5.0
    informer._items["shop/web"] = transform(_deployment(updated=4, total=4))
    assert not cache.get_scale("shop", ref).rollout.in_progress  # type: ignore[union-attr]
    clock[0] = 10.0
    replicasets[:] = [_replicaset("a", 1, 0), _replicaset("b", 2, 3), _replicaset("c", 3, 2)]
    informer._items["shop/web"] = transform(_deployment(updated=2, total=5))
    second = cache.get_scale("shop", ref)
    assert second.rollout is not None and second.rollout.new_hash == "c"


def test_scale_versions_are_kept_only_until_the_next_read() -> None:
    def handler(method: str, path: str, query: dict[str, str], body: Any) -> Response:
        if path == "/apis/apps/v1":
            resources = [{"name": "deployments", "kind": "Deployment"}]
            return Response(body={"resources": [*resources, {"name": "deployments/scale"}]})
        name = path.split("/")[-2]
        scale = {"spec": {"replicas": 2}, "status": {"replicas": 2, "selector": f"app={name}"}}
        return Response(body={"metadata": {"resourceVersion": "7"}, **scale})

    scales = KubeScales(Api(FakeClient(handler)))  # type: ignore[arg-type]
    for i in range(100):  # policies come and go: their targets are never read again
        scales.get_scale("shop", TargetRef("apps/v1", "Deployment", f"web-{i}"))
    assert len(scales.versions) <= 1
