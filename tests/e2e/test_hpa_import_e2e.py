"""`import-hpa` against what a real kube-apiserver (v1.20 or current) prints and serves.

The corpus HPAs are applied (v1 and v2 manifests; v2beta2 on v1.20), then read back
three ways: `kubectl get hpa.v1.autoscaling -o yaml` (in autoscaling/v1 the other
metrics and the behavior come back in the round-trip annotations), `kubectl get
hpa.v2.autoscaling -o yaml` (v2beta2 on v1.20), and `import-hpa --from-cluster`
(autoscaling/v2 where served; on v1.20 it falls back to v2beta2). The three imports
must agree: our v1 conversion is judged by the API server's own. `validate` accepts all
of kubectl's output as is.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml
from e2e_support import Kubectl, Testbed, hpa_api

CORPUS = Path(__file__).resolve().parents[1] / "hpa_import" / "corpus"
EXE = str(Path(sys.executable).parent / "autoscaler")


def applicable(namespace: str) -> list[dict[str, Any]]:
    """The corpus HPAs a v1.20 server takes (no ContainerResource), as manifests."""
    documents = []
    for name in ("kubectl-get-hpa-all.yaml", "v2beta2-hpa.yaml", "v1-hpas.yaml"):
        for doc in yaml.safe_load_all((CORPUS / name).read_text()):
            documents += doc["items"] if doc.get("kind") == "List" else [doc]
    manifests = []
    for doc in documents:
        meta = doc["metadata"]
        if meta["name"] == "api" and hpa_api() == "autoscaling/v2beta2":
            continue  # ContainerResource is alpha (gated off) on v1.20, GA since 1.30
        annotations = {
            k: v
            for k, v in (meta.get("annotations") or {}).items()
            if k.startswith("autoscaling.alpha.kubernetes.io/")
        }
        version = "autoscaling/v1" if doc["apiVersion"] == "autoscaling/v1" else hpa_api()
        kept = {"name": meta["name"], "namespace": namespace, "labels": meta.get("labels") or {}}
        if annotations:
            kept["annotations"] = annotations
        manifests.append(
            {"apiVersion": version, "kind": doc["kind"], "metadata": kept, "spec": doc["spec"]}
        )
    return manifests


def autoscaler(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([EXE, *args], input=stdin, capture_output=True, text=True, timeout=120)


def by_name(policies_yaml: str) -> dict[str, dict[str, Any]]:
    """name -> spec, with the metrics in a canonical order: reading through v1 moves the
    cpu utilization metric last, as the API server does; the order decides nothing."""
    found = {}
    for policy in yaml.safe_load_all(policies_yaml):
        spec = dict(policy["spec"])
        spec["metrics"] = sorted(
            spec.get("metrics", []), key=lambda m: json.dumps(m, sort_keys=True)
        )
        found[policy["metadata"]["name"]] = spec
    return found


def test_kubectl_output_and_the_cluster_import_to_the_same_policies(
    kubectl: Kubectl, testbed: Testbed, namespace: str
) -> None:
    manifests = applicable(namespace)
    kubectl("apply", "-f", "-", input=yaml.safe_dump_all(manifests))
    # kubectl shows managedFields by default before 1.21 and on request after
    managed = () if testbed.version == "1.20" else ("--show-managed-fields",)
    shown = ("-n", namespace, "-o", "yaml", *managed)
    as_v1 = kubectl("get", "horizontalpodautoscalers.v1.autoscaling", *shown).stdout
    resource = f"horizontalpodautoscalers.{hpa_api().split('/')[1]}.autoscaling"
    as_v2beta2 = kubectl("get", resource, *shown).stdout
    assert "autoscaling.alpha.kubernetes.io/metrics" in as_v1  # the v1 view, annotations and all
    assert "managedFields" in as_v2beta2
    assert f"apiVersion: {hpa_api()}" in as_v2beta2

    for printed in (as_v1, as_v2beta2):
        checked = autoscaler("validate", "-", stdin=printed)
        assert checked.returncode == 0, checked.stderr
        assert f"1 file, {len(manifests)} policies: 0 errors" in checked.stdout

    from_v1 = autoscaler("import-hpa", "-", stdin=as_v1)
    from_v2beta2 = autoscaler("import-hpa", "-", stdin=as_v2beta2)
    from_cluster = autoscaler(
        "import-hpa", "--from-cluster", "-n", namespace, "--kubeconfig", str(testbed.kubeconfig)
    )
    for done in (from_v1, from_v2beta2, from_cluster):
        assert done.returncode == 0, done.stderr
    policies = by_name(from_v2beta2.stdout)
    assert sorted(policies) == sorted(m["metadata"]["name"] for m in manifests)
    assert by_name(from_v1.stdout) == policies
    assert by_name(from_cluster.stdout) == policies
    # The server's defaults are in what it prints (a behavior's policies, cpu 80 % for an
    # HPA without metrics); the written spec otherwise comes back unchanged.
    assert policies["batch"]["metrics"] == [
        {
            "type": "Resource",
            "resource": {
                "name": "cpu",
                "target": {"type": "Utilization", "averageUtilization": 80},
            },
        }
    ]
    assert policies["legacy"]["metrics"][0]["pods"]["target"] == {
        "type": "AverageValue",
        "averageValue": "80",
    }


def test_from_cluster_with_an_unreachable_server_is_one_line_and_exit_2(tmp_path: Path) -> None:
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(
        "apiVersion: v1\nkind: Config\ncurrent-context: c\n"
        "clusters: [{name: c, cluster: {server: 'https://127.0.0.1:9'}}]\n"
        "contexts: [{name: c, context: {cluster: c, user: u}}]\n"
        "users: [{name: u, user: {token: t}}]\n"
    )
    done = autoscaler("import-hpa", "--from-cluster", "-A", "--kubeconfig", str(kubeconfig))
    assert done.returncode == 2
    assert done.stdout == ""
    assert len(done.stderr.splitlines()) == 1, done.stderr
    assert done.stderr.startswith(
        "autoscaler import-hpa: GET /apis/autoscaling/v2/horizontalpodautoscalers: "
    )
