"""Backtest: a past range of a real Prometheus as the simulator's trace.

``autoscaler simulate POLICY --prometheus URL`` asks Prometheus for the workload's
request rate over a past range (``query_range``, one point per simulation step) and
replays it, so a user sees what a policy would have done on their own history.

Which query gives the load. With ``--query PROMQL`` that query: its series are added
up, so it may return one series per pod. Otherwise the policy's own metric, as
declared in ``--metrics-config``: the first Pods, Object or External metric that the
simulator feeds with the request rate (a name that does not say latency or queue,
see :func:`autoscaler.simulate.adapters.metric_quantity`), rendered as the loop
renders it (the target's namespace, the metric's selector), then:

- Pods: ``sum by (namespace) (QUERY)``, the target's namespace kept: the per-pod rates
  summed over every pod the query returns in that namespace (the past pods of a
  workload are not known, so another workload's pods reporting the same metric in the
  same namespace count too: give ``--query`` then);
- External: ``sum(QUERY)``, the total over the series;
- Object: the query as is (one series: the workload's total).

A metric that is itself a per-pod share of the load becomes the total, which is what
the simulator's load model spreads over the pods again. A policy with only CPU,
memory, latency or queue metrics has no request rate to take: give ``--query``.

Gaps: a step without a value (no sample within Prometheus' lookback, or NaN/Inf)
holds the last value, and their number is reported. Before the first value and after
the last there is nothing to hold: the range shrinks to the data, and says so.
Each request covers at most :data:`MAX_POINTS` steps (Prometheus refuses more than
11,000 points per series), so a week at 15 s is five requests. Every problem is a
:class:`BacktestError` with one line.
"""

from __future__ import annotations

import contextlib
import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final

import requests

from autoscaler.core.model import EXTERNAL, OBJECT, PODS
from autoscaler.metrics import promql
from autoscaler.metrics.declarations import MetricDeclaration, load_declarations
from autoscaler.ports import Target
from autoscaler.selectors import requirements
from autoscaler.sim.load import Trace, TraceLoad
from autoscaler.simulate.adapters import metric_quantity
from autoscaler.simulate.setup import SetupError

MAX_POINTS: Final = 10_000
DEFAULT_SINCE: Final = 7 * 86_400.0
CONNECT_TIMEOUT: Final = 3.0
READ_TIMEOUT: Final = 60.0

# One series of a range answer: its labels and its (time, value) points.
Series = tuple[dict[str, str], list[tuple[float, float]]]
RangeRunner = Callable[[str, float, float, float], list[Series]]


class BacktestError(SetupError):
    """A backtest that cannot be run; the message is one line."""


@dataclass(frozen=True, slots=True)
class TimeRange:
    """``[start, end)`` in Unix seconds, sampled every ``step`` seconds from ``start``."""

    start: float
    end: float
    step: float

    @property
    def points(self) -> int:
        return max(1, math.ceil((self.end - self.start) / self.step - 1e-9))

    def describe(self) -> str:
        return f"{_iso(self.start)} to {_iso(self.end)}"


@dataclass(frozen=True, slots=True)
class LoadQuery:
    """The PromQL whose series, added up, are the request rate; and which to keep.

    ``namespace``, when set, keeps only series whose ``namespace`` label is that one
    (or absent): a Pods query without ``{namespace}`` answers for every namespace.
    """

    query: str
    origin: str
    namespace: str | None = None


@dataclass(frozen=True, slots=True)
class Backtest:
    """The trace taken from Prometheus, where from, and how many steps were gaps.

    ``range`` is the part of the ``asked`` range that has data: from the first step
    with a value to the last.
    """

    trace: Trace
    url: str
    query: LoadQuery
    range: TimeRange
    gaps: int
    asked: TimeRange

    def load(self, *, offset: float = 0.0) -> TraceLoad:
        """The trace as the simulation's load, starting ``offset`` seconds into it."""
        if offset >= self.trace.period:
            raise BacktestError(
                f"--offset {offset:g}s is past the end of the range ({self.trace.period:g}s)"
            )
        return TraceLoad(trace=self.trace, time_offset=self.trace.times[0] + offset)

    def label(self) -> str:
        return f"Prometheus {self.url}, {self.range.describe()}"

    def note(self) -> str | None:
        """One line about the gaps and a shrunk range, or None when all is there."""
        said = []
        if self.range != self.asked:
            said.append(
                f"Prometheus has data from {_iso(self.range.start)} to {_iso(self.range.end)} "
                f"only, of {self.asked.describe()}."
            )
        if self.gaps:
            said.append(
                f"{self.gaps} of {self.range.points} steps had no value in Prometheus "
                "(no sample, or NaN): each held the value before it."
            )
        return " ".join(said) or None

    def document(self) -> dict[str, Any]:
        return {
            "url": self.url,
            "query": self.query.query,
            "from": self.query.origin,
            "start": self.range.start,
            "end": self.range.end,
            "askedStart": self.asked.start,
            "askedEnd": self.asked.end,
            "stepSeconds": self.range.step,
            "points": self.range.points,
            "gaps": self.gaps,
        }


