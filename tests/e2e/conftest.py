"""Fixtures for end-to-end tests against a real kube-apiserver (scripts/testbed).

One testbed (etcd + kube-apiserver + kube-controller-manager; v1.37.2 by default, v1.20.2
with TESTBED_VERSION=1.20) per test session.
On a fresh machine the first session builds the binaries (5-9 min, cached per machine).
Set PODSCALE_SKIP_TESTBED=1 to skip these tests instead.
"""

from __future__ import annotations

import os
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from e2e_support import Kubectl, Testbed, fresh_namespace
from kubernetes import client, config
from kubernetes.dynamic import DynamicClient
from testbed_fixture import (
    DEFAULT_VERSION,
    DIRECT,
    METRICS_SERVER,
    TestbedError,
    TestbedUpFailed,
    running_testbed,
    switch_metrics_api,
    testbed_script,
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Every test under tests/e2e needs the testbed: mark it so."""
    here = Path(__file__).parent
    for item in items:
        if here in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.testbed)


def _note_if_building(pytestconfig: pytest.Config) -> None:
    """Say so on the terminal when `up` will first build the binaries (minutes)."""
    bin_dir = testbed_script("cache-dir", timeout=30).stdout.strip()
    binaries = ("kube-apiserver", "kube-controller-manager", "kubectl", "etcd")
    if bin_dir and all(os.access(Path(bin_dir, b), os.X_OK) for b in binaries):
        return
    reporter = pytestconfig.pluginmanager.get_plugin("terminalreporter")
    if reporter is not None:
        reporter.write_line(
            f"\ntestbed: no cached binaries in {bin_dir}: building Kubernetes "
            f"{os.environ.get('TESTBED_VERSION', DEFAULT_VERSION)} first (1.37: 30-40 min, "
            "1.20: 5-9 min; "
            "once per machine)"
        )


@pytest.fixture(scope="session")
def testbed(
    tmp_path_factory: pytest.TempPathFactory, pytestconfig: pytest.Config
) -> Iterator[Testbed]:
    if os.environ.get("PODSCALE_SKIP_TESTBED") == "1":
        pytest.skip("PODSCALE_SKIP_TESTBED=1: skipping tests that need the real kube-apiserver")
    directory = tmp_path_factory.mktemp("testbed")
    _note_if_building(pytestconfig)
    started = time.monotonic()
    try:
        with running_testbed(directory) as bed:
            print(f"testbed up in {time.monotonic() - started:.1f}s at {bed.server}")
            yield bed
    except TestbedUpFailed as failed:
        if failed.result is None:
            raise
        pytest.fail(
            f"scripts/testbed up {directory} failed (exit {failed.result.returncode}):\n"
            f"{failed.result.stderr[-4000:]}{failed.result.stdout[-1000:]}",
            pytrace=False,
        )


# Who serves metrics.k8s.io on this session's testbed, as last switched (`up` on 1.37
# leaves metrics-server; `scripts/testbed metrics-api` is idempotent anyway).
_metrics_api: dict[Path, str] = {}


@pytest.fixture(autouse=True)
def metrics_api(request: pytest.FixtureRequest) -> str | None:
    """Give each test the metrics API it needs on a 1.37 testbed: tests marked
    ``metrics_server`` read CPU through the real metrics-server (10 s resolution, as in
    a cluster); all others keep the PodMetrics stand-in they write directly, for
    sub-second control. On 1.20 ``metrics_server`` tests are skipped. Switching costs a
    few seconds, and only when the mode changes between two tests."""
    if "testbed" not in request.fixturenames:
        return None
    bed: Testbed = request.getfixturevalue("testbed")
    wanted = METRICS_SERVER if request.node.get_closest_marker("metrics_server") else DIRECT
    if bed.version == "1.20":
        if wanted == METRICS_SERVER:
            pytest.skip(
                "metrics-server runs on the current testbed only (TESTBED_VERSION=1.37); "
                "1.20 serves metrics.k8s.io from the PodMetrics stand-in CRD"
            )
        return DIRECT
    if _metrics_api.get(bed.dir, METRICS_SERVER) != wanted:
        try:
            switch_metrics_api(bed, wanted)
        except TestbedError as failed:
            pytest.fail(str(failed), pytrace=False)
        _metrics_api[bed.dir] = wanted
    return wanted


@pytest.fixture(scope="session")
def kube(testbed: Testbed) -> Iterator[client.ApiClient]:
    """The official client's ApiClient, configured from the testbed's admin kubeconfig."""
    api = config.new_client_from_config(config_file=str(testbed.kubeconfig))
    try:
        yield api
    finally:
        api.close()


def make_kubectl(kubeconfig: Path, cache_dir: Path, binary: str = "kubectl") -> Kubectl:
    def kubectl(
        *args: str, input: str | None = None, check: bool = True, timeout: float = 60
    ) -> subprocess.CompletedProcess[str]:
        cmd = [binary, "--kubeconfig", str(kubeconfig), "--cache-dir", str(cache_dir), *args]
        result = subprocess.run(
            cmd, input=input, capture_output=True, text=True, timeout=timeout, check=False
        )
        if check and result.returncode != 0:
            pytest.fail(
                f"{' '.join(cmd)} exited {result.returncode}:\n"
                f"stdout: {result.stdout}\nstderr: {result.stderr}",
                pytrace=False,
            )
        return result

    return kubectl


@pytest.fixture(scope="session")
def kubectl(testbed: Testbed) -> Kubectl:
    """Run the testbed's kubectl (built with it) as admin; returns CompletedProcess.

    `check=True` (the default) fails the test with stdout/stderr on a non-zero exit.
    """
    return make_kubectl(testbed.kubeconfig, testbed.dir / "kubectl-cache", testbed.kubectl)


@pytest.fixture(scope="session")
def user_kubectl(testbed: Testbed) -> Kubectl:
    """kubectl as `testbed-user`: authenticated, in no group, so RBAC denies it by default."""
    return make_kubectl(testbed.user_kubeconfig, testbed.dir / "kubectl-cache", testbed.kubectl)


@pytest.fixture(scope="session")
def dynamic(kube: client.ApiClient, testbed: Testbed) -> DynamicClient:
    """The official dynamic client, with its discovery cache kept inside the testbed dir."""
    return DynamicClient(kube, cache_file=str(testbed.dir / "dynamic-discovery.json"))


@pytest.fixture
def namespace(kube: client.ApiClient, request: pytest.FixtureRequest) -> Iterator[str]:
    """A fresh namespace per test, deleted afterwards."""
    stem = "".join(c if c.isalnum() else "-" for c in request.node.name.lower())
    name = f"e2e-{stem[:40].strip('-')}-{uuid.uuid4().hex[:6]}"
    with fresh_namespace(kube, name):
        yield name
