"""The HPA API server's validation rules, ported (behaviour, not code).

Source: ``pkg/apis/autoscaling/validation/validation.go`` in kubernetes/kubernetes.
Every rule the API server enforces on a HorizontalPodAutoscaler spec is enforced
here on the *defaulted* spec (as the API server validates after defaulting), with
the same field paths and, where it reads well, the same message text. A policy that
passes here would be accepted by ``kubectl apply`` as an HPA, and vice versa.

Each check returns findings and never stops early: a user fixing a file sees all of
its problems in one run. The rules for ``spec.metrics`` entries are in
:mod:`autoscaler.policy.metric_checks`.
"""

from __future__ import annotations

import re
from typing import Final

from autoscaler.policy.issues import FieldPath, Finding, show
from autoscaler.policy.metric_checks import check_metric, check_reference, not_supported
from autoscaler.policy.model import (
    MODES,
    ROLLOUT_AWARENESS,
    AutoscalingSpec,
    CrossVersionObjectReference,
    HPAScalingRules,
    ObjectMeta,
    ScalingPolicySpec,
)
from autoscaler.policy.quantity import quantity_sign

MAX_PERIOD_SECONDS: Final = 1800
MAX_STABILIZATION_WINDOW_SECONDS: Final = 3600
MAX_LEAD_SECONDS: Final = 3600
MAX_LOOKBACK_SECONDS: Final = 90 * 86_400

_SELECT_POLICIES: Final = ("Disabled", "Max", "Min")
_POLICY_TYPES: Final = ("Percent", "Pods")

_DNS_LABEL = r"[a-z0-9](?:[-a-z0-9]*[a-z0-9])?"
_DNS_LABEL_RE = re.compile(_DNS_LABEL)
_DNS_SUBDOMAIN_RE = re.compile(rf"{_DNS_LABEL}(?:\.{_DNS_LABEL})*")


def names_an_object(namespace: str, name: str) -> bool:
    """Whether ``namespace``/``name`` can name a Kubernetes object (label, subdomain)."""
    return (
        len(namespace) <= 63
        and _DNS_LABEL_RE.fullmatch(namespace) is not None
        and len(name) <= 253
        and _DNS_SUBDOMAIN_RE.fullmatch(name) is not None
    )


def check_metadata(meta: ObjectMeta) -> list[Finding]:
    """Name a DNS-1123 subdomain (as HPA names are), namespace a DNS-1123 label."""
    findings = []
    if not meta.name:
        findings.append(Finding(("metadata", "name"), "required"))
    elif len(meta.name) > 253 or not _DNS_SUBDOMAIN_RE.fullmatch(meta.name):
        findings.append(
            Finding(
                ("metadata", "name"),
                "must be a lowercase RFC 1123 subdomain: lowercase letters, digits, '-' "
                f"and '.', starting and ending with a letter or digit (got {show(meta.name)})",
            )
        )
    if len(meta.namespace) > 63 or not _DNS_LABEL_RE.fullmatch(meta.namespace):
        findings.append(
            Finding(
                ("metadata", "namespace"),
                "must be a lowercase RFC 1123 label: at most 63 lowercase letters, digits "
                f"and '-', starting and ending with a letter or digit (got {show(meta.namespace)})",
            )
        )
    return findings


def check_spec(spec: AutoscalingSpec, *, path: FieldPath = ("spec",)) -> list[Finding]:
    """Every HPA API rule for a spec; ``spec`` must already carry the defaults."""
    findings: list[Finding] = []
    min_replicas = 1 if spec.min_replicas is None else spec.min_replicas
    if min_replicas < 0:
        findings.append(
            Finding(
                (*path, "minReplicas"), f"must be greater than or equal to 0 (got {min_replicas})"
            )
        )
    if spec.max_replicas < 1:
        findings.append(
            Finding((*path, "maxReplicas"), f"must be greater than 0 (got {spec.max_replicas})")
        )
    elif spec.max_replicas < min_replicas:
        findings.append(
            Finding(
                (*path, "maxReplicas"),
                f"must be greater than or equal to minReplicas "
                f"({spec.max_replicas} < {min_replicas})",
            )
        )
    scale_target_ref = getattr(spec, "scale_target_ref", None)
    if isinstance(scale_target_ref, CrossVersionObjectReference):
        findings += check_reference(scale_target_ref, path=(*path, "scaleTargetRef"))
    metrics = spec.metrics or []
    for index, metric in enumerate(metrics):
        findings += check_metric(metric, path=(*path, "metrics", index))
    if min_replicas == 0 and not any(m.type in ("Object", "External") for m in metrics):
        findings.append(
            Finding(
                (*path, "metrics"),
                "must specify at least one Object or External metric to support scaling "
                "to zero replicas",
            )
        )
    if spec.behavior is not None:
        for name, rules in (
            ("scaleUp", spec.behavior.scale_up),
            ("scaleDown", spec.behavior.scale_down),
        ):
            if rules is not None:
                findings += _check_rules(rules, path=(*path, "behavior", name))
    if isinstance(spec, ScalingPolicySpec):
        findings += _check_extensions(spec, path=path)
    return findings


