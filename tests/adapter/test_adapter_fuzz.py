"""Fuzzing from the adapter's own OpenAPI document (schemathesis), plus hypothesis on raw
selector strings: no 5xx other than the documented 503, no traceback in any body, and
every error a JSON Status.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from adapter_support import Served, adapter_app, serve
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from autoscaler.adapter import openapi
from autoscaler.selectors import SelectorError, canonical, parse_selector

schema = schemathesis.openapi.from_dict(openapi.document(v3=True))


def scripted(query: str, *, time: float) -> list[dict[str, Any]]:
    """Prometheus stand-in: one series, or a refusal for namespaces starting with 'x'."""
    if 'namespace="x' in query:
        from autoscaler.metrics.prometheus import QueryError

        raise QueryError("connection refused")
    return [{"metric": {"queue": "jobs"}, "value": [time, "1.5"]}]


@pytest.fixture(scope="module")
def adapter(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    from adapter_support import write_declarations

    declarations = write_declarations(tmp_path_factory.mktemp("fuzz"))
    with serve(adapter_app(declarations, "http://prometheus.invalid", runner=scripted)) as served:
        yield served


# One test per operation, named by it: schemathesis' own ``parametrize`` gives every
# operation the same node id, which pytest-xdist (``make test``) collapses into one.
OPERATIONS = [result.ok() for result in schema.get_all_operations()]


@pytest.mark.parametrize("operation", OPERATIONS, ids=[op.label for op in OPERATIONS])
def test_no_undocumented_server_errors(operation: Any, adapter: Served) -> None:
    @given(case=operation.as_strategy())
    @settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
    def answers_documented(case: Any) -> None:
        response = case.call(base_url=adapter.url, timeout=10)
        assert response.status_code < 500 or response.status_code == 503, response.text
        assert "Traceback" not in response.text
        assert response.headers["content-type"] in ("application/json", ["application/json"])
        if response.status_code >= 400:
            body = response.json()
            assert body["kind"] == "Status" and body["code"] == response.status_code
            assert "\n" not in body["message"]

    answers_documented()


@given(st.text(max_size=80))
@settings(max_examples=500, deadline=None)
def test_any_selector_string_parses_or_is_a_one_line_error(text: str) -> None:
    try:
        requirements = parse_selector(text)
    except SelectorError as exc:
        assert "\n" not in str(exc)
        return
    assert parse_selector(canonical(requirements)) == requirements


_word = st.from_regex(r"[a-z]([a-z0-9_]{0,6}[a-z0-9])?", fullmatch=True)


@given(st.dictionaries(_word, _word, max_size=4), st.lists(_word, min_size=1, max_size=3))
@settings(max_examples=200, deadline=None)
def test_equivalent_selectors_share_a_canonical_form(
    labels: dict[str, str], values: list[str]
) -> None:
    one = ",".join(f"{k}={v}" for k, v in labels.items())
    other = ", ".join(f"{k} == {v}" for k, v in reversed(labels.items()))
    assert canonical(parse_selector(one)) == canonical(parse_selector(other))
    forward = f"zz in ({','.join(values)})"
    backward = f"zz in ({','.join(reversed(values))})"
    assert canonical(parse_selector(forward)) == canonical(parse_selector(backward))


def test_the_documents_cover_the_routes() -> None:
    paths = openapi.document(v3=False)["paths"]
    assert all(p.startswith("/apis/external.metrics.k8s.io/v1beta1") for p in paths)
