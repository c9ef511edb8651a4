"""Issue #13's goal: `policies/web-predictive.yaml` against `hpa-default` and the best
plain-HPA behavior, on every bundled trace and on synthetic ramps and flash crowds.

For every trace in `loadtest/traces/` (the day of its peak, after a pre-roll of the
days before it so the forecast has history) and every synthetic load, with a fast pod
(Ready 12 s after binding) and a slow one (45 s), three policies on the same metrics
and targets replay the load as `autoscaler simulate POLICY --compare --pod SPEED
--history D` does, each alone in its own cluster, with the same pre-roll:

- `web-predictive` (the policy: the forecast and burst paths, a 10-minute scale-down);
- `hpa-default` (the same metrics, targets and bounds, no behavior: a plain HPA);
- the best plain-HPA policy: of a fixed grid of HPA-only behaviors on the same metrics
  and targets (faster scale-up, longer scale-down windows, see ``GRID``), the one with
  the fewest SLO-miss minutes among those within +10 % of hpa-default's replica-hours
  (ties: fewer dropped+slow requests), chosen per trace and pod; shown by name.

Printed per trace and pod: SLO-miss minutes, dropped+slow requests and replica-hours of
each, the policy's ratios to hpa-default and to the best HPA, and the goal: on every real
trace with the 45 s pod, SLO-miss minutes at most half of hpa-default's at no more than
+10 % replica-hours; and on every trace and pod, never more SLO-miss minutes nor more
dropped+slow requests than hpa-default. The SLO figures are computed from the served
traffic alone (docs/simulate.md), the same ruler for every policy.

Bounded: 3 real traces x 2 pods x 7 runs of (pre-roll + 1 day) plus 2 synthetic loads
x 2 pods x 7 runs of 6 hours, on ``--jobs`` processes (2).

Run: `.venv/bin/python loadtest/bench_outcome.py [--history-days 7] [--jobs 2] [--cache F]`
(``--cache``: finished runs are appended there and a re-run with the same pre-roll
reuses the runs whose policy file is unchanged, so an interrupted benchmark resumes).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import multiprocessing
import os
import platform
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from procstat import cpu_model  # loadtest/ is on the path: scripts run from it

from autoscaler.core.model import Behavior, ScalingPolicy, ScalingRules, Settings
from autoscaler.ports import Target
from autoscaler.sim.load import FlashCrowd, LoadShape, Noisy, Ramp, TraceLoad
from autoscaler.sim.podmodel import POD_STARTS
from autoscaler.sim.traces import read_trace
from autoscaler.simulate.baseline import hpa_default_target
from autoscaler.simulate.engine import Plan, seeded_phase, simulate
from autoscaler.simulate.report import summarize
from autoscaler.simulate.setup import derived_peak, load_targets, scale_to_peak, subjects
from autoscaler.simulate.verdict import count

ROOT = Path(__file__).resolve().parent.parent
POLICY = str(ROOT / "policies" / "web-predictive.yaml")
TRACES = sorted((Path(__file__).parent / "traces").glob("*.csv"))
DAY = 86_400.0
HOUR = 3_600.0
STEP = 15.0
SPEEDS = ("fast", "slow")


def _rules(window: int, policies: Sequence[tuple[str, int, int]]) -> ScalingRules:
    return ScalingRules(
        stabilization_window_seconds=window,
        select_policy="Max",
        policies=tuple(ScalingPolicy(kind, value, period) for kind, value, period in policies),
    )


# The HPA's own default rules (what `behavior: {}` means), and a faster scale-up: triple
# per 15 s or 10 pods, whichever is more.
UP_DEFAULT = _rules(0, [("Percent", 100, 15), ("Pods", 4, 15)])
UP_FAST = _rules(0, [("Percent", 200, 15), ("Pods", 10, 15)])


def _down(window: int) -> ScalingRules:
    return _rules(window, [("Percent", 100, 15)])


# The plain-HPA grid: behaviors only, on the policy's own metrics, targets and bounds.
GRID: dict[str, Behavior] = {
    "hpa-down10m": Behavior(scale_up=UP_DEFAULT, scale_down=_down(600)),
    "hpa-down20m": Behavior(scale_up=UP_DEFAULT, scale_down=_down(1200)),
    "hpa-fastup": Behavior(scale_up=UP_FAST, scale_down=_down(300)),
    "hpa-fastup-down10m": Behavior(scale_up=UP_FAST, scale_down=_down(600)),
    "hpa-fastup-down20m": Behavior(scale_up=UP_FAST, scale_down=_down(1200)),
}


@dataclass(frozen=True)
class Load:
    """One load of the benchmark: its name, shape, recorded duration and pre-roll."""

    name: str
    real: bool
    shape: LoadShape
    duration: float
    history: float


def peak_day(path: Path) -> float:
    """The start (trace seconds, a whole day from the first row) of the day of the peak."""
    trace = read_trace(path)
    peak = max(range(len(trace.rates)), key=trace.rates.__getitem__)
    return math.floor((trace.times[peak] - trace.times[0]) / DAY) * DAY


def loads(history_days: float, peak: float) -> list[Load]:
    """The real traces (the peak day, scaled to ``peak``) and the synthetic loads."""
    out = []
    for path in TRACES:
        played = read_trace(path)
        start = peak_day(path)
        shape = TraceLoad(trace=played, time_offset=played.times[0] + start)
        scaled = scale_to_peak(shape, peak=peak, duration=DAY, step=STEP)
        name = path.stem.removeprefix("nab_").split("_")[0]
        out.append(Load(name, True, scaled, DAY, min(history_days * DAY, start)))
    # A ramp from 10 % to 90 % of the peak over 30 minutes, with 10 % noise per minute;
    # and a flash crowd: 15 % to the full peak in one minute, for ten, then a decay.
    ramp = Noisy(
        shape=Ramp(start_rps=0.1 * peak, end_rps=0.9 * peak, start=2 * HOUR, duration=1800),
        sigma=0.1,
        seed=13,
        interval=60.0,
    )
    flash = FlashCrowd(base=0.15 * peak, peak=peak, start=2 * HOUR, rise=60, hold=600, decay=900)
    out.append(Load("ramp", False, ramp, 6 * HOUR, 0.0))
    out.append(Load("flash", False, flash, 6 * HOUR, 0.0))
    return out


def grid_target(base: Target, name: str, behavior: Behavior) -> Target:
    """``base``'s hpa-default with ``behavior``: a plain HPA with a tuned behavior."""
    plain = hpa_default_target(base)
    return replace(plain, name=name, policy=replace(plain.policy, behavior=behavior))


