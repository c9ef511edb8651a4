"""Parity with the real HPA: the same workload, load and spec under the testbed's native
HPA controller (``autoscaling/v2beta2``) and under ``autoscaler run``.

Two identical Deployments, one per namespace, are driven by one ``autoscaler sim run``
(one scenario naming both, so both get the same pod model and the same load, stepped
through the admin API within milliseconds of each other). One is scaled by a native
HPA, the other by ``autoscaler run --sync-period P`` where P is the testbed HPA's
``--horizontal-pod-autoscaler-sync-period``; both have the same spec and behavior
(scale-down stabilization 15 s, default scale-up rules). ``/scale`` of both is polled
every 0.5 s.

The load (per-pod CPU is 1m per request/s, no idle CPU, request 100m, target 50 %, so
the fixed point is ceil(rps / 50) replicas) goes 20 -> 150 -> 330 -> 60 rps, which the
HPA formula turns into 1 -> 3 -> 7 -> 2 replicas (see each step below).

Rules checked (stated so that each can fail):

- the trajectories (the sequences of distinct replica counts) are the same, with at
  least three changes, and the final replicas are equal;
- matching steps happen within one sync period (+ 1 s for the two 0.5 s polls) of each
  other: the two controllers sync at unrelated phases, so up to P apart is parity;
- Podscale reacts no later: for every load step, Podscale's time from the step to its
  first change is at most the HPA's plus one sync period of phase slack (+ 1 s of
  polling); and, measured on Podscale's own syncs (its JSON log has one line per target
  and sync), a scale-up lands within two of its syncs after the step (the first sync
  may start before the simulator publishes the new usage).
"""

from __future__ import annotations

import json
import re
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pytest
from e2e_support import (
    Kubectl,
    Testbed,
    apply,
    fresh_namespace,
    hpa_api,
    hpa_path,
    raw,
    ready_pods,
)
from kubernetes import client
from live_tooling import AutoscalerRun, wait_for
from test_sim_run import deployment, stop_cleanly
from testbed_fixture import Sim, SimSilent, controller_manager
from testbed_fixture import start_sim as run_sim

from autoscaler.kube.api import Api, connect
from autoscaler.ports import LoopError
from autoscaler.sim.manifests import cpu_hpa_spec

STABILIZATION_S = 15
POLL_S = 0.5
# (load in rps, replicas the HPA formula gives, seconds to hold before the next step)
STEPS = (
    (150, 3, 30),  # 1 pod at 150 % -> ratio 3.0 -> 3; 3 pods at 50 % -> stay
    (330, 7, 30),  # 3 pods at 110 % -> ceil(6.6) = 7 (limit max(+100 %, +4) = 7); 48 % -> stay
    (60, 2, 45),  # 7 pods at 9 % -> ceil(1.26) = 2 after 15 s stabilization; 2 at 30 % -> stay
)
POD = (
    "{scheduleDelay: 0.5, readyDelay: 1, terminationGrace: 2, cpuRequest: 100m, "
    "cpuLimit: 1000m, capacityRps: 900, cpuPerRequest: 1m, idleCpu: 0m}"
)
HPA, PODSCALE = "hpa-web", "podscale-web"  # the simulator wants unique names


def hpa_sync_period(testbed: Testbed) -> float:
    """The running kube-controller-manager's --horizontal-pod-autoscaler-sync-period."""
    _, args = controller_manager(testbed)
    value = args[args.index("--horizontal-pod-autoscaler-sync-period") + 1]
    match = re.fullmatch(r"(\d+(?:\.\d+)?)(ms|s|m)", value)
    assert match, f"cannot read the HPA sync period {value!r}"
    return float(match[1]) * {"ms": 0.001, "s": 1.0, "m": 60.0}[match[2]]


@pytest.fixture
def second_namespace(kube: client.ApiClient) -> Iterator[str]:
    with fresh_namespace(kube, f"e2e-parity-ps-{uuid.uuid4().hex[:6]}") as name:
        yield name


class Recorder:
    """Polls /scale of each Deployment every POLL_S; keeps (wall time, replicas) changes."""

    def __init__(self, testbed: Testbed, paths: dict[str, str]) -> None:
        self.api = Api(connect(str(testbed.kubeconfig)))
        self.paths = paths
        self.changes: dict[str, list[tuple[float, int]]] = {k: [] for k in paths}
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self.stop.wait(POLL_S):
            for key, path in self.paths.items():
                try:
                    data = self.api.call("GET", path)
                except LoopError:
                    continue
                replicas = int(data["spec"].get("replicas") or 0)
                seen = self.changes[key]
                if not seen or seen[-1][1] != replicas:
                    seen.append((time.time(), replicas))

    def trajectory(self, key: str) -> list[int]:
        return [replicas for _, replicas in self.changes[key]]

    def first_change_after(self, key: str, t: float) -> float | None:
        return next((when for when, _ in self.changes[key][1:] if when > t), None)


def start_sim(testbed: Testbed, scenario: Path, prefix: str, log: Path) -> Sim:
    try:
        return run_sim(
            testbed.kubeconfig,
            "--scenario", str(scenario), "--node-prefix", prefix, "--tick", "0.5",
            "--duration", "400",
            stderr=log,
        )  # fmt: skip
    except SimSilent:
        pytest.fail(
            f"the simulator printed nothing in 30 s: {log.read_text()[-2000:]}", pytrace=False
        )


