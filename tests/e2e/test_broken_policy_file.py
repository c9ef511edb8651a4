"""`autoscaler run --policies DIR` with good policy files beside broken ones.

The good policies must go on scaling their targets; the broken ones must scale nothing
and be reported where an operator looks, each problem with its file, line and field:
one JSON log line per problem (once, not every sync), and for a document that names
the workload it would scale, a Warning event on that workload (a file policy has no
object of its own: see docs/troubleshooting.md).
"""

from __future__ import annotations

import json
import time
from functools import partial
from pathlib import Path
from typing import Any

import pytest
from e2e_support import (
    Kubectl,
    Testbed,
    deployment_at,
    policy,
    policy_files,
    spec_replicas,
)
from kubernetes import client
from live_tooling import AutoscalerRun, wait_for
from test_crd_e2e import SERVICE_ACCOUNT, crd_installed, rbac_installed  # noqa: F401
from test_policy_objects import NEGATIVE_TARGET

# Run as the ServiceAccount with the roles of deploy/base: what a cluster install may do.
pytestmark = pytest.mark.usefixtures("crd_installed", "rbac_installed")

BROKEN = """\
apiVersion: podscale.dev/v1alpha1
kind: ScalingPolicy
metadata:
  name: victim
  namespace: {namespace}
spec:
  scaleTargetRef:
    apiVersion: apps/v1
    kind: Deployment
    name: victim
  minReplicas: 1
  maxReplicas: {max_replicas}
  metrics:
  - type: Resource
    resource:
      name: cpu
      target:
        type: Utilization
        {utilization}: 50
"""
TYPE_ERROR_LINE = 12  # maxReplicas: ten
BAD_FIELD_LINE = 19  # averageUtilizaton (sic)

UNCLOSED = """\
apiVersion: podscale.dev/v1alpha1
kind: ScalingPolicy
metadata:
  name: unclosed
  namespace: {namespace}
spec:
  scaleTargetRef: {{apiVersion: apps/v1, kind: Deployment, name: nothing
  maxReplicas: 3
"""
UNCLOSED_LINE = 8  # where the parser finds the flow mapping of line 7 unclosed


def running(testbed: Testbed, policies: Path, namespace: str, log: Path) -> AutoscalerRun:
    """`autoscaler run` as the deployed ServiceAccount, stopped with SIGTERM at the end."""
    return AutoscalerRun(
        testbed.kubeconfig, policies, log,
        "--namespace", namespace, "--sync-period", "1", "--listen", "127.0.0.1:0",
        "--log-format", "json", "--as", SERVICE_ACCOUNT,
    )  # fmt: skip


def has_replicas(kubectl: Kubectl, namespace: str, name: str, replicas: int) -> bool:
    return spec_replicas(kubectl, namespace, name) == replicas


def broken_lines(log: Path) -> list[dict[str, Any]]:
    lines = [json.loads(line) for line in log.read_text().splitlines() if line.startswith("{")]
    return [line for line in lines if line["msg"].startswith("broken policy")]


def events_on(kube: client.ApiClient, namespace: str, name: str) -> list[Any]:
    found = client.CoreV1Api(kube).list_namespaced_event(
        namespace, field_selector=f"involvedObject.name={name}"
    )
    return [e for e in found.items if e.reason == "InvalidPolicy"]


