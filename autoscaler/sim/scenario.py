"""Scenario files: the workloads, traffic and nodes of one simulation, in YAML.

::

    seed: 7
    nodes: {count: 3, cpu: "4", memory: 16Gi}        # optional: unlimited room
    workloads:
      - kind: Deployment                             # | StatefulSet | Rollout
        name: web
        replicas: 2                                  # initial spec.replicas
        pod: {cpuRequest: 250m, memoryRequest: 256Mi, readyDelay: 15, capacityRps: 80}
        load: {type: diurnal, base: 300, amplitude: 200}

``pod`` takes every :class:`~autoscaler.sim.podmodel.PodModel` field in camelCase,
with Kubernetes units: durations in seconds, CPU as quantities (``cpuPerRequest`` is
CPU per request/s, e.g. ``2m``), memory as quantities (``memoryPerRps`` per
request/s). ``load.type`` is ``constant`` (rps), ``step`` (before, after, at), ``ramp``
(startRps, endRps, start, duration), ``diurnal`` (base, amplitude, period, phase),
``flash`` (base, peak, start, rise, hold, decay), ``noisy`` (sigma, seed, interval,
load: another load) or ``trace`` (path relative to the scenario file, column, kind
count|rate, scale, offset, loop). Unknown fields are errors, and every error is one
line: ``FILE: workloads[0].pod.cpuRequest: ...``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    model_validator,
)
from pydantic.alias_generators import to_camel

from autoscaler.core.quantity import QuantityError, parse_quantity, to_milli
from autoscaler.policy.issues import format_path, pydantic_findings, show
from autoscaler.sim.clock import Clock
from autoscaler.sim.cluster import InMemoryCluster, Nodes, Workload
from autoscaler.sim.load import (
    Constant,
    Diurnal,
    FlashCrowd,
    LoadShape,
    Noisy,
    Ramp,
    Step,
    TraceLoad,
)
from autoscaler.sim.podmodel import PodModel
from autoscaler.sim.traces import TraceError, read_trace


class ScenarioError(ValueError):
    """A scenario that cannot be run; the message is one line naming file and field."""


def _quantity(convert: Any) -> Any:
    def parse(value: Any) -> Any:
        if isinstance(value, bool) or not isinstance(value, str | int | float):
            raise ValueError(f"must be a quantity such as 250m or 256Mi (got {value!r})")
        try:
            return convert(value)
        except QuantityError as exc:
            raise ValueError(str(exc)) from None

    return BeforeValidator(parse)


def _exact_milli(value: str | int | float) -> float:
    return float(parse_quantity(str(value)) * 1000)


Milli = Annotated[int, Field(ge=0), _quantity(to_milli)]
MilliFloat = Annotated[float, Field(ge=0), _quantity(_exact_milli)]
Bytes = Annotated[int, Field(ge=0), _quantity(lambda v: -(-to_milli(v) // 1000))]
Seconds = Annotated[float, Field(ge=0, allow_inf_nan=False)]
Rate = Annotated[float, Field(ge=0, allow_inf_nan=False)]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, alias_generator=to_camel)


class PodSpec(_Model):
    schedule_delay: Seconds = 2.0
    ready_delay: Seconds = 10.0
    termination_grace: Seconds = 30.0
    cpu_request: Milli = 250
    cpu_limit: Milli = 1000
    memory_request: Bytes = 256 * 2**20
    capacity_rps: Annotated[float, Field(gt=0, allow_inf_nan=False)] = 100.0
    cpu_per_request: MilliFloat = 2.0
    idle_cpu: MilliFloat = 10.0
    memory_base: Bytes = 128 * 2**20
    memory_per_rps: Bytes = 256 * 1024
    base_latency_ms: Rate = 20.0

    @model_validator(mode="after")
    def _limit_covers_request(self) -> PodSpec:
        if self.cpu_limit < self.cpu_request:
            raise ValueError(
                f"cpuLimit ({self.cpu_limit}m) must be >= cpuRequest ({self.cpu_request}m)"
            )
        return self


class ConstantLoad(_Model):
    type: Literal["constant"]
    rps: Rate


class StepLoad(_Model):
    type: Literal["step"]
    before: Rate
    after: Rate
    at: Seconds


class RampLoad(_Model):
    type: Literal["ramp"]
    start_rps: Rate
    end_rps: Rate
    start: Seconds = 0.0
    duration: Seconds


class DiurnalLoad(_Model):
    type: Literal["diurnal"]
    base: Rate
    amplitude: Rate
    period: Annotated[float, Field(gt=0, allow_inf_nan=False)] = 86400.0
    phase: float = 0.0


class FlashLoad(_Model):
    type: Literal["flash"]
    base: Rate
    peak: Rate
    start: Seconds
    rise: Seconds = 60.0
    hold: Seconds = 600.0
    decay: Seconds = 900.0


class NoisyLoad(_Model):
    type: Literal["noisy"]
    sigma: Rate
    seed: int | None = None
    interval: Annotated[float, Field(gt=0, allow_inf_nan=False)] = 1.0
    load: LoadSpec


class TraceLoadSpec(_Model):
    type: Literal["trace"]
    path: str
    column: str | int = "value"
    kind: Literal["count", "rate"] = "count"
    scale: Rate = 1.0
    offset: float = 0.0
    loop: bool = False


LoadSpec = Annotated[
    ConstantLoad | StepLoad | RampLoad | DiurnalLoad | FlashLoad | NoisyLoad | TraceLoadSpec,
    Field(discriminator="type"),
]
_BOUND_ERRORS = frozenset({"greater_than", "greater_than_equal", "less_than", "less_than_equal"})
_LOAD_TAGS = frozenset({"constant", "step", "ramp", "diurnal", "flash", "noisy", "trace"})


class WorkloadSpec(_Model):
    kind: Literal["Deployment", "StatefulSet", "Rollout"]
    name: Annotated[str, Field(min_length=1)]
    namespace: str = "default"
    replicas: Annotated[int, Field(ge=0)] = 1
    selector: dict[str, str] | None = None
    pod: PodSpec = PodSpec()
    load: LoadSpec = ConstantLoad(type="constant", rps=0.0)


class NodesSpec(_Model):
    count: Annotated[int, Field(ge=0)]
    cpu: Milli
    memory: Bytes


class ScenarioSpec(_Model):
    seed: int = 0
    nodes: NodesSpec | None = None
    workloads: Annotated[list[WorkloadSpec], Field(min_length=1)]


@dataclass(frozen=True, slots=True, kw_only=True)
class Setup:
    """One workload ready to add: what it is, how many replicas, what load."""

    workload: Workload
    replicas: int
    load: LoadShape


@dataclass(frozen=True, slots=True, kw_only=True)
class Scenario:
    """A validated scenario with its traces read: everything a run needs."""

    seed: int
    nodes: Nodes | None
    workloads: tuple[Setup, ...]

    def build(self, clock: Clock) -> InMemoryCluster:
        """A cluster at ``clock``'s time with every workload added."""
        cluster = InMemoryCluster(clock, nodes=self.nodes, seed=self.seed)
        for setup in self.workloads:
            cluster.add_workload(setup.workload, replicas=setup.replicas, load=setup.load)
        return cluster


