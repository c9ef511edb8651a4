"""The CRD's CEL rules and ``autoscaler validate`` refuse the same policies, in the same
words: every rule has a case in ``tests/crd_rule_cases.py``, and validate reports each case
at the rule's field (or inside it) with a message that starts with the rule's. The API
server's side of the same cases is ``tests/e2e/test_crd_e2e.py``.
"""

from __future__ import annotations

import pytest
from crd_rule_cases import CASES, RuleCase, bad_policy, good_policy

from autoscaler.crd import VALIDATIONS, crd
from autoscaler.policy.document import to_policy
from autoscaler.policy.issues import format_path


def findings_of(policy: dict[str, object]) -> list[tuple[str, str]]:
    result = to_policy(policy)
    if isinstance(result, tuple):
        return []
    return [(format_path(f.path), f.message) for f in result]


def test_the_good_policy_is_valid() -> None:
    assert findings_of(good_policy()) == []


@pytest.mark.parametrize("case", CASES.values(), ids=CASES.keys())
def test_validate_refuses_each_case_where_and_as_the_rule_does(case: RuleCase) -> None:
    found = findings_of(bad_policy(case))
    assert any(
        (path == case.field or path.startswith((case.field + ".", case.field + "[")))
        and message.startswith(case.message)
        for path, message in found
    ), found


def test_every_rule_has_a_case_and_every_case_a_rule() -> None:
    messages = {rule["message"] for rules in VALIDATIONS.values() for rule in rules}
    assert messages == {case.message for case in CASES.values()}


def test_the_crd_carries_the_rules_on_the_objects_they_check() -> None:
    spec = crd()["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]
    metric = spec["properties"]["metrics"]["items"]
    assert spec["x-kubernetes-validations"] == VALIDATIONS["ScalingPolicySpec"]
    assert metric["x-kubernetes-validations"] == VALIDATIONS["MetricSpec"]
    for field, model in (("resource", "ResourceMetricSource"), ("pods", "PodsMetricSource"),
                         ("object", "ObjectMetricSource"), ("external", "ExternalMetricSource"),
                         ("containerResource", "ContainerResourceMetricSource")):  # fmt: skip
        rules = metric["properties"][field]["x-kubernetes-validations"]
        assert rules == VALIDATIONS[model]
