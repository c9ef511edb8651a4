"""The status a ScalingPolicy object gets: loop failures under the HPA's condition types."""

from __future__ import annotations

import pytest

from autoscaler.core.model import Policy
from autoscaler.loop.controller import Outcome
from autoscaler.loop.crs import status_document
from autoscaler.ports import Target, TargetRef

NOW = 1_700_000_000.0
TARGET = Target("default", "web", TargetRef("apps/v1", "Deployment", "web"), Policy(5))


@pytest.mark.parametrize(
    ("reason", "kind"),
    [
        ("FailedGetScale", "AbleToScale"),
        ("FailedUpdateScale", "AbleToScale"),
        ("AmbiguousTarget", "ScalingActive"),  # the HPA's AmbiguousSelector
        ("FailedGetPods", "ScalingActive"),  # no replica count can be computed
        ("InvalidSelector", "ScalingActive"),  # the scale has no selector
    ],
)
def test_a_loop_failure_is_reported_under_the_hpas_condition_type(reason: str, kind: str) -> None:
    outcome = Outcome(TARGET, error_reason=reason, error="it went wrong")
    status = status_document(outcome, {}, now=NOW, generation=1)
    [condition] = status["conditions"]
    assert (condition["type"], condition["status"], condition["reason"]) == (kind, "False", reason)
    assert condition["message"] == "it went wrong"
