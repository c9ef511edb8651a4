"""`autoscaler sim` and `autoscaler faults`, the test tooling, from a source checkout.

(An installed wheel leaves both out; tests/deploy/test_deploy_wheel.py checks what they
say then.)
"""

from __future__ import annotations

import io

import pytest

from autoscaler.cli import main


def test_faults_hands_every_word_to_the_fault_proxy(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["faults", "--help"])
    assert exited.value.code == 0
    assert "--upstream" in capsys.readouterr().out


def test_faults_reports_the_proxy_s_own_argument_errors(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["faults", "--upstream", "http://127.0.0.1:1", "--listen", "nowhere"]) == 2
    [line] = capsys.readouterr().err.splitlines()
    assert "must be HOST:PORT" in line and "'nowhere'" in line


def test_sim_hands_its_words_to_the_cluster_player() -> None:
    out, err = io.StringIO(), io.StringIO()
    code = main(["sim", "run", "--kubeconfig", "/nonexistent/kubeconfig"], out=out, err=err)
    assert code == 2
    assert "kubeconfig" in err.getvalue()
