"""Scale to zero with activation, on the testbed and a real Prometheus.

A Deployment at zero under a ScalingPolicy (``minReplicas: 0``, ``activation`` on an
External metric from a Prometheus query, threshold 3 messages, cooldown 5 s) and
``autoscaler run`` with its default 15 s sync: the queue at the threshold never wakes
it; one message more wakes it between syncs (the fast path, ``loop.activation``), from
the first sample above the threshold (its Prometheus timestamp) to the 0 -> 1 write seen
by a watch; an empty queue takes it back to zero after the cooldown. The status and the
events say that activation acted.
"""

from __future__ import annotations

import json
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from activation_support import (
    DECLARATIONS,
    SERIES,
    ReplicaWatch,
    StatusWatch,
    activation_policy,
    events,
    first_sample_above,
    queue_labels,
)
from e2e_support import Kubectl, Testbed, apply, deployment
from kubernetes import client
from live_tooling import AutoscalerRun, wait_for
from prometheus_fixture import PromEnv, running_env
from test_policy_objects import crd

__all__ = ["crd"]  # a fixture, used by name

NAME = "worker"
THRESHOLD = 3


@pytest.fixture
def prom() -> Iterator[PromEnv]:
    with running_env() as env:
        yield env


def metric(base: str, name: str, labels: str) -> float:
    with urllib.request.urlopen(f"{base}/metrics", timeout=5) as answer:
        text = answer.read().decode()
    prefix = f"{name}{{{labels}}} "
    values = [float(line[len(prefix) :]) for line in text.splitlines() if line.startswith(prefix)]
    return values[0] if values else 0.0


def test_a_deployment_at_zero_wakes_between_syncs_and_goes_back_after_the_cooldown(
    crd: None,
    testbed: Testbed,
    kube: client.ApiClient,
    kubectl: Kubectl,
    namespace: str,
    prom: PromEnv,
    tmp_path: Path,
) -> None:
    def queue(value: float) -> None:
        prom.exporter.set(SERIES, queue_labels(namespace, NAME), value)

    queue(THRESHOLD)  # at the threshold is not above it
    prom.server.wait_for(f'{SERIES}{{namespace="{namespace}"}}')
    apply(kubectl, namespace, deployment(NAME, 0))
    policy = activation_policy(NAME, threshold=str(THRESHOLD), cooldown=5)
    kubectl("apply", "-n", namespace, "-f", "-", input=json.dumps(policy))
    (tmp_path / "metrics.yaml").write_text(DECLARATIONS)
    replicas, statuses = ReplicaWatch(kube, namespace), StatusWatch(kube, namespace)
    run = AutoscalerRun(
        testbed.kubeconfig, None, tmp_path / "run.log",
        "--namespace", namespace, "--metrics-config", str(tmp_path / "metrics.yaml"),
        "--prometheus-url", prom.server.url, "--listen", "127.0.0.1:0",
        # Syncs 30 s apart: the raise comes ~10 s after one, so only a poll can wake it
        # (at the default 15 s a sync would win the race about one time in seven).
        "--sync-period", "30",
    )  # fmt: skip
    try:
        base = run.listen_url()
        wait_for(lambda: statuses.of(NAME), "the first sync's status", timeout=60)
        polled = 'result="zero"'
        wait_for(
            lambda: metric(base, "podscale_activation_polls_total", polled) >= 4,
            "four polls of the queue at its threshold",
            timeout=60,
        )
        assert replicas.current(NAME) == 0  # never woken at the threshold

        raised = time.time()
        queue(THRESHOLD + 1)
        wait_for(lambda: replicas.current(NAME) == 1, "the wake-up to 1 replica", timeout=30)
        woken = replicas.woken_at(NAME, after=raised)
        sample = wait_for(
            lambda: first_sample_above(prom.server, namespace, NAME, THRESHOLD, after=raised),
            "Prometheus to have the first sample above the threshold",
            timeout=10,
        )
        assert woken is not None
        latency = woken - sample
        woke_by_poll = metric(base, "podscale_activation_polls_total", 'result="woke"')
        print(f"sample above the threshold -> 0 -> 1 write seen: {latency:.2f} s")

        queue(0)
        wait_for(lambda: replicas.current(NAME) == 0, "back to zero after the cooldown", 90)

        def recorded_to_zero() -> tuple[list[dict[str, Any]], list[dict[str, Any]]] | None:
            """Events and status, once the loop has recorded the write the watch saw."""
            recorded, history = events(kube, namespace), statuses.of(NAME)
            slept = any(s.get("desiredReplicas") == 0 for s in history)
            noticed = any(e["reason"] == "ScaledToZero" for e in recorded)
            rescaled = any((e.get("message") or "").startswith("New size: 0;") for e in recorded)
            return (recorded, history) if slept and noticed and rescaled else None

        # the /scale write comes first, its events and status right after it
        recorded, history = wait_for(recorded_to_zero, "the scale to zero's record", 15)
        seen = {(e["reason"], e["type"]) for e in recorded}
        rescales = [e["message"] for e in recorded if e["reason"] == "SuccessfulRescale"]
    finally:
        run.stop()
        replicas.close()
        statuses.close()
        kubectl("delete", "scalingpolicy", NAME, "-n", namespace, check=False)

    # The 15 s sync did not do it: a poll did, within a poll interval and a query.
    assert woke_by_poll == 1
    assert 0 < latency < 6, latency  # 2 s polls; generous for a shared machine
    assert {("Activated", "Normal"), ("ScaledToZero", "Normal")} <= seen, seen
    assert not {reason for reason, _ in seen} & {"ExternalScaleChange", "ExternalScaleConflict"}
    assert any(m.startswith("New size: 1; reason: activation: ") for m in rescales), rescales
    assert any(m.startswith("New size: 0; reason: activation: ") for m in rescales), rescales
    woke = [s for s in history if s.get("path") == "activation" and s.get("desiredReplicas") == 1]
    assert woke, history
    [proposal] = [p for p in woke[0]["proposals"] if p["path"] == "activation"]
    assert proposal["replicas"] == 1 and "above 3" in proposal["detail"], proposal
    slept = [s for s in history if s.get("path") == "activation" and s.get("desiredReplicas") == 0]
    assert slept and "cooldown" in slept[0]["proposals"][0]["detail"], history
    assert "Traceback" not in run.log.read_text()
