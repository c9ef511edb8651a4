"""ScalingPolicy objects as ``kubectl get hpa`` shows HPAs: the rows of ``autoscaler status``.

The TARGETS column follows kubectl's own HPA printer (``formatHPAMetrics``): per metric
``current/target``, a Resource metric prefixed with its name (``cpu: 90%/50%``), an
AverageValue target of an Object or External metric marked ``(avg)``, ``<unknown>``
for a metric without a current value, and two metrics at most, then ``+ N more...``.
One difference: kubectl pairs spec and status by position, which goes wrong when a
metric failed and has no status; here they are paired by type and name.

The loop writes the same text to ``status.targets`` (so the CRD's TARGETS printer
column shows it); this module computes it from ``spec.metrics`` and
``status.currentMetrics`` for objects written before that field existed.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Final

from autoscaler.policy.metric_checks import SOURCE_FIELDS

JSON = Mapping[str, Any]

SHOWN_METRICS: Final = 2
UNKNOWN: Final = "<unknown>"


def targets_text(metrics: Sequence[JSON], current: Sequence[JSON]) -> str:
    """``cpu: 90%/50%, 120/100 + 1 more...``: each metric's current value over its target."""
    if not metrics:
        return "<none>"
    parts = [_one(spec, current) for spec in metrics]
    shown = ", ".join(parts[:SHOWN_METRICS])
    extra = len(parts) - SHOWN_METRICS
    return f"{shown} + {extra} more..." if extra > 0 else shown


def _one(spec: JSON, statuses: Sequence[JSON]) -> str:
    kind = str(spec.get("type", ""))
    key = SOURCE_FIELDS.get(kind)
    if key is None or not isinstance(spec.get(key), Mapping):
        return "<unknown type>"
    source = spec[key]
    name = _name(kind, source)
    target = source.get("target") or {}
    now = _current(kind, name, statuses)
    if kind in ("Resource", "ContainerResource"):
        if target.get("averageValue") is not None:
            return f"{name}: {_text(now.get('averageValue'))}/{target['averageValue']}"
        goal = target.get("averageUtilization")
        used = now.get("averageUtilization")
        shown = UNKNOWN if used is None else f"{used}%"
        return f"{name}: {shown}/{'<auto>' if goal is None else f'{goal}%'}"
    if target.get("type") == "AverageValue" or (
        kind == "Pods" and target.get("averageValue") is not None
    ):
        suffix = "" if kind == "Pods" else " (avg)"
        return f"{_text(now.get('averageValue'))}/{target.get('averageValue')}{suffix}"
    return f"{_text(now.get('value'))}/{target.get('value')}"


def _name(kind: str, source: JSON) -> str:
    if kind in ("Resource", "ContainerResource"):
        return str(source.get("name", ""))
    metric = source.get("metric") or {}
    return str(metric.get("name", "")) if isinstance(metric, Mapping) else ""


def _current(kind: str, name: str, statuses: Sequence[JSON]) -> JSON:
    """The ``current`` of the status entry for this metric (by type and name), or {}."""
    key = SOURCE_FIELDS[kind]
    for status in statuses:
        if status.get("type") != kind or not isinstance(status.get(key), Mapping):
            continue
        if _name(kind, status[key]) == name:
            current = status[key].get("current")
            return current if isinstance(current, Mapping) else {}
    return {}


def _text(value: Any) -> str:
    return UNKNOWN if value is None else str(value)


def condition_summary(conditions: Sequence[JSON]) -> str:
    """What needs attention first: a False AbleToScale/ScalingActive, then a limit, else OK."""
    by_type = {c.get("type"): c for c in conditions if isinstance(c, Mapping)}
    for kind in ("ScalingActive", "AbleToScale"):
        condition = by_type.get(kind)
        if condition is not None and condition.get("status") == "False":
            return f"{kind}=False {condition.get('reason', '')}".rstrip()
    limited = by_type.get("ScalingLimited")
    if limited is not None and limited.get("status") == "True":
        return f"Limited {limited.get('reason', '')}".rstrip()
    return "OK" if by_type else "-"


def age(seconds: float) -> str:
    """A duration as kubectl prints ages: ``45s``, ``5m10s``, ``3h``, ``2d4h``, ``400d``."""
    s = max(0, int(seconds))
    minutes, hours, days = s // 60, s // 3600, s // 86_400
    if s < 120:
        return f"{s}s"
    if minutes < 10:
        return f"{minutes}m{s % 60}s" if s % 60 else f"{minutes}m"
    if hours < 3:
        return f"{minutes}m"
    if hours < 8:
        return f"{hours}h{minutes % 60}m" if minutes % 60 else f"{hours}h"
    if hours < 48:
        return f"{hours}h"
    if days < 8:
        return f"{days}d{hours % 24}h" if hours % 24 else f"{days}d"
    if days < 365 * 2:
        return f"{days}d"
    return f"{days // 365}y"
