"""Which path acted, in the ScalingPolicy status and in events (loop.crs, loop.events)."""

from __future__ import annotations

from dataclasses import replace

from test_policies_through_ports import MemoryEvents, MemoryPolicies, policies

from autoscaler.core.model import Decision, History, Notice, PathProposal, Policy
from autoscaler.loop.controller import Outcome
from autoscaler.loop.crs import status_document, write_status
from autoscaler.loop.events import events_for
from autoscaler.ports import Target, TargetRef

NOW = 1_700_000_000.0
WAKE = PathProposal("activation", 1, '"queue" reads 3, above 0: waking up to 1')


def scale_to_zero_object() -> dict[str, object]:
    return {
        "apiVersion": "podscale.dev/v1alpha1",
        "kind": "ScalingPolicy",
        "metadata": {"name": "w", "namespace": "default", "uid": "u-w", "generation": 1},
        "spec": {
            "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "w"},
            "minReplicas": 0,
            "maxReplicas": 5,
            "metrics": [
                {
                    "type": "External",
                    "external": {
                        "metric": {"name": "queue"},
                        "target": {"type": "Value", "value": "10"},
                    },
                }
            ],
            "activation": {"metric": "queue"},
        },
    }


def decision(
    *, path: str = "activation", proposals: tuple[PathProposal, ...] = (WAKE,)
) -> Decision:
    return Decision(
        desired_replicas=1,
        recommendation=0,
        metrics=(),
        conditions=(),
        history=History(),
        rescale_reason="activation: woke",
        path=path,
        proposals=proposals,
    )


def outcome(target: Target, chosen: Decision, *, patched: bool = True) -> Outcome:
    note = None if chosen.notice is None else (chosen.notice.reason, chosen.notice.message)
    return Outcome(target, 0, chosen, patched=patched, note=note)


TARGET = Target("default", "w", TargetRef("apps/v1", "Deployment", "w"), Policy(5), uid="u-w")


def test_the_status_says_which_path_set_the_replicas_and_what_each_proposed() -> None:
    status = status_document(outcome(TARGET, decision()), {}, now=NOW, generation=1)
    assert status["path"] == "activation"
    assert status["proposals"] == [
        {"path": "activation", "replicas": 1, "detail": '"queue" reads 3, above 0: waking up to 1'}
    ]
    reactive = status_document(
        outcome(TARGET, decision(path="reactive", proposals=())), {}, now=NOW, generation=1
    )
    assert reactive["path"] == "reactive" and reactive["proposals"] == []


def test_a_new_detail_alone_is_no_status_write_a_new_proposal_is() -> None:
    store = MemoryPolicies([scale_to_zero_object()])
    obj = store.stored[0]
    idle = PathProposal("activation", None, '"queue" reads 0; zero allowed in 240 s')
    first = status_document(
        outcome(TARGET, decision(proposals=(idle,)), patched=False), {}, now=NOW, generation=1
    )
    assert write_status(store, obj, first)
    later = replace(idle, detail='"queue" reads 0; zero allowed in 225 s')  # a countdown
    again = status_document(
        outcome(TARGET, decision(proposals=(later,)), patched=False),
        obj["status"],
        now=NOW + 15,
        generation=1,
    )
    assert not write_status(store, obj, again)
    going = PathProposal("activation", 0, "no reading above 0 for 300 s: scaling to zero")
    changed = status_document(
        outcome(TARGET, decision(proposals=(going,)), patched=False),
        obj["status"],
        now=NOW + 30,
        generation=1,
    )
    assert write_status(store, obj, changed) and len(store.writes) == 2


def test_each_paths_notice_is_an_event_a_forecast_switched_off_is_a_warning() -> None:
    kinds = {}
    for reason in ("Activated", "ScaledToZero", "Burst", "ForecastTrusted", "ForecastUntrusted"):
        chosen = replace(decision(), notice=Notice(reason, f"{reason} because"))
        events = events_for(outcome(TARGET, chosen, patched=False))
        [event] = [e for e in events if e.reason == reason]
        assert event.message == f"{reason} because"
        kinds[reason] = event.type
    assert kinds == {
        "Activated": "Normal",
        "ScaledToZero": "Normal",
        "Burst": "Normal",
        "ForecastTrusted": "Normal",
        "ForecastUntrusted": "Warning",
    }


def test_a_second_report_of_the_same_listing_does_not_write_the_same_status_again() -> None:
    # A poll between syncs (loop.activation) reports against the objects of the last
    # listing: the status the sync wrote must count as the object's now.
    store = MemoryPolicies([scale_to_zero_object()])
    events = MemoryEvents()
    loaded = policies(store, events)
    [loaded_target] = loaded.load(now=NOW)
    target = replace(loaded_target, policy=Policy(5, min_replicas=0))  # no metric results here
    stays = decision(proposals=(PathProposal("activation", 0, "staying at zero"),))
    at_zero = replace(stays, desired_replicas=0, rescale_reason="")
    loaded.report([Outcome(target, 0, at_zero)], now=NOW)
    loaded.report([Outcome(target, 0, at_zero)], now=NOW + 2)
    assert len(store.writes) == 1
