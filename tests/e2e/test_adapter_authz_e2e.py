"""The adapter's authorization against the testbed's real RBAC (issue 11's missing tests).

The secure adapter of ``test_adapter_e2e.py`` (front-proxy CA from the cluster, reviews
through the real TokenReview and SubjectAccessReview APIs) is called directly with the
token of ``testbed-user``, whom a Role lets ``list`` the metric ``queue_depth`` in one
namespace only. A real SubjectAccessReview refuses the other namespace; encoded paths
(``%2F``, ``..``, double encoding) never reach the other namespace's value, which
Prometheus holds as a recognisable number; a selector over the 4,096-character limit is
a 400 Status, also through the aggregator.
"""

from __future__ import annotations

import http.client
import json
import ssl
import uuid
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

import pytest
from e2e_support import Kubectl, Testbed
from live_tooling import wait_for
from prometheus_fixture import PromEnv
from test_adapter_e2e import PREFIX, available
from test_adapter_e2e import adapter as adapter  # the fixture
from test_adapter_e2e import prom as prom  # the fixture

pytestmark = [pytest.mark.testbed, pytest.mark.prometheus]
ALLOWED_VALUE, SECRET_VALUE = 7, 424242  # a leak of the other namespace shows as 424242


@pytest.fixture
def other_namespace(kubectl: Kubectl) -> Iterator[str]:
    name = "authz-" + uuid.uuid4().hex[:8]
    kubectl("create", "namespace", name)
    try:
        yield name
    finally:
        kubectl("delete", "namespace", name, "--wait=false", check=False)


@pytest.fixture
def reader(kubectl: Kubectl, namespace: str) -> str:
    """testbed-user may list queue_depth in ``namespace`` (and nothing else of the group)."""
    rbac = [
        {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role",
         "metadata": {"name": "queue-reader", "namespace": namespace},
         "rules": [{"apiGroups": ["external.metrics.k8s.io"], "resources": ["queue_depth"],
                    "verbs": ["list"]}]},
        {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
         "metadata": {"name": "queue-reader", "namespace": namespace},
         "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role",
                     "name": "queue-reader"},
         "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User",
                       "name": "testbed-user"}]},
    ]  # fmt: skip
    kubectl(
        "apply", "-f", "-", input=json.dumps({"apiVersion": "v1", "kind": "List", "items": rbac})
    )
    return "testbed-user"


def direct(port: int, token: str, path: str) -> tuple[int, dict[str, Any]]:
    """GET ``path`` as sent (no normalisation) straight to the adapter, with a bearer token."""
    context = ssl.create_default_context()
    context.check_hostname, context.verify_mode = False, ssl.CERT_NONE
    connection = http.client.HTTPSConnection("127.0.0.1", port, context=context, timeout=30)
    try:
        connection.request("GET", path, headers={"Authorization": f"Bearer {token}"})
        answer = connection.getresponse()
        assert answer.getheader("content-type") == "application/json", path
        return answer.status, json.loads(answer.read())
    finally:
        connection.close()


@pytest.fixture
def listening(adapter: int, kubectl: Kubectl) -> int:
    """The adapter's port once it answers (the aggregator finds it Available)."""
    wait_for(lambda: available(kubectl), "the APIService to become Available", timeout=120)
    return adapter


@pytest.fixture
def values(prom: PromEnv, namespace: str, other_namespace: str) -> None:
    prom.exporter.set(
        "podscale_e2e_queue", {"namespace": namespace, "queue": "jobs"}, ALLOWED_VALUE
    )
    prom.exporter.set(
        "podscale_e2e_queue", {"namespace": other_namespace, "queue": "jobs"}, SECRET_VALUE
    )


def test_a_real_subject_access_review_denies_what_rbac_does_not_grant(
    testbed: Testbed,
    listening: int,
    namespace: str,
    other_namespace: str,
    reader: str,
    values: None,
) -> None:
    token = testbed.env["TESTBED_USER_TOKEN"]
    allowed = f"{PREFIX}/namespaces/{namespace}/queue_depth"
    body = wait_for(
        lambda: (a := direct(listening, token, allowed))[0] == 200 and a[1]["items"] and a[1],
        "the granted value",
    )
    assert [i["value"] for i in body["items"]] == [str(ALLOWED_VALUE)]

    status, denied = direct(listening, token, f"{PREFIX}/namespaces/{other_namespace}/queue_depth")
    assert status == 403
    assert (denied["kind"], denied["reason"], denied["code"]) == ("Status", "Forbidden", 403)
    assert denied["message"] == (
        f'queue_depth.external.metrics.k8s.io is forbidden: User "testbed-user" cannot list '
        f'resource "queue_depth" in API group "external.metrics.k8s.io" in the namespace '
        f'"{other_namespace}"'
    )
    status, _ = direct(listening, token, f"{PREFIX}/namespaces/{namespace}/other_metric")
    assert status == 403  # the Role names one metric


