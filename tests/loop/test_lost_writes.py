"""A write whose answer is lost is resolved, never taken for another writer's change.

The API server may apply a PATCH of ``/scale`` and the connection break before its answer
arrives (a proxy or load balancer cut, a node of the API server restarting). Podscale then
does not know whether its write happened: it re-reads the scale from the API server, and
when even that fails, it recognises its own value at the next read. Before this, the lost
answer counted as a failure, the next read as "another writer", and two such losses froze
scaling for ten minutes (issue 11).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from test_loop_controller import CPU_50, NOW, FakeCluster, controller, target

from autoscaler.core.model import Behavior, Policy, ScalingPolicy, ScalingRules
from autoscaler.loop.guards import WriterGuard
from autoscaler.ports import ScaleState, Target, TargetRef, Unavailable

# At most 4 more pods a minute: the rate limit reads the scale events of earlier writes,
# so a write that happened must be counted even when its answer was lost.
FOUR_A_MINUTE = Behavior(scale_up=ScalingRules(policies=(ScalingPolicy("Pods", 4, 60),)))


def limited(name: str) -> Target:
    policy = Policy(max_replicas=10, metrics=(CPU_50,), behavior=FOUR_A_MINUTE)
    return replace(target(name), policy=policy)


@dataclass
class LossyCluster(FakeCluster):
    """Applies every write, then loses the answer of the first ``lose`` of them.

    ``unreadable`` fresh reads fail after a lost answer (the API is still unreachable).
    """

    lose: int = 0
    unreadable: int = 0
    fresh_reads: list[str] = field(default_factory=list)

    def set_replicas(self, namespace: str, ref: TargetRef, replicas: int) -> None:
        super().set_replicas(namespace, ref, replicas)
        if self.lose:
            self.lose -= 1
            raise Unavailable("PATCH .../scale: Kubernetes API unreachable: connection reset")

    def get_scale_uncached(self, namespace: str, ref: TargetRef) -> ScaleState:
        self.fresh_reads.append(ref.name)
        if self.unreadable:
            self.unreadable -= 1
            raise Unavailable("GET .../scale: Kubernetes API unreachable: connection refused")
        return self.get_scale(namespace, ref)


@dataclass
class UnappliedCluster(LossyCluster):
    """The connection breaks before the write reaches the API server: nothing applied."""

    def set_replicas(self, namespace: str, ref: TargetRef, replicas: int) -> None:
        if self.lose:
            self.lose -= 1
            raise Unavailable("PATCH .../scale: Kubernetes API unreachable: connection reset")
        super().set_replicas(namespace, ref, replicas)


def test_two_lost_answers_within_the_window_are_our_writes_not_a_conflict() -> None:
    cluster = LossyCluster(replicas={"hot": 2}, cpu={"hot": "900"}, lose=2)
    loop = controller(cluster)
    outcomes = [loop.sync([limited("hot")], now=NOW + t)[0] for t in (0, 15, 61)]
    notes = [o.note for o in outcomes]
    assert "ExternalScaleChange" not in str(notes), notes
    assert [o.error_reason for o in outcomes] == ["", "", ""]
    assert [o.patched for o in outcomes] == [True, True, True]
    # 2 -> 4, then 4 more a minute: 6 (not 8), then 8 once the first write left the minute.
    assert cluster.writes == [("hot", 4), ("hot", 6), ("hot", 8)]  # each once: no double
    assert cluster.fresh_reads == ["hot", "hot"]  # one re-read per lost answer


def test_a_lost_answer_and_a_failed_re_read_are_resolved_by_the_next_read() -> None:
    cluster = LossyCluster(replicas={"hot": 2}, cpu={"hot": "900"}, lose=1, unreadable=1)
    loop = controller(cluster)
    first = loop.sync([limited("hot")], now=NOW)[0]
    assert first.error_reason == "FailedUpdateScale"
    assert first.error is not None and "may have been applied" in first.error
    assert loop.histories["default/hot"].scale_up_events == ()  # not known yet
    second = loop.sync([limited("hot")], now=NOW + 15)[0]
    assert second.note is not None  # 4 is the value we wrote: ours, and now known
    assert second.note[0] == "SuccessfulRescale" and "New size: 4" in second.note[1]
    assert second.error is None and second.patched
    # Confirmed late, the first write still counts in the rate limit, at its own time:
    # 6, not the 8 that forgetting it would allow.
    assert cluster.writes == [("hot", 4), ("hot", 6)]
    events = loop.histories["default/hot"].scale_up_events
    assert [(e.time, e.change) for e in events] == [(NOW, 2), (NOW + 15, 2)]


def test_a_lost_write_that_never_arrived_is_written_again() -> None:
    cluster = UnappliedCluster(replicas={"hot": 2}, cpu={"hot": "900"}, lose=1)
    loop = controller(cluster)
    first = loop.sync([target("hot")], now=NOW)[0]
    assert first.error_reason == "FailedUpdateScale" and cluster.replicas["hot"] == 2
    second = loop.sync([target("hot")], now=NOW + 15)[0]
    assert second.note is None and second.patched
    assert cluster.writes == [("hot", 4)]  # no missed write


def test_another_writer_after_a_lost_answer_is_still_reported() -> None:
    cluster = LossyCluster(replicas={"hot": 2}, cpu={"hot": "900"}, lose=1, unreadable=1)
    loop = controller(cluster)
    loop.sync([target("hot")], now=NOW)  # 2 -> 4 applied, unknown to us
    cluster.replicas["hot"] = 3  # then an operator sets 3
    outcome = loop.sync([target("hot")], now=NOW + 15)[0]
    assert outcome.note == ("ExternalScaleChange", "replicas changed from 2 to 3 by another writer")


def test_the_conflict_message_is_the_same_at_every_sync_while_held() -> None:
    cluster = FakeCluster(replicas={"hot": 2}, cpu={"hot": "900"})
    loop = controller(cluster)
    loop.sync([target("hot")], now=NOW)
    for step in (1, 2):
        cluster.replicas["hot"] = 2  # a GitOps sync resets it, twice
        loop.sync([target("hot")], now=NOW + 15 * step)
    held = [loop.sync([target("hot")], now=NOW + 45 + 15 * i)[0] for i in range(3)]
    assert {o.error_reason for o in held} == {"ExternalScaleConflict"}
    assert len({o.error for o in held}) == 1, [o.error for o in held]  # no countdown
    assert held[0].error is not None and "2 changes by another writer" in held[0].error


def test_the_guard_recognises_an_unanswered_write_by_its_value() -> None:
    guard = WriterGuard()
    guard.observe("w", 2, now=0, version="7")
    guard.unanswered("w", 4, before=2, now=1)
    assert guard.observe("w", 2, now=15, version="7").external is None  # not arrived yet
    seen = guard.observe("w", 4, now=30, version="9")
    assert seen.external is None and seen.confirmed is not None
    assert (seen.confirmed.replicas, seen.confirmed.before, seen.confirmed.at) == (4, 2, 1)
    assert guard.observe("w", 4, now=45, version="9").confirmed is None  # once only
    assert guard.observe("w", 2, now=60, version="12", verified=True).external is not None


def test_the_guard_reports_a_different_value_after_an_unanswered_write() -> None:
    guard = WriterGuard()
    guard.observe("w", 2, now=0)
    guard.unanswered("w", 4, before=2, now=1)
    seen = guard.observe("w", 5, now=15)
    assert seen.confirmed is None
    assert seen.external == "replicas changed from 2 to 5 by another writer"


@dataclass
class LaggingCache(FakeCluster):
    """Reads come from a cache that shows the object before our last write, once."""

    version: int = 1
    stale: tuple[int, int] | None = None  # (replicas, version) the cache still shows
    refused: int = 0

    def get_scale(self, namespace: str, ref: TargetRef) -> ScaleState:
        if self.stale is not None:
            (replicas, version), self.stale = self.stale, None
        else:
            replicas, version = self.replicas[ref.name], self.version
        return ScaleState(replicas, replicas, f"app={ref.name}", resource_version=str(version))

    def get_scale_uncached(self, namespace: str, ref: TargetRef) -> ScaleState:
        return ScaleState(self.replicas[ref.name], 0, f"app={ref.name}", str(self.version))

    def set_replicas(self, namespace: str, ref: TargetRef, replicas: int) -> None:
        self.stale = (self.replicas[ref.name], self.version)
        super().set_replicas(namespace, ref, replicas)
        self.version += 1


def test_a_cache_behind_our_write_is_not_written_over() -> None:
    cluster = LaggingCache(replicas={"hot": 2}, cpu={"hot": "900"})
    loop = controller(cluster)
    outcomes = [loop.sync([target("hot")], now=NOW + 15 * i)[0] for i in range(3)]
    # The second sync still reads 2 at the version we wrote over: no write (it would be
    # refused as a conflict), no error, no other writer; the third reads 4 and goes on.
    assert [(o.current, o.patched, o.error_reason, o.note) for o in outcomes] == [
        (2, True, "", None),
        (2, False, "", None),
        (4, True, "", None),
    ]
    assert cluster.writes == [("hot", 4), ("hot", 8)]


@dataclass
class OlderCache(FakeCluster):
    """After our write, the cache shows an even older version than the one we read."""

    reads: list[tuple[int, str]] = field(default_factory=list)  # what the cache shows next

    def get_scale(self, namespace: str, ref: TargetRef) -> ScaleState:
        replicas, version = self.reads.pop(0) if self.reads else (self.replicas[ref.name], "9")
        return ScaleState(replicas, replicas, f"app={ref.name}", resource_version=version)

    def get_scale_uncached(self, namespace: str, ref: TargetRef) -> ScaleState:
        n = self.replicas[ref.name]
        return ScaleState(n, n, f"app={ref.name}", resource_version="9")


def test_a_cache_older_than_our_read_is_checked_not_taken_for_another_writer() -> None:
    cluster = OlderCache(replicas={"hot": 2}, cpu={"hot": "900"}, reads=[(2, "5"), (2, "3")])
    loop = controller(cluster)
    first = loop.sync([target("hot")], now=NOW)[0]  # reads 2 at v5, writes 4
    second = loop.sync([target("hot")], now=NOW + 15)[0]  # the cache shows v3: older
    assert first.patched and second.note is None and not second.patched
    assert second.error is None
    third = loop.sync([target("hot")], now=NOW + 30)[0]  # the cache caught up
    assert third.note is None and third.patched
    assert cluster.writes == [("hot", 4), ("hot", 8)]
