"""The sync phase: syncs fall between the trace's steps, seeded and deterministic.

Aspects: the phase is a pure function of the seed and lies within a step; the engine
records from ``t = phase``; an interval straddling a trace step serves each part in
proportion (requests are conserved), so the loop sees a rise part-way, as a real
rate would show it; the command reports the phase it used.
"""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from autoscaler.cli import main
from autoscaler.sim.load import Trace, TraceLoad
from autoscaler.simulate.engine import Plan, Subject, seeded_phase, simulate
from autoscaler.simulate.setup import bundled, load_targets

# 100 rps for five minutes, then 300 rps: a step on the trace's grid.
RISE = TraceLoad(trace=Trace((0.0, 300.0), (100.0, 300.0)))


def run(phase: float, duration: float = 900.0) -> tuple[list[float], list[float]]:
    target = load_targets([bundled("simulate-policy.yaml")])[0]
    plan = Plan(load=RISE, duration=duration, warmup=60.0, sync_phase=phase)
    [result] = simulate(plan, [Subject(label="web", target=target, replicas=4)])
    return result.series.t, result.series.offered


def test_the_phase_is_a_pure_function_of_the_seed_within_one_step() -> None:
    phases = [seeded_phase(seed, 15.0) for seed in range(20)]
    assert phases == [seeded_phase(seed, 15.0) for seed in range(20)]
    assert all(0.0 <= p < 15.0 for p in phases)
    assert len(set(phases)) > 10
    assert all(0.0 <= seeded_phase(seed, step) < step for seed in range(20) for step in (0.05, 0.5))


def test_the_engine_records_from_the_phase_and_repeats_itself() -> None:
    t, offered = run(7.5)
    assert t[:3] == [7.5, 22.5, 37.5] and len(t) == 60
    assert run(7.5) == (t, offered)


def test_an_interval_straddling_a_trace_step_serves_each_part_in_proportion() -> None:
    t, offered = run(7.5)
    straddling = t.index(292.5)  # [292.5, 307.5): half at 100 rps, half at 300 rps
    assert offered[straddling - 1 : straddling + 2] == [100.0, 200.0, 300.0]
    # Every request of the trace over [7.5, 907.5) is offered, none twice.
    assert sum(offered) * 15 == pytest.approx(292.5 * 100 + 607.5 * 300)


def test_without_a_phase_the_rise_falls_exactly_on_a_sync() -> None:
    t, offered = run(0.0)
    at = t.index(300.0)
    assert offered[at - 1 : at + 1] == [100.0, 300.0]


def test_the_command_uses_the_seeded_phase_and_says_so(tmp_path: Path) -> None:
    out = io.StringIO()
    args = ["simulate", bundled("simulate-policy.yaml"), "--duration", "30m", "--seed", "3"]
    code = main([*args, "--out", str(tmp_path)], out=out, err=io.StringIO())
    phase = seeded_phase(3, 15.0)
    assert code == 0 and f"syncs {phase:g} s into each step" in out.getvalue()
    report = json.loads((tmp_path / "report.json").read_text())
    assert report["syncPhaseSeconds"] == phase and report["seed"] == 3
    assert report["runs"][0]["series"]["t"][0] == phase
