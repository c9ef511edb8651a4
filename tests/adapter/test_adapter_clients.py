"""Real clients against the adapter over TLS with a bearer token, values from a real
Prometheus: the machine's ``kubectl get --raw`` (kubeconfig pointing at the adapter) and
the official ``kubernetes`` client's generic ``ApiClient.call_api``; then Prometheus
stopped (503 Status, not a hang) and restarted (values again).
"""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from adapter_support import Served, adapter_app, serve
from kubernetes import client
from prometheus_fixture import PromEnv

from autoscaler.adapter import tls
from autoscaler.adapter.auth import AuthSettings, User

pytestmark = pytest.mark.prometheus
PREFIX = "/apis/external.metrics.k8s.io/v1beta1"
TOKEN = "test-token-alice"


class Reviewer:
    """One known token; alice may read queue_depth, nothing else is allowed."""

    def review_token(self, token: str) -> User | None:
        return User("alice", ("readers", "system:authenticated")) if token == TOKEN else None

    def review_access(self, user: User, attributes: dict[str, Any]) -> bool:
        return user.name == "alice"


@pytest.fixture(scope="module")
def adapter(
    prom_env: PromEnv, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Served, Path]]:
    directory = tmp_path_factory.mktemp("adapter")
    from adapter_support import write_declarations

    declarations = write_declarations(directory)
    files = tls.self_signed(directory / "tls", ["localhost", "127.0.0.1"])
    app = adapter_app(declarations, prom_env.server.url, auth=AuthSettings(), reviewer=Reviewer())
    kubeconfig = directory / "kubeconfig"
    kubeconfig.write_text(
        json.dumps(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [
                    {
                        "name": "adapter",
                        "cluster": {"server": "", "certificate-authority": files.cert},
                    }
                ],
                "users": [{"name": "alice", "user": {"token": TOKEN}}],
                "contexts": [
                    {"name": "adapter", "context": {"cluster": "adapter", "user": "alice"}}
                ],
                "current-context": "adapter",
            }
        )
    )
    with serve(app, context=tls.server_context(files)) as served:
        config = json.loads(kubeconfig.read_text())
        config["clusters"][0]["cluster"]["server"] = served.url.replace("127.0.0.1", "localhost")
        kubeconfig.write_text(json.dumps(config))
        yield served, kubeconfig


def kubectl_raw(kubeconfig: Path, path: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            "kubectl",
            "--kubeconfig",
            str(kubeconfig),
            "--cache-dir",
            str(kubeconfig.parent / "c"),
            "get",
            "--raw",
            path,
        ],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


def wait_kubectl(kubeconfig: Path, path: str, want: Any, timeout: float = 20) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        done = kubectl_raw(kubeconfig, path)
        if done.returncode == 0:
            body: dict[str, Any] = json.loads(done.stdout)
            if want(body):
                return body
        assert time.monotonic() < deadline, f"{path}: {done.stdout} {done.stderr}"
        time.sleep(0.3)


def test_kubectl_reads_discovery_and_values(
    adapter: tuple[Served, Path], prom_env: PromEnv, ns: str
) -> None:
    _, kubeconfig = adapter
    prom_env.exporter.set("podscale_queue_depth", {"namespace": ns, "queue": "jobs"}, 12)
    prom_env.exporter.set("podscale_queue_depth", {"namespace": ns, "queue": "mail"}, 0.5)
    resources = json.loads(kubectl_raw(kubeconfig, PREFIX).stdout)
    assert [r["name"] for r in resources["resources"]] == ["queue_depth", "jobs:backlog"]
    path = f"{PREFIX}/namespaces/{ns}/queue_depth?labelSelector=queue%20in%20%28jobs%2Cmail%29"
    body = wait_kubectl(kubeconfig, path, lambda b: len(b["items"]) == 2)
    assert [(i["metricLabels"], i["value"]) for i in body["items"]] == [
        ({"queue": "jobs"}, "12"),
        ({"queue": "mail"}, "500m"),
    ]
    total = wait_kubectl(
        kubeconfig, f"{PREFIX}/namespaces/{ns}/jobs:backlog", lambda b: len(b["items"]) == 1
    )
    assert total["items"][0]["value"] == "12500m"
    failed = kubectl_raw(kubeconfig, f"{PREFIX}/namespaces/{ns}/nope")
    assert failed.returncode == 1
    assert failed.stderr.startswith("Error from server (NotFound): ")


def test_the_official_client_reads_the_same(
    adapter: tuple[Served, Path], prom_env: PromEnv, ns: str
) -> None:
    served, kubeconfig = adapter
    prom_env.exporter.set("podscale_queue_depth", {"namespace": ns, "queue": "jobs"}, 3)
    api = client.ApiClient(_configuration(kubeconfig, served))
    try:
        path = f"{PREFIX}/namespaces/{{namespace}}/{{metric}}"
        deadline = time.monotonic() + 20
        while True:
            params = api.param_serialize(
                method="GET",
                resource_path=path,
                path_params={"namespace": ns, "metric": "queue_depth"},
                query_params=[("labelSelector", "queue=jobs")],
                header_params={"Accept": "application/json"},
                auth_settings=["BearerToken"],
            )
            answer = api.call_api(*params)
            answer.read()
            body = json.loads(answer.data)
            if answer.status == 200 and body["items"]:
                break
            assert time.monotonic() < deadline, body
            time.sleep(0.3)
        assert body["items"][0]["value"] == "3"
        assert body["items"][0]["metricLabels"] == {"queue": "jobs"}
        assert (
            kubectl_raw(
                kubeconfig, f"{PREFIX}/namespaces/{ns}/queue_depth?labelSelector=queue%3Djobs"
            ).stdout.strip()
            == answer.data.decode().strip()
        )
        resources = client.CustomObjectsApi(api).list_namespaced_custom_object(
            "external.metrics.k8s.io", "v1beta1", ns, "queue_depth", label_selector="queue=jobs"
        )
        assert resources["items"][0]["value"] == "3"
    finally:
        api.close()


def _configuration(kubeconfig: Path, served: Served) -> client.Configuration:
    config = json.loads(kubeconfig.read_text())
    configuration = client.Configuration(host=served.url)
    configuration.ssl_ca_cert = config["clusters"][0]["cluster"]["certificate-authority"]
    configuration.api_key = {"authorization": f"Bearer {TOKEN}"}
    return configuration


def test_prometheus_down_is_a_503_and_values_come_back(
    adapter: tuple[Served, Path], prom_env: PromEnv, ns: str
) -> None:
    _, kubeconfig = adapter
    prom_env.exporter.set("podscale_queue_depth", {"namespace": ns, "queue": "jobs"}, 4)
    path = f"{PREFIX}/namespaces/{ns}/queue_depth"
    wait_kubectl(kubeconfig, path, lambda b: len(b["items"]) == 1)
    prom_env.server.stop()
    try:
        deadline = time.monotonic() + 15
        while True:
            started = time.monotonic()
            done = kubectl_raw(kubeconfig, path)
            assert time.monotonic() - started < 5  # never a hang
            if done.returncode != 0:
                break
            assert time.monotonic() < deadline, "still 200 after maxAge"
            time.sleep(0.3)
        assert "Error from server (ServiceUnavailable)" in done.stderr
        assert "connection refused" in done.stderr
    finally:
        prom_env.server.start()
    body = wait_kubectl(kubeconfig, path, lambda b: len(b["items"]) == 1, timeout=30)
    assert body["items"][0]["value"] == "4"
