"""Podscale's own paths to a replica count, beside the HPA's reactive one (``core.decide``).

Each path is opt-in per policy. The forecast and the burst can only *add* to what the
HPA decided, never take away from it; activation decides the moves to and from zero,
which is the one thing it exists for (at zero it holds zero below its threshold and
wakes to exactly 1 above it, whatever the HPA alone would have asked for):

**Activation** (``minReplicas: 0`` and ``spec.activation``, KEDA's activation). At zero
replicas the HPA has no pods to measure; Podscale holds zero until the activation metric
reads above its threshold, then writes 1 (the HPA's arithmetic takes 1 -> N from the next
sync on). It goes back to zero only once ``cooldownSeconds`` have passed without a
reading above the threshold and the HPA itself asks for one replica or none. The last
active time is kept in the history (and so in the policy status), so a restart does not
cut the cooldown short: a target seen for the first time starts a full cooldown.

**Forecast** (``spec.predictive``). The edge fits the metric's history and hands the core
the *total* it expects about ``leadSeconds`` from now (:class:`MetricForecast`). The
core turns it into replicas with the target the policy has now (a Utilization target by
the pods' mean request) and, while the forecast is trusted, takes the larger of that and
the HPA's recommendation, through the same stabilization and rate limits: it can scale up
earlier, never later and never down. The forecast's recent error arrives with it; past
``maxError`` the forecast switches itself off (a ``ForecastUntrusted`` notice) and back on
once the error is below ``maxError * TRUST_AGAIN`` (``ForecastTrusted``), the state kept in
the history.

**Burst** (``spec.burst``, Knative's panic mode). When a metric reads ``threshold`` times
its target or more, the replicas go at once to what the metrics ask for, past the
scale-up rate limits, up to the burst ceiling; no scale-down until
``stableWindowSeconds`` have passed without a burst.

Worked example (tests/core/cases/podscale_paths.yaml, "forecast-leads"): 4 pods with a
Pods metric target of 100 per pod read 90 each (360 in total): the HPA keeps 4. The
forecast expects 950 in total at now + 60 s, with a 10 % error under a 30 % bound:
ceil(950 / 100) = 10 pods; the default scale-up limit allows max(4 + 4, 2 * 4) = 8 now,
so the forecast path writes 8, and the HPA's own arithmetic would have waited for the load.
"""

from __future__ import annotations

import math
from dataclasses import replace

from autoscaler.core.hpa import ABLE_TO_SCALE, SCALING_LIMITED, normalized
from autoscaler.core.model import (
    ACTIVATION,
    AVERAGE_VALUE,
    BURST,
    CONTAINER_RESOURCE,
    EXTERNAL,
    FORECAST,
    OBJECT,
    PODS,
    RESOURCE,
    UTILIZATION,
    VALUE,
    Condition,
    Decision,
    History,
    MetricForecast,
    MetricSpec,
    Notice,
    PathProposal,
    Policy,
    Recommendation,
    Snapshot,
)
from autoscaler.core.normalize import TOO_MANY, WITHIN_RANGE
from autoscaler.core.pods import pod_requests, ready_running_count
from autoscaler.core.replicas import MetricFailure, resource_samples, target_ratio

ACTIVATED_REASON = "Activated"
DEACTIVATED_REASON = "ScaledToZero"
UNTRUSTED_REASON = "ForecastUntrusted"
TRUSTED_REASON = "ForecastTrusted"
BURST_REASON = "Burst"
# The forecast is trusted again once its error is below maxError times this: a forecast
# hovering at the bound would otherwise switch on and off every sync.
TRUST_AGAIN = 0.8


