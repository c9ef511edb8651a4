"""``autoscaler adapter`` refuses bad arguments with one line and exit 2, before listening."""

from __future__ import annotations

import argparse
import io
from pathlib import Path

import pytest
from adapter_support import write_declarations

from autoscaler.adapter.command import add_arguments, options_from
from autoscaler.cli import main


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ([], "needs --tls-cert/--tls-key or --self-signed (or --insecure-dev)"),
        (
            ["--insecure-dev", "--listen", "nowhere"],
            "--listen (AUTOSCALER_ADAPTER_LISTEN): must be HOST:PORT with a port up to 65535, "
            "such as 127.0.0.1:8080 or [::1]:8080 (got 'nowhere')",
        ),
        (["--tls-cert", "a.crt"], "--tls-cert and --tls-key go together"),
        (
            ["--insecure-dev", "--cache-ttl", "0"],
            "--cache-ttl (AUTOSCALER_ADAPTER_CACHE_TTL): Input should be greater than 0",
        ),
        (
            ["--self-signed", "--requestheader-client-ca-file", "/nope"],
            "--requestheader-client-ca-file /nope: no such file",
        ),
        (
            ["--insecure-dev", "--max-connections", "0"],
            "--max-connections (AUTOSCALER_ADAPTER_MAX_CONNECTIONS): "
            "Input should be greater than or equal to 1",
        ),
        (
            ["--insecure-dev", "--header-timeout", "0"],
            "--header-timeout (AUTOSCALER_ADAPTER_HEADER_TIMEOUT): Input should be greater than 0",
        ),
    ],
)
def test_bad_arguments_are_one_line_and_exit_2(
    tmp_path: Path, extra: list[str], message: str
) -> None:
    err = io.StringIO()
    code = main(
        [
            "adapter",
            "--metrics-config",
            str(write_declarations(tmp_path)),
            "--prometheus-url",
            "http://127.0.0.1:9090",
            *extra,
        ],
        err=err,
    )
    assert code == 2
    assert err.getvalue().splitlines()[-1] == f"autoscaler adapter: {message}"
    assert "Traceback" not in err.getvalue()


def test_broken_declarations_name_the_file_and_line(tmp_path: Path) -> None:
    path = write_declarations(tmp_path, "apiVersion: podscale.dev/v1alpha1\nkind: Nope\n")
    err = io.StringIO()
    code = main(
        [
            "adapter",
            "--metrics-config",
            str(path),
            "--prometheus-url",
            "http://x",
            "--insecure-dev",
        ],
        err=err,
    )
    assert code == 2
    line = err.getvalue().splitlines()[-1]
    assert line.startswith(f"autoscaler adapter: error: {path}:")


class FakeApi:
    """Answers the one GET the adapter makes for the cluster's front-proxy settings."""

    def __init__(self, data: dict[str, str] | None) -> None:
        self.data = data

    def call(self, method: str, path: str) -> dict[str, object]:
        from autoscaler.adapter.command import AUTHENTICATION_CONFIG
        from autoscaler.ports import NotFound

        assert (method, path) == ("GET", AUTHENTICATION_CONFIG)
        if self.data is None:
            raise NotFound("configmaps extension-apiserver-authentication not found")
        return {"data": self.data}


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (
            {
                "requestheader-client-ca-file": "-----BEGIN CERTIFICATE-----\n...",
                "requestheader-allowed-names": '["front-proxy-client"]',
            },
            ("-----BEGIN CERTIFICATE-----\n...", ["front-proxy-client"]),
        ),
        (
            {"requestheader-client-ca-file": "PEM", "requestheader-allowed-names": "[]"},
            ("PEM", []),
        ),
        ({"client-ca-file": "PEM"}, None),  # no aggregation layer configured
        (None, None),  # no such ConfigMap
    ],
)
def test_the_front_proxy_ca_comes_from_the_cluster_when_not_given(
    data: dict[str, str] | None, expected: tuple[str, list[str]] | None
) -> None:
    from autoscaler.adapter.command import front_proxy_settings

    assert front_proxy_settings(FakeApi(data)) == expected


def test_connection_limits_come_from_the_environment_and_flags_win(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    required = ["--metrics-config", "m.yaml", "--prometheus-url", "http://x"]
    monkeypatch.setenv("AUTOSCALER_ADAPTER_MAX_CONNECTIONS", "64")
    monkeypatch.setenv("AUTOSCALER_ADAPTER_HEADER_TIMEOUT", "3")
    limits = options_from(parser.parse_args([*required, "--header-timeout", "2.5"]))
    assert (limits.max_connections, limits.header_timeout) == (64, 2.5)
    assert (limits.handshake_timeout, limits.keep_alive_timeout) == (10.0, 5)


def test_a_bad_limit_in_the_environment_is_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AUTOSCALER_ADAPTER_HANDSHAKE_TIMEOUT", "soon")
    err = io.StringIO()
    arguments = ["--metrics-config", str(write_declarations(tmp_path)), "--insecure-dev"]
    code = main(["adapter", *arguments, "--prometheus-url", "http://x"], err=err)
    assert code == 2
    assert err.getvalue().splitlines()[-1] == (
        "autoscaler adapter: AUTOSCALER_ADAPTER_HANDSHAKE_TIMEOUT (--handshake-timeout): "
        "Input should be a valid number, unable to parse string as a number"
    )
