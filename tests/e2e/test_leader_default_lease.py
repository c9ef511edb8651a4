"""Leader takeover with the *default* lease settings (15 s lease, 10 s renew deadline,
2 s retry period), as a Deployment of two `autoscaler run --leader-elect` replicas runs.

test_ha_run.py checks the mechanics with a 3 s lease; this file checks what users get
out of the box: a crashed leader (SIGKILL: no release) is replaced only after its lease
ran out and within a bounded time after that, the handover writes nothing (no second
write of the same count, no scale-down from a new leader that forgot the stabilization
window), and a graceful stop (SIGTERM) hands the lease over within a retry period.
"""

from __future__ import annotations

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
    running_pods,
    spec_replicas,
)
from kubernetes import client
from live_tooling import AutoscalerRun, wait_for
from test_ha_run import holder, lease_spec, scaled_lines

from autoscaler.settings import Settings

# The defaults these replicas run with (15 s and 2 s).
LEASE_DURATION = float(Settings.model_fields["lease_duration"].default)
RETRY_PERIOD = float(Settings.model_fields["retry_period"].default)
SYNC_PERIOD = 1.0
# A standby sees the last renew up to a retry period after it happened and then polls
# every retry period: takeover is due between lease - retry and lease + 2 retries after
# the crash. The rest is for a loaded 2-core machine (process start, slow requests).
SLACK = 4.0
TAKEOVER_BOUND = LEASE_DURATION + 2 * RETRY_PERIOD + SYNC_PERIOD + SLACK


def replica(
    testbed: Testbed, policies: Path, namespace: str, identity: str, log: Path
) -> AutoscalerRun:
    """One `autoscaler run --leader-elect` with no lease flags: the defaults apply."""
    return AutoscalerRun(
        testbed.kubeconfig, policies, log,
        "--namespace", namespace, "--sync-period", str(SYNC_PERIOD), "--listen", "127.0.0.1:0",
        "--log-level", "debug", "--log-format", "json",
        "--leader-elect", "--leader-elect-namespace", namespace,
        "--leader-elect-identity", identity,
        kill_on_exit=True,
    )  # fmt: skip


def log_lines(log: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in log.read_text().splitlines() if line.startswith("{")]


def decisions(log: Path, policy_name: str) -> list[dict[str, Any]]:
    """The per-sync outcome lines a replica logged for one policy (only while leading)."""
    return [
        line
        for line in log_lines(log)
        if line.get("policy") == policy_name and "desired" in line and "recommendation" in line
    ]


def generation(kubectl: Kubectl, namespace: str, name: str) -> int:
    """The Deployment's spec generation: every change of its replicas bumps it."""
    done = kubectl("get", "deployment", name, "-n", namespace, "-o", "json")
    return int(json.loads(done.stdout)["metadata"]["generation"])


def test_a_killed_leader_is_replaced_after_the_default_lease_and_nothing_is_rewritten(
    testbed: Testbed, kube: client.ApiClient, kubectl: Kubectl, namespace: str, tmp_path: Path
) -> None:
    deployment_at(kubectl, kube, namespace, "web", cpu="900m")  # 90% for a 50% target: 4 replicas
    policies = policy_files(tmp_path / "policies", namespace, "web")
    logs = {"a": tmp_path / "a.log", "b": tmp_path / "b.log"}
    with (
        replica(testbed, policies, namespace, "a", logs["a"]) as a,
        replica(testbed, policies, namespace, "b", logs["b"]) as b,
    ):
        wait_for(lambda: spec_replicas(kubectl, namespace, "web") == 4, "the leader to scale", 60)
        leader = wait_for(lambda: holder(kubectl, namespace), "a lease holder")
        standby = "b" if leader == "a" else "a"
        assert lease_spec(kubectl, namespace)["leaseDurationSeconds"] == LEASE_DURATION
        scaled_generation = generation(kubectl, namespace, "web")

        # The load falls: the leader wants 1 replica but its downscale stabilization
        # window (300 s) holds 4. A new leader must hold them too, not scale down.
        running_pods(kube, namespace, "web", 4, cpu="100m")
        wait_for(
            lambda: any(d["recommendation"] == 1 for d in decisions(logs[leader], "web")),
            "the leader to see the load fall",
            30,
        )
        assert not decisions(logs[standby], "web"), "the standby decided while not leading"

        crashed = a if leader == "a" else b
        crashed.popen.send_signal(signal.SIGKILL)  # no release: the standby must wait the lease out
        crashed.popen.wait(timeout=10)
        killed_at = time.monotonic()
        wait_for(
            lambda: holder(kubectl, namespace) == standby,
            "the standby to take the lease",
            TAKEOVER_BOUND + 10,
        )
        took_over = time.monotonic() - killed_at
        # Never before the dead leader's lease can have run out (safety) ...
        assert took_over > LEASE_DURATION - RETRY_PERIOD - 1, f"took over after {took_over:.1f}s"
        first_sync = wait_for(
            lambda: decisions(logs[standby], "web"), "the new leader's first sync", TAKEOVER_BOUND
        )
        synced = time.monotonic() - killed_at
        # ... and within lease + retry slack + one sync after the crash (liveness).
        assert synced < TAKEOVER_BOUND, f"the new leader first synced {synced:.1f}s after"
        print(f"lease taken {took_over:.1f}s and first synced {synced:.1f}s after the SIGKILL")
        lease = lease_spec(kubectl, namespace)
        assert lease["holderIdentity"] == standby and lease["leaseTransitions"] == 1

        time.sleep(3 * SYNC_PERIOD + 1)  # a few syncs of the new leader
        new_decisions = decisions(logs[standby], "web")
        assert first_sync[0]["recommendation"] == 1
        assert {d["desired"] for d in new_decisions} == {4}, "the handover scaled down"
        assert spec_replicas(kubectl, namespace, "web") == 4
    # One write in all: the leader's scale-up. No replica wrote 4 again or anything else.
    assert len(scaled_lines(logs[leader])) == 1 and not scaled_lines(logs[standby])
    assert generation(kubectl, namespace, "web") == scaled_generation


def test_sigterm_hands_the_default_lease_over_within_a_retry_period(
    testbed: Testbed, kubectl: Kubectl, namespace: str, tmp_path: Path
) -> None:
    policies = policy_files(tmp_path / "policies", namespace, "idle")
    with replica(testbed, policies, namespace, "a", tmp_path / "a.log") as a:
        wait_for(lambda: holder(kubectl, namespace) == "a", "a to lead", 60)
        with replica(testbed, policies, namespace, "b", tmp_path / "b.log") as b:
            # b is a standby once it has read the lease held by a.
            b.wait_started()
            time.sleep(RETRY_PERIOD + 1)
            assert holder(kubectl, namespace) == "a"
            a.popen.send_signal(signal.SIGTERM)
            a.popen.wait(timeout=20)
            assert a.popen.returncode == 0
            stopped = time.monotonic()
            wait_for(lambda: holder(kubectl, namespace) == "b", "b to take over", 15)
            handover = time.monotonic() - stopped
            # A retry period (and a slow request), far from the 15 s lease.
            assert handover < RETRY_PERIOD + 3, f"took {handover:.1f}s"
            print(f"lease taken {handover:.1f}s after the SIGTERM'd leader exited")
    assert any(line["msg"] == "released the lease" for line in log_lines(tmp_path / "a.log"))
