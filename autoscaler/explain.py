"""A decision told in words: what each metric proposed, what limited it, which of
Podscale's paths won, and what happens."""

from __future__ import annotations

from datetime import UTC, datetime

from autoscaler.core.hpa import hpa_decision
from autoscaler.core.model import (
    REACTIVE,
    ROLLOUT_OFF,
    Decision,
    MetricResult,
    MetricSpec,
    Policy,
    Snapshot,
)
from autoscaler.core.paths import (
    ACTIVATED_REASON,
    BURST_REASON,
    DEACTIVATED_REASON,
    TRUSTED_REASON,
    UNTRUSTED_REASON,
    units,
)
from autoscaler.explain_diagnoses import diagnoses
from autoscaler.explain_limits import limit_lines
from autoscaler.explain_metrics import current_text, formula_lines, pod_lines, target_text

# Notices of Podscale's paths (the others are its rules').
_PATH_NOTICES = frozenset(
    {ACTIVATED_REASON, DEACTIVATED_REASON, UNTRUSTED_REASON, TRUSTED_REASON, BURST_REASON}
)


def _metric_lines(spec: MetricSpec, result: MetricResult, snapshot: Snapshot) -> list[str]:
    label = f"{spec.type} {spec.name}".strip()
    if spec.container:
        label += f" (container {spec.container})"
    if result.error:
        return [f"  - {label}: FAILED: {result.error}"]
    if result.proposal is None:
        return [f"  - {label}: not evaluated"]
    head = (
        f"  - {label}: {current_text(result)}, target {target_text(spec)}"
        f" -> {result.proposal} replicas"
    )
    return [head, *(f"      {line}" for line in formula_lines(spec, result, snapshot))]


def explain_decision(
    name: str, snapshot: Snapshot, decision: Decision, *, selector: str = ""
) -> str:
    """A few lines a person can read: inputs, each metric's arithmetic, the pods counted,
    windows and limits, Podscale's paths and rules, the outcome, and diagnoses. The one
    renderer of ``decide --explain`` and ``autoscaler explain`` (``selector``: the
    target's, when known, for the diagnoses)."""
    when = datetime.fromtimestamp(snapshot.now, UTC).isoformat().replace("+00:00", "Z")
    policy = snapshot.policy
    lines = [
        f"{name} at {when}",
        f"  current replicas {snapshot.current_replicas}, "
        f"bounds [{policy.min_replicas}, {policy.max_replicas}], {len(snapshot.pods)} pods "
        f"({sum(1 for p in snapshot.pods if p.ready == 'True')} ready)",
        *pod_lines(snapshot),
        "Metrics:",
    ]
    for spec, result in zip(policy.metrics, decision.metrics, strict=True):
        lines += _metric_lines(spec, result, snapshot)
    if decision.recommendation is not None:
        lines.append(f"Recommendation: {decision.recommendation} (largest valid proposal)")
    limits = limit_lines(snapshot, decision)
    if limits:
        lines += ["Windows and limits:", *(f"  {line}" for line in limits)]
    lines.append("Conditions:")
    lines += [f"  {c.type}={c.status} {c.reason}: {c.message}" for c in decision.conditions]
    lines += _podscale_paths(snapshot, decision)
    lines += _podscale_rules(snapshot, decision)
    if decision.desired_replicas != snapshot.current_replicas:
        lines.append(
            f"Decision: scale {snapshot.current_replicas} -> {decision.desired_replicas}"
            f" ({decision.rescale_reason})"
        )
    elif decision.error:
        lines.append(f"Decision: keep {decision.desired_replicas} replicas: {decision.error}")
    else:
        lines.append(f"Decision: keep {decision.desired_replicas} replicas")
    found = diagnoses(snapshot, decision, selector=selector)
    if found:
        lines += ["Diagnoses:", *(f"  - {text}" for text in found)]
    return "\n".join(lines) + "\n"


