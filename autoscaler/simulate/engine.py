"""The simulation loop: manual clock, in-memory cluster, and the real ``Controller``.

Every ``step`` seconds of virtual time the controller syncs every target (gather ->
snapshot -> decide -> patch, the code ``autoscaler run`` runs) and the cluster then
serves the load of the next ``step`` seconds with the pods it has. A warm-up (the
trace's first rate, held) lets each policy settle before anything is recorded, so a
report compares policies on the trace rather than on their start from minReplicas.

Runs are deterministic: the clock starts at a fixed virtual epoch, the cluster's
random pod names come from ``seed``, and nothing reads the wall clock. A predictive
policy gets the forecaster ``autoscaler run`` uses; its refits run before the sync at
fixed virtual times (every ten minutes) instead of in a background thread.

Sync phase. A real controller syncs every 15 s from whenever it started, not on the
trace's minute or five-minute boundaries. ``Plan.sync_phase`` (``0 <= phase < step``)
moves every sync that many seconds after the step's start in trace time, so the
first recorded sync is at ``t = phase``. Over each interval the cluster serves the
load's *mean* over that interval (:func:`~autoscaler.sim.load.mean_rate`), so an
interval that straddles a trace step carries each part in proportion, and the metric
the next sync reads mixes the old and the new load as a real rate would. (Sampling
the load at each interval's start instead would move the trace's steps onto the
sync grid, and the phase would change nothing.) :func:`seeded_phase` gives the
phase ``autoscaler simulate`` uses: a pure function of the seed.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

from autoscaler.core.model import (
    Decision,
    Policy,
    Settings,
    Snapshot,
)
from autoscaler.core.paths import metric_ratios
from autoscaler.forecast.forecaster import REFIT_SECONDS, SeasonalForecaster
from autoscaler.loop.activation import ActivationPolls
from autoscaler.loop.controller import Controller
from autoscaler.ports import Target
from autoscaler.sim.clock import ManualClock
from autoscaler.sim.cluster import InMemoryCluster, Workload
from autoscaler.sim.load import LoadShape, ServeResult, mean_rate, standard_normal
from autoscaler.sim.podmodel import PodModel
from autoscaler.simulate.adapters import ClusterEdges

# The virtual time of the first recorded step (2023-11-14T22:13:20Z): fixed, so that
# the same inputs give the same snapshots and the same report.
EPOCH = 1_700_000_000.0

Observer = Callable[[Target, Snapshot, Decision], None]
Progress = Callable[[float], None]


@dataclass(frozen=True, slots=True, kw_only=True)
class Subject:
    """One target to simulate: its policy, its workload's pods and initial replicas."""

    label: str
    target: Target
    model: PodModel = field(default_factory=PodModel)
    kind: str = "Deployment"
    replicas: int = 1
    # The pods' container; by default the one a ContainerResource metric names, else "app".
    container: str | None = None
    # For an hpa-default baseline, the label of the policy it was built from.
    baseline_of: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Plan:
    """What every subject of a run shares: the load (``rate(t)``, ``t`` in seconds since
    the first recorded step), how long, how often the loop syncs, the controller's
    settings, and the latency above which a served request counts as slow."""

    load: LoadShape
    duration: float
    step: float = 15.0
    warmup: float = 600.0
    settings: Settings = field(default_factory=Settings)
    slow_ms: float = 250.0
    seed: int = 0
    sync_phase: float = 0.0
    # Seconds of the load before the recorded range, replayed unrecorded (the pre-roll).
    history: float = 0.0

    def __post_init__(self) -> None:
        if not (self.history >= 0 and math.isfinite(self.history)):
            raise ValueError(f"history must be >= 0 seconds (got {self.history:g})")
        if not 0.0 <= self.sync_phase < self.step:
            raise ValueError(
                f"sync_phase must be in [0, step) = [0, {self.step:g}) (got {self.sync_phase:g})"
            )


def seeded_phase(seed: int, step: float) -> float:
    """A sync phase in ``[0, step)`` that depends on ``seed`` only, in whole 0.1 s.

    The uniform fraction is the standard normal of :func:`standard_normal` through the
    normal CDF, so the same seed gives the same phase on every machine.
    """
    z = standard_normal(seed, 0x5EED)
    fraction = 0.5 * (1.0 + math.erf(z / math.sqrt(2.0)))
    return math.floor(step * fraction * 10) / 10


@dataclass(slots=True)
class Series:
    """One value per recorded step; rates in requests/s over ``[t, t + step)``."""

    t: list[float] = field(default_factory=list)
    offered: list[float] = field(default_factory=list)
    served: list[float] = field(default_factory=list)
    dropped: list[float] = field(default_factory=list)
    slow: list[float] = field(default_factory=list)
    latency_ms: list[float | None] = field(default_factory=list)
    ready: list[int] = field(default_factory=list)
    replicas: list[int] = field(default_factory=list)
    desired: list[int] = field(default_factory=list)
    pods: list[int] = field(default_factory=list)
    ratio: list[float | None] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class ScaleChange:
    """A patch of the scale subresource: at ``t`` (seconds since start), from -> to."""

    t: float
    before: int
    after: int


