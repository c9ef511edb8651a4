"""`autoscaler decide` on hostile input: deep nesting, duplicate keys, oversize input.

Every refusal is exit 2 with one line on stderr naming the input and where (no
traceback, nothing on stdout), whichever way the input comes in: a file or standard
input, JSON (the fast path or the full parser) or YAML, one snapshot or a list.
"""

from __future__ import annotations

import io
import json
import sys
from pathlib import Path

import pytest

from autoscaler.cli import main

MAX_DEPTH = 64  # the documented limit (docs/decide.md)
GOOD = '{"policy": {"maxReplicas": 3}, "currentReplicas": 1}'


def decide(content: bytes, tmp_path: Path, *flags: str, stdin: bool = False) -> tuple[int, str]:
    """Exit code and stderr of ``autoscaler decide``; asserts a refusal prints nothing."""
    out, err = io.StringIO(), io.StringIO()
    if stdin:
        saved = sys.stdin
        sys.stdin = io.TextIOWrapper(io.BytesIO(content))
        try:
            code = main(["decide", "-", *flags], out=out, err=err)
        finally:
            sys.stdin = saved
    else:
        path = tmp_path / "input"
        path.write_bytes(content)
        code = main(["decide", str(path), *flags], out=out, err=err)
    if code != 0:
        assert out.getvalue() == ""
        assert err.getvalue().count("\n") == 1, err.getvalue()
        assert "Traceback" not in err.getvalue()
    return code, err.getvalue()


def _nested(depth: int, opening: str = "[", closing: str = "]") -> str:
    return opening * depth + closing * depth


@pytest.mark.parametrize("stdin", [False, True], ids=["file", "stdin"])
@pytest.mark.parametrize(
    ("content", "where"),
    [
        pytest.param(_nested(1000), "line 1, column", id="json-1000-brackets"),
        pytest.param(_nested(200_000), "line 1, column", id="json-200000-brackets"),
        pytest.param('{"a":' * 1000 + "1" + "}" * 1000, "line 1, column", id="json-1000-objects"),
        pytest.param(
            '{"policy": ' + _nested(MAX_DEPTH + 5) + ', "currentReplicas": 1}',
            "line 1, column",
            id="json-policy-just-too-deep",
        ),
        pytest.param(
            f"[{GOOD}, "
            + '{"policy": {"maxReplicas": 3}, "currentReplicas": 1, "pods": '
            + _nested(MAX_DEPTH + 5)
            + "}]",
            "line 1, column",
            id="json-second-of-list",
        ),
        pytest.param(
            f"[{GOOD},\n"
            + '{"policy": {"maxReplicas": 3}, "currentReplicas": 1, "metrics": '
            + '{"external": {"q": '
            + _nested(2000)
            + "}}}]",
            "line 2, column",
            id="json-second-of-list-very-deep",
        ),
        pytest.param("a: " + _nested(1000) + "\n", "line 1, column", id="yaml-flow"),
        pytest.param(
            "policy: {maxReplicas: 3}\ncurrentReplicas: 1\npods:\n"
            + "".join("  " * i + "- \n" for i in range(MAX_DEPTH + 5)),
            "line",
            id="yaml-block",
        ),
        pytest.param(
            "- policy: {maxReplicas: 3}\n  currentReplicas: 1\n- " + _nested(5000) + "\n",
            "line 3, column",
            id="yaml-second-of-list",
        ),
    ],
)
def test_deep_nesting_is_one_line_naming_where(
    tmp_path: Path, content: str, where: str, stdin: bool
) -> None:
    code, err = decide(content.encode(), tmp_path, stdin=stdin)
    assert code == 2
    assert f"nested more than {MAX_DEPTH} levels deep" in err
    assert where in err
    assert err.startswith("autoscaler decide: <stdin>: " if stdin else "autoscaler decide: ")


def test_a_snapshot_nested_as_deep_as_the_limit_is_decided(tmp_path: Path) -> None:
    # The deepest a snapshot nests: a policy's selector, 9 levels; the limit is far above.
    selector = {"matchExpressions": [{"key": "q", "operator": "In", "values": ["a"]}]}
    metric = {"name": "queue", "selector": selector}
    target = {"type": "Value", "value": "5"}
    policy = {
        "maxReplicas": 3,
        "metrics": [{"type": "External", "external": {"metric": metric, "target": target}}],
    }
    doc = [{"policy": policy, "currentReplicas": 1, "metrics": {"external": {"queue": ["1"]}}}]
    code, err = decide(json.dumps(doc).encode(), tmp_path)
    assert (code, err) == (0, "")


