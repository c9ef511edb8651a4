"""A live `autoscaler run` (leader election on) exports every series the dashboard and
the alerts read, with the values they expect: the wiring in run_command, not only the
registry the deploy tests collect names from (tests/deploy/test_deploy_monitoring.py)."""

from __future__ import annotations

import json
import socket
import subprocess
import time
import urllib.request
from pathlib import Path

from e2e_support import Kubectl, Testbed
from kubernetes import client
from prometheus_client.parser import text_string_to_metric_families
from test_loop_run import EXE, deployment, policy, running_pods

from autoscaler.loop.service import LoopMetrics


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def scrape(url: str) -> dict[str, list[tuple[dict[str, str], float]]]:
    with urllib.request.urlopen(url, timeout=2) as answer:
        text = answer.read().decode()
    samples: dict[str, list[tuple[dict[str, str], float]]] = {}
    for family in text_string_to_metric_families(text):
        samples.setdefault(family.name, [])
        for sample in family.samples:
            samples.setdefault(sample.name, []).append((sample.labels, sample.value))
    return samples


def test_a_leader_exports_every_family_with_per_policy_values_and_errors(
    testbed: Testbed, kube: client.ApiClient, kubectl: Kubectl, namespace: str, tmp_path: Path
) -> None:
    kubectl("apply", "-n", namespace, "-f", "-", input=json.dumps(deployment("web", 2)))
    running_pods(kube, namespace, "web", 2, cpu="900m")  # 90 % of the request, target 50 %
    (tmp_path / "web.yaml").write_text(policy(namespace, "web"))
    (tmp_path / "absent.yaml").write_text(policy(namespace, "absent"))
    port = free_port()
    proc = subprocess.Popen(
        [
            EXE,
            "run",
            "--kubeconfig",
            str(testbed.kubeconfig),
            "--policies",
            str(tmp_path),
            "--namespace",
            namespace,
            "--sync-period",
            "1",
            "--listen",
            f"127.0.0.1:{port}",
            "--leader-elect",
            "--leader-elect-namespace",
            namespace,
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    url = f"http://127.0.0.1:{port}/metrics"
    try:
        deadline = time.monotonic() + 60
        samples: dict[str, list[tuple[dict[str, str], float]]] = {}
        while time.monotonic() < deadline:
            try:
                samples = scrape(url)
            except OSError:
                samples = {}
            if samples.get("podscale_max_replicas") and samples.get("podscale_sync_errors_total"):
                break
            time.sleep(0.5)
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
    finally:
        proc.terminate()
        _, err = proc.communicate(timeout=20)
    assert proc.returncode == 0 and "Traceback" not in err
