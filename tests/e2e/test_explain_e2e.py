"""`autoscaler explain` against the real kube-apiserver: it reads what a sync reads for
one policy, writes nothing, and says why in plain words with the numbers.

The tests play kubelet and metrics-server themselves (pod status and PodMetrics
objects, as test_loop_run.py does), so each situation is exactly the one named.
"""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import time
from pathlib import Path
from typing import Any

from e2e_support import (
    Kubectl,
    Testbed,
    apply,
    deployment,
    deployment_at,
    install_crd,
    policy,
    running_pods,
    spec_replicas,
)
from kubernetes import client
from live_tooling import EXE, cpu_policy


def explain(
    testbed: Testbed, policies: Path, target: str, *flags: str
) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        [EXE, "explain", target, "--kubeconfig", str(testbed.kubeconfig),
         "--policies", str(policies), *flags],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert "Traceback" not in done.stderr, done.stderr
    return done


def explained(testbed: Testbed, policies: Path, target: str) -> str:
    done = explain(testbed, policies, target)
    assert (done.returncode, done.stderr) == (0, ""), done.stderr
    return done.stdout


def pod_names(kube: client.ApiClient, namespace: str, app: str) -> list[str]:
    found = client.CoreV1Api(kube).list_namespaced_pod(namespace, label_selector=f"app={app}")
    return sorted(p.metadata.name for p in found.items)


