"""Authentication and authorization over real TLS, as the aggregator and others call.

Front-proxy client certificates (request-header CA, allowed CN) make X-Remote-* headers
trusted; without one, or with a CN not allowed, the headers are ignored; a certificate
from another CA fails the handshake; bearer tokens go through (cached) TokenReviews;
everything else needs a SubjectAccessReview, whose body is checked field by field.
"""

from __future__ import annotations

import http.client
import json
import ssl
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from adapter_support import PKI, Served, adapter_app, make_pki, serve

from autoscaler.adapter import tls
from autoscaler.adapter.auth import AuthSettings, User

PREFIX = "/apis/external.metrics.k8s.io/v1beta1"
HPA = "system:serviceaccount:kube-system:horizontal-pod-autoscaler"


class RecordingReviewer:
    def __init__(self) -> None:
        self.tokens: list[str] = []
        self.access: list[dict[str, Any]] = []

    def review_token(self, token: str) -> User | None:
        self.tokens.append(token)
        return User("bob", ("system:authenticated",)) if token == "good" else None

    def review_access(self, user: User, attributes: dict[str, Any]) -> bool:
        self.access.append(
            {
                "user": user.name,
                "groups": list(user.groups),
                **attributes,
                **({"extra": {k: list(v) for k, v in user.extra}} if user.extra else {}),
            }
        )
        return user.name in (HPA, "bob")


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> PKI:
    return make_pki(tmp_path_factory.mktemp("pki"))


@pytest.fixture
def reviewer() -> RecordingReviewer:
    return RecordingReviewer()


@pytest.fixture
def adapter(pki: PKI, declarations: Path, reviewer: RecordingReviewer) -> Iterator[Served]:
    files = tls.TLSFiles(pki.path("tls.crt"), pki.path("tls.key"), pki.path("front-proxy-ca.crt"))
    auth = AuthSettings(allowed_names=frozenset({"front-proxy-client"}))
    app = adapter_app(declarations, "http://127.0.0.1:1", auth=auth, reviewer=reviewer)
    with serve(app, context=tls.server_context(files)) as served:
        yield served


def call(
    served: Served,
    pki: PKI,
    path: str,
    *,
    client: str | None = None,
    headers: list[tuple[str, str]] = (),
) -> tuple[int, dict[str, Any]]:  # type: ignore[assignment]
    context = ssl.create_default_context(cafile=pki.path("tls.crt"))
    if client:
        context.load_cert_chain(pki.path(f"{client}.crt"), pki.path(f"{client}.key"))
    port = int(served.url.rsplit(":", 1)[1])
    connection = http.client.HTTPSConnection("127.0.0.1", port, context=context, timeout=10)
    try:
        connection.putrequest("GET", path)
        for name, value in headers:
            connection.putheader(name, value)
        connection.endheaders()
        answer = connection.getresponse()
        return answer.status, json.loads(answer.read() or b"{}")
    finally:
        connection.close()


AGGREGATOR = [("X-Remote-User", "system:kube-aggregator"), ("X-Remote-Group", "system:masters")]
HPA_HEADERS = [
    ("X-Remote-User", HPA),
    ("X-Remote-Group", "system:serviceaccounts"),
    ("X-Remote-Group", "system:serviceaccounts:kube-system"),
    ("X-Remote-Extra-Scopes%2Fa", "x"),
]


def test_the_aggregator_probe_passes_without_a_review(
    adapter: Served, pki: PKI, reviewer: RecordingReviewer
) -> None:
    status, body = call(adapter, pki, PREFIX, client="front-proxy-client", headers=AGGREGATOR)
    assert status == 200 and body["kind"] == "APIResourceList"
    assert reviewer.access == [] and reviewer.tokens == []


def test_the_hpa_through_the_aggregator_is_reviewed_exactly(
    adapter: Served, pki: PKI, reviewer: RecordingReviewer
) -> None:
    path = PREFIX + "/namespaces/default/queue_depth"
    status, _ = call(adapter, pki, path, client="front-proxy-client", headers=HPA_HEADERS)
    assert status == 503  # authorized; Prometheus is not there
    assert reviewer.access == [
        {
            "user": HPA,
            "groups": [
                "system:serviceaccounts",
                "system:serviceaccounts:kube-system",
                "system:authenticated",
            ],
            "resourceAttributes": {
                "namespace": "default",
                "verb": "list",
                "group": "external.metrics.k8s.io",
                "version": "v1beta1",
                "resource": "queue_depth",
            },
            "extra": {"scopes/a": ["x"]},
        }
    ]
    call(adapter, pki, path, client="front-proxy-client", headers=HPA_HEADERS)
    assert len(reviewer.access) == 1  # cached


