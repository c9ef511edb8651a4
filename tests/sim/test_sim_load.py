"""Load shapes and the traffic model: conservation, CPU capped at the limit,
latency monotone in utilization, deterministic noise, step-hold trace playback."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from autoscaler.sim.load import (
    Constant,
    Diurnal,
    FlashCrowd,
    Noisy,
    Ramp,
    Scaled,
    Step,
    Trace,
    TraceLoad,
    mean_rate,
    serve,
)
from autoscaler.sim.podmodel import PodModel

MODEL = PodModel(
    capacity_rps=100.0, cpu_per_request_milli=5.0, idle_cpu_milli=20.0, cpu_limit_milli=400
)
rates = st.floats(min_value=0.0, max_value=1e7, allow_nan=False, allow_infinity=False)
pods = st.integers(min_value=0, max_value=500)


@given(offered=rates, ready=pods)
def test_served_plus_dropped_is_offered(offered: float, ready: int) -> None:
    result = serve(offered, ready, MODEL)
    assert result.served_rps >= 0 and result.dropped_rps >= 0
    assert math.isclose(result.served_rps + result.dropped_rps, offered, rel_tol=1e-12)
    assert result.served_rps <= ready * MODEL.capacity_rps * (1 + 1e-12)


@given(offered=rates, ready=st.integers(min_value=1, max_value=500))
def test_cpu_never_exceeds_the_limit(offered: float, ready: int) -> None:
    result = serve(offered, ready, MODEL)
    assert MODEL.idle_cpu_milli <= result.cpu_milli <= MODEL.cpu_limit_milli


@given(a=rates, b=rates, ready=st.integers(min_value=1, max_value=50))
def test_latency_grows_with_utilization(a: float, b: float, ready: int) -> None:
    low, high = sorted((a, b))
    assert serve(low, ready, MODEL).latency_ms <= serve(high, ready, MODEL).latency_ms


def test_under_capacity_everything_is_served_exactly() -> None:
    result = serve(250.0, 4, MODEL)
    assert (result.served_rps, result.dropped_rps, result.per_pod_rps) == (250.0, 0.0, 62.5)
    assert result.cpu_milli == 20.0 + 62.5 * 5.0
    assert result.latency_ms == pytest.approx(MODEL.base_latency_ms / (1 - 0.625))


def test_overload_drops_the_excess_and_saturates_latency() -> None:
    result = serve(500.0, 2, MODEL)
    assert (result.served_rps, result.dropped_rps) == (200.0, 300.0)
    assert result.latency_ms == pytest.approx(MODEL.base_latency_ms * 100)


def test_no_ready_pod_drops_everything() -> None:
    result = serve(42.0, 0, MODEL)
    assert (result.served_rps, result.dropped_rps) == (0.0, 42.0)
    assert math.isinf(result.latency_ms)


def test_serve_refuses_negative_load() -> None:
    with pytest.raises(ValueError):
        serve(-1.0, 1, MODEL)


def test_shapes() -> None:
    assert Constant(5.0).rate(1e6) == 5.0
    step = Step(before=1.0, after=9.0, at=60.0)
    assert (step.rate(59.9), step.rate(60.0)) == (1.0, 9.0)
    ramp = Ramp(start_rps=10.0, end_rps=30.0, start=100.0, duration=100.0)
    assert [ramp.rate(t) for t in (0.0, 150.0, 500.0)] == [10.0, 20.0, 30.0]
    day = Diurnal(base=100.0, amplitude=50.0, period=86400.0)
    assert day.rate(21600.0) == pytest.approx(150.0)
    assert day.rate(64800.0) == pytest.approx(50.0)
    assert Diurnal(base=10.0, amplitude=50.0).rate(64800.0) == 0.0
    flash = FlashCrowd(base=10.0, peak=110.0, start=100.0, rise=10.0, hold=50.0, decay=30.0)
    assert [flash.rate(t) for t in (99.0, 105.0, 130.0)] == [10.0, 60.0, 110.0]
    assert flash.rate(190.0) == pytest.approx(10.0 + 100.0 * math.exp(-1.0))


def test_noise_is_deterministic_and_keeps_the_mean() -> None:
    noisy = Noisy(shape=Constant(100.0), sigma=0.3, seed=7)
    series = [noisy.rate(float(t)) for t in range(5000)]
    assert series == [noisy.rate(float(t)) for t in reversed(range(5000))][::-1]
    assert series != [Noisy(shape=Constant(100.0), sigma=0.3, seed=8).rate(t) for t in range(5000)]
    assert sum(series) / len(series) == pytest.approx(100.0, rel=0.03)
    assert min(series) > 0


def test_trace_playback_holds_each_point_until_the_next() -> None:
    trace = Trace((0.0, 60.0, 120.0), (1.0, 2.0, 3.0))
    load = TraceLoad(trace=trace, scale=10.0)
    assert [load.rate(t) for t in (0.0, 59.9, 60.0, 179.0, 1e6)] == [10.0, 10.0, 20.0, 30.0, 30.0]
    assert TraceLoad(trace=trace, time_offset=-1.0).rate(0.5) == 0.0
    assert TraceLoad(trace=trace, time_offset=60.0).rate(0.0) == 2.0


def test_a_looping_trace_repeats_every_period() -> None:
    load = TraceLoad(trace=Trace((0.0, 60.0, 120.0), (1.0, 2.0, 3.0)), loop=True)
    assert [load.rate(t) for t in (180.0, 240.0, 359.0, 360.0 * 5 + 61.0)] == [1, 2, 3, 2]


def test_a_trace_refuses_unsorted_times() -> None:
    with pytest.raises(ValueError):
        Trace((0.0, 0.0), (1.0, 1.0))


def test_the_mean_of_a_trace_weighs_each_step_by_its_overlap() -> None:
    load = TraceLoad(trace=Trace((0.0, 60.0), (100.0, 300.0)))
    assert mean_rate(load, 52.5, 67.5) == 200.0
    assert mean_rate(load, 0.0, 15.0) == 100.0 and mean_rate(load, 60.0, 600.0) == 300.0
    assert mean_rate(Scaled(load, 2.0), 52.5, 67.5) == 400.0
    assert mean_rate(TraceLoad(trace=load.trace, time_offset=-30.0), 0.0, 60.0) == 50.0


@given(
    start=st.floats(min_value=-100.0, max_value=400.0),
    length=st.floats(min_value=0.5, max_value=300.0),
)
def test_a_trace_mean_is_its_integral_over_the_interval(start: float, length: float) -> None:
    load = TraceLoad(trace=Trace((0.0, 60.0, 120.0, 300.0), (1.0, 5.0, 2.0, 7.0)), scale=3.0)
    # The step-hold integral, slice by slice (0.01 s slices, exact at these breakpoints).
    slices = round(length * 100)
    width = length / slices
    numeric = sum(load.rate(start + (i + 0.5) * width) for i in range(slices)) / slices
    assert mean_rate(load, start, start + length) == pytest.approx(numeric, abs=0.05)


def test_other_shapes_are_sampled_in_one_second_slices() -> None:
    ramp = Ramp(start_rps=0.0, end_rps=100.0, start=0.0, duration=100.0)
    assert mean_rate(ramp, 10.0, 20.0) == pytest.approx(15.0)
    assert mean_rate(Constant(7.0), 0.0, 15.0) == 7.0
    assert mean_rate(Step(before=1.0, after=3.0, at=5.0), 0.0, 10.0) == 2.0
    assert mean_rate(ramp, 30.0, 30.0) == 30.0