ENCODED_PATHS = {  # name: path under PREFIX; {ns} is granted, {other} is not
    "slash-dotdot-in-namespace": "/namespaces/{ns}%2F..%2F{other}/queue_depth",
    "slash-dotdot-in-metric": "/namespaces/{ns}/..%2F{other}%2Fqueue_depth",
    "dotdot": "/namespaces/{ns}/../{other}/queue_depth",
    "dotdot-after": "/namespaces/{ns}/queue_depth/../../{other}/queue_depth",
    "slash-in-namespace": "/namespaces/{other}%2Fqueue_depth/x",
    "double-encoded": "/namespaces/{ns}%252F..%252F{other}/queue_depth",
    "double-encoded-other": "/namespaces/{other_twice}/queue_depth",
    "encoded-letters": "/namespaces/{other_encoded}/queue_depth",
    "empty-segment": "/namespaces//{other}/queue_depth",
    "trailing-slash": "/namespaces/{other}/queue_depth/",
    "nul": "/namespaces/{other}/queue_depth%00",
    "semicolon": "/namespaces/{other}/queue_depth;x",
    "backslash": "/namespaces/{ns}%5C..%5C{other}/queue_depth",
}


def test_encoded_paths_never_reach_another_namespace(
    testbed: Testbed,
    listening: int,
    namespace: str,
    other_namespace: str,
    reader: str,
    values: None,
) -> None:
    token = testbed.env["TESTBED_USER_TOKEN"]
    allowed = f"{PREFIX}/namespaces/{namespace}/queue_depth"
    wait_for(lambda: direct(listening, token, allowed)[0] == 200, "the granted value")
    encoded = "".join(f"%{ord(c):02X}" for c in other_namespace)
    names = {
        "ns": namespace,
        "other": other_namespace,
        "other_encoded": encoded,
        "other_twice": encoded.replace("%", "%25"),
    }
    wrong = {}
    for name, template in ENCODED_PATHS.items():
        path = PREFIX + template.format(**names)
        status, body = direct(listening, token, path)
        leaked = str(SECRET_VALUE) in json.dumps(body)
        if status not in (403, 404) or body.get("code") != status or leaked:
            wrong[name] = (path, status, body)
    assert wrong == {}


def test_an_encoded_path_to_the_granted_metric_is_the_same_resource(
    testbed: Testbed, listening: int, namespace: str, reader: str, values: None
) -> None:
    """Decoding happens once, before both the review and the routing: same answer."""
    token = testbed.env["TESTBED_USER_TOKEN"]
    plain = f"{PREFIX}/namespaces/{namespace}/queue_depth"
    encoded = f"{PREFIX}/namespaces/{namespace}/queue%5Fdepth"
    wait_for(lambda: direct(listening, token, plain)[1].get("items"), "the granted value")
    status, body = direct(listening, token, encoded)
    assert status == 200 and [i["value"] for i in body["items"]] == [str(ALLOWED_VALUE)]


def test_the_selector_length_limit_is_a_400_status_also_through_the_aggregator(
    testbed: Testbed, kubectl: Kubectl, listening: int, namespace: str, reader: str, values: None
) -> None:
    token = testbed.env["TESTBED_USER_TOKEN"]
    base = f"{PREFIX}/namespaces/{namespace}/queue_depth?labelSelector="
    fits = "queue=jobs"
    while len(fits) + len(f",queue!=x{len(fits)}") <= 4096:
        fits += f",queue!=x{len(fits)}"
    too_long = "queue=jobs," + "a" * (4097 - len("queue=jobs,"))
    assert 4000 < len(fits) <= 4096 and len(too_long) == 4097
    body = wait_for(
        lambda: (
            (a := direct(listening, token, base + quote(fits, safe="")))[1].get("items") and a[1]
        ),
        "the value with the longest selector allowed",
    )
    assert [i["value"] for i in body["items"]] == [str(ALLOWED_VALUE)]
    status, body = direct(listening, token, base + quote(too_long, safe=""))
    assert status == 400 and body["reason"] == "BadRequest"
    assert body["message"] == "unable to parse labelSelector: longer than 4096 characters"

    done = kubectl("get", "--raw", base + quote(too_long, safe=""), check=False)
    assert done.returncode != 0
    assert "longer than 4096 characters" in done.stderr
