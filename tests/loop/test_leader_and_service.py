"""Leader election and the service loop around the controller, with fakes and a manual clock."""

from __future__ import annotations

from typing import Any

from test_loop_controller import NOW, FakeCluster, controller, target

from autoscaler.core.model import PodUsage
from autoscaler.kube.leases import KubeLeases
from autoscaler.loop.controller import Outcome
from autoscaler.loop.leader import LeaderElector
from autoscaler.loop.resource_prometheus import PrometheusResourceMetrics
from autoscaler.loop.service import Service


class FakeLeaseApi:
    """A Lease held by another replica; a GET can take time (``slow``) or see a renew."""

    def __init__(self, clock: list[float]) -> None:
        self.clock = clock
        self.lease: dict[str, Any] = {
            "metadata": {"resourceVersion": "1"},
            "spec": {"holderIdentity": "other", "leaseDurationSeconds": 15, "renewTime": "r1"},
        }
        self.during_get: list[Any] = []  # callables run while the next GETs are served
        self.writes: list[str] = []

    def call(self, method: str, path: str, **_: Any) -> dict[str, Any]:
        if method == "GET":
            if self.during_get:
                self.during_get.pop(0)()
            return {**self.lease, "spec": dict(self.lease["spec"])}
        self.writes.append(method)
        return {}


def test_a_slow_read_does_not_shorten_the_lease_duration_a_standby_waits_out() -> None:
    clock = [0.0]
    api = FakeLeaseApi(clock)
    standby = LeaderElector(
        KubeLeases(api, namespace="podscale-system", name="podscale"),  # type: ignore[arg-type]
        identity="me",
        clock=lambda: clock[0],
    )
    assert not standby.try_acquire_or_renew()  # t=0: sees renew r1

    def renewed_while_the_answer_is_slow() -> None:
        clock[0] = 17.0  # the GET sent at t=10 is answered at t=17 ...
        api.lease["spec"]["renewTime"] = "r2"  # ... after the leader renewed at t=16

    api.during_get.append(renewed_while_the_answer_is_slow)
    clock[0] = 10.0
    assert not standby.try_acquire_or_renew()
    # The leader renewed at t=16 and may write until t=26 (renew deadline 10 s). The
    # record was first seen at t=17, so it is not 15 s old before t=32.
    clock[0] = 25.0
    assert not standby.try_acquire_or_renew()
    assert api.writes == []
    clock[0] = 32.0
    assert standby.try_acquire_or_renew()


def test_a_replica_that_lost_the_lease_during_a_sync_does_not_report_it() -> None:
    cluster = FakeCluster(replicas={"hot": 2}, cpu={"hot": "500"})
    leading = iter([True, False])  # leading when the sync starts, not when it ends
    reported: list[list[Outcome]] = []
    service = Service(
        controller=controller(cluster),
        load_targets=lambda now: [target("hot")],
        period=15,
        is_leader=lambda: next(leading, False),
        report=lambda outcomes, now: reported.append(outcomes),
    )
    assert len(service.sync_once()) == 1
    assert reported == []  # the new leader's status is not overwritten with ours


def test_a_removed_policy_leaves_no_metric_series_behind() -> None:
    cluster = FakeCluster(replicas={"a": 2, "b": 2}, cpu={"a": "500", "b": "500"})
    policies = [target("a"), target("b")]
    service = Service(controller=controller(cluster), load_targets=lambda now: policies, period=15)
    service.sync_once()
    del policies[1]
    service.sync_once()
    labels = {
        tuple(sample.labels.values())
        for family in service.metrics.registry.collect()
        for sample in family.samples
        if family.name in ("podscale_desired_replicas", "podscale_current_replicas")
    }
    assert labels == {("default", "a")}


def test_resource_usage_of_namespaces_no_longer_asked_for_is_forgotten() -> None:
    class Source:
        def instant(self, query: str, *, now: float) -> list[dict[str, Any]]:
            return [{"metric": {"pod": "p", "container": "c"}, "value": [NOW, "0.5"]}]

    clock = [0.0]
    metrics = PrometheusResourceMetrics(Source(), clock=lambda: clock[0])  # type: ignore[arg-type]
    for i in range(50):  # e.g. preview environments, one namespace each, then deleted
        clock[0] += 15
        usage: dict[str, PodUsage] = metrics.usage(f"preview-{i}", "app=web")
        assert usage["p"].containers["c"]["cpu"] == 500
    assert len(metrics._cache) <= 1