def load_scenario(path: str | Path) -> Scenario:
    """Read, validate and resolve the scenario file at ``path``."""
    try:
        data = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise ScenarioError(f"{path}: cannot read: {exc}") from None
    except yaml.YAMLError as exc:
        raise ScenarioError(f"{path}: not YAML: {' '.join(str(exc).split())}") from None
    return parse_scenario(data, source=str(path), base_dir=Path(path).parent)


def parse_scenario(data: object, *, source: str, base_dir: Path) -> Scenario:
    """A scenario from already-loaded YAML data; ``source`` names it in messages."""
    try:
        spec = ScenarioSpec.model_validate(data)
    except ValidationError as exc:
        raise ScenarioError(_one_line(exc, source)) from None
    setups = []
    names: set[str] = set()
    for index, item in enumerate(spec.workloads):
        if item.name in names:
            raise ScenarioError(f"{source}: workloads[{index}].name: duplicate {item.name!r}")
        names.add(item.name)
        where = f"{source}: workloads[{index}].load"
        shape = _shape(item.load, seed=spec.seed + index, base_dir=base_dir, where=where)
        workload = _workload(item, where=f"{source}: workloads[{index}].pod")
        setups.append(Setup(workload=workload, replicas=item.replicas, load=shape))
    nodes = spec.nodes
    return Scenario(
        seed=spec.seed,
        nodes=None
        if nodes is None
        else Nodes(count=nodes.count, cpu_milli=nodes.cpu, memory_bytes=nodes.memory),
        workloads=tuple(setups),
    )


