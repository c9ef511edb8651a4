"""Rollout awareness on the testbed: a rolling update under constant load, with the real
Deployment controller, ``autoscaler sim run`` as kubelet and metrics-server, and
``autoscaler run`` (watch caches on) scaling the Deployment.

4 replicas at 80 rps sit at the 50% CPU target (10m idle + 20 rps x 2m of 100m). While
one surge pod (maxSurge 25%, maxUnavailable 0) shares the load, the 5 ready pods use
42%: ratio 0.84, and the HPA's ceil(0.84 x 5) = 5 is a scale-*up* caused by the surge
pod alone. With ``HoldAndCap`` the 4 stable pods alone ask for nothing (0.84 is within
the scale-up tolerance and scale-down is held): the replicas stay at 4 throughout.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from e2e_support import Kubectl, Testbed, apply, constant_load_scenario, ready_pods
from live_tooling import AutoscalerRun, cpu_policy, wait_for
from replay_support import replayed_by_decide
from test_sim_run import deployment, start_sim
from testbed_fixture import Sim

__all__ = ["start_sim"]  # a fixture used by name

REPLICAS, TOLERANCE = 4, 0.1


def policy(namespace: str, awareness: str) -> str:
    return json.dumps(
        cpu_policy("web", namespace, min_replicas=2, rollout={"awareness": awareness})
    )


def podscale(testbed: Testbed, policies: Path, log: Path, record: Path) -> AutoscalerRun:
    """``autoscaler run`` with a 1 s sync period; pods count as warmed up after 5 s; every
    snapshot and decision recorded to ``record``."""
    return AutoscalerRun(
        testbed.kubeconfig, policies, log,
        "--no-crds", "--sync-period", "1",
        "--cpu-initialization-period", "5", "--initial-readiness-delay", "2",
        "--listen", "127.0.0.1:0", "--log-format", "json", "--record", str(record),
        grace=15,
    )  # fmt: skip


def get_deployment(kubectl: Kubectl, namespace: str) -> dict[str, Any]:
    out = kubectl("get", "deployment", "web", "-n", namespace, "-o", "json").stdout
    found: dict[str, Any] = json.loads(out)
    return found


def rolled_out(obj: dict[str, Any]) -> bool:
    spec, status = obj["spec"], obj.get("status") or {}
    return bool(
        status.get("observedGeneration") == obj["metadata"]["generation"]
        and status.get("updatedReplicas") == status.get("replicas") == spec["replicas"]
        and status.get("availableReplicas") == spec["replicas"]
    )


@pytest.mark.parametrize("awareness", ["HoldAndCap", "Off"])
def test_a_rolling_update_under_constant_load(
    awareness: str,
    testbed: Testbed,
    kubectl: Kubectl,
    namespace: str,
    start_sim: Callable[..., Sim],
    tmp_path: Path,
) -> None:
    scenario = constant_load_scenario(tmp_path, namespace, "Deployment", "web", rps=80)
    start_sim("--scenario", str(scenario))
    web = deployment("web", REPLICAS)
    web["spec"]["strategy"] = {
        "type": "RollingUpdate",
        "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": 0},
    }
    apply(kubectl, namespace, web)
    wait_for(
        lambda: ready_pods(kubectl, namespace, "web") == REPLICAS,
        "4 ready pods",
    )
    policies = tmp_path / "policies"
    policies.mkdir()
    (policies / "web.yaml").write_text(policy(namespace, awareness))
    log, record = tmp_path / "podscale.log", tmp_path / "record.jsonl"
    with podscale(testbed, policies, log, record) as proc:
        time.sleep(8)  # warm-up and a few syncs at the target: nothing to do
        before = get_deployment(kubectl, namespace)
        assert before["spec"]["replicas"] == REPLICAS, log.read_text()
        kubectl("patch", "deployment", "web", "-n", namespace, "--type=merge", "-p",
                '{"spec":{"template":{"metadata":{"annotations":{"rev":"2"}}}}}')  # fmt: skip
        seen: list[int] = []
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            obj = get_deployment(kubectl, namespace)
            seen.append(obj["spec"]["replicas"])
            if (
                obj["metadata"]["generation"] > before["metadata"]["generation"]
                and rolled_out(obj)
                and len(seen) > 4
            ):
                break
            time.sleep(0.5)
        else:
            pytest.fail(f"the rollout did not complete in 90 s; replicas seen: {seen}")
        assert proc.popen.poll() is None, log.read_text()
    assert "Traceback" not in log.read_text()
    events = kubectl("get", "events", "-n", namespace, "-o", "json").stdout
    reasons = {e["reason"] for e in json.loads(events)["items"]}
    if awareness == "HoldAndCap":
        low, high = REPLICAS * (1 - TOLERANCE), REPLICAS * (1 + TOLERANCE)
        assert all(low <= r <= high for r in seen), f"replicas left {REPLICAS}: {seen}"
        assert "RolloutInProgress" in reasons
        # The live loop's decisions mid-rollout, replayed by `autoscaler decide`: the
        # same replicas, conditions and history (the rule runs in the core).
        rolling = replayed_by_decide(record, lambda line: line["snapshot"]["rollout"])
        assert rolling, "no sync saw the rollout"
    else:
        assert "RolloutInProgress" not in reasons
    print(f"{awareness}: replicas during the rollout {sorted(set(seen))}")
