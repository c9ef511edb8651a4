"""Snapshot documents in, decision documents out (docs/snapshots.md).

This is the full parser: it takes any JSON or YAML value, and every problem names its
place (``pods[1].containers[0].requests.cpu``) and what is wrong. ``autoscaler decide``
tries ``fast.py`` first for JSON, which accepts a subset of documents and builds the
same snapshots from them; everything else comes here.
"""

from __future__ import annotations

import time as clock
from typing import Any

from autoscaler.core.model import (
    REACTIVE,
    Container,
    Decision,
    History,
    MetricData,
    MetricForecast,
    MetricResult,
    MetricStatus,
    PathProposal,
    Pod,
    PodUsage,
    Recommendation,
    Rollout,
    ScaleEvent,
    Settings,
    Snapshot,
)
from autoscaler.core.quantity import format_milli
from autoscaler.documents.read import (
    fail,
    integer,
    listing,
    mapping,
    milli,
    number,
    optional_time,
    string,
    time,
)
from autoscaler.documents.spec import policy_from_spec

_SNAPSHOT_KEYS = frozenset(
    {
        "now",
        "policy",
        "currentReplicas",
        "statusReplicas",
        "pods",
        "metrics",
        "history",
        "settings",
        "rollout",
        "failedSyncs",
        "externalChanges",
        "forecasts",
        "name",
        "description",
    }
)
_ROLLOUT_KEYS = frozenset({"workload", "message", "stablePods"})
_FORECAST_KEYS = ("metric", "total", "at", "error")
_PHASES = frozenset({"Pending", "Running", "Succeeded", "Failed", "Unknown"})
# PodReady condition status as the core reads it, from a bool or the API's string.
READY_STATUS = {
    True: "True",
    False: "False",
    "True": "True",
    "False": "False",
    "Unknown": "Unknown",
}


def snapshot_from_document(
    doc: Any, *, now: float | None = None, path: str = "snapshot"
) -> Snapshot:
    """Parse one snapshot mapping; ``now`` (default: the clock) is used when it gives none."""
    raw = mapping(doc, path)
    if raw.get("now") is not None:
        now = time(raw["now"], f"{path}.now")
    elif now is None:
        now = clock.time()
    unknown = sorted(set(raw) - _SNAPSHOT_KEYS)
    if unknown:
        raise fail(f"{path}.{unknown[0]}", "unknown field")
    if "policy" not in raw:
        raise fail(f"{path}.policy", "required")
    if "currentReplicas" not in raw:
        raise fail(f"{path}.currentReplicas", "required")
    current = integer(raw["currentReplicas"], f"{path}.currentReplicas", minimum=0)
    status = raw.get("statusReplicas")
    policy = policy_from_spec(raw["policy"], f"{path}.policy")
    return Snapshot(
        now=now,
        policy=policy,
        current_replicas=current,
        status_replicas=current
        if status is None
        else integer(status, f"{path}.statusReplicas", minimum=0),
        pods=_pods(raw.get("pods"), f"{path}.pods"),
        metrics=_metrics(raw.get("metrics"), f"{path}.metrics", now=now),
        history=history_from_document(raw.get("history"), f"{path}.history"),
        settings=settings_from_document(raw.get("settings"), f"{path}.settings"),
        rollout=_rollout(raw.get("rollout"), f"{path}.rollout"),
        failed_syncs=integer(raw.get("failedSyncs", 0), f"{path}.failedSyncs", minimum=0),
        external_changes=tuple(
            time(t, f"{path}.externalChanges[{i}]")
            for i, t in enumerate(listing(raw.get("externalChanges"), f"{path}.externalChanges"))
        ),
        forecasts=_forecasts(raw.get("forecasts"), f"{path}.forecasts", len(policy.metrics)),
    )


def _forecasts(value: Any, path: str, metrics: int) -> tuple[MetricForecast, ...]:
    """The edge's forecasts (Podscale's, for ``policy.predictive``): each names its metric
    by its index in ``policy.metrics``."""
    forecasts = []
    for i, item in enumerate(listing(value, path)):
        where = f"{path}[{i}]"
        raw = mapping(item, where)
        unknown = sorted(set(raw) - set(_FORECAST_KEYS))
        if unknown:
            raise fail(f"{where}.{unknown[0]}", "unknown field")
        for key in ("metric", "total", "at"):
            if raw.get(key) is None:
                raise fail(f"{where}.{key}", "required")
        index = integer(raw["metric"], where, "metric", minimum=0)
        if index >= metrics:
            raise fail(
                where, f"must index policy.metrics (0 to {metrics - 1}, got {index})", "metric"
            )
        total = milli(raw["total"], where, "total")
        if total < 0:
            raise fail(where, f"must be at least 0 (got {raw['total']!r})", "total")
        error = raw.get("error")
        forecasts.append(
            MetricForecast(
                index,
                total,
                time(raw["at"], where, "at"),
                None if error is None else number(error, where, "error"),
            )
        )
    return tuple(forecasts)


