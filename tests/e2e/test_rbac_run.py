"""`autoscaler run` under the ServiceAccount and roles from deploy/: it works, and a
missing verb is a clear one-line error naming the verb and resource."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from e2e_support import (
    Kubectl,
    Testbed,
    deployment_at,
    policy,
    spec_replicas,
)
from kubernetes import client
from live_tooling import run_once
from test_crd_e2e import SERVICE_ACCOUNT, crd_installed, rbac_installed  # noqa: F401

# The CRD and the ServiceAccount, roles and bindings from deploy/base.
pytestmark = pytest.mark.usefixtures("crd_installed", "rbac_installed")


def run_as(testbed: Testbed, policies: Path, namespace: str) -> subprocess.CompletedProcess[str]:
    return run_once(testbed.kubeconfig, policies, "--namespace", namespace, "--as", SERVICE_ACCOUNT)


@pytest.fixture
def hot(kube: client.ApiClient, kubectl: Kubectl, namespace: str, tmp_path: Path) -> Iterator[Path]:
    deployment_at(kubectl, kube, namespace, "web", cpu="900m")
    (tmp_path / "web.yaml").write_text(policy(namespace, "web"))
    yield tmp_path


def test_the_deployed_service_account_can_scale(
    testbed: Testbed,
    kubectl: Kubectl,
    namespace: str,
    hot: Path,
) -> None:
    done = run_as(testbed, hot, namespace)
    assert done.returncode == 0, done.stderr
    outcome = json.loads(done.stdout)[0]
    assert outcome["error"] is None and outcome["patched"] is True
    assert spec_replicas(kubectl, namespace, "web") == 4


def test_a_missing_verb_is_a_clear_error(
    testbed: Testbed,
    kubectl: Kubectl,
    namespace: str,
    hot: Path,
) -> None:
    role = json.loads(kubectl("get", "clusterrole", "podscale", "-o", "json").stdout)
    crippled = [r for r in role["rules"] if "deployments/scale" not in r.get("resources", [])]
    kubectl(
        "patch", "clusterrole", "podscale", "--type=merge", "-p", json.dumps({"rules": crippled})
    )
    try:
        done = run_as(testbed, hot, namespace)
    finally:
        kubectl(
            "patch",
            "clusterrole",
            "podscale",
            "--type=merge",
            "-p",
            json.dumps({"rules": role["rules"]}),
        )
    assert done.returncode == 1, done.stderr  # nothing could be decided: a script notices
    assert done.stderr.splitlines()[-1].startswith("autoscaler run --once: no policy could be")
    outcome = json.loads(done.stdout)[0]
    assert outcome["patched"] is False
    error = outcome["error"]
    assert "forbidden" in error and "deployments/scale" in error and "\n" not in error
    assert spec_replicas(kubectl, namespace, "web") == 2
