"""ScalingPolicy objects: read by the loop, status written back, events recorded."""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest
from e2e_support import Kubectl, Testbed, deployment_at, install_crd, spec_replicas
from kubernetes import client
from live_tooling import EXE, AutoscalerRun, cpu_policy, wait_for
from live_tooling import run_once as autoscaler_run_once


@pytest.fixture(scope="module")
def crd(kubectl: Kubectl, testbed: Testbed) -> None:
    """The CRD users install (generated from the policy models by `autoscaler crd`)."""
    install_crd(kubectl, testbed)


def scaling_policy(
    name: str, *, min_replicas: int = 1, behavior: dict[str, Any] | None = None
) -> str:
    extra = {"behavior": behavior} if behavior else {}
    return json.dumps(cpu_policy(name, min_replicas=min_replicas, **extra))


# A target the CRD stores (its schema allows a signed quantity) and the loop refuses.
NEGATIVE_TARGET = {"type": "AverageValue", "averageValue": "-100m"}


def run_once(testbed: Testbed, namespace: str) -> subprocess.CompletedProcess[str]:
    done = autoscaler_run_once(testbed.kubeconfig, None, "--namespace", namespace)
    assert done.returncode == 0, done.stderr
    return done


def get(kubectl: Kubectl, namespace: str, *what: str) -> Any:
    return json.loads(kubectl("get", *what, "-n", namespace, "-o", "json").stdout)


def test_policy_object_scales_its_target_and_gets_hpa_like_status(
    crd: None, testbed: Testbed, kube: client.ApiClient, kubectl: Kubectl, namespace: str
) -> None:
    deployment_at(kubectl, kube, namespace, "web", cpu="900m")
    kubectl("apply", "-n", namespace, "-f", "-", input=scaling_policy("web"))
    run_once(testbed, namespace)
    assert spec_replicas(kubectl, namespace, "web") == 4
    status = get(kubectl, namespace, "scalingpolicy", "web")["status"]
    assert (status["currentReplicas"], status["desiredReplicas"]) == (2, 4)
    assert status["currentMetrics"] == [
        {
            "type": "Resource",
            "resource": {
                "name": "cpu",
                "current": {"averageUtilization": 90, "averageValue": "900m"},
            },
        }
    ]
    reasons = {c["type"]: (c["status"], c["reason"]) for c in status["conditions"]}
    assert reasons["AbleToScale"] == ("True", "SucceededRescale")
    assert reasons["ScalingActive"] == ("True", "ValidMetricFound")
    assert all(c["lastTransitionTime"] for c in status["conditions"])
    assert status["lastScaleTime"] and status["history"]["recommendations"][-1]["replicas"] == 4
    assert status["history"]["scaleUpEvents"] == []  # no behavior: the HPA records none
    events = get(kubectl, namespace, "events")["items"]
    rescale = [e for e in events if e["reason"] == "SuccessfulRescale"]
    assert rescale and rescale[0]["involvedObject"]["kind"] == "ScalingPolicy"
    assert rescale[0]["message"].startswith("New size: 4; reason: cpu resource utilization")


def test_a_broken_object_is_reported_on_itself_and_the_others_still_scale(
    crd: None, testbed: Testbed, kube: client.ApiClient, kubectl: Kubectl, namespace: str
) -> None:
    deployment_at(kubectl, kube, namespace, "good", cpu="900m")
    kubectl("apply", "-n", namespace, "-f", "-", input=scaling_policy("good"))
    bad = json.loads(scaling_policy("bad"))
    bad["spec"]["metrics"][0]["resource"]["target"] = NEGATIVE_TARGET
    kubectl("apply", "-n", namespace, "-f", "-", input=json.dumps(bad))
    done = run_once(testbed, namespace)
    assert "broken policy: ScalingPolicy" in done.stderr
    assert spec_replicas(kubectl, namespace, "good") == 4
    bad = get(kubectl, namespace, "scalingpolicy", "bad")["status"]["conditions"][0]
    assert (bad["type"], bad["status"], bad["reason"]) == (
        "ScalingActive",
        "False",
        "InvalidPolicy",
    )
    # a quantity's sign: a rule neither the schema nor its CEL rules state, so the object
    # exists and is broken (min > max, which CEL refuses, is refused at apply on 1.25+)
    assert "spec.metrics[0].resource.target.averageValue: must be positive" in bad["message"]
    events = get(kubectl, namespace, "events")["items"]
    assert any(
        e["reason"] == "InvalidPolicy" and e["involvedObject"]["name"] == "bad" for e in events
    )


def test_a_restart_keeps_the_rate_limit_history_from_status(
    crd: None, testbed: Testbed, kube: client.ApiClient, kubectl: Kubectl, namespace: str
) -> None:
    deployment_at(kubectl, kube, namespace, "slow", cpu="900m")
    one_per_minute = {"scaleUp": {"policies": [{"type": "Pods", "value": 1, "periodSeconds": 60}]}}
    kubectl(
        "apply", "-n", namespace, "-f", "-", input=scaling_policy("slow", behavior=one_per_minute)
    )
    run_once(testbed, namespace)
    assert spec_replicas(kubectl, namespace, "slow") == 3
    run_once(testbed, namespace)  # a new process: only the status remembers the scale-up
    assert spec_replicas(kubectl, namespace, "slow") == 3
    conditions = get(kubectl, namespace, "scalingpolicy", "slow")["status"]["conditions"]
    limited = next(c for c in conditions if c["type"] == "ScalingLimited")
    assert (limited["status"], limited["reason"]) == ("True", "ScaleUpLimit")


