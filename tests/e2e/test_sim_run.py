"""``autoscaler sim run`` against the real kube-apiserver: it plays kubelet, metrics-server
and traffic well enough for kubectl, the native controllers and the real HPA.

Each test runs the simulator as a subprocess limited to its namespace, with nodes of
its own (``--node-prefix``), and stops it with SIGTERM: exit 0, no traceback.
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from e2e_support import Kubectl, Testbed, apply, hpa_api, hpa_path, pods, raw, ready_pods
from live_tooling import wait_for
from testbed_fixture import Sim, SimSilent
from testbed_fixture import start_sim as run_sim

from autoscaler.sim.manifests import deployment_manifest

pytestmark = pytest.mark.testbed


def deployment(name: str, replicas: int, *, cpu: str = "100m") -> dict[str, Any]:
    return deployment_manifest(name, replicas, cpu=cpu)


def http(method: str, url: str, body: Any = None) -> tuple[int, Any]:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method=method)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            text = response.read().decode()
            status = response.status
    except urllib.error.HTTPError as exc:
        text, status = exc.read().decode(), exc.code
    return status, (json.loads(text) if text.startswith("{") else text)


def stop_cleanly(sim: Sim) -> dict[str, Any]:
    """SIGTERM; the simulator must exit 0 at once, without a traceback."""
    if not sim.stop(grace=15):
        pytest.fail("the simulator ignored SIGTERM for 15 s", pytrace=False)
    err = sim.process.stderr.read() if sim.process.stderr else ""
    assert "Traceback" not in err, err
    assert sim.process.returncode == 0, err
    stopped = sim.stopped()
    assert stopped is not None, "its last line is not the 'stopped' event"
    return stopped


@pytest.fixture
def start_sim(testbed: Testbed, namespace: str) -> Iterator[Callable[..., Sim]]:
    """Start ``autoscaler sim run`` for this test's namespace, with its own nodes."""
    started: list[Sim] = []

    def start(*args: str) -> Sim:
        try:
            sim = run_sim(
                testbed.kubeconfig,
                "--namespace", namespace,
                "--node-prefix", f"sim-{namespace[-6:]}",
                "--tick", "0.5",
                "--duration", "150",
                *args,
            )  # fmt: skip
        except SimSilent as silent:
            pytest.fail(str(silent), pytrace=False)
        assert sim.started["event"] == "started"
        started.append(sim)
        return sim

    yield start
    for sim in started:
        sim.stop(grace=15)


def test_pods_run_become_ready_scale_up_and_go_after_grace(
    kubectl: Kubectl, namespace: str, start_sim: Callable[..., Sim]
) -> None:
    sim = start_sim()
    apply(kubectl, namespace, deployment("web", 2))
    kubectl("wait", "-n", namespace, "--for=condition=Ready", "pod", "-l", "app=web",
            "--timeout=30s")  # fmt: skip
    ready = pods(kubectl, namespace, "web")
    assert len(ready) == 2
    for pod in ready:
        assert pod["spec"]["nodeName"].startswith(f"sim-{namespace[-6:]}-")
        assert pod["status"]["phase"] == "Running"
        assert pod["status"]["startTime"]
        kinds = {c["type"]: c for c in pod["status"]["conditions"]}
        assert kinds["ContainersReady"]["status"] == "True"
        assert kinds["Ready"]["lastTransitionTime"] >= pod["status"]["startTime"]
        assert pod["status"]["containerStatuses"][0]["state"]["running"]["startedAt"]

    kubectl("scale", "-n", namespace, "deployment/web", "--replicas=4")
    path = f"/apis/apps/v1/namespaces/{namespace}/deployments/web/scale"
    scale = wait_for(
        lambda: (s := raw(kubectl, path))["status"].get("replicas") == 4 and s,
        "the scale status to reach 4",
    )
    assert scale["status"]["selector"] == "app=web"
    wait_for(
        lambda: ready_pods(kubectl, namespace, "web") == 4,
        "4 ready pods",
    )
    deploy = json.loads(kubectl("get", "deployment", "web", "-n", namespace, "-o", "json").stdout)
    wait_for(
        lambda: (
            json.loads(kubectl("get", "deployment", "web", "-n", namespace, "-o", "json").stdout)[
                "status"
            ].get("readyReplicas")
            == 4
        ),
        "deployment readyReplicas 4",
    )
    assert deploy["spec"]["replicas"] == 4

    kubectl("scale", "-n", namespace, "deployment/web", "--replicas=1")
    terminating = wait_for(
        lambda: [
            p for p in pods(kubectl, namespace, "web") if p["metadata"].get("deletionTimestamp")
        ],
        "pods marked for deletion",
        timeout=10,
    )
    assert all(p["metadata"]["deletionGracePeriodSeconds"] == 2 for p in terminating)
    began = time.monotonic()
    wait_for(lambda: len(pods(kubectl, namespace, "web")) == 1, "scale-down to 1 pod", timeout=20)
    assert time.monotonic() - began < 10
    stop_cleanly(sim)


