"""The fast JSON path of ``autoscaler decide`` builds exactly what the full parser builds.

``autoscaler.documents.fast`` may refuse any document (the full parser then judges it),
but whatever it accepts must give a snapshot equal to ``snapshot_from_document``'s, and it
must never accept a document the full parser rejects.
"""

from __future__ import annotations

import json
from datetime import date, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from autoscaler.cli import main
from autoscaler.core import decide
from autoscaler.documents import DocumentError, decision_to_document, snapshot_from_document
from autoscaler.documents.fast import FastDocuments

NOW = 1_700_000_000.0
CASES = Path(__file__).parent / "core" / "cases"


def _json(doc: Any) -> bytes:
    def encode(value: Any) -> str:
        if isinstance(value, datetime | date):
            return value.isoformat().replace("+00:00", "Z")
        raise TypeError(type(value).__name__)

    return json.dumps(doc, default=encode).encode()


def _both(doc: Any) -> tuple[Any, Any]:
    """(full parser's snapshot or None if it rejects, fast path's snapshot or None)."""
    try:
        full = snapshot_from_document(doc, now=NOW)
    except DocumentError:
        full = None
    fast = FastDocuments().snapshots(_json(doc), now=NOW)
    return full, None if fast is None else fast[0][0]


def _agree(doc: Any) -> bool:
    """Assert the two paths agree; True when the fast path accepted the document."""
    full, fast = _both(doc)
    if full is None:
        assert fast is None, f"fast path accepted a document the full parser rejects: {doc}"
        return False
    if fast is None:
        return False
    assert fast == full
    assert decision_to_document(decide(fast)) == decision_to_document(decide(full))
    return True


def _golden_snapshots() -> list[Any]:
    docs = []
    for path in sorted(CASES.glob("*.yaml")):
        docs += [case["snapshot"] for case in yaml.safe_load(path.read_text())]
    return docs


def test_every_golden_snapshot_takes_the_fast_path_and_agrees() -> None:
    docs = _golden_snapshots()
    accepted = sum(_agree(doc) for doc in docs)
    assert len(docs) > 200 and accepted == len(docs)


def test_a_list_decodes_in_order_and_says_it_was_a_list() -> None:
    docs = _golden_snapshots()[:20]
    fast = FastDocuments().snapshots(_json(docs), now=NOW)
    assert fast is not None
    snapshots, is_list = fast
    assert is_list and snapshots == [snapshot_from_document(d, now=NOW) for d in docs]
    single = FastDocuments().snapshots(_json(docs[0]), now=NOW)
    assert single is not None and single[1] is False


def _snapshot(**changes: Any) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "policy": {"maxReplicas": 5},
        "currentReplicas": 2,
        "pods": [
            {"name": "a", "startTime": 1, "containers": [{"name": "c", "requests": {"cpu": "1"}}]}
        ],
        "metrics": {"resource": {"a": {"containers": {"c": {"cpu": "500m"}}}}},
    }
    doc.update(changes)
    return doc


@pytest.mark.parametrize(
    "doc",
    [
        pytest.param(_snapshot(pods=[{"name": "a"}, {"name": "a"}]), id="duplicate-pod"),
        pytest.param(_snapshot(pods=[{"name": ""}]), id="empty-pod-name"),
        pytest.param(
            _snapshot(
                pods=[{"name": "a", "containers": [{"name": "c", "requests": {"cpu": "x"}}]}]
            ),
            id="bad-quantity",
        ),
        pytest.param(_snapshot(currentReplicas=-1), id="negative-replicas"),
        pytest.param(_snapshot(bogus=1), id="unknown-field"),
        pytest.param(_snapshot(metrics={"errors": {"resource": ""}}), id="empty-error-message"),
        pytest.param(_snapshot(history={"recommendations": [{"time": 1}]}), id="no-replicas"),
        pytest.param(_snapshot(now="yesterday"), id="bad-time"),
        pytest.param(_snapshot(policy={"maxReplicas": 0}), id="bad-policy"),
    ],
)
def test_the_fast_path_refuses_what_the_full_parser_rejects(doc: dict[str, Any]) -> None:
    assert _both(doc) == (None, None)