def job(args: tuple[Load, str, str, str]) -> tuple[str, str, str, dict[str, Any], float]:
    """One run: the load, the pod speed and the policy (by name; ``path`` is the policy
    file the others derive from) alone in a cluster."""
    load, speed, which, path = args
    started = time.perf_counter()
    target = load_targets([path])[0]
    policy, baseline = subjects([target], scenario=None, replicas=None, baseline=True, pod=speed)
    if which == policy.label:
        subject = policy
    elif which == baseline.label:
        subject = baseline
    else:
        subject = replace(baseline, label=which, target=grid_target(target, which, GRID[which]))
    plan = Plan(
        load=load.shape,
        duration=load.duration,
        step=STEP,
        settings=Settings(),
        sync_phase=seeded_phase(0, STEP),
        history=load.history,
    )
    [result] = simulate(plan, [subject])
    return load.name, speed, which, summarize(result, plan=plan), time.perf_counter() - started


def ratio(mine: float, theirs: float) -> str:
    if theirs == 0:
        return "=" if mine == 0 else "+inf"
    return f"{mine / theirs:.2f}"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--history-days", type=float, default=7.0, help="pre-roll (7)")
    parser.add_argument("--jobs", type=int, default=2, help="processes (2)")
    parser.add_argument("--only", nargs="*", default=[], help="loads to run (all)")
    parser.add_argument("--pods", nargs="*", default=list(SPEEDS), help="pod speeds (both)")
    parser.add_argument(
        "--policy", default=POLICY, help="the policy to measure (policies/web-predictive.yaml)"
    )
    parser.add_argument(
        "--cache",
        metavar="FILE",
        help="JSON lines of finished runs: kept as they finish, reused by a re-run",
    )
    args = parser.parse_args(argv)
    target = load_targets([args.policy])[0]
    policy_label = target.name
    peak = derived_peak(subjects([target], scenario=None, replicas=None, baseline=False)[0])
    chosen = [x for x in loads(args.history_days, peak) if not args.only or x.name in args.only]
    names = [policy_label, "hpa-default", *GRID]
    print(
        f"machine: {os.cpu_count()} CPUs, {cpu_model()}, Python {platform.python_version()}, "
        f"load average {os.getloadavg()[0]:.2f}"
    )
    pods = ", ".join(f"{n} (Ready {sum(d):g} s)" for n, d in POD_STARTS.items())
    print(
        f"outcome: {Path(args.policy).name} vs hpa-default vs the best of {len(GRID)} plain-HPA "
        f"behaviors; peak {peak:,.0f} rps; pods {pods}; real traces: the peak day after "
        f"{args.history_days:g} d of pre-roll; synthetic: 6 h, no pre-roll"
    )
    speeds = [s for s in SPEEDS if s in args.pods]
    work = [(x, speed, name, args.policy) for x in chosen for speed in speeds for name in names]
    # The goal's runs first (real traces, slow pod), so an interrupted run has them.
    work.sort(key=lambda w: (not w[0].real, w[1] != "slow"))
    cached = _read_cache(args.cache, args.history_days, args.policy)
    todo = [w for w in work if (w[0].name, w[1], w[2]) not in cached]
    started = time.perf_counter()
    done = []
    with multiprocessing.get_context("fork").Pool(max(1, args.jobs)) as pool:
        for finished in pool.imap_unordered(job, todo, chunksize=1):
            done.append(finished)
            _write_cache(args.cache, args.history_days, args.policy, finished)
            print(f"  {len(done)}/{len(todo)} {' '.join(finished[:3])}", file=sys.stderr)
    wall = time.perf_counter() - started
    runs = {**cached, **{(n, s, w): summary for n, s, w, summary, _ in done}}
    cpu = sum(seconds for *_, seconds in done)
    header = (
        f"{'load':<8} {'pod':<4} {'SLO-miss min P / B / D':>24} {'dropped+slow P / B / D':>26} "
        f"{'replica-h P / B / D':>22}  {'P/D slo':>7} {'P/D bad':>7} {'P/D rh':>6} "
        f"{'P/B slo':>7}  best plain HPA (B)"
    )
    print(header)
    print("-" * len(header))
    failures: list[str] = []
    for load in chosen:
        for speed in speeds:
            mine = runs[(load.name, speed, policy_label)]
            default = runs[(load.name, speed, "hpa-default")]
            name, best = best_plain(load.name, speed, runs, default)
            print(
                f"{load.name:<8} {speed:<4} "
                f"{mine['sloMissMinutes']:>8,.0f} / {best['sloMissMinutes']:>5,.0f} / "
                f"{default['sloMissMinutes']:>5,.0f} "
                f"{count(mine['badRequests']):>9} / {count(best['badRequests']):>6} / "
                f"{count(default['badRequests']):>6} "
                f"{mine['replicaHours']:>8,.1f} / {best['replicaHours']:>5,.1f} / "
                f"{default['replicaHours']:>5,.1f}  "
                f"{ratio(mine['sloMissMinutes'], default['sloMissMinutes']):>7} "
                f"{ratio(mine['badRequests'], default['badRequests']):>7} "
                f"{ratio(mine['replicaHours'], default['replicaHours']):>6} "
                f"{ratio(mine['sloMissMinutes'], best['sloMissMinutes']):>7}  {name}"
            )
            failures += goal_failures(load, speed, mine, default)
    print("(P: web-predictive, B: the best plain-HPA behavior, D: hpa-default; ratios P/D, P/B)")
    print(
        f"{len(todo)} runs in {wall:.0f} s on {args.jobs} processes "
        f"({cpu:.0f} s of runs, {cpu / max(1, len(todo)):.1f} s each on average)"
        + (f"; {len(work) - len(todo)} from {args.cache}" if len(todo) < len(work) else "")
    )
    if failures:
        print("goal: not met: " + "; ".join(failures))
    else:
        print(
            "goal: met (every real trace, 45 s pod: >= 50 % fewer SLO-miss minutes at <= +10 % "
            "replica-hours; never worse than hpa-default)"
        )
    return 0


