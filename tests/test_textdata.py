"""The bounded JSON and YAML readers behind ``autoscaler decide`` (``autoscaler.textdata``)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from autoscaler.documents.fast import FastDocuments
from autoscaler.textdata import MAX_DEPTH, DataError, NotJson, load_json
from autoscaler.textdata.yaml_text import YamlDocument


def _yaml(text: str) -> list[Any]:
    return list(YamlDocument(text).items())


def _nested(depth: int) -> str:
    return "[" * depth + "]" * depth


def test_json_nesting_up_to_the_limit_is_read_and_one_more_level_is_refused() -> None:
    assert load_json(_nested(MAX_DEPTH)) == json.loads(_nested(MAX_DEPTH))
    with pytest.raises(DataError) as refused:
        load_json(_nested(MAX_DEPTH + 1))
    assert refused.value.problem == f"nested more than {MAX_DEPTH} levels deep"
    assert (refused.value.line, refused.value.column) == (1, MAX_DEPTH + 1)


@pytest.mark.parametrize("block", [False, True], ids=["flow", "block"])
def test_yaml_nesting_up_to_the_limit_is_read_and_one_more_level_is_refused(block: bool) -> None:
    def nested(depth: int) -> str:
        if not block:
            return _nested(depth)
        return "".join("  " * i + "-\n" for i in range(depth))

    assert _yaml(nested(MAX_DEPTH))
    with pytest.raises(DataError, match=f"nested more than {MAX_DEPTH} levels deep"):
        _yaml(nested(MAX_DEPTH + 1))


def test_json_duplicate_keys_name_the_path_line_and_column() -> None:
    text = '[{"a": 1},\n {"b": {"c": 1, "d": [{"e": 1, "e": 2}]}}]'
    with pytest.raises(DataError) as refused:
        load_json(text)
    assert str(refused.value) == 'snapshot[1].b.d[0]: duplicate key "e" (line 2, column 32)'


def test_json_escapes_in_keys_are_read_before_comparing() -> None:
    with pytest.raises(DataError, match='duplicate key "a"'):
        load_json('{"a": 1, "\\u0061": 2}')


def test_text_that_is_not_json_says_so_for_the_yaml_reader() -> None:
    with pytest.raises(NotJson):
        load_json("a: 1")


def test_a_moved_error_counts_lines_and_columns_of_the_whole_document() -> None:
    error = DataError("bad", path="p", line=1, column=5).moved(3, 10)
    assert (error.line, error.column) == (3, 14)
    error = DataError("bad", path="p", line=2, column=5).moved(3, 10)
    assert (error.line, error.column) == (4, 5)


def test_yaml_is_read_as_pyyaml_reads_it_with_keys_as_written() -> None:
    text = (
        "base: &base {a: 1, b: [x, y]}\n"
        "merged:\n  <<: *base\n  b: own\n"
        "on: yes\n"
        "when: 2026-01-01T00:00:00Z\n"
        "list: [*base, *base]\n"
    )
    [data] = _yaml(text)
    assert data["merged"] == {"a": 1, "b": "own"}
    assert data["on"] is True and "on" in data
    assert data["when"].year == 2026
    assert data["list"] == [{"a": 1, "b": ["x", "y"]}] * 2


def test_a_yaml_list_is_read_item_by_item() -> None:
    document = YamlDocument("- a: 1\n- b: 2\n- [oops\n")
    assert document.kind == "sequence"
    items = document.items()
    assert next(items) == {"a": 1}
    assert next(items) == {"b": 2}
    with pytest.raises(DataError, match="not valid JSON or YAML"):
        next(items)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        pytest.param("a: 1\na: 2\n", 'snapshot: duplicate key "a" (line 2, column 1)', id="dup"),
        pytest.param("a: *nowhere\n", "alias *nowhere names no complete anchor", id="alias"),
        pytest.param("a: &s [*s]\n", "alias *s names no complete anchor", id="recursive"),
        pytest.param("a: !!python/name:os.system x\n", "unsupported YAML tag", id="tag"),
        pytest.param("a: 1\n---\nb: 2\n", "expected a single document", id="two-documents"),
        pytest.param("? [k]\n: v\n", "mapping keys must be plain strings", id="list-key"),
        pytest.param("a: !!int x\n", "invalid value", id="bad-int"),
    ],
)
def test_yaml_refusals_say_what_and_where(text: str, message: str) -> None:
    with pytest.raises(DataError) as refused:
        _yaml(text)
    assert message in str(refused.value)
    assert refused.value.line is not None


def test_yaml_aliases_count_as_often_as_they_are_used() -> None:
    lines = ['a0: &a0 ["x","x","x","x","x","x","x","x","x"]']
    lines += [f"a{i}: &a{i} [{','.join([f'*a{i - 1}'] * 9)}]" for i in range(1, 10)]
    with pytest.raises(DataError, match="refusing"):
        _yaml("\n".join(lines))


SNAPSHOT = '{"policy": {"maxReplicas": 3}, "currentReplicas": 1, "pods": [%s]}'


@pytest.mark.parametrize(
    "pod",
    [
        pytest.param('{"name": "a", "phase": "Running", "phase": "Pending"}', id="struct-field"),
        pytest.param(
            '{"name": "a", "containers": [{"name": "c", "requests": {"cpu": "1", "cpu": "2"}}]}',
            id="dict-key",
        ),
        pytest.param('{"name": "a", "startTime": "2026-01-01T00:00:00Z", "name": "b"}', id="name"),
    ],
)
def test_the_fast_path_refuses_a_key_given_twice(pod: str) -> None:
    single = FastDocuments().snapshots((SNAPSHOT % '{"name": "p"}').encode(), now=0)
    assert single is not None  # the same document without the duplicate is taken
    assert FastDocuments().snapshots((SNAPSHOT % pod).encode(), now=0) is None


def test_the_fast_path_leaves_escaped_colons_to_the_full_parser() -> None:
    pod = '{"name": "a:b"}'
    assert FastDocuments().snapshots((SNAPSHOT % pod).encode(), now=0) is not None
    escaped = '{"name": "a\\u003ab"}'
    assert FastDocuments().snapshots((SNAPSHOT % escaped).encode(), now=0) is None


@pytest.mark.parametrize(
    "part",
    [
        pytest.param('"policy": {"maxReplicas": 3, "maxReplicas": 1}', id="policy"),
        pytest.param(
            '"policy": {"maxReplicas": 3}, "settings": {"tolerance": 0.1, "tolerance": 0.2}',
            id="settings",
        ),
        pytest.param(
            '"policy": {"maxReplicas": 3, "behavior": ' + _nested(MAX_DEPTH) + "}",
            id="deep-policy",
        ),
    ],
)
def test_the_fast_path_refuses_a_policy_or_settings_the_full_parser_rejects(part: str) -> None:
    text = '{"currentReplicas": 1, ' + part + "}"
    assert FastDocuments().snapshots(text.encode(), now=0) is None
    with pytest.raises(DataError):
        load_json(text)