def test_an_unknown_user_is_forbidden_with_the_kubernetes_message(
    adapter: Served, pki: PKI
) -> None:
    headers = [("X-Remote-User", "mallory")]
    status, body = call(
        adapter,
        pki,
        PREFIX + "/namespaces/default/queue_depth",
        client="front-proxy-client",
        headers=headers,
    )
    assert status == 403 and body["reason"] == "Forbidden"
    assert body["message"] == (
        'queue_depth.external.metrics.k8s.io is forbidden: User "mallory" cannot list resource '
        '"queue_depth" in API group "external.metrics.k8s.io" in the namespace "default"'
    )
    status, body = call(adapter, pki, "/apis", client="front-proxy-client", headers=headers)
    assert (status, body["message"]) == (403, 'forbidden: User "mallory" cannot get path "/apis"')


@pytest.mark.parametrize("client", [None, "intruder"], ids=["no-cert", "cn-not-allowed"])
def test_remote_headers_without_a_trusted_front_proxy_cert_are_ignored(
    adapter: Served, pki: PKI, reviewer: RecordingReviewer, client: str | None
) -> None:
    status, body = call(
        adapter, pki, PREFIX + "/namespaces/default/queue_depth", client=client, headers=AGGREGATOR
    )
    assert (status, body["reason"], body["message"]) == (401, "Unauthorized", "Unauthorized")
    assert reviewer.access == []


def test_a_client_cert_from_another_ca_never_reaches_a_route(adapter: Served, pki: PKI) -> None:
    with pytest.raises((ssl.SSLError, ConnectionError)):
        call(adapter, pki, PREFIX, client="front-proxy-client-other", headers=AGGREGATOR)


def test_bearer_tokens_are_reviewed_once_and_bad_ones_are_401(
    adapter: Served, pki: PKI, reviewer: RecordingReviewer
) -> None:
    good = [("Authorization", "Bearer good")]
    assert call(adapter, pki, PREFIX, headers=good)[0] == 200
    assert call(adapter, pki, PREFIX, headers=good)[0] == 200
    assert reviewer.tokens == ["good"]
    assert reviewer.access == [
        {
            "user": "bob",
            "groups": ["system:authenticated"],
            "nonResourceAttributes": {"path": PREFIX, "verb": "get"},
        }
    ]
    assert call(adapter, pki, PREFIX, headers=[("Authorization", "Bearer bad")])[0] == 401


def test_probes_need_no_credentials(adapter: Served, pki: PKI) -> None:
    port = int(adapter.url.rsplit(":", 1)[1])
    context = ssl.create_default_context(cafile=pki.path("tls.crt"))
    for path in ("/healthz", "/livez", "/readyz"):
        connection = http.client.HTTPSConnection("127.0.0.1", port, context=context, timeout=5)
        connection.request("GET", path)
        assert connection.getresponse().status == 200
        connection.close()


def test_a_renewed_serving_certificate_is_picked_up(pki: PKI, tmp_path: Path) -> None:
    first = tls.self_signed(tmp_path / "a", ["localhost"])
    files = tls.TLSFiles(str(tmp_path / "tls.crt"), str(tmp_path / "tls.key"))
    Path(files.cert).write_text(Path(first.cert).read_text())
    Path(files.key).write_text(Path(first.key).read_text())
    context = tls.server_context(files)
    reloader = tls.CertificateReloader(context, files)
    assert not reloader.check()
    second = tls.self_signed(tmp_path / "b", ["localhost"])
    Path(files.cert).write_text(Path(second.cert).read_text())
    Path(files.key).write_text(Path(second.key).read_text())
    import os

    os.utime(files.cert, (1, 1))
    assert reloader.check()
    Path(files.key).write_text("not a key")
    os.utime(files.key, (2, 2))
    assert not reloader.check()  # a broken pair keeps the previous one