def test_a_refused_json_document_still_gets_the_full_parsers_message(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    path = tmp_path / "snapshots.json"
    path.write_text(json.dumps([_snapshot(), _snapshot(pods=[{"name": "a"}, {"name": "a"}])]))
    assert main(["decide", str(path)]) == 2
    out, err = capsys.readouterr()
    assert out == "" and "snapshot[1].pods[1].name: duplicate pod name 'a'" in err


# Generated documents: mostly valid, with every field sometimes of a wrong type or value.
_times = st.one_of(
    st.integers(0, 2_000_000_000),
    st.floats(0, 2e9, allow_nan=False),
    st.sampled_from(["2026-01-01T00:00:00Z", "2026-01-01T00:00:00", "never", None, True]),
)
_quantities = st.one_of(
    st.sampled_from(["500m", "1", "1.5Gi", "100Mi", "2k", "1e3", "lots", "", True, None]),
    st.integers(-5, 5000),
    st.floats(0, 10, allow_nan=False),
)
_requests = st.dictionaries(st.sampled_from(["cpu", "memory"]), _quantities, max_size=2)
_container = st.fixed_dictionaries(
    {"name": st.sampled_from(["app", "side", "", 3])}, optional={"requests": _requests}
)
_init_container = st.fixed_dictionaries(
    {"name": st.sampled_from(["init", ""])},
    optional={"restartPolicy": st.sampled_from(["Always", "Never", 1]), "requests": _requests},
)
_pod = st.fixed_dictionaries(
    {"name": st.sampled_from(["p1", "p2", "p3", "p4"])},
    optional={
        "phase": st.sampled_from(["Running", "Pending", "Failed", "Succeeded", "Gone", None]),
        "ready": st.sampled_from([True, False, None, "True", "False", "Unknown", "yes", 1]),
        "startTime": _times,
        "readySince": _times,
        "deleting": st.sampled_from([True, False, None, "yes"]),
        "containers": st.lists(_container, max_size=2),
        "initContainers": st.lists(_init_container, max_size=1),
    },
)
_usage = st.fixed_dictionaries(
    {"containers": st.dictionaries(st.sampled_from(["app", "side"]), _requests, max_size=2)},
    optional={
        "timestamp": _times,
        "window": st.one_of(st.sampled_from([30, 60, 0, -1, 15.5, "30"]), st.none()),
    },
)
_pod_names = st.sampled_from(["p1", "p2", "p3", "p9"])
_metrics = st.fixed_dictionaries(
    {},
    optional={
        "resource": st.one_of(st.none(), st.dictionaries(_pod_names, _usage, max_size=3)),
        "pods": st.dictionaries(
            st.just("rps"), st.dictionaries(_pod_names, _quantities, max_size=3), max_size=1
        ),
        "object": st.dictionaries(st.just("hits"), _quantities, max_size=1),
        "external": st.dictionaries(
            st.just("queue"), st.one_of(_quantities, st.lists(_quantities, max_size=3)), max_size=1
        ),
        "errors": st.dictionaries(
            st.sampled_from(["resource", "rps"]), st.sampled_from(["boom", "", 5]), max_size=1
        ),
    },
)
_entry = st.fixed_dictionaries(
    {"time": _times},
    optional={
        "replicas": st.one_of(st.integers(-1, 20), st.just(2.0)),
        "change": st.integers(-1, 5),
    },
)
_history = st.fixed_dictionaries(
    {},
    optional={
        "recommendations": st.lists(_entry, max_size=4),
        "scaleUpEvents": st.lists(_entry, max_size=2),
        "scaleDownEvents": st.lists(_entry, max_size=2),
        "lastBurst": _times,
        "lastActive": _times,
        "forecastOff": st.sampled_from([True, False, None, "yes", 1]),
    },
)
_forecast = st.fixed_dictionaries(
    {
        "metric": st.sampled_from([0, 0, 1, 1, 2, -1, 1.0, "0", None]),
        "total": st.one_of(st.integers(0, 5000), _quantities),
        "at": st.one_of(st.integers(0, 2_000_000_000), _times),
    },
    optional={
        "error": st.one_of(st.sampled_from([None, -0.1, "0.1", True]), st.floats(0, 2)),
        "typo": st.just(1),
    },
)
# Every path on: forecasts and the paths' memory are then decided on.
_PATHS_POLICY: dict[str, Any] = {
    "minReplicas": 0,
    "maxReplicas": 10,
    "metrics": [
        {
            "type": "Pods",
            "pods": {
                "metric": {"name": "rps"},
                "target": {"type": "AverageValue", "averageValue": "10"},
            },
        },
        {
            "type": "External",
            "external": {
                "metric": {"name": "queue"},
                "target": {"type": "AverageValue", "averageValue": "5"},
            },
        },
    ],
    "predictive": {"leadSeconds": 45, "metric": "rps"},
    "burst": {"threshold": 3, "maxReplicas": 8},
    "activation": {"metric": "queue", "threshold": "1", "cooldownSeconds": 60},
}
_policies = st.sampled_from(
    [
        {"maxReplicas": 10},
        {"minReplicas": 2, "maxReplicas": 10, "behavior": {"scaleDown": {"policies": []}}},
        {
            "maxReplicas": 10,
            "metrics": [
                {
                    "type": "Pods",
                    "pods": {
                        "metric": {"name": "rps"},
                        "target": {"type": "AverageValue", "averageValue": "10"},
                    },
                },
                {
                    "type": "External",
                    "external": {
                        "metric": {"name": "queue"},
                        "target": {"type": "Value", "value": "5"},
                    },
                },
            ],
        },
        {"maxReplicas": 0},
        {"maxReplicas": "ten"},
        _PATHS_POLICY,
        {"maxReplicas": 10, "predictive": {}, "burst": {"threshold": 1}},
    ]
)
_snapshots = st.fixed_dictionaries(
    {"policy": _policies, "currentReplicas": st.one_of(st.integers(-1, 12), st.just(3.0))},
    optional={
        "now": _times,
        "statusReplicas": st.integers(-1, 12),
        "pods": st.lists(_pod, max_size=4),
        "metrics": st.one_of(st.none(), _metrics),
        "history": st.one_of(st.none(), _history),
        "settings": st.sampled_from([None, {}, {"tolerance": 0.2}, {"bogus": 1}]),
        "forecasts": st.lists(_forecast, max_size=2),
        "name": st.sampled_from(["web", 5]),
        "typo": st.just(1),
    },
)


@settings(max_examples=400, deadline=None)
@given(_snapshots)
def test_generated_documents_agree(doc: dict[str, Any]) -> None:
    _agree(doc)


@settings(max_examples=200, deadline=None)
@given(
    st.lists(_forecast, max_size=3),
    _history,
    st.lists(_pod, max_size=4),
    _metrics,
    st.integers(0, 10),
)
def test_generated_forecasts_and_path_memory_agree(
    forecasts: list[Any], history: Any, pods: list[Any], metrics: Any, current: int
) -> None:
    """A policy with every path, so that forecasts and the paths' memory are decided on."""
    doc = {
        "now": NOW,
        "policy": _PATHS_POLICY,
        "currentReplicas": current,
        "pods": pods,
        "metrics": metrics,
        "history": history,
        "forecasts": forecasts,
    }
    _agree(doc)
