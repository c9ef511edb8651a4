"""`autoscaler run` against the real kube-apiserver: it reads /scale, pods and
metrics.k8s.io, decides, and patches /scale — observed with kubectl.

The test plays kubelet and metrics-server itself (pod status and PodMetrics objects) so
the loop's behaviour is checked independently of the simulator.
"""

from __future__ import annotations

import json
import time
import urllib.request
from pathlib import Path
from typing import Any

from e2e_support import (
    Kubectl,
    Testbed,
    deployment_at,
    policy,
    spec_replicas,
)
from kubernetes import client
from live_tooling import AutoscalerRun, wait_for
from live_tooling import run_once as autoscaler_run_once
from prometheus_fixture import free_port


def run_once(testbed: Testbed, policies: Path) -> list[dict[str, Any]]:
    # The files only: other tests' ScalingPolicy objects may still exist (a namespace
    # being deleted keeps them for a while).
    done = autoscaler_run_once(testbed.kubeconfig, policies, "--no-crds")
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr
    result: list[dict[str, Any]] = json.loads(done.stdout)
    return result


def test_run_scales_a_deployment_at_through_scale(
    testbed: Testbed, kube: client.ApiClient, kubectl: Kubectl, namespace: str, tmp_path: Path
) -> None:
    deployment_at(kubectl, kube, namespace, "web", cpu="900m")  # 90% of the request, target 50%
    (tmp_path / "web.yaml").write_text(policy(namespace, "web"))
    outcomes = run_once(testbed, tmp_path)
    assert [(o["current"], o["patched"]) for o in outcomes] == [(2, True)]
    assert outcomes[0]["decision"]["desiredReplicas"] == 4  # ceil(1.8 * 2)
    assert spec_replicas(kubectl, namespace, "web") == 4


def test_dry_run_decides_but_never_patches(
    testbed: Testbed, kube: client.ApiClient, kubectl: Kubectl, namespace: str, tmp_path: Path
) -> None:
    deployment_at(kubectl, kube, namespace, "shadow", cpu="900m")
    (tmp_path / "shadow.yaml").write_text(policy(namespace, "shadow", mode="DryRun"))
    outcomes = run_once(testbed, tmp_path)
    assert outcomes[0]["decision"]["desiredReplicas"] == 4
    assert outcomes[0]["patched"] is False
    assert spec_replicas(kubectl, namespace, "shadow") == 2


def test_a_broken_policy_next_to_a_good_one_does_not_stop_it(
    testbed: Testbed, kube: client.ApiClient, kubectl: Kubectl, namespace: str, tmp_path: Path
) -> None:
    deployment_at(kubectl, kube, namespace, "good", cpu="900m")
    (tmp_path / "good.yaml").write_text(policy(namespace, "good"))
    (tmp_path / "broken.yaml").write_text("kind: ScalingPolicy\nspec: [not, a, mapping\n")
    done = autoscaler_run_once(testbed.kubeconfig, tmp_path, "--log-format", "json")
    assert done.returncode == 0, done.stderr
    broken = [json.loads(line) for line in done.stderr.splitlines() if "broken policy" in line]
    assert broken and "broken.yaml" in broken[0]["msg"]
    assert spec_replicas(kubectl, namespace, "good") == 4


def test_once_with_no_policy_exits_1_and_says_where_it_looked(
    testbed: Testbed, namespace: str, tmp_path: Path
) -> None:
    done = autoscaler_run_once(testbed.kubeconfig, tmp_path, "--namespace", namespace)
    assert done.returncode == 1, done.stderr
    assert json.loads(done.stdout) == []
    assert done.stderr.splitlines()[-1] == (
        "autoscaler run --once: no policy found (files from --policies (AUTOSCALER_POLICIES), "
        "ScalingPolicy objects with --crds (AUTOSCALER_POLICY_CRDS))"
    )


def test_once_that_decides_nothing_exits_1_with_the_first_reason(
    testbed: Testbed, namespace: str, tmp_path: Path
) -> None:
    (tmp_path / "ghost.yaml").write_text(policy(namespace, "ghost"))  # no such Deployment
    done = autoscaler_run_once(testbed.kubeconfig, tmp_path, "--namespace", namespace)
    assert done.returncode == 1, done.stderr
    last = done.stderr.splitlines()[-1]
    assert last.startswith(
        f"autoscaler run --once: no policy could be decided: {namespace}/ghost: "
        "cannot read the scale of Deployment/ghost"
    ), last


def test_missing_kubeconfig_is_one_line_and_exit_2(tmp_path: Path) -> None:
    (tmp_path / "p.yaml").write_text(policy("default", "x"))
    done = autoscaler_run_once(tmp_path / "nope", tmp_path)
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1 and "cannot load Kubernetes config" in done.stderr


def test_the_service_reports_health_readiness_and_its_own_metrics(
    testbed: Testbed, kubectl: Kubectl, namespace: str, tmp_path: Path
) -> None:
    port = free_port()
    (tmp_path / "p.yaml").write_text(policy(namespace, "absent"))
    base = f"http://127.0.0.1:{port}"
    flags = ("--namespace", namespace, "--sync-period", "1", "--listen", f"127.0.0.1:{port}")
    with AutoscalerRun(testbed.kubeconfig, tmp_path, tmp_path / "run.log", *flags) as service:
        wait_for(lambda: readyz(base), "/readyz to answer 200", 30, interval=0.2)
        time.sleep(1.5)
        with urllib.request.urlopen(f"{base}/healthz", timeout=2) as answer:
            assert answer.read() == b"ok\n"
        with urllib.request.urlopen(f"{base}/metrics", timeout=2) as answer:
            text = answer.read().decode()
        assert "podscale_sync_duration_seconds_count" in text
        requests = [
            line for line in text.splitlines() if line.startswith("podscale_kube_requests_total")
        ]
        assert requests and float(requests[0].split()[-1]) > 0
        assert 'podscale_target_errors_total{namespace="' in text  # the absent target fails
    err = service.log.read_text()
    assert service.popen.returncode == 0 and "Traceback" not in err


def readyz(base: str) -> bool:
    try:
        with urllib.request.urlopen(f"{base}/readyz", timeout=2) as answer:
            return bool(answer.status == 200)
    except OSError:
        return False
