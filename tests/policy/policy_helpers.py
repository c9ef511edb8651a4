"""Helpers and fixtures shared by the policy tests (imported by name: no conftest)."""

from __future__ import annotations

import copy
import io
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from autoscaler.policy import LoadResult, load_policies, run_validate
from autoscaler.policy.lint import lint_all

DELETE = object()

BASE: dict[str, Any] = {
    "apiVersion": "podscale.dev/v1alpha1",
    "kind": "ScalingPolicy",
    "metadata": {"name": "web", "namespace": "default"},
    "spec": {
        "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"},
        "minReplicas": 2,
        "maxReplicas": 10,
        "metrics": [
            {
                "type": "Resource",
                "resource": {
                    "name": "cpu",
                    "target": {"type": "AverageValue", "averageValue": "500m"},
                },
            }
        ],
        "behavior": {"scaleDown": {"stabilizationWindowSeconds": 300}},
    },
}


def patched(changes: dict[str, Any], base: dict[str, Any] | None = None) -> dict[str, Any]:
    """``base`` (default BASE) with dotted paths set (``spec.metrics.0.type``) or deleted."""
    doc = copy.deepcopy(BASE if base is None else base)
    for dotted, value in changes.items():
        *parents, last = [int(p) if p.isdigit() else p for p in dotted.split(".")]
        node: Any = doc
        for part in parents:
            if isinstance(part, str) and part not in node:
                node[part] = {}
            node = node[part]
        if value is DELETE:
            del node[last]
        elif isinstance(node, list) and last == len(node):
            node.append(copy.deepcopy(value))
        else:
            node[last] = copy.deepcopy(value)
    return doc


@pytest.fixture
def load(tmp_path: Path) -> Callable[[str | dict[str, Any]], LoadResult]:
    """Write one document (YAML text or data) to a file and load it."""

    def _load(document: str | dict[str, Any]) -> LoadResult:
        text = document if isinstance(document, str) else yaml.safe_dump(document)
        path = tmp_path / "policy.yaml"
        path.write_text(text)
        return load_policies([str(path)])

    return _load


def messages(result: LoadResult) -> list[str]:
    """Errors as ``path: message`` (no file, no line), in order."""
    return [f"{e.path}: {e.message}" if e.path else e.message for e in result.errors]


def warnings(result: LoadResult) -> list[str]:
    return [f"{w.path}: {w.message}" for w in lint_all(result.policies)]


def validate(*paths: str) -> tuple[int, str, str]:
    """Run the command; (exit code, stdout, stderr)."""
    out, err = io.StringIO(), io.StringIO()
    code = run_validate(list(paths), out=out, err=err)
    return code, out.getvalue(), err.getvalue()