def test_good_policies_scale_beside_broken_files_reported_with_file_line_and_field(
    testbed: Testbed, kube: client.ApiClient, kubectl: Kubectl, namespace: str, tmp_path: Path
) -> None:
    for name in ("alpha", "beta", "victim"):
        deployment_at(kubectl, kube, namespace, name, cpu="900m")  # hot: each wants 4 replicas
    policies = policy_files(tmp_path / "policies", namespace, "alpha", "beta")
    broken = policies / "broken.yaml"
    broken.write_text(
        BROKEN.format(namespace=namespace, max_replicas="ten", utilization="averageUtilizaton")
    )
    unclosed = policies / "unclosed.yaml"
    unclosed.write_text(UNCLOSED.format(namespace=namespace))
    log = tmp_path / "run.log"
    with running(testbed, policies, namespace, log) as proc:
        for name in ("alpha", "beta"):
            wait_for(partial(has_replicas, kubectl, namespace, name, 4), f"{name} to scale", 60)
        time.sleep(3)  # a few more syncs: problems are reported once, not every sync
        assert spec_replicas(kubectl, namespace, "victim") == 2, "a broken policy scaled"

        reported = broken_lines(log)
        messages = sorted(line["msg"] for line in reported)
        assert messages == sorted(
            [
                f"broken policy: error: {broken}:{TYPE_ERROR_LINE}: spec.maxReplicas: "
                'must be an integer (got "ten")',
                f"broken policy: error: {broken}:{BAD_FIELD_LINE}: "
                "spec.metrics[0].resource.target.averageUtilizaton: unknown field "
                '(did you mean "averageUtilization"?)',
                f"broken policy: error: {unclosed}:{UNCLOSED_LINE}: invalid YAML: "
                "while parsing a flow mapping, expected ',' or '}', but got ':'",
            ]
        )
        assert {(line["level"], line["logger"]) for line in reported} == {
            ("error", "autoscaler.policies")
        }

        # The workload the broken document names carries one event with both problems.
        events = wait_for(lambda: events_on(kube, namespace, "victim"), "an InvalidPolicy event")
        assert len(events) == 1 and events[0].count == 1, "one event, not one per sync"
        event = events[0]
        assert event.type == "Warning"
        assert event.involved_object.kind == "Deployment"
        assert f"{broken}:{TYPE_ERROR_LINE}: spec.maxReplicas:" in event.message
        assert (
            f"{broken}:{BAD_FIELD_LINE}: spec.metrics[0].resource.target.averageUtilizaton:"
            in event.message
        )
        # kubectl describe lists only events with the workload's uid.
        workload = client.AppsV1Api(kube).read_namespaced_deployment("victim", namespace)
        assert event.involved_object.uid == workload.metadata.uid
        described = kubectl("describe", "deployment", "victim", "-n", namespace).stdout
        assert "InvalidPolicy" in described and f"broken.yaml:{TYPE_ERROR_LINE}" in described
        # The good policies' own events are listed there too (SuccessfulRescale).
        assert (
            "SuccessfulRescale"
            in kubectl("describe", "deployment", "alpha", "-n", namespace).stdout
        )
        # No other workload is blamed; the unparsable file names none.
        assert not events_on(kube, namespace, "alpha") and not events_on(kube, namespace, "beta")

        # Fixed in place (as a ConfigMap update is): the next sync picks it up.
        broken.write_text(
            BROKEN.format(namespace=namespace, max_replicas="10", utilization="averageUtilization")
        )
        wait_for(partial(has_replicas, kubectl, namespace, "victim", 4), "the fixed policy", 30)
        assert proc.popen.poll() is None
    text = log.read_text()
    assert "Traceback" not in text
    assert len(broken_lines(log)) == 3  # the fix made no new complaint


def test_policy_objects_beside_files_are_reported_once_not_every_sync(
    testbed: Testbed, kubectl: Kubectl, namespace: str, tmp_path: Path
) -> None:
    policies = policy_files(tmp_path / "policies", namespace, "dup")
    kubectl("apply", "-f", "-", input=policy(namespace, "dup"))  # the same policy as an object
    negative = json.loads(policy(namespace, "negative"))
    negative["spec"]["metrics"][0]["resource"]["target"] = NEGATIVE_TARGET  # the CRD stores it
    kubectl("apply", "-f", "-", input=json.dumps(negative))
    log = tmp_path / "run.log"
    with running(testbed, policies, namespace, log):
        wait_for(lambda: '"msg": "started"' in log.read_text(), "the service to start", 60)
        time.sleep(5)  # several one-second syncs
    lines = [json.loads(line) for line in log.read_text().splitlines() if line.startswith("{")]
    both = [line for line in lines if "is both a file and an object" in line["msg"]]
    assert [line["msg"] for line in both] == [
        f"policy {namespace}/dup is both a file and an object: using the object"
    ]
    broken = [line for line in lines if line["msg"].startswith("broken policy")]
    assert [(line["level"], line["msg"]) for line in broken] == [
        (
            "error",
            f"broken policy: ScalingPolicy {namespace}/negative: "
            'spec.metrics[0].resource.target.averageValue: must be positive (got "-100m")',
        )
    ]
