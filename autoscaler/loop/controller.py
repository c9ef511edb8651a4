"""One sync of every target: gather -> snapshot -> decide -> write -> record.

The arithmetic is all in ``autoscaler.core``; this module only orchestrates reads and
writes, and keeps each target's history between syncs. A failure of one target (its
workload deleted, its metrics missing, a conflict) is that target's outcome and never
stops the others.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Protocol

from autoscaler.core import decide
from autoscaler.core.model import (
    CONTAINER_RESOURCE,
    HOLD_AND_CAP,
    RESOURCE,
    Decision,
    History,
    MetricData,
    MetricForecast,
    Pod,
    Policy,
    Recommendation,
    Rollout,
    Settings,
    Snapshot,
)
from autoscaler.core.rules import CONFLICT_REASON, FALLBACK_REASON
from autoscaler.loop.guards import Observation, Unanswered, WriterGuard
from autoscaler.loop.scale_events import with_scale_event, without_new_events
from autoscaler.ports import (
    Forecaster,
    LoopError,
    PodSource,
    ResourceMetricSource,
    ScaleClient,
    ScaleState,
    Target,
    Unavailable,
)


class CustomMetricSource(Protocol):
    """Pods/Object/External metrics for many targets at once (so queries can be shared)."""

    def read_all(self, targets: Sequence[Target], *, now: float) -> Mapping[str, MetricData]: ...


@dataclass(frozen=True, slots=True)
class Outcome:
    """What one sync did for one target."""

    target: Target
    current: int | None = None
    decision: Decision | None = None
    patched: bool = False
    error: str | None = None
    # The HPA-style reason for ``error`` (FailedGetScale, FailedUpdateScale, ...).
    error_reason: str = ""
    # (reason, message) worth an event that is not an error: another writer changed
    # the replicas (ExternalScaleChange), fallback replicas were applied, a rollout
    # holds the replicas (RolloutInProgress), or a write whose answer was lost turned
    # out applied (SuccessfulRescale).
    note: tuple[str, str] | None = None
    # The history the controller kept after this sync (without scale events that did
    # not happen), which is what a restart must continue from.
    history: History | None = None
    # What the decision was made from (``autoscaler run --once`` prints it for replays).
    snapshot: Snapshot | None = None

    @property
    def desired(self) -> int | None:
        return None if self.decision is None else self.decision.desired_replicas


@dataclass(frozen=True, slots=True)
class Gathered:
    """What one sync read of a target before deciding."""

    scale: ScaleState
    pods: tuple[Pod, ...]
    metrics: MetricData
    seen: Observation  # what the replicas say about other writers since the last sync
    shadow: bool  # a dry run: decide and report, never write


class Controller:
    """Decides and scales a set of targets; holds their histories between syncs."""

    def __init__(
        self,
        *,
        scales: ScaleClient,
        pods: PodSource,
        resource_metrics: ResourceMetricSource | None,
        custom_metrics: CustomMetricSource | None,
        settings: Settings,
        dry_run: bool = False,
        can_write: Callable[[], bool] = lambda: True,
        observer: Callable[[Target, Snapshot, Decision], None] | None = None,
        forecaster: Forecaster | None = None,
    ) -> None:
        self.scales = scales
        self.pods = pods
        self.resource_metrics = resource_metrics
        self.custom_metrics = custom_metrics
        self.settings = settings
        self.dry_run = dry_run
        # Asked right before every write: a replica that lost its lease mid-sync stops.
        self.can_write = can_write
        # Sees every snapshot and its decision (the simulator records them for replays).
        self.observer = observer
        # Forecasts for predictive policies (None: the forecast path proposes nothing).
        self.forecaster = forecaster
        self.histories: dict[str, History] = {}
        self.writers = WriterGuard()
        # Consecutive syncs without a usable metric, as the last decision counted them.
        self.failed_syncs: dict[str, int] = {}

    def sync(self, targets: Sequence[Target], *, now: float, prune: bool = True) -> list[Outcome]:
        """Sync every target; ``prune=False`` when the list may be incomplete (a failed
        listing), so the memory of targets missing from it is kept for the next sync."""
        if self.resource_metrics is not None:  # per-sync caches of a source start afresh
            self.resource_metrics.new_sync()
        custom: Mapping[str, MetricData] = {}
        if self.custom_metrics is not None and targets:
            custom = self.custom_metrics.read_all(targets, now=now)
        workloads = Counter((t.namespace, t.ref) for t in targets)
        outcomes = []
        for t in targets:
            if workloads[(t.namespace, t.ref)] > 1:
                # Like the HPA's AmbiguousSelector: two policies would fight over it.
                outcomes.append(
                    Outcome(
                        t,
                        error_reason="AmbiguousTarget",
                        error=(
                            f"{workloads[(t.namespace, t.ref)]} policies scale {t.ref} in "
                            f"{t.namespace}: not scaling it until only one does"
                        ),
                    )
                )
                continue
            outcome = self.sync_target(t, now=now, custom=custom.get(t.key))
            outcomes.append(replace(outcome, history=self.histories.get(t.key)))
        if prune:
            live = {t.key for t in targets}
            for key in [k for k in self.histories if k not in live]:
                del self.histories[key]  # a policy that went away takes its history along
            self.writers.forget(live)
            self.failed_syncs = {k: n for k, n in self.failed_syncs.items() if k in live}
            if self.forecaster is not None:
                self.forecaster.forget(live)
        return outcomes

    def reset(self) -> None:
        """Forget every target's memory (a replica that lost the lease: the next leader's
        status history is the truth when this one leads again)."""
        self.histories.clear()
        self.writers.forget(set())
        self.failed_syncs.clear()

    def poll(self, target: Target, *, now: float) -> Outcome:
        """One target between full syncs (at zero, waiting for its activation metric:
        ``loop.activation``): the same gather -> decide -> write -> record as a sync,
        reading only this target's metrics. A failed read between syncs does not count
        toward ``fallback``, which counts failed syncs."""
        custom = None
        if self.custom_metrics is not None:
            custom = self.custom_metrics.read_all([target], now=now).get(target.key)
        failed = self.failed_syncs.get(target.key, 0)
        outcome = self.sync_target(target, now=now, custom=custom)
        if outcome.decision is not None and outcome.decision.error is not None:
            self.failed_syncs[target.key] = failed
        return replace(outcome, history=self.histories.get(target.key))

    def read(self, target: Target, *, now: float) -> Snapshot | Outcome:
        """What one sync would decide this target from, and nothing else: no decision,
        no write, no history kept (``autoscaler explain``). An Outcome instead when the
        scale or the pods cannot be read, as a sync would report it."""
        if self.resource_metrics is not None:
            self.resource_metrics.new_sync()
        custom = None
        if self.custom_metrics is not None:
            custom = self.custom_metrics.read_all([target], now=now).get(target.key)
        gathered = self._gather(target, now=now, custom=custom)
        if isinstance(gathered, Outcome):
            return gathered
        return self._snapshot(target, gathered, now=now)

    def sync_target(
        self, target: Target, *, now: float, custom: MetricData | None = None
    ) -> Outcome:
        """One target: gather -> snapshot -> decide -> write -> record."""
        gathered = self._gather(target, now=now, custom=custom)
        if isinstance(gathered, Outcome):
            return gathered  # the scale or the pods could not be read: nothing to decide
        snapshot = self._snapshot(target, gathered, now=now)
        decision = self._decide(target, snapshot)
        outcome = Outcome(
            target,
            gathered.scale.replicas,
            decision,
            note=_note(decision, gathered.seen),
            snapshot=snapshot,
        )
        outcome = self._write(outcome, gathered, now=now)
        self._record(outcome, before=snapshot.history)
        return outcome

    def _gather(
        self, target: Target, *, now: float, custom: MetricData | None
    ) -> Gathered | Outcome:
        """Read the scale, the pods and the metrics, and what other writers did since the
        last sync; an Outcome instead when the scale or the pods cannot be read."""
        try:
            scale = self.scales.get_scale(target.namespace, target.ref)
        except LoopError as exc:
            return Outcome(
                target,
                error_reason="FailedGetScale",
                error=f"cannot read the scale of {target.ref}: {exc}",
            )
        if not scale.selector and _reads_metrics(target.policy, scale.replicas):
            # The HPA's computeReplicasForMetrics: no selector, no pods to measure.
            return Outcome(
                target,
                current=scale.replicas,
                error_reason="InvalidSelector",
                error="the target's scale is missing a selector (status.selector)",
            )
        try:
            pods = self.pods.pods(target.namespace, scale.selector) if scale.selector else ()
        except LoopError as exc:
            return Outcome(
                target,
                current=scale.replicas,
                error_reason="FailedGetPods",
                error=f"cannot list pods: {exc}",
            )
        names = {p.name for p in pods}
        metrics = self._metric_data(target, scale.selector, names, custom)
        shadow = self.dry_run or target.mode == "DryRun"
        return Gathered(scale, pods, metrics, self._observe(target, scale, shadow, now=now), shadow)

    def _observe(
        self, target: Target, scale: ScaleState, shadow: bool, *, now: float
    ) -> Observation:
        """What the replicas say about other writers and about our own unanswered write."""
        if shadow:
            # Another writer (the HPA being compared) is expected, not news, and must not
            # hold back the first writes once the policy enforces.
            self.writers.ignore(target.key)
            return Observation()
        seen = self.writers.observe(
            target.key, scale.replicas, now=now, version=scale.resource_version
        )
        return self._verify(target, scale, now=now) if seen.doubtful else seen

    def _snapshot(self, target: Target, gathered: Gathered, *, now: float) -> Snapshot:
        """Everything the core decides from, with the history this process kept."""
        scale, seen = gathered.scale, gathered.seen
        history = self.histories.get(target.key)
        if history is not None and seen.confirmed is not None:
            history = with_scale_event(history, seen.confirmed)
        if history is None:
            # First sight in this process (a start, a takeover): seed the current replicas
            # like the HPA's recordInitialRecommendation, so that nothing scales down
            # within a window of it, and keep what the status saved before. The saved
            # entries may be old (the status is written when something changes), so
            # they alone could let a new leader scale down at once.
            saved = target.saved_history or History()
            seed = Recommendation(now, scale.replicas)
            history = replace(saved, recommendations=(*saved.recommendations, seed))
        forecasts: tuple[MetricForecast, ...] = ()
        if self.forecaster is not None and target.policy.predictive is not None:
            forecasts = self.forecaster.forecasts(target, now=now)
        return Snapshot(
            now=now,
            policy=target.policy,
            current_replicas=scale.replicas,
            status_replicas=scale.status_replicas,
            pods=gathered.pods,
            metrics=gathered.metrics,
            history=history,
            settings=self.settings,
            rollout=self._rollout(target, scale),
            failed_syncs=self.failed_syncs.get(target.key, 0),
            external_changes=self.writers.changes(target.key, now=now),
            forecasts=forecasts,
        )

    def _decide(self, target: Target, snapshot: Snapshot) -> Decision:
        """The core's decision; its count of failed reads is kept for the next sync."""
        decision = decide(snapshot)
        if self.observer is not None:
            self.observer(target, snapshot, decision)
        if self.forecaster is not None and target.policy.predictive is not None:
            self.forecaster.observe(target, snapshot, decision)
        self.failed_syncs[target.key] = decision.failed_syncs
        return decision

    def _write(self, outcome: Outcome, gathered: Gathered, *, now: float) -> Outcome:
        """Set the replicas the decision asks for, unless there is a reason not to: the
        core holds them (another writer), the same count, a dry run, a cache behind our
        last write, or a lost lease."""
        target, decision, scale = outcome.target, outcome.decision, gathered.scale
        assert decision is not None
        if decision.notice is not None and decision.notice.reason == CONFLICT_REASON:
            # The core holds the replicas: another writer keeps changing them.
            return replace(outcome, error_reason=CONFLICT_REASON, error=decision.notice.message)
        if decision.desired_replicas == scale.replicas or gathered.shadow:
            return outcome
        if gathered.seen.stale:
            # The cache has not seen our last write yet: a write based on it would be
            # refused, and the next sync reads the count we wrote.
            return outcome
        if not self.can_write():
            return replace(outcome, error_reason="NotLeader", error="not the leader: not scaling")
        try:
            self.scales.set_replicas(target.namespace, target.ref, decision.desired_replicas)
        except Unavailable as exc:
            return self._lost_answer(outcome, scale, exc, now=now)
        except LoopError as exc:
            return replace(outcome, error_reason="FailedUpdateScale", error=f"cannot scale: {exc}")
        return self._applied(outcome, scale)

    def _record(self, outcome: Outcome, *, before: History) -> None:
        """Keep the history the next sync continues from: the decision's, without the
        scale event when the replicas were to change and did not (a dry run, a held or
        failed write: later rate limits must not count it). A replica that lost the
        lease keeps nothing: the next leader's status history is the truth."""
        decision = outcome.decision
        assert decision is not None
        key = outcome.target.key
        if outcome.patched or decision.desired_replicas == outcome.current:
            self.histories[key] = decision.history
        elif outcome.error_reason != "NotLeader":
            self.histories[key] = without_new_events(decision, before)

    def _verify(self, target: Target, scale: ScaleState, *, now: float) -> Observation:
        """A change seen right after our own write, checked with the API server: another
        writer's, or a cache behind our write (then ``stale``: no write, no report)."""
        try:
            fresh = self.scales.get_scale_uncached(target.namespace, target.ref)
        except LoopError:
            return Observation(stale=True)  # cannot tell yet: the next sync asks again
        seen = self.writers.observe(
            target.key, fresh.replicas, now=now, version=fresh.resource_version, verified=True
        )
        if seen.external is None and seen.confirmed is None and fresh.replicas != scale.replicas:
            return Observation(stale=True)  # the API server has our count: the cache lags
        return seen

    def _applied(self, outcome: Outcome, scale: ScaleState) -> Outcome:
        assert outcome.decision is not None
        key = outcome.target.key
        self.writers.wrote(
            key, outcome.decision.desired_replicas, read_version=scale.resource_version
        )
        return replace(outcome, patched=True)

    def _lost_answer(
        self, outcome: Outcome, scale: ScaleState, exc: LoopError, *, now: float
    ) -> Outcome:
        """A write without a clear answer (the connection broke, the API was overloaded):
        it may have been applied. A fresh read from the API server tells; if that fails
        too, the guard recognises the value we asked for when it shows up. Taking the
        write for failed would make our own change look like another writer's at the
        next sync (issue 11), and counting it as done would skip a missed write."""
        target, decision = outcome.target, outcome.decision
        assert decision is not None
        failed = replace(outcome, error_reason="FailedUpdateScale", error=f"cannot scale: {exc}")
        try:
            fresh = self.scales.get_scale_uncached(target.namespace, target.ref)
        except LoopError:
            self.writers.unanswered(
                target.key,
                decision.desired_replicas,
                before=scale.replicas,
                now=now,
                reason=decision.rescale_reason,
            )
            return replace(
                failed,
                error=f"{failed.error}; it may have been applied: the next read will tell",
            )
        if fresh.replicas == decision.desired_replicas:
            return self._applied(outcome, scale)
        return failed

    def _rollout(self, target: Target, scale: ScaleState) -> Rollout | None:
        """The rollout a HoldAndCap policy's decision needs: its stable revision's pods."""
        rollout = scale.rollout
        if target.policy.rollout_awareness != HOLD_AND_CAP or rollout is None:
            return None
        if not rollout.in_progress:
            return None
        selector = rollout.stable_selector(scale.selector)
        try:
            stable = self.pods.pods(target.namespace, selector) if selector else ()
        except LoopError:
            stable = ()  # no stable pods to measure: the cap is the current replicas
        return Rollout(str(target.ref), rollout.message, stable)

    def _metric_data(
        self, target: Target, selector: str, pods: set[str], custom: MetricData | None
    ) -> MetricData:
        """Resource samples for the target's selector, custom values for its own pods only."""
        data = custom or MetricData()
        # The custom metrics API answers for the target's selector only; a batched query
        # returns every pod of the namespace, so keep those of this target.
        per_pod = {
            name: {p: v for p, v in values.items() if p in pods}
            for name, values in data.pods.items()
        }
        errors = dict(data.errors)
        resource = None
        wants_resource = any(
            m.type in (RESOURCE, CONTAINER_RESOURCE) for m in target.policy.metrics
        )
        if wants_resource and self.resource_metrics is not None and selector:
            try:
                resource = self.resource_metrics.usage(target.namespace, selector)
                if self.resource_metrics.namespace_wide:
                    # Only the target's pods. (A selector-based source such as
                    # metrics.k8s.io is used as is: the HPA counts its extra samples too.)
                    resource = {pod: s for pod, s in resource.items() if pod in pods}
            except LoopError as exc:
                errors["resource"] = str(exc)
        return MetricData(
            resource=resource,
            pods=per_pod,
            object=data.object,
            external=data.external,
            errors=errors,
        )