def _rollout(value: Any, path: str) -> Rollout | None:
    """A rollout in progress (Podscale's): absent or null when the target is not rolling out."""
    if value is None:
        return None
    raw = mapping(value, path)
    unknown = sorted(set(raw) - _ROLLOUT_KEYS)
    if unknown:
        raise fail(f"{path}.{unknown[0]}", "unknown field")
    return Rollout(
        workload=string(raw.get("workload", ""), path, "workload"),
        message=string(raw.get("message", ""), path, "message"),
        stable_pods=_pods(raw.get("stablePods"), f"{path}.stablePods"),
    )


def _pods(value: Any, path: str) -> tuple[Pod, ...]:
    pods: list[Pod] = []
    seen: set[str] = set()
    for i, item in enumerate(listing(value, path)):
        where = f"{path}[{i}]"
        raw = mapping(item, where)
        name = string(raw.get("name"), where, "name")
        if name in seen:
            raise fail(where, f"duplicate pod name {name!r}", "name")
        seen.add(name)
        phase = raw.get("phase", "Running")
        if phase not in _PHASES:
            raise fail(where, f"must be one of {', '.join(sorted(_PHASES))}", "phase")
        ready = raw.get("ready")
        if ready is not None and (type(ready) not in (bool, str) or ready not in READY_STATUS):
            raise fail(where, f"expected true, false or null, got {ready!r}", "ready")
        containers = listing(raw.get("containers"), where, "containers")
        # Sidecars (init containers with restartPolicy Always) request resources for the
        # pod's whole life, so the HPA sums their requests with the regular containers'.
        for init in listing(raw.get("initContainers"), where, "initContainers"):
            if isinstance(init, dict) and init.get("restartPolicy") == "Always":
                containers = [*containers, init]
        pods.append(
            Pod(
                name,
                phase,
                None if ready is None else READY_STATUS[ready],
                optional_time(raw.get("readySince"), where, "readySince"),
                optional_time(raw.get("startTime"), where, "startTime"),
                raw.get("deleting") is True,
                tuple(_container(c, f"{where}.containers[{j}]") for j, c in enumerate(containers)),
            )
        )
    return tuple(pods)


def _container(value: Any, path: str) -> Container:
    raw = mapping(value, path)
    requests = mapping(raw.get("requests"), path, "requests")
    return Container(
        string(raw.get("name"), path, "name"),
        {k: milli(v, path, f"requests.{k}") for k, v in requests.items()},
    )


def _pod_usage(value: Any, path: str, now: float) -> PodUsage:
    sample = mapping(value, path)
    containers = mapping(sample.get("containers"), path, "containers")
    timestamp = sample.get("timestamp")
    window = sample.get("window", 30)
    return PodUsage(
        now if timestamp is None else time(timestamp, path, "timestamp"),
        window if type(window) is int and window >= 0 else number(window, path, "window"),
        {
            str(c): {
                r: milli(q, path, f"containers.{c}.{r}")
                for r, q in mapping(usage, path, f"containers.{c}").items()
            }
            for c, usage in containers.items()
        },
    )


def _metrics(value: Any, path: str, *, now: float) -> MetricData:
    raw = mapping(value, path)
    resource = None
    if raw.get("resource") is not None:
        samples = mapping(raw["resource"], path, "resource")
        resource = {
            str(pod): _pod_usage(sample, f"{path}.resource.{pod}", now)
            for pod, sample in samples.items()
        }
    pods = {
        str(name): {
            str(pod): milli(q, path, f"pods.{name}.{pod}")
            for pod, q in mapping(values, path, f"pods.{name}").items()
        }
        for name, values in mapping(raw.get("pods"), path, "pods").items()
    }
    objects = {
        str(name): milli(q, path, f"object.{name}")
        for name, q in mapping(raw.get("object"), path, "object").items()
        if q is not None
    }
    external = {}
    for name, values in mapping(raw.get("external"), path, "external").items():
        items = values if isinstance(values, list) else [values]
        external[str(name)] = tuple(
            milli(q, path, f"external.{name}[{i}]") for i, q in enumerate(items) if q is not None
        )
    errors = {
        str(key): string(message, path, f"errors.{key}")
        for key, message in mapping(raw.get("errors"), path, "errors").items()
    }
    return MetricData(
        resource=resource, pods=pods, object=objects, external=external, errors=errors
    )


