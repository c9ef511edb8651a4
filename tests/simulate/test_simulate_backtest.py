"""Backtest from a real Prometheus filled with known data.

Two hours of per-pod request rates (two pods of ``shop/api``, one pod of another
namespace that must not count) are backfilled with promtool before Prometheus starts,
with a 10-minute hole and a NaN in them. Prometheus runs with a 30 s lookback, shorter
than the 60 s step, so a step without its own sample is a gap, not the sample before.

Covers: the trace equals the known data (gaps held and counted); a policy's Pods
metric and an explicit ``--query`` give the same trace; ranges longer than one request
are stitched; the command's report equals the one of the same data given as a CSV
trace; unreachable Prometheus, no data, and misuse are one-line errors.
"""

from __future__ import annotations

import io
import json
import math
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from prometheus_fixture import PrometheusServer, free_port, running_prometheus

from autoscaler.cli import main
from autoscaler.simulate import backtest
from autoscaler.simulate.setup import load_targets

pytestmark = pytest.mark.prometheus

STEP = 60.0
POINTS = 120
HOLE = range(40, 50)  # no sample of any pod: ten gap steps
NAN_AT = 70  # api-a reports NaN: the total is unknown, one more gap step
B_FROM = 10  # api-b starts reporting here

POLICY = """\
apiVersion: podscale.dev/v1alpha1
kind: ScalingPolicy
metadata: {name: api, namespace: shop}
spec:
  scaleTargetRef: {apiVersion: apps/v1, kind: Deployment, name: api}
  minReplicas: 2
  maxReplicas: 20
  metrics:
    - type: Pods
      pods:
        metric: {name: http_requests_per_second}
        target: {type: AverageValue, averageValue: "50"}
"""

# No {namespace}: the answer spans namespaces, and the backtest keeps the target's.
DECLARATIONS = """\
apiVersion: podscale.dev/v1alpha1
kind: MetricDeclarations
metadata: {name: test}
spec:
  metrics:
    - name: http_requests_per_second
      type: Pods
      query: sum by (namespace, pod) (test_http_rps{{selector}})
"""


def _rate_a(i: int) -> float:
    return 100.0 + 40.0 * (i % 17) + (150.0 if 80 <= i < 95 else 0.0)


def _rate_b(i: int) -> float:
    return 60.0 + 10.0 * (i % 5)


@dataclass(frozen=True)
class Known:
    server: PrometheusServer
    start: float
    policy: Path
    declarations: Path
    rates: list[float]  # the expected trace: the shop pods' sum, gaps held
    gaps: int

    @property
    def end(self) -> float:
        return self.start + POINTS * STEP

    @property
    def times(self) -> list[float]:
        return [self.start + i * STEP for i in range(POINTS)]


def _openmetrics(start: float) -> str:
    lines = ["# TYPE test_http_rps gauge"]
    for i in range(POINTS):
        if i in HOLE:
            continue
        t = int(start + i * STEP)
        a = "NaN" if i == NAN_AT else f"{_rate_a(i):g}"
        lines.append(f'test_http_rps{{namespace="shop",pod="api-a"}} {a} {t}')
        if i >= B_FROM:
            lines.append(f'test_http_rps{{namespace="shop",pod="api-b"}} {_rate_b(i):g} {t}')
        lines.append(f'test_http_rps{{namespace="other",pod="x-1"}} 5000 {t}')
    return "\n".join(lines) + "\n# EOF\n"


def _expected() -> tuple[list[float], int]:
    rates, held, gaps = [], _rate_a(0), 0
    for i in range(POINTS):
        if i in HOLE or i == NAN_AT:
            gaps += 1
        else:
            held = _rate_a(i) + (_rate_b(i) if i >= B_FROM else 0.0)
        rates.append(held)
    return rates, gaps


