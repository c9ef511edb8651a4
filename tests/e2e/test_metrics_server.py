"""The real metrics-server (v0.8.0, on the current testbed) between the simulator and its
readers: ``autoscaler sim run`` serves each node's kubelet ``/metrics/resource``,
metrics-server scrapes it every 10 s and serves ``metrics.k8s.io`` through the
aggregator, and ``kubectl top``, ``autoscaler run --once`` and the native HPA read the
simulated CPU there, with metrics-server's own window and latency.

Skipped on 1.20 (no metrics-server there; see tests/e2e/conftest.py's ``metrics_api``).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from e2e_support import Kubectl, Testbed, apply, constant_load_scenario, hpa_api, hpa_path, raw
from live_tooling import WaitTimedOut, cpu_policy, run_once, wait_for
from testbed_fixture import Sim, SimSilent, start_sim

from autoscaler.sim.manifests import deployment_manifest

pytestmark = [pytest.mark.testbed, pytest.mark.metrics_server]

# 60 rps over 2 pods: 30 rps x 2m + 10m idle = 70m of a 100m request, 70 % per pod.
RPS, EXPECTED_MILLI = 60, 70


@pytest.fixture
def busy(testbed: Testbed, kubectl: Kubectl, namespace: str, tmp_path: Path) -> Iterator[Sim]:
    """Deployment ``busy`` (2 pods of 100m) under a constant 60 rps in the simulator."""
    apply(kubectl, namespace, deployment_manifest("busy", 2, cpu="100m"))
    scenario = constant_load_scenario(tmp_path, namespace, "Deployment", "busy", RPS)
    try:
        sim = start_sim(testbed.kubeconfig, "--namespace", namespace, "--scenario", str(scenario),
                        "--node-prefix", f"ms-{namespace[-6:]}", "--tick", "0.5",
                        "--duration", "120", stderr=tmp_path / "sim.err")  # fmt: skip
    except SimSilent as silent:
        pytest.fail(str(silent), pytrace=False)
    try:
        yield sim
    finally:
        sim.stop(grace=15)


def top_pods(kubectl: Kubectl, namespace: str) -> dict[str, int]:
    """``kubectl top pods``: pod -> CPU in millicores (empty while metrics are missing)."""
    done = kubectl("top", "pods", "-n", namespace, "--no-headers", check=False)
    found = {}
    for line in done.stdout.splitlines():
        match = re.match(r"(\S+)\s+(\d+)m\s", line)
        if match:
            found[match[1]] = int(match[2])
    return found


def test_kubectl_top_podscale_and_the_native_hpa_read_simulated_cpu_through_metrics_server(
    busy: Sim, testbed: Testbed, kubectl: Kubectl, namespace: str, tmp_path: Path
) -> None:
    # metrics.k8s.io is metrics-server's, through the aggregator (not the stand-in CRD)
    service = raw(kubectl, "/apis/apiregistration.k8s.io/v1/apiservices/v1beta1.metrics.k8s.io")
    assert (service["spec"].get("service") or {}).get("name") == "metrics-server"

    def steady() -> dict[str, int] | None:
        cpu = top_pods(kubectl, namespace)
        ok = len(cpu) == 2 and all(abs(m - EXPECTED_MILLI) <= 5 for m in cpu.values())
        return cpu if ok else None

    # two scrapes 10 s apart make the first rate; a window may still hold the start-up
    wait_for(steady, f"kubectl top to show 2 pods at {EXPECTED_MILLI}m", timeout=50)
    listed = raw(kubectl, f"/apis/metrics.k8s.io/v1beta1/namespaces/{namespace}/pods")
    windows = {item["window"] for item in listed["items"]}
    assert all(float(w.rstrip("s")) >= 5 for w in windows), windows  # scrape interval, not a tick

    # Podscale, once, in DryRun: 70 % against 50 % on 2 pods wants ceil(2.8) = 3
    policies = tmp_path / "policies"
    policies.mkdir()
    policy = cpu_policy("busy", namespace, mode="DryRun")
    (policies / "busy.yaml").write_text(json.dumps(policy))
    # A pod whose sample window began before it turned ready counts as not yet ready in
    # its first minutes (the HPA's CPU initialization rule, which Podscale copies), so the
    # first run may still hold at 2 until metrics-server's next scrape; the HPA waits too.
    outcomes: list[dict[str, Any]] = []

    def podscale_wants_3() -> bool:
        done = run_once(testbed.kubeconfig, policies, "--no-crds", "--namespace", namespace)
        assert done.returncode == 0, done.stderr
        (outcome,) = json.loads(done.stdout)
        outcomes.append(outcome)
        return bool(outcome["decision"]["desiredReplicas"] == 3)

    try:
        wait_for(podscale_wants_3, "autoscaler run --once to want 3 replicas", timeout=30)
    except WaitTimedOut:
        pytest.fail(f"Podscale never wanted 3; its last outcome: {outcomes[-1]}", pytrace=False)

    # the native HPA on the same figures scales to 3
    hpa: dict[str, Any] = {
        "apiVersion": hpa_api(),
        "kind": "HorizontalPodAutoscaler",
        "metadata": {"name": "busy"},
        "spec": {
            "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "busy"},
            "minReplicas": 1,
            "maxReplicas": 4,
            "metrics": [{"type": "Resource", "resource": {"name": "cpu", "target": {
                "type": "Utilization", "averageUtilization": 50}}}],
        },
    }  # fmt: skip
    apply(kubectl, namespace, hpa)

    def scaled() -> dict[str, Any] | None:
        status: dict[str, Any] = raw(kubectl, hpa_path(namespace, "busy")).get("status") or {}
        return status if status.get("desiredReplicas") == 3 else None

    status = wait_for(scaled, "the native HPA to want 3 replicas", timeout=30)
    utilization = status["currentMetrics"][0]["resource"]["current"]["averageUtilization"]
    assert abs(utilization - EXPECTED_MILLI) <= 5, status