def _podscale_rules(snapshot: Snapshot, decision: Decision) -> list[str]:
    """Podscale's own rules (core.rules) that apply to this policy, and what they did."""
    policy, rollout = snapshot.policy, snapshot.rollout
    lines = []
    if policy.rollout_awareness != ROLLOUT_OFF:
        state = (
            "not rolling out"
            if rollout is None
            else f"rolling out{f' ({rollout.message})' if rollout.message else ''}, "
            f"{len(rollout.stable_pods)} stable pods"
        )
        lines.append(f"  rollout {policy.rollout_awareness}: {state}")
    if policy.fallback is not None:
        lines.append(
            f"  fallback: {policy.fallback.replicas} replicas after "
            f"{policy.fallback.failure_threshold} consecutive syncs without a usable metric "
            f"({decision.failed_syncs} so far)"
        )
    if snapshot.external_changes:
        lines.append(
            f"  another writer changed the replicas {len(snapshot.external_changes)} time(s)"
            " recently"
        )
    notice = decision.notice
    if notice is not None and notice.reason not in _PATH_NOTICES:
        lines.append(f"  -> {notice.reason}: {notice.message}")
    return ["Podscale rules:", *lines] if lines else []


def _podscale_paths(snapshot: Snapshot, decision: Decision) -> list[str]:
    """Podscale's paths the policy enables: each one's settings and proposal, in the
    order they run, and which path set the replicas (against the HPA's alone)."""
    if not decision.proposals and decision.path == REACTIVE:
        return []
    settings = _path_settings(snapshot.policy)
    lines = ["Podscale paths:"]
    for proposal in decision.proposals:
        asked = "-" if proposal.replicas is None else _replicas(proposal.replicas)
        label = (
            f"{proposal.path} ({settings[proposal.path]})"
            if proposal.path in settings
            else proposal.path
        )
        lines.append(f"  {label}: {asked}: {proposal.detail}")
    for forecast in snapshot.forecasts:
        metrics = snapshot.policy.metrics
        name = metrics[forecast.metric].name if forecast.metric < len(metrics) else "?"
        error = "not measured" if forecast.error is None else f"{forecast.error:.0%}"
        ahead = forecast.at - snapshot.now
        lines.append(
            f"  forecast of {name}: {units(forecast.total)} in total "
            f"{ahead:+.0f} s from now, recent error {error}"
        )
    notice = decision.notice
    if notice is not None and notice.reason in _PATH_NOTICES:
        lines.append(f"  -> {notice.reason}: {notice.message}")
    alone = hpa_decision(snapshot).desired_replicas
    lines.append(
        f"  path: {decision.path} ({_WINNERS.get(decision.path, decision.path)}), "
        f"{_replicas(decision.desired_replicas)}; the HPA alone: {alone}"
    )
    return lines


def _replicas(count: int) -> str:
    return f"{count} replica" if count == 1 else f"{count} replicas"


_WINNERS = {
    REACTIVE: "the HPA's arithmetic",
    "forecast": "the forecast raised it",
    "burst": "the burst set it",
    "activation": "activation set it",
}


def _path_settings(policy: Policy) -> dict[str, str]:
    """Each enabled path's settings, in a few words."""
    settings = {}
    if policy.activation is not None:
        rule = policy.activation
        settings["activation"] = (
            f'"{rule.metric}" above {units(rule.threshold)}, cooldown {rule.cooldown_seconds:g} s'
        )
    if policy.predictive is not None:
        ahead = policy.predictive
        metric = f'"{ahead.metric}"' if ahead.metric else "every metric"
        settings["forecast"] = (
            f"{metric}, {ahead.lead_seconds:g} s ahead, maxError {ahead.max_error:.0%}"
        )
    if policy.burst is not None:
        burst = policy.burst
        ceiling = burst.max_replicas or policy.max_replicas
        settings["burst"] = (
            f"at {burst.threshold:g}x target, up to {ceiling}, "
            f"stable {burst.stable_window_seconds:g} s"
        )
    return settings
