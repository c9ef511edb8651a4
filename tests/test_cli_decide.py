"""`autoscaler decide` honours its format (docs/snapshots.md) at the command line."""

import io
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from builders import NOW, cpu_metric, pod, run, snapshot, usage

from autoscaler.cli import main


def cli(*args: str, stdin: str | None = None) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    if stdin is not None:
        sys_stdin = sys.stdin
        sys.stdin = io.TextIOWrapper(io.BytesIO(stdin.encode()))
        try:
            code = main(list(args), out=out, err=err)
        finally:
            sys.stdin = sys_stdin
    else:
        code = main(list(args), out=out, err=err)
    return code, out.getvalue(), err.getvalue()


def scaling_snapshot(current: int = 2) -> dict[str, Any]:
    pods = [pod(f"p{i}") for i in range(current)]
    return snapshot(
        current=current,
        pods=pods,
        metrics=[cpu_metric(50)],
        data={"resource": {p["name"]: usage("900m") for p in pods}},
    )


def test_single_snapshot_gives_a_single_object(tmp_path: Path) -> None:
    path = tmp_path / "s.json"
    path.write_text(json.dumps(scaling_snapshot()))
    code, out, err = cli("decide", str(path))
    assert (code, err) == (0, "")
    result = json.loads(out)
    assert result == run(scaling_snapshot())
    assert set(result) == {
        "desiredReplicas",
        "recommendation",
        "metrics",
        "conditions",
        "history",
        "error",
        "failedSyncs",
        "notice",
    }
    assert result["desiredReplicas"] == 4


def test_a_list_gives_a_list_in_the_same_order(tmp_path: Path) -> None:
    docs = [scaling_snapshot(1), scaling_snapshot(2), scaling_snapshot(3)]
    path = tmp_path / "list.yaml"
    path.write_text(json.dumps(docs))
    code, out, _ = cli("decide", str(path))
    assert code == 0
    assert [r["desiredReplicas"] for r in json.loads(out)] == [2, 4, 6]


def test_reads_yaml_from_standard_input() -> None:
    text = "now: 2023-11-14T22:13:20Z\npolicy: {maxReplicas: 5}\ncurrentReplicas: 0\n"
    code, out, _ = cli("decide", "-", stdin=text)
    assert code == 0
    assert json.loads(out)["desiredReplicas"] == 0


def test_a_failed_decision_is_data_with_exit_zero() -> None:
    doc = snapshot(current=3, metrics=[cpu_metric()])  # no pods, no metrics
    code, out, _ = cli("decide", "-", stdin=json.dumps(doc))
    assert code == 0
    result = json.loads(out)
    assert result["error"] and result["desiredReplicas"] == 3


def test_history_round_trips_so_decisions_chain() -> None:
    _, out, _ = cli("decide", "-", stdin=json.dumps(scaling_snapshot()))
    history = json.loads(out)["history"]
    assert history["recommendations"] == [{"time": NOW, "replicas": 4}]
    follow = scaling_snapshot(4) | {"history": history, "now": NOW + 15}
    assert cli("decide", "-", stdin=json.dumps(follow))[0] == 0


@pytest.mark.parametrize(
    ("content", "message"),
    [
        pytest.param(b"\xff\xfe\x00garbage", "not UTF-8", id="binary"),
        pytest.param(b"", "expected a snapshot mapping or a list of them, got nothing", id="empty"),
        pytest.param(b"[]", "empty list", id="empty-list"),
        pytest.param(b"42", "got int", id="scalar"),
        pytest.param(b"a: [1, 2\n", "not valid JSON or YAML", id="broken-yaml"),
        pytest.param(
            b"policy: {}\ncurrentReplicas: 1\n",
            "snapshot.policy.maxReplicas: required",
            id="no-max",
        ),
        pytest.param(
            b"policy: {maxReplicas: 3}\n", "snapshot.currentReplicas: required", id="no-current"
        ),
        pytest.param(
            b"policy: {maxReplicas: 3}\ncurrentReplicas: -1\n", "must be at least 0", id="negative"
        ),
        pytest.param(
            b"policy: {maxReplicas: 3}\ncurrentReplicas: 1\ncurentReplicas: 2\n",
            "snapshot.curentReplicas: unknown field",
            id="typo",
        ),
        pytest.param(
            b"policy: {maxReplicas: 3}\ncurrentReplicas: 1\npods: [{name: a, containers: "
            b"[{name: c, requests: {cpu: lots}}]}]\n",
            "snapshot.pods[0].containers[0].requests.cpu: 'lots' is not a Kubernetes quantity",
            id="bad-quantity",
        ),
        pytest.param(
            b'{"policy": {"maxReplicas": 3}, "currentReplicas": 1, "pods": [{"name": "a", '
            b'"containers": [{"name": "c", "requests": {"cpu": [1]}}]}]}',
            "snapshot.pods[0].containers[0].requests.cpu: [1] is not a quantity",
            id="list-as-quantity",
        ),
        pytest.param(
            b"- policy: {maxReplicas: 3}\n  currentReplicas: 1\n- policy: {maxReplicas: 0}\n"
            b"  currentReplicas: 1\n",
            "snapshot[1].policy.maxReplicas: must be at least 1",
            id="second-of-list",
        ),
        pytest.param(
            b"now: yesterday\npolicy: {maxReplicas: 3}\ncurrentReplicas: 1\n",
            "snapshot.now: expected RFC 3339 time",
            id="bad-time",
        ),
    ],
)
def test_unreadable_input_exits_2_with_one_line_and_prints_nothing(
    tmp_path: Path, content: bytes, message: str
) -> None:
    path = tmp_path / "bad"
    path.write_bytes(content)
    code, out, err = cli("decide", str(path))
    assert code == 2
    assert out == ""
    assert err.count("\n") == 1 and message in err and "Traceback" not in err
    assert err.startswith(f"autoscaler decide: {path}")


