"""``autoscaler simulate``: the command line of the policy simulator.

With no POLICY it replays the bundled example policy and the bundled scenario (a day
of the real NASA trace, launch day included) against the ``hpa-default`` baseline.
With ``--prometheus URL`` the trace is a past range of the workload's request rate
from that Prometheus (see :mod:`autoscaler.simulate.backtest`).
Exit status 0 after a report, 2 with one line on stderr when an input cannot be used.
Module-level imports are the standard library only: ``autoscaler --help`` builds this
parser, and must stay fast.
"""

from __future__ import annotations

import argparse
import json
import math
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

if TYPE_CHECKING:
    from autoscaler.ports import Target
    from autoscaler.sim.load import LoadShape
    from autoscaler.sim.scenario import Scenario
    from autoscaler.simulate.backtest import Backtest
    from autoscaler.simulate.engine import Plan, RunResult, Subject

EXAMPLE_POLICY = "simulate-policy.yaml"
# The demo's policy: the example's workload with the forecast and burst paths.
DEMO_POLICY = "simulate-predictive.yaml"
# The demo's pre-roll: the two days before the launch day (weekdays, as the day itself),
# enough for a daily forecast, and a demo that takes seconds, not a minute.
DEMO_HISTORY = 2 * 86400.0
EXAMPLE_SCENARIO = "simulate-scenario.yaml"
DEMO_OUT = "simulate-demo"  # where the demo (no POLICY) writes its report and chart
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def duration(text: str) -> float:
    """``15s``, ``90m``, ``6h``, ``7d``, ``1d12h`` or plain seconds, as seconds (> 0)."""
    parts = re.fullmatch(r"(?:\d+(?:\.\d+)?[smhd])+|\d+(?:\.\d+)?", text.strip())
    if parts is None:
        raise argparse.ArgumentTypeError(f"not a duration such as 15s, 90m, 6h or 1d: {text!r}")
    pairs = re.findall(r"(\d+(?:\.\d+)?)([smhd]?)", text.strip())
    seconds = sum(float(n) * _UNITS[u or "s"] for n, u in pairs)
    if seconds <= 0:
        raise argparse.ArgumentTypeError(f"must be longer than 0 s (got {text!r})")
    return seconds


