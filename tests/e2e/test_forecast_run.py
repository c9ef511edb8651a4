"""`autoscaler run` with a predictive policy against the real kube-apiserver: its
/metrics say which path decided and whether the forecast is trusted, and its forecast
history is written to --state-dir when it stops."""

from __future__ import annotations

import json
import urllib.request
from pathlib import Path

from e2e_support import Kubectl, Testbed, deployment_at
from kubernetes import client
from live_tooling import AutoscalerRun, cpu_policy, wait_for
from prometheus_fixture import free_port


def scrape(base: str) -> str:
    try:
        with urllib.request.urlopen(f"{base}/metrics", timeout=2) as answer:
            return str(answer.read().decode())
    except OSError:
        return ""


def test_a_predictive_policy_reports_its_path_and_keeps_its_history(
    testbed: Testbed, kubectl: Kubectl, kube: client.ApiClient, namespace: str, tmp_path: Path
) -> None:
    deployment_at(kubectl, kube, namespace, "web", "400m")
    policies = tmp_path / "policies"
    policies.mkdir()
    predictive = cpu_policy("web", namespace, predictive={"leadSeconds": 60})
    (policies / "web.yaml").write_text(json.dumps(predictive))
    state = tmp_path / "state"
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    flags = ("--namespace", namespace, "--sync-period", "1", "--listen", f"127.0.0.1:{port}")
    labels = f'namespace="{namespace}",path="reactive",policy="web"'
    with AutoscalerRun(
        testbed.kubeconfig, policies, tmp_path / "run.log", *flags, "--state-dir", str(state)
    ) as service:
        wait_for(lambda: labels in scrape(base), "podscale_decision_path", 60, interval=0.5)
        text = scrape(base)
        assert f"podscale_decision_path{{{labels}}} 1.0" in text
        assert f'podscale_forecast_trusted{{namespace="{namespace}",policy="web"}} 1.0' in text
        assert "podscale_forecast_fits_total" in text
    err = service.log.read_text()
    assert service.popen.returncode == 0 and "Traceback" not in err
    saved = state / "forecast-history.bin"
    assert saved.stat().st_size > 0  # written at shutdown
