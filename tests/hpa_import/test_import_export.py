"""`autoscaler import-hpa` and `export-hpa`: specs kept exactly, identical decisions.

The corpus (`corpus/*.yaml`) is what kubectl prints for v2, v2beta2 and v1 HPAs and,
between its items, uses every field of the HPA spec. Each imported policy must decide
as its HPA does: both specs go through the same snapshot (pods, every metric source,
a history that exercises the windows and rate policies) at several replica counts.
Round trips HPA -> policy -> HPA keep the spec, for the corpus and for generated specs.
"""

from __future__ import annotations

import copy
import io
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from builders import HOUR_AGO, NOW, pod, run, snapshot, usage
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from autoscaler.cli import main

CORPUS = Path(__file__).parent / "corpus"
REPO = Path(__file__).resolve().parents[2]
EXE = str(Path(sys.executable).parent / "autoscaler")
V2_FILES = ("kubectl-get-hpa-all.yaml", "v2beta2-hpa.yaml")

# The v2 HPAs the API server shows for the v1 ones in corpus/v1-hpas.yaml: the
# annotation's metrics first (v2beta1 names converted), the cpu percentage last.
V1_AS_V2: dict[str, dict[str, Any]] = {
    "front": {
        "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "front"},
        "minReplicas": 1,
        "maxReplicas": 10,
        "metrics": [
            {
                "type": "Resource",
                "resource": {
                    "name": "cpu",
                    "target": {"type": "Utilization", "averageUtilization": 65},
                },
            }
        ],
    },
    "cart": {
        "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "cart"},
        "minReplicas": 3,
        "maxReplicas": 30,
        "metrics": [
            {
                "type": "Pods",
                "pods": {
                    "metric": {"name": "http_requests_per_second"},
                    "target": {"type": "AverageValue", "averageValue": "50"},
                },
            },
            {
                "type": "External",
                "external": {
                    "metric": {
                        "name": "queue_messages_ready",
                        "selector": {"matchLabels": {"queue": "cart"}},
                    },
                    "target": {"type": "AverageValue", "averageValue": "30"},
                },
            },
            {
                "type": "Object",
                "object": {
                    "describedObject": {
                        "apiVersion": "networking.k8s.io/v1",
                        "kind": "Ingress",
                        "name": "cart",
                    },
                    "metric": {"name": "requests_per_second"},
                    "target": {"type": "Value", "value": "2k"},
                },
            },
            {
                "type": "Resource",
                "resource": {
                    "name": "memory",
                    "target": {"type": "AverageValue", "averageValue": "512Mi"},
                },
            },
            {
                "type": "Resource",
                "resource": {
                    "name": "cpu",
                    "target": {"type": "Utilization", "averageUtilization": 70},
                },
            },
        ],
        "behavior": {
            "scaleUp": {
                "stabilizationWindowSeconds": 0,
                "selectPolicy": "Max",
                "policies": [{"type": "Pods", "value": 4, "periodSeconds": 15}],
            },
            "scaleDown": {
                "stabilizationWindowSeconds": 300,
                "selectPolicy": "Min",
                "policies": [{"type": "Percent", "value": 50, "periodSeconds": 60}],
            },
        },
    },
}


