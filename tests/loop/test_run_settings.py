"""`autoscaler run` configuration: AUTOSCALER_* variables, flags over them, one-line errors."""

import argparse
import io
import json
import socket
import threading
from pathlib import Path

import pytest

from autoscaler.cli import main
from autoscaler.run_command import _settings, add_arguments


def unreachable_kubeconfig(tmp_path: Path) -> Path:
    """A valid kubeconfig for a server that refuses connections (nothing listens on :1)."""
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(
        "apiVersion: v1\nkind: Config\ncurrent-context: x\n"
        "clusters: [{name: c, cluster: {server: 'https://127.0.0.1:1'}}]\n"
        "contexts: [{name: x, context: {cluster: c, user: u}}]\n"
        "users: [{name: u, user: {token: t}}]\n"
    )
    return kubeconfig


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


def test_a_path_variable_is_one_path_or_a_json_list(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AUTOSCALER_POLICIES", "/etc/podscale/policies")
    monkeypatch.setenv("AUTOSCALER_METRICS_CONFIG", '["/etc/a", "/etc/b"]')
    settings = _settings(parse())
    assert (settings.policies, settings.metrics_config) == (
        ["/etc/podscale/policies"],
        ["/etc/a", "/etc/b"],
    )
    assert _settings(parse("--policies", "x", "y")).policies == ["x", "y"]


def test_a_broken_json_list_in_a_variable_is_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AUTOSCALER_METRICS_CONFIG", '["/etc/a",')
    err = io.StringIO()
    assert main(["run"], out=io.StringIO(), err=err) == 2
    assert err.getvalue() == (
        "autoscaler run: AUTOSCALER_METRICS_CONFIG (--metrics-config): not a JSON list: "
        "Expecting value at character 10\n"
    )


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (
            ["--sync-period", "0", "--policies", "p"],
            "--sync-period (AUTOSCALER_SYNC_PERIOD): Input should be greater than 0",
        ),
        (
            ["--listen", "nowhere", "--policies", "p"],
            "--listen (AUTOSCALER_LISTEN): must be HOST:PORT",
        ),
        (
            ["--lease-duration", "5", "--renew-deadline", "6", "--policies", "p"],
            "leader election needs --retry-period < --renew-deadline < --lease-duration "
            "(got 2, 6, 5)",
        ),
        (
            ["--no-crds"],
            "no policies: give --policies (AUTOSCALER_POLICIES) PATH, or leave --crds "
            "(AUTOSCALER_POLICY_CRDS) on",
        ),
        (
            ["--listen", "127.0.0.1:99999"],
            "--listen (AUTOSCALER_LISTEN): must be HOST:PORT with a port up to 65535",
        ),
        (["--namespace", "Shop_1"], "--namespace (AUTOSCALER_NAMESPACE): not a namespace name"),
        (
            ["--leader-elect", "--leader-elect-namespace", "$(POD_NAMESPACE)"],
            "--leader-elect-namespace (AUTOSCALER_LEADER_ELECT_NAMESPACE): not a namespace name "
            "(a lowercase RFC 1123 label): "
            "'$(POD_NAMESPACE)'",
        ),
        (
            ["--leader-elect-name", "pod scale"],
            "--leader-elect-name (AUTOSCALER_LEADER_ELECT_NAME): not an object",
        ),
        (
            ["--prometheus-url", "localhost:9090"],
            "--prometheus-url (AUTOSCALER_PROMETHEUS_URL): must be an http:// or https://",
        ),
        (
            ["--prometheus-url", "http://prom:99999"],
            "--prometheus-url (AUTOSCALER_PROMETHEUS_URL): must be an http://",
        ),
        (
            ["--policies", "/nonexistent/web.yaml"],
            "--policies (AUTOSCALER_POLICIES): /nonexistent/web.yaml: no such file or directory "
            "(a variable holds one path or a JSON list of paths)",
        ),
        (
            ["--lease-duration", "inf"],
            "--lease-duration (AUTOSCALER_LEASE_DURATION): Input should be a finite number",
        ),
        (
            ["--cpu-initialization-period", "inf"],
            "--cpu-initialization-period (AUTOSCALER_CPU_INITIALIZATION_PERIOD): Input should",
        ),
        (
            ["--downscale-stabilization", "nan"],
            "--downscale-stabilization (AUTOSCALER_DOWNSCALE_STABILIZATION): Input should be a",
        ),
    ],
)
def test_bad_settings_are_one_line_and_exit_2(argv: list[str], message: str) -> None:
    err = io.StringIO()
    assert main(["run", *argv], out=io.StringIO(), err=err) == 2
    assert err.getvalue().count("\n") == 1 and message in err.getvalue(), err.getvalue()


