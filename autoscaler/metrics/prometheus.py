"""Pods, Object and External metric values from Prometheus, one query per distinct query.

The loop hands :meth:`PrometheusSource.collect` every metric read of a sync (all
targets at once) as :class:`MetricRequest` values. Each request's template is rendered;
requests whose rendered query is byte-identical share one instant query (a template
without ``{namespace}`` serves every namespace with a single query), and each answer is
sliced per request: Pods by the ``pod`` label (series of other namespaces skipped),
Object as the one series, External as every series. ``Collection.queries`` counts the
queries actually sent (the loop's "Prometheus queries per sync").

Sample age: an instant query reports every value at the evaluation time, not when it
was scraped, so each query is sent as ``(Q) or label_replace(timestamp(Q), ...)``: one
request that returns Q's series and, beside each, its sample time. For a plain selector
(a recording rule, a pushed or federated series) that is the real scrape time and
``maxAge`` catches data that stopped updating; for a computed expression it is the
evaluation time, and Prometheus' own lookback (series vanish) is what catches staleness.
A query must therefore return an instant vector whose series differ in more than
``__name__``.

What becomes a :class:`Failure` (never an exception, never a silent 0): no series
(``NoData``); samples older than ``maxAge`` (``MetricStale``; for Pods only when every
pod is stale, stale pods are left out like pods without metrics); NaN/±Inf
(``InvalidValue``); an answer of the wrong shape (``InvalidResult``); a selector that
cannot be rendered (``InvalidSelector``); HTTP errors, timeouts and refused connections
(``QueryFailed``, one message per query naming the Prometheus URL and the query).
"""

from __future__ import annotations

import ast
import json
import math
import re
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Final, Protocol

import requests
from prometheus_api_client.exceptions import PrometheusApiClientException
from prometheus_api_client.prometheus_connect import PrometheusConnect
from urllib3.util.retry import Retry

from autoscaler.core.model import MetricData, PodUsage
from autoscaler.core.quantity import to_milli
from autoscaler.metrics import promql
from autoscaler.metrics.declarations import MetricDeclaration
from autoscaler.selectors import Requirement

NO_DATA: Final = "NoData"
STALE: Final = "MetricStale"
INVALID_VALUE: Final = "InvalidValue"
INVALID_RESULT: Final = "InvalidResult"
INVALID_SELECTOR: Final = "InvalidSelector"
QUERY_FAILED: Final = "QueryFailed"

TIMESTAMP_LABEL: Final = "__podscale_timestamp__"


@dataclass(frozen=True, slots=True)
class PrometheusSettings:
    """Where Prometheus is and how long to wait for it (seconds; every wait is bounded).

    ``timeout`` bounds each query (also sent to Prometheus, which then gives up
    evaluating too); queries run ``max_workers`` at a time, so one sync waits at most
    about ``ceil(queries / max_workers) * (connect_timeout + timeout)``.
    """

    url: str = "http://127.0.0.1:9090"
    timeout: float = 3.0
    connect_timeout: float = 1.0
    max_workers: int = 4
    method: str = "GET"


class QueryError(Exception):
    """A query that got no usable answer; the message is one line."""


@dataclass(frozen=True, slots=True)
class ObjectRef:
    """The object an Object metric describes."""

    kind: str
    name: str


@dataclass(frozen=True, slots=True)
class MetricRequest:
    """One metric a target needs; ``target`` is an opaque key grouping the results.

    ``pods``, when given, keeps only those pods of a Pods metric (the HPA ignores
    others anyway; this keeps results small when many targets share a namespace).
    """

    target: str
    namespace: str
    declaration: MetricDeclaration
    selector: tuple[Requirement, ...] = ()
    described_object: ObjectRef | None = None
    pods: frozenset[str] | None = None


@dataclass(frozen=True, slots=True)
class Failure:
    """Why a metric has no value this sync: a reason constant and a one-line message."""

    metric: str
    reason: str
    message: str


