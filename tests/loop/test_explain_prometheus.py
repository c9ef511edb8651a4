"""``autoscaler explain``'s diagnosis of a declared metric whose query finds nothing,
against a real Prometheus: the sentence quotes the query as it was sent."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from prometheus_fixture import PromEnv, running_exporter, running_prometheus
from test_loop_controller import FakeCluster

from autoscaler.core import decide
from autoscaler.core.model import Settings
from autoscaler.explain_diagnoses import diagnoses
from autoscaler.loop.controller import Controller, Outcome
from autoscaler.loop.custom_metrics import PrometheusMetrics
from autoscaler.loop.targets import targets_from_files
from autoscaler.metrics.declarations import load_declarations
from autoscaler.metrics.prometheus import PrometheusSettings, PrometheusSource

DECLARATIONS = """\
apiVersion: podscale.dev/v1alpha1
kind: MetricDeclarations
metadata: {name: test}
spec:
  metrics:
    - name: rps
      type: Pods
      query: sum by (namespace, pod) (http_rps_never{namespace="{namespace}", {selector}})
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
        metric: {name: rps, selector: {matchLabels: {app: hot}}}
        target: {type: AverageValue, averageValue: "100"}
"""


@pytest.fixture(scope="module")
def prom() -> Iterator[PromEnv]:
    with running_exporter() as exporter, running_prometheus([exporter.target]) as server:
        yield PromEnv(exporter, server)


def test_a_query_returning_nothing_is_named_in_the_diagnosis(prom: PromEnv, tmp_path: Path) -> None:
    (tmp_path / "metrics.yaml").write_text(DECLARATIONS)
    (tmp_path / "hot.yaml").write_text(POLICY)
    declarations = load_declarations([str(tmp_path / "metrics.yaml")])
    source = PrometheusSource(settings=PrometheusSettings(url=prom.server.url))
    cluster = FakeCluster(replicas={"hot": 2})
    loop = Controller(
        scales=cluster,
        pods=cluster,
        resource_metrics=None,
        custom_metrics=PrometheusMetrics(source, declarations.metrics),
        settings=Settings(),
    )
    [target] = targets_from_files([str(tmp_path / "hot.yaml")]).targets
    snapshot = loop.read(target, now=time.time())
    assert not isinstance(snapshot, Outcome)
    assert diagnoses(snapshot, decide(snapshot)) == [
        "the Prometheus query for the Pods metric rps returned no series (an empty result "
        "is not 0, so the metric fails): sum by (namespace, pod) "
        '(http_rps_never{namespace="shop", app="hot"}); run it in Prometheus and check the '
        "labels it filters on"
    ]
