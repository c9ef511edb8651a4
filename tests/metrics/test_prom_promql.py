"""Templates and selectors: what renders, what is refused, and that no value can escape.

The injection tests send the rendered queries to a real Prometheus: it must accept
them and match the hostile label values literally, nothing more.
"""

from __future__ import annotations

import pytest
from prometheus_fixture import PromEnv

from autoscaler.metrics.promql import (
    PromQLError,
    compile_template,
    quote,
    regex_escape,
    render_matchers,
)
from autoscaler.policy.model import LabelSelector
from autoscaler.selectors import Requirement, requirements

pytestmark = pytest.mark.prometheus


@pytest.mark.parametrize(
    ("selector", "expected"),
    [
        pytest.param([], "", id="empty"),
        pytest.param([Requirement("queue", "In", ("jobs",))], 'queue="jobs"', id="equals"),
        pytest.param(
            [Requirement("region", "In", ("us", "eu", "us"))], 'region=~"eu|us"', id="in-sorted"
        ),
        pytest.param([Requirement("region", "NotIn", ("eu",))], 'region!="eu"', id="not-equals"),
        pytest.param(
            [Requirement("region", "NotIn", ("a.b", "c"))], 'region!~"a\\\\.b|c"', id="notin"
        ),
        pytest.param([Requirement("legacy", "Exists")], 'legacy!=""', id="exists"),
        pytest.param([Requirement("legacy", "DoesNotExist")], 'legacy=""', id="absent"),
        pytest.param(
            [Requirement("b", "In", ("1",)), Requirement("a", "Exists")],
            'a!="", b="1"',
            id="sorted-by-key",
        ),
    ],
)
def test_selectors_render_as_sorted_matchers(selector: list[Requirement], expected: str) -> None:
    assert render_matchers(selector) == expected


def test_a_label_selector_model_becomes_requirements() -> None:
    selector = LabelSelector.model_validate(
        {
            "matchLabels": {"queue": "jobs"},
            "matchExpressions": [{"key": "region", "operator": "In", "values": ["eu", "us"]}],
        }
    )
    assert render_matchers(requirements(selector)) == 'queue="jobs", region=~"eu|us"'
    assert requirements(None) == ()


@pytest.mark.parametrize(
    ("requirement", "message"),
    [
        pytest.param(
            Requirement("app.kubernetes.io/name", "In", ("x",)),
            'selector key "app.kubernetes.io/name" is not a Prometheus label name'
            " ([a-zA-Z_][a-zA-Z0-9_]*, not starting with __)",
            id="kubernetes-prefixed-key",
        ),
        pytest.param(
            Requirement("__name__", "In", ("secret_metric",)),
            'selector key "__name__" is not a Prometheus label name'
            " ([a-zA-Z_][a-zA-Z0-9_]*, not starting with __)",
            id="reserved-name-label",
        ),
        pytest.param(
            Requirement('a="b"}', "In", ("x",)),
            'selector key "a=\\"b\\"}" is not a Prometheus label name'
            " ([a-zA-Z_][a-zA-Z0-9_]*, not starting with __)",
            id="key-injection",
        ),
        pytest.param(
            Requirement("a", "Gt", ("1",)),
            'selector key "a": unknown operator "Gt" (allowed: In, NotIn, Exists, DoesNotExist)',
            id="unknown-operator",
        ),
        pytest.param(
            Requirement("a", "In", ()),
            'selector key "a": In needs at least one value',
            id="no-value",
        ),
        pytest.param(
            Requirement("a", "Exists", ("x",)),
            'selector key "a": Exists takes no values',
            id="exists-with-values",
        ),
    ],
)
def test_bad_selectors_are_refused(requirement: Requirement, message: str) -> None:
    with pytest.raises(PromQLError) as caught:
        render_matchers([requirement])
    assert str(caught.value) == message


def test_string_and_regex_escaping() -> None:
    assert quote('a"b\\c\nd\x01') == '"a\\"b\\\\c\\nd\\x01"'
    assert regex_escape("a.b|c(d)*é") == "a\\.b\\|c\\(d\\)\\*é"


def test_values_are_escaped_for_where_the_placeholder_stands() -> None:
    template = compile_template(
        'sum(x{namespace="{namespace}", svc="{object_name}", pod=~"{object_name}-.*", {selector}})'
    )
    rendered = template.render(
        namespace="prod", object_name='we"b.1', selector=[Requirement("a", "In", ("1",))]
    )
    assert rendered == (
        'sum(x{namespace="prod", svc="we\\"b.1", pod=~"we\\\\\\"b\\\\.1-.*", a="1"})'
    )


def test_a_selector_without_a_placeholder_is_refused_not_ignored() -> None:
    template = compile_template("sum(up)")
    assert template.render() == "sum(up)"
    with pytest.raises(PromQLError, match=r"no \{selector\} placeholder"):
        template.render(selector=[Requirement("a", "Exists")])


def test_comments_and_braces_in_strings_are_not_placeholders() -> None:
    template = compile_template('up{job="{x"} # {not_a_placeholder}\n')
    assert template.placeholders == frozenset()


HOSTILE = [
    'x"} or vector(1) or up{a="',
    "x\\",
    'x"}[5m]) or on() vector(1e9) #',
    "line\nbreak",
    ".*",
    "a|b",
]


def test_hostile_selector_values_match_literally_in_prometheus(
    prom_env: PromEnv, namespace: str
) -> None:
    for index, value in enumerate(HOSTILE):
        prom_env.exporter.set("podscale_inj", {"namespace": namespace, "v": value}, index + 1)
    prom_env.exporter.set("podscale_inj", {"namespace": namespace, "v": "plain"}, 100)
    selector = f'podscale_inj{{namespace="{namespace}"}}'
    prom_env.server.wait_for(selector, count=len(HOSTILE) + 1)
    template = compile_template('podscale_inj{namespace="{namespace}", {selector}}')
    for index, value in enumerate(HOSTILE):
        for operator in ("In", "NotIn"):
            query = template.render(
                namespace=namespace, selector=[Requirement("v", operator, (value, "nomatch"))]
            )
            got = sorted(float(s["value"][1]) for s in prom_env.server.query(query))
            everything = [*range(1, len(HOSTILE) + 1), 100]
            expected = (
                [index + 1] if operator == "In" else [v for v in everything if v != index + 1]
            )
            assert got == expected, (value, operator, query)
