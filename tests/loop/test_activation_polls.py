"""The fast path of scale-to-zero: targets at zero read between syncs (loop.activation),
with the loop's in-memory pieces and a manual clock."""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from test_loop_controller import NOW, FakeCluster

from autoscaler.core.model import (
    EXTERNAL,
    VALUE,
    Activation,
    MetricData,
    MetricSpec,
    MetricTarget,
    Policy,
    Settings,
)
from autoscaler.loop.controller import Controller, Outcome
from autoscaler.loop.service import Service
from autoscaler.ports import Target, TargetRef

QUEUE = MetricSpec(EXTERNAL, "queue", MetricTarget(VALUE, value=10_000))


@dataclass
class Queues:
    """External metric ``queue`` per workload (milli-units), and what each read asked for.

    ``during_read`` runs inside a read (a slow Prometheus: it moves the clock)."""

    values: dict[str, int] = field(default_factory=dict)
    reads: list[list[str]] = field(default_factory=list)
    during_read: list[object] = field(default_factory=list)
    failing: bool = False

    def read_all(self, targets: Sequence[Target], *, now: float) -> Mapping[str, MetricData]:
        self.reads.append([t.name for t in targets])
        for action in self.during_read:
            action()  # type: ignore[operator]
        if self.failing:
            return {t.key: MetricData(errors={"queue": "prometheus is down"}) for t in targets}
        return {t.key: MetricData(external={"queue": (self.values[t.name],)}) for t in targets}


@dataclass
class Clock:
    at: float = 0.0

    def __call__(self) -> float:
        return self.at


def waking(name: str, *, poll: float = 2.0, mode: str = "Enforce") -> Target:
    policy = Policy(
        max_replicas=10,
        min_replicas=0,
        metrics=(QUEUE,),
        activation=Activation("queue", threshold=0, cooldown_seconds=60, poll_seconds=poll),
    )
    return Target("default", name, TargetRef("apps/v1", "Deployment", name), policy, mode=mode)


@dataclass
class Loop:
    cluster: FakeCluster
    queues: Queues
    service: Service
    clock: Clock
    reported: list[list[Outcome]]
    leading: list[bool]


def loop(targets: list[Target], *, replicas: dict[str, int] | None = None) -> Loop:
    cluster = FakeCluster(replicas=replicas or {t.name: 0 for t in targets})
    queues = Queues(values={t.name: 0 for t in targets})
    clock = Clock()
    reported: list[list[Outcome]] = []
    leading = [True]
    controller = Controller(
        scales=cluster, pods=cluster, resource_metrics=cluster, custom_metrics=queues,
        settings=Settings(),
    )  # fmt: skip
    service = Service(
        controller=controller,
        load_targets=lambda now: targets,
        period=15,
        report=lambda outcomes, now: reported.append(outcomes),
        is_leader=lambda: leading[0],
        clock=clock,
        wall_clock=lambda: NOW + clock.at,
    )
    return Loop(cluster, queues, service, clock, reported, leading)


def test_a_target_left_at_zero_is_read_every_poll_seconds_and_only_its_metrics() -> None:
    at_zero, busy = waking("idle"), waking("busy")
    run = loop([at_zero, busy], replicas={"idle": 0, "busy": 3})
    run.queues.values["busy"] = 50_000
    run.service.sync_once()
    assert run.queues.reads == [["idle", "busy"]] and len(run.service.polls) == 1
    run.clock.at = 1.9
    assert run.service.poll_due() == []  # not due yet
    run.clock.at = 2.0
    [outcome] = run.service.poll_due()
    assert run.queues.reads[1:] == [["idle"]]  # only the target at zero, only its metrics
    assert outcome.current == 0 and outcome.desired == 0 and not outcome.patched
    assert run.cluster.writes == [("busy", 6)]  # the sync's, none by the poll
    assert len(run.reported) == 1  # the sync's report only
    assert run.service.polls.next_due() == 4.0


def test_a_reading_above_the_threshold_wakes_the_target_through_the_core_at_once() -> None:
    run = loop([waking("w")])
    run.service.sync_once()
    run.queues.values["w"] = 1_000  # one message: above the threshold of 0
    run.clock.at = 2.0
    [outcome] = run.service.poll_due()
    assert run.cluster.writes == [("w", 1)] and outcome.patched
    assert outcome.decision is not None and outcome.decision.path == "activation"
    assert outcome.note is not None and outcome.note[0] == "Activated"
    assert run.reported[-1] == [outcome]  # status and events see the wake-up
    assert len(run.service.polls) == 0  # it left the fast path: full syncs take 1 -> N
    run.clock.at = 4.0
    assert run.service.poll_due() == []
    assert run.service.controller.histories["default/w"].last_active == NOW + 2.0


