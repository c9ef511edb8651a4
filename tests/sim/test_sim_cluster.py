"""The in-memory cluster: controllers create and delete pods like a ReplicaSet or a
StatefulSet, full nodes leave pods Pending, requests are conserved per step and in
total, runs are deterministic, and its output feeds the real decision core."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from autoscaler.core import decide
from autoscaler.core.model import MetricData, MetricSpec, MetricTarget, Policy, Snapshot
from autoscaler.sim.clock import ManualClock, WallClock
from autoscaler.sim.cluster import InMemoryCluster, Nodes, Workload
from autoscaler.sim.load import Constant, Diurnal, Noisy, Step
from autoscaler.sim.podmodel import PENDING, PodModel

MODEL = PodModel(schedule_delay=2.0, ready_delay=8.0, termination_grace=30.0)


def cluster(*, replicas: int = 1, kind: str = "Deployment", **options: object) -> InMemoryCluster:
    sim = InMemoryCluster(ManualClock(1000.0), **options)  # type: ignore[arg-type]
    sim.add_workload(Workload(name="web", model=MODEL, kind=kind), replicas=replicas)
    return sim


def test_new_pods_run_and_turn_ready_at_the_models_delays() -> None:
    sim = cluster(replicas=2)
    sim.step(2.0)
    assert {(p.phase, p.ready) for p in sim.pods("web")} == {("Running", False)}
    sim.step(7.9)
    assert not any(p.ready for p in sim.pods("web"))
    sim.step(0.1)
    assert all(p.ready and p.ready_since == 1010.0 for p in sim.pods("web"))


def test_scale_down_deletes_the_newest_and_the_unready_first() -> None:
    sim = cluster(replicas=2)
    sim.step(60.0)
    old = {p.name for p in sim.pods("web")}
    sim.scale("web", 4)
    sim.step(5.0)  # the two new pods are Running, not ready
    sim.scale("web", 3)
    deleting = [p.name for p in sim.pods("web") if p.deleting]
    assert len(deleting) == 1 and deleting[0] not in old
    sim.step(60.0)  # the remaining new pod is ready now, but still the newest
    sim.scale("web", 1)
    survivors = [p.name for p in sim.pods("web") if not p.deleting]
    assert len(survivors) == 1 and survivors[0] in old
    sim.step(29.0)
    assert len(sim.pods("web")) == 3  # terminating pods linger for the grace period
    sim.step(1.0)
    assert [p.name for p in sim.pods("web")] == survivors


def test_a_statefulset_starts_pods_one_by_one_and_removes_the_highest_ordinal() -> None:
    sim = cluster(replicas=3, kind="StatefulSet")
    assert [p.name for p in sim.pods("web")] == ["web-0"]
    for _ in range(3):
        sim.step(10.0)
    assert [p.name for p in sim.pods("web")] == ["web-0", "web-1", "web-2"]
    sim.step(10.0)
    sim.scale("web", 1)
    assert [p.name for p in sim.pods("web") if p.deleting] == ["web-2"]
    sim.step(30.0)
    assert [p.name for p in sim.pods("web") if p.deleting] == ["web-1"]


def test_pods_that_do_not_fit_stay_pending_until_room_is_freed() -> None:
    # Each node fits 2 pods of 250m; two nodes fit 4.
    nodes = Nodes(count=2, cpu_milli=500, memory_bytes=2**40)
    sim = cluster(replicas=5, nodes=nodes)
    sim.step(60.0)
    phases = sorted(p.phase for p in sim.pods("web"))
    assert phases == ["Pending", "Running", "Running", "Running", "Running"]
    pending = next(p for p in sim.pods("web") if p.phase == PENDING)
    assert pending.start_time is None
    inputs = sim.snapshot_inputs("web")
    assert next(p for p in inputs.pods if p.name == pending.name).ready is None
    assert pending.name not in inputs.usage
    sim.scale("web", 4)  # the unscheduled pod goes first, at once
    assert len(sim.pods("web")) == 4
    sim.scale("web", 3)
    sim.scale("web", 4)  # the new pod waits for the deleted one to free its room
    sim.step(15.0)
    assert sum(p.phase == PENDING for p in sim.pods("web")) == 1
    sim.step(30.0)  # the deleted pod is gone at +30 s; the next step binds the new one
    assert all(p.start_time is not None for p in sim.pods("web"))
    assert max(p.start_time or 0.0 for p in sim.pods("web")) == sim.now


def test_overload_drops_and_no_pod_drops_everything() -> None:
    sim = cluster(replicas=0)
    sim.set_load("web", Constant(50.0))
    sim.step(10.0)
    assert sim.totals("web").dropped == 500.0
    sim.scale("web", 1)
    sim.step(10.0)  # ready at the end of this step: serves from the next one
    assert sim.metrics("web")[0].served == 0.0
    sim.set_load("web", Constant(MODEL.capacity_rps * 3))
    sim.step(10.0)
    metrics = sim.metrics("web")[0]
    assert metrics.served == MODEL.capacity_rps * 10.0
    assert metrics.dropped == MODEL.capacity_rps * 2 * 10.0
    assert sim.totals("web").dropped == 2 * 500.0 + MODEL.capacity_rps * 2 * 10.0
    assert metrics.cpu_milli is not None and metrics.cpu_milli <= MODEL.cpu_limit_milli
    assert metrics.latency_buckets[-1][1] <= metrics.served


operations = st.lists(
    st.tuples(
        st.integers(min_value=0, max_value=6),
        st.floats(min_value=0.0, max_value=2000.0),
        st.floats(min_value=0.5, max_value=120.0),
    ),
    min_size=1,
    max_size=30,
)


@settings(max_examples=40, deadline=None)
@given(ops=operations)
def test_requests_are_conserved_per_step_and_in_total(
    ops: list[tuple[int, float, float]],
) -> None:
    sim = cluster(replicas=1, nodes=Nodes(count=1, cpu_milli=1000, memory_bytes=2**40))
    for replicas, rps, dt in ops:
        sim.scale("web", replicas)
        sim.set_load("web", Constant(rps))
        before = sim.totals("web")
        sim.step(dt)
        after = sim.totals("web")
        assert after.last is not None
        step_offered = after.offered - before.offered
        # A difference of running sums: absolute error scales with the sums.
        assert step_offered == pytest.approx(rps * dt, abs=1e-12 * after.offered)
        assert after.last.served_rps + after.last.dropped_rps == pytest.approx(rps, rel=1e-12)
    totals = sim.totals("web")
    assert totals.served + totals.dropped == pytest.approx(totals.offered, rel=1e-9)
    per_pod = sum(m.served for m in sim.metrics("web"))
    assert per_pod <= totals.served * (1 + 1e-9) + 1e-6  # gone pods take their counts along


def run(seed: int) -> list[tuple[object, ...]]:
    sim = InMemoryCluster(ManualClock(0.0), seed=seed)
    load = Noisy(shape=Diurnal(base=300.0, amplitude=200.0, period=3600.0), sigma=0.2, seed=seed)
    sim.add_workload(Workload(name="web", model=MODEL), replicas=3, load=load)
    series: list[tuple[object, ...]] = []
    for i in range(240):
        if i % 20 == 0:
            sim.scale("web", 2 + i % 7)
        sim.step(15.0)
        series.append((sim.pods("web"), sim.metrics("web"), sim.totals("web")))
    return series


def test_the_same_seed_gives_the_same_series() -> None:
    assert run(5) == run(5)
    assert run(5) != run(6)


def test_snapshot_inputs_feed_the_decision_core() -> None:
    sim = cluster(replicas=2)
    sim.set_load("web", Step(before=0.0, after=150.0, at=1000.0))
    for _ in range(40):
        sim.step(15.0)
    inputs = sim.snapshot_inputs("web")
    assert inputs.current_replicas == inputs.status_replicas == 2
    assert {c.requests["cpu"] for p in inputs.pods for c in p.containers} == {250}
    usage = next(iter(inputs.usage.values()))
    assert usage.window == 15.0 and usage.timestamp == sim.now
    assert usage.containers["app"]["cpu"] == math.ceil(10 + 75 * 2.0)
    cpu = MetricSpec(
        type="Resource",
        name="cpu",
        target=MetricTarget(type="Utilization", average_utilization=50),
    )
    decision = decide(
        Snapshot(
            now=sim.now,
            policy=Policy(max_replicas=10, metrics=(cpu,)),
            current_replicas=inputs.current_replicas,
            status_replicas=inputs.status_replicas,
            pods=inputs.pods,
            metrics=MetricData(resource=inputs.usage),
        )
    )
    assert decision.error is None
    assert decision.desired_replicas == 3  # 160m of 250m = 64 % against 50 %: ceil(2 * 1.28)


def test_step_needs_a_manual_clock_but_sync_works_with_any() -> None:
    sim = InMemoryCluster(WallClock())
    with pytest.raises(TypeError):
        sim.step(1.0)
    sim.sync()


def test_unknown_workloads_and_duplicates_are_refused() -> None:
    sim = cluster()
    with pytest.raises(KeyError, match="nope"):
        sim.pods("nope")
    with pytest.raises(ValueError, match="already exists"):
        sim.add_workload(Workload(name="web"))
    with pytest.raises(ValueError, match="replicas"):
        sim.scale("web", -1)
