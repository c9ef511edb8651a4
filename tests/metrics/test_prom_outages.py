"""Prometheus going away and coming back: quick per-query failures, then values again."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from prometheus_fixture import Exporter, PrometheusServer, running_exporter, running_prometheus

from autoscaler.metrics.declarations import MetricDeclaration
from autoscaler.metrics.prometheus import MetricRequest, PrometheusSettings, PrometheusSource

pytestmark = pytest.mark.prometheus


@pytest.fixture
def own_prometheus() -> Iterator[tuple[Exporter, PrometheusServer]]:
    with running_exporter() as exporter, running_prometheus([exporter.target]) as server:
        yield exporter, server


def test_a_stopped_prometheus_fails_each_query_fast_then_recovers(
    own_prometheus: tuple[Exporter, PrometheusServer],
) -> None:
    exporter, server = own_prometheus
    exporter.set("podscale_up", {"namespace": "a", "pod": "web-1"}, 1)
    server.wait_for("podscale_up", timeout=20)
    declarations = [
        MetricDeclaration.model_validate(
            {"name": f"m{i}", "type": "External", "query": f"podscale_up * {i + 1}"}
        )
        for i in range(3)
    ]
    requests = [MetricRequest(target="t", namespace="a", declaration=d) for d in declarations]
    source = PrometheusSource(settings=PrometheusSettings(url=server.url, timeout=2.0))
    try:
        assert source.collect(requests, now=time.time()).targets["t"].external == {
            "m0": (1000,),
            "m1": (2000,),
            "m2": (3000,),
        }

        server.stop()
        started = time.monotonic()
        down = source.collect(requests, now=time.time())
        assert time.monotonic() - started < 2.0
        assert down.queries == 3
        assert sorted(down.query_failures) == [
            f"prometheus {server.url}: connection refused; query: podscale_up * {i}"
            for i in (1, 2, 3)
        ]
        assert {f.reason for f in down.targets["t"].failures.values()} == {"QueryFailed"}
        assert down.targets["t"].external == {}

        exporter.set("podscale_up", {"namespace": "a", "pod": "web-1"}, 2)
        server.start()
        server.wait_for("podscale_up == 2", timeout=20)
        back = source.collect(requests, now=time.time()).targets["t"]
        assert back.failures == {}
        assert back.external == {"m0": (2000,), "m1": (4000,), "m2": (6000,)}
    finally:
        source.close()