def test_metrics_follow_the_load_set_through_the_admin_api(
    kubectl: Kubectl, namespace: str, start_sim: Callable[..., Sim], tmp_path: Path
) -> None:
    scenario = tmp_path / "scenario.yaml"
    scenario.write_text(
        "workloads:\n"
        f"  - {{kind: Deployment, name: api, namespace: {namespace}, "
        "pod: {scheduleDelay: 0.5, readyDelay: 1, capacityRps: 100, cpuPerRequest: 2m, "
        "idleCpu: 10m}, load: {type: constant, rps: 40}}\n"
    )
    sim = start_sim("--scenario", str(scenario))
    apply(kubectl, namespace, deployment("api", 2))
    apply(kubectl, namespace, deployment("other", 1))  # not in the scenario: left alone
    kubectl("wait", "-n", namespace, "--for=condition=Ready", "pod", "-l", "app=api",
            "--timeout=30s")  # fmt: skip
    metrics_path = f"/apis/metrics.k8s.io/v1beta1/namespaces/{namespace}/pods"

    def cpu_of(app: str) -> set[str]:
        listed = raw(kubectl, f"{metrics_path}?labelSelector=app%3D{app}")["items"]
        return {item["containers"][0]["usage"]["cpu"] for item in listed}

    # 40 rps over 2 pods: 10m idle + 20 rps x 2m = 50m each
    assert wait_for(
        lambda: cpu_of("api") == {"50m"} and len(raw(kubectl, metrics_path)["items"]) == 2,
        "PodMetrics at 50m for both pods",
    )
    listed = raw(kubectl, metrics_path)["items"]
    assert all(item["window"].endswith("s") and item["timestamp"] for item in listed)
    status, body = http("GET", f"{sim.admin}/workloads")
    assert status == 200
    assert [(w["kind"], w["name"]) for w in body["workloads"]] == [("Deployment", "api")]
    assert body["workloads"][0]["readyPods"] == 2
    other = pods(kubectl, namespace, "other")
    assert other[0]["status"]["phase"] == "Pending" and not other[0]["spec"].get("nodeName")

    sim.set_load(namespace, "api", {"type": "constant", "rps": 300})
    # 150 rps each, capacity 100: 100 served -> 210m, 50 dropped per pod
    wait_for(lambda: cpu_of("api") == {"210m"}, "PodMetrics at 210m after the load change")
    top = kubectl("top", "pod", "-n", namespace, "-l", "app=api").stdout
    assert top.count("210m") == 2

    status, body = http("PUT", f"{sim.admin}/workloads/{namespace}/api/load", {"type": "x"})
    assert status == 400 and "load" in body["error"] and "\n" not in body["error"]
    status, body = http("PUT", f"{sim.admin}/workloads/{namespace}/nope/load",
                        {"type": "constant", "rps": 1})  # fmt: skip
    assert status == 404

    status, text = http("GET", sim.metrics)
    assert status == 200
    names = [p["metadata"]["name"] for p in pods(kubectl, namespace, "api")]
    for name in names:
        where = f'namespace="{namespace}",pod="{name}"'
        assert f"http_requests_total{{{where}}}" in text
        assert f"http_requests_dropped_total{{{where}}}" in text
        assert f'http_request_duration_seconds_bucket{{le="+Inf",{where}}}' in text
        assert f'container_cpu_usage_seconds_total{{container="app",{where}}}' in text
        assert f'container_memory_working_set_bytes{{container="app",{where}}}' in text
    stopped = stop_cleanly(sim)
    (totals,) = stopped["totals"]
    assert totals["offered"] > 0 and totals["dropped"] > 0
    assert totals["served"] + totals["dropped"] == pytest.approx(totals["offered"], rel=1e-9)


