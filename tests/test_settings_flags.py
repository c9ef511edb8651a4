"""Flags generated from the settings models: one source for names, help, defaults, errors."""

from __future__ import annotations

import argparse
import io
import subprocess
import sys
from typing import Annotated

import pytest
from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from autoscaler.adapter.options import AdapterOptions
from autoscaler.addresses import host_port
from autoscaler.cli import build_parser, main
from autoscaler.flags import Flag, SettingsError, add_flags, settings_from, variable
from autoscaler.settings import Settings


class Knobs(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="TEST_KNOBS_")

    period: Annotated[float, Flag(metavar="SECONDS")] = Field(
        default=15.0, gt=0, description="seconds between syncs"
    )
    enabled: Annotated[bool, Flag(name="--on")] = Field(default=True, description="whether")
    paths: list[str] = Field(default_factory=list, description="files")


class MoreKnobs(Knobs):
    """A field added to a model and nowhere else."""

    new_knob: int = Field(default=3, ge=0, description="a knob added later")


def parse(model: type[BaseSettings], *argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    add_flags(parser, model)
    return parser.parse_args(argv)


def test_a_new_field_is_a_flag_and_a_variable_without_other_code(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert settings_from(MoreKnobs, parse(MoreKnobs, "--new-knob", "7")).new_knob == 7
    monkeypatch.setenv("TEST_KNOBS_NEW_KNOB", "9")
    assert settings_from(MoreKnobs, parse(MoreKnobs)).new_knob == 9
    with pytest.raises(SystemExit):  # the model without the field has no such flag
        parse(Knobs, "--new-knob", "7")


def test_the_flag_wins_over_the_variable_which_wins_over_the_default(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert settings_from(Knobs, parse(Knobs)).period == 15
    monkeypatch.setenv("TEST_KNOBS_PERIOD", "5")
    monkeypatch.setenv("TEST_KNOBS_ENABLED", "false")
    assert settings_from(Knobs, parse(Knobs)).period == 5
    knobs = settings_from(Knobs, parse(Knobs, "--period", "2", "--on", "--paths", "a", "b"))
    assert (knobs.period, knobs.enabled, knobs.paths) == (2, True, ["a", "b"])
    assert settings_from(Knobs, parse(Knobs)).enabled is False


def test_an_error_names_the_flag_and_the_variable_where_the_value_came_from_first(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with pytest.raises(SettingsError) as from_flag:
        settings_from(Knobs, parse(Knobs, "--period", "0"))
    assert str(from_flag.value) == ("--period (TEST_KNOBS_PERIOD): Input should be greater than 0")
    monkeypatch.setenv("TEST_KNOBS_PERIOD", "soon")
    with pytest.raises(SettingsError) as from_variable:
        settings_from(Knobs, parse(Knobs))
    assert str(from_variable.value) == (
        "TEST_KNOBS_PERIOD (--period): Input should be a valid number, "
        "unable to parse string as a number"
    )


def test_help_shows_the_description_default_and_variable() -> None:
    parser = argparse.ArgumentParser(prog="x")
    add_flags(parser, Knobs)
    text = " ".join(parser.format_help().split())
    assert "--period SECONDS seconds between syncs (default: 15; $TEST_KNOBS_PERIOD)" in text
    assert "--on, --no-on whether (default: on; $TEST_KNOBS_ENABLED)" in text


@pytest.mark.parametrize(("command", "model"), [("run", Settings), ("adapter", AdapterOptions)])
def test_every_setting_of_run_and_adapter_is_a_documented_flag(
    command: str, model: type[BaseSettings]
) -> None:
    [sub] = [a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction)]
    parser = sub.choices[command]
    parser.format_help()  # the flags are added when the command is used
    dests = {a.dest for a in parser._actions}
    assert set(model.model_fields) <= dests
    assert all(info.description for info in model.model_fields.values())


def test_the_adapter_reads_the_variables_it_shares_with_run(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("AUTOSCALER_PROMETHEUS_URL", "http://prometheus:9090")
    monkeypatch.setenv("AUTOSCALER_METRICS_CONFIG", '["/etc/a", "/etc/b"]')
    monkeypatch.setenv("AUTOSCALER_ADAPTER_LISTEN", "0.0.0.0:6443")
    options = settings_from(AdapterOptions, parse(AdapterOptions, "--namespaces", "shop"))
    assert options.prometheus_url == "http://prometheus:9090"
    assert options.metrics_config == ["/etc/a", "/etc/b"]
    assert (options.host_port, options.namespaces) == (("0.0.0.0", 6443), ["shop"])
    flagged = settings_from(AdapterOptions, parse(AdapterOptions, "--prometheus-url", "http://x"))
    assert flagged.prometheus_url == "http://x"
    assert variable(AdapterOptions, "prometheus_url") == variable(Settings, "prometheus_url")


def test_a_missing_required_adapter_setting_is_one_line_naming_flag_and_variable(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("AUTOSCALER_PROMETHEUS_URL", raising=False)
    err = io.StringIO()
    code = main(["adapter", "--metrics-config", "m.yaml", "--insecure-dev"], err=err)
    assert code == 2
    assert err.getvalue().splitlines() == [
        "autoscaler adapter: AUTOSCALER_PROMETHEUS_URL (--prometheus-url): Field required"
    ]


def test_decide_does_not_load_pydantic_settings() -> None:
    """The generated flags are built only for the command that runs: decide starts fast."""
    code = (
        "import sys; from autoscaler.cli import build_parser; "
        "build_parser().parse_args(['decide']); "
        "assert 'pydantic_settings' not in sys.modules, 'loaded'"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


@pytest.mark.parametrize(
    ("text", "address"),
    [
        ("127.0.0.1:8080", ("127.0.0.1", 8080)),
        ("0.0.0.0:0", ("0.0.0.0", 0)),
        ("localhost:65535", ("localhost", 65535)),
        ("[::1]:8080", ("::1", 8080)),
        ("[::]:9090", ("::", 9090)),
    ],
)
def test_host_port_accepts(text: str, address: tuple[str, int]) -> None:
    assert host_port(text) == address


@pytest.mark.parametrize(
    "text", ["nowhere", ":8080", "host:", "host:99999", "::1:8080", "[::1]", "host:80a", "h:٣"]
)
def test_host_port_refuses_with_one_line(text: str) -> None:
    with pytest.raises(ValueError, match=r"^must be HOST:PORT .*\(got .*\)$"):
        host_port(text)


RUN_FLAGS_BEFORE = """--kubeconfig --context --as --policies --namespace --watch-cache
--no-watch-cache
--metrics-config --prometheus-url --resource-metrics --prometheus-timeout --crds --no-crds
--sync-period --tolerance --cpu-initialization-period --initial-readiness-delay
--downscale-stabilization --dry-run --record --leader-elect --leader-elect-namespace
--leader-elect-name --leader-elect-identity --lease-duration --renew-deadline --retry-period
--listen --log-format --log-level --once"""
ADAPTER_FLAGS_BEFORE = """--metrics-config --prometheus-url --listen --tls-cert --tls-key
--self-signed --tls-san --requestheader-client-ca-file --requestheader-allowed-names
--kubeconfig --upstream --upstream-ca-file --upstream-insecure-skip-tls-verify
--upstream-token-file --upstream-client-cert --upstream-client-key --namespaces --cache-ttl
--direct --max-connections --handshake-timeout --header-timeout --keep-alive-timeout
--max-head-bytes --insecure-dev"""


@pytest.mark.parametrize(
    ("command", "before"), [("run", RUN_FLAGS_BEFORE), ("adapter", ADAPTER_FLAGS_BEFORE)]
)
def test_every_flag_of_the_hand_written_parsers_still_exists(command: str, before: str) -> None:
    [sub] = [a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction)]
    parser = sub.choices[command]
    parser.format_help()
    flags = {name for action in parser._actions for name in action.option_strings}
    assert set(before.split()) <= flags


def test_the_fault_proxy_takes_the_same_host_port() -> None:
    from autoscaler.faults.__main__ import build_parser as faults_parser

    args = faults_parser().parse_args(["--upstream", "http://x", "--listen", "[::1]:0"])
    assert args.listen == ("::1", 0)


@pytest.mark.parametrize(
    ("argv", "line"),
    [
        (
            ["run", "--bogus"],
            "autoscaler run: error: unrecognized arguments: --bogus (see autoscaler run --help)",
        ),
        (
            ["run", "--sync-period"],
            "autoscaler run: error: argument --sync-period: expected one argument "
            "(see autoscaler run --help)",
        ),
        (
            ["adapter", "--namespaces"],
            "autoscaler adapter: error: argument --namespaces: expected at least one argument "
            "(see autoscaler adapter --help)",
        ),
    ],
)
def test_a_flag_argparse_refuses_is_one_line_and_exit_2(
    argv: list[str], line: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exited:
        main(argv)
    assert exited.value.code == 2
    assert capsys.readouterr().err.splitlines() == [line]
