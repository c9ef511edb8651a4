"""Two `autoscaler run --leader-elect` replicas: one writer; the other takes over."""

from __future__ import annotations

import datetime as dt
import json
import signal
import time
from pathlib import Path
from typing import Any

from e2e_support import (
    Kubectl,
    Testbed,
    deployment_at,
    policy_files,
    spec_replicas,
)
from kubernetes import client
from live_tooling import AutoscalerRun, wait_for


def replica(
    testbed: Testbed,
    policies: Path,
    namespace: str,
    identity: str,
    log: Path,
    lease: tuple[str, str, str] = ("3", "2", "0.5"),
) -> AutoscalerRun:
    """One `autoscaler run --leader-elect`, killed when the test is done; ``lease``: its
    duration, renew deadline and retry period."""
    return AutoscalerRun(
        testbed.kubeconfig, policies, log,
        "--sync-period", "1", "--listen", "127.0.0.1:0", "--log-level", "debug",
        "--leader-elect", "--leader-elect-namespace", namespace,
        "--leader-elect-identity", identity,
        "--lease-duration", lease[0], "--renew-deadline", lease[1], "--retry-period", lease[2],
        kill_on_exit=True, grace=10,
    )  # fmt: skip


def lease_spec(kubectl: Kubectl, namespace: str) -> dict[str, Any]:
    done = kubectl("get", "lease", "podscale", "-n", namespace, "-o", "json", check=False)
    return {} if done.returncode else dict(json.loads(done.stdout)["spec"])


def holder(kubectl: Kubectl, namespace: str) -> str:
    return str(lease_spec(kubectl, namespace).get("holderIdentity") or "")


def lease_time(spec: dict[str, Any], field: str) -> float:
    """A Lease MicroTime (``2026-12-07T20:59:38.123456Z``) as seconds since the epoch."""
    return dt.datetime.fromisoformat(spec[field]).timestamp()


def scaled_lines(log: Path) -> list[dict[str, Any]]:
    lines = [json.loads(line) for line in log.read_text().splitlines() if line.startswith("{")]
    return [line for line in lines if line["msg"].startswith("scaled ")]


def test_only_the_leader_scales_and_a_standby_takes_over(
    testbed: Testbed, kube: client.ApiClient, kubectl: Kubectl, namespace: str, tmp_path: Path
) -> None:
    deployment_at(kubectl, kube, namespace, "ha", cpu="900m")
    policies = policy_files(tmp_path / "policies", namespace, "ha")
    log_a, log_b = tmp_path / "a.log", tmp_path / "b.log"
    with (
        replica(testbed, policies, namespace, "a", log_a) as a,
        replica(testbed, policies, namespace, "b", log_b) as b,
    ):
        wait_for(lambda: spec_replicas(kubectl, namespace, "ha") == 4, "the leader to scale to 4")
        leader = wait_for(lambda: holder(kubectl, namespace), "a lease holder")
        time.sleep(2)  # a few more syncs: the standby must stay silent
        writers = {name for name, log in (("a", log_a), ("b", log_b)) if scaled_lines(log)}
        assert writers == {leader}
        crashed, standby = (a, "b") if leader == "a" else (b, "a")
        renewed = lease_time(lease_spec(kubectl, namespace), "renewTime")
        crashed.popen.send_signal(signal.SIGKILL)  # no release: the lease must expire
        wait_for(lambda: holder(kubectl, namespace) == standby, "the standby to take over", 15)
        # By the API server's timestamps: the lease ran out (3 s after the last renewal
        # at the latest, which may have come after the read above) and the standby took
        # it within a couple of retries.
        acquired = lease_time(lease_spec(kubectl, namespace), "acquireTime")
        assert 0 < acquired - renewed < 3 + 2 + 2, acquired - renewed
        kubectl("scale", "deployment", "ha", "-n", namespace, "--replicas=2")
        wait_for(lambda: spec_replicas(kubectl, namespace, "ha") == 4, "the new leader to scale")
        assert scaled_lines(log_b if standby == "b" else log_a)


def test_sigterm_releases_the_lease_for_a_fast_handover(
    testbed: Testbed, kubectl: Kubectl, namespace: str, tmp_path: Path
) -> None:
    """A 10 s lease, so that a released lease (taken at the standby's next 0.5 s retry)
    and one left to run out (10 s after the last renewal) cannot be confused, however
    slowly a loaded machine runs the processes."""
    policies = policy_files(tmp_path / "policies", namespace, "idle")
    lease = ("10", "7", "0.5")
    with replica(testbed, policies, namespace, "a", tmp_path / "a.log", lease) as a:
        wait_for(lambda: holder(kubectl, namespace) == "a", "a to lead")
        with replica(testbed, policies, namespace, "b", tmp_path / "b.log", lease) as b:
            b.wait_started()
            time.sleep(1)  # b's elector retries while a holds the lease
            renewed = lease_time(lease_spec(kubectl, namespace), "renewTime")
            a.popen.send_signal(signal.SIGTERM)
            a.popen.wait(timeout=10)
            assert a.popen.returncode == 0
            wait_for(lambda: holder(kubectl, namespace) == "b", "b to take over", 15)
            # Judged by the API server's own timestamps: b acquired the lease before a's
            # last renewal (at or after ``renewed``) could have run out, so a released it.
            acquired = lease_time(lease_spec(kubectl, namespace), "acquireTime")
            assert acquired < renewed + 10, acquired - renewed
    assert "released the lease" in (tmp_path / "a.log").read_text()