@dataclass(slots=True)
class RunResult:
    subject: Subject
    series: Series = field(default_factory=Series)
    changes: list[ScaleChange] = field(default_factory=list)


class _IntervalMean:
    """``load`` on the cluster's clock, as the cluster serves it over one interval:
    ``rate(t)`` is the mean of ``load`` over ``[t, t + width)`` in load time
    (``t - origin``). Before ``first`` (the start of the pre-roll, or 0) the rate at
    ``first`` holds: that is the warm-up. ``width`` is the interval the engine is about
    to serve (a sync step, or a shorter activation poll)."""

    __slots__ = ("first", "load", "origin", "width")

    def __init__(self, load: LoadShape, origin: float, width: float, first: float) -> None:
        self.load, self.origin, self.width, self.first = load, origin, width, first

    def rate(self, t: float) -> float:
        first = self.first
        start = t - self.origin
        end = start + self.width
        if end <= first:
            return self.load.rate(first)
        if start >= first:
            return mean_rate(self.load, start, end)
        held = (first - start) * self.load.rate(first)
        return (held + (end - first) * mean_rate(self.load, first, end)) / self.width


@dataclass(slots=True)
class _Interval:
    """What one workload was offered and served since the last sync (requests)."""

    offered: float = 0.0
    served: float = 0.0
    dropped: float = 0.0
    slow: float = 0.0
    seconds: float = 0.0


