"""`autoscaler simulate` end to end: the default run, determinism, conservation, files."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from autoscaler.cli import main
from autoscaler.sim.traces import flash_crowd_trace
from autoscaler.simulate.setup import bundled

POLICY = bundled("simulate-policy.yaml")


def write_trace(folder: Path) -> Path:
    """Two hours of a flash crowd (rates), 60 s apart: short, with a spike to recover from."""
    trace = flash_crowd_trace(
        base=300, peak=1800, start=1800, rise=120, hold=600, decay=900, duration=7200
    )
    path = folder / "flash.csv"
    rows = [f"{t:g},{r:.3f}" for t, r in zip(trace.times, trace.rates, strict=True)]
    path.write_text("timestamp_seconds,value\n" + "\n".join(rows) + "\n")
    return path


def simulate(*args: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(["simulate", *args], out=out, err=err)
    return code, out.getvalue(), err.getvalue()


@pytest.fixture(scope="module")
def trace(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_trace(tmp_path_factory.mktemp("trace"))


def test_with_no_arguments_it_compares_the_example_with_hpa_default_on_a_real_day(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    code, out, err = simulate()
    assert (code, err) == (0, "")
    assert "Simulated 1 d of scenario simulate-scenario.yaml" in out
    # The demo's policy forecasts: two days of the trace before the launch day first.
    assert "Pre-roll: 2 d of the trace before the recorded range" in out
    header, _, *rows = out.split("\n\n")[1].splitlines()[:4]
    assert header.split()[:3] == ["policy", "SLO-miss", "min"]
    assert [row.split()[0] for row in rows] == ["web-predictive", "hpa-default"]
    verdict = next(line for line in out.splitlines() if line.startswith("web-predictive vs"))
    assert verdict.startswith("web-predictive vs hpa-default: better: SLO-miss minutes")
    assert "scaled to a peak" not in out  # the scenario describes web: its own rates
    # The demo draws its chart without being asked: there is nothing else to look at.
    assert "Wrote simulate-demo/report.json, simulate-demo/chart.png." in out
    assert (tmp_path / "simulate-demo" / "chart.png").read_bytes()[:4] == b"\x89PNG"


def test_the_same_inputs_give_the_same_report_byte_for_byte(trace: Path, tmp_path: Path) -> None:
    for name in ("a", "b"):
        code, _, err = simulate(
            POLICY, "--compare", "--trace", str(trace), "--trace-kind", "rate",
            "--out", str(tmp_path / name),
        )  # fmt: skip
        assert (code, err) == (0, "")
    first = (tmp_path / "a" / "report.json").read_bytes()
    assert first == (tmp_path / "b" / "report.json").read_bytes()
    assert (tmp_path / "a" / "chart.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_served_plus_dropped_is_offered_and_the_series_cover_the_trace(
    trace: Path, tmp_path: Path
) -> None:
    code, _, _ = simulate(
        POLICY, "--compare", "--trace", str(trace), "--trace-kind", "rate", "--peak", "4000",
        "--out", str(tmp_path),
    )  # fmt: skip
    assert code == 0
    report = json.loads((tmp_path / "report.json").read_text())
    assert [run["label"] for run in report["runs"]] == ["web", "hpa-default"]
    for run in report["runs"]:
        s = run["summary"]
        assert s["droppedRequests"] > 0  # 4000 rps needs more than maxReplicas pods
        assert s["servedRequests"] + s["droppedRequests"] == pytest.approx(
            s["offeredRequests"], rel=1e-9
        )
        assert len(run["series"]["t"]) == 7200 // 15
        assert max(run["series"]["offeredRps"]) == pytest.approx(4000)
        assert s["peakReplicas"] == 40 and s["worstRecoverySeconds"] > 0


@pytest.mark.parametrize(
    ("text", "line", "what"),
    [
        ("timestamp_seconds,value\n", 2, "empty trace"),
        ("t,value\n0,5\n60,7\n30,1\n", 4, "before the previous one"),
        ("t,value\n0,5\n60,-7\n", 3, "negative value"),
        ("t,value\n0,5\n60,lots\n", 3, "is not a number"),
    ],
    ids=["empty", "unsorted", "negative", "non-numeric"],
)
def test_a_bad_trace_is_one_line_naming_its_line_and_exit_2(
    tmp_path: Path, text: str, line: int, what: str
) -> None:
    path = tmp_path / "bad.csv"
    path.write_text(text)
    code, out, err = simulate(POLICY, "--trace", str(path))
    assert (code, out) == (2, "")
    assert err.startswith(f"autoscaler simulate: {path}:{line}: ") and what in err
    assert err.count("\n") == 1


def test_other_input_mistakes_are_one_line_too(tmp_path: Path) -> None:
    code, out, err = simulate(str(tmp_path / "missing.yaml"))
    assert (code, out) == (2, "") and err.count("\n") == 1 and "missing.yaml" in err
    code, _, err = simulate("hpa-default")
    assert code == 2 and "needs a POLICY" in err
    code, _, err = simulate(POLICY, "--sync-phase", "15s")
    assert code == 2 and "--sync-phase must be shorter than --step" in err
