"""An HPA spec as the core's Policy (``policy_from_spec``): what it refuses, as the API does."""

from __future__ import annotations

from typing import Any

import pytest

from autoscaler.documents import DocumentError, policy_from_spec


def external(target: dict[str, Any]) -> dict[str, Any]:
    source = {"metric": {"name": "queue"}, "target": target}
    return {"maxReplicas": 5, "metrics": [{"type": "External", "external": source}]}


@pytest.mark.parametrize(
    ("target", "field", "shown"),
    [
        pytest.param({"type": "AverageValue", "averageValue": "0"}, "averageValue", "'0'", id="0"),
        pytest.param({"type": "Value", "value": -5}, "value", "-5", id="negative"),
        pytest.param({"type": "Value", "value": "-0.1m"}, "value", "'-0.1m'", id="rounds-to-0"),
    ],
)
def test_a_target_value_that_is_not_positive_is_refused(
    target: dict[str, Any], field: str, shown: str
) -> None:
    # The API server refuses it ("must be positive"); the decision would divide by it.
    with pytest.raises(DocumentError) as caught:
        policy_from_spec(external(target))
    assert str(caught.value) == (
        f"policy.metrics[0].external.target.{field}: must be positive (got {shown})"
    )


def test_the_smallest_positive_target_is_one_milli_unit() -> None:
    policy = policy_from_spec(external({"type": "AverageValue", "averageValue": "1n"}))
    assert policy.metrics[0].target.average_value == 1
