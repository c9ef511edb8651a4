"""From command-line inputs to what the engine runs: subjects, load and duration.

Every problem a user can cause (a broken policy, an unreadable trace or scenario, a
workload missing from the scenario) becomes a :class:`SetupError` with one line.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

from autoscaler.loop.targets import targets_from_files
from autoscaler.ports import Target
from autoscaler.sim.load import LoadShape, Scaled, TraceLoad
from autoscaler.sim.podmodel import PodModel, with_start
from autoscaler.sim.scenario import Scenario, ScenarioError, Setup, load_scenario
from autoscaler.sim.traces import TraceError, TraceKind, read_trace
from autoscaler.simulate.baseline import NAME as BASELINE
from autoscaler.simulate.baseline import hpa_default_target
from autoscaler.simulate.engine import Subject

DAY = 86_400.0


class SetupError(Exception):
    """Inputs that cannot be simulated; the message is one line."""


def load_targets(paths: Sequence[str]) -> list[Target]:
    """Every policy under ``paths``, in Enforce mode (a simulation shows what it would do)."""
    loaded = targets_from_files(paths)
    if loaded.errors:
        more = f" (and {len(loaded.errors) - 1} more)" if len(loaded.errors) > 1 else ""
        raise SetupError(f"{loaded.errors[0]}{more}")
    if not loaded.targets:
        raise SetupError(f"no policies found in {', '.join(paths)}")
    return [replace(t, mode="Enforce") for t in loaded.targets]


def read_scenario(path: str | None) -> Scenario | None:
    if path is None:
        return None
    try:
        return load_scenario(path)
    except ScenarioError as exc:
        raise SetupError(str(exc)) from None


def trace_load(path: str, *, kind: TraceKind, offset: float) -> TraceLoad:
    """The trace file as a load starting ``offset`` seconds into it."""
    try:
        trace = read_trace(path, kind=kind)
    except TraceError as exc:
        raise SetupError(str(exc)) from None
    if offset >= trace.period:
        raise SetupError(f"--offset {offset:g}s is past the end of {path} ({trace.period:g}s)")
    return TraceLoad(trace=trace, time_offset=trace.times[0] + offset)


def _workload(scenario: Scenario | None, name: str) -> Setup | None:
    """The scenario's workload called ``name``, or its only workload, or None."""
    if scenario is None:
        return None
    for setup in scenario.workloads:
        if setup.workload.name == name:
            return setup
    return scenario.workloads[0] if len(scenario.workloads) == 1 else None


def scenario_load(scenario: Scenario | None, target: Target) -> LoadShape:
    setup = _workload(scenario, target.ref.name)
    if setup is None:
        if scenario is None:
            raise SetupError("no traffic: give --trace FILE (or --scenario FILE with a load)")
        raise SetupError(f"the scenario has no workload named {target.ref.name!r}")
    return setup.load


def default_duration(load: LoadShape) -> float:
    """To the end of a trace played once; one day for anything else."""
    inner = load.load if isinstance(load, Scaled) else load
    if isinstance(inner, TraceLoad) and not inner.loop:
        end = inner.trace.times[0] + inner.trace.period
        return max(end - inner.time_offset, 1.0)
    return DAY


# The pre-roll a predictive policy gets by default: a week, enough for a daily and a
# weekly period, or whatever the trace has before the recorded range.
DEFAULT_HISTORY = 7 * DAY


def history_before(load: LoadShape) -> float | None:
    """How much of ``load`` lies before its time 0 (a trace started at an offset);
    None for a shape defined at every time (a synthetic load)."""
    inner = load.load if isinstance(load, Scaled) else load
    if isinstance(inner, TraceLoad):
        return 0.0 if inner.loop else max(0.0, inner.time_offset - inner.trace.times[0])
    return None