@dataclass(slots=True)
class TargetMetrics:
    """One target's values in the decision core's shapes (milli-units), and failures."""

    pods: dict[str, dict[str, int]] = field(default_factory=dict)
    object: dict[str, int] = field(default_factory=dict)
    external: dict[str, tuple[int, ...]] = field(default_factory=dict)
    failures: dict[str, Failure] = field(default_factory=dict)

    def metric_data(self, *, resource: dict[str, PodUsage] | None = None) -> MetricData:
        """The core's MetricData: a failed metric is absent, with its reason in ``errors``."""
        return MetricData(
            resource=resource,
            pods=self.pods,
            object=self.object,
            external=self.external,
            errors={name: f"{f.reason}: {f.message}" for name, f in self.failures.items()},
        )


@dataclass(frozen=True, slots=True)
class Collection:
    """What one :meth:`PrometheusSource.collect` call found."""

    targets: dict[str, TargetMetrics]
    queries: int
    query_failures: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class _Sample:
    labels: dict[str, str]
    value: float
    timestamp: float


class QueryRunner(Protocol):
    """Runs one instant query at ``time``; raises :class:`QueryError` with one line."""

    def __call__(self, query: str, *, time: float) -> list[dict[str, Any]]: ...


class PrometheusSource:
    """Batched Prometheus reads; ``runner`` replaces the HTTP client in tests."""

    def __init__(self, *, settings: PrometheusSettings, runner: QueryRunner | None = None):
        self.settings = settings
        self._client: PrometheusConnect | None = None
        self._runner = runner if runner is not None else self._query

    def close(self) -> None:
        """Close the HTTP connections (a no-op with an injected runner)."""
        if self._client is not None:
            self._client._session.close()
            self._client = None

    def instant(self, query: str, *, now: float) -> list[dict[str, Any]]:
        """One raw instant query (``metric``/``value`` items); QueryError names the server."""
        try:
            return self._runner(query, time=now)
        except QueryError as exc:
            raise QueryError(f"prometheus {self.settings.url}: {exc}") from None

    def collect(self, requests: Sequence[MetricRequest], *, now: float) -> Collection:
        """Every request's value or failure, sending each distinct query once at ``now``."""
        targets: dict[str, TargetMetrics] = {}
        by_query: dict[str, list[MetricRequest]] = {}
        for request in requests:
            result = targets.setdefault(request.target, TargetMetrics())
            try:
                query = _render(request)
            except promql.PromQLError as exc:
                _fail(result, request, INVALID_SELECTOR, str(exc))
                continue
            by_query.setdefault(query, []).append(request)
        answers = self._run(list(by_query), now=now)
        failed: list[str] = []
        for query, waiting in by_query.items():
            answer = answers[query]
            if isinstance(answer, QueryError):
                failed.append(str(answer))
            for request in waiting:
                _file(targets[request.target], request, answer, query=query, now=now)
        return Collection(targets=targets, queries=len(by_query), query_failures=tuple(failed))

    def _run(self, queries: list[str], *, now: float) -> dict[str, list[_Sample] | QueryError]:
        workers = max(1, min(len(queries), self.settings.max_workers))
        if workers == 1:
            return {query: self._one(query, now=now) for query in queries}
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="promql") as pool:
            return dict(
                zip(queries, pool.map(lambda q: self._one(q, now=now), queries), strict=True)
            )

    def _one(self, query: str, *, now: float) -> list[_Sample] | QueryError:
        try:
            return _samples(self._runner(stamped_query(query), time=now))
        except QueryError as exc:
            return QueryError(f"prometheus {self.settings.url}: {exc}; query: {_shown(query)}")

    def range_query(
        self, query: str, *, start: float, end: float, step: float
    ) -> list[dict[str, Any]]:
        """One ``query_range`` (``metric``/``values`` items: a forecast's past); QueryError
        (one line, naming the server) when it gets no usable answer."""
        client = self._connected()
        params = {"timeout": f"{self.settings.timeout:g}s"}

        def ask() -> list[dict[str, Any]]:
            answer: list[dict[str, Any]] = client.custom_query_range(
                query,
                start_time=datetime.fromtimestamp(start, UTC),
                end_time=datetime.fromtimestamp(end, UTC),
                step=f"{step:g}",
                params=params,
            )
            return answer

        try:
            return self._answer(ask)
        except QueryError as exc:
            raise QueryError(f"prometheus {self.settings.url}: {exc}") from None

    def _connected(self) -> PrometheusConnect:
        settings = self.settings
        if self._client is None:
            # requests takes (connect, read) timeouts; the client's stub says int.
            timeout: dict[str, Any] = {"timeout": (settings.connect_timeout, settings.timeout)}
            self._client = PrometheusConnect(
                url=settings.url.rstrip("/"),
                retry=Retry(total=0, read=False, raise_on_status=False),
                method=settings.method,
                **timeout,
            )
        return self._client

    def _query(self, query: str, *, time: float) -> list[dict[str, Any]]:
        """The default runner: ``PrometheusConnect.custom_query``, no retries, bounded."""
        client = self._connected()
        params = {"time": f"{time:.3f}", "timeout": f"{self.settings.timeout:g}s"}
        return self._answer(lambda: client.custom_query(query, params=params))

    def _answer(self, ask: Callable[[], list[dict[str, Any]]]) -> list[dict[str, Any]]:
        """``ask()``'s answer, its failures as one-line QueryErrors."""
        settings = self.settings
        try:
            result = ask()
        except requests.exceptions.ConnectTimeout:
            raise QueryError(f"no connection within {settings.connect_timeout:g} s") from None
        except requests.exceptions.Timeout:
            raise QueryError(f"no answer within {settings.timeout:g} s") from None
        except requests.exceptions.ConnectionError as exc:
            refused = "refused" in str(exc).lower()
            raise QueryError("connection refused" if refused else "cannot connect") from None
        except requests.exceptions.RequestException as exc:
            raise QueryError(f"request failed: {type(exc).__name__}") from None
        except PrometheusApiClientException as exc:
            raise QueryError(_http_error(str(exc))) from None
        except (ValueError, KeyError, TypeError):
            raise QueryError("the answer is not a Prometheus query result") from None
        return result