def history_from_document(value: Any, path: str = "history") -> History:
    raw = mapping(value, path)
    recommendations = []
    for i, item in enumerate(listing(raw.get("recommendations"), path, "recommendations")):
        where = f"{path}.recommendations[{i}]"
        entry = mapping(item, where)
        replicas = entry.get("replicas")
        recommendations.append(
            Recommendation(
                time(entry.get("time"), where, "time"),
                replicas
                if type(replicas) is int and replicas >= 0
                else integer(replicas, where, "replicas", minimum=0),
            )
        )
    forecast_off = raw.get("forecastOff")
    if forecast_off is not None and type(forecast_off) is not bool:
        raise fail(path, f"expected true, false or null, got {forecast_off!r}", "forecastOff")
    return History(
        tuple(recommendations),
        _events(raw.get("scaleUpEvents"), f"{path}.scaleUpEvents"),
        _events(raw.get("scaleDownEvents"), f"{path}.scaleDownEvents"),
        optional_time(raw.get("lastBurst"), path, "lastBurst"),
        optional_time(raw.get("lastActive"), path, "lastActive"),
        forecast_off is True,
    )


def _events(value: Any, path: str) -> tuple[ScaleEvent, ...]:
    events = []
    for i, item in enumerate(listing(value, path)):
        where = f"{path}[{i}]"
        entry = mapping(item, where)
        events.append(
            ScaleEvent(
                time(entry.get("time"), where, "time"),
                integer(entry.get("change"), where, "change", minimum=0),
            )
        )
    return tuple(events)


def settings_from_document(value: Any, path: str = "settings") -> Settings:
    raw = mapping(value, path)
    defaults = Settings()
    fields = {
        "tolerance": defaults.tolerance,
        "cpuInitializationPeriod": defaults.cpu_initialization_period,
        "initialReadinessDelay": defaults.initial_readiness_delay,
        "downscaleStabilizationWindow": defaults.downscale_stabilization_window,
    }
    unknown = sorted(set(raw) - set(fields))
    if unknown:
        raise fail(f"{path}.{unknown[0]}", "unknown setting")
    values = {k: number(raw[k], path, k) if k in raw else d for k, d in fields.items()}
    return Settings(
        values["tolerance"],
        values["cpuInitializationPeriod"],
        values["initialReadinessDelay"],
        values["downscaleStabilizationWindow"],
    )


# --- decision ---------------------------------------------------------------------------


def _seconds(t: float) -> float | int:
    return int(t) if float(t).is_integer() else t


def _status(status: MetricStatus | None) -> dict[str, Any] | None:
    if status is None:
        return None
    out: dict[str, Any] = {}
    if status.average_utilization is not None:
        out["averageUtilization"] = status.average_utilization
    if status.average_value is not None:
        out["averageValue"] = format_milli(status.average_value)
    if status.value is not None:
        out["value"] = format_milli(status.value)
    return out


def _metric_result(result: MetricResult) -> dict[str, Any]:
    return {
        "type": result.type,
        "name": result.name,
        "proposal": result.proposal,
        "current": _status(result.current),
        "error": result.error,
    }


def history_to_document(history: History) -> dict[str, Any]:
    """The history as a snapshot reads it; the paths' memory only where it holds
    something, so that a policy without Podscale's paths writes what it always wrote."""
    out: dict[str, Any] = {
        "recommendations": [
            {"time": _seconds(r.time), "replicas": r.replicas} for r in history.recommendations
        ],
        "scaleUpEvents": [
            {"time": _seconds(e.time), "change": e.change} for e in history.scale_up_events
        ],
        "scaleDownEvents": [
            {"time": _seconds(e.time), "change": e.change} for e in history.scale_down_events
        ],
    }
    if history.last_burst is not None:
        out["lastBurst"] = _seconds(history.last_burst)
    if history.last_active is not None:
        out["lastActive"] = _seconds(history.last_active)
    if history.forecast_off:
        out["forecastOff"] = True
    return out


def decision_to_document(decision: Decision) -> dict[str, Any]:
    """The contract's result object (camelCase keys)."""
    document: dict[str, Any] = {
        "desiredReplicas": decision.desired_replicas,
        "recommendation": decision.recommendation,
        "metrics": [_metric_result(m) for m in decision.metrics],
        "conditions": [
            {"type": c.type, "status": c.status, "reason": c.reason, "message": c.message}
            for c in decision.conditions
        ],
        "history": history_to_document(decision.history),
        "error": decision.error,
        "failedSyncs": decision.failed_syncs,
        "notice": None
        if decision.notice is None
        else {"reason": decision.notice.reason, "message": decision.notice.message},
    }
    if decision.proposals or decision.path != REACTIVE:
        # Only for a policy with Podscale's paths: every other decision reads as before.
        document["path"] = decision.path
        document["proposals"] = [_proposal(p) for p in decision.proposals]
    return document


def _proposal(proposal: PathProposal) -> dict[str, Any]:
    return {"path": proposal.path, "replicas": proposal.replicas, "detail": proposal.detail}
