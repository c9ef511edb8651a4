"""A real native HPA consumes Podscale's external metric through the aggregation layer.

The adapter (``autoscaler adapter``, a subprocess) serves values from a real Prometheus;
an ExternalName Service (-> localhost) and an APIService register it with the testbed's
kube-apiserver, which proxies with its front-proxy client certificate; the real HPA
controller in kube-controller-manager reads the metric and scales a Deployment whose
pods ``autoscaler sim run`` makes Ready. The metric changes through the test exporter.
"""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from e2e_support import Kubectl, Testbed, apply, hpa_api, hpa_path
from live_tooling import wait_for
from prometheus_fixture import PromEnv, free_port, running_exporter, running_prometheus
from testbed_fixture import Sim, stop_process
from testbed_fixture import start_sim as run_sim

from autoscaler.adapter import tls

pytestmark = [pytest.mark.testbed, pytest.mark.prometheus]
REPO = Path(__file__).resolve().parents[2]
PREFIX = "/apis/external.metrics.k8s.io/v1beta1"
APISERVICE = "v1beta1.external.metrics.k8s.io"
DECLARATIONS = """\
apiVersion: podscale.dev/v1alpha1
kind: MetricDeclarations
metadata: {name: e2e}
spec:
  metrics:
    - name: queue_depth
      type: External
      query: 'sum(podscale_e2e_queue{namespace="{namespace}", {selector}})'
      maxAge: 10
      cacheTTL: 1
"""


def stop(process: subprocess.Popen[str]) -> str:
    """Stop the process; return its stderr, for the check that it has no traceback."""
    stop_process(process)
    return process.stderr.read() if process.stderr else ""


@pytest.fixture
def prom() -> Iterator[PromEnv]:
    with running_exporter() as exporter, running_prometheus([exporter.target]) as server:
        yield PromEnv(exporter=exporter, server=server)


@pytest.fixture
def adapter(
    testbed: Testbed, namespace: str, prom: PromEnv, tmp_path: Path, kubectl: Kubectl
) -> Iterator[int]:
    """The adapter on a free port, registered as the cluster's external metrics API."""
    declarations = tmp_path / "metrics.yaml"
    declarations.write_text(DECLARATIONS)
    service = f"podscale-adapter.{namespace}.svc"
    files = tls.self_signed(tmp_path / "tls", ["localhost", "127.0.0.1", service])
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "autoscaler", "adapter",
         "--metrics-config", str(declarations), "--prometheus-url", prom.server.url,
         "--listen", f"127.0.0.1:{port}", "--tls-cert", files.cert, "--tls-key", files.key,
         # No --requestheader-* flags: the front-proxy CA and names come from the
         # cluster's kube-system/extension-apiserver-authentication, as in a real install.
         "--kubeconfig", str(testbed.kubeconfig)],
        cwd=REPO, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        text=True, env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )  # fmt: skip
    registration = [
        {"apiVersion": "v1", "kind": "Service",
         "metadata": {"name": "podscale-adapter", "namespace": namespace},
         "spec": {"type": "ExternalName", "externalName": "localhost",
                  "ports": [{"name": "https", "port": port, "protocol": "TCP"}]}},
        {"apiVersion": "apiregistration.k8s.io/v1", "kind": "APIService",
         "metadata": {"name": APISERVICE},
         "spec": {"group": "external.metrics.k8s.io", "version": "v1beta1",
                  "service": {"namespace": namespace, "name": "podscale-adapter", "port": port},
                  "caBundle": base64.b64encode(Path(files.cert).read_bytes()).decode(),
                  "groupPriorityMinimum": 100, "versionPriority": 100}},
    ]  # fmt: skip
    try:
        kubectl(
            "apply",
            "-f",
            "-",
            input=json.dumps({"apiVersion": "v1", "kind": "List", "items": registration}),
        )
        yield port
    finally:
        kubectl("delete", "apiservice", APISERVICE, "--ignore-not-found", check=False)
        err = stop(process)
        assert "Traceback" not in err, err


def available(kubectl: Kubectl) -> bool:
    out = kubectl("get", "apiservice", APISERVICE, "-o", "json", check=False).stdout
    conditions = json.loads(out or "{}").get("status", {}).get("conditions", [])
    return any(c["type"] == "Available" and c["status"] == "True" for c in conditions)


def start_sim(testbed: Testbed, namespace: str) -> Sim:
    return run_sim(
        testbed.kubeconfig,
        "--namespace", namespace, "--node-prefix", f"sim-{namespace[-6:]}", "--tick", "0.5",
        "--duration", "240",
    )  # fmt: skip


