"""`autoscaler run` configuration: AUTOSCALER_* variables, flags over them, one-line errors."""

import argparse
import io

import pytest

from autoscaler.cli import main
from autoscaler.run_command import _settings, add_arguments


def parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    return parser.parse_args(argv)


def test_defaults_are_the_controller_managers() -> None:
    settings = _settings(parse())
    core = settings.decision_settings()
    assert (settings.sync_period, core.tolerance, core.cpu_initialization_period) == (15, 0.1, 300)
    assert (core.initial_readiness_delay, core.downscale_stabilization_window) == (30, 300)


def test_environment_then_flags(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AUTOSCALER_SYNC_PERIOD", "5")
    monkeypatch.setenv("AUTOSCALER_TOLERANCE", "0.05")
    monkeypatch.setenv("AUTOSCALER_LEADER_ELECT", "true")
    settings = _settings(parse("--tolerance", "0.2"))
    assert (settings.sync_period, settings.tolerance, settings.leader_elect) == (5, 0.2, True)


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--sync-period", "0", "--policies", "p"], "sync_period: Input should be greater than 0"),
        (["--listen", "nowhere", "--policies", "p"], "--listen must be HOST:PORT"),
        (
            ["--lease-duration", "5", "--renew-deadline", "6", "--policies", "p"],
            "retry_period < renew_deadline",
        ),
        (["--no-crds"], "no policies: give --policies PATH"),
    ],
)
def test_bad_settings_are_one_line_and_exit_2(argv: list[str], message: str) -> None:
    err = io.StringIO()
    assert main(["run", *argv], out=io.StringIO(), err=err) == 2
    assert err.getvalue().count("\n") == 1 and message in err.getvalue(), err.getvalue()
