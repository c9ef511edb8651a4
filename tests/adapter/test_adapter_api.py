"""The HTTP API against a scripted Prometheus runner: shapes field by field, status codes,
selectors, and a cache that answers without waiting on the source.

Covers: discovery documents (reference §2.2-2.3), ExternalMetricValueList with canonical
quantities and series labels, Status bodies for 400/404/405/503, JSON whatever Accept
says, no trailing-slash redirects, the OpenAPI documents, health and version.
"""

from __future__ import annotations

import re
import threading
import time
import urllib.parse
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from adapter_support import Served, adapter_app, get, serve, wait_value

from autoscaler.metrics.prometheus import QueryError

PREFIX = "/apis/external.metrics.k8s.io/v1beta1"
GROUP = {
    "name": "external.metrics.k8s.io",
    "versions": [{"groupVersion": "external.metrics.k8s.io/v1beta1", "version": "v1beta1"}],
    "preferredVersion": {"groupVersion": "external.metrics.k8s.io/v1beta1", "version": "v1beta1"},
}


class FakePrometheus:
    """Answers instant queries from ``series[namespace]``; can fail or be slow."""

    def __init__(self) -> None:
        self.series: dict[str, list[tuple[dict[str, str], float]]] = {}
        self.fail = False
        self.delay = 0.0
        self.queries: list[str] = []
        self.lock = threading.Lock()

    def __call__(self, query: str, *, time: float) -> list[dict[str, Any]]:
        with self.lock:
            self.queries.append(query)
        if self.delay:
            threading.Event().wait(self.delay)
        if self.fail:
            raise QueryError("connection refused")
        match = re.search(r'namespace="([^"]*)"', query)
        namespace = match[1] if match else ""
        return [
            {"metric": labels, "value": [time, repr(value)]}
            for labels, value in self.series.get(namespace, [])
        ]


@pytest.fixture
def fake() -> FakePrometheus:
    return FakePrometheus()


@pytest.fixture
def adapter(declarations: Path, fake: FakePrometheus) -> Iterator[Served]:
    app = adapter_app(
        declarations,
        "http://prometheus.invalid",
        runner=fake,
        namespaces=frozenset({"default", "team-a", "quiet"}),
    )
    with serve(app) as served:
        yield served


def test_discovery_documents_match_the_kubernetes_shapes(adapter: Served) -> None:
    status, kind, body = get(adapter.url + "/apis")
    assert (status, kind) == (200, "application/json")
    assert body == {"kind": "APIGroupList", "apiVersion": "v1", "groups": [GROUP]}
    assert get(adapter.url + "/apis/external.metrics.k8s.io")[2] == {
        "kind": "APIGroup",
        "apiVersion": "v1",
        **GROUP,
    }
    status, _, resources = get(adapter.url + PREFIX)
    assert status == 200
    assert resources["kind"] == "APIResourceList"
    assert resources["apiVersion"] == "v1"
    assert resources["groupVersion"] == "external.metrics.k8s.io/v1beta1"
    assert resources["resources"] == [
        {
            "name": name,
            "singularName": "",
            "namespaced": True,
            "kind": "ExternalMetricValueList",
            "verbs": ["get"],
        }
        for name in ("queue_depth", "jobs:backlog")  # the Pods metric is not listed
    ]


def test_a_value_list_carries_series_labels_and_canonical_quantities(
    adapter: Served, fake: FakePrometheus
) -> None:
    fake.series["team-a"] = [
        ({"queue": "jobs"}, 1.5),
        ({"queue": "mail"}, 2000.0),
        ({"queue": "tiny"}, 0.25),
    ]
    status, kind, body = get(
        adapter.url + PREFIX + "/namespaces/team-a/queue_depth",
        headers={"Accept": "application/vnd.kubernetes.protobuf, */*"},
    )
    assert (status, kind) == (200, "application/json")
    assert list(body) == ["kind", "apiVersion", "metadata", "items"]
    assert body["kind"] == "ExternalMetricValueList"
    assert body["apiVersion"] == "external.metrics.k8s.io/v1beta1"
    assert body["metadata"] == {}
    stamp = body["items"][0]["timestamp"]
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", stamp)
    assert body["items"] == [
        {"metricName": "queue_depth", "metricLabels": {"queue": q}, "timestamp": stamp, "value": v}
        for q, v in (("jobs", "1500m"), ("mail", "2k"), ("tiny", "250m"))
    ]


