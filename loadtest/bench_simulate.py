"""Virtual-time speed of `autoscaler simulate` (issue #7: a day at 15 s steps < 2 s).

Replays the bundled example policy on one day of the real NASA trace (day 12, the
launch-day flash crowd), one target, 15 s steps (5,760 syncs plus a 10-minute warm-up),
through the real Controller; best of a few rounds of the engine alone, then the whole
command (policy loading, two runs with --compare, report, no chart) once.

Run: `.venv/bin/python loadtest/bench_simulate.py [--rounds 3]`.
"""

from __future__ import annotations

import argparse
import io
import platform
import time
from pathlib import Path

from autoscaler.cli import main
from autoscaler.sim.load import TraceLoad
from autoscaler.sim.traces import read_trace
from autoscaler.simulate.engine import Plan, Subject, simulate
from autoscaler.simulate.setup import bundled, load_targets

TRACE = Path(__file__).parent / "traces" / "nasa_http_jul1995_requests_1min.csv"
DAY = 86_400.0


def bench(rounds: int) -> None:
    target = load_targets([bundled("simulate-policy.yaml")])[0]
    load = TraceLoad(trace=read_trace(TRACE), scale=300, time_offset=12 * DAY)
    plan = Plan(load=load, duration=DAY)
    best = float("inf")
    for _ in range(rounds):
        started = time.perf_counter()
        result = simulate(plan, [Subject(label="web", target=target, replicas=4)])[0]
        best = min(best, time.perf_counter() - started)
    steps = len(result.series.t)
    print(
        f"machine: {platform.processor() or platform.machine()}, Python {platform.python_version()}"
    )
    print(
        f"engine, 1 target, 1 day at 15 s ({steps} steps): best {best:.2f} s "
        f"({steps / best:,.0f} syncs/s; goal < 2 s)"
    )
    started = time.perf_counter()
    code = main(["simulate"], out=io.StringIO(), err=io.StringIO())
    print(
        f"`autoscaler simulate` default (2 runs + report, in process): "
        f"{time.perf_counter() - started:.2f} s (exit {code})"
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    bench(parser.parse_args().rounds)
