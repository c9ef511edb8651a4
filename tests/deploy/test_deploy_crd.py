"""The ScalingPolicy CRD generated from the models: up to date, structural, and strict.

The same checks run against a real API server in tests/e2e/test_crd_e2e.py; here the
schema is exercised offline with a JSON-schema validator.
"""

from __future__ import annotations

import copy
import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from autoscaler import crd
from autoscaler.cli import main
from autoscaler.policy import model

REPO = Path(__file__).resolve().parents[2]
CHECKED_IN = REPO / "deploy" / "base" / "crd" / "scalingpolicies.podscale.dev.yaml"
SCHEMA = crd.crd()["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
EXAMPLES = [
    (path, doc)
    for path in sorted((REPO / "policies").glob("*.yaml"))
    for doc in yaml.safe_load_all(path.read_text())
    if doc["kind"] == "ScalingPolicy"
]
# Preserving unknown fields is allowed only where the loop stores free-form data.
PRESERVED = {
    "properties.status.properties.currentMetrics.items",
    "properties.status.properties.history",
}


def test_the_checked_in_crd_is_what_autoscaler_crd_prints() -> None:
    out = io.StringIO()
    assert main(["crd"], out=out) == 0
    assert CHECKED_IN.read_text() == out.getvalue(), (
        "deploy/base/crd is stale: run `autoscaler crd > " + str(CHECKED_IN.relative_to(REPO)) + "`"
    )


def nodes(schema: dict[str, Any], path: str = "") -> Iterator[tuple[str, dict[str, Any]]]:
    yield path, schema
    for name, child in schema.get("properties", {}).items():
        yield from nodes(child, f"{path}.properties.{name}".lstrip("."))
    for key in ("items", "additionalProperties"):
        if isinstance(schema.get(key), dict):
            yield from nodes(schema[key], f"{path}.{key}".lstrip("."))


def test_the_schema_is_structural_as_kubernetes_requires() -> None:
    for path, node in nodes(SCHEMA):
        assert "$ref" not in node and "$defs" not in node, path
        assert node.get("additionalProperties") is not False, path
        if node.get("x-kubernetes-int-or-string"):
            assert "type" not in node, path
            assert node["anyOf"] == [{"type": "integer"}, {"type": "string"}], path
        else:
            assert "anyOf" not in node and "oneOf" not in node, path
            assert node.get("type") in {
                "object",
                "array",
                "string",
                "integer",
                "number",
                "boolean",
            }, path
        if node.get("x-kubernetes-preserve-unknown-fields"):
            assert path in PRESERVED, path


def test_quantities_are_int_or_string_with_the_quantity_pattern() -> None:
    target = SCHEMA["properties"]["spec"]["properties"]["metrics"]["items"]["properties"]
    value = target["pods"]["properties"]["target"]["properties"]["averageValue"]
    assert value["x-kubernetes-int-or-string"] is True
    assert value["pattern"] == crd.QUANTITY_PATTERN
    tolerance = SCHEMA["properties"]["spec"]["properties"]["behavior"]["properties"]["scaleUp"]
    assert tolerance["properties"]["tolerance"]["x-kubernetes-int-or-string"] is True


def test_the_crd_has_the_status_subresource_short_name_and_hpa_like_columns() -> None:
    spec = crd.crd()["spec"]
    assert spec["names"]["shortNames"] == ["sp"]
    version = spec["versions"][0]
    assert version["subresources"] == {"status": {}}
    columns = {c["name"]: c["jsonPath"] for c in version["additionalPrinterColumns"]}
    assert columns == {
        "Reference": ".spec.scaleTargetRef.name",
        "Kind": ".spec.scaleTargetRef.kind",
        "Targets": ".status.targets",
        "MinPods": ".spec.minReplicas",
        "MaxPods": ".spec.maxReplicas",
        "Replicas": ".status.currentReplicas",
        "Desired": ".status.desiredReplicas",
        "Mode": ".spec.mode",
        "Path": ".status.path",
        "Age": ".metadata.creationTimestamp",
    }
    printed = {c["jsonPath"].rsplit(".", 1)[-1] for c in version["additionalPrinterColumns"]}
    status = SCHEMA["properties"]["status"]["properties"]
    spec_schema = SCHEMA["properties"]["spec"]["properties"]
    # status.path arrives with the loop's path reporting (issue 13).
    known = status.keys() | spec_schema.keys() | {"path"}
    assert printed - {"name", "kind", "creationTimestamp"} <= known


def validate(doc: dict[str, Any]) -> list[str]:
    validator = jsonschema.Draft7Validator(SCHEMA)
    return [
        ".".join(str(p) for p in error.absolute_path) + ": " + error.message
        for error in validator.iter_errors(doc)
    ]


@pytest.mark.parametrize(
    "path,doc", EXAMPLES, ids=[f"{p.stem}/{d['metadata']['name']}" for p, d in EXAMPLES]
)
def test_the_schema_accepts_every_example_policy(path: Path, doc: dict[str, Any]) -> None:
    assert validate(doc) == []


def test_the_examples_cover_the_metric_types_they_are_meant_to() -> None:
    types = {m["type"] for _, doc in EXAMPLES for m in doc["spec"].get("metrics", [])}
    assert {"Resource", "ContainerResource", "Pods", "External"} <= types


def web() -> dict[str, Any]:
    [doc] = [d for p, d in EXAMPLES if p.stem == "web-cpu-memory"]
    return copy.deepcopy(doc)


def _edit(path: str, value: Any) -> Any:
    def change(doc: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        node: Any = doc["spec"]
        for key in parents:
            node = node[int(key)] if key.isdigit() else node[key]
        if value is _DELETE:
            del node[last]
        else:
            node[last] = value

    return change


_DELETE = object()
BAD = {
    "maxReplicas missing": (_edit("maxReplicas", _DELETE), "spec: 'maxReplicas' is a required"),
    "maxReplicas a string": (_edit("maxReplicas", "20"), "spec.maxReplicas: '20' is not of type"),
    "minReplicas negative": (_edit("minReplicas", -1), "spec.minReplicas: -1 is less than"),
    "mode unknown": (_edit("mode", "Shadow"), "spec.mode: 'Shadow' is not one of"),
    "metric type unknown": (_edit("metrics.0.type", "Cpu"), "spec.metrics.0.type: 'Cpu'"),
    "target type unknown": (
        _edit("metrics.0.resource.target.type", "Percent"),
        "spec.metrics.0.resource.target.type: 'Percent' is not one of",
    ),
    "selectPolicy unknown": (
        _edit("behavior.scaleUp.selectPolicy", "Maximum"),
        "spec.behavior.scaleUp.selectPolicy",
    ),
    "policy type unknown": (
        _edit("behavior.scaleDown.policies.0.type", "Replicas"),
        "spec.behavior.scaleDown.policies.0.type",
    ),
    "quantity with units text": (
        _edit("behavior.scaleDown.tolerance", "5 percent"),
        "spec.behavior.scaleDown.tolerance: '5 percent' does not match",
    ),
    "quantity a float": (
        _edit("behavior.scaleDown.tolerance", 0.05),
        "spec.behavior.scaleDown.tolerance: 0.05 is not valid",
    ),
    "scaleTargetRef missing": (_edit("scaleTargetRef", _DELETE), "'scaleTargetRef' is a required"),
    "scaleTargetRef kind missing": (
        _edit("scaleTargetRef.kind", _DELETE),
        "spec.scaleTargetRef: 'kind' is a required",
    ),
    "fallback replicas a string": (
        _edit("fallback.replicas", "four"),
        "spec.fallback.replicas: 'four' is not of type",
    ),
    "stabilization window above an hour": (
        _edit("behavior.scaleDown.stabilizationWindowSeconds", 7200),
        "spec.behavior.scaleDown.stabilizationWindowSeconds: 7200 is greater than",
    ),
}


@pytest.mark.parametrize("change,message", BAD.values(), ids=BAD.keys())
def test_the_schema_rejects_a_bad_policy_naming_the_field(change: Any, message: str) -> None:
    doc = web()
    change(doc)
    errors = validate(doc)
    assert any(message in e for e in errors), errors


def test_every_model_field_is_described_and_no_description_is_stale() -> None:
    keys, seen = set(), set()
    pending: list[type[Any]] = [model.ScalingPolicySpec]
    while pending:
        cls = pending.pop()
        seen.add(cls)
        for field in crd.fields(cls):
            keys.add(field.key)
            inner = crd.model_of(field.annotation)
            if inner is not None and inner not in seen:
                pending.append(inner)
    assert set(crd.DESCRIPTIONS) == keys
    assert set(crd.ENUMS) <= keys
    assert set(crd.BOUNDS) <= keys
    for owner, names in crd.REQUIRED.items():
        assert {f"{owner}.{n}" for n in names} <= keys


def test_every_int32_field_of_the_models_is_int32_in_the_schema() -> None:
    spec = SCHEMA["properties"]["spec"]["properties"]
    assert spec["maxReplicas"]["format"] == "int32"
    assert spec["minReplicas"]["format"] == "int32"
    assert spec["fallback"]["properties"]["failureThreshold"]["format"] == "int32"
