"""The loop's Prometheus edges against a real Prometheus: declared custom metrics and
CPU/memory for clusters without metrics-server, feeding the same controller."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from prometheus_fixture import PromEnv, running_exporter, running_prometheus
from test_loop_controller import NOW, FakeCluster

from autoscaler.core.model import Settings
from autoscaler.loop.controller import Controller
from autoscaler.loop.custom_metrics import PrometheusMetrics
from autoscaler.loop.resource_prometheus import PrometheusResourceMetrics
from autoscaler.loop.targets import targets_from_files
from autoscaler.metrics.declarations import load_declarations
from autoscaler.metrics.prometheus import PrometheusSettings, PrometheusSource
from autoscaler.ports import LoopError

DECLARATIONS = """\
apiVersion: podscale.dev/v1alpha1
kind: MetricDeclarations
metadata: {name: test}
spec:
  metrics:
    - name: rps
      type: Pods
      query: sum by (namespace, pod) (http_rps{namespace="{namespace}", {selector}})
"""
POLICY = """\
apiVersion: podscale.dev/v1alpha1
kind: ScalingPolicy
metadata: {name: hot, namespace: shop}
spec:
  scaleTargetRef: {apiVersion: apps/v1, kind: Deployment, name: hot}
  maxReplicas: 10
  metrics:
    - type: Pods
      pods:
        metric: {name: rps}
        target: {type: AverageValue, averageValue: "100"}
    - type: Pods
      pods:
        metric: {name: undeclared}
        target: {type: AverageValue, averageValue: "1"}
"""


@pytest.fixture(scope="module")
def prom() -> Iterator[PromEnv]:
    with running_exporter() as exporter, running_prometheus([exporter.target]) as server:
        yield PromEnv(exporter, server)


def test_declared_pods_metric_drives_the_controller(prom: PromEnv, tmp_path: Path) -> None:
    for i, rps in enumerate((250, 150)):
        prom.exporter.set("http_rps", {"namespace": "shop", "pod": f"hot-{i}"}, rps)
    prom.exporter.set("http_rps", {"namespace": "shop", "pod": "other-0"}, 9999)  # not a target pod
    prom.server.wait_for('http_rps{namespace="shop"}', count=3)
    (tmp_path / "metrics.yaml").write_text(DECLARATIONS)
    (tmp_path / "policies").mkdir()
    (tmp_path / "policies" / "hot.yaml").write_text(POLICY)
    declarations = load_declarations([str(tmp_path / "metrics.yaml")])
    assert not declarations.errors
    source = PrometheusSource(settings=PrometheusSettings(url=prom.server.url))
    metrics = PrometheusMetrics(source, declarations.metrics)
    cluster = FakeCluster(replicas={"hot": 2})
    loop = Controller(
        scales=cluster,
        pods=cluster,
        resource_metrics=None,
        custom_metrics=metrics,
        settings=Settings(),
    )
    targets = targets_from_files([str(tmp_path / "policies")]).targets
    outcome = loop.sync(targets, now=time.time())[0]
    assert outcome.decision is not None
    rps, undeclared = outcome.decision.metrics
    assert rps.proposal == 4  # average 200 / 100 = 2; ceil(2 * 2)
    assert undeclared.error and "no MetricDeclarations entry declares" in undeclared.error
    assert cluster.writes == [("hot", 4)]
    assert metrics.queries == 1


def test_cpu_and_memory_from_cadvisor_series(prom: PromEnv) -> None:
    labels = {"namespace": "shop", "pod": "hot-0", "container": "app"}
    prom.exporter.set("container_memory_working_set_bytes", labels, 200 * 2**20)
    for second in range(7):  # a counter growing by 0.5 CPU-seconds per second
        prom.exporter.set("container_cpu_usage_seconds_total", labels, 100 + 0.5 * second)
        time.sleep(1.0)
    prom.server.wait_for('container_memory_working_set_bytes{namespace="shop"}')
    source = PrometheusResourceMetrics(
        PrometheusSource(settings=PrometheusSettings(url=prom.server.url)), window=4
    )
    usage = source.usage("shop", "app=hot")
    sample = usage["hot-0"]
    assert sample.containers["app"]["memory"] == 200 * 2**20 * 1000
    assert 400 <= sample.containers["app"]["cpu"] <= 650  # about 500m
    assert sample.window == 4


def test_prometheus_down_is_a_one_line_error() -> None:
    source = PrometheusResourceMetrics(
        PrometheusSource(settings=PrometheusSettings(url="http://127.0.0.1:9", timeout=1))
    )
    with pytest.raises(LoopError) as caught:
        source.usage("shop", "app=hot")
    assert "connection refused" in str(caught.value) and "\n" not in str(caught.value)
    assert NOW  # shared constant still importable


SINGLE_METRIC_POLICY = POLICY.split(
    "    - type: Pods\n      pods:\n        metric: {name: undeclared}"
)[0]


def test_prometheus_stopped_means_no_scale_down_with_the_reason_then_recovery(
    prom: PromEnv, tmp_path: Path
) -> None:
    """Like the HPA with a failed metric: hold (never scale down), say why, recover."""
    for i in range(4):
        prom.exporter.set("http_rps", {"namespace": "shop", "pod": f"hot-{i}"}, 10)  # low load
    prom.server.wait_for('http_rps{namespace="shop", pod="hot-3"}')
    (tmp_path / "metrics.yaml").write_text(DECLARATIONS)
    (tmp_path / "policies").mkdir()
    (tmp_path / "policies" / "hot.yaml").write_text(SINGLE_METRIC_POLICY)
    declarations = load_declarations([str(tmp_path / "metrics.yaml")]).metrics
    source = PrometheusSource(settings=PrometheusSettings(url=prom.server.url, timeout=2))
    cluster = FakeCluster(replicas={"hot": 4})
    loop = Controller(
        scales=cluster,
        pods=cluster,
        resource_metrics=None,
        custom_metrics=PrometheusMetrics(source, declarations),
        settings=Settings(downscale_stabilization_window=0),  # scale-down would be immediate
    )
    targets = targets_from_files([str(tmp_path / "policies")]).targets
    prom.server.stop()
    try:
        outcome = loop.sync(targets, now=time.time())[0]
    finally:
        prom.server.start()
    assert outcome.decision is not None and not outcome.patched
    assert cluster.replicas["hot"] == 4  # no scale-down on an invalid metric
    active = next(c for c in outcome.decision.conditions if c.type == "ScalingActive")
    assert (active.status, active.reason) == ("False", "FailedGetPodsMetric")
    assert "connection refused" in active.message and prom.server.url in active.message
    prom.server.wait_for('http_rps{namespace="shop", pod="hot-3"}', timeout=30)
    recovered = loop.sync(targets, now=time.time())[0]
    assert recovered.patched and cluster.replicas["hot"] == 1  # 10/100 rps per pod: scale in
