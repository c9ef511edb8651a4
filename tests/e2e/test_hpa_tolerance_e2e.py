"""Configurable tolerance (KEP-4951: ``behavior.scaleUp.tolerance`` and
``behavior.scaleDown.tolerance``, beta and on by default since Kubernetes 1.35) under the
real HPA controller and under Podscale, on the same pods and figures.

Four Deployments, their pods Ready for an hour (so no start-up rule applies) with fixed
samples from the PodMetrics stand-in (sub-second control, see tests/e2e/conftest.py):

========= ==== ===== ============= ====== =====================================
name      pods CPU   tolerance     bounds wanted (50 % target)
========= ==== ===== ============= ====== =====================================
up        2    70 %  (default 0.1) 1-3    ratio 1.4 -> ceil(2.8) = 3
up-wide   2    70 %  scaleUp 0.5   1-3    1.4 is within 1 + 0.5 -> stays at 2
down      4    30 %  (default 0.1) 3-10   ratio 0.6 -> ceil(2.4) = 3
down-wide 4    30 %  scaleDown 0.5 3-10   0.6 is within 1 - 0.5 -> stays at 4
========= ==== ===== ============= ====== =====================================

The bounds hold each native HPA where its first decision left it (a pod it adds or
removes changes the figures of its next sync).

``autoscaler run --once`` (DryRun) decides first, then a native HPA per Deployment with
the same spec; each must come to the same number. On 1.20 the field does not exist
(the API server drops it), so the test runs on the current testbed only.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from e2e_support import Kubectl, Testbed, apply, deployment, hpa_api, hpa_path, raw, running_pods
from kubernetes import client
from live_tooling import run_once, wait_for

from autoscaler.sim.manifests import cpu_hpa_spec

UP, DOWN = (1, 3), (3, 10)
NO_WINDOW = {"stabilizationWindowSeconds": 0}
# name -> (pods, CPU of the 1-CPU request each uses, bounds, behavior, replicas wanted)
CASES: dict[str, tuple[int, str, tuple[int, int], dict[str, Any], int]] = {
    "up": (2, "700m", UP, {}, 3),
    "up-wide": (2, "700m", UP, {"scaleUp": {"tolerance": "0.5"}}, 2),
    "down": (4, "300m", DOWN, {"scaleDown": NO_WINDOW}, 3),
    "down-wide": (4, "300m", DOWN, {"scaleDown": {**NO_WINDOW, "tolerance": "0.5"}}, 4),
}


def hpa_spec(name: str, bounds: tuple[int, int], behavior: dict[str, Any]) -> dict[str, Any]:
    """The autoscaling/v2 spec both sides get: the comparisons' CPU at 50 % spec
    (:func:`cpu_hpa_spec`) with ``bounds`` and ``behavior`` (none: the defaults)."""
    base = cpu_hpa_spec(name, down_window=0)
    spec = {key: value for key, value in base.items() if key != "behavior"}
    spec.update(minReplicas=bounds[0], maxReplicas=bounds[1])
    return {**spec, "behavior": behavior} if behavior else spec


def test_podscale_and_the_native_hpa_apply_the_same_configurable_tolerance(
    testbed: Testbed, kubectl: Kubectl, kube: client.ApiClient, namespace: str, tmp_path: Path
) -> None:
    if testbed.version == "1.20":
        pytest.skip("behavior.*.tolerance needs Kubernetes 1.35+ (the current testbed)")
    for name, (count, *_) in CASES.items():
        apply(kubectl, namespace, deployment(name, count))
    for name, (count, cpu, *_) in CASES.items():
        running_pods(kube, namespace, name, count, cpu=cpu)

    # Podscale first, in DryRun, while every Deployment still has its starting pods.
    policies = tmp_path / "policies"
    policies.mkdir()
    for name, (_, _, bounds, behavior, _) in CASES.items():
        policy = {
            "apiVersion": "podscale.dev/v1alpha1",
            "kind": "ScalingPolicy",
            "metadata": {"name": name, "namespace": namespace},
            "spec": {**hpa_spec(name, bounds, behavior), "mode": "DryRun"},
        }
        (policies / f"{name}.yaml").write_text(json.dumps(policy))
    done = run_once(testbed.kubeconfig, policies, "--no-crds", "--namespace", namespace)
    assert done.returncode == 0, done.stderr
    podscale = {
        outcome["target"].split("/")[1]: outcome["decision"]["desiredReplicas"]
        for outcome in json.loads(done.stdout)
    }
    assert podscale == {name: case[-1] for name, case in CASES.items()}, done.stdout

    # The native controller on the same figures.
    for name, (_, _, bounds, behavior, _) in CASES.items():
        apply(kubectl, namespace, {
            "apiVersion": hpa_api(), "kind": "HorizontalPodAutoscaler",
            "metadata": {"name": name}, "spec": hpa_spec(name, bounds, behavior),
        })  # fmt: skip
    kept = raw(kubectl, hpa_path(namespace, "up-wide"))["spec"]["behavior"]["scaleUp"]
    assert kept.get("tolerance") in ("500m", "0.5"), kept  # the API server kept the field

    def decided(name: str) -> dict[str, Any] | None:
        """The HPA's status once it has read the pods' CPU (and so decided on it)."""
        status: dict[str, Any] = raw(kubectl, hpa_path(namespace, name)).get("status") or {}
        return status if status.get("currentMetrics") else None

    for name, (_, cpu, _, _, wanted) in CASES.items():
        status = wait_for(lambda n=name: decided(n), f"the HPA {name} to read CPU", timeout=45)
        utilization = status["currentMetrics"][0]["resource"]["current"]["averageUtilization"]
        assert utilization == int(cpu.rstrip("m")) // 10, (name, status)
        assert status["desiredReplicas"] == wanted, (name, status)