def pre_roll(
    load: LoadShape,
    targets: Sequence[Target],
    asked: float | None,
    *,
    default: float = DEFAULT_HISTORY,
) -> tuple[float, str]:
    """The pre-roll (seconds) and the line that says so.

    ``asked`` (``--history``) is taken as is, and must fit in the trace; without it,
    a run with a predictive policy gets ``default`` (a week), or what the trace has
    before the recorded range if that is less, and any other run none. Every run of one
    command gets the same pre-roll, baselines included: the same yardstick.
    """
    before = history_before(load)
    if asked is not None:
        if before is not None and asked > before + 1e-6:
            raise SetupError(
                f"--history {_days(asked)}: only {_days(before)} of the trace lie before the "
                "recorded range (give a larger --offset)"
            )
        if asked == 0:
            return 0.0, ""
        return (
            asked,
            f"Pre-roll: {_days(asked)} of the load before the recorded range, replayed "
            "unrecorded by every run (--history).",
        )
    if not any(t.policy.predictive is not None for t in targets):
        return 0.0, ""
    if before is None:
        return 0.0, (
            "No pre-roll: the load is synthetic; the forecast starts without history "
            "(--history D replays D of it first)."
        )
    chosen = min(default, before)
    if chosen <= 0:
        return 0.0, (
            "No pre-roll: the trace has nothing before the recorded range, so the forecast "
            "starts without history (give --offset past a few days of the trace)."
        )
    return chosen, (
        f"Pre-roll: {_days(chosen)} of the trace before the recorded range, replayed "
        "unrecorded by every run, so the forecast has history (--history D to change)."
    )


def _days(seconds: float) -> str:
    if seconds >= DAY:
        return f"{seconds / DAY:.3g} d"
    return f"{seconds / 3600:.3g} h"


def scale_to_peak(load: LoadShape, *, peak: float, duration: float, step: float) -> Scaled:
    """``load`` scaled so that its highest rate over the run (sampled each step) is ``peak``."""
    samples = (load.rate(i * step) for i in range(max(1, math.ceil(duration / step))))
    highest = max(samples)
    if highest <= 0:
        raise SetupError("--peak: the trace has no traffic in the simulated window")
    return Scaled(load, peak / highest)


def subjects(
    targets: Sequence[Target],
    *,
    scenario: Scenario | None,
    replicas: int | None,
    baseline: bool,
    pod: str | None = None,
) -> list[Subject]:
    """One subject per target, each followed (with ``baseline``) by its own ``hpa-default``.

    A baseline keeps its policy's metrics, targets and bounds with the HPA's default
    behavior; with one policy it is labelled ``hpa-default``, with several
    ``hpa-default (LABEL)``, so that each row of the table says what it stands for.
    The pod model and initial replicas come from the scenario's workload of the same
    name (or its only workload); without one, the default pod model and minReplicas.
    ``pod`` (``fast`` or ``slow``) replaces the model's start-up delays.
    """
    names = [t.name for t in targets]
    out = []
    for target in targets:
        label = target.name if names.count(target.name) == 1 else target.key
        out.append(_subject(target, label, scenario=scenario, replicas=replicas, pod=pod))
        if baseline:
            twin = hpa_default_target(target)
            named = BASELINE if len(targets) == 1 else f"{BASELINE} ({label})"
            made = _subject(twin, named, scenario=scenario, replicas=replicas, pod=pod)
            out.append(replace(made, baseline_of=label))
    return out


def _subject(
    target: Target, label: str, *, scenario: Scenario | None, replicas: int | None, pod: str | None
) -> Subject:
    setup = _workload(scenario, target.ref.name)
    model = PodModel() if setup is None else setup.workload.model
    if pod is not None:
        model = with_start(model, pod)
    kind = "Deployment" if setup is None else setup.workload.kind
    start = replicas
    if start is None:
        start = setup.replicas if setup is not None else max(1, target.policy.min_replicas)
    return Subject(label=label, target=target, model=model, kind=kind, replicas=start)


def derived_peak(subject: Subject) -> float:
    """The peak a trace is scaled to when its rates mean nothing to the policy: half of
    what ``maxReplicas`` pods serve, so the policy has room to scale both ways."""
    return 0.5 * subject.target.policy.max_replicas * subject.model.capacity_rps


def describes(scenario: Scenario | None, target: Target) -> bool:
    """Whether ``scenario`` has a workload named as ``target``'s."""
    return scenario is not None and any(
        setup.workload.name == target.ref.name for setup in scenario.workloads
    )


def split_policies(args: Sequence[str]) -> tuple[list[str], bool]:
    """Policy paths, and whether ``hpa-default`` was named among them."""
    paths = [a for a in args if a != BASELINE]
    return paths, len(paths) != len(args)


def bundled(name: str) -> str:
    """A file bundled in ``autoscaler/examples``."""
    return str(Path(__file__).resolve().parent.parent / "examples" / name)
