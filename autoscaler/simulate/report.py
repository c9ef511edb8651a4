"""What a simulation says: a summary per policy, a terminal table, a JSON document.

Definitions (each figure is over the recorded steps, warm-up excluded; every column
is defined for users in docs/simulate.md):

The headline, the SLO figures, come from the served traffic alone, so no policy
setting can move them (the same ruler for every policy):

- ``sloMissMinutes``: minutes (60 s windows from the first recorded step) in which a
  request was dropped, or more than 1 % (:data:`SLOW_SHARE`) of the requests took
  longer than ``slowMs``;
- ``badRequests``: ``droppedRequests + slowRequests``;
- ``droppedRequests``: offered beyond ready capacity; ``slowRequests``: served ones
  slower than ``slowMs`` (the model's latency is exponential around its mean, which
  depends on the pods' utilization only).

The rest:

- ``replicaHours``: pods bound to a node (starting, ready or terminating: all hold their
  requests) times hours; ``cpuCoreHours`` the same weighted by the pod's CPU request.
- ``underProvisionedMinutes`` (a diagnostic, not a score): time when demand exceeded
  the ready pods' capacity, or a metric was above its target by more than the policy's
  own scale-up tolerance; a policy with a looser tolerance or a higher target scores
  lower on it without serving any better.
- ``atMaxReplicasMinutes``: time with ``spec.replicas`` at the policy's maxReplicas.
- ``flaps``: scale events reversing the previous one's direction within the
  controller's downscale stabilization window (the same window for every policy).
- ``worstRecoverySeconds``: the longest stretch of demand above ready capacity, i.e.
  the time the slowest recovery from a spike took (0 when capacity always sufficed).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from itertools import pairwise
from typing import Any

from autoscaler.core.model import Settings
from autoscaler.simulate.engine import Plan, RunResult
from autoscaler.simulate.verdict import count

# A minute misses the SLO when more than this share of its requests is slow.
SLOW_SHARE = 0.01


def summarize(result: RunResult, *, plan: Plan) -> dict[str, Any]:
    """The summary figures of one run (see the module docstring)."""
    s, step = result.series, plan.step
    subject = result.subject
    capacity = subject.model.capacity_rps
    tolerance = _scale_up_tolerance(result, plan.settings)
    short = [o > r * capacity * (1 + 1e-9) for o, r in zip(s.offered, s.ready, strict=True)]
    over = [x is not None and x > 1 + tolerance for x in s.ratio]
    offered = sum(s.offered) * step
    dropped = sum(s.dropped) * step
    slow = sum(s.slow) * step
    replica_hours = sum(s.pods) * step / 3600
    at_max = sum(r >= subject.target.policy.max_replicas for r in s.replicas)
    return {
        "sloMissMinutes": slo_miss_minutes(s.offered, s.dropped, s.slow, step=step),
        "badRequests": dropped + slow,
        "recordedMinutes": len(s.t) * step / 60,
        "offeredRequests": offered,
        "servedRequests": sum(s.served) * step,
        "droppedRequests": dropped,
        "slowRequests": slow,
        "droppedPercent": 100 * dropped / offered if offered else 0.0,
        "replicaHours": replica_hours,
        "cpuCoreHours": replica_hours * subject.model.cpu_request_milli / 1000,
        "underProvisionedMinutes": sum(a or b for a, b in zip(short, over, strict=True))
        * step
        / 60,
        "scaleEvents": len(result.changes),
        "flaps": count_flaps(result, window=plan.settings.downscale_stabilization_window),
        "peakReplicas": max(s.replicas, default=0),
        "meanReadyReplicas": sum(s.ready) / len(s.ready) if s.ready else 0.0,
        "worstRecoverySeconds": _longest_run(short) * step,
        "atMaxReplicasMinutes": at_max * step / 60,
    }


def slo_miss_minutes(
    offered: Sequence[float], dropped: Sequence[float], slow: Sequence[float], *, step: float
) -> float:
    """Minutes with a dropped request or more than 1 % slow requests (rates per step).

    The run is cut into 60 s windows from its first step; a step's requests fall into
    the windows its interval overlaps, in proportion. A missed window counts its length
    (a last, shorter window counts its fraction of a minute). With 15 s steps a minute
    is four steps: one step that drops a single request misses the whole minute
    (``test_one_dropped_request_misses_its_whole_minute``).
    """
    windows: dict[int, list[float]] = {}  # minute -> [offered, dropped, slow, seconds]
    for index, rates in enumerate(zip(offered, dropped, slow, strict=True)):
        start, end = index * step, (index + 1) * step
        while start < end:
            minute = math.floor(start / 60 + 1e-9)
            edge = min(end, (minute + 1) * 60.0)
            window = windows.setdefault(minute, [0.0, 0.0, 0.0, 0.0])
            for slot, rate in enumerate(rates):
                window[slot] += rate * (edge - start)
            window[3] += edge - start
            start = edge
    return float(
        sum(
            seconds / 60
            for total, lost, late, seconds in windows.values()
            if lost > 0 or late > SLOW_SHARE * total
        )
    )


def count_flaps(result: RunResult, *, window: float) -> int:
    """Scale events whose direction reverses the previous event's within ``window`` s."""
    flaps = 0
    changes = result.changes
    for previous, current in pairwise(changes):
        up_before = previous.after > previous.before
        up_now = current.after > current.before
        if up_before != up_now and current.t - previous.t < window:
            flaps += 1
    return flaps


def _longest_run(flags: Sequence[bool]) -> int:
    longest = length = 0
    for flag in flags:
        length = length + 1 if flag else 0
        longest = max(longest, length)
    return longest


