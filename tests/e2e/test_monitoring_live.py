"""A live `autoscaler run` (leader election on) exports every series the dashboard and
the alerts read, with the values they expect: the wiring in run_command, not only the
registry the deploy tests collect names from (tests/deploy/test_deploy_monitoring.py)."""

from __future__ import annotations

import urllib.request
from pathlib import Path

from e2e_support import Kubectl, Testbed, deployment_at, policy
from kubernetes import client
from live_tooling import AutoscalerRun, wait_for
from prometheus_client.parser import text_string_to_metric_families
from prometheus_fixture import free_port

from autoscaler.loop.service import LoopMetrics


def scrape(url: str) -> dict[str, list[tuple[dict[str, str], float]]]:
    with urllib.request.urlopen(url, timeout=2) as answer:
        text = answer.read().decode()
    samples: dict[str, list[tuple[dict[str, str], float]]] = {}
    for family in text_string_to_metric_families(text):
        samples.setdefault(family.name, [])
        for sample in family.samples:
            samples.setdefault(sample.name, []).append((sample.labels, sample.value))
    return samples


def every_series_once(url: str) -> dict[str, list[tuple[dict[str, str], float]]] | None:
    """The samples, once a sync has exported both a policy's and a failed target's series."""
    samples = scrape(url)
    if samples.get("podscale_max_replicas") and samples.get("podscale_sync_errors_total"):
        return samples
    return None


def test_a_leader_exports_every_family_with_per_policy_values_and_errors(
    testbed: Testbed, kube: client.ApiClient, kubectl: Kubectl, namespace: str, tmp_path: Path
) -> None:
    deployment_at(kubectl, kube, namespace, "web", cpu="900m")  # 90 % of the request, target 50 %
    (tmp_path / "web.yaml").write_text(policy(namespace, "web"))
    (tmp_path / "absent.yaml").write_text(policy(namespace, "absent"))
    port = free_port()
    flags = ("--namespace", namespace, "--sync-period", "1", "--listen", f"127.0.0.1:{port}",
             "--leader-elect", "--leader-elect-namespace", namespace)  # fmt: skip
    url = f"http://127.0.0.1:{port}/metrics"
    with AutoscalerRun(testbed.kubeconfig, tmp_path, tmp_path / "run.log", *flags) as service:
        samples: dict[str, list[tuple[dict[str, str], float]]] = wait_for(
            lambda: every_series_once(url),
            "a sync of both policies in /metrics",
            60,
            interval=0.5,
            transient=(OSError,),
        )
        expected = {family.name for family in LoopMetrics().registry.collect()}
        expected |= {"podscale_kube_requests", "podscale_prometheus_queries"}
        expected |= {"podscale_leader", "podscale_sync_period_seconds"}
        assert expected - samples.keys() == set()
        assert [v for _, v in samples["podscale_leader"]] == [1.0]
        assert [v for _, v in samples["podscale_sync_period_seconds"]] == [1.0]
        web = {"namespace": namespace, "policy": "web"}
        assert [v for labels, v in samples["podscale_max_replicas"] if labels == web] == [10.0]
        targets = [
            (labels["metric_name"], labels["metric_target_type"], v)
            for labels, v in samples["podscale_metric_target"]
            if labels["policy"] == "web"
        ]
        assert targets == [("cpu", "utilization", 50.0)]
        scale_errors = [
            labels["reason"]
            for labels, _ in samples["podscale_sync_errors_total"]
            if labels["policy"] == "absent"
        ]
        assert scale_errors == ["FailedGetScale"]
        conditions = {
            (labels["type"], labels["status"])
            for labels, _ in samples["podscale_condition"]
            if labels["policy"] == "web"
        }
        assert {t for t, _ in conditions} == {"AbleToScale", "ScalingActive", "ScalingLimited"}
    err = service.log.read_text()
    assert service.popen.returncode == 0 and "Traceback" not in err