def activate(snapshot: Snapshot, decision: Decision) -> Decision:
    """Hold zero until the activation metric is above its threshold; back to zero only
    after the cooldown (see the module doc)."""
    policy, history = snapshot.policy, decision.history
    activation = policy.activation
    if activation is None or policy.min_replicas != 0:
        return decision
    now, current = snapshot.now, snapshot.current_replicas
    reading = activation_reading(snapshot)
    threshold = units(activation.threshold)
    if reading is None:
        detail = f'activation metric "{activation.metric}" could not be read'
        active = False
    else:
        active = reading > activation.threshold
        relation = "above" if active else "at or below"
        detail = f'"{activation.metric}" reads {units(reading)}, {relation} {threshold}'
    last_active = now if active else history.last_active
    if last_active is None and current > 0:
        last_active = now  # first sight: a full cooldown before zero
    history = replace(history, last_active=last_active)
    if current == 0:
        if not active or policy.max_replicas < 1:
            proposal = PathProposal(ACTIVATION, 0, f"{detail}: staying at zero")
            held = _set(decision, 0, current, history, "")
            return replace(held, proposals=(*held.proposals, proposal))
        reason = f"activation: {detail}"
        proposal = PathProposal(ACTIVATION, 1, f"{detail}: waking up to 1")
        woken = _set(decision, 1, current, history, reason)
        return replace(
            woken,
            path=ACTIVATION,
            proposals=(*woken.proposals, proposal),
            notice=Notice(ACTIVATED_REASON, reason),
        )
    idle_for = now - last_active if last_active is not None else 0.0
    # A metric that could not be read says nothing about activity: never zero on it.
    cooled = reading is not None and not active and idle_for >= activation.cooldown_seconds
    if cooled and decision.desired_replicas <= 1 and decision.error is None:
        reason = (
            f"activation: no reading above {threshold} for {idle_for:.0f} s "
            f"(cooldown {activation.cooldown_seconds:g} s): scaling to zero"
        )
        proposal = PathProposal(ACTIVATION, 0, reason.removeprefix("activation: "))
        zero = _set(decision, 0, current, history, reason)
        return replace(
            zero,
            path=ACTIVATION,
            proposals=(*zero.proposals, proposal),
            notice=Notice(DEACTIVATED_REASON, reason),
        )
    left = max(0.0, activation.cooldown_seconds - idle_for)
    if reading is None:
        note = f"{detail}: not scaling to zero without a reading"
    elif not active:
        note = f"{detail}; zero allowed in {left:.0f} s"
    else:
        note = detail
    if decision.desired_replicas == 0:
        # The HPA would go to zero (minReplicas 0) before the cooldown: keep one.
        kept = _set(decision, 1, current, history, "")
        return replace(kept, proposals=(*kept.proposals, PathProposal(ACTIVATION, 1, note)))
    proposal = PathProposal(ACTIVATION, None, note)
    return replace(decision, history=history, proposals=(*decision.proposals, proposal))


def activation_reading(snapshot: Snapshot) -> int | None:
    """The activation metric as read (milli-units): an External metric's sum over its
    series, an Object metric's value, a Pods metric's average over the pods that
    reported; None when it was not read or the policy has no such metric."""
    activation = snapshot.policy.activation
    if activation is None:
        return None
    data = snapshot.metrics
    for spec in snapshot.policy.metrics:
        if spec.name != activation.metric:
            continue
        if spec.type == EXTERNAL and spec.name in data.external:
            return sum(data.external[spec.name])
        if spec.type == OBJECT and spec.name in data.object:
            return data.object[spec.name]
        if spec.type == PODS and data.pods.get(spec.name):
            values = data.pods[spec.name]
            return sum(values.values()) // len(values)
    return None


def forecast(snapshot: Snapshot, decision: Decision) -> Decision:
    """The larger of the HPA's and the trusted forecast's replicas (see the module doc)."""
    policy, history = snapshot.policy, decision.history
    predictive = policy.predictive
    if predictive is None:
        return decision
    current = snapshot.current_replicas
    # Only the forecasts that count (the named metric's) are trusted or not.
    errors = [f.error for f in _named(snapshot) if f.error is not None]
    worst = max(errors) if errors else None
    off, notice = history.forecast_off, decision.notice
    if worst is not None and not off and worst > predictive.max_error:
        off = True
        notice = Notice(
            UNTRUSTED_REASON,
            f"forecast switched off: its recent error {worst:.0%} is above maxError "
            f"{predictive.max_error:.0%}; scaling reactively until it is below "
            f"{predictive.max_error * TRUST_AGAIN:.0%}",
        )
    elif worst is not None and off and worst < predictive.max_error * TRUST_AGAIN:
        off = False
        notice = Notice(
            TRUSTED_REASON,
            f"forecast switched on again: its recent error {worst:.0%} is below "
            f"{predictive.max_error * TRUST_AGAIN:.0%}",
        )
    decision = replace(decision, history=replace(history, forecast_off=off), notice=notice)
    if off:
        # Off stays off until a measured error says otherwise (none may come this sync).
        error = "no error measured this sync" if worst is None else f"recent error {worst:.0%}"
        detail = (
            f"off: {error}; back on below {predictive.max_error * TRUST_AGAIN:.0%} "
            f"(maxError {predictive.max_error:.0%})"
        )
        return _propose(decision, PathProposal(FORECAST, None, detail))
    asks = [_forecast_replicas(snapshot, f.metric, f.total) for f in _usable(snapshot)]
    wanted = [(r, text) for r, text in asks if r is not None]
    if not wanted:
        why = next((text for _, text in asks), "no forecast for this sync")
        return _propose(decision, PathProposal(FORECAST, None, why))
    asked, text = max(wanted, key=lambda pair: pair[0])
    replicas = min(asked, policy.max_replicas)
    if replicas < asked:
        text += f", at most maxReplicas {policy.max_replicas}"
    trust = "no error measured yet" if worst is None else f"recent error {worst:.0%}"
    proposal = PathProposal(FORECAST, replicas, f"{text} ({trust})")
    decision = _propose(decision, proposal)
    if decision.error is not None or current == 0 or decision.recommendation is None:
        return decision
    if replicas <= decision.recommendation:
        return decision
    limited = normalized(snapshot, asked)
    history = _recommended(decision.history, snapshot.now, replicas)
    if limited.replicas <= decision.desired_replicas:
        return replace(decision, history=history)
    reason = f"forecast: {text}"
    raised = _set(decision, limited.replicas, current, history, reason)
    if limited.replicas < asked:
        # The forecast asked for more than the bounds or the rate limits allow now:
        # ScalingLimited says which, as it does for the HPA's own proposal.
        capped = Condition(SCALING_LIMITED, "True", limited.reason, limited.message)
        conditions = tuple(capped if c.type == SCALING_LIMITED else c for c in raised.conditions)
        raised = replace(raised, conditions=conditions)
    return replace(raised, path=FORECAST)