@pytest.mark.parametrize("stdin", [False, True], ids=["file", "stdin"])
@pytest.mark.parametrize(
    ("content", "message"),
    [
        pytest.param(
            '{"policy":{"maxReplicas":3,"maxReplicas":1},"currentReplicas":5}',
            'snapshot.policy: duplicate key "maxReplicas"',
            id="json-policy",
        ),
        pytest.param(
            '{"policy":{"maxReplicas":3},"currentReplicas":5,"currentReplicas":1}',
            'snapshot: duplicate key "currentReplicas"',
            id="json-top-level",
        ),
        pytest.param(
            '{"policy":{"maxReplicas":3},"currentReplicas":1,"pods":[{"name":"a","phase":'
            '"Running","phase":"Pending"}]}',
            'snapshot.pods[0]: duplicate key "phase"',
            id="json-pod-field",
        ),
        pytest.param(
            '{"policy":{"maxReplicas":3},"currentReplicas":1,"pods":[{"name":"a","containers":'
            '[{"name":"c","requests":{"cpu":"1","cpu":"2"}}]}]}',
            'snapshot.pods[0].containers[0].requests: duplicate key "cpu"',
            id="json-requests",
        ),
        pytest.param(
            '{"policy":{"maxReplicas":3},"currentReplicas":1,"metrics":{"external":'
            '{"q":["1"],"q":["100"]}}}',
            'snapshot.metrics.external: duplicate key "q"',
            id="json-metric-name",
        ),
        pytest.param(
            '{"policy":{"maxReplicas":3},"currentReplicas":1,"settings":'
            '{"tolerance":0.1,"tolerance":0.5}}',
            'snapshot.settings: duplicate key "tolerance"',
            id="json-settings",
        ),
        pytest.param(
            f'[{GOOD},\n{GOOD},\n{{"policy":{{"maxReplicas":3}},"currentReplicas":1,\n'
            '"history":{"recommendations":[{"time":1,"replicas":2,"replicas":9}]}}]',
            'snapshot[2].history.recommendations[0]: duplicate key "replicas" (line 4, column',
            id="json-third-of-list",
        ),
        pytest.param(
            "policy:\n  maxReplicas: 3\n  maxReplicas: 1\ncurrentReplicas: 5\n",
            'snapshot.policy: duplicate key "maxReplicas" (line 3, column 3)',
            id="yaml-policy",
        ),
        pytest.param(
            "- policy: {maxReplicas: 3}\n  currentReplicas: 1\n"
            "- policy: {maxReplicas: 3}\n  currentReplicas: 1\n  currentReplicas: 2\n",
            'snapshot[1]: duplicate key "currentReplicas" (line 5, column 3)',
            id="yaml-second-of-list",
        ),
    ],
)
def test_duplicate_keys_are_refused_naming_the_key_and_where(
    tmp_path: Path, content: str, message: str, stdin: bool
) -> None:
    code, err = decide(content.encode(), tmp_path, stdin=stdin)
    assert code == 2
    assert message in err


@pytest.mark.parametrize("stdin", [False, True], ids=["file", "stdin"])
def test_input_over_the_size_limit_is_refused_in_one_line(tmp_path: Path, stdin: bool) -> None:
    content = json.dumps([json.loads(GOOD)] * 20).encode()
    limit = len(content) - 1
    code, err = decide(content, tmp_path, "--max-input-bytes", str(limit), stdin=stdin)
    assert code == 2
    assert f"larger than {limit:,} bytes" in err and "--max-input-bytes" in err
    code, err = decide(content, tmp_path, "--max-input-bytes", str(len(content)), stdin=stdin)
    assert (code, err) == (0, "")


def test_the_size_limit_takes_kubernetes_quantities(tmp_path: Path) -> None:
    code, err = decide(b"x" * 2048, tmp_path, "--max-input-bytes", "1Ki")
    assert code == 2 and "larger than 1,024 bytes" in err


def test_an_endless_file_is_read_only_up_to_the_limit() -> None:
    out, err = io.StringIO(), io.StringIO()
    code = main(["decide", "/dev/zero", "--max-input-bytes", "1Ki"], out=out, err=err)
    assert (code, out.getvalue()) == (2, "")
    assert err.getvalue() == (
        "autoscaler decide: /dev/zero: larger than 1,024 bytes (--max-input-bytes); refusing "
        "it (split a list into smaller files, or raise the limit)\n"
    )


def test_a_limit_that_is_not_a_byte_count_is_a_usage_error(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["decide", "-", "--max-input-bytes", "lots"])
    assert exited.value.code == 2
    assert "expected a number of bytes such as 64Mi, got 'lots'" in capsys.readouterr().err
