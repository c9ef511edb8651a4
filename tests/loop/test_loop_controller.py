"""The controller orchestrates only: gather -> snapshot -> decide -> patch -> record."""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from autoscaler.core import decide
from autoscaler.core.model import (
    RESOURCE,
    UTILIZATION,
    Behavior,
    Container,
    Fallback,
    History,
    MetricSpec,
    MetricTarget,
    Pod,
    PodUsage,
    Policy,
    Recommendation,
    ScalingPolicy,
    ScalingRules,
    Settings,
)
from autoscaler.loop.controller import Controller, Outcome
from autoscaler.ports import Conflict, NotFound, ScaleState, Target, TargetRef

NOW = 1_700_000_000.0
CPU_50 = MetricSpec(RESOURCE, "cpu", MetricTarget(UTILIZATION, average_utilization=50))


@dataclass
class FakeCluster:
    """Scale, pods and metrics of a few Deployments, with a log of writes."""

    replicas: dict[str, int] = field(default_factory=dict)
    cpu: dict[str, str] = field(default_factory=dict)  # workload -> usage per pod (milli)
    writes: list[tuple[str, int]] = field(default_factory=list)
    conflict_on_write: bool = False

    def get_scale(self, namespace: str, ref: TargetRef) -> ScaleState:
        if ref.name not in self.replicas:
            raise NotFound(f"deployments {ref.name} not found")
        n = self.replicas[ref.name]
        return ScaleState(n, n, f"app={ref.name}")

    def get_scale_uncached(self, namespace: str, ref: TargetRef) -> ScaleState:
        return self.get_scale(namespace, ref)

    def set_replicas(self, namespace: str, ref: TargetRef, replicas: int) -> None:
        if self.conflict_on_write:
            raise Conflict("the object has been modified")
        self.writes.append((ref.name, replicas))
        self.replicas[ref.name] = replicas

    def pods(self, namespace: str, selector: str) -> tuple[Pod, ...]:
        name = selector.removeprefix("app=")
        return tuple(
            Pod(
                f"{name}-{i}",
                "Running",
                "True",
                NOW - 3600,
                NOW - 3600,
                False,
                (Container("app", {"cpu": 1000}),),
            )
            for i in range(self.replicas[name])
        )

    namespace_wide = False

    def new_sync(self) -> None:
        pass

    def usage(self, namespace: str, selector: str) -> dict[str, PodUsage]:
        name = selector.removeprefix("app=")
        return {
            p.name: PodUsage(NOW - 5, 30, {"app": {"cpu": int(self.cpu[name])}})
            for p in self.pods(namespace, selector)
        }


def target(name: str, *, mode: str = "Enforce") -> Target:
    return Target(
        "default",
        name,
        TargetRef("apps/v1", "Deployment", name),
        Policy(max_replicas=10, metrics=(CPU_50,)),
        mode=mode,
    )


def controller(cluster: FakeCluster, *, dry_run: bool = False) -> Controller:
    return Controller(
        scales=cluster,
        pods=cluster,
        resource_metrics=cluster,
        custom_metrics=None,
        settings=Settings(),
        dry_run=dry_run,
    )


def test_patches_only_when_the_decision_differs() -> None:
    cluster = FakeCluster(replicas={"hot": 2, "calm": 2}, cpu={"hot": "900", "calm": "500"})
    outcomes = controller(cluster).sync([target("hot"), target("calm")], now=NOW)
    assert cluster.writes == [("hot", 4)]
    assert [o.patched for o in outcomes] == [True, False]
    assert outcomes[0].decision is not None and outcomes[0].decision.rescale_reason


def test_one_failing_target_does_not_stop_the_others() -> None:
    cluster = FakeCluster(replicas={"hot": 2}, cpu={"hot": "900"})
    outcomes = controller(cluster).sync([target("gone"), target("hot")], now=NOW)
    assert outcomes[0].error and "not found" in outcomes[0].error
    assert cluster.writes == [("hot", 4)]


def test_read_builds_the_snapshot_a_sync_decides_from_and_keeps_nothing() -> None:
    """``autoscaler explain``: the same reads as a sync, no decision kept, no write."""
    cluster = FakeCluster(replicas={"hot": 2}, cpu={"hot": "900"})
    loop = controller(cluster)
    snapshot = loop.read(target("hot"), now=NOW)
    assert not isinstance(snapshot, Outcome)
    assert (snapshot.current_replicas, len(snapshot.pods)) == (2, 2)
    assert snapshot.metrics.resource is not None and len(snapshot.metrics.resource) == 2
    assert decide(snapshot).desired_replicas == 4
    assert cluster.writes == [] and loop.histories == {} and loop.failed_syncs == {}
    gone = loop.read(target("gone"), now=NOW)
    assert isinstance(gone, Outcome) and gone.error_reason == "FailedGetScale"


