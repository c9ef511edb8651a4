"""Podscale's paths in the documents (docs/snapshots.md): the policy's ``predictive``,
``burst`` and ``activation``, the snapshot's ``forecasts`` and the history's memory are
read strictly by both parsers, written back so that a recorded snapshot replays to the
same decision, and the decision says which path won only for a policy with a path."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from builders import NOW, external_metric, pod, pods_metric, snapshot

from autoscaler.core import decide
from autoscaler.core.model import Activation, Burst, History, MetricForecast, Predictive
from autoscaler.documents import (
    DocumentError,
    decision_to_document,
    history_from_document,
    history_to_document,
    policy_from_spec,
    policy_to_spec,
    snapshot_from_document,
    snapshot_to_document,
    spec,
)
from autoscaler.documents.fast import FastDocuments

RPS = pods_metric("rps", "100")
QUEUE = external_metric("queue", average="10")


def _policy(**extensions: Any) -> dict[str, Any]:
    return {"minReplicas": 0, "maxReplicas": 20, "metrics": [RPS, QUEUE], **extensions}


def _doc(**changes: Any) -> dict[str, Any]:
    """4 pods reading 90 rps each against 100, a queue of 30 messages; every path on."""
    pods = [pod(f"p{i}") for i in range(4)]
    doc = snapshot(
        current=4,
        pods=pods,
        data={"pods": {"rps": {p["name"]: "90" for p in pods}}, "external": {"queue": ["30"]}},
        history={"recommendations": [], "lastBurst": NOW - 200, "lastActive": NOW - 30},
        forecasts=[{"metric": 0, "total": "950", "at": NOW + 60, "error": 0.1}],
    )
    doc["policy"] = _policy(
        predictive={"leadSeconds": 60, "maxError": 0.3, "metric": "rps"},
        burst={"threshold": 2, "maxReplicas": 16, "stableWindowSeconds": 60},
        activation={"metric": "queue", "threshold": "5", "cooldownSeconds": 300},
    )
    doc.update(changes)
    return doc


def test_the_policy_reads_every_field_of_each_path() -> None:
    policy = snapshot_from_document(_doc()).policy
    assert policy.predictive == Predictive(60.0, 0.3, "rps", 14 * 86_400.0)
    assert policy.burst == Burst(2.0, 16, 60.0)
    assert policy.activation == Activation("queue", 5000, 300.0, 2.0)


def test_an_empty_mapping_turns_a_path_on_with_its_defaults() -> None:
    policy = policy_from_spec(
        _policy(predictive={}, burst={}, activation={"metric": "queue"}), "policy"
    )
    assert policy.predictive == Predictive()
    assert policy.burst == Burst()
    assert policy.activation == Activation("queue")
    off = policy_from_spec(_policy(predictive=None, burst=None, activation=None), "policy")
    assert (off.predictive, off.burst, off.activation) == (None, None, None)


def test_the_snapshot_reads_forecasts_and_the_paths_memory() -> None:
    read = snapshot_from_document(_doc())
    assert read.forecasts == (MetricForecast(0, 950_000, NOW + 60, 0.1),)
    assert read.history == History(last_burst=NOW - 200, last_active=NOW - 30)
    off = history_from_document({"forecastOff": True}, "history")
    assert off.forecast_off is True


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        (
            {"policy": _policy(predictive={"leadSecond": 60})},
            "snapshot.policy.predictive.leadSecond: unknown field",
        ),
        (
            {"policy": _policy(predictive={"leadSeconds": 0})},
            "snapshot.policy.predictive.leadSeconds: must be above 0 and at most 3600",
        ),
        (
            {"policy": _policy(predictive={"leadSeconds": "60"})},
            "snapshot.policy.predictive.leadSeconds: expected a number",
        ),
        (
            {"policy": _policy(predictive={"maxError": 0})},
            "snapshot.policy.predictive.maxError: must be above 0",
        ),
        (
            {"policy": _policy(predictive={"metric": "cpu"})},
            "snapshot.policy.predictive.metric: names no metric of this policy (queue, rps)",
        ),
        (
            {"policy": _policy(predictive=[])},
            "snapshot.policy.predictive: expected a mapping, got list",
        ),
        (
            {"policy": _policy(burst={"threshold": 1})},
            "snapshot.policy.burst.threshold: must be above 1",
        ),
        (
            {"policy": _policy(burst={"maxReplicas": 21})},
            "snapshot.policy.burst.maxReplicas: must be at most maxReplicas (20)",
        ),
        (
            {"policy": _policy(burst={"stableWindowSeconds": -1})},
            "snapshot.policy.burst.stableWindowSeconds: must be at least 0",
        ),
        (
            {"policy": _policy(activation={"threshold": "1"})},
            "snapshot.policy.activation.metric: expected a non-empty string",
        ),
        (
            {"policy": {**_policy(activation={"metric": "queue"}), "minReplicas": 1}},
            "snapshot.policy.minReplicas: must be 0 with activation (got 1)",
        ),
        (
            {"policy": _policy(activation={"metric": "queue", "threshold": "lots"})},
            "snapshot.policy.activation.threshold:",
        ),
        (
            {
                "policy": {
                    **_policy(activation={"metric": "cpu"}),
                    "metrics": [
                        {
                            "type": "Resource",
                            "resource": {
                                "name": "cpu",
                                "target": {"type": "Utilization", "averageUtilization": 50},
                            },
                        }
                    ],
                }
            },
            "snapshot.policy.activation.metric: must name an External or Object metric: at zero",
        ),
        (
            {"policy": _policy(activation={"metric": "rps"})},
            "snapshot.policy.activation.metric: must name an External or Object metric",
        ),
        (
            {"forecasts": [{"metric": 2, "total": "1", "at": NOW}]},
            "snapshot.forecasts[0].metric: must index policy.metrics (0 to 1, got 2)",
        ),
        (
            {"forecasts": [{"metric": 0, "total": "1", "at": NOW, "err": 0.1}]},
            "snapshot.forecasts[0].err: unknown field",
        ),
        ({"forecasts": [{"metric": 0, "total": "1"}]}, "snapshot.forecasts[0].at: required"),
        (
            {"forecasts": [{"metric": 0, "total": "-1", "at": NOW}]},
            "snapshot.forecasts[0].total: must be at least 0",
        ),
        (
            {"forecasts": [{"metric": 0, "total": "1", "at": NOW, "error": "10%"}]},
            "snapshot.forecasts[0].error: expected a number",
        ),
        ({"forecasts": {"metric": 0}}, "snapshot.forecasts: expected a list, got dict"),
        (
            {"history": {"forecastOff": "yes"}},
            "snapshot.history.forecastOff: expected true, false or null, got 'yes'",
        ),
        (
            {"history": {"lastBurst": "soon"}},
            "snapshot.history.lastBurst: expected RFC 3339 time or epoch seconds",
        ),
    ],
)
def test_a_bad_field_is_named_and_the_fast_path_leaves_it_to_the_full_parser(
    changes: dict[str, Any], message: str
) -> None:
    doc = _doc(**changes)
    with pytest.raises(DocumentError) as caught:
        snapshot_from_document(doc, path="snapshot")
    assert message in str(caught.value)
    assert FastDocuments().snapshots(json.dumps(doc).encode(), now=NOW) is None


def test_the_fast_path_reads_the_new_fields_as_the_full_parser_does() -> None:
    doc = _doc(history={"lastBurst": NOW - 5, "lastActive": NOW, "forecastOff": False})
    fast = FastDocuments().snapshots(json.dumps(doc).encode(), now=NOW)
    assert fast is not None
    assert fast[0][0] == snapshot_from_document(doc)


def test_a_recorded_snapshot_replays_to_the_same_decision() -> None:
    original = snapshot_from_document(_doc(history={"forecastOff": True, "lastBurst": NOW}))
    written = json.loads(json.dumps(snapshot_to_document(original)))
    assert snapshot_from_document(written) == original
    assert policy_from_spec(policy_to_spec(original.policy)) == original.policy
    assert decision_to_document(decide(snapshot_from_document(written))) == (
        decision_to_document(decide(original))
    )


def test_the_decision_names_the_winning_path_and_every_proposal() -> None:
    result = decision_to_document(decide(snapshot_from_document(_doc())))
    # The forecast asks for ceil(950 / 100) = 10, the default scale-up limit allows 8.
    assert (result["desiredReplicas"], result["path"]) == (8, "forecast")
    assert [p["path"] for p in result["proposals"]] == ["activation", "forecast", "burst"]
    assert result["proposals"][1]["replicas"] == 10
    assert result["history"]["lastActive"] == NOW
    assert result["history"]["lastBurst"] == NOW - 200


def test_a_decision_without_paths_reads_as_before() -> None:
    doc = _doc()
    for key in ("predictive", "burst", "activation"):
        del doc["policy"][key]
    doc["policy"]["minReplicas"] = 1
    doc["history"] = {"recommendations": []}
    del doc["forecasts"]
    result = decision_to_document(decide(snapshot_from_document(doc)))
    assert "path" not in result and "proposals" not in result
    assert set(result["history"]) == {"recommendations", "scaleUpEvents", "scaleDownEvents"}
    written = snapshot_to_document(snapshot_from_document(doc))
    assert "forecasts" not in written
    assert set(written["policy"]) == {"minReplicas", "maxReplicas", "metrics"}


def test_the_history_keeps_the_paths_memory_only_when_set() -> None:
    assert "lastBurst" not in history_to_document(History())
    memory = History(last_burst=NOW - 1.5, last_active=NOW, forecast_off=True)
    written = history_to_document(memory)
    assert written["lastBurst"] == NOW - 1.5 and written["forecastOff"] is True
    assert history_from_document(json.loads(json.dumps(written)), "history") == memory


def test_the_examples_and_fields_in_docs_policies_md_are_what_the_reader_takes() -> None:
    page = (Path(__file__).parents[1] / "docs" / "policies.md").read_text()
    guide = page.split("## Podscale's paths: predictive, burst, activation\n", 1)[1]
    blocks = re.findall(r"^```yaml\n(.*?)^```$", guide, re.S | re.M)
    keys = {
        "predictive": spec._PREDICTIVE_KEYS,
        "burst": spec._BURST_KEYS,
        "activation": spec._ACTIVATION_KEYS,
    }
    assert len(blocks) == len(keys)
    for block, (name, fields) in zip(blocks, keys.items(), strict=True):
        example = {"maxReplicas": 20, **yaml.safe_load(block)["spec"]}
        assert getattr(policy_from_spec(example, "example"), name) is not None
        section = guide.split(f"(`spec.{name}`)\n", 1)[1].split("\n### ", 1)[0]
        listed = re.findall(r"^\| `(\w+)` \|", section, re.M)
        assert tuple(listed) == fields, name
