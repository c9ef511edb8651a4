"""Coexistence: a second adapter process plays the cluster's existing provider (KEDA,
prometheus-adapter); Podscale answers its own names and forwards the others to it.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from adapter_support import Served, adapter_app, get, serve, wait_value, write_declarations
from prometheus_fixture import PromEnv, free_port

from autoscaler.adapter.upstream import Upstream, UpstreamSettings

pytestmark = pytest.mark.prometheus
PREFIX = "/apis/external.metrics.k8s.io/v1beta1"
REPO = Path(__file__).resolve().parents[2]
LEGACY = """\
apiVersion: podscale.dev/v1alpha1
kind: MetricDeclarations
metadata: {name: legacy}
spec:
  metrics:
    - name: legacy_backlog
      type: External
      query: 'sum(podscale_legacy_backlog{namespace="{namespace}", {selector}})'
"""


@pytest.fixture(scope="module")
def provider(prom_env: PromEnv, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """``autoscaler adapter`` in its own process, serving only legacy_backlog."""
    directory = tmp_path_factory.mktemp("provider")
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "autoscaler", "adapter", "--insecure-dev",
         "--metrics-config", str(write_declarations(directory, LEGACY)),
         "--prometheus-url", prom_env.server.url, "--listen", f"127.0.0.1:{port}"],
        cwd=REPO, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        text=True, env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                if get(url + "/healthz")[0] == 200:
                    break
            except OSError:
                assert process.poll() is None and time.monotonic() < deadline, "no provider"
                time.sleep(0.1)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=15)
        assert process.stderr is not None
        assert "Traceback" not in process.stderr.read()


@pytest.fixture
def podscale(prom_env: PromEnv, provider: str, declarations: Path) -> Iterator[Served]:
    upstream = Upstream(
        [
            UpstreamSettings(url=provider, timeout=2.0),
        ]
    )
    with serve(adapter_app(declarations, prom_env.server.url, upstream=upstream)) as served:
        yield served


def test_names_podscale_does_not_declare_are_answered_by_the_provider(
    podscale: Served, prom_env: PromEnv, ns: str
) -> None:
    prom_env.exporter.set("podscale_legacy_backlog", {"namespace": ns}, 42)
    prom_env.exporter.set("podscale_queue_depth", {"namespace": ns, "queue": "q"}, 7)
    names = wait_value(
        podscale.url + PREFIX, lambda s, b: "legacy_backlog" in [r["name"] for r in b["resources"]]
    )
    assert [r["name"] for r in names["resources"]] == [
        "queue_depth",
        "jobs:backlog",
        "legacy_backlog",
    ]
    legacy = wait_value(
        podscale.url + f"{PREFIX}/namespaces/{ns}/legacy_backlog",
        lambda s, b: s == 200 and b["items"],
    )
    assert legacy["items"][0]["metricName"] == "legacy_backlog"
    assert legacy["items"][0]["value"] == "42"
    own = wait_value(
        podscale.url + f"{PREFIX}/namespaces/{ns}/queue_depth", lambda s, b: s == 200 and b["items"]
    )
    assert own["items"][0]["value"] == "7"
    status, _, missing = get(podscale.url + f"{PREFIX}/namespaces/{ns}/nobody_has_this")
    assert status == 404 and missing["reason"] == "NotFound"  # the provider's own answer


def test_an_unreachable_provider_is_a_503_status(declarations: Path, prom_env: PromEnv) -> None:
    upstream = Upstream([UpstreamSettings(url=f"http://127.0.0.1:{free_port()}", timeout=1.0)])
    with serve(adapter_app(declarations, prom_env.server.url, upstream=upstream)) as served:
        started = time.monotonic()
        status, kind, body = get(served.url + f"{PREFIX}/namespaces/default/legacy_backlog")
        assert time.monotonic() - started < 3
    assert (status, kind, body["reason"]) == (503, "application/json", "ServiceUnavailable")
    assert body["message"].startswith("upstream http://127.0.0.1:")
