"""Golden cases ported from the Kubernetes HPA controller's own Go tests.

Every file in ``tests/core/cases/`` is a YAML list of cases ``{id, source, snapshot, expect}``.
Each snapshot is decided by the core and the result is compared with ``expect`` by a partial
matcher:

- mappings: only the listed keys are compared;
- ``metrics``: positional, each listed entry is matched against the result's entry at the same
  index;
- ``conditions``: each listed condition must match the result's condition of the same type; with
  ``exactConditions: true`` the result must also carry no condition type beyond the listed ones;
- ``errorContains`` (top level or in a metric entry): ``error`` must be a string containing it;
- quantity strings (``averageValue``, ``value``) are compared by value: ``"1"`` equals ``"1000m"``.
"""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import yaml

from autoscaler.core import decide
from autoscaler.documents import decision_to_document, snapshot_from_document

CASES_DIR = Path(__file__).parent / "cases"
QUANTITY_KEYS = {"averageValue", "value"}
SUFFIXES = {
    "m": Decimal("0.001"),
    "k": Decimal(10**3),
    "M": Decimal(10**6),
    "G": Decimal(10**9),
    "T": Decimal(10**12),
    "P": Decimal(10**15),
    "E": Decimal(10**18),
    "Ki": Decimal(2**10),
    "Mi": Decimal(2**20),
    "Gi": Decimal(2**30),
    "Ti": Decimal(2**40),
    "Pi": Decimal(2**50),
    "Ei": Decimal(2**60),
}


def load_cases() -> list[Any]:
    params = []
    for path in sorted(CASES_DIR.glob("*.yaml")):
        for case in yaml.safe_load(path.read_text()) or []:
            params.append(pytest.param(case, id=case["id"]))
    return params


def quantity(value: Any) -> Decimal:
    text = str(value).strip()
    for suffix in sorted(SUFFIXES, key=len, reverse=True):
        if text.endswith(suffix):
            return Decimal(text[: -len(suffix)]) * SUFFIXES[suffix]
    return Decimal(text)


def mismatches(expected: Any, actual: Any, path: str) -> list[str]:
    """Where `actual` does not match the partial expectation `expected`."""
    if isinstance(expected, dict):
        if not isinstance(actual, dict):
            return [f"{path}: expected a mapping, got {actual!r}"]
        found = []
        for key, want in expected.items():
            where = f"{path}.{key}"
            if key == "errorContains":
                error = actual.get("error")
                if not isinstance(error, str) or want not in error:
                    found.append(f"{where}: error {error!r} does not contain {want!r}")
            elif key == "exactConditions":
                continue
            elif key == "conditions":
                found += condition_mismatches(
                    want,
                    actual.get("conditions"),
                    where,
                    exact=bool(expected.get("exactConditions")),
                )
            elif key not in actual:
                found.append(f"{where}: missing")
            elif key in QUANTITY_KEYS and want is not None and actual[key] is not None:
                if quantity(want) != quantity(actual[key]):
                    found.append(f"{where}: expected {want!r}, got {actual[key]!r}")
            else:
                found += mismatches(want, actual[key], where)
        return found
    if isinstance(expected, list):
        if not isinstance(actual, list) or len(actual) < len(expected):
            return [f"{path}: expected at least {len(expected)} entries, got {actual!r}"]
        return [
            found
            for i, want in enumerate(expected)
            for found in mismatches(want, actual[i], f"{path}[{i}]")
        ]
    if expected != actual or isinstance(expected, bool) != isinstance(actual, bool):
        return [f"{path}: expected {expected!r}, got {actual!r}"]
    return []


def condition_mismatches(
    expected: list[dict[str, Any]], actual: Any, path: str, *, exact: bool
) -> list[str]:
    if not isinstance(actual, list):
        return [f"{path}: expected a list, got {actual!r}"]
    by_type = {c.get("type"): c for c in actual}
    found = []
    for want in expected:
        got = by_type.get(want["type"])
        if got is None:
            found.append(f"{path}: no {want['type']} condition")
        else:
            found += mismatches(want, got, f"{path}[{want['type']}]")
    if exact:
        extra = set(by_type) - {want["type"] for want in expected}
        if extra:
            found.append(f"{path}: unexpected condition types {sorted(extra)}")
    return found


@pytest.mark.parametrize("case", load_cases())
def test_golden_case(case: dict[str, Any]) -> None:
    snapshot = snapshot_from_document(case["snapshot"])
    result = decision_to_document(decide(snapshot))
    found = mismatches(case["expect"], result, "result")
    if found:
        pytest.fail(
            f"{case['id']} ({case['source']}):\n  "
            + "\n  ".join(found)
            + "\nactual result:\n"
            + json.dumps(result, indent=2, default=str),
            pytrace=False,
        )