def simulate(
    plan: Plan,
    subjects: Sequence[Subject],
    *,
    observer: Observer | None = None,
    progress: Progress | None = None,
) -> list[RunResult]:
    """Run ``subjects`` together in one cluster under one controller; one result each.

    The run is, in order: the warm-up (``plan.warmup`` of the first rate, held), the
    pre-roll (``plan.history`` seconds of the load before the recorded range, synced
    exactly as the recorded part so the loop's memory and the forecaster learn from it),
    then the recorded ``plan.duration``. ``observer`` sees every snapshot the controller
    builds and its decision, except the pre-roll's (warm-up included when there is no
    pre-roll); ``progress`` is called with the fraction done, about a hundred times.

    A target at zero replicas with ``activation`` gets the loop's fast path: between
    two syncs its activation metric is read every ``pollSeconds`` of virtual time (a
    sync of that target alone), so it wakes up as soon as the loop would.
    """
    names = [s.target.ref.name for s in subjects]
    if len(set(names)) != len(names):
        raise ValueError("two policies scale the same workload; simulate them with --compare")
    warm = math.ceil(plan.warmup / plan.step)
    pre = math.ceil(plan.history / plan.step)
    steps = max(1, math.ceil(plan.duration / plan.step))
    clock = ManualClock(EPOCH + plan.sync_phase - (warm + pre) * plan.step)
    cluster = InMemoryCluster(clock, seed=plan.seed, histograms=False)
    load = _IntervalMean(plan.load, EPOCH, plan.step, -pre * plan.step)
    for subject, name in zip(subjects, names, strict=True):
        workload = Workload(
            name=name,
            model=subject.model,
            kind=subject.kind,
            namespace=subject.target.namespace,
            selector={"app": name},
            container=subject.container or _container_of(subject.target),
        )
        cluster.add_workload(workload, replicas=subject.replicas, load=load)
    models = {n: s.model for n, s in zip(names, subjects, strict=True)}
    edges = ClusterEdges(cluster, models=models, step=plan.step)
    watching = [pre == 0]

    def watch(target: Target, snapshot: Snapshot, decision: Decision) -> None:
        if watching[0] and observer is not None:
            observer(target, snapshot, decision)

    forecaster = _forecaster(subjects)
    controller = Controller(
        scales=edges,
        pods=edges,
        resource_metrics=edges,
        custom_metrics=edges,
        settings=plan.settings,
        observer=watch if observer is not None else None,
        forecaster=forecaster,
    )
    refit_every = max(1, round(REFIT_SECONDS / plan.step))
    targets = [s.target for s in subjects]
    polls = ActivationPolls()
    position = {s.target.key: i for i, s in enumerate(subjects)}
    results = [RunResult(s) for s in subjects]
    total = warm + pre + steps
    every = max(1, total // 100)
    for index in range(total):
        recording = index >= warm + pre
        if index == warm + pre:
            watching[0] = True
        now = clock.now()
        if forecaster is not None and index % refit_every == 0:
            forecaster.refit(now, budget=len(targets) * 8)  # every due series, at once
        # Counted, not ``now - EPOCH``: at 1.7e9 s a float keeps 0.1 s only roughly.
        t = plan.sync_phase + (index - warm - pre) * plan.step
        outcomes = controller.sync(targets, now=now)
        polls.after_sync(outcomes, at=now)
        if recording:
            bound = [sum(1 for p in cluster.pods(n) if p.bound) for n in names]
            for result, outcome, name in zip(results, outcomes, names, strict=True):
                if outcome.patched and outcome.current is not None:
                    result.changes.append(ScaleChange(t, outcome.current, cluster.replicas(name)))
        served = _serve_interval(
            plan, cluster, controller, load, names, polls, position, results, t, recording
        )
        if recording:
            for result, outcome, name, pods, interval in zip(
                results, outcomes, names, bound, served, strict=True
            ):
                _record(result, cluster, name, t, outcome.decision, pods, interval)
        if progress is not None and (index + 1) % every == 0:
            progress((index + 1) / total)
    return results


def _serve_interval(
    plan: Plan,
    cluster: InMemoryCluster,
    controller: Controller,
    load: _IntervalMean,
    names: Sequence[str],
    polls: ActivationPolls,
    index: Mapping[str, int],
    results: Sequence[RunResult],
    t: float,
    recording: bool,
) -> list[_Interval]:
    """Serve one sync step: in one piece, or, while targets wait at zero, in slices that
    end at each activation read due before the next sync. The schedule is the loop's own
    (:class:`~autoscaler.loop.activation.ActivationPolls`: a target a sync left at zero
    is read ``pollSeconds`` later and every ``pollSeconds`` after each read, across
    syncs, until it wakes up), on virtual time, and each read is ``Controller.poll``."""
    intervals = [_Interval() for _ in names]
    start = cluster.now
    end = start + plan.step
    while True:
        now = cluster.now
        # Reads due now (one due at the sync's own time runs right after the sync, as
        # the loop's poll thread waits for a sync to end).
        for target in polls.due(at=now):
            outcome = controller.poll(target, now=now)
            polls.polled(outcome, at=now)
            i = index[target.key]
            if recording and outcome.patched and outcome.current is not None:
                when = round(t + (now - start), 6)
                results[i].changes.append(
                    ScaleChange(when, outcome.current, cluster.replicas(names[i]))
                )
        if now >= end:
            break
        due = polls.next_due()
        until = due if due is not None and now < due < end else end
        width = until - now
        load.width = width
        cluster.step(width)
        for interval, name in zip(intervals, names, strict=True):
            _add(interval, plan, cluster.totals(name).last, width)
        if until == end:
            break
    load.width = plan.step
    return intervals


def _add(interval: _Interval, plan: Plan, last: ServeResult | None, width: float) -> None:
    assert last is not None  # the cluster has just served
    interval.offered += last.offered_rps * width
    interval.served += last.served_rps * width
    interval.dropped += last.dropped_rps * width
    interval.seconds += width
    latency = last.latency_ms
    if math.isfinite(latency) and latency > 0:
        # Exponential latency with this mean: P(latency > slow_ms) = exp(-slow_ms / mean).
        interval.slow += last.served_rps * math.exp(-plan.slow_ms / latency) * width


def _forecaster(subjects: Sequence[Subject]) -> SeasonalForecaster | None:
    """The forecaster of ``autoscaler run``, when a policy is predictive; its refits run
    in the loop at fixed virtual times (every :data:`REFIT_SECONDS`), not in a thread, so
    a run stays deterministic."""
    if not any(s.target.policy.predictive is not None for s in subjects):
        return None
    return SeasonalForecaster(refit_interval=REFIT_SECONDS)


def _record(
    result: RunResult,
    cluster: InMemoryCluster,
    name: str,
    t: float,
    decision: Decision | None,
    pods: int,
    interval: _Interval,
) -> None:
    last = cluster.totals(name).last
    assert last is not None  # the cluster has just served a step
    series = result.series
    replicas = cluster.replicas(name)
    latency = last.latency_ms if math.isfinite(last.latency_ms) else None
    seconds = interval.seconds
    series.t.append(t)
    series.offered.append(interval.offered / seconds)
    series.served.append(interval.served / seconds)
    series.dropped.append(interval.dropped / seconds)
    series.slow.append(interval.slow / seconds)
    series.latency_ms.append(latency)
    series.ready.append(last.ready_pods)
    series.replicas.append(replicas)
    series.desired.append(replicas if decision is None else decision.desired_replicas)
    series.pods.append(pods)
    policy = result.subject.target.policy
    series.ratio.append(None if decision is None else usage_ratio(policy, decision))


def usage_ratio(policy: Policy, decision: Decision) -> float | None:
    """The largest current/target ratio over the policy's valid metrics (1.0 = on target).

    A Utilization target compares utilizations (90 % of a 60 % target is 1.5), an
    AverageValue target average values, a Value target values.
    """
    return max((r for r in metric_ratios(policy, decision) if r is not None), default=None)


def _container_of(target: Target) -> str:
    """The container a ContainerResource metric reads, so the simulated pods have it."""
    named = (m.container for m in target.policy.metrics if m.type == "ContainerResource")
    return next((c for c in named if c), "app")
