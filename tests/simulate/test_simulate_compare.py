"""`autoscaler simulate --compare` as a new user meets it: a labelled baseline per
policy, a verdict line each, warnings where a run would mislead, a peak for traces
whose rates mean nothing to the policy, the default scenario, and the pod speed."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from autoscaler.cli import main
from autoscaler.simulate.setup import bundled, load_targets, subjects

POLICY = bundled("simulate-policy.yaml")
NATIVE = str(Path(__file__).resolve().parents[2] / "policies" / "native-hpa.yaml")
NASA = Path(__file__).resolve().parents[2] / "loadtest/traces/nasa_http_jul1995_requests_1min.csv"


def simulate(*args: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(["simulate", *args], out=out, err=err)
    return code, out.getvalue(), err.getvalue()


@pytest.fixture(scope="module")
def second_policy(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The example as ``web-eager`` on the workload ``eager``, with a 40 rps target."""
    text = Path(POLICY).read_text()
    text = text.replace("name: web\n  namespace", "name: web-eager\n  namespace")
    text = text.replace("    name: web\n", "    name: eager\n").replace('"60"', '"40"')
    path = tmp_path_factory.mktemp("policies") / "eager.yaml"
    path.write_text(text)
    return path


def test_each_policy_gets_its_own_labelled_baseline(second_policy: Path) -> None:
    targets = load_targets([POLICY, str(second_policy)])
    made = subjects(targets, scenario=None, replicas=None, baseline=True)
    assert [(s.label, s.baseline_of) for s in made] == [
        ("web", None),
        ("hpa-default (web)", "web"),
        ("web-eager", None),
        ("hpa-default (web-eager)", "web-eager"),
    ]
    for policy, baseline in (made[0:2], made[2:4]):
        assert baseline.target.ref == policy.target.ref
        assert baseline.target.policy.metrics == policy.target.policy.metrics
        assert baseline.target.policy.max_replicas == policy.target.policy.max_replicas
        assert baseline.target.policy.behavior is None


def test_compare_of_two_policies_prints_a_verdict_per_policy(
    second_policy: Path, tmp_path: Path
) -> None:
    code, out, err = simulate(
        POLICY, str(second_policy), "--compare", "--duration", "1h", "--out", str(tmp_path)
    )
    assert (code, err) == (0, "")
    report = json.loads((tmp_path / "report.json").read_text())
    labels = [run["label"] for run in report["runs"]]
    assert labels == ["web", "hpa-default (web)", "web-eager", "hpa-default (web-eager)"]
    assert [run["baselineOf"] for run in report["runs"]] == [None, "web", None, "web-eager"]
    assert [line.split(":")[0] for line in report["verdicts"]] == [
        "web vs hpa-default (web)",
        "web-eager vs hpa-default (web-eager)",
    ]
    for line in report["verdicts"]:
        assert line in out
    for run in report["runs"]:
        assert {"sloMissMinutes", "badRequests", "underProvisionedMinutes"} <= set(run["summary"])
        assert {"servedRps", "droppedRps", "slowRps"} <= set(run["series"])


def test_a_policy_alone_runs_on_the_default_scenario_and_warns_of_a_target_out_of_reach(
    tmp_path: Path,
) -> None:
    code, out, err = simulate(NATIVE, "--duration", "2h", "--out", str(tmp_path))
    assert (code, err) == (0, "")
    assert "of scenario simulate-scenario.yaml" in out
    # frontend is not in the scenario: its trace is scaled to half of 8 pods x 100 rps.
    assert "scaled to a peak of 400 rps, half of what maxReplicas (8) pods" in out
    assert (
        "Warning: frontend: the cpu target (400m) is out of reach: a pod of this model "
        "reaches at most 210m (at its 100 rps capacity), so this metric never asks for "
        "more pods." in out
    )
    report = json.loads((tmp_path / "report.json").read_text())
    assert len(report["warnings"]) == 1 and report["runs"][0]["summary"]["scaleEvents"] == 0


def test_a_count_trace_without_a_peak_is_scaled_to_one_and_says_so() -> None:
    code, out, err = simulate(POLICY, "--trace", str(NASA), "--offset", "12d", "--duration", "2h")
    assert (code, err) == (0, "")
    assert "The trace counts requests; scaled to a peak of 2,000 rps" in out
    assert "(peak 2,000 rps" in out
    code, out, _ = simulate(POLICY, "--trace", str(NASA), "--duration", "1h", "--scale", "1")
    assert code == 0 and "scaled to a peak" not in out and "(peak 1" in out


def test_replicas_pinned_at_max_replicas_are_a_warning() -> None:
    code, out, err = simulate(
        POLICY, "--trace", str(NASA), "--offset", "12d", "--duration", "2h", "--peak", "9000"
    )
    assert (code, err) == (0, "")
    assert "Warning: web: replicas sat at maxReplicas (40) for " in out
    assert "the load needs more pods than the policy allows." in out


@pytest.mark.parametrize(("speed", "delays"), [("fast", (2, 10)), ("slow", (5, 40))])
def test_the_pod_speed_sets_every_runs_start_up_delays(
    tmp_path: Path, speed: str, delays: tuple[int, int]
) -> None:
    code, _, err = simulate(POLICY, "--compare", "--duration", "30m", "--pod", speed,
                            "--out", str(tmp_path))  # fmt: skip
    assert (code, err) == (0, "")
    report = json.loads((tmp_path / "report.json").read_text())
    for run in report["runs"]:
        assert (run["pod"]["scheduleDelay"], run["pod"]["readyDelay"]) == delays
        assert run["pod"]["capacityRps"] == 100  # the scenario's model, only faster or slower
