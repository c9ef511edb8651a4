"""A self-healing GitOps tool sees no drift from Podscale when Git has no ``replicas``.

Argo CD (with ServerSideApply=true) applies a Git manifest as the field manager
``argocd``; no Argo CD runs here, so kubectl does the same apply. Podscale then scales
the Deployment through ``/scale``. Re-applying the same manifest, as a self-heal does,
leaves the replicas alone and ``kubectl diff`` shows nothing, because ``argocd`` never
owned ``spec.replicas``. A manifest that does set replicas is the other case: applying
it takes ``spec.replicas`` back to Git's value, the fight docs/argocd.md warns about.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml
from e2e_support import Kubectl, Testbed, running_pods, spec_replicas
from kubernetes import client
from live_tooling import run_once

WORKLOAD = Path(__file__).resolve().parents[2] / "deploy" / "examples" / "argocd-workload.yaml"


def example(kind: str, namespace: str) -> dict[str, Any]:
    """The example's Deployment or ScalingPolicy ``web``, moved to ``namespace``."""
    [doc] = [d for d in yaml.safe_load_all(WORKLOAD.read_text()) if d["kind"] == kind]
    doc["metadata"]["namespace"] = namespace
    return dict(doc)


def argocd_apply(kubectl: Kubectl, manifest: dict[str, Any]) -> None:
    """What Argo CD's sync does with ServerSideApply=true (it forces conflicts)."""
    kubectl("apply", "--server-side", "--force-conflicts", "--field-manager=argocd", "-f", "-",
            input=json.dumps(manifest))  # fmt: skip


def drift(kubectl: Kubectl, manifest: dict[str, Any]) -> bool:
    """Whether the live object differs from the manifest as ``argocd`` would apply it."""
    done = kubectl("diff", "--server-side", "--force-conflicts", "--field-manager=argocd",
                   "-f", "-", input=json.dumps(manifest), check=False)  # fmt: skip
    assert done.returncode in (0, 1), done.stderr
    return done.returncode == 1


def argocd_fields(kube: client.ApiClient, namespace: str) -> Any:
    deployment = client.AppsV1Api(kube).read_namespaced_deployment("web", namespace)
    [entry] = [f for f in deployment.metadata.managed_fields if f.manager == "argocd"]
    return entry.fields_v1["f:spec"]


def test_reapplying_a_manifest_without_replicas_keeps_what_podscale_chose(
    testbed: Testbed, kube: client.ApiClient, kubectl: Kubectl, namespace: str, tmp_path: Path
) -> None:
    manifest = example("Deployment", namespace)
    assert "replicas" not in manifest["spec"]
    argocd_apply(kubectl, manifest)
    assert "f:replicas" not in argocd_fields(kube, namespace)
    running_pods(kube, namespace, "web", 1, cpu="900m")  # 360 % of 250m: scale up
    (tmp_path / "web.yaml").write_text(json.dumps(example("ScalingPolicy", namespace)))
    done = run_once(testbed.kubeconfig, tmp_path, "--no-crds", "--namespace", namespace)
    assert done.returncode == 0, done.stderr
    scaled = spec_replicas(kubectl, namespace, "web")
    assert scaled > 1

    # A self-heal: the same manifest, applied again by the same manager. No drift.
    assert not drift(kubectl, manifest)
    argocd_apply(kubectl, manifest)
    assert spec_replicas(kubectl, namespace, "web") == scaled

    # Git with replicas: the apply sets them back (and argocd now owns spec.replicas).
    pinned = {**manifest, "spec": {**manifest["spec"], "replicas": 1}}
    assert drift(kubectl, pinned)
    argocd_apply(kubectl, pinned)
    assert spec_replicas(kubectl, namespace, "web") == 1
    assert "f:replicas" in argocd_fields(kube, namespace)
