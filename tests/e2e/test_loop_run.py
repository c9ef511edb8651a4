"""`autoscaler run` against the real kube-apiserver: it reads /scale, pods and
metrics.k8s.io, decides, and patches /scale — observed with kubectl.

The test plays kubelet and metrics-server itself (pod status and PodMetrics objects) so
the loop's behaviour is checked independently of the simulator.
"""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from e2e_support import Kubectl, Testbed
from kubernetes import client

from autoscaler.sim.manifests import deployment_manifest

EXE = str(Path(sys.executable).parent / "autoscaler")
HOUR_AGO = (dt.datetime.now(dt.UTC) - dt.timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ")


def deployment(name: str, replicas: int) -> dict[str, Any]:
    """Pods requesting 1 CPU, so a sample's millicores read directly as a percentage x 10."""
    return deployment_manifest(name, replicas, cpu="1")


def running_pods(kube: client.ApiClient, namespace: str, app: str, count: int, cpu: str) -> None:
    """Play kubelet and metrics-server: pods Running and Ready an hour ago, CPU usage now."""
    core = client.CoreV1Api(kube)
    custom = client.CustomObjectsApi(kube)
    deadline = time.monotonic() + 30
    pods: list[Any] = []
    while time.monotonic() < deadline:
        pods = core.list_namespaced_pod(namespace, label_selector=f"app={app}").items
        if len(pods) == count:
            break
        time.sleep(0.2)
    assert len(pods) == count, f"the Deployment controller created {len(pods)} pods, not {count}"
    now = dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    for pod in pods:
        core.patch_namespaced_pod_status(
            pod.metadata.name,
            namespace,
            {
                "status": {
                    "phase": "Running",
                    "startTime": HOUR_AGO,
                    "conditions": [
                        {"type": "Ready", "status": "True", "lastTransitionTime": HOUR_AGO}
                    ],
                }
            },
        )
        custom.create_namespaced_custom_object(
            "metrics.k8s.io",
            "v1beta1",
            namespace,
            "pods",
            {
                "apiVersion": "metrics.k8s.io/v1beta1",
                "kind": "PodMetrics",
                "metadata": {"name": pod.metadata.name, "labels": {"app": app}},
                "timestamp": now,
                "window": "30s",
                "containers": [{"name": "app", "usage": {"cpu": cpu, "memory": "100Mi"}}],
            },
        )


def policy(namespace: str, name: str, *, mode: str = "Enforce") -> str:
    return json.dumps(
        {
            "apiVersion": "podscale.dev/v1alpha1",
            "kind": "ScalingPolicy",
            "metadata": {"name": name, "namespace": namespace},
            "spec": {
                "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": name},
                "minReplicas": 1,
                "maxReplicas": 10,
                "mode": mode,
                "metrics": [
                    {
                        "type": "Resource",
                        "resource": {
                            "name": "cpu",
                            "target": {"type": "Utilization", "averageUtilization": 50},
                        },
                    }
                ],
            },
        }
    )


def run_once(testbed: Testbed, policies: Path) -> list[dict[str, Any]]:
    done = subprocess.run(
        [
            EXE,
            "run",
            "--once",
            "--kubeconfig",
            str(testbed.kubeconfig),
            "--policies",
            str(policies),
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr
    result: list[dict[str, Any]] = json.loads(done.stdout)
    return result


def spec_replicas(kubectl: Kubectl, namespace: str, name: str) -> int:
    raw = kubectl("get", "--raw", f"/apis/apps/v1/namespaces/{namespace}/deployments/{name}/scale")
    return int(json.loads(raw.stdout)["spec"]["replicas"])


def test_run_scales_a_hot_deployment_through_scale(
    testbed: Testbed, kube: client.ApiClient, kubectl: Kubectl, namespace: str, tmp_path: Path
) -> None:
    kubectl("apply", "-n", namespace, "-f", "-", input=json.dumps(deployment("web", 2)))
    running_pods(kube, namespace, "web", 2, cpu="900m")  # 90% of the request, target 50%
    (tmp_path / "web.yaml").write_text(policy(namespace, "web"))
    outcomes = run_once(testbed, tmp_path)
    assert [(o["current"], o["patched"]) for o in outcomes] == [(2, True)]
    assert outcomes[0]["decision"]["desiredReplicas"] == 4  # ceil(1.8 * 2)
    assert spec_replicas(kubectl, namespace, "web") == 4


def test_dry_run_decides_but_never_patches(
    testbed: Testbed, kube: client.ApiClient, kubectl: Kubectl, namespace: str, tmp_path: Path
) -> None:
    kubectl("apply", "-n", namespace, "-f", "-", input=json.dumps(deployment("shadow", 2)))
    running_pods(kube, namespace, "shadow", 2, cpu="900m")
    (tmp_path / "shadow.yaml").write_text(policy(namespace, "shadow", mode="DryRun"))
    outcomes = run_once(testbed, tmp_path)
    assert outcomes[0]["decision"]["desiredReplicas"] == 4
    assert outcomes[0]["patched"] is False
    assert spec_replicas(kubectl, namespace, "shadow") == 2


def test_a_broken_policy_next_to_a_good_one_does_not_stop_it(
    testbed: Testbed, kube: client.ApiClient, kubectl: Kubectl, namespace: str, tmp_path: Path
) -> None:
    kubectl("apply", "-n", namespace, "-f", "-", input=json.dumps(deployment("good", 2)))
    running_pods(kube, namespace, "good", 2, cpu="900m")
    (tmp_path / "good.yaml").write_text(policy(namespace, "good"))
    (tmp_path / "broken.yaml").write_text("kind: ScalingPolicy\nspec: [not, a, mapping\n")
    done = subprocess.run(
        [
            EXE,
            "run",
            "--once",
            "--kubeconfig",
            str(testbed.kubeconfig),
            "--policies",
            str(tmp_path),
            "--log-format",
            "json",
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    broken = [json.loads(line) for line in done.stderr.splitlines() if "broken policy" in line]
    assert broken and "broken.yaml" in broken[0]["msg"]
    assert spec_replicas(kubectl, namespace, "good") == 4


def test_missing_kubeconfig_is_one_line_and_exit_2(tmp_path: Path) -> None:
    (tmp_path / "p.yaml").write_text(policy("default", "x"))
    done = subprocess.run(
        [EXE, "run", "--once", "--kubeconfig", str(tmp_path / "nope"), "--policies", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1 and "cannot load Kubernetes config" in done.stderr


def test_the_service_reports_health_readiness_and_its_own_metrics(
    testbed: Testbed, kubectl: Kubectl, namespace: str, tmp_path: Path
) -> None:
    import socket
    import time
    import urllib.request

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    (tmp_path / "p.yaml").write_text(policy(namespace, "absent"))
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
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        ready = False
        while time.monotonic() < deadline and not ready:
            try:
                with urllib.request.urlopen(f"{base}/readyz", timeout=2) as answer:
                    ready = answer.status == 200
            except OSError:
                time.sleep(0.2)
        assert ready, "never ready"
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
    finally:
        proc.terminate()
        _, err = proc.communicate(timeout=20)
    assert proc.returncode == 0 and "Traceback" not in err