def stamped_query(query: str) -> str:
    """``query`` and its sample times in one query, as sent (see the module docstring).

    A newline precedes each ")": a query may end in a ``# comment``, which would
    otherwise swallow the rest of the line.
    """
    return f'({query}\n) or label_replace(timestamp({query}\n), "{TIMESTAMP_LABEL}", "1", "", "")'


def _render(request: MetricRequest) -> str:
    described = request.described_object
    return request.declaration.template.render(
        namespace=request.namespace,
        selector=request.selector,
        object_kind=described.kind if described else "",
        object_name=described.name if described else "",
    )


def _samples(result: object) -> list[_Sample]:
    """Q's series with their sample times, from the combined answer (see the docstring)."""
    if not isinstance(result, list) or not all(
        isinstance(s, dict) and isinstance(s.get("metric"), dict) for s in result
    ):
        raise QueryError("the query must return an instant vector")
    times: dict[frozenset[tuple[str, str]], float] = {}
    series: list[tuple[dict[str, str], Any]] = []
    for item in result:
        labels = {k: v for k, v in item["metric"].items() if k != "__name__"}
        if labels.pop(TIMESTAMP_LABEL, None) is not None:
            times[frozenset(labels.items())] = _number(item)
        else:
            series.append((labels, item))
    return [
        _Sample(labels, _number(item), times.get(frozenset(labels.items()), _evaluated_at(item)))
        for labels, item in series
    ]


def _number(item: dict[str, Any]) -> float:
    try:
        return float(item["value"][1])
    except (KeyError, IndexError, TypeError, ValueError):
        raise QueryError(f"a series has no readable value: {item.get('value')!r}") from None


