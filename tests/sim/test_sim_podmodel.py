"""A pod's lifecycle: pending -> running -> ready at the configured delays, deletion
after the grace period, and the same answer whatever the step size."""

from __future__ import annotations

import pytest

from autoscaler.sim.clock import ManualClock
from autoscaler.sim.podmodel import (
    PENDING,
    RUNNING,
    PodModel,
    PodState,
    advance,
    bind,
    delete,
    deletion_rank,
    new_pod,
    with_start,
)

MODEL = PodModel(schedule_delay=3.0, ready_delay=7.0, termination_grace=20.0)


def at(pod: PodState, now: float) -> PodState:
    state = advance(pod, now, MODEL)
    assert state is not None
    return state


def test_a_bound_pod_runs_after_schedule_delay_and_turns_ready_after_ready_delay() -> None:
    pod = bind(new_pod(name="p", now=100.0), now=101.0)
    assert at(pod, 103.999).phase == PENDING
    running = at(pod, 104.0)
    assert (running.phase, running.ready, running.running_since) == (RUNNING, False, 104.0)
    assert not at(pod, 110.999).ready
    ready = at(pod, 111.0)
    assert ready.ready and ready.ready_since == 111.0 and ready.start_time == 101.0


def test_an_unbound_pod_stays_pending_forever() -> None:
    pod = new_pod(name="p", now=0.0)
    assert at(pod, 1e9) is pod


def test_states_do_not_depend_on_the_step_size() -> None:
    pod = bind(new_pod(name="p", now=0.0), now=0.0)
    stepped = pod
    for t in range(1, 40):
        stepped = at(stepped, float(t))
    assert stepped == at(pod, 39.0)


def test_deletion_honours_the_grace_period_and_stops_progress() -> None:
    pod = delete(at(bind(new_pod(name="p", now=0.0), now=0.0), 5.0), now=5.0)
    assert pod.phase == RUNNING and not pod.serving
    assert not at(pod, 24.9).ready  # would have been ready at 10 s: terminating pods never are
    assert advance(pod, 24.999, MODEL) is not None
    assert advance(pod, 25.0, MODEL) is None


def test_a_deleted_pod_that_never_reached_a_node_is_gone_at_once() -> None:
    pod = delete(new_pod(name="p", now=0.0), now=1.0)
    assert advance(pod, 1.0, MODEL) is None


def test_deleting_twice_keeps_the_first_deletion_time() -> None:
    pod = delete(delete(new_pod(name="p", now=0.0), now=1.0), now=9.0)
    assert pod.deletion_time == 1.0


def test_replicaset_deletes_unscheduled_then_pending_then_unready_then_newest() -> None:
    unscheduled = new_pod(name="unscheduled", now=0.0)
    pending = bind(new_pod(name="pending", now=0.0), now=0.0)
    unready = at(bind(new_pod(name="unready", now=0.0), now=0.0), 4.0)
    old = at(bind(new_pod(name="old", now=0.0), now=0.0), 50.0)
    new = at(bind(new_pod(name="new", now=20.0), now=20.0), 50.0)
    ranked = sorted([old, new, unready, pending, unscheduled], key=deletion_rank)
    assert [p.name for p in ranked] == ["unscheduled", "pending", "unready", "new", "old"]


@pytest.mark.parametrize("field", ["schedule_delay", "capacity_rps", "cpu_request_milli"])
def test_the_model_refuses_negative_numbers(field: str) -> None:
    with pytest.raises(ValueError, match=field):
        PodModel(**{field: -1})


def test_the_model_refuses_a_limit_below_the_request() -> None:
    with pytest.raises(ValueError, match="cpu_limit_milli"):
        PodModel(cpu_request_milli=500, cpu_limit_milli=250)


def test_manual_clock_moves_forward_only() -> None:
    clock = ManualClock(10.0)
    assert clock.advance(5.0) == 15.0
    clock.set(20.0)
    assert clock.now() == 20.0
    with pytest.raises(ValueError):
        clock.advance(-1.0)
    with pytest.raises(ValueError):
        clock.set(19.0)


@pytest.mark.parametrize(("speed", "ready_after"), [("fast", 12.0), ("slow", 45.0)])
def test_a_start_speed_sets_the_time_from_binding_to_ready(speed: str, ready_after: float) -> None:
    model = with_start(PodModel(capacity_rps=80.0), speed)
    pod = bind(new_pod(name="p", now=0.0), now=100.0)
    before = advance(pod, 100.0 + ready_after - 0.1, model)
    after = advance(pod, 100.0 + ready_after, model)
    assert before is not None and not before.ready
    assert after is not None and after.ready and after.ready_since == 100.0 + ready_after
    assert model.capacity_rps == 80.0  # only the delays change