def command(*args: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(list(args), out=out, err=err)
    return code, out.getvalue(), err.getvalue()


def hpas(name: str) -> list[dict[str, Any]]:
    """The HPA objects of a corpus file (a List's items, or the documents)."""
    found = []
    for document in yaml.safe_load_all((CORPUS / name).read_text()):
        found += document["items"] if document.get("kind") == "List" else [document]
    return found


def imported(*paths: str) -> list[dict[str, Any]]:
    code, out, err = command("import-hpa", *paths)
    assert code == 0, err
    return list(yaml.safe_load_all(out))


def reference_specs() -> list[tuple[str, dict[str, Any]]]:
    """(name, the v2 spec the HPA controller runs) for every HPA of the corpus."""
    specs = [(h["metadata"]["name"], h["spec"]) for f in V2_FILES for h in hpas(f)]
    return specs + [
        (h["metadata"]["name"], V1_AS_V2[h["metadata"]["name"]]) for h in hpas("v1-hpas.yaml")
    ]


@pytest.mark.parametrize("name", V2_FILES)
def test_import_keeps_name_namespace_labels_and_the_spec_exactly(name: str) -> None:
    policies = imported(str(CORPUS / name))
    originals = hpas(name)
    assert len(policies) == len(originals)
    for policy, hpa in zip(policies, originals, strict=True):
        assert policy["apiVersion"] == "podscale.dev/v1alpha1"
        assert policy["kind"] == "ScalingPolicy"
        expected_meta = {
            k: hpa["metadata"][k] for k in ("name", "namespace", "labels") if k in hpa["metadata"]
        }
        assert policy["metadata"] == expected_meta
        assert policy["spec"] == hpa["spec"]
        assert "status" not in policy


def test_a_v1_hpa_is_imported_as_the_server_converts_it_to_v2() -> None:
    policies = imported(str(CORPUS / "v1-hpas.yaml"))
    assert {p["metadata"]["name"]: p["spec"] for p in policies} == V1_AS_V2
    assert all("annotations" not in p["metadata"] for p in policies)


def decision_inputs(current: int) -> dict[str, Any]:
    """Every metric source of the corpus answered, for ``current`` ready pods."""
    names = [f"p{i}" for i in range(current)]
    return {
        "current": current,
        "pods": [pod(n, cpu="500m", memory="1Gi") for n in names],
        "data": {
            "resource": {n: usage("600m", memory="700Mi") for n in names},
            "pods": {"http_requests_per_second": {n: "90" for n in names}},
            "object": {"requests_per_second": "3k", "connections": "450"},
            "external": {"queue_messages_ready": ["200"], "upstream_latency_seconds": ["300m"]},
        },
        "history": {
            "recommendations": [
                {"time": NOW - 200, "replicas": current + 6},
                {"time": NOW - 20, "replicas": max(1, current - 2)},
            ],
            "scaleUpEvents": [{"time": NOW - 10, "change": 2}],
            "scaleDownEvents": [{"time": HOUR_AGO, "change": 1}],
        },
    }


def decide(spec: dict[str, Any], current: int) -> dict[str, Any]:
    policy = {k: v for k, v in spec.items() if k != "scaleTargetRef"}
    inputs = decision_inputs(current)
    doc = snapshot(
        current=current,
        pods=inputs["pods"],
        data=inputs["data"],
        history=inputs["history"],
        max_replicas=policy["maxReplicas"],
    )
    doc["policy"] = policy
    return run(doc)


def test_imported_policies_decide_as_their_hpas_do() -> None:
    files = [str(CORPUS / f) for f in (*V2_FILES, "v1-hpas.yaml")]
    policies = {p["metadata"]["name"]: p["spec"] for p in imported(*files)}
    references = reference_specs()
    assert sorted(policies) == sorted(name for name, _ in references)
    changed = 0
    for name, reference in references:
        for current in (1, 3, 6, 25):
            expected = decide(reference, current)
            assert decide(policies[name], current) == expected, (name, current)
            changed += expected["desiredReplicas"] != current
    assert changed >= 8  # the cases scale, so equal decisions say something


def test_hpa_to_policy_to_hpa_keeps_the_spec() -> None:
    for name in (*V2_FILES, "v1-hpas.yaml"):
        code, policies, err = command("import-hpa", str(CORPUS / name))
        assert code == 0, err
        source = CORPUS / name
        exported_text = _export_text(policies)
        exported = list(yaml.safe_load_all(exported_text))
        originals = hpas(name)
        for hpa, back in zip(originals, exported, strict=True):
            assert back["apiVersion"] == "autoscaling/v2"
            assert back["kind"] == "HorizontalPodAutoscaler"
            want = V1_AS_V2[hpa["metadata"]["name"]] if "v1" in source.name else hpa["spec"]
            assert back["spec"] == want


def _export_text(policies_yaml: str) -> str:
    done = subprocess.run(
        [EXE, "export-hpa", "-"], input=policies_yaml, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


QUANTITIES = st.sampled_from(["1", "30", "250m", "2k", "512Mi", "1.5"])
NAMES = st.sampled_from(["rps", "queue_depth", "latency_seconds"])
SELECTORS = st.one_of(
    st.none(),
    st.just({"matchLabels": {"queue": "jobs"}}),
    st.just({"matchExpressions": [{"key": "route", "operator": "In", "values": ["/a"]}]}),
)


@st.composite
def targets(draw: st.DrawFn, *, utilization: bool, value: bool) -> dict[str, Any]:
    kinds = (
        ["AverageValue"] + (["Utilization"] if utilization else []) + (["Value"] if value else [])
    )
    kind = draw(st.sampled_from(kinds))
    if kind == "Utilization":
        return {"type": kind, "averageUtilization": draw(st.integers(1, 200))}
    field = "averageValue" if kind == "AverageValue" else "value"
    return {"type": kind, field: draw(QUANTITIES)}


def _identifier(name: str, selector: dict[str, Any] | None) -> dict[str, Any]:
    return {"name": name} if selector is None else {"name": name, "selector": selector}


@st.composite
def metrics(draw: st.DrawFn) -> dict[str, Any]:
    kind = draw(st.sampled_from(["Resource", "ContainerResource", "Pods", "Object", "External"]))
    if kind == "Resource":
        body = {
            "name": draw(st.sampled_from(["cpu", "memory"])),
            "target": draw(targets(utilization=True, value=False)),
        }
        return {"type": kind, "resource": body}
    if kind == "ContainerResource":
        body = {
            "name": "cpu",
            "container": "app",
            "target": draw(targets(utilization=True, value=False)),
        }
        return {"type": kind, "containerResource": body}
    metric = _identifier(draw(NAMES), draw(SELECTORS))
    if kind == "Pods":
        return {
            "type": kind,
            "pods": {"metric": metric, "target": draw(targets(utilization=False, value=False))},
        }
    if kind == "Object":
        described = {"apiVersion": "v1", "kind": "Service", "name": "web"}
        body = {
            "describedObject": described,
            "metric": metric,
            "target": draw(targets(utilization=False, value=True)),
        }
        return {"type": kind, "object": body}
    return {
        "type": kind,
        "external": {"metric": metric, "target": draw(targets(utilization=False, value=True))},
    }


@st.composite
def rules(draw: st.DrawFn) -> dict[str, Any]:
    found: dict[str, Any] = {}
    if draw(st.booleans()):
        found["stabilizationWindowSeconds"] = draw(st.integers(0, 3600))
    if draw(st.booleans()):
        found["selectPolicy"] = draw(st.sampled_from(["Max", "Min", "Disabled"]))
    if draw(st.booleans()):
        found["policies"] = draw(
            st.lists(
                st.fixed_dictionaries(
                    {
                        "type": st.sampled_from(["Pods", "Percent"]),
                        "value": st.integers(1, 100),
                        "periodSeconds": st.integers(1, 1800),
                    }
                ),
                min_size=1,
                max_size=3,
            )
        )
    return found


@st.composite
def hpa_specs(draw: st.DrawFn) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"}
    }
    low = draw(st.none() | st.integers(1, 10))
    if low is not None:
        spec["minReplicas"] = low
    spec["maxReplicas"] = draw(st.integers(low or 1, 100))
    if draw(st.booleans()):
        spec["metrics"] = draw(st.lists(metrics(), min_size=1, max_size=4))
    if draw(st.booleans()):
        behavior = {d: draw(rules()) for d in ("scaleUp", "scaleDown") if draw(st.booleans())}
        spec["behavior"] = behavior
    return spec


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(spec=hpa_specs())
def test_generated_specs_survive_the_round_trip(tmp_path: Path, spec: dict[str, Any]) -> None:
    hpa = {
        "apiVersion": "autoscaling/v2",
        "kind": "HorizontalPodAutoscaler",
        "metadata": {"name": "web", "namespace": "shop"},
        "spec": spec,
    }
    source = tmp_path / "hpa.yaml"
    source.write_text(yaml.safe_dump(hpa))
    code, out, err = command("import-hpa", str(source))
    assert code == 0, err
    policy_file = tmp_path / "policy.yaml"
    policy_file.write_text(out)
    assert yaml.safe_load(out)["spec"] == spec
    code, out, err = command("export-hpa", str(policy_file))
    assert code == 0, err
    assert yaml.safe_load(out) == hpa


POLICY_WITH_EXTENSIONS = """\
apiVersion: podscale.dev/v1alpha1
kind: ScalingPolicy
metadata: {name: worker, namespace: shop, labels: {app: worker}}
spec:
  scaleTargetRef: {apiVersion: apps/v1, kind: Deployment, name: worker}
  mode: DryRun
  fallback: {replicas: 4}
  rollout: {awareness: HoldAndCap}
  maxReplicas: 20
  metrics:
    - type: External
      external:
        metric: {name: queue_messages_ready, selector: {matchLabels: {queue: jobs}}}
        target: {type: AverageValue, averageValue: "30"}
    - type: Pods
      pods:
        metric: {name: http_requests_per_second}
        target: {type: AverageValue, averageValue: "50"}
  behavior:
    scaleDown: {tolerance: 50m}
"""


def test_export_drops_podscale_fields_naming_each_on_stderr(tmp_path: Path) -> None:
    path = tmp_path / "worker.yaml"
    path.write_text(POLICY_WITH_EXTENSIONS)
    code, out, err = command("export-hpa", str(path))
    assert code == 0, err
    hpa = yaml.safe_load(out)
    assert hpa["apiVersion"] == "autoscaling/v2"
    assert hpa["metadata"] == {"name": "worker", "namespace": "shop", "labels": {"app": "worker"}}
    assert sorted(hpa["spec"]) == ["behavior", "maxReplicas", "metrics", "scaleTargetRef"]
    lines = err.splitlines()
    for line, field in ((6, "spec.mode"), (7, "spec.fallback"), (8, "spec.rollout")):
        assert any(x.startswith(f"warning: {path}:{line}: {field}: dropped: ") for x in lines), err
    assert (
        f'warning: {path}:11: spec.metrics[0]: the HPA reads "queue_messages_ready" from '
        "external.metrics.k8s.io" in err
    )
    assert (
        'spec.metrics[1]: the HPA reads Pods metric "http_requests_per_second" from '
        "custom.metrics.k8s.io" in err
    )
    assert "spec.behavior.scaleDown.tolerance: needs Kubernetes 1.33+" in err
    # What it wrote is a valid HPA manifest, and back to a policy without the extensions.
    exported = tmp_path / "hpa.yaml"
    exported.write_text(out)
    code, back, err = command("import-hpa", str(exported))
    assert code == 0, err
    assert yaml.safe_load(back)["spec"] == hpa["spec"]


def test_import_with_mode_dry_run_makes_shadow_policies() -> None:
    policies = imported("--mode", "DryRun", str(CORPUS / "v2beta2-hpa.yaml"))
    assert [p["spec"]["mode"] for p in policies] == ["DryRun"]


def test_import_skips_policies_and_other_kinds_with_a_warning(tmp_path: Path) -> None:
    path = tmp_path / "mixed.yaml"
    path.write_text(
        POLICY_WITH_EXTENSIONS + "---\napiVersion: v1\nkind: Service\nmetadata: {name: s}\n"
    )
    code, out, err = command("import-hpa", str(path), str(CORPUS / "v2beta2-hpa.yaml"))
    assert code == 0, err
    assert [p["metadata"]["name"] for p in yaml.safe_load_all(out)] == ["legacy"]
    assert f"warning: {path}:1: kind: already a ScalingPolicy: skipped" in err
    assert f"warning: {path}:" in err and "kind: Service is not a policy: skipped" in err


def cli(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([EXE, *args], input=stdin, capture_output=True, text=True, timeout=60)


def test_an_invalid_hpa_is_one_line_with_file_and_line_exit_1_and_nothing_written(
    tmp_path: Path,
) -> None:
    text = (CORPUS / "kubectl-get-hpa-all.yaml").read_text()
    bad = tmp_path / "hpas.yaml"
    bad.write_text(
        text.replace(
            "          averageUtilization: 70\n", "          averageUtilization: seventy\n", 1
        )
    )
    line = text.splitlines().index("          averageUtilization: 70") + 1
    done = cli("import-hpa", str(bad))
    assert done.returncode == 1
    assert done.stdout == ""
    assert done.stderr.splitlines()[0] == (
        f"error: {bad}:{line}: spec.metrics[0].resource.target.averageUtilization: "
        'must be an integer (got "seventy")'
    )
    assert "Traceback" not in done.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        pytest.param(
            ("import-hpa", "/nonexistent/hpa.yaml"),
            "error: /nonexistent/hpa.yaml: no such file or directory",
            id="missing-file",
        ),
        pytest.param(
            ("export-hpa", "/nonexistent/p.yaml"),
            "error: /nonexistent/p.yaml: no such file or directory",
            id="export-missing-file",
        ),
        pytest.param(
            ("import-hpa",),
            "autoscaler import-hpa: give FILE... or --from-cluster (one of them)",
            id="nothing-to-read",
        ),
        pytest.param(
            ("import-hpa", "-n", "shop", "x.yaml"),
            "autoscaler import-hpa: -n needs --from-cluster",
            id="namespace-without-cluster",
        ),
        pytest.param(
            ("import-hpa", "--from-cluster", "x.yaml"),
            "autoscaler import-hpa: give FILE... or --from-cluster (one of them)",
            id="both",
        ),
        pytest.param(
            ("import-hpa", "--from-cluster", "--kubeconfig", "/nonexistent/kubeconfig"),
            "autoscaler import-hpa: cannot load Kubernetes config from /nonexistent/kubeconfig",
            id="no-cluster",
        ),
    ],
)
def test_unreadable_input_is_one_line_and_exit_2(args: tuple[str, ...], message: str) -> None:
    done = cli(*args)
    assert done.returncode == 2, done.stderr
    assert done.stdout == ""
    assert len(done.stderr.splitlines()) == 1, done.stderr
    assert done.stderr.startswith(message), done.stderr


