"""`autoscaler validate` on what kubectl prints and on folders of mixed manifests.

Covers: read-only metadata and status, `kind: List` (with each item's own lines),
standard input, v1 HPAs with the round-trip annotations, and kinds that are not
policies (skipped with a warning, silently with --only-policies, but never a typo of a
policy kind). The loop's own loader still refuses other kinds in a policy folder.
"""

from __future__ import annotations

import copy
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from autoscaler.policy import load_policies

REPO = Path(__file__).resolve().parents[2]
CORPUS = Path(__file__).parent / "corpus"
EXE = str(Path(sys.executable).parent / "autoscaler")


def validate(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [EXE, "validate", *args], input=stdin, capture_output=True, text=True, timeout=60
    )


@pytest.mark.parametrize("name", sorted(p.name for p in CORPUS.glob("*.yaml")))
def test_what_kubectl_prints_validates(name: str) -> None:
    done = validate(str(CORPUS / name))
    assert done.returncode == 0, done.stderr
    assert " 0 errors" in done.stdout
    assert "unknown field" not in done.stderr


def test_a_scaling_policy_as_kubectl_prints_it_validates(tmp_path: Path) -> None:
    path = tmp_path / "sp.yaml"
    path.write_text(
        "apiVersion: podscale.dev/v1alpha1\nkind: ScalingPolicy\nmetadata:\n  name: web\n"
        "  namespace: shop\n  uid: 1b2c\n  resourceVersion: '77'\n  generation: 2\n"
        "  creationTimestamp: '2026-12-01T00:00:00Z'\n  managedFields: [{manager: kubectl}]\n"
        "  annotations:\n    kubectl.kubernetes.io/last-applied-configuration: '{}'\n"
        "spec:\n  scaleTargetRef: {apiVersion: apps/v1, kind: Deployment, name: web}\n"
        "  minReplicas: 2\n  maxReplicas: 5\n"
        "status:\n  currentReplicas: 2\n  desiredReplicas: 2\n  history: {recommendations: []}\n"
    )
    done = validate(str(path))
    assert done.returncode == 0, done.stderr
    assert "1 file, 1 policy: 0 errors" in done.stdout


def test_a_list_counts_as_its_items() -> None:
    done = validate(str(CORPUS / "kubectl-get-hpa-all.yaml"))
    assert done.stdout.startswith("1 file, 3 policies: 0 errors"), done.stdout


def test_standard_input_is_read_with_a_dash() -> None:
    text = (CORPUS / "kubectl-get-hpa-all.yaml").read_text()
    done = validate("-", stdin=text)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("1 file, 3 policies: 0 errors")
    assert "<stdin>:56: spec.metrics[0]" in done.stderr  # warnings say where, on stdin too


def test_an_error_in_a_list_item_names_the_line_of_the_field(tmp_path: Path) -> None:
    text = (CORPUS / "kubectl-get-hpa-all.yaml").read_text()
    bad = tmp_path / "hpas.yaml"
    bad.write_text(text.replace("    maxReplicas: 50\n", "    maxReplicas: 0\n"))
    line = text.splitlines().index("    maxReplicas: 50") + 1
    done = validate(str(bad))
    assert done.returncode == 1
    errors = [e for e in done.stderr.splitlines() if e.startswith("error:")]
    assert errors == [f"error: {bad}:{line}: spec.maxReplicas: must be greater than 0 (got 0)"]
    assert "1 file, 3 policies: 1 error" in done.stdout


def test_the_base_manifests_validate_with_other_kinds_skipped() -> None:
    done = validate(str(REPO / "deploy" / "base"))
    assert done.returncode == 0, done.stderr
    assert " 0 errors" in done.stdout
    assert "other documents skipped" in done.stdout
    assert "warning: " in done.stderr and "kind: Deployment is not a policy: skipped" in done.stderr
    assert "error:" not in done.stderr


def test_only_policies_skips_other_kinds_silently() -> None:
    done = validate("--only-policies", str(REPO / "deploy" / "base"))
    assert done.returncode == 0, done.stderr
    assert "is not a policy" not in done.stderr


@pytest.mark.parametrize(
    ("api_version", "kind"),
    [
        pytest.param("podscale.dev/v1alpha1", "ScalingPolicey", id="typo-of-scalingpolicy"),
        pytest.param("autoscaling/v2", "HorizontalPodAutoscalr", id="typo-of-hpa"),
        pytest.param("autoscaling/v2", "Scale", id="other-kind-of-the-hpa-group"),
    ],
)
def test_a_near_policy_kind_is_still_an_error(tmp_path: Path, api_version: str, kind: str) -> None:
    path = tmp_path / "p.yaml"
    path.write_text(f"apiVersion: {api_version}\nkind: {kind}\nmetadata: {{name: x}}\n")
    done = validate("--only-policies", str(path))
    assert done.returncode == 1
    assert f"error: {path}:2: kind: unsupported kind" in done.stderr


def test_a_v1_metrics_annotation_that_is_not_json_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "v1.yaml"
    path.write_text(
        "apiVersion: autoscaling/v1\nkind: HorizontalPodAutoscaler\nmetadata:\n  name: a\n"
        "  annotations:\n    autoscaling.alpha.kubernetes.io/metrics: '[{'\n"
        "spec:\n  scaleTargetRef: {kind: Deployment, name: a}\n  maxReplicas: 3\n"
    )
    done = validate(str(path))
    assert done.returncode == 1
    assert (
        f"error: {path}:6: metadata.annotations.autoscaling.alpha.kubernetes.io/metrics: not JSON"
        in done.stderr
    )
    assert "Traceback" not in done.stderr


def test_the_loops_policy_folder_still_refuses_other_kinds(tmp_path: Path) -> None:
    path = tmp_path / "deploy.yaml"
    path.write_text("apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web}\n")
    result = load_policies([str(path)])
    assert [issue.format() for issue in result.errors] == [
        f'error: {path}:2: kind: unsupported kind "Deployment" '
        "(must be ScalingPolicy or HorizontalPodAutoscaler)"
    ]


def test_a_clusters_worth_of_hpas_in_one_list_is_read(tmp_path: Path) -> None:
    """`kubectl get hpa -A -o yaml` is one document: 600 HPAs with managedFields are far
    more than the 10,000 YAML nodes a single policy document may have."""
    listed = yaml.safe_load((CORPUS / "kubectl-get-hpa-all.yaml").read_text())
    items = []
    for index in range(100):
        for item in copy.deepcopy(listed["items"]):  # no shared objects: no YAML aliases
            item["metadata"]["name"] += f"-{index}"
            items.append(item)
    path = tmp_path / "all.yaml"
    path.write_text(yaml.safe_dump({**listed, "items": items}))
    result = load_policies([str(path)], foreign="skip")
    assert result.errors == []
    assert len(result.policies) == 300
    last = result.policies[-1]
    assert last.line_of(("spec", "maxReplicas")) > last.line > 20_000  # its own lines