def test_a_slow_poll_does_not_pile_up_the_next_one_waits_after_it() -> None:
    run = loop([waking("w")])
    run.service.sync_once()

    def slow() -> None:
        run.clock.at += 10.0  # Prometheus took 10 s to answer

    run.queues.during_read.append(slow)
    run.clock.at = 2.0
    assert len(run.service.poll_due()) == 1
    assert run.clock.at == 12.0 and run.service.polls.next_due() == 14.0
    assert run.service.poll_due() == []  # no catch-up burst of the missed polls


def test_polls_stop_at_the_next_sync_the_longest_overdue_first() -> None:
    first, second = waking("a", poll=2.0), waking("b", poll=3.0)
    run = loop([first, second])
    run.service.sync_once()

    def slow() -> None:
        run.clock.at += 5.0

    run.queues.during_read.append(slow)
    run.clock.at = 3.0
    polled = run.service.poll_due(until=6.0)  # both due; the first poll ends past the sync
    assert [o.target.name for o in polled] == ["a"]
    assert run.service.polls.due(at=run.clock.at)[0].name == "b"


def test_a_replica_that_is_not_the_leader_polls_nothing() -> None:
    run = loop([waking("w")])
    run.service.sync_once()
    run.queues.values["w"] = 1_000
    run.leading[0] = False  # the lease was lost after the sync
    run.clock.at = 2.0
    assert run.service.poll_due() == []
    assert run.cluster.writes == [] and len(run.service.polls) == 0
    assert run.queues.reads == [["w"]]


def test_dry_run_targets_and_targets_above_zero_are_left_to_the_full_syncs() -> None:
    run = loop([waking("shadow", mode="DryRun"), waking("up")], replicas={"shadow": 0, "up": 1})
    run.service.sync_once()
    assert len(run.service.polls) == 0


def test_a_failed_read_between_syncs_is_not_a_failed_sync() -> None:
    run = loop([waking("w")])
    run.service.sync_once()
    run.queues.failing = True
    for step in range(1, 6):
        run.clock.at = 2.0 * step
        [outcome] = run.service.poll_due()
        assert outcome.decision is not None and outcome.decision.error
    assert run.service.controller.failed_syncs["default/w"] == 0
    assert run.reported == [run.reported[0]]  # the next sync reports the failure, not each poll


def test_the_running_loop_wakes_a_target_between_syncs_and_stops_promptly() -> None:
    cluster = FakeCluster(replicas={"w": 0})
    queues = Queues(values={"w": 0})
    controller = Controller(
        scales=cluster, pods=cluster, resource_metrics=cluster, custom_metrics=queues,
        settings=Settings(),
    )  # fmt: skip
    target = waking("w", poll=0.05)
    service = Service(controller=controller, load_targets=lambda now: [target], period=600)
    runner = threading.Thread(target=service.run, daemon=True)
    runner.start()
    try:
        assert service.synced_once.wait(10)
        queues.values["w"] = 1_000
        deadline = time.monotonic() + 10  # far below the 600 s period: a poll woke it
        while cluster.writes != [("w", 1)] and time.monotonic() < deadline:
            time.sleep(0.01)
        assert cluster.writes == [("w", 1)]
    finally:
        service.stop.set()
        runner.join(5)
    assert not runner.is_alive()
    polls = len(queues.reads)
    time.sleep(0.2)
    assert len(queues.reads) == polls  # nothing reads once the loop stopped


def test_a_target_the_sync_itself_wakes_never_enters_the_fast_path() -> None:
    run = loop([waking("w")])
    run.queues.values["w"] = 1_000
    [outcome] = run.service.sync_once()
    assert outcome.patched and run.cluster.writes == [("w", 1)]
    assert len(run.service.polls) == 0


def test_a_wake_up_whose_write_fails_is_tried_again_at_the_next_poll() -> None:
    run = loop([waking("w")])
    run.service.sync_once()
    run.queues.values["w"] = 1_000
    run.cluster.conflict_on_write = True  # the API refuses the write this time
    run.clock.at = 2.0
    [failed] = run.service.poll_due()
    assert failed.error_reason == "FailedUpdateScale" and len(run.service.polls) == 1
    run.cluster.conflict_on_write = False
    run.clock.at = 4.0
    [woken] = run.service.poll_due()
    assert woken.patched and run.cluster.writes == [("w", 1)]
    assert len(run.service.polls) == 0
