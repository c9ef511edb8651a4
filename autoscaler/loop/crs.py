"""ScalingPolicy custom resources as targets, and their status written back.

Each sync lists the policies (one request for all namespaces), validates every object
with the same rules as ``autoscaler validate``, and turns the valid ones into targets.
A broken object is reported on itself (a Warning event and a ``ScalingActive=False,
InvalidPolicy`` condition), never stopping the others. The status mirrors the HPA's
(``currentReplicas``, ``desiredReplicas``, ``currentMetrics``, ``lastScaleTime``,
conditions) plus ``history``, which lets a restarted or newly elected replica keep the
stabilization windows and rate limits where the previous one left them, and ``path`` and
``proposals``: which of Podscale's paths set the replicas (reactive, forecast, burst,
activation) and what each path the policy enables proposed, with its numbers.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

from autoscaler.core.model import Decision, History, MetricResult, MetricSpec
from autoscaler.core.quantity import format_milli
from autoscaler.documents import (
    DocumentError,
    history_from_document,
    history_to_document,
    policy_from_spec,
)
from autoscaler.loop.controller import Outcome
from autoscaler.policy.document import to_policy
from autoscaler.policy.issues import format_path
from autoscaler.policy.model import API_VERSION as GROUP_VERSION
from autoscaler.ports import JSON, LoopError, PolicyStore, Target, TargetRef
from autoscaler.status_text import targets_text


def now_rfc3339(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(slots=True)
class PolicyObjects:
    """The valid targets of one listing, and the invalid objects with their problem."""

    targets: list[Target] = field(default_factory=list)
    invalid: list[tuple[JSON, str]] = field(default_factory=list)
    objects: dict[str, JSON] = field(default_factory=dict)  # target key -> object


Parsed = Target | str  # a valid policy's target, or the problem that makes it invalid


def policies_from_objects(
    objects: list[JSON], *, cache: dict[tuple[str, int], Parsed] | None = None
) -> PolicyObjects:
    """Validate ScalingPolicy objects; ``cache`` skips objects whose spec is unchanged.

    The cache key is (uid, generation): a status write does not bump the generation, so
    only a change of spec is validated again.
    """
    found = PolicyObjects()
    seen: set[tuple[str, int]] = set()
    for obj in objects:
        meta = obj.get("metadata") or {}
        key = (str(meta.get("uid", "")), int(meta.get("generation") or 0))
        seen.add(key)
        parsed = cache.get(key) if cache is not None and key[0] else None
        if parsed is None:
            parsed = _parse(obj)
            if cache is not None and key[0]:
                cache[key] = parsed
        elif isinstance(parsed, Target):
            # The spec is unchanged, but the status history is whatever was written last
            # (possibly by another replica while this one was a standby).
            parsed = replace(parsed, saved_history=_saved_history(obj))
        if isinstance(parsed, str):
            found.invalid.append((obj, parsed))
            continue
        found.targets.append(parsed)
        found.objects[parsed.key] = obj
    if cache is not None:
        for gone in [k for k in cache if k not in seen]:
            del cache[gone]  # deleted policies and old generations
    return found


def _saved_history(obj: JSON) -> History | None:
    saved = (obj.get("status") or {}).get("history")
    try:
        return None if saved is None else history_from_document(saved, "status.history")
    except DocumentError:
        return None


def _parse(obj: JSON) -> Parsed:
    meta = obj.get("metadata") or {}
    document = {
        "apiVersion": obj.get("apiVersion", GROUP_VERSION),
        "kind": obj.get("kind", "ScalingPolicy"),
        "metadata": {
            k: meta[k] for k in ("name", "namespace", "labels", "annotations") if k in meta
        },
        "spec": obj.get("spec"),
    }
    parsed = to_policy(document)
    if isinstance(parsed, list):
        return "; ".join(
            f"{format_path(f.path)}: {f.message}" if f.path else f.message for f in parsed
        )
    policy, _ = parsed
    spec, ref = policy.spec, policy.spec.scale_target_ref
    key = f"{policy.metadata.namespace}/{policy.metadata.name}"
    try:
        core_policy = policy_from_spec(spec.decision_spec(), f"{key}: spec")
        saved = (obj.get("status") or {}).get("history")
        history = None if saved is None else history_from_document(saved, "status.history")
    except DocumentError as exc:
        return str(exc)
    return Target(
        namespace=policy.metadata.namespace,
        name=policy.metadata.name,
        ref=TargetRef(ref.api_version or "apps/v1", ref.kind, ref.name),
        policy=core_policy,
        mode=spec.mode,
        source=f"ScalingPolicy {key}",
        saved_history=history,
        uid=meta.get("uid"),
        metric_specs=tuple(spec.with_defaults().metrics or ()),
    )


def metric_status(spec: MetricSpec, result: MetricResult) -> JSON | None:
    """An HPA ``MetricStatus`` for one metric, or None when it has no current value."""
    current = result.current
    if current is None:
        return None
    value: JSON = {}
    if current.average_utilization is not None:
        value["averageUtilization"] = current.average_utilization
    if current.average_value is not None:
        value["averageValue"] = format_milli(current.average_value)
    if current.value is not None:
        value["value"] = format_milli(current.value)
    if spec.type == "Resource":
        return {"type": "Resource", "resource": {"name": spec.name, "current": value}}
    if spec.type == "ContainerResource":
        return {
            "type": "ContainerResource",
            "containerResource": {"name": spec.name, "container": spec.container, "current": value},
        }
    key = {"Pods": "pods", "Object": "object", "External": "external"}[spec.type]
    return {"type": spec.type, key: {"metric": {"name": spec.name}, "current": value}}


def status_document(
    outcome: Outcome, previous: JSON, *, now: float, generation: int | None
) -> JSON:
    """The status to write for one sync, keeping transition times of unchanged conditions."""
    status: JSON = {"observedGeneration": generation}
    decision: Decision | None = outcome.decision
    old_conditions = {c.get("type"): c for c in previous.get("conditions") or []}
    conditions: list[JSON] = []
    if decision is not None:
        status["currentReplicas"] = outcome.current
        status["desiredReplicas"] = decision.desired_replicas
        metrics = [
            metric_status(s, r)
            for s, r in zip(outcome.target.policy.metrics, decision.metrics, strict=True)
        ]
        status["currentMetrics"] = [m for m in metrics if m is not None]
        written = [
            m.model_dump(by_alias=True, exclude_none=True) for m in outcome.target.metric_specs
        ]
        status["targets"] = targets_text(written, status["currentMetrics"])
        status["history"] = history_to_document(outcome.history or decision.history)
        status["path"] = decision.path
        status["proposals"] = [
            {"path": p.path, "replicas": p.replicas, "detail": p.detail} for p in decision.proposals
        ]
        conditions = [
            {"type": c.type, "status": c.status, "reason": c.reason, "message": c.message}
            for c in decision.conditions
        ]
    if outcome.error:
        reason = outcome.error_reason or "FailedUpdateScale"
        kind = "ScalingActive" if reason in _CANNOT_COMPUTE else "AbleToScale"
        conditions = [c for c in conditions if c["type"] != kind]
        conditions.insert(
            0, {"type": kind, "status": "False", "reason": reason, "message": outcome.error}
        )
    status["lastScaleTime"] = now_rfc3339(now) if outcome.patched else previous.get("lastScaleTime")
    for condition in conditions:
        old = old_conditions.get(condition["type"])
        unchanged = old is not None and old.get("status") == condition["status"]
        condition["lastTransitionTime"] = (
            old.get("lastTransitionTime") if unchanged and old else now_rfc3339(now)
        )
    status["conditions"] = conditions
    return {k: v for k, v in status.items() if v is not None}


# Failures that stop the replica count from being computed: the HPA reports those (its
# AmbiguousSelector, a pod list that fails) as ScalingActive=False; reading or updating
# the scale is AbleToScale.
_CANNOT_COMPUTE = frozenset({"AmbiguousTarget", "FailedGetPods", "InvalidSelector"})


def invalid_status(problem: str, previous: JSON, *, now: float, generation: int | None) -> JSON:
    conditions: list[JSON] = previous.get("conditions") or []
    old: JSON = next((c for c in conditions if c.get("type") == "ScalingActive"), {})
    since = (
        old.get("lastTransitionTime") if old.get("reason") == "InvalidPolicy" else now_rfc3339(now)
    )
    return {
        "observedGeneration": generation,
        "conditions": [
            {
                "type": "ScalingActive",
                "status": "False",
                "reason": "InvalidPolicy",
                "message": problem,
                "lastTransitionTime": since,
            }
        ],
    }


def _digest(history: Any) -> Any:
    """What of a history matters after a restart: the window's extremes and the events.

    A new recommendation is appended every sync; saving the history only when its
    highest or lowest recommendation or its scale events change keeps status writes
    to the syncs where something happened. Podscale's paths' memory counts whole: a
    restart that forgot a burst, the last activity or a switched-off forecast would
    scale down within a burst's window, keep an idle target a full cooldown longer,
    or trust a forecast known to be wrong.
    """
    if not isinstance(history, dict):
        return None
    replicas = [r.get("replicas") for r in history.get("recommendations") or []]
    return (
        max(replicas, default=None),
        min(replicas, default=None),
        str(history.get("scaleUpEvents")),
        str(history.get("scaleDownEvents")),
        history.get("lastBurst"),
        history.get("lastActive"),
        history.get("forecastOff"),
    )


def _proposed(proposals: Any) -> Any:
    """What of the paths' proposals is worth a status write: which replicas each
    proposed. Their details carry readings and countdowns that change every sync; they
    are written along with any change, not for themselves."""
    if not isinstance(proposals, list):
        return None
    return [(p.get("path"), p.get("replicas")) for p in proposals if isinstance(p, dict)]


# Status fields compared by digest, not as a whole, before writing.
_DIGESTED = frozenset({"history", "proposals"})


def write_status(store: PolicyStore, obj: JSON, status: JSON) -> bool:
    """Merge-patch ``status`` when it differs from the object's; True when written.

    Writing only on change keeps API requests per sync proportional to the targets
    whose state changed, not to all targets.
    """
    previous = obj.get("status") or {}
    same = all(previous.get(k) == v for k, v in status.items() if k not in _DIGESTED)
    if (
        same
        and _digest(previous.get("history")) == _digest(status.get("history"))
        and _proposed(previous.get("proposals")) == _proposed(status.get("proposals"))
    ):
        return False
    meta = obj.get("metadata") or {}
    try:
        store.write_status(str(meta.get("namespace")), str(meta.get("name")), status)
    except LoopError:
        return False
    return True