def _reads_metrics(policy: Policy, current: int) -> bool:
    """Whether the HPA would compute metrics now (not while it only restores the bounds)."""
    if current == 0 and policy.min_replicas != 0:
        return False
    return policy.min_replicas <= current <= policy.max_replicas


def _note(decision: Decision, seen: Observation) -> tuple[str, str] | None:
    """The one non-error news of a sync worth an event: the decision's own notice
    (fallback, rollout hold), else another writer's change, else a lost write found
    applied. Fallback replicas are news even when another writer moved the count."""
    notice = decision.notice
    if notice is not None and notice.reason == CONFLICT_REASON:
        notice = None  # reported as the sync's error (loop.events), not as news
    note = None if notice is None else (notice.reason, notice.message)
    if seen.external is not None and (notice is None or notice.reason != FALLBACK_REASON):
        note = ("ExternalScaleChange", seen.external)
    if note is None and seen.confirmed is not None:
        note = _confirmed_note(seen.confirmed)
    return note


def _confirmed_note(write: Unanswered) -> tuple[str, str]:
    """The SuccessfulRescale of a write whose answer was lost, once a read shows it."""
    message = (
        f"New size: {write.replicas}; reason: {write.reason} (the answer to this write "
        f"was lost; a later read shows it applied at {_utc(write.at)})"
    )
    return "SuccessfulRescale", message


def _utc(timestamp: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(timestamp))