def test_dry_run_never_patches_but_decides() -> None:
    cluster = FakeCluster(replicas={"hot": 2}, cpu={"hot": "900"})
    shadow = controller(cluster).sync([target("hot", mode="DryRun")], now=NOW)
    global_dry = controller(cluster, dry_run=True).sync([target("hot")], now=NOW)
    assert cluster.writes == []
    assert shadow[0].desired == global_dry[0].desired == 4


def test_shadow_mode_counts_no_scale_that_did_not_happen() -> None:
    cluster = FakeCluster(replicas={"hot": 2}, cpu={"hot": "900"})
    one_pod_a_minute = Behavior(scale_up=ScalingRules(policies=(ScalingPolicy("Pods", 1, 60),)))
    shadow = replace(
        target("hot", mode="DryRun"),
        policy=Policy(max_replicas=10, metrics=(CPU_50,), behavior=one_pod_a_minute),
    )
    loop = controller(cluster)
    first = loop.sync([shadow], now=NOW)[0]
    second = loop.sync([shadow], now=NOW + 15)[0]
    assert first.desired == second.desired == 3  # 2 + 1 each time: nothing was added
    assert loop.histories["default/hot"].scale_up_events == ()


def test_shadow_mode_expects_another_writer_and_enforces_at_once_after() -> None:
    cluster = FakeCluster(replicas={"hot": 2}, cpu={"hot": "500"})
    loop = controller(cluster)
    for step, replicas in enumerate([2, 3, 4, 3, 2]):  # the HPA it shadows keeps scaling
        cluster.replicas["hot"] = replicas
        outcome = loop.sync([target("hot", mode="DryRun")], now=NOW + 15 * step)[0]
        assert outcome.note is None or outcome.note[0] != "ExternalScaleChange"
    cluster.cpu["hot"] = "900"
    enforced = loop.sync([target("hot")], now=NOW + 90)[0]  # the HPA is gone: enforce
    assert enforced.error is None and cluster.writes == [("hot", 4)]


def test_a_scale_without_a_selector_computes_nothing_like_the_hpa() -> None:
    cluster = FakeCluster(replicas={"hot": 2}, cpu={"hot": "900"})
    no_selector = NoSelector(cluster)
    loop = Controller(
        scales=no_selector, pods=cluster, resource_metrics=cluster, custom_metrics=None,
        settings=Settings(),
    )  # fmt: skip
    [outcome] = loop.sync([target("hot")], now=NOW)
    assert outcome.error_reason == "InvalidSelector" and cluster.writes == []
    cluster.replicas["hot"] = 20  # above maxReplicas: restoring the bounds needs no metrics
    [outcome] = loop.sync([target("hot")], now=NOW + 15)
    assert outcome.error is None and cluster.writes == [("hot", 10)]


@dataclass
class NoSelector:
    """A scale subresource without status.selector (a CRD without selectorpath)."""

    cluster: FakeCluster

    def get_scale(self, namespace: str, ref: TargetRef) -> ScaleState:
        return replace(self.cluster.get_scale(namespace, ref), selector="")

    def get_scale_uncached(self, namespace: str, ref: TargetRef) -> ScaleState:
        return self.get_scale(namespace, ref)

    def set_replicas(self, namespace: str, ref: TargetRef, replicas: int) -> None:
        self.cluster.set_replicas(namespace, ref, replicas)


def test_history_is_seeded_then_fed_back_so_scale_down_waits_for_the_window() -> None:
    cluster = FakeCluster(replicas={"w": 4}, cpu={"w": "100"})
    loop = controller(cluster)
    for step in range(0, 300, 15):
        loop.sync([target("w")], now=NOW + step)
        assert cluster.replicas["w"] == 4, f"scaled down after {step}s"
    loop.sync([target("w")], now=NOW + 301)
    assert cluster.replicas["w"] == 1


def test_a_takeover_with_an_old_saved_history_still_waits_a_window_to_scale_down() -> None:
    # The status saved the history an hour ago (nothing changed since); its entries
    # are out of every window. A new leader must not scale down at once.
    saved = History(recommendations=(Recommendation(NOW - 3600, 4),))
    cluster = FakeCluster(replicas={"w": 4}, cpu={"w": "100"})
    loop = controller(cluster)
    taken_over = replace(target("w"), saved_history=saved)
    loop.sync([taken_over], now=NOW)
    assert cluster.replicas["w"] == 4
    loop.sync([taken_over], now=NOW + 301)
    assert cluster.replicas["w"] == 1


def test_a_failed_write_keeps_the_recommendation_but_no_scale_event() -> None:
    cluster = FakeCluster(replicas={"hot": 2}, cpu={"hot": "900"}, conflict_on_write=True)
    loop = controller(cluster)
    outcome = loop.sync([target("hot")], now=NOW)[0]
    assert outcome.error is not None and "modified" in outcome.error
    assert outcome.error_reason == "FailedUpdateScale"
    history = loop.histories["default/hot"]
    assert history.scale_up_events == ()
    assert [r.replicas for r in history.recommendations] == [2, 4]


