"""The loop's /metrics, /healthz and /readyz: prometheus_client's server, IPv4 and IPv6."""

from __future__ import annotations

import socket
import urllib.error
import urllib.request

import pytest
from test_loop_controller import FakeCluster, controller

from autoscaler.loop.service import Service, serve_http


def get(url: str) -> tuple[int, str, str]:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status, response.headers["Content-Type"], response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.headers["Content-Type"], error.read().decode()


def ipv6_loopback() -> bool:
    try:
        with socket.socket(socket.AF_INET6) as probe:
            probe.bind(("::1", 0))
    except OSError:
        return False
    return True


@pytest.mark.parametrize(
    ("host", "url_host"),
    [
        ("127.0.0.1", "127.0.0.1"),
        pytest.param(
            "::1",
            "[::1]",
            marks=pytest.mark.skipif(not ipv6_loopback(), reason="no IPv6 loopback here"),
        ),
    ],
)
def test_metrics_health_and_readiness(host: str, url_host: str) -> None:
    service = Service(controller=controller(FakeCluster()), load_targets=lambda now: [], period=15)
    server = serve_http(service, host, 0)
    try:
        base = f"http://{url_host}:{server.server_address[1]}"
        assert get(f"{base}/healthz")[::2] == (200, "ok\n")
        assert get(f"{base}/readyz")[::2] == (503, "not synced yet\n")
        service.sync_once()
        assert get(f"{base}/readyz")[::2] == (200, "ok\n")
        status, content_type, text = get(f"{base}/metrics")
        assert status == 200 and content_type.startswith("text/plain; version=")
        assert "podscale_sync_duration_seconds_count 1.0" in text
        assert get(f"{base}/nothing")[0] == 404
    finally:
        server.shutdown()
        server.server_close()
