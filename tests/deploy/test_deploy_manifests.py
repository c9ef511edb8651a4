"""deploy/: every rendered manifest is valid Kubernetes, safe, and matches the CLI.

Each kustomization is rendered with the machine's `kubectl kustomize` and every object
is validated offline against the Kubernetes OpenAPI schemas bundled in
`kubernetes-validate` (strict: unknown fields are errors).
"""

from __future__ import annotations

import functools
import re
import subprocess
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from autoscaler.cli import build_parser

REPO = Path(__file__).resolve().parents[2]
KUSTOMIZATIONS = ("base", "overlays/dev", "overlays/ha", "overlays/external-metrics")
CONTROLLER_ONLY = ("base", "overlays/dev", "overlays/ha")
K8S_VERSION = "1.31"
IMAGE = "ghcr.io/podscale/podscale:0.1.0"


@functools.cache
def rendered(name: str) -> tuple[dict[str, Any], ...]:
    result = subprocess.run(
        ["kubectl", "kustomize", str(REPO / "deploy" / name)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, f"kubectl kustomize deploy/{name}: {result.stderr}"
    return tuple(d for d in yaml.safe_load_all(result.stdout) if d)


def one(name: str, kind: str, object_name: str | None = None) -> dict[str, Any]:
    found = [
        d
        for d in rendered(name)
        if d["kind"] == kind and object_name in (None, d["metadata"]["name"])
    ]
    assert len(found) == 1, f"deploy/{name}: {len(found)} {kind} {object_name or ''}"
    return found[0]


def controller(name: str) -> dict[str, Any]:
    return one(name, "Deployment", "podscale")


def container(name: str) -> dict[str, Any]:
    containers = controller(name)["spec"]["template"]["spec"]["containers"]
    assert len(containers) == 1
    return containers[0]


def env(name: str, main: dict[str, Any] | None = None) -> dict[str, str]:
    """A container's environment as Kubernetes sets it: literal values and ConfigMap keys
    (fieldRefs, known only to a running pod, are "")."""
    maps = {
        d["metadata"]["name"]: d.get("data", {}) for d in rendered(name) if d["kind"] == "ConfigMap"
    }
    values = {}
    for e in (main or container(name)).get("env", []):
        ref = e.get("valueFrom", {}).get("configMapKeyRef")
        values[e["name"]] = maps[ref["name"]][ref["key"]] if ref else e.get("value", "")
    return values


def kubelet_args(name: str) -> list[str]:
    """The controller's args as the kubelet passes them: ``$(VAR)`` replaced by the
    container's variables, the pod's own name and namespace (fieldRefs) included."""
    pod = controller(name)
    fields = {
        "metadata.namespace": pod["metadata"]["namespace"],
        "metadata.name": f"{pod['metadata']['name']}-5d8f7c9b4-x2x7q",
    }
    values = env(name)
    for e in container(name).get("env", []):
        field = e.get("valueFrom", {}).get("fieldRef", {}).get("fieldPath")
        if field in fields:
            values[e["name"]] = fields[field]
    return [
        re.sub(r"\$\((\w+)\)", lambda m: values.get(m[1], m[0]), arg)
        for arg in container(name)["args"]
    ]


def label(doc: dict[str, Any]) -> str:
    return f"{doc['kind']}/{doc['metadata']['name']}"


ALL_OBJECTS = [(k, d) for k in KUSTOMIZATIONS for d in rendered(k)]


@pytest.mark.parametrize(
    "kustomization,doc", ALL_OBJECTS, ids=[f"{k}:{label(d)}" for k, d in ALL_OBJECTS]
)
def test_every_rendered_object_validates_against_the_kubernetes_openapi_schema(
    kustomization: str, doc: dict[str, Any]
) -> None:
    try:
        kubernetes_validate.validate(doc, K8S_VERSION, strict=True)
    except kubernetes_validate.ValidationError as exc:
        where = ".".join(str(p) for p in exc.path)
        pytest.fail(f"deploy/{kustomization}: {label(doc)}: {where}: {exc.message}")


def test_the_validator_is_strict_enough_to_catch_a_typo_and_a_wrong_type() -> None:
    deployment = yaml.safe_load(yaml.safe_dump(controller("base")))
    deployment["spec"]["replica"] = 2
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(deployment, K8S_VERSION, strict=True)
    deployment = yaml.safe_load(yaml.safe_dump(controller("base")))
    deployment["spec"]["replicas"] = "2"
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(deployment, K8S_VERSION, strict=True)


@pytest.mark.parametrize("kustomization", KUSTOMIZATIONS)
def test_the_base_objects_are_all_there(kustomization: str) -> None:
    kinds = {label(d) for d in rendered(kustomization)}
    expected = {
        "Namespace/podscale-system",
        "ServiceAccount/podscale",
        "ClusterRole/podscale",
        "ClusterRoleBinding/podscale",
        "Role/podscale-leader-election",
        "ClusterRoleBinding/podscale:system:auth-delegator",
        "RoleBinding/podscale:extension-apiserver-authentication-reader",
        "CustomResourceDefinition/scalingpolicies.podscale.dev",
        "Deployment/podscale",
    }
    assert expected <= kinds
    config_maps = {d["metadata"]["name"].rsplit("-", 1)[0] for d in rendered(kustomization)}
    assert {"podscale-policies", "podscale-metrics"} <= config_maps


@pytest.mark.parametrize(
    "kustomization,replicas,min_available",
    [("base", 2, 1), ("overlays/dev", 1, None), ("overlays/ha", 3, 2)],
)
def test_replicas_and_disruption_budget_per_overlay(
    kustomization: str, replicas: int, min_available: int | None
) -> None:
    assert controller(kustomization)["spec"]["replicas"] == replicas
    budgets = [
        d
        for d in rendered(kustomization)
        if d["kind"] == "PodDisruptionBudget" and d["metadata"]["name"] == "podscale"
    ]
    if min_available is None:  # one replica: a budget would block every drain
        assert budgets == []
    else:
        assert [b["spec"]["minAvailable"] for b in budgets] == [min_available]
        assert min_available < replicas  # a drain can always proceed
        selector = budgets[0]["spec"]["selector"]["matchLabels"]
        assert (
            selector.items()
            <= controller(kustomization)["spec"]["template"]["metadata"]["labels"].items()
        )


def test_dev_runs_in_dry_run_with_debug_logs_and_the_others_enforce() -> None:
    assert env("overlays/dev")["AUTOSCALER_DRY_RUN"] == "true"
    assert env("overlays/dev")["AUTOSCALER_LOG_LEVEL"] == "debug"
    for name in ("base", "overlays/ha"):
        assert "AUTOSCALER_DRY_RUN" not in env(name)
        assert "--dry-run" not in container(name)["args"]


def test_ha_spreads_replicas_over_nodes() -> None:
    spread = controller("overlays/ha")["spec"]["template"]["spec"]["topologySpreadConstraints"]
    by_key = {c["topologyKey"]: c for c in spread}
    assert by_key["kubernetes.io/hostname"]["whenUnsatisfiable"] == "DoNotSchedule"
    assert "topology.kubernetes.io/zone" in by_key


@pytest.mark.parametrize("kustomization", KUSTOMIZATIONS)
def test_the_container_args_are_a_valid_autoscaler_run_command_line(kustomization: str) -> None:
    main = container(kustomization)
    assert main["command"] == ["autoscaler"]
    args = build_parser().parse_args(main["args"])  # argparse exits on an unknown flag
    assert args.command == "run"
    assert args.policies == ["/etc/podscale/policies"]
    assert args.listen == "0.0.0.0:8080"
    assert args.leader_elect is True
    # Kubernetes expands $(VAR) in args from the container's env.
    assert args.leader_elect_namespace == "$(POD_NAMESPACE)"
    assert args.leader_elect_identity == "$(POD_NAME)"
    fields = {
        e["name"]: e.get("valueFrom", {}).get("fieldRef", {}).get("fieldPath") for e in main["env"]
    }
    assert fields["POD_NAMESPACE"] == "metadata.namespace"
    assert fields["POD_NAME"] == "metadata.name"
    mounts = {m["mountPath"] for m in main["volumeMounts"]}
    assert "/etc/podscale/policies" in mounts
    assert "/etc/podscale/metrics" in mounts
    assert env(kustomization)["AUTOSCALER_METRICS_CONFIG"] == '["/etc/podscale/metrics"]'


@pytest.mark.parametrize("kustomization", KUSTOMIZATIONS)
def test_the_controller_pod_is_locked_down(kustomization: str) -> None:
    pod = controller(kustomization)["spec"]["template"]["spec"]
    main = container(kustomization)
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    context = main["securityContext"]
    assert context["allowPrivilegeEscalation"] is False
    assert context["readOnlyRootFilesystem"] is True
    assert context["capabilities"] == {"drop": ["ALL"]}
    assert pod["serviceAccountName"] == "podscale"
    assert main["image"] == IMAGE
    assert {"cpu", "memory"} <= main["resources"]["requests"].keys()
    assert {"cpu", "memory"} <= main["resources"]["limits"].keys()


@pytest.mark.parametrize("kustomization", KUSTOMIZATIONS)
def test_probes_and_scrape_annotations_use_the_listen_port(kustomization: str) -> None:
    main = container(kustomization)
    ports = {p["name"]: p["containerPort"] for p in main["ports"]}
    assert ports == {"http": 8080}
    assert main["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
    assert main["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "http"}
    annotations = controller(kustomization)["spec"]["template"]["metadata"]["annotations"]
    assert annotations["prometheus.io/scrape"] == "true"
    assert annotations["prometheus.io/port"] == "8080"
    assert annotations["prometheus.io/path"] == "/metrics"


@pytest.mark.parametrize("kustomization", CONTROLLER_ONLY)
def test_only_the_adapter_component_claims_the_external_metrics_api(kustomization: str) -> None:
    # KEDA or prometheus-adapter may own it: installing Podscale must not take it over.
    kinds = {d["kind"] for d in rendered(kustomization)}
    assert "APIService" not in kinds
    assert "podscale-adapter" not in {d["metadata"]["name"] for d in rendered(kustomization)}


def test_the_adapter_service_and_apiservice_are_wired_with_tls_verified() -> None:
    name = "overlays/external-metrics"
    service = one(name, "Service", "podscale-adapter")
    assert service["spec"]["ports"] == [
        {"name": "https", "port": 443, "targetPort": "https", "protocol": "TCP"}
    ]
    adapter = one(name, "Deployment", "podscale-adapter")["spec"]["template"]
    assert service["spec"]["selector"].items() <= adapter["metadata"]["labels"].items()
    assert not service["spec"]["selector"].items() <= (
        controller(name)["spec"]["template"]["metadata"]["labels"].items()
    )
    [main] = adapter["spec"]["containers"]
    assert {p["name"]: p["containerPort"] for p in main["ports"]} == {"https": 6443}
    api = one(name, "APIService")["spec"]
    assert (api["group"], api["version"]) == ("external.metrics.k8s.io", "v1beta1")
    assert api["service"] == {
        "name": "podscale-adapter",
        "namespace": "podscale-system",
        "port": 443,
    }
    assert api["insecureSkipTLSVerify"] is False


def test_the_adapter_container_is_a_valid_autoscaler_adapter_command_line(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from autoscaler.adapter.command import options_from

    template = one("overlays/external-metrics", "Deployment", "podscale-adapter")["spec"]
    pod = template["template"]["spec"]
    [main] = pod["containers"]
    assert main["command"] == ["autoscaler"]
    args = build_parser().parse_args(main["args"])
    assert args.command == "adapter"
    assert args.listen == "0.0.0.0:6443"
    assert args.metrics_config == ["/etc/podscale/metrics"]
    # The adapter reads the loop's Prometheus from the variable `autoscaler run` reads.
    assert args.prometheus_url is None
    assert (
        env("overlays/external-metrics", main)["AUTOSCALER_PROMETHEUS_URL"]
        == env("overlays/external-metrics")["AUTOSCALER_PROMETHEUS_URL"]
    )
    assert {e["name"] for e in main["env"]} >= {"AUTOSCALER_PROMETHEUS_URL"}
    for name, value in env("overlays/external-metrics", main).items():
        monkeypatch.setenv(name, value)
    assert (
        options_from(args).prometheus_url
        == env("overlays/external-metrics")["AUTOSCALER_PROMETHEUS_URL"]
    )
    mounts = {m["mountPath"]: m["name"] for m in main["volumeMounts"]}
    assert Path(args.tls_cert).parent == Path(args.tls_key).parent == Path("/etc/podscale/tls")
    volumes = {v["name"]: v for v in pod["volumes"]}
    assert volumes[mounts["/etc/podscale/tls"]]["secret"]["secretName"] == "podscale-adapter-tls"
    assert volumes[mounts["/etc/podscale/metrics"]]["configMap"]["name"].startswith(
        "podscale-metrics"
    )
    assert "/tmp" in mounts  # the front-proxy CA read from the cluster is written there
    assert pod["serviceAccountName"] == "podscale"
    assert main["securityContext"]["readOnlyRootFilesystem"] is True
    for probe in ("livenessProbe", "readinessProbe"):
        assert main[probe]["httpGet"]["scheme"] == "HTTPS"


@pytest.mark.parametrize("kustomization", KUSTOMIZATIONS)
def test_the_controller_settings_start_as_rendered(
    kustomization: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """What `autoscaler run` checks before it starts: declarations need a Prometheus URL."""
    from autoscaler.run_command import _custom_metrics, _settings

    for doc in rendered(kustomization):
        if doc["kind"] == "ConfigMap" and doc["metadata"]["name"].startswith("podscale-metrics"):
            for file, text in doc["data"].items():
                (tmp_path / file).write_text(text)
    for name, value in env(kustomization).items():
        if name.startswith("AUTOSCALER_"):
            monkeypatch.setenv(name, value.replace("/etc/podscale/metrics", str(tmp_path)))
    args = build_parser().parse_args(kubelet_args(kustomization))
    settings = _settings(args)
    assert settings.prometheus_url
    assert _custom_metrics(settings) is not None  # raises what would stop the pod


def rules(kind: str, name: str) -> set[tuple[str, str, str]]:
    """(apiGroup, resource, verb) triples a role grants."""
    return {
        (group, resource, verb)
        for rule in one("base", kind, name)["rules"]
        for group in rule["apiGroups"]
        for resource in rule["resources"]
        for verb in rule["verbs"]
    }


def test_the_cluster_role_grants_exactly_what_the_loop_and_adapter_use() -> None:
    def grant(group: str, resources: str, verbs: str) -> set[tuple[str, str, str]]:
        return {(group, r, v) for r in resources.split() for v in verbs.split()}

    expected = (
        grant("podscale.dev", "scalingpolicies", "get list watch")
        | grant("podscale.dev", "scalingpolicies/status", "update patch")
        | grant("", "pods", "get list watch")
        | grant("apps", "deployments statefulsets replicasets", "list watch")
        | grant("argoproj.io", "rollouts", "list watch")
        | grant("apps", "deployments/scale statefulsets/scale replicasets/scale", "get patch")
        | grant("argoproj.io", "rollouts/scale", "get patch")
        | grant("metrics.k8s.io", "pods", "get list")
        | grant("", "events", "create patch")
        | grant("events.k8s.io", "events", "create patch")
        | grant("authentication.k8s.io", "tokenreviews", "create")
        | grant("authorization.k8s.io", "subjectaccessreviews", "create")
    )
    assert rules("ClusterRole", "podscale") == expected
    assert rules("Role", "podscale-leader-election") == grant(
        "coordination.k8s.io", "leases", "get create update"
    )


def test_no_role_grants_wildcards_secrets_or_writes_to_workloads_themselves() -> None:
    for doc in rendered("base"):
        for rule in doc.get("rules", []) if doc["kind"] in ("Role", "ClusterRole") else []:
            assert "*" not in rule["verbs"], label(doc)
            assert "secrets" not in rule["resources"], label(doc)
            writes = {"create", "update", "patch", "delete"} & set(rule["verbs"])
            workloads = {"deployments", "statefulsets", "replicasets", "rollouts"}
            assert not (writes and workloads & set(rule["resources"])), label(doc)


def test_the_aggregated_api_bindings_point_at_the_service_account_in_kube_system() -> None:
    reader = one("base", "RoleBinding", "podscale:extension-apiserver-authentication-reader")
    assert reader["metadata"]["namespace"] == "kube-system"
    assert reader["roleRef"]["name"] == "extension-apiserver-authentication-reader"
    delegator = one("base", "ClusterRoleBinding", "podscale:system:auth-delegator")
    assert delegator["roleRef"]["name"] == "system:auth-delegator"
    account = {"kind": "ServiceAccount", "name": "podscale", "namespace": "podscale-system"}
    assert reader["subjects"] == [account]
    assert delegator["subjects"] == [account]


def test_the_crd_in_deploy_is_the_one_autoscaler_crd_prints() -> None:
    from autoscaler.crd import crd

    assert one("base", "CustomResourceDefinition") == {
        **crd(),
        "metadata": {
            **crd()["metadata"],
            "labels": {**crd()["metadata"]["labels"], "app.kubernetes.io/part-of": "podscale"},
        },
    }


def test_the_config_maps_hold_files_the_loop_and_adapter_load(tmp_path: Path) -> None:
    from autoscaler.metrics.declarations import load_declarations
    from autoscaler.policy import load_policies

    for doc in rendered("base"):
        if doc["kind"] == "ConfigMap":
            folder = tmp_path / doc["metadata"]["name"]
            folder.mkdir()
            for name, text in doc["data"].items():
                (folder / name).write_text(text)
    [policies] = tmp_path.glob("podscale-policies-*")
    [metrics] = tmp_path.glob("podscale-metrics-*")
    loaded = load_policies([str(policies)])
    assert loaded.errors == [] and len(loaded.policies) == 1
    declarations = load_declarations([str(metrics)])
    assert declarations.errors == [] and len(declarations.metrics) == 2
