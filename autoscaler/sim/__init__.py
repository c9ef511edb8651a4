"""The simulator's model: pods, load and an in-memory cluster on a virtual clock.

Pure of I/O and of wall-clock time (except :class:`WallClock` itself and the file
readers in :mod:`~autoscaler.sim.traces` and :mod:`~autoscaler.sim.scenario`), so the
same model serves ``autoscaler sim run`` (live, in real time) and offline replays
of days of traffic in seconds.
"""

from autoscaler.sim.clock import Clock, ManualClock, WallClock
from autoscaler.sim.cluster import (
    InMemoryCluster,
    Nodes,
    PodMetrics,
    SnapshotInputs,
    Totals,
    Workload,
)
from autoscaler.sim.load import (
    Constant,
    Diurnal,
    FlashCrowd,
    LoadShape,
    Noisy,
    Ramp,
    ServeResult,
    Step,
    Trace,
    TraceLoad,
    serve,
)
from autoscaler.sim.podmodel import PodModel, PodState, advance

__all__ = [
    "Clock",
    "Constant",
    "Diurnal",
    "FlashCrowd",
    "InMemoryCluster",
    "LoadShape",
    "ManualClock",
    "Nodes",
    "Noisy",
    "PodMetrics",
    "PodModel",
    "PodState",
    "Ramp",
    "ServeResult",
    "SnapshotInputs",
    "Step",
    "Totals",
    "Trace",
    "TraceLoad",
    "WallClock",
    "Workload",
    "advance",
    "serve",
]