def _policy_digest(which: str, path: str) -> str:
    """What a cached run depends on besides the load: the policy the run was built from
    (the baseline and the grid take its metrics, targets and bounds), and the grid's
    behavior for a grid run."""
    target = load_targets([path])[0]
    if which == target.name:
        text = Path(path).read_text()
    else:  # the metrics, targets and bounds only: tuning the policy's paths keeps these
        text = repr(hpa_default_target(target).policy) + repr(GRID.get(which))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _read_cache(
    path: str | None, history: float, policy: str
) -> dict[tuple[str, str, str], dict[str, Any]]:
    """Runs a previous invocation finished with the same pre-roll and the same policy
    file (keyed by load, pod and policy)."""
    if path is None or not Path(path).exists():
        return {}
    out = {}
    for line in Path(path).read_text().splitlines():
        row = json.loads(line)
        digest = _policy_digest(row["policy"], policy)
        if row["historyDays"] == history and row["digest"] == digest:
            out[(row["load"], row["pod"], row["policy"])] = row["summary"]
    return out


def _write_cache(path: str | None, history: float, policy: str, finished: tuple[Any, ...]) -> None:
    if path is None:
        return
    name, speed, which, summary, _ = finished
    row = {
        "historyDays": history,
        "load": name,
        "pod": speed,
        "policy": which,
        "digest": _policy_digest(which, policy),
    }
    with Path(path).open("a", encoding="utf-8") as out:
        out.write(json.dumps({**row, "summary": summary}) + "\n")