@pytest.fixture(scope="module")
def known(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Known]:
    # Ten hours ago, on a whole hour: old enough to be in blocks, young enough to be kept.
    start = (time.time() // 3600) * 3600 - 10 * 3600
    folder = tmp_path_factory.mktemp("backtest")
    policy, declarations = folder / "api.yaml", folder / "metrics.yaml"
    policy.write_text(POLICY)
    declarations.write_text(DECLARATIONS)
    rates, gaps = _expected()
    with running_prometheus(
        [], backfill=_openmetrics(start), flags=["--query.lookback-delta=30s"]
    ) as server:
        yield Known(server, start, policy, declarations, rates, gaps)


def _span(known: Known) -> backtest.TimeRange:
    return backtest.TimeRange(start=known.start, end=known.end, step=STEP)


def test_the_policys_pods_metric_gives_the_known_trace_with_gaps_held(known: Known) -> None:
    target = load_targets([str(known.policy)])[0]
    query = backtest.load_query(target, metrics_config=[str(known.declarations)], query=None)
    assert query.query.startswith("sum by (namespace) (")
    found = backtest.backtest(known.server.url, query, _span(known))
    assert list(found.trace.times) == known.times
    assert list(found.trace.rates) == known.rates
    assert found.gaps == known.gaps == 11
    assert found.note() == (
        "11 of 120 steps had no value in Prometheus (no sample, or NaN): "
        "each held the value before it."
    )


def test_a_declared_query_may_end_in_a_comment(known: Known, tmp_path: Path) -> None:
    declarations = tmp_path / "commented.yaml"
    query_line = "      query: sum by (namespace, pod) (test_http_rps{{selector}})\n"
    assert query_line in DECLARATIONS
    declarations.write_text(
        DECLARATIONS.replace(
            query_line,
            "      query: 'sum by (namespace, pod) (test_http_rps{{selector}}) # per pod'\n",
        )
    )
    target = load_targets([str(known.policy)])[0]
    query = backtest.load_query(target, metrics_config=[str(declarations)], query=None)
    found = backtest.backtest(known.server.url, query, _span(known))
    assert list(found.trace.rates) == known.rates


def test_an_explicit_query_gives_the_same_trace(known: Known) -> None:
    query = backtest.LoadQuery('test_http_rps{namespace="shop"}', "--query")
    found = backtest.backtest(known.server.url, query, _span(known))
    assert list(found.trace.rates) == known.rates


def test_a_range_wider_than_the_data_shrinks_to_it_and_says_so(known: Known) -> None:
    wide = backtest.TimeRange(start=known.start - 3600, end=known.end + 1800, step=STEP)
    query = backtest.LoadQuery('test_http_rps{namespace="shop"}', "--query")
    found = backtest.backtest(known.server.url, query, wide)
    assert (found.range, found.asked) == (_span(known), wide)
    assert list(found.trace.rates) == known.rates
    assert found.gaps == 11
    assert (found.note() or "").startswith("Prometheus has data from ")


def test_a_range_longer_than_one_request_is_stitched(
    known: Known, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(backtest, "MAX_POINTS", 7)
    calls: list[tuple[float, float]] = []
    http = backtest.HttpRange(known.server.url)

    def counting(query: str, start: float, end: float, step: float) -> list[backtest.Series]:
        calls.append((start, end))
        return http(query, start, end, step)

    query = backtest.LoadQuery('test_http_rps{namespace="shop"}', "--query")
    found = backtest.backtest(known.server.url, query, _span(known), runner=counting)
    assert len(calls) == math.ceil(POINTS / 7)
    assert list(found.trace.rates) == known.rates


def _simulate(*args: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(["simulate", *args], out=out, err=err)
    return code, out.getvalue(), err.getvalue()


def test_the_report_is_the_one_of_the_same_data_as_a_csv_trace(
    known: Known, tmp_path: Path
) -> None:
    csv = tmp_path / "known.csv"
    rows = [f"{t!r},{r!r}" for t, r in zip(known.times, known.rates, strict=True)]
    csv.write_text("timestamp_seconds,value\n" + "\n".join(rows) + "\n")
    common = [str(known.policy), "--step", "60s", "--compare"]
    code, out, err = _simulate(
        *common,
        "--prometheus",
        known.server.url,
        "--start",
        f"{known.start:.0f}",
        "--end",
        f"{known.end:.0f}",
        "--metrics-config",
        str(known.declarations),
        "--out",
        str(tmp_path / "past"),
    )
    assert (code, err) == (0, "")
    assert "11 of 120 steps had no value in Prometheus" in out
    code, csv_out, err = _simulate(
        *common, "--trace", str(csv), "--trace-kind", "rate", "--out", str(tmp_path / "csv")
    )
    assert (code, err) == (0, "")

    past = json.loads((tmp_path / "past" / "report.json").read_text())
    from_csv = json.loads((tmp_path / "csv" / "report.json").read_text())
    source = past.pop("backtest")
    assert source["gaps"] == 11 and source["points"] == POINTS
    assert past.pop("trace").startswith(f"Prometheus {known.server.url}, ")
    assert from_csv.pop("trace") == "known.csv"
    # What the backtest says about its gaps is a note of its own; the rest is the same.
    assert any("11 of 120 steps had no value" in note for note in past.pop("notes"))
    assert from_csv.pop("notes") == []
    assert past == from_csv
    table = out.split("\n\n", 1)[1].split("\nWrote ")[0]
    assert table == csv_out.split("\n\n", 1)[1].split("\nWrote ")[0]


def test_an_unreachable_prometheus_is_one_line(known: Known) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    code, out, err = _simulate(str(known.policy), "--prometheus", url, "--query", "up")
    assert (code, out) == (2, "")
    assert err == f"autoscaler simulate: prometheus {url}: connection refused\n"


def test_no_data_in_the_range_is_one_line(known: Known) -> None:
    code, out, err = _simulate(
        str(known.policy),
        "--prometheus",
        known.server.url,
        "--query",
        "test_http_rps_absent",
        "--since",
        "1h",
        "--step",
        "60s",
    )
    assert (code, out) == (2, "")
    assert err.startswith(f"autoscaler simulate: prometheus {known.server.url}: no data from ")
    assert err.endswith(" for test_http_rps_absent\n") and err.count("\n") == 1


def test_a_bad_query_is_prometheus_own_message_on_one_line(known: Known) -> None:
    code, _, err = _simulate(
        str(known.policy), "--prometheus", known.server.url, "--query", "sum(", "--since", "1h"
    )
    assert code == 2
    assert err.startswith(f"autoscaler simulate: prometheus {known.server.url}: HTTP 400: ")
    assert err.count("\n") == 1


@pytest.mark.parametrize(
    ("args", "message"),
    [
        pytest.param(["--since", "1d"], "--since needs --prometheus URL", id="flag-alone"),
        pytest.param(
            ["--prometheus", "http://127.0.0.1:1"],
            "--prometheus needs --query PROMQL (the request rate) or --metrics-config PATH",
            id="no-query",
        ),
        pytest.param(
            ["--prometheus", "http://127.0.0.1:1", "--query", "up", "--start", "yesterday"],
            "not a time such as 2024-05-01T12:00:00Z or Unix seconds: 'yesterday'",
            id="bad-time",
        ),
        pytest.param(
            ["--prometheus", "http://127.0.0.1:1", "--query", "up", "--trace", "x.csv"],
            "--trace and --prometheus are two traces: give one",
            id="two-traces",
        ),
    ],
)
def test_misuse_is_one_line(known: Known, args: list[str], message: str) -> None:
    code, out, err = _simulate(str(known.policy), *args)
    assert (code, out) == (2, "")
    assert err.startswith(f"autoscaler simulate: {message}") and err.count("\n") == 1


def test_a_policy_without_a_request_rate_metric_needs_a_query(known: Known, tmp_path: Path) -> None:
    policy = tmp_path / "cpu.yaml"
    policy.write_text(
        POLICY.replace(
            """    - type: Pods
      pods:
        metric: {name: http_requests_per_second}
        target: {type: AverageValue, averageValue: "50"}""",
            """    - type: Resource
      resource: {name: cpu, target: {type: Utilization, averageUtilization: 60}}""",
        )
    )
    target = load_targets([str(policy)])[0]
    with pytest.raises(backtest.BacktestError, match="no Pods, Object or External request-rate"):
        backtest.load_query(target, metrics_config=[str(known.declarations)], query=None)


NOW = 100_010.0  # "now" ends a range on a whole step: 99,960 at 60 s


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        pytest.param({}, (99_960.0 - 7 * 86_400, 99_960.0), id="default-7d"),
        pytest.param({"since": 3600.0}, (96_360.0, 99_960.0), id="since"),
        pytest.param({"start": 0.0, "end": 600.0}, (0.0, 600.0), id="start-end"),
        pytest.param({"start": 0.0, "since": 600.0}, (0.0, 600.0), id="start-since"),
        pytest.param({"end": 90_000.0, "since": 600.0}, (89_400.0, 90_000.0), id="end-since"),
        pytest.param({"start": 60_000.0}, (60_000.0, 99_960.0), id="start-to-now"),
    ],
)
def test_the_range_comes_from_any_two_of_start_end_and_since(
    given: dict[str, float], expected: tuple[float, float]
) -> None:
    span = backtest.time_range(step=STEP, now=NOW, **given)
    assert (span.start, span.end) == expected


def test_all_three_of_start_end_and_since_is_an_error() -> None:
    with pytest.raises(backtest.BacktestError, match="two of --start, --end and --since"):
        backtest.time_range(step=STEP, now=NOW, start=0.0, end=600.0, since=600.0)
