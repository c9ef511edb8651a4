"""Every example in ``policies/`` run through the simulator, which drives the real loop.

Each example gets a load that should make it scale (traffic or messages rising, then
falling), and its run must move the target that way, stay within minReplicas and
maxReplicas, and respect the example's own scale-up and scale-down limits. The runs
use the simulate engine's Python API (``autoscaler simulate`` without the command
line): virtual time, an in-memory cluster, and ``autoscaler.loop.controller``
unchanged. Each run is a few hundred syncs and takes milliseconds.

Policies are loaded as ``autoscaler simulate`` loads them: in Enforce mode, so the
DryRun example shows what it would do once enforced.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import pairwise
from pathlib import Path

from autoscaler.core.model import Settings
from autoscaler.loop.controller import Controller
from autoscaler.policy import load_policies
from autoscaler.ports import Target
from autoscaler.sim.clock import ManualClock
from autoscaler.sim.cluster import InMemoryCluster, Workload
from autoscaler.sim.load import LoadShape
from autoscaler.sim.podmodel import PodModel
from autoscaler.simulate.adapters import ClusterEdges
from autoscaler.simulate.engine import EPOCH, Plan, ScaleChange, Subject, simulate
from autoscaler.simulate.setup import load_targets

POLICIES = Path(__file__).resolve().parents[2] / "policies"
STEP = 15.0
# Queue workers: one message takes a second, a worker handles two at a time. The
# simulator's queue metrics are messages in the system (rate x latency).
WORKER = PodModel(base_latency_ms=1000.0, capacity_rps=2.0, cpu_per_request_milli=100.0)


@dataclass(frozen=True, slots=True)
class Phases:
    """``(from_second, rate)`` pairs: each rate holds until the next pair starts."""

    phases: tuple[tuple[float, float], ...]

    def rate(self, t: float) -> float:
        current = 0.0
        for start, rate in self.phases:
            if t >= start:
                current = rate
        return current


@dataclass(frozen=True, slots=True)
class Run:
    """Replicas after each sync (``t`` seconds from the start) and every patch of /scale."""

    target: Target
    t: list[float]
    replicas: list[int]
    changes: list[ScaleChange]

    def at(self, second: float) -> int:
        return self.replicas[self.t.index(second)]

    def ups(self) -> list[ScaleChange]:
        return [c for c in self.changes if c.after > c.before]

    def downs(self) -> list[ScaleChange]:
        return [c for c in self.changes if c.after < c.before]


def example(name: str) -> Target:
    [target] = load_targets([str(POLICIES / name)])
    return target


def run(
    name: str,
    load: LoadShape,
    *,
    duration: float,
    model: PodModel | None = None,
    kind: str = "Deployment",
    replicas: int | None = None,
    warmup: float = 600.0,
) -> Run:
    """The example ``name`` under ``load`` in the simulate engine (warm-up at the first rate)."""
    target = example(name)
    start = max(1, target.policy.min_replicas) if replicas is None else replicas
    subject = Subject(
        label=target.name, target=target, model=model or PodModel(), kind=kind, replicas=start
    )
    plan = Plan(load=load, duration=duration, step=STEP, warmup=warmup)
    [result] = simulate(plan, [subject])
    return Run(target, result.series.t, result.series.replicas, result.changes)


@dataclass(frozen=True, slots=True)
class _FromEpoch:
    load: LoadShape

    def rate(self, t: float) -> float:
        return self.load.rate(t - EPOCH)


def run_container(
    name: str,
    load: LoadShape,
    *,
    duration: float,
    kind: str,
    container: str,
    replicas: int,
) -> Run:
    """As :func:`run`, for a ContainerResource metric: pods whose container is ``container``.

    The engine's ``Subject`` has no container name (its pods run one container
    called ``app``), so this drives the same public pieces the engine does, an
    ``InMemoryCluster`` with ``ClusterEdges`` under the real ``Controller``, itself.
    """
    target = example(name)
    workload = target.ref.name
    clock = ManualClock(EPOCH)
    cluster = InMemoryCluster(clock)
    model = PodModel()
    cluster.add_workload(
        Workload(
            name=workload,
            model=model,
            kind=kind,
            namespace=target.namespace,
            selector={"app": workload},
            container=container,
        ),
        replicas=replicas,
        load=_FromEpoch(load),
    )
    edges = ClusterEdges(cluster, models={workload: model}, step=STEP)
    controller = Controller(
        scales=edges,
        pods=edges,
        resource_metrics=edges,
        custom_metrics=edges,
        settings=Settings(),
    )
    t: list[float] = []
    counts: list[int] = []
    changes: list[ScaleChange] = []
    for _ in range(math.ceil(duration / STEP)):
        now = clock.now()
        [outcome] = controller.sync([target], now=now)
        assert outcome.error is None, outcome.error
        if outcome.patched and outcome.current is not None:
            changes.append(ScaleChange(now - EPOCH, outcome.current, cluster.replicas(workload)))
        cluster.step(STEP)
        t.append(now - EPOCH)
        counts.append(cluster.replicas(workload))
    return Run(target, t, counts, changes)


def assert_within_bounds(result: Run) -> None:
    policy = result.target.policy
    low, high = min(result.replicas), max(result.replicas)
    assert policy.min_replicas <= low and high <= policy.max_replicas, (low, high)


def added_within(changes: Sequence[ScaleChange], period: float) -> int:
    """The most pods added by the changes in any ``period`` seconds (ending at a change)."""
    ups = [c for c in changes if c.after > c.before]
    return max(
        (sum(u.after - u.before for u in ups if end.t - period < u.t <= end.t) for end in ups),
        default=0,
    )


def gaps(changes: Sequence[ScaleChange]) -> list[float]:
    return [b.t - a.t for a, b in pairwise(changes)]


# Every file in policies/ and the test that simulates it.
SIMULATED = {
    "web-cpu-memory.yaml": "test_web_cpu_memory_follows_traffic_and_sheds_20_percent_a_minute",
    "api-requests-per-second.yaml": "test_api_requests_per_second_sizes_for_50_rps_a_pod",
    "worker-queue.yaml": "test_worker_queue_grows_with_the_backlog_and_drains_one_a_minute",
    "scale-to-zero.yaml": "test_scale_to_zero_empties_with_the_queue_and_wakes_on_messages",
    "statefulset-conservative.yaml": "test_statefulset_scales_down_one_pod_per_ten_minutes",
    "rollout-canary.yaml": "test_rollout_target_is_scaled_through_its_scale_subresource",
    "native-hpa.yaml": "test_native_hpa_manifest_scales_like_the_hpa_up_to_its_max",
    "flagger-primary.yaml": "test_flagger_primary_carries_the_load",
}


def test_every_example_policy_is_simulated() -> None:
    assert sorted(p.name for p in POLICIES.glob("*.yaml")) == sorted(SIMULATED)
    for test in SIMULATED.values():
        assert test in globals(), test


# 150 rps, ten minutes of 1500 rps... then 150 rps again for the rest of the run.
SURGE = Phases(((0, 150), (600, 1500), (2400, 150)))


def test_web_cpu_memory_follows_traffic_and_sheds_20_percent_a_minute() -> None:
    result = run("web-cpu-memory.yaml", SURGE, duration=5400)
    assert_within_bounds(result)
    assert result.at(0) == 2
    assert max(result.replicas) >= 15  # 1500 rps at 70 % CPU of 250m: 18 pods
    for up in result.ups():  # 4 pods or 100 % per 15 s, whichever is more
        assert up.after <= max(up.before + 4, 2 * up.before), up
    downs = result.downs()
    assert downs[0].t >= 2400 + 300  # the 5-minute stabilization window
    assert all(d.after >= math.floor(d.before * 0.8) for d in downs)  # 20 % ...
    assert min(gaps(downs)) >= 60  # ... per minute
    assert result.replicas[-1] == 2


def test_api_requests_per_second_sizes_for_50_rps_a_pod() -> None:
    result = run("api-requests-per-second.yaml", SURGE, duration=5400)
    assert_within_bounds(result)
    assert result.at(0) == 3
    assert 25 <= max(result.replicas) <= 30  # 1500 rps / 50 per pod, within the tolerance
    downs = result.downs()
    assert downs[0].t >= 2400 + 300
    assert all(d.before - d.after <= 2 for d in downs)  # 2 pods ...
    assert min(gaps(downs)) >= 60  # ... per minute
    assert result.replicas[-1] == 3


def test_worker_queue_grows_with_the_backlog_and_drains_one_a_minute() -> None:
    messages = Phases(((0, 0.5), (600, 40), (2400, 0.5)))
    result = run("worker-queue.yaml", messages, duration=7200, model=WORKER)
    assert_within_bounds(result)
    assert result.at(0) == 2
    assert max(result.replicas) >= 20  # 40 messages/s at 2 per worker
    for up in result.ups():  # +200 % per 30 s
        assert up.after <= 3 * up.before, up
    downs = result.downs()
    assert all(d.before - d.after == 1 for d in downs)  # one worker ...
    assert min(gaps(downs)) >= 60  # ... per minute
    assert downs[0].t >= result.ups()[-1].t + 600  # after 10 minutes of a lower backlog
    assert result.replicas[-1] == 2


def test_scale_to_zero_empties_with_the_queue_and_wakes_on_messages() -> None:
    # Empty for 30 minutes, then 20 messages/s for 30 minutes, then empty again.
    messages = Phases(((0, 0), (1800, 20), (3600, 0)))
    result = run("scale-to-zero.yaml", messages, duration=7200, model=WORKER, replicas=2, warmup=0)
    assert_within_bounds(result)
    first_zero = result.t[result.replicas.index(0)]
    assert first_zero <= 300 + STEP  # empty queue: to zero after the 5-minute window
    assert set(result.replicas[result.t.index(first_zero) : result.t.index(1800)]) == {0}
    wake, grow = result.ups()[:2]
    assert (wake.t, wake.before, wake.after) == (1800 + STEP, 0, 1)  # activation: 0 -> 1
    assert grow.before == 1 and grow.after <= 3  # then the HPA: the Pods policy, +2 ...
    assert added_within(result.changes, 30) <= 2  # ... per 30 s
    assert result.at(2400) == 10  # maxReplicas while messages keep coming
    assert result.replicas[-1] == 0
    assert result.downs()[-1].t >= 3600 + 300


def test_statefulset_scales_down_one_pod_per_ten_minutes() -> None:
    result = run_container(
        "statefulset-conservative.yaml",
        Phases(((0, 150), (300, 1500), (2400, 150))),
        duration=9000,
        kind="StatefulSet",
        container="search",
        replicas=3,
    )
    assert_within_bounds(result)
    assert max(result.replicas) >= 10  # 1500 rps at 60 % CPU of 250m: 12 pods (max)
    assert added_within(result.changes, 60) <= 2  # 2 pods per minute up
    downs = result.downs()
    assert downs[0].t >= 2400 + 1800  # 30 minutes of low load first
    assert all(d.before - d.after == 1 for d in downs)  # one pod ...
    assert min(gaps(downs)) >= 600  # ... per ten minutes
    # Slow on purpose: 80 minutes after the load fell it is still above minReplicas.
    assert result.replicas[-1] > result.target.policy.min_replicas


def test_rollout_target_is_scaled_through_its_scale_subresource() -> None:
    [written] = load_policies([str(POLICIES / "rollout-canary.yaml")]).policies
    assert written.policy.spec.mode == "DryRun"  # as shipped; simulated as Enforce
    result = run("rollout-canary.yaml", SURGE, duration=5400, kind="Rollout")
    assert result.target.ref.kind == "Rollout"
    assert_within_bounds(result)
    assert result.at(0) == 2
    assert max(result.replicas) == 15  # maxReplicas: 1500 rps needs more at 65 % CPU
    assert result.downs()[0].t >= 2400 + 300
    assert result.replicas[-1] < 5


def test_native_hpa_manifest_scales_like_the_hpa_up_to_its_max() -> None:
    # 5m of CPU per request: 400m a pod at about 80 rps.
    result = run("native-hpa.yaml", SURGE, duration=3600, model=PodModel(cpu_per_request_milli=5.0))
    assert result.target.ref.name == "frontend"
    assert_within_bounds(result)
    assert result.at(0) == 2 and max(result.replicas) == 8
    assert result.downs()[0].t >= 2400 + 300  # the HPA's default window
    assert result.replicas[-1] == 2


def test_flagger_primary_carries_the_load() -> None:
    result = run("flagger-primary.yaml", SURGE, duration=5400)
    assert result.target.ref.name == "podinfo-primary"
    assert_within_bounds(result)
    assert result.at(0) == 2
    assert max(result.replicas) >= 15
    assert result.downs()[0].t >= 2400 + 300
    assert result.replicas[-1] == 2


def commented_canary_policy(tmp_path: Path) -> Path:
    """The canary policy commented out at the end of flagger-primary.yaml, uncommented."""
    text = (POLICIES / "flagger-primary.yaml").read_text()
    block = text.split("\n# ---\n", 1)[1]
    path = tmp_path / "canary.yaml"
    path.write_text("".join(re.sub(r"^# ?", "", line) for line in block.splitlines(True)))
    return path


def test_flagger_canary_policy_leaves_a_canary_flagger_scaled_to_zero(tmp_path: Path) -> None:
    [target] = load_targets([str(commented_canary_policy(tmp_path))])
    assert (target.ref.name, target.policy.min_replicas) == ("podinfo", 1)
    plan = Plan(load=Phases(((0, 300),)), duration=1800, step=STEP, warmup=0)
    # Between analyses Flagger keeps the canary at 0: no pods, no metrics, no scaling.
    idle = Subject(label="canary", target=target, replicas=0)
    [between] = simulate(plan, [idle])
    assert set(between.series.replicas) == {0} and between.changes == []
    # During an analysis Flagger starts it at the primary's count; it follows its share.
    started = Subject(label="canary", target=target, replicas=6)
    [during] = simulate(plan, [started])
    assert during.series.replicas[-1] == 4  # 300 rps would need more: maxReplicas
    low = Subject(label="canary", target=target, replicas=6)
    [quiet] = simulate(Plan(load=Phases(((0, 20),)), duration=1800, warmup=0), [low])
    assert quiet.series.replicas[-1] == 1