def _workload(item: WorkloadSpec, *, where: str) -> Workload:
    pod = item.pod
    try:
        model = PodModel(
            schedule_delay=pod.schedule_delay,
            ready_delay=pod.ready_delay,
            termination_grace=pod.termination_grace,
            cpu_request_milli=pod.cpu_request,
            cpu_limit_milli=pod.cpu_limit,
            memory_request_bytes=pod.memory_request,
            capacity_rps=pod.capacity_rps,
            cpu_per_request_milli=pod.cpu_per_request,
            idle_cpu_milli=pod.idle_cpu,
            memory_base_bytes=pod.memory_base,
            memory_per_rps_bytes=pod.memory_per_rps,
            base_latency_ms=pod.base_latency_ms,
        )
    except ValueError as exc:
        raise ScenarioError(f"{where}: {exc}") from None
    selector = item.selector if item.selector is not None else {"app": item.name}
    return Workload(
        name=item.name, model=model, kind=item.kind, namespace=item.namespace, selector=selector
    )


def _shape(spec: Any, *, seed: int, base_dir: Path, where: str) -> LoadShape:
    if isinstance(spec, ConstantLoad):
        return Constant(spec.rps)
    if isinstance(spec, StepLoad):
        return Step(before=spec.before, after=spec.after, at=spec.at)
    if isinstance(spec, RampLoad):
        return Ramp(
            start_rps=spec.start_rps, end_rps=spec.end_rps, start=spec.start, duration=spec.duration
        )
    if isinstance(spec, DiurnalLoad):
        return Diurnal(
            base=spec.base, amplitude=spec.amplitude, period=spec.period, phase=spec.phase
        )
    if isinstance(spec, FlashLoad):
        return FlashCrowd(
            base=spec.base,
            peak=spec.peak,
            start=spec.start,
            rise=spec.rise,
            hold=spec.hold,
            decay=spec.decay,
        )
    if isinstance(spec, NoisyLoad):
        inner = _shape(spec.load, seed=seed, base_dir=base_dir, where=f"{where}.load")
        own_seed = seed if spec.seed is None else spec.seed
        return Noisy(shape=inner, sigma=spec.sigma, seed=own_seed, interval=spec.interval)
    assert isinstance(spec, TraceLoadSpec)
    try:
        trace = read_trace(base_dir / spec.path, column=spec.column, kind=spec.kind)
    except TraceError as exc:
        raise ScenarioError(f"{where}.path: {exc}") from None
    return TraceLoad(trace=trace, scale=spec.scale, time_offset=spec.offset, loop=spec.loop)


def _one_line(error: ValidationError, source: str) -> str:
    """The first problem as ``SOURCE: PATH: MESSAGE``, counting the others."""
    findings = pydantic_findings(error, model=ScenarioSpec)
    first = findings[0]
    detail = error.errors(include_url=False)[0]
    message = first.message
    if detail["type"] in _BOUND_ERRORS:  # the policy wording assumes 32-bit integers
        message = f"{detail['msg']} (got {show(detail.get('input'))})"
    # A discriminated union puts the tag in the path (load.constant.rps): drop it.
    path = tuple(
        part
        for i, part in enumerate(first.path)
        if not (part in _LOAD_TAGS and i > 0 and first.path[i - 1] == "load")
    )
    more = f" (and {len(findings) - 1} more)" if len(findings) > 1 else ""
    where = format_path(path)
    return f"{source}: {where + ': ' if where else ''}{message}{more}"
