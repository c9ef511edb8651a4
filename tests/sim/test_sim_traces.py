"""Trace files: the shared real traces parse; every kind of bad input is refused with
one line naming the file and line; synthetic traces have the same type."""

from __future__ import annotations

from pathlib import Path

import pytest

from autoscaler.sim.load import Trace
from autoscaler.sim.traces import (
    TraceError,
    diurnal_trace,
    flash_crowd_trace,
    noisy_trace,
    parse_trace,
    ramp_trace,
    read_trace,
    step_trace,
)

# The real public traces, copied into the repository with their sources and licenses.
TRACES = Path(__file__).resolve().parents[2] / "loadtest" / "traces"
REAL = sorted(TRACES.glob("*.csv"))


def test_the_bundled_real_traces_are_present() -> None:
    assert len(REAL) == 3


@pytest.mark.parametrize("path", REAL, ids=[p.name for p in REAL])
def test_the_real_traces_parse_as_rates(path: Path) -> None:
    trace = read_trace(path)
    step = trace.times[1] - trace.times[0]
    assert step in (60.0, 300.0) and trace.times[0] == 0.0
    raw = path.read_text().splitlines()
    assert len(trace.times) == len(raw) - 1
    assert trace.rates[0] == float(raw[1].split(",")[1]) / step  # counts -> per second


def test_the_nasa_peak_is_409_requests_a_minute() -> None:
    path = TRACES / "nasa_http_jul1995_requests_1min.csv"
    assert max(read_trace(path).rates) * 60 == pytest.approx(409)


def parse(text: str, **options: object) -> Trace:
    return parse_trace(text, name="t.csv", **options)  # type: ignore[arg-type]


def test_header_is_optional_and_rates_can_be_read_as_they_are() -> None:
    assert parse("0,5\n10,7\n", kind="rate") == Trace((0.0, 10.0), (5.0, 7.0))
    assert parse("0,50\n10,70\n") == Trace((0.0, 10.0), (5.0, 7.0))


def test_a_column_is_chosen_by_name_or_index() -> None:
    text = "t,a,b\r\n0,1,2\r\n1,3,4\r\n\n"
    assert parse(text, column="b", kind="rate").rates == (2.0, 4.0)
    assert parse(text, column=1, kind="rate").rates == (1.0, 3.0)


@pytest.mark.parametrize(
    ("text", "options", "message"),
    [
        pytest.param("", {}, "t.csv:1: empty trace", id="empty"),
        pytest.param("timestamp_seconds,value\n", {}, "t.csv:2: empty trace", id="header-only"),
        pytest.param(
            "ts,value\n0,1\n60,2\n30,3\n", {}, "t.csv:4: timestamp 30 is before", id="unsorted"
        ),
        pytest.param(
            "ts,value\n0,1\n60,2\n60,3\n",
            {},
            "t.csv:4: duplicate timestamp 60 (line 3)",
            id="duplicate",
        ),
        pytest.param("ts,value\n0,1\n60,-2\n", {}, "t.csv:3: negative value -2", id="negative"),
        pytest.param(
            "ts,value\n0,1\n60,lots\n", {}, "t.csv:3: value 'lots' is not a number", id="value-nan"
        ),
        pytest.param(
            "ts,value\nnoon,1\n", {}, "t.csv:2: timestamp 'noon' is not a number", id="time-nan"
        ),
        pytest.param(
            "ts,value\n0,1\n60,inf\n", {}, "t.csv:3: value 'inf' is not a finite", id="infinite"
        ),
        pytest.param(
            "ts,value\n0,1\n60\n", {}, "t.csv:3: expected at least 2 columns", id="short-row"
        ),
        pytest.param(
            "ts,value\n0,1\n", {"column": "rps"}, "t.csv:1: no column 'rps'", id="no-column"
        ),
        pytest.param("0,1\n", {"column": "rps"}, "t.csv:1: no header line", id="no-header"),
        pytest.param("ts,value\n0,1\n", {}, "t.csv:2: a one-row count trace", id="one-row-count"),
    ],
)
def test_bad_input_is_one_line_naming_file_and_line(
    text: str, options: dict[str, object], message: str
) -> None:
    with pytest.raises(TraceError) as caught:
        parse(text, **options)
    assert str(caught.value).startswith(message)
    assert "\n" not in str(caught.value)


def test_an_unreadable_file_is_a_trace_error(tmp_path: Path) -> None:
    with pytest.raises(TraceError, match=r"missing\.csv: cannot read"):
        read_trace(tmp_path / "missing.csv")
    binary = tmp_path / "binary.csv"
    binary.write_bytes(b"\xff\xfe\x00")
    with pytest.raises(TraceError, match="not UTF-8"):
        read_trace(binary)


def test_synthetic_traces() -> None:
    step = step_trace(before=1.0, after=5.0, at=120.0, duration=300.0, interval=60.0)
    assert step == Trace((0.0, 60.0, 120.0, 180.0, 240.0), (1.0, 1.0, 5.0, 5.0, 5.0))
    ramp = ramp_trace(
        start_rps=0.0, end_rps=10.0, start=0.0, ramp=100.0, duration=200.0, interval=50.0
    )
    assert ramp.rates == (0.0, 5.0, 10.0, 10.0)
    day = diurnal_trace(base=10.0, amplitude=5.0, duration=86400.0, interval=3600.0)
    assert len(day.times) == 24 and max(day.rates) == pytest.approx(15.0)
    flash = flash_crowd_trace(base=1.0, peak=50.0, start=600.0, duration=3600.0)
    assert max(flash.rates) == 50.0 and flash.rates[0] == 1.0
    noisy = noisy_trace(day, sigma=0.2, seed=3)
    assert noisy.times == day.times and noisy != day
    assert noisy == noisy_trace(day, sigma=0.2, seed=3)