def _evaluated_at(item: dict[str, Any]) -> float:
    """The evaluation time Prometheus reported for ``item``."""
    return float(item["value"][0])


def _file(
    result: TargetMetrics,
    request: MetricRequest,
    answer: list[_Sample] | QueryError,
    *,
    query: str,
    now: float,
) -> None:
    if isinstance(answer, QueryError):
        _fail(result, request, QUERY_FAILED, str(answer))
        return
    name, kind = request.declaration.name, request.declaration.type
    if kind == "Pods":
        answer = [s for s in answer if _in_scope(s, request)]
    if not answer:
        message = f"no series for namespace {request.namespace}: {_shown(query)}"
        _fail(result, request, NO_DATA, message)
        return
    problem = _check(answer, request, now=now)
    if problem is not None:
        _fail(result, request, *problem)
    elif kind == "Pods":
        max_age = request.declaration.max_age
        fresh = [s for s in answer if now - s.timestamp <= max_age]
        result.pods[name] = {s.labels["pod"]: to_milli(s.value) for s in fresh}
    elif kind == "Object":
        result.object[name] = to_milli(answer[0].value)
    else:
        result.external[name] = tuple(to_milli(s.value) for s in answer)


def _shown(query: str) -> str:
    """``query`` on one line, cut at 300 characters, for a message."""
    shown = " ".join(query.split())
    return shown if len(shown) <= 300 else shown[:300] + "..."


def _in_scope(sample: _Sample, request: MetricRequest) -> bool:
    namespace = sample.labels.get("namespace")
    if namespace is not None and namespace != request.namespace:
        return False
    pod = sample.labels.get("pod")
    return request.pods is None or pod is None or pod in request.pods


def _check(samples: list[_Sample], request: MetricRequest, *, now: float) -> tuple[str, str] | None:
    """The (reason, message) that makes ``samples`` unusable for ``request``, if any."""
    kind, max_age = request.declaration.type, request.declaration.max_age
    if kind == "Pods":
        pods = [s.labels.get("pod") for s in samples]
        if None in pods or "" in pods:
            return INVALID_RESULT, "a series has no pod label; aggregate by (namespace, pod)"
        if len(set(pods)) < len(pods):
            return INVALID_RESULT, "several series for one pod; aggregate by (namespace, pod)"
    if kind == "Object" and len(samples) > 1:
        return INVALID_RESULT, f"{len(samples)} series; an Object metric needs exactly one"
    for sample in samples:
        if not math.isfinite(sample.value):
            return INVALID_VALUE, f"value {sample.value} is not a finite number ({_show(sample)})"
    ages = [now - s.timestamp for s in samples]
    stale = [age for age in ages if age > max_age]
    if stale and (kind != "Pods" or len(stale) == len(ages)):
        return STALE, f"sample {max(stale):.0f} s old, older than maxAge {max_age:g} s"
    return None


def _show(sample: _Sample) -> str:
    return "{" + ", ".join(f"{k}={promql.quote(v)}" for k, v in sorted(sample.labels.items())) + "}"


def _fail(result: TargetMetrics, request: MetricRequest, reason: str, message: str) -> None:
    name = request.declaration.name
    result.failures[name] = Failure(metric=name, reason=reason, message=message)


_HTTP_ERROR: Final = re.compile(r"HTTP Status Code (\d+) \((b?'.*'|b?\".*\")\)\Z", re.S)


def _http_error(text: str) -> str:
    """``HTTP 400: parse error ...`` from prometheus-api-client's exception text."""
    match = _HTTP_ERROR.match(text)
    if match is None:
        return " ".join(text.split())[:300]
    status, body = match[1], match[2]
    detail = ""
    try:
        raw = ast.literal_eval(body)
        answer = json.loads(raw)
        detail = str(answer.get("error") or "")
    except (ValueError, SyntaxError, AttributeError):
        detail = ""
    return f"HTTP {status}" + (f": {' '.join(detail.split())[:300]}" if detail else "")