def _scale_up_tolerance(result: RunResult, settings: Settings) -> float:
    behavior = result.subject.target.policy.behavior
    rules = None if behavior is None else behavior.scale_up
    if rules is not None and rules.tolerance is not None:
        return rules.tolerance
    return settings.tolerance


def report_document(
    results: Sequence[RunResult], *, plan: Plan, trace: str, summaries: Sequence[dict[str, Any]]
) -> dict[str, Any]:
    """The JSON report: inputs, and per run its summary, scale events and time series."""
    settings = plan.settings
    return {
        "kind": "SimulationReport",
        "version": 1,
        "trace": trace,
        "stepSeconds": plan.step,
        "durationSeconds": plan.duration,
        "warmupSeconds": plan.warmup,
        "historySeconds": plan.history,
        "slowMs": plan.slow_ms,
        "slowShare": SLOW_SHARE,
        "syncPhaseSeconds": plan.sync_phase,
        "seed": plan.seed,
        "settings": {
            "tolerance": settings.tolerance,
            "cpuInitializationPeriod": settings.cpu_initialization_period,
            "initialReadinessDelay": settings.initial_readiness_delay,
            "downscaleStabilizationWindow": settings.downscale_stabilization_window,
        },
        "runs": [_run_document(r, summary) for r, summary in zip(results, summaries, strict=True)],
    }


def _run_document(result: RunResult, summary: dict[str, Any]) -> dict[str, Any]:
    s, subject = result.series, result.subject
    model = subject.model
    return {
        "label": subject.label,
        "baselineOf": subject.baseline_of,
        "source": subject.target.source,
        "target": f"{subject.target.namespace}/{subject.target.ref}",
        "pod": {
            "capacityRps": model.capacity_rps,
            "cpuRequestMilli": model.cpu_request_milli,
            "scheduleDelay": model.schedule_delay,
            "readyDelay": model.ready_delay,
            "terminationGrace": model.termination_grace,
        },
        "summary": {k: _round(v) for k, v in summary.items()},
        "scaleEvents": [[_round(c.t), c.before, c.after] for c in result.changes],
        "series": {
            "t": s.t,
            "offeredRps": [_round(x) for x in s.offered],
            "servedRps": [_round(x) for x in s.served],
            "droppedRps": [_round(x) for x in s.dropped],
            "slowRps": [_round(x) for x in s.slow],
            "latencyMs": [_round(x) for x in s.latency_ms],
            "readyReplicas": s.ready,
            "replicas": s.replicas,
            "desiredReplicas": s.desired,
            "pods": s.pods,
            "metricToTarget": [_round(x) for x in s.ratio],
        },
    }


def _round(value: Any) -> Any:
    if isinstance(value, float):
        return round(value, 4) if math.isfinite(value) else None
    return value


# The SLO figures lead; the metric-vs-target time comes last, as a diagnostic.
_COLUMNS = (
    ("policy", "label"),
    ("SLO-miss min", "sloMissMinutes"),
    ("dropped+slow", "badRequests"),
    ("dropped", "droppedRequests"),
    ("slow", "slowRequests"),
    ("replica-h", "replicaHours"),
    ("cpu-h", "cpuCoreHours"),
    ("scale events", "scaleEvents"),
    ("flaps", "flaps"),
    ("peak", "peakReplicas"),
    ("worst recovery", "worstRecoverySeconds"),
    ("under-prov min", "underProvisionedMinutes"),
)


def format_table(labels: Sequence[str], summaries: Sequence[dict[str, Any]]) -> str:
    """The summary table, one row per policy, numbers right-aligned."""
    rows = [[title for title, _ in _COLUMNS]]
    for label, summary in zip(labels, summaries, strict=True):
        rows.append([label, *(_cell(key, summary) for _, key in _COLUMNS[1:])])
    widths = [max(len(row[i]) for row in rows) for i in range(len(_COLUMNS))]
    lines = []
    for number, row in enumerate(rows):
        cells = [row[0].ljust(widths[0])]
        cells += [cell.rjust(width) for cell, width in zip(row[1:], widths[1:], strict=True)]
        lines.append("  ".join(cells).rstrip())
        if number == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines) + "\n"


def _cell(key: str, summary: dict[str, Any]) -> str:
    value = summary[key]
    if key in ("badRequests", "droppedRequests", "slowRequests"):
        offered = summary["offeredRequests"]
        share = 100 * value / offered if offered else 0.0
        return f"{count(value)} ({share:.2f}%)"
    if key == "worstRecoverySeconds":
        return _duration(value)
    if isinstance(value, int):
        return str(value)
    return f"{value:,.1f}"


def _duration(seconds: float) -> str:
    if seconds <= 0:
        return "-"
    minutes, secs = divmod(round(seconds), 60)
    if minutes >= 60:
        return f"{minutes // 60}h{minutes % 60:02d}m"
    return f"{minutes}m{secs:02d}s" if minutes else f"{secs}s"


def same_decisions(results: Sequence[RunResult]) -> dict[str, str]:
    """Each run whose replicas (desired and ready) equal an earlier run's at every step,
    by label, with that earlier run's label: their lines cover each other in the chart,
    and the table should say why two rows are the same."""
    found: dict[str, str] = {}
    for index, result in enumerate(results):
        for earlier in results[:index]:
            mine, theirs = result.series, earlier.series
            if mine.desired == theirs.desired and mine.ready == theirs.ready:
                found[result.subject.label] = earlier.subject.label
                break
    return found