def test_a_running_service_watches_policy_objects(
    crd: None,
    testbed: Testbed,
    kube: client.ApiClient,
    kubectl: Kubectl,
    namespace: str,
    tmp_path: Path,
) -> None:
    """Created after start, a policy is picked up from the watch; its edits too."""
    deployment_at(kubectl, kube, namespace, "late", cpu="900m")
    flags = ("--namespace", namespace, "--sync-period", "1", "--listen", "127.0.0.1:0")
    with AutoscalerRun(testbed.kubeconfig, None, tmp_path / "run.log", *flags) as service:
        time.sleep(3)  # the first syncs list no policy; then the informer runs
        kubectl("apply", "-n", namespace, "-f", "-", input=scaling_policy("late"))
        wait_for(lambda: spec_replicas(kubectl, namespace, "late") == 4, "4 replicas", 30)
        status = get(kubectl, namespace, "scalingpolicy", "late")["status"]
        assert status["desiredReplicas"] == 4
    err = service.log.read_text()
    assert service.popen.returncode == 0 and "Traceback" not in err


def test_autoscaler_status_and_kubectl_show_the_same_filled_columns(
    crd: None, testbed: Testbed, kube: client.ApiClient, kubectl: Kubectl, namespace: str
) -> None:
    deployment_at(kubectl, kube, namespace, "web", cpu="900m")
    kubectl("apply", "-n", namespace, "-f", "-", input=scaling_policy("web"))
    run_once(testbed, namespace)
    status = subprocess.run(
        [EXE, "status", "-n", namespace, "--kubeconfig", str(testbed.kubeconfig)],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert status.returncode == 0, status.stderr
    header, line = status.stdout.splitlines()
    assert header.split()[:4] == ["NAME", "REFERENCE", "TARGETS", "MINPODS"]
    cells = line.split()
    # name, reference, "cpu:", "90%/50%", min, max, replicas, desired, mode, path...
    assert cells[:9] == ["web", "Deployment/web", "cpu:", "90%/50%", "1", "10", "2", "4", "Enforce"]
    assert "OK" in cells or "Limited" in cells, line
    every = subprocess.run(
        [EXE, "status", "-A", "--kubeconfig", str(testbed.kubeconfig)],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert every.stdout.splitlines()[0].split()[0] == "NAMESPACE"
    assert any(r.split()[:2] == [namespace, "web"] for r in every.stdout.splitlines()[1:])
    # kubectl's own table shows the same targets, from the status the loop wrote.
    shown = kubectl("get", "sp", "web", "-n", namespace).stdout.splitlines()[1].split()
    assert shown[:4] == ["web", "web", "cpu:", "90%/50%"]


def test_autoscaler_status_on_an_empty_namespace_and_without_a_cluster(
    crd: None, testbed: Testbed, namespace: str, tmp_path: Path
) -> None:
    empty = subprocess.run(
        [EXE, "status", "-n", namespace, "--kubeconfig", str(testbed.kubeconfig)],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert (empty.returncode, empty.stdout) == (0, "")
    assert empty.stderr == f"No ScalingPolicies found in {namespace} namespace.\n"
    gone = subprocess.run(
        [EXE, "status", "--kubeconfig", str(tmp_path / "nope")],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert gone.returncode == 2 and gone.stderr.count("\n") == 1
    assert gone.stderr.startswith("autoscaler status: cannot load Kubernetes config")


def test_autoscaler_status_watch_prints_a_row_when_it_changes(
    crd: None, kubectl: Kubectl, namespace: str, testbed: Testbed
) -> None:
    import signal

    kubectl("apply", "-n", namespace, "-f", "-", input=scaling_policy("web"))
    watch = subprocess.Popen(
        [EXE, "status", "-n", namespace, "-w", "--interval", "0.3", "--kubeconfig",
         str(testbed.kubeconfig)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    import threading

    deadline = threading.Timer(60, watch.kill)  # a missed change ends the readline below
    deadline.start()
    try:
        assert watch.stdout is not None
        assert watch.stdout.readline().split()[0] == "NAME"
        assert watch.stdout.readline().split()[0] == "web"
        patch = {"status": {"currentReplicas": 2, "desiredReplicas": 7}}
        kubectl(
            "patch", "sp", "web", "-n", namespace, "--subresource=status", "--type=merge",
            "-p", json.dumps(patch),
        )  # fmt: skip
        changed = watch.stdout.readline().split()  # blocks until the next list shows it
        assert changed[0] == "web" and "7" in changed, changed
    finally:
        deadline.cancel()
        watch.send_signal(signal.SIGINT)
        code = watch.wait(timeout=30)
    assert code == 0 and "Traceback" not in (watch.stderr.read() if watch.stderr else "")
