"""``autoscaler adapter`` refuses bad arguments with one line and exit 2, before listening."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from adapter_support import write_declarations

from autoscaler.cli import main


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ([], "needs --tls-cert/--tls-key or --self-signed (or --insecure-dev)"),
        (["--insecure-dev", "--listen", "nowhere"], "--listen must be HOST:PORT (got 'nowhere')"),
        (["--tls-cert", "a.crt"], "--tls-cert and --tls-key go together"),
        (["--insecure-dev", "--cache-ttl", "0"], "--cache-ttl must be positive (got 0)"),
        (
            ["--self-signed", "--requestheader-client-ca-file", "/nope"],
            "--requestheader-client-ca-file /nope: no such file",
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
