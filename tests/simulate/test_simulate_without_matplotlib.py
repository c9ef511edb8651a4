"""`autoscaler simulate` without the optional matplotlib (a plain `pip install .`)."""

from __future__ import annotations

import io
import sys
from pathlib import Path

import pytest

from autoscaler.cli import main


def simulate(*args: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(["simulate", *args], out=out, err=err)
    return code, out.getvalue(), err.getvalue()


@pytest.fixture
def no_matplotlib(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in [m for m in sys.modules if m == "matplotlib" or m.startswith("matplotlib.")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # `import matplotlib` fails


@pytest.mark.usefixtures("no_matplotlib")
def test_out_says_in_one_line_how_to_get_the_chart_before_simulating(tmp_path: Path) -> None:
    code, out, err = simulate("--duration", "7d", "--out", str(tmp_path / "run"))
    assert (code, out) == (2, "")
    assert err == (
        "autoscaler simulate: --out draws chart.png with matplotlib, which is not "
        "installed: pip install 'podscale[simulate]'\n"
    )
    assert not (tmp_path / "run").exists()


@pytest.mark.usefixtures("no_matplotlib")
def test_without_out_the_simulation_needs_no_matplotlib() -> None:
    code, out, err = simulate("--duration", "2h")
    assert code == 0
    assert err == (
        "autoscaler simulate: no chart: matplotlib is not installed "
        "(pip install 'podscale[simulate]')\n"
    )
    assert "Simulated 2 h" in out
