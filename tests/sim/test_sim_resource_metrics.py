"""The simulated kubelets' ``/metrics/resource``: the text metrics-server parses, counters
that integrate the simulated CPU and never shrink, served over HTTPS; and the PodMetrics
writer standing aside where a real metrics-server serves the metrics API."""

from __future__ import annotations

import ssl
import urllib.error
import urllib.request
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from autoscaler.sim.api import Reply
from autoscaler.sim.publisher import READ_ONLY_RETRY_S, PodMetricsWriter
from autoscaler.sim.resource_metrics import (
    KubeletEndpoints,
    NodeCounters,
    Placement,
    render,
    server_tls,
)
from autoscaler.sim.traffic import PodCounters

KEY = ("Deployment", "ns", "web")


def counters(cpu_seconds: float, memory: float, at: float) -> PodCounters:
    return PodCounters(workload=KEY, container="app", cpu_seconds=cpu_seconds,
                       memory_bytes=memory, sampled_at=at)  # fmt: skip


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], tuple[float, Any]]:
    """(name, labels) -> (value, timestamp), as a Prometheus text parser reads them."""
    out = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = (s.value, s.timestamp)
    return out


def test_a_node_serves_its_pods_counters_with_timestamps_in_the_kubelets_names() -> None:
    nodes = NodeCounters(["n0", "n1"])
    placed = {("ns", "a"): Placement("n0", 1000.0), ("ns", "b"): Placement("n1", 1001.0)}
    nodes.update({("ns", "a"): counters(2.5, 100e6, 1010.0),
                  ("ns", "b"): counters(1.0, 50e6, 1010.0)}, placed, 1010.0)  # fmt: skip
    got = samples(render(nodes.sample("n0")))
    container = (("container", "app"), ("namespace", "ns"), ("pod", "a"))
    pod = (("namespace", "ns"), ("pod", "a"))
    assert got[("container_cpu_usage_seconds_total", container)][0] == 2.5
    assert got[("container_memory_working_set_bytes", container)][0] == 100e6
    assert got[("container_start_time_seconds", container)][0] == 1000.0
    assert got[("pod_cpu_usage_seconds_total", pod)][0] == 2.5
    assert got[("pod_memory_working_set_bytes", pod)][0] == 100e6
    assert got[("node_cpu_usage_seconds_total", ())][0] == 2.5  # b is on n1
    assert got[("node_memory_working_set_bytes", ())][0] == 100e6
    # metrics-server reads each sample's own timestamp (milliseconds) as its time
    assert float(got[("container_cpu_usage_seconds_total", container)][1]) == 1010.0


def test_a_nodes_cpu_counter_adds_its_pods_increments_and_never_shrinks() -> None:
    nodes = NodeCounters(["n0"])
    placed = {("ns", "a"): Placement("n0", 0.0), ("ns", "b"): Placement("n0", 0.0)}
    nodes.update({("ns", "a"): counters(1.0, 1, 1), ("ns", "b"): counters(2.0, 1, 1)}, placed, 1)
    nodes.update({("ns", "a"): counters(1.5, 1, 2), ("ns", "b"): counters(2.5, 1, 2)}, placed, 2)
    assert nodes.sample("n0").cpu_seconds == 4.0
    nodes.update({("ns", "a"): counters(2.0, 1, 3)}, placed, 3)  # b is gone
    assert nodes.sample("n0").cpu_seconds == 4.5
    assert [p.name for p in nodes.sample("n0").pods] == ["a"]
    assert nodes.sample("n0").memory_bytes == 1


def test_the_endpoint_answers_over_https_on_its_own_port() -> None:
    nodes = NodeCounters(["n0", "n1"])
    nodes.update({("ns", "a"): counters(3.0, 10e6, 5.0)}, {("ns", "a"): Placement("n1", 1)}, 5)
    endpoints = KubeletEndpoints(nodes, ["n0", "n1"], host="127.0.0.1",
                                 tls=server_tls(None, None))  # fmt: skip
    try:
        insecure = ssl.create_default_context()
        insecure.check_hostname = False
        insecure.verify_mode = ssl.CERT_NONE  # as metrics-server's --kubelet-insecure-tls
        ports = endpoints.ports
        assert len(set(ports.values())) == 2
        url = f"https://127.0.0.1:{ports['n1']}/metrics/resource"
        with urllib.request.urlopen(url, context=insecure, timeout=10) as answer:
            text = answer.read().decode()
            assert answer.headers["Content-Type"].startswith("text/plain")
        assert samples(text)[("node_cpu_usage_seconds_total", ())][0] == 3.0
        with pytest.raises(urllib.error.HTTPError) as missing:
            urllib.request.urlopen(f"https://127.0.0.1:{ports['n1']}/stats/summary",
                                   context=insecure, timeout=10)  # fmt: skip
        assert missing.value.code == 404
    finally:
        endpoints.close()


class ReadOnlyMetricsApi:
    """metrics.k8s.io as a real metrics-server serves it: lists work, creates get 405."""

    def __init__(self) -> None:
        self.creates = 0
        self.warnings: list[str] = []
        self.custom = self

    def __getattr__(self, name: str) -> Any:
        def method(*args: Any, **kwargs: Any) -> None: ...

        method.__name__ = name
        return method

    def warn(self, message: str) -> None:
        self.warnings.append(message)

    def call(self, what: str, method: Any, *args: Any, **kwargs: Any) -> Reply:
        if method.__name__.startswith("list_"):
            return Reply(200, {"items": []})
        self.creates += 1
        return Reply(405)


def test_the_pod_metrics_writer_stands_aside_where_metrics_server_serves_the_api() -> None:
    clock = [0.0]
    api = ReadOnlyMetricsApi()
    writer = PodMetricsWriter(api=api, namespace=None, clock=lambda: clock[0])  # type: ignore[arg-type]
    pods = {("ns", f"web-{i}"): counters(1.0, 1.0, 1.0) for i in range(20)}
    for second in range(10):
        clock[0] = float(second)
        writer.publish(pods)
    assert api.creates == 1  # one refused write, not twenty pods a tick
    assert len(api.warnings) == 1 and "metrics-server" in api.warnings[0]
    clock[0] = READ_ONLY_RETRY_S + 1
    writer.publish(pods)
    assert api.creates == 2  # it tries again later (the API may have become writable)
