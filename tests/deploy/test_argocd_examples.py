"""The Argo CD examples in deploy/examples: well-formed Applications that match Podscale.

No Argo CD (nor its CRD) is available offline, so the Applications are checked against
the fields its CRD requires (spec.project, spec.destination, spec.source.repoURL,
ignoreDifferences[].kind), the same ones the validator generated from that CRD, npm's
``@kubernetes-models/argo-cd`` 4.0.0, enforces: all three Applications passed it. The
workload example is checked for what docs/argocd.md promises: no replicas in Git for
the first setup, replicas ignored and not written back for the second.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from autoscaler.policy import load_policies

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = REPO / "deploy" / "examples"


def documents(name: str) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all((EXAMPLES / name).read_text()) if d]


def applications() -> list[dict[str, Any]]:
    names = ("argocd-application.yaml", "argocd-workload.yaml")
    return [d for n in names for d in documents(n) if d["kind"] == "Application"]


def named(docs: list[dict[str, Any]], kind: str, name: str) -> dict[str, Any]:
    [doc] = [d for d in docs if d["kind"] == kind and d["metadata"]["name"] == name]
    return doc


@pytest.mark.parametrize("app", applications(), ids=lambda a: a["metadata"]["name"])
def test_each_application_has_the_fields_argo_cd_requires(app: dict[str, Any]) -> None:
    assert app["apiVersion"] == "argoproj.io/v1alpha1"
    assert app["metadata"]["namespace"] == "argocd"
    spec = app["spec"]
    assert isinstance(spec["project"], str)
    assert spec["source"]["repoURL"] and spec["source"]["targetRevision"]
    destination = spec["destination"]
    assert destination["namespace"] and (destination.get("server") or destination.get("name"))
    options = spec["syncPolicy"].get("syncOptions", [])
    assert all(isinstance(o, str) and o.count("=") == 1 for o in options)
    for ignored in spec.get("ignoreDifferences", []):
        assert ignored["kind"] and ignored["name"]
        assert all(p.startswith("/") for p in ignored["jsonPointers"])


def test_podscale_application_installs_an_overlay_of_this_repository() -> None:
    [app] = documents("argocd-application.yaml")
    source, destination = app["spec"]["source"], app["spec"]["destination"]
    assert (REPO / source["path"] / "kustomization.yaml").exists()
    [namespace] = yaml.safe_load_all((REPO / "deploy/base/namespace.yaml").read_text())
    assert destination["namespace"] == namespace["metadata"]["name"]
    assert "ServerSideApply=true" in app["spec"]["syncPolicy"]["syncOptions"]
    [ignored] = app["spec"]["ignoreDifferences"]
    adapter = REPO / "deploy/components/external-metrics/adapter.yaml"
    services = list(yaml.safe_load_all(adapter.read_text()))
    api_service = named(services, "APIService", ignored["name"])
    assert (ignored["kind"], ignored["jsonPointers"]) == ("APIService", ["/spec/caBundle"])
    assert "caBundle" not in api_service["spec"]  # injected in the cluster, not in Git


def test_setup_one_keeps_replicas_out_of_git_and_scales_with_a_policy(tmp_path: Path) -> None:
    docs = documents("argocd-workload.yaml")
    deployment = named(docs, "Deployment", "web")
    assert "replicas" not in deployment["spec"]
    policy = tmp_path / "web.yaml"
    policy.write_text(yaml.safe_dump(named(docs, "ScalingPolicy", "web")))
    loaded = load_policies([str(policy)])
    assert loaded.errors == []
    ref = loaded.policies[0].policy.spec.scale_target_ref
    assert (ref.kind, ref.name) == ("Deployment", "web")


def test_setup_two_ignores_replicas_and_does_not_write_them_back() -> None:
    app = named(documents("argocd-workload.yaml"), "Application", "checkout")
    assert "RespectIgnoreDifferences=true" in app["spec"]["syncPolicy"]["syncOptions"]
    ignored = {(i["group"], i["kind"]): i["jsonPointers"] for i in app["spec"]["ignoreDifferences"]}
    assert ignored == {("apps", "Deployment"): ["/spec/replicas"],
                       ("argoproj.io", "Rollout"): ["/spec/replicas"]}  # fmt: skip
