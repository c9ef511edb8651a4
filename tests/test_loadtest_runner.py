"""``loadtest/run_all.py``: runs each bench_*.py bounded in time and writes RESULTS.md.

Fake benchmarks in a temporary folder: one prints figures, one fails, one outlives
the timeout (and leaves a child behind, which must go with it).
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

RUNNER = Path(__file__).resolve().parent.parent / "loadtest" / "run_all.py"

GOOD = """\
print("machine: fake")
print("widgets: 12,345/s (goal >= 10,000/s)")
"""
BAD = """\
import sys
print("half a figure")
sys.exit("bench_bad: cannot reach the widget server")
"""
SLOW = """\
import subprocess, sys, time
child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
print(child.pid, flush=True)
time.sleep(60)
"""


def _bench(folder: Path, name: str, text: str) -> None:
    (folder / f"bench_{name}.py").write_text(textwrap.dedent(text))


def _run(folder: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(RUNNER), "--dir", str(folder), *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    loadtest = tmp_path / "loadtest"
    loadtest.mkdir()
    _bench(loadtest, "good", GOOD)
    return loadtest


def test_results_name_the_machine_and_copy_each_benchmarks_figures(folder: Path) -> None:
    run = _run(folder)
    assert run.returncode == 0, run.stderr
    results = (folder / "RESULTS.md").read_text()
    for row in ("| CPUs (nproc) |", "| CPU model |", "| memory |", "| Python |", " UTC."):
        assert row in results
    assert "| bench_good.py | ok |" in results
    assert "widgets: 12,345/s (goal >= 10,000/s)" in results
    assert f"`{sys.executable} loadtest/bench_good.py`: ok, " in results


def test_a_failing_benchmark_is_reported_with_its_error_and_the_exit_is_non_zero(
    folder: Path,
) -> None:
    _bench(folder, "bad", BAD)
    run = _run(folder)
    assert run.returncode == 1
    results = (folder / "RESULTS.md").read_text()
    error = "exit 1: bench_bad: cannot reach the widget server"
    assert f"| bench_bad.py | **failed**: {error} |" in results
    assert "half a figure" in results
    assert "| bench_good.py | ok |" in results  # the others still ran
    assert run.stdout.rstrip().endswith("failed: bench_bad.py")


def test_a_benchmark_past_the_timeout_is_stopped_with_its_children(folder: Path) -> None:
    _bench(folder, "slow", SLOW)
    run = _run(folder, "--only", "slow", "--timeout", "2")
    assert run.returncode == 1
    results = (folder / "RESULTS.md").read_text()
    assert "| bench_slow.py | **failed**: timed out after 2 s |" in results
    assert "| bench_good.py | not run (not chosen with --only) | |" in results
    child = int(results.split("```text\n")[1].splitlines()[0])
    assert not Path(f"/proc/{child}").exists() or "zombie" in _state(child)


def _state(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/status").read_text().lower()
    except OSError:
        return "zombie"


def test_an_unknown_benchmark_name_is_one_line(folder: Path) -> None:
    run = _run(folder, "--only", "nope")
    assert run.returncode == 1
    assert run.stderr == "run_all: no benchmark 'nope' (found: good)\n"