def test_a_scale_up_shows_its_formula_writes_nothing_and_its_json_replays(
    testbed: Testbed, kube: client.ApiClient, kubectl: Kubectl, namespace: str, tmp_path: Path
) -> None:
    deployment_at(kubectl, kube, namespace, "web", cpu="900m")  # 90 % against 50 %
    (tmp_path / "web.yaml").write_text(policy(namespace, "web"))
    out = explained(testbed, tmp_path, f"{namespace}/web")
    assert f"{namespace}/web: Deployment/web (selector app=web)" in out
    assert "  2 ready, counted: " in out
    assert "      2 pods use 1.8 of 2 cpu requested = 90%; ratio 90% / 50% = 1.80" in out
    assert "      outside 0.9 <= ratio <= 1.1: ceil(2 pods x 90% / 50%) = 4" in out
    assert "  scale-up limit (no behavior): max(2 x 2, 4) = 4 replicas now; budget left 2" in out
    assert "Decision: scale 2 -> 4" in out and "Diagnoses:" not in out
    assert spec_replicas(kubectl, namespace, "web") == 2  # explained, never scaled

    done = explain(testbed, tmp_path, "web", "-n", namespace, "--output", "json")
    assert done.returncode == 0, done.stderr
    document = json.loads(done.stdout)
    assert document["decision"]["desiredReplicas"] == 4 and document["diagnoses"] == []
    replay = subprocess.run(
        [EXE, "decide", "-"], input=json.dumps(document["snapshot"]),
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert replay.returncode == 0, replay.stderr
    assert json.loads(replay.stdout)["desiredReplicas"] == 4
    saved = tmp_path / "explained.json"
    saved.write_text(done.stdout)
    offline = subprocess.run(
        [EXE, "explain", "--snapshot", str(saved)], capture_output=True, text=True, timeout=60
    )
    assert offline.returncode == 0, offline.stderr
    assert "ceil(2 pods x 90% / 50%) = 4" in offline.stdout


def test_an_unready_pod_counts_at_zero_and_a_missing_target_is_named(
    testbed: Testbed, kube: client.ApiClient, kubectl: Kubectl, namespace: str, tmp_path: Path
) -> None:
    apply(kubectl, namespace, deployment("web", 3))
    running_pods(kube, namespace, "web", 3, cpu="900m")
    pending = pod_names(kube, namespace, "web")[0]
    client.CoreV1Api(kube).patch_namespaced_pod_status(
        pending, namespace, {"status": {"phase": "Pending", "conditions": None}}
    )
    (tmp_path / "web.yaml").write_text(policy(namespace, "web"))
    (tmp_path / "ghost.yaml").write_text(policy(namespace, "ghost"))
    out = explained(testbed, tmp_path, f"{namespace}/web")
    assert f"  1 pending (counted at 0% when scaling up, left out otherwise): {pending}" in out
    # 2 pods at 90 % ask for more, so the pending pod counts at 0 %: 1.8 of 3 cpu = 60 %.
    assert "      2 pods use 1.8 of 2 cpu requested = 90%; ratio 90% / 50% = 1.80" in out
    assert f"      1 pod not ready or pending counted at 0% (scaling up): {pending}" in out
    assert "      again: 3 pods use 1.8 of 3 cpu = 60%; ratio 60% / 50% = 1.20" in out
    assert "      outside 0.9 <= ratio <= 1.1: ceil(3 pods x 60% / 50%) = 4" in out
    assert "Decision: scale 3 -> 4" in out

    ghost = explained(testbed, tmp_path, f"{namespace}/ghost")
    assert (
        f"  - Deployment/ghost was not found in namespace {namespace}: check "
        f"spec.scaleTargetRef (apiVersion, kind, name) of {namespace}/ghost"
    ) in ghost

    settings = cpu_policy("settings", namespace)  # a ConfigMap: no /scale to read
    settings["spec"]["scaleTargetRef"] = {"apiVersion": "v1", "kind": "ConfigMap", "name": "x"}
    (tmp_path / "settings.yaml").write_text(json.dumps(settings))
    unscalable = explained(testbed, tmp_path, f"{namespace}/settings")
    assert (
        "  - ConfigMap/x cannot be scaled: its kind has no scale subresource (cannot read the "
        "scale of ConfigMap/x: ConfigMap (v1) has no scale subresource: it cannot be scaled); "
        "a custom resource needs subresources.scale in its CRD"
    ) in unscalable

    missing = explain(testbed, tmp_path, f"{namespace}/nobody")
    assert missing.returncode == 2 and missing.stdout == ""
    assert missing.stderr == (
        f"autoscaler explain: policy {namespace}/nobody not found: no ScalingPolicy nobody "
        f"in namespace {namespace}; none in the --policies files ({tmp_path})\n"
    )


def test_a_container_without_requests_and_pods_without_samples(
    testbed: Testbed, kube: client.ApiClient, kubectl: Kubectl, namespace: str, tmp_path: Path
) -> None:
    bare = deployment("bare", 2)
    container: dict[str, Any] = bare["spec"]["template"]["spec"]["containers"][0]
    del container["resources"]["requests"]["cpu"]
    apply(kubectl, namespace, bare)
    running_pods(kube, namespace, "bare", 2, cpu="900m")
    apply(kubectl, namespace, deployment("quiet", 2))
    running_pods(kube, namespace, "quiet", 2, cpu="900m")
    custom = client.CustomObjectsApi(kube)
    for name in pod_names(kube, namespace, "quiet"):  # metrics-server has nothing for them
        custom.delete_namespaced_custom_object("metrics.k8s.io", "v1beta1", namespace, "pods", name)
    for name in ("bare", "quiet"):
        (tmp_path / f"{name}.yaml").write_text(policy(namespace, name))

    out = explained(testbed, tmp_path, f"{namespace}/bare")
    first = pod_names(kube, namespace, "bare")[0]
    assert (
        f"  - container app of pod {first} (and 1 more pods) has no cpu request: the 50% "
        "Utilization target is a percentage of the request, so the cpu metric fails; set "
        "resources.requests.cpu in the pod template, or use an AverageValue target"
    ) in out
    assert "Decision: keep 2 replicas" in out

    out = explained(testbed, tmp_path, f"{namespace}/quiet")
    assert (
        "  - the resource metrics API returned no samples for the 2 pods of the target "
        "(selector app=quiet): the cpu metric cannot be computed"
    ) in out
    assert "  2 without metrics (counted at 100% of the request when scaling down" in out


def test_a_selector_matching_no_pods(
    testbed: Testbed, kube: client.ApiClient, kubectl: Kubectl, namespace: str, tmp_path: Path
) -> None:
    paused = deployment("empty", 2)
    paused["spec"]["paused"] = True  # a new paused Deployment gets no ReplicaSet: no pods
    apply(kubectl, namespace, paused)
    (tmp_path / "empty.yaml").write_text(policy(namespace, "empty"))
    out = explained(testbed, tmp_path, f"{namespace}/empty")
    assert "Pods: none matched" in out
    assert ("  - the selector app=empty matches no pods although the target has 2 replicas") in out


def test_another_writer_in_the_loops_events_holds_the_replicas(
    testbed: Testbed, kube: client.ApiClient, kubectl: Kubectl, namespace: str, tmp_path: Path
) -> None:
    deployment_at(kubectl, kube, namespace, "web", cpu="900m")  # the metrics want 4
    now = dt.datetime.now(dt.UTC)

    def stamp(seconds_ago: int) -> str:
        return (now - dt.timedelta(seconds=seconds_ago)).strftime("%Y-%m-%dT%H:%M:%SZ")

    # What the loop posted on the workload (a file policy's events go there): the same
    # change seen twice, 200 s and 60 s ago.
    event = {
        "apiVersion": "v1", "kind": "Event",
        "metadata": {"name": "web.external-1"},
        "involvedObject": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web",
                           "namespace": namespace},
        "type": "Warning", "reason": "ExternalScaleChange",
        "message": "replicas changed from 4 to 2 by another writer",
        "source": {"component": "podscale"},
        "firstTimestamp": stamp(200), "lastTimestamp": stamp(60), "count": 2,
    }  # fmt: skip
    apply(kubectl, namespace, event)
    (tmp_path / "web.yaml").write_text(policy(namespace, "web"))
    out = explained(testbed, tmp_path, f"{namespace}/web")
    assert (
        f"  - another writer changed spec.replicas 2 times in the last 600 s (last at "
        f"{stamp(60)}): Podscale holds the replicas at 2 (ExternalScaleConflict) until "
        f"{stamp(60 - 600)} unless it changes them again"
    ) in out
    assert "Decision: keep 2 replicas" in out


