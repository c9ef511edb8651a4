"""The per-target series a dashboard and the alerts read: values, bounds, conditions."""

from __future__ import annotations

from dataclasses import replace

from prometheus_client import CollectorRegistry
from test_loop_controller import FakeCluster, controller, target

from autoscaler.core.model import (
    AVERAGE_VALUE,
    EXTERNAL,
    MetricSpec,
    MetricTarget,
)
from autoscaler.loop.service import LoopMetrics, Service


def samples(registry: CollectorRegistry, name: str) -> dict[tuple[tuple[str, str], ...], float]:
    return {
        tuple(sorted(sample.labels.items())): sample.value
        for family in registry.collect()
        for sample in family.samples
        if sample.name == name
    }


def one(registry: CollectorRegistry, name: str, **labels: str) -> float:
    found = [
        value
        for key, value in samples(registry, name).items()
        if labels.items() <= dict(key).items()
    ]
    assert len(found) == 1, f"{name}{labels}: {found}"
    return found[0]


def test_cpu_utilization_is_exported_beside_its_target_in_percent_with_the_bounds() -> None:
    cluster = FakeCluster(replicas={"web": 2}, cpu={"web": "800"})  # 80 % of 1000m
    service = Service(
        controller=controller(cluster), load_targets=lambda now: [target("web")], period=15
    )
    service.sync_once()
    registry = service.metrics.registry
    labels = {"namespace": "default", "policy": "web", "metric_name": "cpu"}
    assert one(registry, "podscale_metric_value", **labels, metric_target_type="utilization") == 80
    assert one(registry, "podscale_metric_target", **labels, metric_type="Resource") == 50
    assert one(registry, "podscale_max_replicas", policy="web") == 10
    assert one(registry, "podscale_min_replicas", policy="web") == 1
    assert one(registry, "podscale_desired_replicas", policy="web") == 4  # ceil(2 * 80 / 50)
    assert one(registry, "podscale_condition", type="ScalingActive", status="True") == 1


def test_a_failing_metric_counts_errors_drops_its_value_and_keeps_its_target() -> None:
    queue = MetricSpec(EXTERNAL, "queue_depth", MetricTarget(AVERAGE_VALUE, average_value=30_000))
    cluster = FakeCluster(replicas={"worker": 2}, cpu={"worker": "500"})
    worker = target("worker")
    worker = replace(worker, policy=replace(worker.policy, metrics=(queue,)))
    service = Service(controller=controller(cluster), load_targets=lambda now: [worker], period=15)
    service.sync_once()
    service.sync_once()
    registry = service.metrics.registry
    assert one(registry, "podscale_metric_errors_total", metric_name="queue_depth") == 2
    assert one(registry, "podscale_metric_target", metric_name="queue_depth") == 30  # 30000m
    assert samples(registry, "podscale_metric_value") == {}
    active = [dict(k) for k in samples(registry, "podscale_condition")]
    assert {"type": "ScalingActive", "status": "False"}.items() <= next(
        c for c in active if c["type"] == "ScalingActive"
    ).items()


def test_a_changed_condition_reason_replaces_the_old_series_and_a_removed_policy_clears_all() -> (
    None
):
    cluster = FakeCluster(replicas={"web": 2}, cpu={"web": "800"})
    policies = [target("web")]
    service = Service(controller=controller(cluster), load_targets=lambda now: policies, period=15)
    service.sync_once()  # 2 -> 4
    cluster.cpu["web"] = "500"
    service.sync_once()  # at target now: a different ScalingLimited/AbleToScale reason
    registry = service.metrics.registry
    reasons = [dict(k) for k in samples(registry, "podscale_condition")]
    assert len(reasons) == len({r["type"] for r in reasons})  # one series per condition
    policies.clear()
    service.sync_once()
    for name in (
        "podscale_condition",
        "podscale_metric_value",
        "podscale_metric_target",
        "podscale_max_replicas",
        "podscale_min_replicas",
    ):
        assert samples(registry, name) == {}, name


def test_a_standby_exports_no_per_target_series_and_says_it_does_not_lead() -> None:
    cluster = FakeCluster(replicas={"web": 2}, cpu={"web": "800"})
    leading = [True]
    service = Service(
        controller=controller(cluster),
        load_targets=lambda now: [target("web")],
        period=15,
        is_leader=lambda: leading[0],
    )
    service.metrics.expose_process(
        kube_requests=lambda: 7,
        prometheus_queries=lambda: 0,
        leading=lambda: leading[0],
        sync_period=15,
    )
    service.sync_once()
    registry = service.metrics.registry
    assert one(registry, "podscale_leader") == 1
    assert one(registry, "podscale_sync_period_seconds") == 15
    assert one(registry, "podscale_kube_requests_total") == 7
    leading[0] = False
    service.sync_once()
    assert one(registry, "podscale_leader") == 0
    assert samples(registry, "podscale_max_replicas") == {}
    assert samples(registry, "podscale_metric_value") == {}


def test_loop_metrics_of_two_services_do_not_share_a_registry() -> None:
    assert LoopMetrics().registry is not LoopMetrics().registry


def test_a_failed_scale_read_and_a_failed_write_are_counted_by_the_hpa_reason() -> None:
    cluster = FakeCluster(replicas={"web": 2}, cpu={"web": "800"}, conflict_on_write=True)
    policies = [target("web"), target("gone")]  # gone: no such Deployment
    service = Service(controller=controller(cluster), load_targets=lambda now: policies, period=15)
    service.sync_once()
    registry = service.metrics.registry
    assert one(registry, "podscale_sync_errors_total", policy="gone") == 1
    assert one(registry, "podscale_sync_errors_total", reason="FailedGetScale") == 1
    assert one(registry, "podscale_sync_errors_total", reason="FailedUpdateScale") == 1
    assert samples(registry, "podscale_metric_errors_total") == {}