def _usable(snapshot: Snapshot) -> list[MetricForecast]:
    """The named metric's forecasts for now or later (a stale one says nothing)."""
    return [f for f in _named(snapshot) if f.at >= snapshot.now]


def _named(snapshot: Snapshot) -> list[MetricForecast]:
    """Forecasts of the metric the policy names (of every metric when it names none)."""
    predictive = snapshot.policy.predictive
    name = predictive.metric if predictive is not None else ""
    metrics = snapshot.policy.metrics
    return [
        f
        for f in snapshot.forecasts
        if 0 <= f.metric < len(metrics) and (not name or metrics[f.metric].name == name)
    ]


def burst(snapshot: Snapshot, decision: Decision) -> Decision:
    """At ``threshold`` times the target, straight to what the metrics ask for (see the
    module doc); no scale-down within the stable window after a burst."""
    policy = snapshot.policy
    rule = policy.burst
    if rule is None:
        return decision
    if decision.error is not None or snapshot.current_replicas == 0:
        why = "no usable metric" if decision.error is not None else "no pods at zero replicas"
        return _propose(decision, PathProposal(BURST, None, f"not evaluated: {why}"))
    now, current, history = snapshot.now, snapshot.current_replicas, decision.history
    peak = max((r for r in metric_ratios(snapshot.policy, decision) if r is not None), default=None)
    bursting = peak is not None and peak >= rule.threshold
    if bursting:
        history = replace(history, last_burst=now)
    ceiling = min(rule.max_replicas or policy.max_replicas, policy.max_replicas)
    last = history.last_burst
    in_hold = last is not None and now - last < rule.stable_window_seconds
    if not in_hold:
        ratio = "no metric read" if peak is None else f"{peak:.2f}x target"
        detail = f"no burst: {ratio}, below {rule.threshold:g}x"
        return _propose(replace(decision, history=history), PathProposal(BURST, None, detail))
    # No scale-down while it lasts (but never above maxReplicas, which may have been
    # lowered since: the HPA's step then asks for maxReplicas).
    desired = max(decision.desired_replicas, min(current, policy.max_replicas))
    asked = decision.recommendation or 0
    if bursting and asked > desired:
        desired = max(desired, min(asked, ceiling))
    assert history.last_burst is not None
    until = history.last_burst + rule.stable_window_seconds
    if bursting:
        detail = (
            f"burst: a metric at {peak:.2f}x its target (threshold {rule.threshold:g}x): "
            f"{asked} asked, up to {ceiling} at once; no scale-down until {until - now:.0f} s "
            "without a burst"
        )
    else:
        detail = f"after a burst: no scale-down for {until - now:.0f} s more"
    proposal = PathProposal(BURST, desired, detail)
    if desired == decision.desired_replicas:
        return _propose(replace(decision, history=history), proposal)
    changed = _set(decision, desired, current, history, detail if desired != current else "")
    if bursting and desired > decision.desired_replicas:
        # Past the HPA's rate limits: ScalingLimited says only what held the burst back.
        if desired >= asked:
            limit = Condition(SCALING_LIMITED, "False", *WITHIN_RANGE)
        elif ceiling == policy.max_replicas:
            limit = Condition(SCALING_LIMITED, "True", *TOO_MANY)
        else:
            message = f"the desired replica count is more than the burst's maxReplicas ({ceiling})"
            limit = Condition(SCALING_LIMITED, "True", TOO_MANY[0], message)
        conditions = tuple(limit if c.type == SCALING_LIMITED else c for c in changed.conditions)
        changed = replace(changed, conditions=conditions)
    return replace(
        _propose(changed, proposal),
        path=BURST,
        notice=Notice(BURST_REASON, detail) if bursting else decision.notice,
    )


