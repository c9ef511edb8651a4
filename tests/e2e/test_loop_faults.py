"""`autoscaler run` behind fault proxies: every write counted where it reaches the API.

The loop talks to the testbed's API server through one fault proxy and to a real
Prometheus through another. The proxy's exchange log shows each PATCH of ``/scale`` that
the API server applied, answered or not, so the test checks what the probe of issue 11
asked for under lost write answers, API 429/500, watch cuts and Prometheus loss:

- no double write: each wanted size is applied exactly once;
- no missed write: the Deployment reaches every size the metric asks for;
- no false conflict: no ``ExternalScaleChange``/``ExternalScaleConflict`` event,
  condition or log line for Podscale's own writes.

An External metric (a queue depth per pod, from Prometheus) drives the sizes, so no pod
has to run: 30 -> 3 replicas, 50 -> 5, 20 -> 2 at 10 per pod.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from e2e_support import Kubectl, Testbed, apply, deployment, spec_replicas
from live_tooling import AutoscalerRun, wait_for
from prometheus_fixture import PromEnv, running_env
from test_policy_objects import crd
from test_rollout_scale import proxied_kubeconfig

from autoscaler.faults import (
    Error,
    Exchange,
    FaultProxy,
    FaultProxyThread,
    LostResponse,
    WatchDisconnect,
)

__all__ = ["crd"]  # a fixture, used by name

NAME = "queue"
FALSE_CONFLICT = ("ExternalScaleChange", "ExternalScaleConflict")
DECLARATIONS = """\
apiVersion: podscale.dev/v1alpha1
kind: MetricDeclarations
metadata: {name: e2e}
spec:
  metrics:
    - name: queue_depth
      type: External
      query: sum(podscale_e2e_queue_depth{namespace="{namespace}"})
      maxAge: 30