def _check_extensions(spec: ScalingPolicySpec, *, path: FieldPath) -> list[Finding]:
    findings = []
    if spec.mode not in MODES:
        findings.append(Finding((*path, "mode"), not_supported(spec.mode, MODES)))
    if spec.rollout_awareness not in ROLLOUT_AWARENESS:
        findings.append(
            Finding(
                (*path, "rollout", "awareness"),
                not_supported(spec.rollout_awareness, ROLLOUT_AWARENESS),
            )
        )
    if spec.fallback is not None:
        if spec.fallback.replicas < 0:
            findings.append(
                Finding(
                    (*path, "fallback", "replicas"),
                    f"must be greater than or equal to 0 (got {spec.fallback.replicas})",
                )
            )
        if spec.fallback.failure_threshold < 1:
            findings.append(
                Finding(
                    (*path, "fallback", "failureThreshold"),
                    f"must be greater than 0 (got {spec.fallback.failure_threshold})",
                )
            )
    return findings + _check_paths(spec, path=path)


def _check_paths(spec: ScalingPolicySpec, *, path: FieldPath) -> list[Finding]:
    """predictive, burst and activation: ranges, and the metrics they name must exist."""
    findings: list[Finding] = []
    names = {m.name: m.type for m in spec.metrics or [] if m.name}

    def between(field: FieldPath, value: float, low: float, high: float) -> None:
        if not low <= value <= high:
            findings.append(
                Finding((*path, *field), f"must be between {low:g} and {high:g} (got {value:g})")
            )

    if spec.predictive is not None:
        p = spec.predictive
        between(("predictive", "leadSeconds"), p.lead_seconds, 1, MAX_LEAD_SECONDS)
        between(("predictive", "maxError"), p.max_error, 0.01, 100)
        between(("predictive", "lookbackSeconds"), p.lookback_seconds, 3600, MAX_LOOKBACK_SECONDS)
        if p.metric is not None and p.metric not in names:
            findings.append(_unknown_metric((*path, "predictive", "metric"), p.metric, names))
    if spec.burst is not None:
        b = spec.burst
        between(("burst", "threshold"), b.threshold, 1.01, 1000)
        between(
            ("burst", "stableWindowSeconds"),
            b.stable_window_seconds,
            0,
            MAX_STABILIZATION_WINDOW_SECONDS,
        )
        if b.max_replicas is not None and not 1 <= b.max_replicas <= spec.max_replicas:
            findings.append(
                Finding(
                    (*path, "burst", "maxReplicas"),
                    f"must be between 1 and maxReplicas {spec.max_replicas} (got {b.max_replicas})",
                )
            )
    if spec.activation is not None:
        a = spec.activation
        if spec.min_replicas != 0:  # unset is the HPA's 1, where activation never acts
            got = "unset: 1" if spec.min_replicas is None else spec.min_replicas
            findings.append(
                Finding(
                    (*path, "activation"),
                    f"needs minReplicas: 0: activation scales from and to zero (got {got})",
                )
            )
        between(("activation", "cooldownSeconds"), a.cooldown_seconds, 0, 86_400)
        between(("activation", "pollSeconds"), a.poll_seconds, 0.5, 60)
        kind = names.get(a.metric)
        if kind is None:
            findings.append(_unknown_metric((*path, "activation", "metric"), a.metric, names))
        elif kind not in ("External", "Object"):
            findings.append(
                Finding(
                    (*path, "activation", "metric"),
                    f'"{a.metric}" is a {kind} metric: a target at zero has no pods to '
                    "measure; name an External or Object metric",
                )
            )
    return findings


def _unknown_metric(field: FieldPath, name: str, names: dict[str, str]) -> Finding:
    known = ", ".join(f'"{n}"' for n in names) or "none"
    return Finding(field, f'"{name}" is not a metric of spec.metrics (metrics: {known})')


def _check_rules(rules: HPAScalingRules, *, path: FieldPath) -> list[Finding]:
    findings = []
    window = rules.stabilization_window_seconds
    if window is not None and window < 0:
        findings.append(
            Finding(
                (*path, "stabilizationWindowSeconds"),
                f"must be greater than or equal to zero (got {window})",
            )
        )
    if window is not None and window > MAX_STABILIZATION_WINDOW_SECONDS:
        findings.append(
            Finding(
                (*path, "stabilizationWindowSeconds"),
                f"must be less than or equal to {MAX_STABILIZATION_WINDOW_SECONDS} (got {window})",
            )
        )
    if rules.select_policy is not None and rules.select_policy not in _SELECT_POLICIES:
        findings.append(
            Finding((*path, "selectPolicy"), not_supported(rules.select_policy, _SELECT_POLICIES))
        )
    if rules.tolerance is not None and quantity_sign(rules.tolerance) < 0:
        findings.append(
            Finding(
                (*path, "tolerance"),
                f"must be greater than or equal to zero (got {show(rules.tolerance)})",
            )
        )
    if not rules.policies:
        findings.append(Finding((*path, "policies"), "must specify at least one Policy"))
    for index, policy in enumerate(rules.policies or []):
        at = (*path, "policies", index)
        if policy.type not in _POLICY_TYPES:
            findings.append(Finding((*at, "type"), not_supported(policy.type, _POLICY_TYPES)))
        if policy.value <= 0:
            findings.append(
                Finding((*at, "value"), f"must be greater than zero (got {policy.value})")
            )
        if policy.period_seconds <= 0:
            findings.append(
                Finding(
                    (*at, "periodSeconds"),
                    f"must be greater than zero (got {policy.period_seconds})",
                )
            )
        elif policy.period_seconds > MAX_PERIOD_SECONDS:
            findings.append(
                Finding(
                    (*at, "periodSeconds"),
                    f"must be less than or equal to {MAX_PERIOD_SECONDS} "
                    f"(got {policy.period_seconds})",
                )
            )
    return findings