def podscale_sync_times(log: Path) -> list[float]:
    """Wall times of Podscale's per-target lines: one per sync of its only target."""
    times = []
    for line in log.read_text().splitlines():
        if not line.startswith("{"):
            continue
        entry = json.loads(line)
        if entry.get("policy") == PODSCALE and "current" in entry:
            times.append(datetime.fromisoformat(entry["time"].replace("Z", "+00:00")).timestamp())
    return times


def test_podscale_follows_the_real_hpa_step_for_step(
    testbed: Testbed,
    kube: client.ApiClient,
    kubectl: Kubectl,
    namespace: str,
    second_namespace: str,
    tmp_path: Path,
) -> None:
    period = hpa_sync_period(testbed)
    hpa_ns, ps_ns = namespace, second_namespace
    names = {hpa_ns: HPA, ps_ns: PODSCALE}
    scenario = tmp_path / "scenario.yaml"
    scenario.write_text(
        "workloads:\n"
        + "".join(
            f"  - {{kind: Deployment, name: {name}, namespace: {ns}, pod: {POD}, "
            "load: {type: constant, rps: 20}}\n"
            for ns, name in names.items()
        )
    )
    policies = tmp_path / "policies"
    policies.mkdir()
    (policies / "policy.yaml").write_text(
        json.dumps(
            {
                "apiVersion": "podscale.dev/v1alpha1",
                "kind": "ScalingPolicy",
                "metadata": {"name": PODSCALE, "namespace": ps_ns},
                "spec": cpu_hpa_spec(PODSCALE, down_window=STABILIZATION_S),
            }
        )
    )
    for ns, name in names.items():
        web = deployment(name, 1)
        web["spec"]["template"]["spec"]["containers"][0]["resources"]["requests"]["cpu"] = "100m"
        apply(kubectl, ns, web)
    sim = start_sim(testbed, scenario, f"sim-par-{hpa_ns[-6:]}", tmp_path / "sim.log")
    ps_log = tmp_path / "podscale.log"
    podscale = AutoscalerRun(
        testbed.kubeconfig, policies, ps_log,
        "--no-crds", "--sync-period", f"{period:g}",
        "--downscale-stabilization", str(STABILIZATION_S), "--listen", "127.0.0.1:0",
        "--log-format", "json", "--log-level", "debug",
    )  # fmt: skip
    recorder = Recorder(
        testbed,
        {
            ns: f"/apis/apps/v1/namespaces/{ns}/deployments/{name}/scale"
            for ns, name in names.items()
        },
    )
    try:
        for ns, name in names.items():
            wait_for(lambda ns=ns, name=name: ready_pods(kubectl, ns, name) == 1,
                     f"the pod in {ns} to be ready", timeout=60)  # fmt: skip
        native_hpa = {
            "apiVersion": hpa_api(),
            "kind": "HorizontalPodAutoscaler",
            "metadata": {"name": HPA},
            "spec": cpu_hpa_spec(HPA, down_window=STABILIZATION_S),
        }
        apply(kubectl, hpa_ns, native_hpa)
        native_path = hpa_path(hpa_ns, HPA)
        wait_for(
            lambda: any(c["type"] == "ScalingActive" and c["status"] == "True"
                        for c in (raw(kubectl, native_path).get("status") or {}).get("conditions")
                        or []),
            "the HPA to read the simulated CPU", timeout=60,
        )  # fmt: skip
        wait_for(lambda: len(podscale_sync_times(ps_log)) >= 2, "two Podscale syncs", timeout=60)
        recorder.thread.start()
        time.sleep(2 * POLL_S)
        steps: list[float] = []
        for rps, _, hold in STEPS:
            for ns, name in names.items():
                sim.set_load(ns, name, {"type": "constant", "rps": rps})
            steps.append(time.time())
            time.sleep(hold)
        final = STEPS[-1][1]
        wait_for(
            lambda: all(recorder.trajectory(ns)[-1:] == [final] for ns in (hpa_ns, ps_ns)),
            f"both to settle at {final}", timeout=60,
        )  # fmt: skip
        time.sleep(2 * period)  # and stay there
    finally:
        recorder.stop.set()
        podscale.stop()
        stop_cleanly(sim)

    hpa, ps = recorder.trajectory(hpa_ns), recorder.trajectory(ps_ns)
    report = f"HPA {recorder.changes[hpa_ns]}\nPodscale {recorder.changes[ps_ns]}\nsteps {steps}"
    assert hpa == ps, report
    assert len(hpa) >= 4 and hpa[-1] == ps[-1] == STEPS[-1][1], report
    slack = period + 2 * POLL_S
    for (t_hpa, _), (t_ps, _) in zip(recorder.changes[hpa_ns][1:], recorder.changes[ps_ns][1:],
                                     strict=True):  # fmt: skip
        assert abs(t_hpa - t_ps) <= slack, f"a step {t_ps - t_hpa:+.1f}s apart\n{report}"
    syncs = podscale_sync_times(ps_log)
    for index, step in enumerate(steps):
        t_hpa = recorder.first_change_after(hpa_ns, step)
        t_ps = recorder.first_change_after(ps_ns, step)
        assert t_hpa is not None and t_ps is not None, report
        assert t_ps - step <= t_hpa - step + slack, f"step {index} reacted later\n{report}"
        if STEPS[index][1] > (STEPS[index - 1][1] if index else 1):
            # the change is seen by the poll up to POLL_S after the sync that made it
            own = [t for t in syncs if step < t <= t_ps + 0.05]
            assert 1 <= len(own) <= 2, f"step {index}: {len(own)} Podscale syncs\n{report}"
    print(report)