@pytest.mark.parametrize(
    ("variable", "value", "line"),
    [
        (
            "AUTOSCALER_LEADER_ELECT",
            "maybe",
            "AUTOSCALER_LEADER_ELECT (--leader-elect): Input should be a valid",
        ),
        ("AUTOSCALER_POLICY_CRDS", "perhaps", "AUTOSCALER_POLICY_CRDS (--crds): Input should be"),
        (
            "AUTOSCALER_SYNC_PERIOD",
            "soon",
            "AUTOSCALER_SYNC_PERIOD (--sync-period): Input should be a valid",
        ),
    ],
)
def test_a_bad_variable_is_named_as_set(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str, line: str
) -> None:
    monkeypatch.setenv(variable, value)
    err = io.StringIO()
    assert main(["run"], out=io.StringIO(), err=err) == 2
    assert err.getvalue().startswith(f"autoscaler run: {line}"), err.getvalue()
    assert err.getvalue().count("\n") == 1


def test_a_port_in_use_stops_the_start_before_anything_runs(tmp_path: Path) -> None:
    """The listen error is the only line and no watch was left running behind it."""
    kubeconfig = unreachable_kubeconfig(tmp_path)
    (tmp_path / "p.yaml").write_text("")
    err = io.StringIO()
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        argv = ["--kubeconfig", str(kubeconfig), "--policies", str(tmp_path / "p.yaml")]
        code = main(["run", *argv, "--listen", f"127.0.0.1:{port}"], out=io.StringIO(), err=err)
    assert code == 2
    assert err.getvalue() == (
        f"autoscaler run: cannot listen on 127.0.0.1:{port}: Address already in use\n"
    )
    assert not [t.name for t in threading.enumerate() if t.name.startswith("informer")]


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        ("a: [\n", "while parsing a flow node expected the node content"),
        ("contexts: [{name: x, context: 5}]\ncurrent-context: x\n", "has no attribute"),
    ],
)
def test_a_kubeconfig_that_is_not_one_is_one_line(
    tmp_path: Path, content: str, reason: str
) -> None:
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(content)
    err = io.StringIO()
    code = main(["run", "--kubeconfig", str(kubeconfig)], out=io.StringIO(), err=err)
    assert code == 2
    assert err.getvalue().count("\n") == 1, err.getvalue()
    assert err.getvalue().startswith(
        f"autoscaler run: cannot load Kubernetes config from {kubeconfig}: "
    )
    assert reason in err.getvalue()


def test_every_metrics_config_problem_is_counted_on_the_one_line(tmp_path: Path) -> None:
    kubeconfig = unreachable_kubeconfig(tmp_path)
    missing = [str(tmp_path / "a.yaml"), str(tmp_path / "b.yaml"), str(tmp_path / "c.yaml")]
    err = io.StringIO()
    argv = ["run", "--once", "--kubeconfig", str(kubeconfig), "--metrics-config", *missing]
    assert main(argv, out=io.StringIO(), err=err) == 2
    assert err.getvalue() == (
        "autoscaler run: --metrics-config (AUTOSCALER_METRICS_CONFIG): "
        f"error: {missing[0]}: no such file or directory"
        " (and 2 more)\n"
    )


def test_once_without_a_reachable_api_server_exits_1_naming_the_listing(tmp_path: Path) -> None:
    kubeconfig = unreachable_kubeconfig(tmp_path)
    out, err = io.StringIO(), io.StringIO()
    assert main(["run", "--once", "--kubeconfig", str(kubeconfig)], out=out, err=err) == 1
    assert json.loads(out.getvalue()) == []
    lines = err.getvalue().splitlines()
    last = lines[-1]
    assert last.startswith("autoscaler run --once: no policy could be read: cannot list ")
    assert "127.0.0.1:1" in last or "refused" in last.lower(), last
    assert "Traceback" not in err.getvalue()