def test_selectors_become_escaped_matchers_in_either_url_encoding(
    adapter: Served, fake: FakePrometheus
) -> None:
    fake.series["default"] = [({"queue": "a"}, 3.0)]
    plus = get(
        adapter.url + PREFIX + "/namespaces/default/queue_depth?labelSelector="
        "queue+in+%28b%2Ca%29%2Cregion%21%3Deu"
    )
    spaces = get(
        adapter.url
        + PREFIX
        + "/namespaces/default/queue_depth?labelSelector="
        + urllib.parse.quote("region!=eu, queue in (a,b)")
    )
    assert plus[0] == spaces[0] == 200
    assert plus[2]["items"][0]["value"] == spaces[2]["items"][0]["value"] == "3"
    assert any('queue=~"a|b", region!="eu"' in q for q in fake.queries)
    assert len({q for q in fake.queries if "region" in q}) == 1  # one cache entry for both


@pytest.mark.parametrize(
    "selector",
    [
        pytest.param('queue="x"}) or vector(1) #', id="quote-and-brace"),
        pytest.param("queue=a\\", id="backslash"),
        pytest.param("queue in (a", id="unclosed-set"),
        pytest.param("__name__=up", id="reserved-label"),
        pytest.param("app.kubernetes.io/name=web", id="not-a-prometheus-label"),
        pytest.param("replicas>3", id="numeric-comparison"),
        pytest.param("a=b,", id="trailing-comma"),
        pytest.param("queue in (a b)", id="set-without-comma"),
    ],
)
def test_bad_or_hostile_selectors_are_a_400_status(
    adapter: Served, fake: FakePrometheus, selector: str
) -> None:
    url = (
        adapter.url
        + PREFIX
        + "/namespaces/default/queue_depth?labelSelector="
        + urllib.parse.quote(selector)
    )
    status, kind, body = get(url)
    assert (status, kind) == (400, "application/json")
    assert body["kind"] == "Status" and body["reason"] == "BadRequest" and body["code"] == 400
    assert "\n" not in body["message"]
    assert fake.queries == []


@pytest.mark.parametrize(
    ("path", "message"),
    [
        (
            PREFIX + "/namespaces/default/unknown_metric",
            "the server could not find the metric unknown_metric for namespace default",
        ),
        (
            PREFIX + "/namespaces/kube-system/queue_depth",
            "namespace kube-system is not served by this adapter",
        ),
        (PREFIX + "/namespaces/default", "the server could not find the requested resource"),
        (PREFIX + "/namespaces/default/a/b", "the server could not find the requested resource"),
        (PREFIX + "/queue_depth", "the server could not find the requested resource"),
        (PREFIX + "/", "the server could not find the requested resource"),
        ("/nothing/here", "the server could not find the requested resource"),
    ],
)
def test_not_found_is_a_404_status_never_a_redirect(
    adapter: Served, path: str, message: str
) -> None:
    status, kind, body = get(adapter.url + path)
    assert (status, kind) == (404, "application/json")
    assert body["reason"] == "NotFound" and body["message"] == message
    assert list(body)[:5] == ["kind", "apiVersion", "metadata", "status", "message"]


def test_a_percent_encoded_colon_in_the_metric_name_is_decoded(
    adapter: Served, fake: FakePrometheus
) -> None:
    fake.series["default"] = [({}, 7.0)]
    status, _, body = get(adapter.url + PREFIX + "/namespaces/default/jobs%3Abacklog")
    assert status == 200
    assert body["items"] == [
        {
            "metricName": "jobs:backlog",
            "metricLabels": {},
            "timestamp": body["items"][0]["timestamp"],
            "value": "7",
        }
    ]


def test_no_series_is_an_empty_list(adapter: Served) -> None:
    status, _, body = get(adapter.url + PREFIX + "/namespaces/quiet/queue_depth")
    assert status == 200 and body["items"] == []


def test_a_failing_source_is_a_503_status_without_waiting_long(
    adapter: Served, fake: FakePrometheus
) -> None:
    fake.fail = True
    started = time.monotonic()
    status, _, body = get(adapter.url + PREFIX + "/namespaces/default/queue_depth")
    assert time.monotonic() - started < 2
    assert status == 503 and body["reason"] == "ServiceUnavailable"
    assert "connection refused" in body["message"]