def test_kubectl_output_on_stdin_imports() -> None:
    done = cli("import-hpa", "-", stdin=(CORPUS / "kubectl-get-hpa-all.yaml").read_text())
    assert done.returncode == 0, done.stderr
    assert [p["metadata"]["name"] for p in yaml.safe_load_all(done.stdout)] == [
        "web",
        "api",
        "batch",
    ]
    assert "3 HorizontalPodAutoscalers imported" in done.stderr


def test_an_hpa_with_nothing_set_but_the_required_fields_round_trips_unchanged() -> None:
    spec = {"scaleTargetRef": {"kind": "Deployment", "name": "a"}, "maxReplicas": 3}
    hpa = {
        "apiVersion": "autoscaling/v2",
        "kind": "HorizontalPodAutoscaler",
        "metadata": {"name": "a"},
        "spec": copy.deepcopy(spec),
    }
    done = cli("import-hpa", "-", stdin=yaml.safe_dump(hpa))
    assert yaml.safe_load(done.stdout)["spec"] == spec  # no defaults written in


TWO_EXTERNAL = """\
apiVersion: podscale.dev/v1alpha1
kind: ScalingPolicy
metadata: {name: worker, namespace: shop}
spec:
  scaleTargetRef: {apiVersion: apps/v1, kind: Deployment, name: worker}
  maxReplicas: 20
  metrics:
    - type: External
      external:
        metric: {name: queue_messages_ready, selector: {matchLabels: {queue: jobs}}}
        target: {type: AverageValue, averageValue: "30"}
    - type: External
      external:
        metric: {name: not_declared}
        target: {type: Value, value: "3"}
"""


def test_export_checks_external_metrics_against_what_the_adapter_serves(tmp_path: Path) -> None:
    path = tmp_path / "worker.yaml"
    path.write_text(TWO_EXTERNAL)
    declarations = str(REPO / "deploy" / "base" / "metrics")
    code, out, err = command("export-hpa", "--metrics-config", declarations, str(path))
    assert code == 0, err
    assert [m["external"]["metric"]["name"] for m in yaml.safe_load(out)["spec"]["metrics"]] == [
        "queue_messages_ready",
        "not_declared",
    ]
    assert err.splitlines() == [
        f'warning: {path}:12: spec.metrics[1]: "not_declared" is not an External metric of the '
        "MetricDeclarations given: the adapter would answer the HPA with 404 "
        "(declare it, type: External)"
    ]


def test_export_with_unreadable_declarations_is_exit_2(tmp_path: Path) -> None:
    path = tmp_path / "worker.yaml"
    path.write_text(TWO_EXTERNAL)
    done = cli("export-hpa", "--metrics-config", "/nonexistent", str(path))
    assert done.returncode == 2
    assert done.stdout == ""
    assert done.stderr == "error: /nonexistent: no such file or directory\n"