def best_plain(
    load: str, speed: str, runs: dict[tuple[str, str, str], dict[str, Any]], default: dict[str, Any]
) -> tuple[str, dict[str, Any]]:
    """The grid's behavior with the fewest SLO-miss minutes within +10 % of hpa-default's
    replica-hours (then fewer dropped+slow); hpa-default itself when none is."""
    budget = default["replicaHours"] * 1.10
    fits = [(n, runs[(load, speed, n)]) for n in GRID]
    fits = [(n, s) for n, s in fits if s["replicaHours"] <= budget]
    if not fits:
        return "hpa-default (none within +10 %)", default
    return min(fits, key=lambda pair: (pair[1]["sloMissMinutes"], pair[1]["badRequests"]))


def goal_failures(
    load: Load, speed: str, mine: dict[str, Any], default: dict[str, Any]
) -> list[str]:
    """What misses the goal on this load and pod (nothing: it is met)."""
    where = f"{load.name}/{speed}"
    out = []
    if mine["sloMissMinutes"] > default["sloMissMinutes"]:
        out.append(f"{where} more SLO-miss minutes than hpa-default")
    if mine["badRequests"] > default["badRequests"]:
        out.append(f"{where} more dropped+slow than hpa-default")
    if load.real and speed == "slow":
        if mine["sloMissMinutes"] > 0.5 * default["sloMissMinutes"]:
            cut = 1 - mine["sloMissMinutes"] / max(1e-9, default["sloMissMinutes"])
            out.append(f"{where} SLO-miss minutes -{cut:.0%} (goal -50 %)")
        if mine["replicaHours"] > 1.10 * default["replicaHours"]:
            extra = mine["replicaHours"] / default["replicaHours"] - 1
            out.append(f"{where} replica-hours +{extra:.0%} (goal <= +10 %)")
    return out


if __name__ == "__main__":
    raise SystemExit(main())