def _positive(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not (value > 0 and math.isfinite(value)):
        raise argparse.ArgumentTypeError(f"must be a finite number > 0 (got {text})")
    return value


def _non_negative(text: str) -> float:
    """``0`` or a duration."""
    return 0.0 if text.strip() in ("0", "0s") else duration(text)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    arg = parser.add_argument
    arg("policies", nargs="*", metavar="POLICY", help="policy file or folder, or hpa-default")
    arg(
        "--trace", metavar="FILE", help="CSV trace, timestamp_seconds,value (default: the scenario)"
    )
    arg("--trace-kind", choices=["count", "rate"], default="count", help="values are (count)")
    scale = parser.add_mutually_exclusive_group()
    scale.add_argument("--scale", type=_positive, metavar="K", help="multiply the trace's rates")
    scale.add_argument(
        "--peak",
        type=_positive,
        metavar="RPS",
        help="scale the peak to RPS (a count trace: maxReplicas x pod rps / 2)",
    )
    arg("--offset", type=_non_negative, default=0.0, metavar="D", help="start D into the trace")
    arg(
        "--scenario",
        metavar="FILE",
        help="pod model (and load) per workload (default: the bundled one)",
    )
    arg("--step", type=duration, default=15.0, metavar="D", help="sync period (15s)")
    arg("--duration", type=duration, metavar="D", help="(default: the trace, or 1d)")
    arg("--warmup", type=duration, default=600.0, metavar="D", help="unrecorded settling (10m)")
    arg(
        "--history",
        type=_non_negative,
        metavar="D",
        help="replay D of the trace before --offset unrecorded (predictive: up to 7d)",
    )
    arg("--replicas", type=int, metavar="N", help="initial replicas (scenario or minReplicas)")
    arg(
        "--slow-ms",
        type=_positive,
        default=250.0,
        metavar="MS",
        help="slower is slow, for the SLO figures (250)",
    )
    arg("--pod", choices=["fast", "slow"], help="pod start-up: Ready 12 s or 45 s after binding")
    arg("--seed", type=int, default=0, metavar="N", help="pod names and sync phase (0)")
    arg("--sync-phase", type=_non_negative, metavar="D", help="syncs D into a step (--seed)")
    arg("--compare", action="store_true", help="each policy alone, plus its hpa-default")
    arg(
        "--out",
        metavar="DIR",
        help=f"write report.json and chart.png there ({DEMO_OUT} in the demo)",
    )
    arg("--snapshots", metavar="FILE", help="write every snapshot (autoscaler decide input)")
    past = parser.add_argument_group(
        "backtest",
        "The trace is a past range of Prometheus, one point per --step: --query (its "
        "series added up), or the policy's first Pods/Object/External request-rate metric "
        "as declared in --metrics-config, summed over the target's pods.",
    )
    past.add_argument("--prometheus", metavar="URL", help="take the load from this Prometheus")
    past.add_argument("--since", type=duration, metavar="D", help="the last D (7d)")
    past.add_argument("--start", metavar="T", help="range start: ISO time or Unix seconds")
    past.add_argument("--end", metavar="T", help="range end (now)")
    past.add_argument(
        "--metrics-config", nargs="+", metavar="PATH", help="MetricDeclarations of the metrics"
    )
    past.add_argument("--query", metavar="PROMQL", help="the request rate, instead")


def run(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    from autoscaler.simulate.report import summarize
    from autoscaler.simulate.setup import SetupError

    started = time.perf_counter()
    bar = _ProgressBar(err) if err.isatty() else None
    if not args.policies and args.out is None:
        # The demo draws its chart (there is nothing else to look at), where it can.
        from importlib.util import find_spec

        if find_spec("matplotlib") is not None:
            args.out = DEMO_OUT
        else:
            print(
                "autoscaler simulate: no chart: matplotlib is not installed "
                "(pip install 'podscale[simulate]')",
                file=err,
            )
    try:
        if bar is not None and args.prometheus:
            bar.status(f"querying {args.prometheus} ...")
        if args.out:  # before hours of simulation: is there anything to draw chart.png with?
            from autoscaler.simulate.chart import require_matplotlib

            require_matplotlib()
        prepared = _prepare(args)
        plan = prepared.plan
        results, snapshots = _simulate(plan, prepared.groups, bar=bar, record=bool(args.snapshots))
        summaries = [summarize(r, plan=plan) for r in results]
        if bar is not None and args.out:
            bar.status("writing report.json and chart.png ...")
        written = _write(args, prepared, results, snapshots, summaries)
    except SetupError as exc:
        print(f"autoscaler simulate: {exc}", file=err)
        return 2
    except OSError as exc:
        print(f"autoscaler simulate: {exc.filename}: {exc.strerror or exc}", file=err)
        return 2
    finally:
        if bar is not None:
            bar.clear()
    seconds = time.perf_counter() - started
    _print(out, prepared, results, summaries, written, seconds)
    return 0


@dataclass
class _Prepared:
    """What ``_prepare`` makes of the arguments; ``notes`` are said under the first line."""

    plan: Plan
    groups: list[list[Subject]]
    trace: str
    past: Backtest | None
    notes: list[str]


def _prepare(args: argparse.Namespace) -> _Prepared:
    from autoscaler.core.model import Settings
    from autoscaler.sim.load import Scaled
    from autoscaler.simulate import setup
    from autoscaler.simulate.engine import Plan, seeded_phase

    _backtest_flags(args)
    paths, named_baseline = setup.split_policies(args.policies)
    compare = args.compare or named_baseline
    if not args.policies:  # the bundled demo: the example policy against hpa-default
        paths, compare = [setup.bundled(DEMO_POLICY)], True
    if not paths:
        raise setup.SetupError("hpa-default needs a POLICY to take its metrics from")
    if args.replicas is not None and args.replicas < 0:
        raise setup.SetupError(f"--replicas must be >= 0 (got {args.replicas})")
    if args.sync_phase is not None and args.sync_phase >= args.step:
        raise setup.SetupError(
            f"--sync-phase must be shorter than --step ({args.sync_phase:g}s >= {args.step:g}s)"
        )
    targets = setup.load_targets(paths)
    own_scenario = args.scenario is not None or bool(args.trace or args.prometheus)
    scenario_path = args.scenario
    if scenario_path is None and not (args.trace or args.prometheus):
        scenario_path = setup.bundled(EXAMPLE_SCENARIO)  # the default scenario
    scenario = setup.read_scenario(scenario_path)
    subjects = setup.subjects(
        targets, scenario=scenario, replicas=args.replicas, baseline=compare, pod=args.pod
    )
    load, trace, past = _load(args, targets[0], scenario, scenario_path)
    notes = [] if past is None or past.note() is None else [str(past.note())]
    length = args.duration or (
        setup.default_duration(load) if own_scenario else setup.DAY  # the default scenario: a day
    )
    if args.scale is not None:
        load = Scaled(load, args.scale)
    elif args.peak is not None:
        load = setup.scale_to_peak(load, peak=args.peak, duration=length, step=args.step)
    elif _needs_peak(args, targets[0], scenario):
        peak = setup.derived_peak(subjects[0])
        load = setup.scale_to_peak(load, peak=peak, duration=length, step=args.step)
        notes.append(_peak_note(args, subjects[0], peak))
    phase = args.sync_phase if args.sync_phase is not None else seeded_phase(args.seed, args.step)
    default = DEMO_HISTORY if not args.policies else setup.DEFAULT_HISTORY
    history, said = setup.pre_roll(load, targets, args.history, default=default)
    if said:
        notes.append(said)
    plan = Plan(
        load=load,
        duration=length,
        step=args.step,
        warmup=args.warmup,
        settings=Settings(),
        slow_ms=args.slow_ms,
        seed=args.seed,
        sync_phase=phase,
        history=history,
    )
    workloads = [t.ref.name for t in targets]
    if not compare and len(set(workloads)) < len(workloads):
        raise setup.SetupError("two policies scale the same workload: add --compare")
    groups = [[s] for s in subjects] if compare else [subjects]
    return _Prepared(plan, groups, trace, past, notes)


def _load(
    args: argparse.Namespace, target: Target, scenario: Scenario | None, scenario_path: str | None
) -> tuple[LoadShape, str, Backtest | None]:
    """The load before scaling, what to call it, and the backtest it came from."""
    from autoscaler.simulate import setup

    if args.prometheus:
        past = _backtest(args, target)
        return past.load(offset=args.offset), past.label(), past
    if args.trace:
        played = setup.trace_load(args.trace, kind=args.trace_kind, offset=args.offset)
        return played, Path(args.trace).name, None
    load = setup.scenario_load(scenario, target)
    return load, f"scenario {Path(str(scenario_path)).name}", None


def _needs_peak(args: argparse.Namespace, target: Target, scenario: Scenario | None) -> bool:
    """Whether the load's own rates mean nothing to the policy, so a peak is derived:
    a count trace (a web server's requests per minute are a few per second), or the
    default scenario's trace for a workload the scenario does not describe."""
    from autoscaler.simulate import setup

    if args.prometheus:
        return False
    if args.trace:
        return bool(args.trace_kind == "count")
    return args.scenario is None and not setup.describes(scenario, target)


def _peak_note(args: argparse.Namespace, subject: Subject, peak: float) -> str:
    where = "The trace counts requests" if args.trace else "The default scenario's trace"
    return (
        f"{where}; scaled to a peak of {peak:,.0f} rps, half of what maxReplicas "
        f"({subject.target.policy.max_replicas}) pods of {subject.model.capacity_rps:g} rps "
        "serve. Give --peak RPS, or --scale 1 for the trace's own rates."
    )


def _backtest(args: argparse.Namespace, target: Target) -> Backtest:
    from autoscaler.simulate import backtest

    if args.trace:
        raise backtest.BacktestError("--trace and --prometheus are two traces: give one")
    times = {
        name: backtest.parse_time(getattr(args, name))
        for name in ("start", "end")
        if getattr(args, name) is not None
    }
    span = backtest.time_range(step=args.step, now=time.time(), since=args.since, **times)
    query = backtest.load_query(target, metrics_config=args.metrics_config, query=args.query)
    return backtest.backtest(args.prometheus, query, span)


def _backtest_flags(args: argparse.Namespace) -> None:
    """Backtest flags need --prometheus."""
    from autoscaler.simulate.setup import SetupError

    given = [f"--{n.replace('_', '-')}" for n in _BACKTEST_FLAGS if getattr(args, n) is not None]
    if given and not args.prometheus:
        raise SetupError(f"{given[0]} needs --prometheus URL")


_BACKTEST_FLAGS = ("since", "start", "end", "metrics_config", "query")


def _simulate(
    plan: Plan, groups: list[list[Subject]], *, bar: _ProgressBar | None, record: bool
) -> tuple[list[RunResult], list[dict[str, Any]]]:
    """Run each group in its own cluster; the snapshot documents when ``record``."""
    from autoscaler.documents.write import snapshot_to_document
    from autoscaler.simulate.engine import simulate

    documents: list[dict[str, Any]] = []
    results: list[RunResult] = []
    for index, group in enumerate(groups):
        names = ", ".join(s.label for s in group)
        label = f"{names} ({index + 1}/{len(groups)})" if len(groups) > 1 else names

        def progress(done: float, index: int = index, label: str = label) -> None:
            if bar is not None:
                bar.show((index + done) / len(groups), label=label)

        def observe(target: Any, snapshot: Any, decision: Any) -> None:
            document = snapshot_to_document(snapshot)
            document["name"] = f"{target.name} at {snapshot.now:g}"
            documents.append(document)

        results += simulate(plan, group, progress=progress, observer=observe if record else None)
    return results, documents


def _write(
    args: argparse.Namespace,
    prepared: _Prepared,
    results: list[RunResult],
    snapshots: list[dict[str, Any]],
    summaries: list[dict[str, Any]],
) -> list[str]:
    from autoscaler.simulate.report import report_document

    plan, trace, past = prepared.plan, prepared.trace, prepared.past
    written = []
    if args.snapshots:
        Path(args.snapshots).write_text(json.dumps(snapshots) + "\n", encoding="utf-8")
        written.append(args.snapshots)
    if args.out:
        folder = Path(args.out)
        folder.mkdir(parents=True, exist_ok=True)
        document = report_document(results, plan=plan, trace=trace, summaries=summaries)
        document["notes"] = prepared.notes
        document["verdicts"] = list(_verdicts(results, summaries))
        document["warnings"] = _warnings(plan, results, summaries)
        if past is not None:
            document["backtest"] = past.document()
        (folder / "report.json").write_text(json.dumps(document) + "\n", encoding="utf-8")
        written.append(str(folder / "report.json"))
        from autoscaler.simulate.chart import write_chart

        title = f"{', '.join(r.subject.label for r in results)} on {trace}"
        write_chart(folder / "chart.png", results, plan=plan, title=title)
        written.append(str(folder / "chart.png"))
    return written


def _verdicts(results: list[RunResult], summaries: list[dict[str, Any]]) -> list[str]:
    """One line per policy that has an hpa-default baseline among the runs."""
    from autoscaler.simulate.verdict import verdict

    by_label = {r.subject.label: s for r, s in zip(results, summaries, strict=True)}
    return [
        verdict(r.subject.baseline_of, r.subject.label, by_label[r.subject.baseline_of], s)
        for r, s in zip(results, summaries, strict=True)
        if r.subject.baseline_of is not None and r.subject.baseline_of in by_label
    ]


def _warnings(plan: Plan, results: list[RunResult], summaries: list[dict[str, Any]]) -> list[str]:
    from autoscaler.simulate.checks import all_warnings

    subjects = [r.subject for r in results]
    return list(all_warnings(subjects, summaries, settings=plan.settings))


def _print(
    out: TextIO,
    prepared: _Prepared,
    results: list[RunResult],
    summaries: list[dict[str, Any]],
    written: list[str],
    seconds: float,
) -> None:
    from autoscaler.simulate.report import format_table, same_decisions

    plan = prepared.plan
    offered = results[0].series.offered
    out.write(
        f"Simulated {_hours(plan.duration)} of {prepared.trace} in {plan.step:g} s steps "
        f"(peak {max(offered):,.0f} rps, mean {sum(offered) / len(offered):,.0f} rps; "
        f"syncs {plan.sync_phase:g} s into each step) in {seconds:.1f} s.\n"
    )
    out.write("".join(f"{note}\n" for note in prepared.notes) + "\n")
    out.write(format_table([r.subject.label for r in results], summaries))
    for label, earlier in same_decisions(results).items():
        out.write(f"{label} took the same decisions as {earlier} at every step.\n")
    out.write(
        f"SLO-miss min: minutes with a dropped request or over 1 % of requests slower than "
        f"{plan.slow_ms:g} ms; under-prov min is a diagnostic (each policy's own target).\n"
    )
    verdicts = _verdicts(results, summaries)
    if verdicts:
        out.write("\n" + "".join(f"{line}\n" for line in verdicts))
    warned = _warnings(plan, results, summaries)
    if warned:
        out.write("\n" + "".join(f"Warning: {line}.\n" for line in warned))
    if written:
        out.write("\nWrote " + ", ".join(written) + ".\n")
    else:
        out.write("\n--out DIR writes report.json (full time series) and chart.png.\n")


def _hours(seconds: float) -> str:
    if seconds >= 86400 and seconds % 3600 == 0:
        return f"{seconds / 86400:g} d"
    return f"{seconds / 3600:g} h"


class _ProgressBar:
    """``simulating web (1/2) [#####.....]  50%, 3 s left`` on one terminal line, redrawn
    at most every whole percent; :meth:`status` shows a phase without a bar."""

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream
        self._shown = -1
        self._width = 0
        self._started = time.perf_counter()

    def show(self, fraction: float, *, label: str = "") -> None:
        percent = min(100, int(fraction * 100))
        if percent != self._shown:
            self._shown = percent
            filled = percent * 30 // 100
            bar = "#" * filled + "." * (30 - filled)
            elapsed = time.perf_counter() - self._started
            left = ""
            if 5 <= percent < 100:
                left = f", {elapsed * (100 - percent) / percent:.0f} s left"
            self._line(f"simulating {label + ' ' if label else ''}[{bar}] {percent:3d}%{left}")

    def status(self, text: str) -> None:
        self._line(text)
        self._started = time.perf_counter()

    def _line(self, text: str) -> None:
        self._stream.write("\r" + text.ljust(self._width))
        self._width = max(self._width, len(text))
        self._stream.flush()

    def clear(self) -> None:
        if self._width:
            self._stream.write("\r" + " " * self._width + "\r")
            self._stream.flush()
            self._width = 0