def metric_ratios(policy: Policy, decision: Decision) -> list[float | None]:
    """Each metric's current value over its target (None where it was not read)."""
    return [
        None if result.error is not None else target_ratio(spec.target, result.current)
        for spec, result in zip(policy.metrics, decision.metrics, strict=False)
    ]


def metric_total(spec: MetricSpec, snapshot: Snapshot) -> int | None:
    """The metric's total now, in milli-units: what a forecast predicts (None: not read).

    Resource and ContainerResource metrics: the usage summed over the target's pods that
    reported it; Pods: the values summed over the pods that reported; Object and
    External: the value (an External metric's series summed). A total does not depend
    on how many pods share it, so it can be forecast across scale changes.
    """
    data = snapshot.metrics
    if spec.type in (RESOURCE, CONTAINER_RESOURCE):
        try:
            samples = resource_samples(snapshot, spec.name, spec.container)
        except MetricFailure:
            return None
        names = {p.name for p in snapshot.pods if not p.deleting}
        kept = [value for pod, (value, _, _) in samples.items() if pod in names]
        return sum(kept) if kept else None
    if spec.type == PODS:
        values = data.pods.get(spec.name)
        return sum(values.values()) if values else None
    if spec.type == OBJECT:
        return data.object.get(spec.name)
    if spec.type == EXTERNAL and spec.name in data.external:
        return sum(data.external[spec.name])
    return None


def _forecast_replicas(snapshot: Snapshot, index: int, total: int) -> tuple[int | None, str]:
    """The replicas that hold ``total`` at the metric's target, with the arithmetic."""
    spec = snapshot.policy.metrics[index]
    target = spec.target
    amount = units(total)
    if target.type == UTILIZATION and spec.type in (RESOURCE, CONTAINER_RESOURCE):
        running = tuple(p for p in snapshot.pods if not p.deleting and p.phase == "Running")
        try:
            requests = pod_requests(running, resource=spec.name, container=spec.container)
        except ValueError as exc:
            return None, f"forecast of {spec.name}: {exc}"
        if not requests or not target.average_utilization:
            return None, f"forecast of {spec.name}: no pod requests to size it by"
        per_pod = sum(requests.values()) / len(requests) * target.average_utilization / 100
        replicas = math.ceil(total / per_pod) if per_pod > 0 else None
        return replicas, (
            f"{spec.name} forecast {amount} in total: / ({target.average_utilization}% of "
            f"{units(round(per_pod * 100 / target.average_utilization))} per pod) = "
            f"{replicas} pods"
        )
    if target.type == AVERAGE_VALUE and target.average_value:
        replicas = math.ceil(total / target.average_value)
        return replicas, (
            f"{spec.name} forecast {amount} in total: / {units(target.average_value)} per pod "
            f"= {replicas} pods"
        )
    if target.type == VALUE and target.value:
        ready = ready_running_count(snapshot.pods) or snapshot.current_replicas
        replicas = math.ceil(total / target.value * ready)
        return replicas, (
            f"{spec.name} forecast {amount}: / target {units(target.value)} x {ready} ready "
            f"pods = {replicas} pods"
        )
    return None, f"forecast of {spec.name}: its target type cannot size replicas"


def _recommended(history: History, now: float, replicas: int) -> History:
    """This sync's recommendation raised to ``replicas``: the scale-down window then
    holds what the forecast asked for, as it holds the HPA's own recommendations."""
    entries = tuple(
        Recommendation(r.time, max(r.replicas, replicas)) if r.time == now else r
        for r in history.recommendations
    )
    return replace(history, recommendations=entries)


def _set(decision: Decision, desired: int, current: int, history: History, reason: str) -> Decision:
    """The decision with ``desired`` replicas, AbleToScale worded as the HPA words it."""
    if desired == current:
        able_reason, message = "ReadyForNewScale", "recommended size matches current size"
    else:
        able_reason = "SucceededRescale"
        message = f"the HPA controller was able to update the target scale to {desired}"
    able = Condition(ABLE_TO_SCALE, "True", able_reason, message)
    conditions = tuple(able if c.type == ABLE_TO_SCALE else c for c in decision.conditions)
    return replace(
        decision,
        desired_replicas=desired,
        conditions=conditions,
        history=history,
        rescale_reason=reason if desired != current else "",
    )


def _propose(decision: Decision, proposal: PathProposal) -> Decision:
    return replace(decision, proposals=(*decision.proposals, proposal))


def units(milli: int) -> str:
    """Milli-units in the metric's own units, exactly: 56250 -> "56.25", 500 -> "0.5",
    1234500 -> "1,234.5" (a milli-unit is the finest a quantity has here)."""
    whole, rest = divmod(abs(milli), 1000)
    sign = "-" if milli < 0 else ""
    fraction = f".{rest:03d}".rstrip("0") if rest else ""
    return f"{sign}{whole:,}{fraction}"
