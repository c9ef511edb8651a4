"""The testbed is a real Kubernetes API: real controllers, real errors, real subresources.

These checks pin down the behaviour the autoscaler relies on, against kube-apiserver and
kube-controller-manager v1.20.2 (scripts/testbed), or v1.37 with TESTBED_VERSION=1.37.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable
from typing import Any

import pytest
from e2e_support import apply, raw
from kubernetes import client, config, watch
from kubernetes.dynamic import DynamicClient
from live_tooling import wait_for

pytestmark = pytest.mark.testbed

KubectlFn = Callable[..., subprocess.CompletedProcess[str]]


def deployment(name: str, replicas: int, cpu: str = "100m") -> dict[str, Any]:
    labels = {"app": name}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "labels": labels},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {"labels": labels},
                "spec": {
                    "containers": [
                        {
                            "name": "app",
                            "image": "registry.invalid/app:1",
                            "resources": {"requests": {"cpu": cpu, "memory": "64Mi"}},
                        }
                    ]
                },
            },
        },
    }


def get_json(kubectl: KubectlFn, *args: str) -> Any:
    return json.loads(kubectl("get", *args, "-o", "json").stdout)


def owned_by(obj: dict[str, Any], kind: str, name: str) -> bool:
    refs = obj["metadata"].get("ownerReferences") or []
    return any(r["kind"] == kind and r["name"] == name and r.get("controller") for r in refs)


def test_deployment_controller_creates_replicaset_and_pending_pods(
    kubectl: KubectlFn, namespace: str
) -> None:
    apply(kubectl, namespace, deployment("web", replicas=2))

    def replicaset() -> dict[str, Any] | None:
        items = get_json(kubectl, "replicasets", "-n", namespace)["items"]
        owned = [rs for rs in items if owned_by(rs, "Deployment", "web")]
        return owned[0] if len(owned) == 1 and owned[0]["spec"]["replicas"] == 2 else None

    rs = wait_for(replicaset, "the ReplicaSet of deployment/web")
    rs_name = rs["metadata"]["name"]
    assert rs_name.startswith("web-")

    def pods() -> list[dict[str, Any]] | None:
        items = get_json(kubectl, "pods", "-n", namespace, "-l", "app=web")["items"]
        owned = [p for p in items if owned_by(p, "ReplicaSet", rs_name)]
        return owned if len(owned) == 2 else None

    created = wait_for(pods, "2 pods owned by the ReplicaSet")
    # No scheduler and no kubelet: the pods stay Pending and unbound.
    assert {p["status"].get("phase") for p in created} == {"Pending"}
    assert all(not p["spec"].get("nodeName") for p in created)
    status = wait_for(
        lambda: get_json(kubectl, "deployment", "web", "-n", namespace)["status"].get("replicas"),
        "deployment status.replicas",
    )
    assert status == 2


def test_kubectl_scale_is_visible_on_the_scale_subresource(
    kubectl: KubectlFn, namespace: str
) -> None:
    apply(kubectl, namespace, deployment("api", replicas=1))
    kubectl("scale", "-n", namespace, "deployment/api", "--replicas=3")

    scale = raw(kubectl, f"/apis/apps/v1/namespaces/{namespace}/deployments/api/scale")
    assert scale["apiVersion"] == "autoscaling/v1"
    assert scale["kind"] == "Scale"
    assert scale["spec"]["replicas"] == 3

    def status_follows() -> dict[str, Any] | None:
        s = raw(kubectl, f"/apis/apps/v1/namespaces/{namespace}/deployments/api/scale")
        return s if s["status"].get("replicas") == 3 else None

    scale = wait_for(status_follows, "the controller to bring status.replicas to 3")
    assert scale["status"]["selector"] == "app=api"


def test_missing_object_is_404_for_kubectl_and_python_client(
    kubectl: KubectlFn, kube: client.ApiClient, namespace: str
) -> None:
    result = kubectl("get", "deployment", "nope", "-n", namespace, check=False)
    assert result.returncode != 0
    assert "NotFound" in result.stderr
    assert '"nope" not found' in result.stderr

    with pytest.raises(client.ApiException) as caught:
        client.AppsV1Api(kube).read_namespaced_deployment("nope", namespace)
    assert caught.value.status == 404
    body = json.loads(caught.value.body)
    assert body["kind"] == "Status"
    assert body["reason"] == "NotFound"
    assert body["details"] == {"name": "nope", "group": "apps", "kind": "deployments"}


def test_stale_resource_version_write_is_409(kube: client.ApiClient, namespace: str) -> None:
    core = client.CoreV1Api(kube)
    core.create_namespaced_config_map(
        namespace, client.V1ConfigMap(metadata=client.V1ObjectMeta(name="cm"), data={"n": "1"})
    )
    stale = core.read_namespaced_config_map("cm", namespace)
    fresh = core.read_namespaced_config_map("cm", namespace)
    fresh.data = {"n": "2"}
    written = core.replace_namespaced_config_map("cm", namespace, fresh)
    assert written.metadata.resource_version != stale.metadata.resource_version

    stale.data = {"n": "3"}
    with pytest.raises(client.ApiException) as caught:
        core.replace_namespaced_config_map("cm", namespace, stale)
    assert caught.value.status == 409
    assert json.loads(caught.value.body)["reason"] == "Conflict"
    assert core.read_namespaced_config_map("cm", namespace).data == {"n": "2"}


def pod_metrics(name: str, app: str, cpu: str, memory: str) -> dict[str, Any]:
    return {
        "apiVersion": "metrics.k8s.io/v1beta1",
        "kind": "PodMetrics",
        "metadata": {"name": name, "labels": {"app": app}},
        "timestamp": "2026-01-01T00:00:00Z",
        "window": "30s",
        "containers": [{"name": "app", "usage": {"cpu": cpu, "memory": memory}}],
    }


def test_pod_metrics_are_served_at_the_metrics_api(
    kubectl: KubectlFn, kube: client.ApiClient, namespace: str
) -> None:
    custom = client.CustomObjectsApi(kube)
    for body in (
        pod_metrics("web-1", "web", "250m", "64Mi"),
        pod_metrics("other-1", "other", "1", "1Gi"),
    ):
        custom.create_namespaced_custom_object("metrics.k8s.io", "v1beta1", namespace, "pods", body)

    listed = raw(kubectl, f"/apis/metrics.k8s.io/v1beta1/namespaces/{namespace}/pods")
    assert listed["kind"] == "PodMetricsList"
    assert sorted(i["metadata"]["name"] for i in listed["items"]) == ["other-1", "web-1"]

    selected = raw(
        kubectl, f"/apis/metrics.k8s.io/v1beta1/namespaces/{namespace}/pods?labelSelector=app%3Dweb"
    )
    assert [i["metadata"]["name"] for i in selected["items"]] == ["web-1"]
    assert selected["items"][0]["containers"][0]["usage"] == {"cpu": "250m", "memory": "64Mi"}

    top = kubectl("top", "pod", "-n", namespace, "-l", "app=web")
    assert "web-1" in top.stdout
    assert "250m" in top.stdout
    assert "other-1" not in top.stdout


def test_rollout_crd_scale_subresource_via_dynamic_client(
    dynamic: DynamicClient, namespace: str
) -> None:
    rollouts = dynamic.resources.get(api_version="argoproj.io/v1alpha1", kind="Rollout")
    rollouts.create(
        namespace=namespace,
        body={
            "apiVersion": "argoproj.io/v1alpha1",
            "kind": "Rollout",
            "metadata": {"name": "canary"},
            "spec": {
                "replicas": 2,
                "selector": {"matchLabels": {"app": "canary"}},
                "template": {"metadata": {"labels": {"app": "canary"}}},
            },
        },
    )
    rollouts.subresources["status"].patch(
        name="canary",
        namespace=namespace,
        body={"status": {"replicas": 2, "selector": "app=canary"}},
        content_type="application/merge-patch+json",
    )

    scale_api = rollouts.subresources["scale"]
    scale = scale_api.get(name="canary", namespace=namespace)
    assert scale.apiVersion == "autoscaling/v1"
    assert scale.kind == "Scale"
    assert scale.spec.replicas == 2
    assert scale.status.replicas == 2
    assert scale.status.selector == "app=canary"

    patched = scale_api.patch(
        name="canary",
        namespace=namespace,
        body={"spec": {"replicas": 5}},
        content_type="application/merge-patch+json",
    )
    assert patched.spec.replicas == 5
    rollout = rollouts.get(name="canary", namespace=namespace)
    assert rollout.spec.replicas == 5
    assert rollout.status.replicas == 2  # status is only written through /status


def test_watch_sees_added_modified_and_deleted(kube: client.ApiClient, namespace: str) -> None:
    core = client.CoreV1Api(kube)
    since = core.list_namespaced_config_map(namespace).metadata.resource_version
    core.create_namespaced_config_map(
        namespace, client.V1ConfigMap(metadata=client.V1ObjectMeta(name="w"), data={"n": "1"})
    )
    core.patch_namespaced_config_map("w", namespace, {"data": {"n": "2"}})

    seen: list[tuple[str, str, dict[str, str] | None]] = []
    w = watch.Watch()
    for event in w.stream(
        core.list_namespaced_config_map,
        namespace,
        resource_version=since,
        timeout_seconds=20,
    ):
        obj = event["object"]
        seen.append((event["type"], obj.metadata.name, obj.data))
        if len(seen) == 2:
            # a live event, sent while the watch is open
            core.delete_namespaced_config_map("w", namespace)
        if len(seen) == 3:
            w.stop()
    assert seen == [
        ("ADDED", "w", {"n": "1"}),
        ("MODIFIED", "w", {"n": "2"}),
        ("DELETED", "w", {"n": "2"}),
    ]


def hpa_api_version(testbed: Any) -> str:
    """The newest HPA API the testbed's release serves: 1.20 predates autoscaling/v2 (GA
    in 1.23), which replaced v2beta2 (removed in 1.26)."""
    return "autoscaling/v2beta2" if testbed.version == "1.20" else "autoscaling/v2"


def test_hpa_gets_status_conditions_from_the_real_controller(
    kubectl: KubectlFn, dynamic: DynamicClient, namespace: str, testbed: Any
) -> None:
    api_version = hpa_api_version(testbed)
    served = kubectl("api-versions").stdout.split()
    assert api_version in served
    assert ("autoscaling/v2" in served) == (testbed.version != "1.20")
    apply(kubectl, namespace, deployment("hpa-target", replicas=1))
    hpas = dynamic.resources.get(api_version=api_version, kind="HorizontalPodAutoscaler")
    hpas.create(
        namespace=namespace,
        body={
            "apiVersion": api_version,
            "kind": "HorizontalPodAutoscaler",
            "metadata": {"name": "hpa-target"},
            "spec": {
                "scaleTargetRef": {
                    "apiVersion": "apps/v1",
                    "kind": "Deployment",
                    "name": "hpa-target",
                },
                "minReplicas": 1,
                "maxReplicas": 4,
                "metrics": [
                    {
                        "type": "Resource",
                        "resource": {
                            "name": "cpu",
                            "target": {"type": "Utilization", "averageUtilization": 50},
                        },
                    }
                ],
                "behavior": {"scaleDown": {"stabilizationWindowSeconds": 0}},
            },
        },
    )

    def conditions() -> dict[str, dict[str, Any]] | None:
        hpa = hpas.get(name="hpa-target", namespace=namespace).to_dict()
        found = {c["type"]: c for c in (hpa.get("status") or {}).get("conditions") or []}
        return found if "ScalingActive" in found else None

    found = wait_for(conditions, "the HPA controller to set status conditions", timeout=45)
    assert found["AbleToScale"]["status"] == "True"
    assert found["AbleToScale"]["reason"] == "SucceededGetScale"
    # No PodMetrics exist for the pods: the controller cannot compute utilization.
    assert found["ScalingActive"]["status"] == "False"
    assert found["ScalingActive"]["reason"] == "FailedGetResourceMetric"
    hpa = hpas.get(name="hpa-target", namespace=namespace)
    assert hpa.spec.behavior.scaleDown.stabilizationWindowSeconds == 0


def test_rbac_is_enforced_for_non_admin_users(
    user_kubectl: KubectlFn, testbed: Any, namespace: str
) -> None:
    result = user_kubectl("get", "pods", "-n", namespace, check=False)
    assert result.returncode != 0
    assert "Forbidden" in result.stderr

    api = config.new_client_from_config(config_file=str(testbed.user_kubeconfig))
    try:
        with pytest.raises(client.ApiException) as caught:
            client.CoreV1Api(api).list_namespaced_pod(namespace)
        assert caught.value.status == 403
    finally:
        api.close()
