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
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

if TYPE_CHECKING:
    from autoscaler.loop.interfaces import Target
    from autoscaler.sim.load import LoadShape
    from autoscaler.simulate.backtest import Backtest
    from autoscaler.simulate.engine import Plan, RunResult, Subject

EXAMPLE_POLICY = "simulate-policy.yaml"
EXAMPLE_SCENARIO = "simulate-scenario.yaml"
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


def add_arguments(parser: argparse.ArgumentParser) -> None:
    arg = parser.add_argument
    arg("policies", nargs="*", metavar="POLICY", help="policy file or folder, or hpa-default")
    arg("--trace", metavar="FILE", help="CSV trace, timestamp_seconds,value (default: scenario)")
    arg("--trace-kind", choices=["count", "rate"], default="count", help="values are (count)")
    scale = parser.add_mutually_exclusive_group()
    scale.add_argument("--scale", type=_positive, metavar="K", help="multiply the trace's rates")
    scale.add_argument("--peak", type=_positive, metavar="RPS", help="scale the peak to RPS")
    arg("--offset", type=duration, default=0.0, metavar="D", help="start D into the trace")
    arg("--scenario", metavar="FILE", help="pod model (and load) per workload, as sim run reads")
    arg("--step", type=duration, default=15.0, metavar="D", help="sync period (15s)")
    arg("--duration", type=duration, metavar="D", help="(default: the trace, or 1d)")
    arg("--warmup", type=duration, default=600.0, metavar="D", help="unrecorded settling (10m)")
    arg("--replicas", type=int, metavar="N", help="initial replicas (scenario or minReplicas)")
    arg("--slow-ms", type=_positive, default=250.0, metavar="MS", help="slow request (250)")
    arg("--compare", action="store_true", help="each policy alone, plus hpa-default")
    arg("--out", metavar="DIR", help="write report.json and chart.png there")
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
    try:
        if bar is not None and args.prometheus:
            bar.status(f"querying {args.prometheus} ...")
        if args.out:  # before hours of simulation: is there anything to draw chart.png with?
            from autoscaler.simulate.chart import require_matplotlib

            require_matplotlib()
        plan, groups, trace, past = _prepare(args)
        results, snapshots = _simulate(plan, groups, bar=bar, record=bool(args.snapshots))
        summaries = [summarize(r, plan=plan) for r in results]
        if bar is not None and args.out:
            bar.status("writing report.json and chart.png ...")
        written = _write(args, plan, results, trace, snapshots, summaries, past)
    except SetupError as exc:
        print(f"autoscaler simulate: {exc}", file=err)
        return 2
    except OSError as exc:
        print(f"autoscaler simulate: {exc.filename}: {exc.strerror or exc}", file=err)
        return 2
    finally:
        if bar is not None:
            bar.clear()
    note = past.note() if past is not None else None
    seconds = time.perf_counter() - started
    _print(out, plan, results, trace, summaries, written, seconds, note=note)
    return 0


def _prepare(
    args: argparse.Namespace,
) -> tuple[Plan, list[list[Subject]], str, Backtest | None]:
    from autoscaler.core.model import Settings
    from autoscaler.simulate import setup
    from autoscaler.simulate.engine import Plan

    _backtest_flags(args)
    paths, named_baseline = setup.split_policies(args.policies)
    scenario_path, compare = args.scenario, args.compare or named_baseline
    if not args.policies:  # the bundled demo: the example policy against hpa-default
        paths, compare = [setup.bundled(EXAMPLE_POLICY)], True
        scenario_path = scenario_path or setup.bundled(EXAMPLE_SCENARIO)
    if not paths:
        raise setup.SetupError("hpa-default needs a POLICY to take its metrics from")
    if args.replicas is not None and args.replicas < 0:
        raise setup.SetupError(f"--replicas must be >= 0 (got {args.replicas})")
    targets = setup.load_targets(paths)
    scenario = setup.read_scenario(scenario_path)
    load: LoadShape
    past = None
    if args.prometheus:
        past = _backtest(args, targets[0])
        load = past.load(offset=args.offset)
        trace = past.label()
    elif args.trace:
        load = setup.trace_load(args.trace, kind=args.trace_kind, offset=args.offset)
        trace = Path(args.trace).name
    else:
        load = setup.scenario_load(scenario, targets[0])
        trace = f"scenario {Path(scenario_path).name}" if scenario_path else "scenario"
    if args.duration:
        length = args.duration
    elif args.trace or args.policies or args.prometheus:
        length = setup.default_duration(load)
    else:  # the demo: one day of the scenario's trace
        length = setup.DAY
    if args.scale is not None:
        load = setup.Scaled(load, args.scale)
    elif args.peak is not None:
        load = setup.scale_to_peak(load, peak=args.peak, duration=length, step=args.step)
    subjects = setup.subjects(targets, scenario=scenario, replicas=args.replicas, baseline=compare)
    plan = Plan(
        load=load,
        duration=length,
        step=args.step,
        warmup=args.warmup,
        settings=Settings(),
        slow_ms=args.slow_ms,
    )
    workloads = [t.ref.name for t in targets]
    if not compare and len(set(workloads)) < len(workloads):
        raise setup.SetupError("two policies scale the same workload: add --compare")
    groups = [[s] for s in subjects] if compare else [subjects]
    return plan, groups, trace, past


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
    plan: Plan,
    results: list[RunResult],
    trace: str,
    snapshots: list[dict[str, Any]],
    summaries: list[dict[str, Any]],
    past: Backtest | None = None,
) -> list[str]:
    from autoscaler.simulate.report import report_document

    written = []
    if args.snapshots:
        Path(args.snapshots).write_text(json.dumps(snapshots) + "\n", encoding="utf-8")
        written.append(args.snapshots)
    if args.out:
        folder = Path(args.out)
        folder.mkdir(parents=True, exist_ok=True)
        document = report_document(results, plan=plan, trace=trace, summaries=summaries)
        if past is not None:
            document["backtest"] = past.document()
        (folder / "report.json").write_text(json.dumps(document) + "\n", encoding="utf-8")
        written.append(str(folder / "report.json"))
        from autoscaler.simulate.chart import write_chart

        title = f"{', '.join(r.subject.label for r in results)} on {trace}"
        write_chart(folder / "chart.png", results, plan=plan, title=title)
        written.append(str(folder / "chart.png"))
    return written


def _print(
    out: TextIO,
    plan: Plan,
    results: list[RunResult],
    trace: str,
    summaries: list[dict[str, Any]],
    written: list[str],
    seconds: float,
    *,
    note: str | None = None,
) -> None:
    from autoscaler.simulate.report import format_table, same_decisions

    offered = results[0].series.offered
    out.write(
        f"Simulated {_hours(plan.duration)} of {trace} in {plan.step:g} s steps "
        f"(peak {max(offered):,.0f} rps, mean {sum(offered) / len(offered):,.0f} rps) "
        f"in {seconds:.1f} s.\n"
    )
    out.write(f"{note}\n\n" if note else "\n")
    out.write(format_table([r.subject.label for r in results], summaries))
    for label, earlier in same_decisions(results).items():
        out.write(f"{label} took the same decisions as {earlier} at every step.\n")
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