def test_values_outlive_an_outage_only_until_max_age_then_recover(
    adapter: Served, fake: FakePrometheus
) -> None:
    fake.series["team-a"] = [({"queue": "jobs"}, 5.0)]
    url = adapter.url + PREFIX + "/namespaces/team-a/queue_depth"
    assert get(url)[0] == 200
    fake.fail = True
    assert get(url)[0] == 200  # still fresh: maxAge is 4 s
    body = wait_value(url, lambda s, b: s == 503, timeout=10)
    assert "connection refused" in body["message"]
    fake.fail = False
    fake.series["team-a"] = [({"queue": "jobs"}, 6.0)]
    body = wait_value(url, lambda s, b: s == 200, timeout=10)
    assert body["items"][0]["value"] == "6"


def test_requests_do_not_wait_on_a_slow_source(adapter: Served, fake: FakePrometheus) -> None:
    fake.series["default"] = [({"queue": "jobs"}, 1.0)]
    url = adapter.url + PREFIX + "/namespaces/default/queue_depth"
    assert get(url)[0] == 200
    fake.delay = 1.5  # every refresh is slow from now on
    started = time.monotonic()
    for _ in range(20):
        assert get(url)[0] == 200
    assert time.monotonic() - started < 1.0


def test_concurrent_first_requests_for_a_new_key_all_wait_for_its_value(
    adapter: Served, fake: FakePrometheus
) -> None:
    # Five HPA workers (or two HPAs on one metric) asking at once: not only the first
    # request may wait for the first collection; the others must not get a 503.
    fake.series["team-a"] = [({"queue": "jobs"}, 2.0)]
    fake.delay = 0.5
    url = adapter.url + PREFIX + "/namespaces/team-a/queue_depth"
    with ThreadPoolExecutor(max_workers=4) as pool:
        answers = list(pool.map(lambda _: get(url), range(4)))
    assert [status for status, _, _ in answers] == [200] * 4
    assert {body["items"][0]["value"] for _, _, body in answers} == {"2"}


def test_discovery_answers_while_the_source_hangs(adapter: Served, fake: FakePrometheus) -> None:
    fake.delay = 2.5
    started = time.monotonic()
    assert get(adapter.url + PREFIX)[0] == 200
    assert time.monotonic() - started < 0.5


def test_openapi_documents_for_the_aggregator(adapter: Served) -> None:
    status, kind, v2 = get(adapter.url + "/openapi/v2")
    assert (status, kind) == (200, "application/json")
    assert v2["swagger"] == "2.0"
    value_path = PREFIX + "/namespaces/{namespace}/{metric}"
    assert set(v2["paths"]) == {PREFIX, value_path}
    assert v2["paths"][value_path]["get"]["responses"]["200"]["schema"] == {
        "$ref": "#/definitions/ExternalMetricValueList"
    }
    root = get(adapter.url + "/openapi/v3")[2]
    relative = root["paths"]["apis/external.metrics.k8s.io/v1beta1"]["serverRelativeURL"]
    v3 = get(adapter.url + relative)[2]
    assert v3["openapi"].startswith("3.0") and set(v3["paths"]) == {PREFIX, value_path}
    assert get(adapter.url + "/openapi.json")[0] == 404  # FastAPI's own is off
    assert get(adapter.url + "/docs")[0] == 404


def test_health_and_version(adapter: Served) -> None:
    for path in ("/healthz", "/livez", "/readyz"):
        assert get(adapter.url + path)[::2] == (200, "ok")
    status, _, version = get(adapter.url + "/version")
    assert status == 200 and version["gitVersion"] == "v0.1.0"


def test_other_methods_are_a_405_status(adapter: Served) -> None:
    import urllib.error
    import urllib.request

    request = urllib.request.Request(adapter.url + PREFIX, data=b"{}", method="POST")
    with pytest.raises(urllib.error.HTTPError) as raised:
        urllib.request.urlopen(request, timeout=5)
    assert raised.value.code == 405
    assert raised.value.headers["content-type"] == "application/json"


def test_label_capture_forgets_the_oldest_answers_first(monkeypatch: pytest.MonkeyPatch) -> None:
    from autoscaler.adapter import cache

    monkeypatch.setattr(cache, "_CAPTURE_LIMIT", 3)

    def runner(query: str, *, time: float) -> list[dict[str, Any]]:
        return [{"metric": {"__name__": "x", "q": query}, "value": [time, "1"]}]

    capture = cache.LabelCapture(runner)
    for query in ["a", "b", "c", "a", "d"]:  # "a" answered again: "b" is now the oldest
        capture(query, time=0.0)
    assert list(capture.labels) == ["c", "a", "d"]
    assert capture.labels["a"] == [{"q": "a"}]
