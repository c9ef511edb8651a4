"""A restart keeps Podscale's paths' memory (``History.last_burst``, ``last_active``,
``forecast_off``): the loop saves it in the ScalingPolicy's ``status.history`` and a new
process (or a new leader) starts from it, as it does with the HPA's windows."""

from __future__ import annotations

from dataclasses import replace

from test_loop_controller import FakeCluster, controller
from test_policies_through_ports import MemoryEvents, MemoryPolicies, policies, policy_object

from autoscaler.core.model import (
    RESOURCE,
    UTILIZATION,
    Burst,
    Decision,
    History,
    MetricSpec,
    MetricTarget,
    Snapshot,
)
from autoscaler.ports import Target

NOW = 1_700_000_000.0
CPU_50 = MetricSpec(RESOURCE, "cpu", MetricTarget(UTILIZATION, average_utilization=50))


def _with_burst(target: Target) -> Target:
    return replace(target, policy=replace(target.policy, metrics=(CPU_50,), burst=Burst()))


def test_a_restart_starts_from_the_saved_burst_activity_and_forecast_state() -> None:
    store = MemoryPolicies([policy_object("w", max_replicas=10)])
    [loaded] = policies(store, MemoryEvents()).load(now=NOW)
    cluster = FakeCluster(replicas={"w": 2}, cpu={"w": "1100"})  # 220 % of a 50 % target
    [outcome] = controller(cluster).sync([_with_burst(loaded)], now=NOW)
    assert outcome.decision is not None and outcome.decision.path == "burst"
    assert outcome.history is not None and outcome.history.last_burst == NOW
    # As the activation and forecast paths leave it on a target that has them.
    memory = replace(outcome.history, last_active=NOW - 50, forecast_off=True)
    before_restart = policies(store, MemoryEvents())
    before_restart.load(now=NOW)
    before_restart.report([replace(outcome, history=memory)], now=NOW)
    saved = store.stored[0]["status"]["history"]
    assert (saved["lastBurst"], saved["lastActive"], saved["forecastOff"]) == (
        NOW,
        NOW - 50,
        True,
    )

    # A new process: the policy and its status come from the store again.
    [restarted] = policies(store, MemoryEvents()).load(now=NOW + 15)
    assert restarted.saved_history is not None
    assert restarted.saved_history.last_burst == NOW
    assert restarted.saved_history.last_active == NOW - 50
    assert restarted.saved_history.forecast_off is True
    seen: list[History] = []

    def observe(target: Target, snapshot: Snapshot, decision: Decision) -> None:
        seen.append(snapshot.history)

    loop = controller(cluster)
    loop.observer = observe
    loop.sync([_with_burst(restarted)], now=NOW + 15)
    [history] = seen
    assert (history.last_burst, history.last_active, history.forecast_off) == (
        NOW,
        NOW - 50,
        True,
    )


def test_a_change_of_the_paths_memory_alone_is_written() -> None:
    store = MemoryPolicies([policy_object("w", max_replicas=10)])
    loaded = policies(store, MemoryEvents())
    [target] = loaded.load(now=NOW)
    cluster = FakeCluster(replicas={"w": 2}, cpu={"w": "500"})
    [outcome] = controller(cluster).sync([target], now=NOW)
    assert outcome.history is not None
    loaded.report([outcome], now=NOW)
    writes = len(store.writes)
    # Only the last activity moved (the activation metric read above its threshold).
    active = replace(outcome, history=replace(outcome.history, last_active=NOW))
    loaded.load(now=NOW)
    loaded.report([active], now=NOW)
    assert len(store.writes) == writes + 1
    assert store.stored[0]["status"]["history"]["lastActive"] == NOW
