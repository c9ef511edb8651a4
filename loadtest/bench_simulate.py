"""`autoscaler simulate`: what each bundled policy buys over `hpa-default`, and how fast.

Outcomes (the headline). For every bundled trace (the day holding its peak), a fast
pod (Ready 12 s after binding) and a slow one (45 s), and every bundled example policy
(`autoscaler/examples/simulate-policy.yaml` and `policies/*.yaml`), the policy and its
own `hpa-default` baseline each replay the day as `autoscaler simulate POLICY --trace
FILE --compare --pod SPEED` does: the count trace scaled to half of what maxReplicas
pods serve, 15 s syncs at the seed-0 phase, a 10-minute warm-up. Printed per row: the
SLO figures (SLO-miss minutes: a dropped request or over 1 % of requests slower than
250 ms; dropped + slow requests), replica-hours, and the verdict against the baseline.
See docs/simulate.md for every figure.

Speed (issue #7: a day at 15 s steps < 2 s): the bundled example policy on day 12 of
the NASA trace, one target, best of a few rounds of the engine alone, then the whole
default command (two runs, report and chart) once.

Run: `.venv/bin/python loadtest/bench_simulate.py [--rounds 3] [--days 1] [--only NAME]`.
"""

from __future__ import annotations

import argparse
import io
import math
import os
import platform
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from procstat import cpu_model  # loadtest/ is on the path: scripts run from it

from autoscaler.cli import main
from autoscaler.core.model import Settings
from autoscaler.sim.load import TraceLoad
from autoscaler.sim.podmodel import POD_STARTS
from autoscaler.sim.traces import read_trace
from autoscaler.simulate.engine import Plan, Subject, seeded_phase, simulate
from autoscaler.simulate.report import summarize
from autoscaler.simulate.setup import bundled, derived_peak, load_targets, scale_to_peak, subjects
from autoscaler.simulate.verdict import count, verdict

ROOT = Path(__file__).resolve().parent.parent
TRACES = sorted((Path(__file__).parent / "traces").glob("*.csv"))
POLICIES = [bundled("simulate-policy.yaml"), *sorted(str(p) for p in ROOT.glob("policies/*.yaml"))]
DAY = 86_400.0
STEP = 15.0


def peak_day(path: Path) -> float:
    """The start (trace seconds, a whole day from the first row) of the day of the peak."""
    trace = read_trace(path)
    peak = max(range(len(trace.rates)), key=trace.rates.__getitem__)
    return math.floor((trace.times[peak] - trace.times[0]) / DAY) * DAY


def outcome(policy: str, trace: Path, *, speed: str, days: float) -> list[dict[str, Any]]:
    """The policy and its baseline on ``days`` from the trace's peak day: one row each."""
    played = read_trace(trace)
    load = TraceLoad(trace=played, time_offset=played.times[0] + peak_day(trace))
    pair = subjects(load_targets([policy]), scenario=None, replicas=None, baseline=True, pod=speed)
    duration = days * DAY
    scaled = scale_to_peak(load, peak=derived_peak(pair[0]), duration=duration, step=STEP)
    plan = Plan(
        load=scaled, duration=duration, step=STEP, settings=Settings(),
        sync_phase=seeded_phase(0, STEP),
    )  # fmt: skip
    rows = []
    for subject in pair:  # each in its own cluster, as --compare runs them
        [result] = simulate(plan, [subject])
        rows.append({"subject": subject, "summary": summarize(result, plan=plan)})
    return rows


def print_outcomes(*, days: float, only: Sequence[str]) -> None:
    chosen = [p for p in POLICIES if not only or any(o in Path(p).stem for o in only)]
    pods = ", ".join(f"{name} (Ready {sum(delays):g} s)" for name, delays in POD_STARTS.items())
    print(
        f"outcomes: {len(TRACES)} traces (the day of each one's peak, {days:g} d), "
        f"{len(chosen)} policies, pods {pods}"
    )
    header = (
        f"{'trace':<8} {'pod':<4} {'policy':<26} {'SLO-miss min':>16} "
        f"{'dropped+slow':>16} {'replica-h':>15}  verdict"
    )
    print(header)
    print("-" * len(header))
    words: dict[str, int] = {}
    for trace in TRACES:
        for speed in POD_STARTS:
            for policy in chosen:
                rows = outcome(policy, trace, speed=speed, days=days)
                mine, theirs = (row["summary"] for row in rows)
                name = load_targets([policy])[0].name
                word = verdict(name, "hpa-default", mine, theirs).split(": ")[1]
                words[word] = words.get(word, 0) + 1
                short = trace.stem.removeprefix("nab_").split("_")[0]
                print(
                    f"{short:<8} {speed:<4} {Path(policy).stem[:26]:<26} "
                    f"{mine['sloMissMinutes']:>7,.0f} / {theirs['sloMissMinutes']:<6,.0f} "
                    f"{count(mine['badRequests']):>7} / {count(theirs['badRequests']):<6} "
                    f"{mine['replicaHours']:>6,.0f} / {theirs['replicaHours']:<6,.0f}  {word}"
                )
    print("(each cell: the policy / its hpa-default)")
    print("verdicts: " + ", ".join(f"{n} {w}" for w, n in sorted(words.items())))


def print_speed(rounds: int) -> None:
    target = load_targets([bundled("simulate-policy.yaml")])[0]
    nasa = next(t for t in TRACES if t.name.startswith("nasa"))
    load = TraceLoad(trace=read_trace(nasa), scale=300, time_offset=12 * DAY)
    plan = Plan(load=load, duration=DAY, sync_phase=seeded_phase(0, STEP))
    best = float("inf")
    for _ in range(rounds):
        started = time.perf_counter()
        result = simulate(plan, [Subject(label="web", target=target, replicas=4)])[0]
        best = min(best, time.perf_counter() - started)
    steps = len(result.series.t)
    print(
        f"engine, 1 target, 1 day at 15 s ({steps} steps): best {best:.2f} s "
        f"({steps / best:,.0f} syncs/s; goal < 2 s)"
    )
    with tempfile.TemporaryDirectory() as folder:
        here = Path.cwd()
        os.chdir(folder)  # the demo writes simulate-demo/ into the current directory
        try:
            started = time.perf_counter()
            code = main(["simulate"], out=io.StringIO(), err=io.StringIO())
            seconds = time.perf_counter() - started
        finally:
            os.chdir(here)
    print(f"`autoscaler simulate` default (2 runs, report and chart, in process): "
          f"{seconds:.2f} s (exit {code})")  # fmt: skip


def bench(*, rounds: int, days: float, only: Sequence[str]) -> None:
    print(
        f"machine: {os.cpu_count()} CPUs, {cpu_model()}, "
        f"Python {platform.python_version()}, load average {os.getloadavg()[0]:.2f}"
    )
    print_outcomes(days=days, only=only)
    print_speed(rounds)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--days", type=float, default=1.0, help="days from each peak day")
    parser.add_argument("--only", nargs="+", default=[], metavar="NAME", help="policy stems")
    args = parser.parse_args()
    bench(rounds=args.rounds, days=args.days, only=args.only)
