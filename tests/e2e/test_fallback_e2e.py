"""``spec.fallback`` on the testbed: a Deployment whose CPU nobody measures (no kubelet,
no metrics-server here), so every sync fails to read its metric; after
``failureThreshold`` such syncs the live loop scales it to the fallback replicas, and
``autoscaler decide`` replays each recorded snapshot to the loop's exact decision.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

from e2e_support import Kubectl, Testbed, apply, deployment, spec_replicas
from live_tooling import AutoscalerRun, wait_for
from replay_support import replayed_by_decide


def fallback_policy(namespace: str) -> str:
    return json.dumps(
        {
            "apiVersion": "podscale.dev/v1alpha1",
            "kind": "ScalingPolicy",
            "metadata": {"name": "dark", "namespace": namespace},
            "spec": {
                "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "dark"},
                "minReplicas": 1,
                "maxReplicas": 10,
                "fallback": {"replicas": 4, "failureThreshold": 2},
                "behavior": {"scaleUp": {"stabilizationWindowSeconds": 0}},
            },
        }
    )


def test_fallback_replicas_after_failed_reads_and_decide_agrees(
    testbed: Testbed, kubectl: Kubectl, namespace: str, tmp_path: Path
) -> None:
    apply(kubectl, namespace, deployment("dark", 2))
    policies = tmp_path / "policies"
    policies.mkdir()
    (policies / "dark.yaml").write_text(fallback_policy(namespace))
    record, log = tmp_path / "record.jsonl", tmp_path / "podscale.log"
    flags = ("--namespace", namespace, "--no-crds", "--sync-period", "1",
             "--listen", "127.0.0.1:0", "--record", str(record))  # fmt: skip
    with AutoscalerRun(testbed.kubeconfig, policies, log, *flags, grace=15) as service:
        wait_for(
            lambda: service.check() and spec_replicas(kubectl, namespace, "dark") == 4,
            "the fallback replicas",
            60,
            interval=0.5,
        )
        time.sleep(2)  # a few more syncs at the fallback size
    assert "Traceback" not in log.read_text()
    lines = replayed_by_decide(record, lambda line: True)
    counts = [line["decision"]["failedSyncs"] for line in lines]
    assert counts[:3] == [1, 2, 3], counts
    first = lines[0]["decision"]
    assert first["desiredReplicas"] == 2 and first["notice"] is None
    assert "no metrics returned" in (first["error"] or ""), first["error"]
    applied = lines[1]["decision"]
    assert applied["desiredReplicas"] == 4
    assert applied["notice"] == {
        "reason": "FallbackReplicas",
        "message": "fallback: 2 consecutive syncs without a usable metric",
    }
    assert applied["history"]["scaleUpEvents"][-1]["change"] == 2
