"""What the end-to-end tests share: the running testbed, kubectl, and playing the node.

They live here rather than in conftest.py so that tests can import them by a name no
other conftest shares. ``Testbed`` itself comes from ``testbed_fixture``, which the
benchmarks in loadtest/ use too, as they use ``live_tooling`` (``autoscaler run``, the
CPU policy, ``wait_for``).
"""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Protocol

from kubernetes import client
from live_tooling import cpu_policy
from testbed_fixture import DEFAULT_VERSION, Testbed, hpa_api_of, is_ready

from autoscaler.sim.manifests import deployment_manifest

__all__ = [
    "HOUR_AGO",
    "Kubectl",
    "Testbed",
    "apply",
    "constant_load_scenario",
    "deployment",
    "deployment_at",
    "fresh_namespace",
    "pods",
    "policy",
    "policy_files",
    "raw",
    "ready_pods",
    "running_pods",
    "spec_replicas",
]

HOUR_AGO = (dt.datetime.now(dt.UTC) - dt.timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ")


class Kubectl(Protocol):
    def __call__(
        self, *args: str, input: str | None = None, check: bool = True, timeout: float = 60
    ) -> subprocess.CompletedProcess[str]: ...


def hpa_api() -> str:
    """:func:`hpa_api_of` the session's testbed version (``TESTBED_VERSION``)."""
    return hpa_api_of(os.environ.get("TESTBED_VERSION", DEFAULT_VERSION))


def hpa_path(namespace: str, name: str) -> str:
    """The HPA's path in :func:`hpa_api` (``kubectl get hpa`` shows the v1 view)."""
    return f"/apis/{hpa_api()}/namespaces/{namespace}/horizontalpodautoscalers/{name}"


@contextmanager
def fresh_namespace(kube: client.ApiClient, name: str) -> Iterator[str]:
    """The namespace ``name``, created here and deleted on the way out (in the background:
    the API server finishes it after the test)."""
    core = client.CoreV1Api(kube)
    core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=name)))
    try:
        yield name
    finally:
        try:
            core.delete_namespace(name)
        except client.ApiException as e:
            if e.status != 404:
                raise


def deployment(name: str, replicas: int) -> dict[str, Any]:
    """Pods requesting 1 CPU, so a sample's millicores read directly as a percentage x 10."""
    return deployment_manifest(name, replicas, cpu="1")


def policy(namespace: str, name: str, *, mode: str = "Enforce") -> str:
    """The Deployment ``name``'s CPU policy (50 %, 1-10 replicas) as a policy file's text."""
    return json.dumps(cpu_policy(name, namespace, mode=mode))


def policy_files(folder: Path, namespace: str, *names: str) -> Path:
    """``folder`` (made here) with a ``NAME.yaml`` holding :func:`policy` for each name."""
    folder.mkdir()
    for name in names:
        (folder / f"{name}.yaml").write_text(policy(namespace, name))
    return folder


def deployment_at(
    kubectl: Kubectl, kube: client.ApiClient, namespace: str, name: str, cpu: str
) -> None:
    """A Deployment of 2 Running, Ready pods, each using ``cpu`` of its 1 CPU request
    (900m is 90 % for :func:`policy`'s 50 % target: 4 replicas wanted)."""
    apply(kubectl, namespace, deployment(name, 2))
    running_pods(kube, namespace, name, 2, cpu=cpu)


def apply(kubectl: Kubectl, namespace: str, obj: dict[str, Any]) -> None:
    kubectl("apply", "-n", namespace, "-f", "-", input=json.dumps(obj))


def raw(kubectl: Kubectl, path: str) -> Any:
    """GET ``path`` of the API server, parsed."""
    return json.loads(kubectl("get", "--raw", path).stdout)


def pods(kubectl: Kubectl, namespace: str, app: str) -> list[dict[str, Any]]:
    out = kubectl("get", "pods", "-n", namespace, "-l", f"app={app}", "-o", "json").stdout
    items: list[dict[str, Any]] = json.loads(out)["items"]
    return items