def test_a_policy_object_continues_from_its_status_history_and_nothing_is_written(
    testbed: Testbed, kube: client.ApiClient, kubectl: Kubectl, namespace: str
) -> None:
    install_crd(kubectl, testbed)
    apply(kubectl, namespace, deployment("web", 3))
    running_pods(kube, namespace, "web", 3, cpu="100m")  # 10 % against 50 %: 1 wanted
    apply(kubectl, namespace, cpu_policy("web"))
    saved = int(time.time()) - 60
    custom = client.CustomObjectsApi(kube)
    history = {"recommendations": [{"time": saved, "replicas": 3}]}
    custom.patch_namespaced_custom_object_status(
        "podscale.dev", "v1alpha1", namespace, "scalingpolicies", "web",
        {"status": {"history": history}},
    )  # fmt: skip
    before = json.loads(
        kubectl("get", "scalingpolicy", "web", "-n", namespace, "-o", "json").stdout
    )

    done = subprocess.run(
        [EXE, "explain", f"{namespace}/web", "--kubeconfig", str(testbed.kubeconfig)],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert (done.returncode, done.stderr) == (0, ""), done.stderr
    when = dt.datetime.fromtimestamp(saved, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    until = dt.datetime.fromtimestamp(saved + 300, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert (
        "  scale-down stabilization window 300 s: the highest recent recommendation, 3 at "
        f"{when}, holds the replicas at 3 instead of 1; it holds until {until} ("
    ) in done.stdout
    assert "Decision: keep 3 replicas" in done.stdout
    after = json.loads(kubectl("get", "scalingpolicy", "web", "-n", namespace, "-o", "json").stdout)
    assert after["metadata"]["resourceVersion"] == before["metadata"]["resourceVersion"]
    events = json.loads(kubectl("get", "events", "-n", namespace, "-o", "json").stdout)["items"]
    assert [e for e in events if e["involvedObject"]["kind"] == "ScalingPolicy"] == []
    assert spec_replicas(kubectl, namespace, "web") == 3


def test_a_cluster_without_metrics_server(
    testbed: Testbed, kube: client.ApiClient, kubectl: Kubectl, namespace: str, tmp_path: Path
) -> None:
    from testbed_fixture import DIRECT, switch_metrics_api

    deployment_at(kubectl, kube, namespace, "blind", cpu="900m")
    (tmp_path / "blind.yaml").write_text(policy(namespace, "blind"))
    # No metrics.k8s.io at all (the fixture gave this test the PodMetrics stand-in: its
    # CRD is the only thing that serves the group), restored for the tests after it.
    kubectl("delete", "crd", "pods.metrics.k8s.io", "--wait=true")
    try:
        deadline = time.monotonic() + 60
        while kubectl("get", "--raw", "/apis/metrics.k8s.io/v1beta1", check=False).returncode == 0:
            assert time.monotonic() < deadline, "metrics.k8s.io still served 60 s after"
            time.sleep(0.3)
        out = explained(testbed, tmp_path, f"{namespace}/blind")
    finally:
        switch_metrics_api(testbed, DIRECT)
    assert (
        "  - metrics.k8s.io is not served by this cluster (no metrics-server): the cpu metric "
        "cannot be read for any of the 2 pods; install metrics-server, or run Podscale with "
        "--resource-metrics prometheus (AUTOSCALER_RESOURCE_METRICS)"
    ) in out, out
    assert "Decision: keep 2 replicas" in out
