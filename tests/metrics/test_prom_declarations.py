"""MetricDeclarations files: valid documents load; each mistake is one exact line."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from autoscaler.metrics.declarations import load_declarations

HEAD = """apiVersion: podscale.dev/v1alpha1
kind: MetricDeclarations
metadata: {name: default}
spec:
  metrics:
"""
PODS_QUERY = (
    'sum by (namespace, pod) (rate(http_requests_total{namespace="{namespace}", {selector}}[1m]))'
)


def write(tmp_path: Path, body: str, *, name: str = "decl.yaml") -> str:
    path = tmp_path / name
    path.write_text(body)
    return str(path)


def entry(**fields: str) -> str:
    lines = [f"    - {next(iter(fields))}: {fields.pop(next(iter(fields)))}"]
    lines += [f"      {key}: {value}" for key, value in fields.items()]
    return "\n".join(lines) + "\n"


def test_the_documented_example_loads(tmp_path: Path) -> None:
    body = HEAD + entry(
        name="http_requests_per_second",
        type="Pods",
        query=f"'{PODS_QUERY}'",
        maxAge="60",
        cacheTTL="10",
    )
    loaded = load_declarations([write(tmp_path, body)])
    assert loaded.errors == []
    declaration = loaded.metrics["http_requests_per_second"]
    assert (declaration.type, declaration.max_age, declaration.cache_ttl) == ("Pods", 60, 10)
    assert declaration.template.placeholders == {"namespace", "selector"}


def test_all_three_types_and_defaults(tmp_path: Path) -> None:
    body = HEAD + entry(
        name="queue_depth", type="External", query="'sum by (queue) (depth{{selector}})'"
    )
    body += entry(
        name="ingress_rps",
        type="Object",
        query="""'sum(nginx_requests{namespace="{namespace}", ingress="{object_name}"})'""",
    )
    body += entry(
        name="all_pods",
        type="Pods",
        query="'sum by (namespace, pod) (up)'",
    )
    loaded = load_declarations([write(tmp_path, body)])
    assert loaded.errors == []
    assert sorted(loaded.metrics) == ["all_pods", "ingress_rps", "queue_depth"]
    assert loaded.metrics["queue_depth"].max_age == 60
    assert loaded.metrics["queue_depth"].cache_ttl is None


LINE = 6  # the line of "- name:" in a one-entry document


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        pytest.param(
            {"name": "x", "type": "Gauge", "query": "'up'"},
            f"{LINE + 1}: spec.metrics[0].type: must be one of Pods, Object, External"
            ' (got "Gauge")',
            id="unknown-type",
        ),
        pytest.param(
            {"name": "x", "type": "External", "query": "'up{{selectr}}'"},
            f"{LINE + 2}: spec.metrics[0].query: unknown placeholder {{selectr}}"
            " (known: {namespace}, {selector}, {object_kind}, {object_name})",
            id="unknown-placeholder",
        ),
        pytest.param(
            {"name": "x", "type": "External", "query": """'up{job="{object_name}"}'"""},
            f"{LINE + 2}: spec.metrics[0].query: {{object_name}} is only available to Object"
            " metrics",
            id="object-placeholder-outside-object",
        ),
        pytest.param(
            {"name": "x", "type": "External", "query": "'up{job={namespace}}'"},
            f"{LINE + 2}: spec.metrics[0].query: {{namespace}} must stand inside a"
            ' double-quoted string, e.g. label="{namespace}"',
            id="value-placeholder-unquoted",
        ),
        pytest.param(
            {"name": "x", "type": "External", "query": "'sum({selector})'"},
            f"{LINE + 2}: spec.metrics[0].query: {{selector}} must stand inside a label"
            ' matcher list, e.g. metric{job="x", {selector}}',
            id="selector-outside-matchers",
        ),
        pytest.param(
            {"name": "x", "type": "External", "query": """'up{job="a}'"""},
            f'{LINE + 2}: spec.metrics[0].query: unterminated "-quoted string',
            id="unterminated-string",
        ),
        pytest.param(
            {"name": "x", "type": "Pods", "query": """'sum(up{namespace="{namespace}"})'"""},
            f"{LINE + 2}: spec.metrics[0].query: a Pods query must aggregate by the pod label,"
            " e.g. sum by (namespace, pod) (...), or be a plain selector",
            id="pods-not-by-pod",
        ),
        pytest.param(
            {"name": "x", "type": "Pods", "query": "'sum by (pod) (up)'"},
            f'{LINE + 2}: spec.metrics[0].query: a Pods query without "{{namespace}}" must'
            " aggregate by namespace too, e.g. sum by (namespace, pod) (...)",
            id="pods-cluster-wide-without-namespace",
        ),
        pytest.param(
            {"name": "x", "type": "External", "query": "'up'", "maxAge": "0"},
            f"{LINE + 3}: spec.metrics[0].maxAge: Input should be greater than 0 (got 0)",
            id="max-age-zero",
        ),
        pytest.param(
            {"name": "x", "type": "External", "query": "'up'", "maxAge": "30", "cacheTTL": "60"},
            f"{LINE + 4}: spec.metrics[0].cacheTTL: must not exceed maxAge (30): a cached value"
            " would outlive its freshness",
            id="ttl-beyond-max-age",
        ),
        pytest.param(
            {"name": "x", "type": "External", "query": "'up'", "maxage": "30"},
            f'{LINE + 3}: spec.metrics[0].maxage: unknown field (did you mean "maxAge"?)',
            id="unknown-field",
        ),
        pytest.param(
            {"name": "'a/b'", "type": "External", "query": "'up'"},
            f"{LINE}: spec.metrics[0].name: String should match pattern"
            " '^[A-Za-z_][A-Za-z0-9_.:-]*$' (got \"a/b\")",
            id="name-with-slash",
        ),
        pytest.param(
            {"name": "x", "type": "External"},
            f"{LINE}: spec.metrics[0].query: required",
            id="missing-query",
        ),
    ],
)
def test_invalid_entries_give_one_exact_line(
    tmp_path: Path, fields: dict[str, str], expected: str
) -> None:
    file = write(tmp_path, HEAD + entry(**fields))
    loaded = load_declarations([file])
    assert [issue.format() for issue in loaded.errors] == [f"error: {file}:{expected}"]
    assert loaded.metrics == {}


def test_wrong_kind_and_version(tmp_path: Path) -> None:
    body = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\nspec: {metrics: []}\n"
    file = write(tmp_path, body)
    assert [i.format() for i in load_declarations([file]).errors] == [
        f'error: {file}:1: apiVersion: must be podscale.dev/v1alpha1 (got "v1")',
        f'error: {file}:2: kind: must be MetricDeclarations (got "ConfigMap")',
    ]


def test_a_name_declared_twice_is_an_error_where_it_repeats(tmp_path: Path) -> None:
    first = write(tmp_path, HEAD + entry(name="q", type="External", query="'up'"), name="a.yaml")
    second = write(tmp_path, HEAD + entry(name="q", type="External", query="'up'"), name="b.yaml")
    loaded = load_declarations([str(tmp_path)])
    assert [i.format() for i in loaded.errors] == [
        f'error: {second}:{LINE}: spec.metrics[0].name: metric "q" is already declared at'
        f" {first}:{LINE}"
    ]
    assert list(loaded.metrics) == ["q"]


def test_unreadable_inputs(tmp_path: Path) -> None:
    missing = str(tmp_path / "nope.yaml")
    broken = write(tmp_path, "spec: [\n", name="broken.yaml")
    messages = [i.format() for i in load_declarations([missing, broken]).errors]
    assert messages[0] == f"error: {missing}: no such file or directory"
    assert messages[1].startswith(f"error: {broken}:")
    assert len(messages) == 2


def test_a_fifo_in_a_folder_is_skipped_not_waited_on(tmp_path: Path) -> None:
    folder = tmp_path / "metrics"
    folder.mkdir()
    os.mkfifo(folder / "pipe.yaml")
    script = (
        "import sys\n"
        "from autoscaler.metrics.declarations import load_declarations\n"
        "print(*[e.format() for e in load_declarations(sys.argv[1:]).errors], sep='\\n')\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script, str(folder)], capture_output=True, text=True, timeout=30
    )
    assert done.stdout.splitlines() == [
        f"error: {folder / 'pipe.yaml'}: not a regular file: skipped"
    ]