def test_pods_that_fit_no_node_stay_pending(
    kubectl: Kubectl, namespace: str, start_sim: Callable[..., Sim]
) -> None:
    start_sim("--nodes", "1", "--node-cpu", "1", "--node-memory", "4Gi")
    apply(kubectl, namespace, deployment("big", 3, cpu="400m"))
    wait_for(
        lambda: ready_pods(kubectl, namespace, "big") == 2,
        "2 of 3 pods ready on a 1-CPU node",
    )
    time.sleep(1.5)  # a few more ticks: the third still does not fit
    phases = sorted(p["status"]["phase"] for p in pods(kubectl, namespace, "big"))
    assert phases == ["Pending", "Running", "Running"]
    pending = [p for p in pods(kubectl, namespace, "big") if p["status"]["phase"] == "Pending"]
    assert not pending[0]["spec"].get("nodeName")


def rollout(name: str, replicas: int) -> dict[str, Any]:
    labels = {"app": name}
    template = deployment(name, replicas)["spec"]["template"]
    return {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Rollout",
        "metadata": {"name": name},
        "spec": {"replicas": replicas, "selector": {"matchLabels": labels}, "template": template},
    }


def test_a_rollout_scaled_through_its_scale_subresource_gets_its_pods(
    kubectl: Kubectl, namespace: str, start_sim: Callable[..., Sim]
) -> None:
    start_sim()
    apply(kubectl, namespace, rollout("canary", 1))
    path = f"/apis/argoproj.io/v1alpha1/namespaces/{namespace}/rollouts/canary/scale"
    wait_for(
        lambda: raw(kubectl, path)["status"].get("selector") == "app=canary",
        "the rollout's status selector",
    )
    kubectl("scale", "-n", namespace, "rollout/canary", "--replicas=3")
    wait_for(
        lambda: ready_pods(kubectl, namespace, "canary") == 3,
        "3 ready rollout pods",
    )

    def rollout_status() -> dict[str, Any]:
        out = kubectl("get", "rollout", "canary", "-n", namespace, "-o", "json").stdout
        status: dict[str, Any] = json.loads(out).get("status") or {}
        return status

    wait_for(
        lambda: rollout_status().get("readyReplicas") == 3,
        "the rollout's readyReplicas",
    )  # fmt: skip
    assert raw(kubectl, path)["status"]["replicas"] == 3
    owners = {r["kind"] for p in pods(kubectl, namespace, "canary")
              for r in p["metadata"]["ownerReferences"]}  # fmt: skip
    assert owners == {"Rollout"}

    kubectl("patch", "-n", namespace, "rollout/canary", "--subresource=scale", "--type=merge",
            "-p", '{"spec": {"replicas": 1}}')  # fmt: skip
    wait_for(lambda: len(pods(kubectl, namespace, "canary")) == 1, "scale-down to 1", timeout=20)
    wait_for(lambda: raw(kubectl, path)["status"]["replicas"] == 1, "rollout status 1")


def test_the_real_hpa_scales_up_on_simulated_cpu(
    kubectl: Kubectl, namespace: str, start_sim: Callable[..., Sim]
) -> None:
    sim = start_sim()
    apply(kubectl, namespace, deployment("busy", 1))
    kubectl("wait", "-n", namespace, "--for=condition=Ready", "pod", "-l", "app=busy",
            "--timeout=30s")  # fmt: skip
    hpa = {
        "apiVersion": hpa_api(),
        "kind": "HorizontalPodAutoscaler",
        "metadata": {"name": "busy"},
        "spec": {
            "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "busy"},
            "minReplicas": 1,
            "maxReplicas": 3,
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
    apply(kubectl, namespace, hpa)

    def hpa_status() -> dict[str, Any]:
        # kubectl shows the autoscaling/v1 view; conditions live in v2 (v2beta2 on 1.20)
        path = hpa_path(namespace, "busy")
        status: dict[str, Any] = raw(kubectl, path).get("status") or {}
        return status

    # Idle: 10m of 100m requested is 10 %, the HPA stays at 1 with a valid metric.
    active = wait_for(
        lambda: any(c["type"] == "ScalingActive" and c["status"] == "True"
                    for c in hpa_status().get("conditions") or []),
        "the HPA to read simulated CPU", timeout=45,
    )  # fmt: skip
    assert active
    assert hpa_status()["desiredReplicas"] == 1

    # 60 rps on one pod: 10m + 120m = 130 % of the request; the HPA wants 3 (max 3).
    sim.set_load(namespace, "busy", {"type": "constant", "rps": 60})
    wait_for(lambda: hpa_status().get("desiredReplicas") == 3, "the HPA to scale to 3",
             timeout=45)  # fmt: skip
    wait_for(
        lambda: ready_pods(kubectl, namespace, "busy") == 3,
        "3 ready pods after the HPA's scale-up",
    )
    metrics = hpa_status()["currentMetrics"][0]["resource"]["current"]
    assert metrics["averageUtilization"] > 0