"""


def queue_policy() -> str:
    """10 messages per pod; scale down at once (no window) so each phase is short."""
    return json.dumps(
        {
            "apiVersion": "podscale.dev/v1alpha1",
            "kind": "ScalingPolicy",
            "metadata": {"name": NAME},
            "spec": {
                "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": NAME},
                "minReplicas": 1,
                "maxReplicas": 10,
                "metrics": [
                    {
                        "type": "External",
                        "external": {
                            "metric": {"name": "queue_depth"},
                            "target": {"type": "AverageValue", "averageValue": "10"},
                        },
                    }
                ],
                "behavior": {"scaleDown": {"stabilizationWindowSeconds": 0}},
            },
        }
    )


@pytest.fixture
def prom() -> Iterator[PromEnv]:
    with running_env() as env:
        yield env


def applied_sizes(proxy: FaultProxy, namespace: str) -> list[int]:
    """The replicas of every write of the Deployment's /scale that the API server applied
    (answered or not)."""
    path = re.compile(rf"/namespaces/{namespace}/deployments/{NAME}/scale(\?|$)")
    writes: list[Exchange] = [
        e for e in proxy.exchanges() if e.method in ("PATCH", "PUT") and path.search(e.target)
    ]
    return [int(json.loads(e.body)["spec"]["replicas"]) for e in writes if e.applied]


def events(kubectl: Kubectl, namespace: str) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = json.loads(
        kubectl("get", "events", "-n", namespace, "-o", "json").stdout
    )["items"]
    return items


def false_conflicts(kubectl: Kubectl, namespace: str) -> list[str]:
    found = [
        f"event {e['reason']}: {e.get('message')}"
        for e in events(kubectl, namespace)
        if e.get("reason") in FALSE_CONFLICT
    ]
    policy = json.loads(kubectl("get", "scalingpolicy", NAME, "-n", namespace, "-o", "json").stdout)
    found += [
        f"condition {c['type']}={c['status']} {c['reason']}: {c.get('message')}"
        for c in (policy.get("status") or {}).get("conditions") or []
        if c.get("reason") in FALSE_CONFLICT
    ]
    return found


def test_writes_under_lost_answers_api_errors_watch_cuts_and_prometheus_loss(
    crd: None,
    testbed: Testbed,
    kubectl: Kubectl,
    namespace: str,
    prom: PromEnv,
    tmp_path: Path,
) -> None:
    depth: Callable[[float], None] = lambda value: prom.exporter.set(  # noqa: E731
        "podscale_e2e_queue_depth", {"namespace": namespace}, value
    )
    depth(30)
    prom.server.wait_for(f'podscale_e2e_queue_depth{{namespace="{namespace}"}}')
    apply(kubectl, namespace, deployment(NAME, 10))
    kubectl("apply", "-n", namespace, "-f", "-", input=queue_policy())
    (tmp_path / "metrics.yaml").write_text(DECLARATIONS)
    api = FaultProxy(upstream=testbed.server, upstream_ca=testbed.env["TESTBED_CA_FILE"], seed=11)
    prometheus = FaultProxy(upstream=prom.server.url, seed=12)
    scale = rf"/namespaces/{namespace}/deployments/{NAME}/scale"
    log = tmp_path / "run.log"
    with (
        FaultProxyThread(api) as api_proxy,
        FaultProxyThread(prometheus) as prom_proxy,
    ):
        config = proxied_kubeconfig(
            tmp_path / "proxied.kubeconfig", api_proxy.url, testbed.env["TESTBED_ADMIN_TOKEN"]
        )
        # Throughout: the first watches are cut after a few events (the caches lag, list
        # again and resume).
        api_proxy.add_rule(WatchDisconnect(after_bytes=300), path=r"watch=", max_count=6)
        # Phase 1: the answer to the first write is lost (a fresh read resolves it).
        api_proxy.add_rule(LostResponse(), method="PATCH", path=scale, max_count=1)
        run = AutoscalerRun(
            config, None, log,
            "--namespace", namespace, "--metrics-config", str(tmp_path / "metrics.yaml"),
            "--prometheus-url", prom_proxy.url, "--sync-period", "1", "--listen", "127.0.0.1:0",
        )  # fmt: skip
        try:
            reach = lambda n, what: wait_for(  # noqa: E731
                lambda: spec_replicas(kubectl, namespace, NAME) == n, what, timeout=40
            )
            reach(3, "30 messages to scale 10 -> 3 through a lost answer")
            assert applied_sizes(api_proxy, namespace) == [3]

            # Phase 2: the answer is lost and the fresh read fails too: the next read
            # shows the value we asked for, which is ours.
            api_proxy.add_rule(LostResponse(), method="PATCH", path=scale, max_count=1)
            api_proxy.add_rule(Error(status=500), method="GET", path=scale, max_count=1)
            depth(50)
            reach(5, "50 messages to scale 3 -> 5 through a lost answer and a failed read")

            # Phase 3: API 429/500 on reads and writes, Prometheus down.
            prom_proxy.add_rule(Error(status=503), path=r"^/api/v1/query", duration_s=4)
            api_proxy.add_rule(Error(status=500), method="PATCH", path=scale, max_count=2)
            api_proxy.add_rule(
                Error(status=429, retry_after_s=1), method="GET", probability=0.3, duration_s=8
            )
            depth(20)
            reach(2, "20 messages to scale 5 -> 2 after the faults")
            time.sleep(3)  # three more syncs: nothing else may be written now
            settled = applied_sizes(api_proxy, namespace)
            run_log = log.read_text()
            conflicts = false_conflicts(kubectl, namespace)
            rescales = [
                e["message"]
                for e in events(kubectl, namespace)
                if e.get("reason") == "SuccessfulRescale"
            ]
        finally:
            run.stop()
            # Now, not with the namespace (deleted in the background): a later test's
            # `run` without --namespace must not find this policy.
            kubectl("delete", "scalingpolicy", NAME, "-n", namespace, check=False)

    assert settled == [3, 5, 2], settled  # each size written once: none twice, none missed
    assert conflicts == []
    # The write whose answer and re-read were both lost is reported once a read shows it.
    assert any(m.startswith("New size: 5;") and "answer to this write was lost" in m
               for m in rescales), rescales  # fmt: skip
    assert "SuccessfulRescale: New size: 5;" in run_log  # and logged
    assert "another writer" not in run_log and "Traceback" not in run_log, run_log[-3000:]
    # Every fault really happened (rules in the order added; see the phases above).
    api_rules: Any = api_proxy.stats()["rules"]
    assert [api_rules[str(i)]["faulted"] for i in (2, 3, 4, 5)] == [1, 1, 1, 2], api_rules
    assert api_rules["1"]["faulted"] >= 3 and api_rules["6"]["faulted"] >= 1, api_rules
    prom_rules: Any = prom_proxy.stats()["rules"]
    assert prom_rules["1"]["faulted"] >= 1, prom_rules  # Prometheus was lost for a while