def test_a_removed_policy_forgets_its_history() -> None:
    cluster = FakeCluster(replicas={"a": 2, "b": 2}, cpu={"a": "500", "b": "500"})
    loop = controller(cluster)
    loop.sync([target("a"), target("b")], now=NOW)
    loop.sync([target("a")], now=NOW + 15)
    assert set(loop.histories) == {"default/a"}


def test_source_errors_reach_the_decision() -> None:
    class NoMetricsServer(FakeCluster):
        def usage(self, namespace: str, selector: str) -> dict[str, PodUsage]:
            from autoscaler.ports import LoopError

            raise LoopError("metrics.k8s.io is not served (metrics-server not found)")

    cluster = NoMetricsServer(replicas={"w": 2}, cpu={"w": "900"})
    outcome = controller(cluster).sync([target("w")], now=NOW)[0]
    assert outcome.decision is not None and outcome.decision.error
    assert "metrics-server not found" in outcome.decision.error


def test_another_writer_is_reported_then_not_fought_over() -> None:
    cluster = FakeCluster(replicas={"hot": 2}, cpu={"hot": "900"})
    loop = controller(cluster)
    assert loop.sync([target("hot")], now=NOW)[0].patched  # 2 -> 4, ours
    cluster.replicas["hot"] = 2  # a GitOps sync resets it
    first = loop.sync([target("hot")], now=NOW + 15)[0]
    assert first.note == ("ExternalScaleChange", "replicas changed from 4 to 2 by another writer")
    assert first.patched  # the first time we decide from the new count, as the HPA would
    cluster.replicas["hot"] = 2  # and again
    second = loop.sync([target("hot")], now=NOW + 30)[0]
    assert not second.patched and second.error_reason == "ExternalScaleConflict"
    assert second.error and "not fighting it" in second.error
    assert cluster.replicas["hot"] == 2
    later = loop.sync([target("hot")], now=NOW + 30 + 601)[0]  # the window has passed
    assert later.patched


def test_fallback_replicas_after_consecutive_failed_reads() -> None:
    class NoMetrics(FakeCluster):
        def usage(self, namespace: str, selector: str) -> dict[str, PodUsage]:
            from autoscaler.ports import LoopError

            raise LoopError("metrics-server not found")

    cluster = NoMetrics(replicas={"w": 2}, cpu={"w": "0"})
    loop = controller(cluster)
    plain = target("w")
    policy = replace(plain.policy, fallback=Fallback(5, 3), behavior=Behavior())
    fallback = replace(plain, policy=policy)
    outcomes = [loop.sync([fallback], now=NOW + 15 * i)[0] for i in range(3)]
    assert [o.patched for o in outcomes] == [False, False, True]
    assert cluster.replicas["w"] == 5
    assert outcomes[2].note is not None and outcomes[2].note[0] == "FallbackReplicas"
    assert loop.histories["default/w"].scale_up_events[-1].change == 3


def test_two_policies_on_one_workload_do_not_fight() -> None:
    cluster = FakeCluster(replicas={"hot": 2}, cpu={"hot": "900"})
    twin = replace(target("hot"), name="hot-copy")
    outcomes = controller(cluster).sync([target("hot"), twin], now=NOW)
    assert [o.error_reason for o in outcomes] == ["AmbiguousTarget", "AmbiguousTarget"]
    assert cluster.writes == []


def test_our_own_write_seen_late_by_a_cache_is_not_another_writer() -> None:
    from autoscaler.loop.guards import WriterGuard

    guard = WriterGuard()
    assert guard.observe("w", 2, now=0, version="7").external is None
    guard.wrote("w", 4, read_version="7")
    assert guard.observe("w", 2, now=15, version="7").external is None  # the cache shows v7
    assert guard.observe("w", 4, now=30, version="9").external is None  # our write arrived
    # Another count right after ours: a cache even further behind, or someone else; the
    # guard says so only for a read from the API server itself.
    assert guard.observe("w", 2, now=45, version="12").doubtful
    assert guard.observe("w", 2, now=45, version="12", verified=True).external is not None


def test_outcomes_carry_the_history_kept_and_an_incomplete_list_keeps_memory() -> None:
    cluster = FakeCluster(replicas={"a": 2, "b": 2}, cpu={"a": "500", "b": "500"})
    loop = controller(cluster)
    outcome = loop.sync([target("a"), target("b")], now=NOW)[0]
    assert outcome.history is loop.histories["default/a"]
    loop.sync([target("a")], now=NOW + 15, prune=False)
    assert set(loop.histories) == {"default/a", "default/b"}
    loop.reset()
    assert loop.histories == {}