def parse_time(text: str) -> float:
    """Unix seconds, or an ISO 8601 date or time (``2024-05-01``, ``...T12:00:00Z``;
    UTC when no zone is given)."""
    cleaned = text.strip()
    with contextlib.suppress(ValueError):
        return float(cleaned)
    try:
        moment = datetime.fromisoformat(cleaned)
    except ValueError:
        raise BacktestError(
            f"not a time such as 2024-05-01T12:00:00Z or Unix seconds: {text!r}"
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()


def time_range(
    *,
    step: float,
    now: float,
    since: float | None = None,
    start: float | None = None,
    end: float | None = None,
) -> TimeRange:
    """The range from any two of start, end and ``since`` (a length).

    Alone, ``since`` (default 7 days) ends now, rounded down to a whole step so that a
    re-run asks for the same points; ``start`` alone ends now; ``end`` alone starts
    ``since`` (7 days) before it.
    """
    if start is not None and end is not None and since is not None:
        raise BacktestError("give two of --start, --end and --since, not all three")
    if start is not None and end is None and since is not None:
        end = start + since
    if end is None:
        end = math.floor(now / step) * step
    if start is None:
        start = end - (since if since is not None else DEFAULT_SINCE)
    if end - start < step:
        raise BacktestError(
            f"the range {_iso(start)} to {_iso(end)} is shorter than one step ({step:g} s)"
        )
    if end > now + step:
        raise BacktestError(f"--end {_iso(end)} is in the future")
    return TimeRange(start=start, end=end, step=step)


def load_query(
    target: Target, *, metrics_config: Sequence[str] | None, query: str | None
) -> LoadQuery:
    """The query given, or the one derived from the target's metrics (module docstring)."""
    if query is not None:
        if not query.strip():
            raise BacktestError("--query is empty")
        return LoadQuery(query=query, origin="--query")
    if not metrics_config:
        raise BacktestError(
            "--prometheus needs --query PROMQL (the request rate) or --metrics-config PATH "
            "(the MetricDeclarations behind the policy's metrics)"
        )
    loaded = load_declarations(metrics_config)
    if loaded.errors:
        raise BacktestError(f"--metrics-config: {loaded.errors[0].format()}")
    return derived_query(target, loaded.metrics)


def derived_query(target: Target, declarations: Mapping[str, MetricDeclaration]) -> LoadQuery:
    """The request rate of ``target``'s workload from its first request-rate metric."""
    candidates = []
    for spec in target.metric_specs:
        source = {PODS: spec.pods, OBJECT: spec.object, EXTERNAL: spec.external}.get(spec.type)
        if source is not None and metric_quantity(source.metric.name) == "rate":
            candidates.append((spec, source.metric))
    if not candidates:
        raise BacktestError(
            f"policy {target.key} has no Pods, Object or External request-rate metric "
            "to take the load from: give --query PROMQL"
        )
    spec, metric = candidates[0]
    declaration = declarations.get(metric.name)
    if declaration is None or declaration.type != spec.type:
        raise BacktestError(
            f"no MetricDeclarations entry declares the {spec.type} metric {metric.name!r} "
            "in --metrics-config (or give --query PROMQL)"
        )
    described = spec.object.described_object if spec.object is not None else None
    try:
        rendered = declaration.template.render(
            namespace=target.namespace,
            selector=requirements(metric.selector),
            object_kind=described.kind if described else "",
            object_name=described.name if described else "",
        )
    except promql.PromQLError as exc:
        raise BacktestError(f"metric {metric.name!r}: {exc}") from None
    origin = f"{spec.type} metric {metric.name} of {target.key}"
    # A newline before ")": the declared query may end in a "# comment".
    if spec.type == PODS:
        return LoadQuery(f"sum by (namespace) ({rendered}\n)", origin, namespace=target.namespace)
    if spec.type == EXTERNAL:
        return LoadQuery(f"sum({rendered}\n)", origin)
    return LoadQuery(rendered, origin)


def backtest(
    url: str,
    query: LoadQuery,
    span: TimeRange,
    *,
    runner: RangeRunner | None = None,
) -> Backtest:
    """The trace of ``query`` over ``span``: one rate per step, gaps held."""
    run = runner if runner is not None else HttpRange(url)
    totals: list[float | None] = [None] * span.points
    seen = False
    for first in range(0, span.points, MAX_POINTS):
        last = min(span.points, first + MAX_POINTS) - 1
        start, end = span.start + first * span.step, span.start + last * span.step
        for labels, points in run(query.query, start, end, span.step):
            if query.namespace is not None and labels.get("namespace", query.namespace) != (
                query.namespace
            ):
                continue
            for t, value in points:
                index = round((t - span.start) / span.step)
                if not 0 <= index < span.points:
                    continue
                seen = True
                before = totals[index]
                if not math.isfinite(value) or (before is not None and math.isnan(before)):
                    totals[index] = math.nan
                else:
                    totals[index] = value + (before or 0.0)
    if not seen:
        raise BacktestError(
            f"prometheus {url}: no data from {span.describe()} for {_short(query.query)}"
        )
    valued = [i for i, v in enumerate(totals) if v is not None and math.isfinite(v)]
    if not valued:
        raise BacktestError(
            f"prometheus {url}: only NaN values from {span.describe()} for {_short(query.query)}"
        )
    # Before the first value and after the last there is nothing to hold: the range
    # shrinks to the data (a workload younger than the range, or one since removed).
    first, last = valued[0], valued[-1]
    asked, span = (
        span,
        TimeRange(
            start=span.start + first * span.step,
            end=span.start + (last + 1) * span.step,
            step=span.step,
        ),
    )
    totals = totals[first : last + 1]
    rates: list[float] = []
    held, gaps = 0.0, 0
    for index, total in enumerate(totals):
        if total is None or not math.isfinite(total):
            gaps += 1
            rates.append(held)
            continue
        if total < 0:
            raise BacktestError(
                f"prometheus {url}: negative request rate {total:g} at "
                f"{_iso(span.start + index * span.step)} for {_short(query.query)}"
            )
        held = total
        rates.append(held)
    times = tuple(span.start + i * span.step for i in range(span.points))
    trace = Trace(times, tuple(rates))
    return Backtest(trace, url=url, query=query, range=span, gaps=gaps, asked=asked)


class HttpRange:
    """``GET /api/v1/query_range`` with bounded waits; every failure one line."""

    def __init__(
        self,
        url: str,
        *,
        connect_timeout: float = CONNECT_TIMEOUT,
        timeout: float = READ_TIMEOUT,
    ) -> None:
        self.url = url.rstrip("/")
        self.connect_timeout = connect_timeout
        self.timeout = timeout

    def __call__(self, query: str, start: float, end: float, step: float) -> list[Series]:
        params = {
            "query": query,
            "start": f"{start:.3f}",
            "end": f"{end:.3f}",
            "step": f"{step:g}",
            "timeout": f"{self.timeout:g}s",
        }
        where = f"prometheus {self.url}"
        try:
            answer = requests.get(
                f"{self.url}/api/v1/query_range",
                params=params,
                timeout=(self.connect_timeout, self.timeout),
            )
        except requests.exceptions.ConnectTimeout:
            raise BacktestError(
                f"{where}: no connection within {self.connect_timeout:g} s"
            ) from None
        except requests.exceptions.Timeout:
            raise BacktestError(f"{where}: no answer within {self.timeout:g} s") from None
        except requests.exceptions.ConnectionError as exc:
            reason = "connection refused" if "refused" in str(exc).lower() else "cannot connect"
            raise BacktestError(f"{where}: {reason}") from None
        except requests.exceptions.RequestException as exc:
            raise BacktestError(f"{where}: request failed: {type(exc).__name__}") from None
        try:
            body = answer.json()
        except ValueError:
            body = None
        if not isinstance(body, dict):
            raise BacktestError(f"{where}: HTTP {answer.status_code}, not a Prometheus API answer")
        if answer.status_code != 200 or body.get("status") != "success":
            detail = " ".join(str(body.get("error") or "").split())[:300]
            raise BacktestError(
                f"{where}: HTTP {answer.status_code}" + (f": {detail}" if detail else "")
            )
        return _matrix(body.get("data"), where=where)


def _matrix(data: object, *, where: str) -> list[Series]:
    if not isinstance(data, dict) or data.get("resultType") != "matrix":
        raise BacktestError(f"{where}: the answer is not a range vector (a matrix)")
    series: list[Series] = []
    for item in data.get("result") or ():
        try:
            labels = {str(k): str(v) for k, v in item["metric"].items()}
            points = [(float(t), float(v)) for t, v in item["values"]]
        except (KeyError, TypeError, ValueError, AttributeError):
            raise BacktestError(f"{where}: a series of the answer is unreadable") from None
        series.append((labels, points))
    return series


def _short(query: str) -> str:
    shown = " ".join(query.split())
    return shown if len(shown) <= 200 else shown[:200] + "..."


def _iso(seconds: float) -> str:
    moment = datetime.fromtimestamp(seconds, tz=UTC)
    return re.sub(r"\+00:00$", "Z", moment.isoformat(timespec="seconds"))
