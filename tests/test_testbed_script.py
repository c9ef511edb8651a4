"""``scripts/testbed`` picks its Kubernetes version from ``TESTBED_VERSION``.

No cluster is started: ``cache-dir`` only resolves the version to its cache, which is what
``build`` and ``up`` then use, so a wrong mapping (or a typo'd version silently falling back
to another build) shows up here in milliseconds.
"""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
TESTBED = REPO / "scripts" / "testbed"


def cache_dir(version: str | None, root: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "TESTBED_VERSION"}
    env["PODSCALE_TESTBED_CACHE"] = str(root)
    if version is not None:
        env["TESTBED_VERSION"] = version
    return subprocess.run(
        [str(TESTBED), "cache-dir"], env=env, capture_output=True, text=True, timeout=30
    )


def pinned_kubernetes_release() -> str:
    go_mod = (REPO / "scripts" / "testbed-go" / "go.mod").read_text()
    found = re.search(r"^\s*k8s\.io/kubernetes (v1\.37\.\d+)(?: //.*)?$", go_mod, re.MULTILINE)
    assert found, "scripts/testbed-go/go.mod pins no k8s.io/kubernetes v1.37.x"
    return found.group(1)


def test_the_oldest_checked_is_the_debian_1_20_build(tmp_path: Path) -> None:
    result = cache_dir("1.20", tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"{tmp_path}/1.20.5+really1.20.2-1.1+deb12u1/bin"


def test_default_is_the_current_release(tmp_path: Path) -> None:
    result = cache_dir(None, tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"{tmp_path}/{pinned_kubernetes_release()[1:]}/bin"


def test_1_37_uses_the_release_the_go_module_pins(tmp_path: Path) -> None:
    release = pinned_kubernetes_release()
    result = cache_dir("1.37", tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"{tmp_path}/{release.removeprefix('v')}/bin"


def test_unknown_version_is_one_line_naming_the_knob(tmp_path: Path) -> None:
    result = cache_dir("1.99", tmp_path)
    assert result.returncode == 1
    assert result.stdout == ""
    assert result.stderr.splitlines() == [
        "testbed: error: TESTBED_VERSION=1.99 is not one of: 1.20, 1.37"
    ]


def metrics_api(directory: Path, mode: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "TESTBED_VERSION": "1.37", "PODSCALE_TESTBED_CACHE": str(directory)}
    return subprocess.run(
        [str(TESTBED), "metrics-api", str(directory), mode],
        env=env, capture_output=True, text=True, timeout=30,
    )  # fmt: skip


def test_metrics_api_without_a_testbed_is_one_line(tmp_path: Path) -> None:
    result = metrics_api(tmp_path, "direct")
    assert result.returncode == 1
    assert result.stderr.splitlines() == [
        f"testbed: error: no testbed in {tmp_path} (no {tmp_path}/kubeconfig)"
    ]


def test_metrics_api_names_the_modes_it_knows(tmp_path: Path) -> None:
    (tmp_path / "kubeconfig").write_text("")
    result = metrics_api(tmp_path, "prometheus")
    assert result.returncode == 1
    assert result.stderr.splitlines() == [
        "testbed: error: metrics-api: MODE must be metrics-server or direct, not 'prometheus'"
    ]