def test_a_yaml_bomb_is_refused_quickly(tmp_path: Path) -> None:
    lines = ['a0: &a0 ["x","x","x","x","x","x","x","x","x"]']
    lines += [f"a{i}: &a{i} [{','.join([f'*a{i - 1}'] * 9)}]" for i in range(1, 10)]
    path = tmp_path / "bomb.yaml"
    path.write_text("\n".join(lines) + "\n")
    code, out, err = cli("decide", str(path))
    assert code == 2 and out == ""
    assert "refusing" in err


def test_missing_file() -> None:
    code, out, err = cli("decide", "/nonexistent/snapshot.json")
    assert code == 2 and out == ""
    assert "cannot read" in err


def test_without_a_file_it_explains_the_bundled_example() -> None:
    code, out, _ = cli("decide")
    assert code == 0
    assert "Decision: scale 3 -> 4" in out
    assert "Pods http_requests_per_second" in out


def _golden(case_id: str) -> dict[str, Any]:
    cases = Path(__file__).parent / "core" / "cases" / "podscale_paths.yaml"
    [case] = [c for c in yaml.safe_load(cases.read_text()) if c["id"] == case_id]
    return dict(case["snapshot"])


def test_explain_says_which_path_won_with_each_proposals_numbers(tmp_path: Path) -> None:
    path = tmp_path / "paths.json"
    forecast = _golden("forecast-leads")
    forecast["policy"] = {**forecast["policy"], "burst": {"threshold": 2}}
    path.write_text(json.dumps([forecast, _golden("activation-wakes-zero-to-one")]))
    code, out, err = cli("decide", str(path), "--explain")
    assert (code, err) == (0, "")
    end = out.index("\n", out.index("Decision: ")) + 1  # the first snapshot's last line
    first, second = out[:end], out[end:]
    assert "Podscale paths:" in first and "Podscale rules:" not in first
    # Each proposal with its settings, in the metric's units (950 requests, not 950000m).
    assert (
        "  forecast (every metric, 60 s ahead, maxError 30%): 10 replicas: rps forecast 950 "
        "in total: / 100 per pod = 10 pods (recent error 10%)"
    ) in first
    assert "  burst (at 2x target, up to 20, stable 60 s): -: no burst: 0.90x target, below 2x" in (
        first
    )
    assert "  forecast of rps: 950 in total +60 s from now, recent error 10%" in first
    assert "  path: forecast (the forecast raised it), 8 replicas; the HPA alone: 4" in first
    assert "Decision: scale 4 -> 8" in first and "Decision: scale 0 -> 1" in second
    assert '  activation ("queue" above 5, cooldown 300 s): 1 replica: "queue" reads 40' in second
    assert '  -> Activated: activation: "queue" reads 40, above 5' in second
    assert "  path: activation (activation set it), 1 replica; the HPA alone: 2" in second


def test_explain_of_a_policy_without_paths_has_no_paths_section() -> None:
    code, out, _ = cli("decide")
    assert code == 0 and "Podscale paths" not in out and "path:" not in out


def test_json_flag_prints_the_bundled_example_as_json() -> None:
    code, out, _ = cli("decide", "--json")
    assert code == 0 and json.loads(out)["desiredReplicas"] == 4


def test_console_script_runs_as_a_real_process(tmp_path: Path) -> None:
    path = tmp_path / "s.json"
    path.write_text(json.dumps([scaling_snapshot()]))
    exe = Path(sys.executable).parent / "autoscaler"
    done = subprocess.run(
        [str(exe), "decide", str(path)], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)[0]["desiredReplicas"] == 4
    bad = subprocess.run(
        [str(exe), "decide", "-"], input="{", capture_output=True, text=True, timeout=60
    )
    assert bad.returncode == 2 and bad.stdout == "" and "Traceback" not in bad.stderr