def deployment(name: str) -> dict[str, Any]:
    labels = {"app": name}
    container = {
        "name": "app",
        "image": "registry.invalid/app:1",
        "resources": {"requests": {"cpu": "100m", "memory": "64Mi"}},
    }
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {"labels": labels},
                "spec": {"terminationGracePeriodSeconds": 1, "containers": [container]},
            },
        },
    }


def hpa(name: str) -> dict[str, Any]:
    metric = {"name": "queue_depth", "selector": {"matchLabels": {"queue": "jobs"}}}
    return {
        "apiVersion": hpa_api(), "kind": "HorizontalPodAutoscaler",
        "metadata": {"name": name},
        "spec": {"scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": name},
                 "minReplicas": 1, "maxReplicas": 6,
                 "metrics": [{"type": "External", "external": {
                     "metric": metric, "target": {"type": "AverageValue", "averageValue": "10"}}}]},
    }  # fmt: skip


def test_a_native_hpa_scales_on_a_podscale_metric(
    testbed: Testbed, kubectl: Kubectl, namespace: str, prom: PromEnv, adapter: int
) -> None:
    labels = {"namespace": namespace, "queue": "jobs"}
    prom.exporter.set("podscale_e2e_queue", labels, 8)
    prom.exporter.set("podscale_e2e_queue", {**labels, "queue": "mail"}, 1000)  # not selected
    wait_for(lambda: available(kubectl), "the APIService to become Available")

    path = f"{PREFIX}/namespaces/{namespace}/queue_depth?labelSelector=queue%3Djobs"

    def through_aggregator() -> Any:
        done = kubectl("get", "--raw", path, check=False)
        return json.loads(done.stdout) if done.returncode == 0 else None

    body = wait_for(lambda: (b := through_aggregator()) and b["items"] and b, "a value")
    assert body["kind"] == "ExternalMetricValueList"
    assert [i["value"] for i in body["items"]] == ["8"]

    sim = start_sim(testbed, namespace)
    try:
        apply(kubectl, namespace, deployment("worker"))
        apply(kubectl, namespace, hpa("worker"))

        def hpa_status() -> dict[str, Any]:
            path = hpa_path(namespace, "worker")
            out = kubectl("get", "--raw", path).stdout  # kubectl get hpa would show v1
            status: dict[str, Any] = json.loads(out).get("status", {})
            return status

        def current_value() -> str | None:
            metrics = hpa_status().get("currentMetrics") or []
            return metrics[0]["external"]["current"].get("averageValue") if metrics else None

        try:
            wait_for(lambda: current_value() == "8", "the HPA to read 8", timeout=60)
        except BaseException:
            events = kubectl("get", "events", "-n", namespace, "-o", "wide", check=False).stdout
            print(json.dumps(hpa_status(), indent=1), events[-3000:])
            raise
        prom.exporter.set("podscale_e2e_queue", labels, 35)  # ceil(35 / 10) = 4 replicas
        wait_for(lambda: hpa_status().get("desiredReplicas") == 4, "the HPA to want 4", 90)
        scale = f"/apis/apps/v1/namespaces/{namespace}/deployments/worker/scale"
        wait_for(
            lambda: json.loads(kubectl("get", "--raw", scale).stdout)["spec"]["replicas"] == 4,
            "the Deployment to be scaled to 4",
        )
        conditions = {c["type"]: c for c in hpa_status()["conditions"]}
        assert conditions["ScalingActive"]["status"] == "True"
        assert conditions["ScalingActive"]["reason"] == "ValidMetricFound"

        via_aggregator = wait_for(
            lambda: (b := through_aggregator()) and b["items"][0]["value"] == "35" and b,
            "the aggregator to return 35",
        )
        token = testbed.env["TESTBED_ADMIN_TOKEN"]  # reviewed by the real TokenReview API
        request = urllib.request.Request(
            f"https://127.0.0.1:{adapter}{path}", headers={"Authorization": f"Bearer {token}"}
        )
        with urllib.request.urlopen(request, context=_insecure(), timeout=10) as answer:
            direct = json.loads(answer.read())
        assert direct["items"][0]["value"] == via_aggregator["items"][0]["value"] == "35"
    finally:
        err = stop(sim.process)
        assert "Traceback" not in err, err


def _insecure() -> Any:
    import ssl

    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context
