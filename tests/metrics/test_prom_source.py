"""The batched source against a real Prometheus: batching, slicing, and every failure kind."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from typing import Any

import pytest
from prometheus_fixture import PromEnv

from autoscaler.metrics.declarations import MetricDeclaration
from autoscaler.metrics.prometheus import (
    MetricRequest,
    ObjectRef,
    PrometheusSettings,
    PrometheusSource,
)
from autoscaler.selectors import Requirement

pytestmark = pytest.mark.prometheus

PER_NAMESPACE = 'sum by (namespace, pod) (podscale_rps{namespace="{namespace}", {selector}})'
CLUSTER_WIDE = "sum by (namespace, pod) (podscale_rps{{selector}})"


def declare(name: str, kind: str, query: str, **extra: Any) -> MetricDeclaration:
    return MetricDeclaration.model_validate({"name": name, "type": kind, "query": query, **extra})


def request(
    target: str, namespace: str, declaration: MetricDeclaration, **extra: Any
) -> MetricRequest:
    return MetricRequest(target=target, namespace=namespace, declaration=declaration, **extra)


class CountingRunner:
    """The real HTTP runner, counting the queries that reach Prometheus."""

    def __init__(self, source: PrometheusSource) -> None:
        self.source = source
        self.sent: list[str] = []

    def __call__(self, query: str, *, time: float) -> list[dict[str, Any]]:
        self.sent.append(query)
        return self.source._query(query, time=time)


def test_targets_sharing_a_rendered_query_send_it_once(
    prom_env: PromEnv, source: PrometheusSource, namespace: str
) -> None:
    others = [f"{namespace}-{i}" for i in range(4)]
    for i, ns in enumerate([namespace, *others]):
        prom_env.exporter.set("podscale_rps", {"namespace": ns, "pod": "web-1"}, i + 0.5)
    prom_env.server.wait_for(f'podscale_rps{{namespace=~"{namespace}.*"}}', count=5)
    counting = CountingRunner(source)
    batched = PrometheusSource(settings=source.settings, runner=counting)
    per_ns = declare("rps", "Pods", PER_NAMESPACE)
    everywhere = declare("rps_all", "Pods", CLUSTER_WIDE)
    requests = [request(f"{namespace}/t{i}", namespace, per_ns) for i in range(3)]
    requests += [request(f"{ns}/t", ns, everywhere) for ns in [namespace, *others]]
    collection = batched.collect(requests, now=time.time())
    assert collection.queries == 2
    assert len(counting.sent) == 2
    for i in range(3):
        assert collection.targets[f"{namespace}/t{i}"].pods == {"rps": {"web-1": 500}}
    for i, ns in enumerate(others, start=1):
        assert collection.targets[f"{ns}/t"].pods == {"rps_all": {"web-1": i * 1000 + 500}}


def test_pods_are_sliced_by_pod_and_filtered(
    prom_env: PromEnv, source: PrometheusSource, namespace: str
) -> None:
    for pod, value in [("web-1", 1.5), ("web-2", 0.0001), ("web-3", 7.0)]:
        prom_env.exporter.set("podscale_rps", {"namespace": namespace, "pod": pod}, value)
    prom_env.exporter.set(
        "podscale_rps", {"namespace": namespace, "pod": "web-1", "code": "500"}, 2
    )
    prom_env.server.wait_for(f'podscale_rps{{namespace="{namespace}"}}', count=4)
    rps = declare("rps", "Pods", PER_NAMESPACE)
    wanted = frozenset({"web-1", "web-2"})
    collection = source.collect(
        [
            request("all", namespace, rps),
            request("two", namespace, rps, pods=wanted),
            request("no500", namespace, rps, selector=(Requirement("code", "DoesNotExist"),)),
        ],
        now=time.time(),
    )
    assert collection.queries == 2
    assert collection.targets["all"].pods == {"rps": {"web-1": 3500, "web-2": 1, "web-3": 7000}}
    assert collection.targets["two"].pods == {"rps": {"web-1": 3500, "web-2": 1}}
    assert collection.targets["no500"].pods == {"rps": {"web-1": 1500, "web-2": 1, "web-3": 7000}}
    assert collection.targets["all"].metric_data().pods["rps"]["web-3"] == 7000


def test_external_returns_every_series_and_object_exactly_one(
    prom_env: PromEnv, source: PrometheusSource, namespace: str
) -> None:
    for queue, depth in [("jobs", 30), ("mail", 12.25), ("spam", 1000)]:
        prom_env.exporter.set("podscale_queue", {"namespace": namespace, "queue": queue}, depth)
    prom_env.server.wait_for(f'podscale_queue{{namespace="{namespace}"}}', count=3)
    depth = declare(
        "depth", "External", 'sum by (queue) (podscale_queue{namespace="{namespace}", {selector}})'
    )
    total = declare(
        "total",
        "Object",
        'sum(podscale_queue{namespace="{namespace}", queue=~"{object_name}|mail"})',
    )
    each = declare("each", "Object", 'podscale_queue{namespace="{namespace}"}')
    not_spam = (Requirement("queue", "NotIn", ("spam",)),)
    collection = source.collect(
        [
            request("t", namespace, depth, selector=not_spam),
            request("t", namespace, total, described_object=ObjectRef("Queue", "jobs")),
            request("u", namespace, each),
        ],
        now=time.time(),
    )
    result = collection.targets["t"]
    assert sorted(result.external["depth"]) == [12250, 30000]
    assert sum(result.metric_data().external["depth"]) == 42250
    assert result.object == {"total": 42250}
    failure = collection.targets["u"].failures["each"]
    assert (failure.reason, failure.message) == (
        "InvalidResult",
        "3 series; an Object metric needs exactly one",
    )


def test_old_samples_are_stale_and_stale_pods_are_left_out(
    prom_env: PromEnv, source: PrometheusSource, namespace: str
) -> None:
    now = time.time()
    exporter = prom_env.exporter
    exporter.set("podscale_rec", {"namespace": namespace, "pod": "old"}, 5, timestamp=now - 120)
    exporter.set("podscale_rec", {"namespace": namespace, "pod": "new"}, 6)
    exporter.set("podscale_ext", {"namespace": namespace}, 9, timestamp=now - 120)
    prom_env.server.wait_for(f'podscale_rec{{namespace="{namespace}"}}', count=2)
    prom_env.server.wait_for(f'podscale_ext{{namespace="{namespace}"}}')
    plain = declare("rec", "Pods", 'podscale_rec{namespace="{namespace}", {selector}}', maxAge=60)
    only_old = (Requirement("pod", "In", ("old",)),)
    strict = declare("e", "External", 'podscale_ext{namespace="{namespace}"}', maxAge=60)
    lenient = declare("e2", "External", 'podscale_ext{namespace="{namespace}"}', maxAge=300)
    # A computed value is reported at evaluation time: fresh while Prometheus returns it.
    computed = declare("max", "Pods", 'max by (pod) (podscale_rec{namespace="{namespace}"})')
    collection = source.collect(
        [
            request("t", namespace, plain),
            request("old", namespace, plain, selector=only_old),
            request("t", namespace, strict),
            request("t", namespace, lenient),
            request("t", namespace, computed),
        ],
        now=time.time(),
    )
    result = collection.targets["t"]
    assert result.pods == {"rec": {"new": 6000}, "max": {"old": 5000, "new": 6000}}
    assert result.external == {"e2": (9000,)}
    assert result.failures["e"].reason == "MetricStale"
    assert result.failures["e"].message.endswith(" s old, older than maxAge 60 s")
    assert 115 <= int(result.failures["e"].message.split()[1]) <= 135
    assert collection.targets["old"].failures["rec"].reason == "MetricStale"


def test_no_series_is_no_data_never_zero(source: PrometheusSource, namespace: str) -> None:
    rps = declare("rps", "Pods", PER_NAMESPACE)
    ext = declare("ext", "External", 'podscale_missing{namespace="{namespace}"}')
    result = source.collect(
        [request("t", namespace, rps), request("t", namespace, ext)], now=time.time()
    ).targets["t"]
    assert result.pods == {} and result.external == {}
    assert {f.reason for f in result.failures.values()} == {"NoData"}
    assert result.failures["ext"].message == (
        f'no series for namespace {namespace}: podscale_missing{{namespace="{namespace}"}}'
    )


def test_a_query_may_end_in_a_comment(
    prom_env: PromEnv, source: PrometheusSource, namespace: str
) -> None:
    prom_env.exporter.set("podscale_depth", {"namespace": namespace}, 12)
    prom_env.server.wait_for(f'podscale_depth{{namespace="{namespace}"}}')
    commented = declare(
        "depth", "External", 'podscale_depth{namespace="{namespace}"} # the queue, as is'
    )
    result = source.collect([request("t", namespace, commented)], now=time.time()).targets["t"]
    assert (result.external, result.failures) == ({"depth": (12000,)}, {})


def test_the_no_data_message_is_one_line_for_a_query_of_several(
    source: PrometheusSource, namespace: str
) -> None:
    query = 'sum(\n  podscale_missing{namespace="{namespace}"}\n)'
    missing = declare("missing", "External", query)
    result = source.collect([request("t", namespace, missing)], now=time.time()).targets["t"]
    assert result.failures["missing"].message == (
        f'no series for namespace {namespace}: sum( podscale_missing{{namespace="{namespace}"}} )'
    )


def test_nan_and_infinity_are_invalid(
    prom_env: PromEnv, source: PrometheusSource, namespace: str
) -> None:
    prom_env.exporter.set("podscale_bad", {"namespace": namespace, "kind": "nan"}, float("nan"))
    prom_env.exporter.set("podscale_bad", {"namespace": namespace, "kind": "inf"}, float("inf"))
    prom_env.server.wait_for(f'podscale_bad{{namespace="{namespace}"}}', count=2)
    bad = declare("bad", "External", 'podscale_bad{namespace="{namespace}", {selector}}')
    collection = source.collect(
        [
            request(kind, namespace, bad, selector=(Requirement("kind", "In", (kind,)),))
            for kind in ("nan", "inf")
        ],
        now=time.time(),
    )
    for kind, shown in (("nan", "nan"), ("inf", "inf")):
        failure = collection.targets[kind].failures["bad"]
        assert failure.reason == "InvalidValue"
        assert failure.message.startswith(f"value {shown} is not a finite number ({{")


def test_prometheus_errors_and_bad_selectors_are_failures(
    source: PrometheusSource, namespace: str
) -> None:
    broken = declare("broken", "External", "sum(rate(podscale_rps[1m])) by")
    rps = declare("rps", "Pods", PER_NAMESPACE)
    bad_key = (Requirement("app.kubernetes.io/name", "In", ("web",)),)
    collection = source.collect(
        [request("t", namespace, broken), request("t", namespace, rps, selector=bad_key)],
        now=time.time(),
    )
    assert collection.queries == 1
    failures = collection.targets["t"].failures
    assert failures["broken"].reason == "QueryFailed"
    assert failures["broken"].message.startswith(f"prometheus {source.settings.url}: HTTP 400: ")
    assert failures["broken"].message.endswith("; query: sum(rate(podscale_rps[1m])) by")
    assert "\n" not in failures["broken"].message
    assert collection.query_failures == (failures["broken"].message,)
    assert failures["rps"].reason == "InvalidSelector"


@pytest.fixture
def silent_server() -> Iterator[str]:
    """A port that accepts connections and never answers."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(16)
        yield f"http://127.0.0.1:{listener.getsockname()[1]}"


def test_a_silent_server_times_out_per_query_without_hanging(silent_server: str) -> None:
    settings = PrometheusSettings(url=silent_server, timeout=0.5, max_workers=2)
    source = PrometheusSource(settings=settings)
    queries = [declare(f"m{i}", "External", f"podscale_m{i}") for i in range(3)]
    started = time.monotonic()
    collection = source.collect([request("t", "default", d) for d in queries], now=time.time())
    elapsed = time.monotonic() - started
    source.close()
    assert elapsed < 3.0
    assert collection.queries == 3
    for i in range(3):
        assert collection.targets["t"].failures[f"m{i}"].message == (
            f"prometheus {silent_server}: no answer within 0.5 s; query: podscale_m{i}"
        )