def ready_pods(kubectl: Kubectl, namespace: str, app: str) -> int:
    """How many of ``app``'s pods are Ready (what a wait for a rollout or a scale-up polls)."""
    return sum(map(is_ready, pods(kubectl, namespace, app)))


def constant_load_scenario(folder: Path, namespace: str, kind: str, name: str, rps: int) -> Path:
    """``folder/scenario.yaml`` for ``autoscaler sim run``: one workload under a constant
    ``rps``, whose pods are ready a second after they are placed and serve 100 rps each
    at 2m CPU a request (10m idle)."""
    path = folder / "scenario.yaml"
    path.write_text(
        "workloads:\n"
        f"  - {{kind: {kind}, name: {name}, namespace: {namespace}, "
        "pod: {scheduleDelay: 0.5, readyDelay: 1, capacityRps: 100, cpuPerRequest: 2m, "
        f"idleCpu: 10m}}, load: {{type: constant, rps: {rps}}}}}\n"
    )
    return path


def spec_replicas(kubectl: Kubectl, namespace: str, name: str) -> int:
    """The Deployment's replicas as its ``/scale`` reads."""
    raw = kubectl("get", "--raw", f"/apis/apps/v1/namespaces/{namespace}/deployments/{name}/scale")
    return int(json.loads(raw.stdout)["spec"]["replicas"])


def running_pods(
    kube: client.ApiClient, namespace: str, app: str, count: int, cpu: str, timeout: float = 60
) -> None:
    """Play kubelet and metrics-server for the ``count`` pods of ``app`` (waited for up to
    ``timeout`` s): Running and Ready an hour ago, using ``cpu`` now (a sample set before
    is replaced, so a test can change the load)."""
    core = client.CoreV1Api(kube)
    custom = client.CustomObjectsApi(kube)
    deadline = time.monotonic() + timeout
    pods: list[Any] = []
    while time.monotonic() < deadline:
        pods = core.list_namespaced_pod(namespace, label_selector=f"app={app}").items
        if len(pods) == count:
            break
        time.sleep(0.2)
    assert len(pods) == count, f"the Deployment controller created {len(pods)} pods, not {count}"
    now = dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    ready = {"type": "Ready", "status": "True", "lastTransitionTime": HOUR_AGO}
    for pod in pods:
        name = pod.metadata.name
        status = {"phase": "Running", "startTime": HOUR_AGO, "conditions": [ready]}
        core.patch_namespaced_pod_status(name, namespace, {"status": status})
        sample = {
            "apiVersion": "metrics.k8s.io/v1beta1",
            "kind": "PodMetrics",
            "metadata": {"name": name, "labels": {"app": app}},
            "timestamp": now,
            "window": "30s",
            "containers": [{"name": "app", "usage": {"cpu": cpu, "memory": "100Mi"}}],
        }
        try:
            custom.delete_namespaced_custom_object(
                "metrics.k8s.io", "v1beta1", namespace, "pods", name
            )
        except client.ApiException as exc:
            if exc.status != 404:
                raise
        custom.create_namespaced_custom_object(
            "metrics.k8s.io", "v1beta1", namespace, "pods", sample
        )


CRD = Path(__file__).resolve().parents[2] / "deploy/base/crd/scalingpolicies.podscale.dev.yaml"


def crd_apply_flags(testbed: Testbed) -> tuple[str, ...]:
    """What ``kubectl apply`` of our CRD needs on ``testbed``: on 1.20 (with its own
    kubectl) ``--validate=false``, since kubectl before 1.25 checks a CRD against the
    server's OpenAPI, which predates ``x-kubernetes-validations`` (the API server itself
    drops the CEL rules it cannot run); docs/install.md says the same to users."""
    return ("--validate=false",) if testbed.version == "1.20" else ()


def install_crd(kubectl: Kubectl, testbed: Testbed) -> None:
    """Apply the ScalingPolicy CRD users install and wait until it is served."""
    kubectl("apply", *crd_apply_flags(testbed), "-f", str(CRD))
    kubectl("wait", "--for=condition=Established", "crd/scalingpolicies.podscale.dev")
