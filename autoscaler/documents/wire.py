"""The snapshot document as msgspec structs, for the fast path (``fast.py``).

The structs only check types and shapes, in C, while decoding; what the values mean is
``fast.py``'s business. They live apart from it because msgspec reads these annotations
at run time, which a compiled module would not keep.

Every optional field defaults to ``UNSET`` and no struct takes unknown fields, so that
encoding a decoded struct writes back exactly the keys the input had, once each. msgspec
keeps the last of two equal keys; ``fast.py`` compares the colons of the input with
those of the struct encoded again to see that none was dropped.
"""

from __future__ import annotations

from typing import Literal

import msgspec
from msgspec import UNSET, UnsetType

Quantity = str | int | float
Time = str | int | float
Phase = Literal["Pending", "Running", "Succeeded", "Failed", "Unknown"]
Ready = bool | Literal["True", "False", "Unknown"] | None


class Container(msgspec.Struct, gc=False, forbid_unknown_fields=True):
    name: str
    requests: dict[str, Quantity] | UnsetType = UNSET


class InitContainer(msgspec.Struct, gc=False, rename="camel", forbid_unknown_fields=True):
    name: str | UnsetType = UNSET
    requests: dict[str, Quantity] | UnsetType = UNSET
    restart_policy: str | UnsetType | None = UNSET


class Pod(msgspec.Struct, gc=False, rename="camel", forbid_unknown_fields=True):
    name: str
    phase: Phase | UnsetType = UNSET
    ready: Ready | UnsetType = UNSET
    ready_since: Time | UnsetType | None = UNSET
    start_time: Time | UnsetType | None = UNSET
    deleting: bool | UnsetType | None = UNSET
    containers: list[Container] | UnsetType = UNSET
    init_containers: list[InitContainer] | UnsetType = UNSET


class Usage(msgspec.Struct, gc=False, forbid_unknown_fields=True):
    containers: dict[str, dict[str, Quantity]] | UnsetType = UNSET
    timestamp: Time | UnsetType | None = UNSET
    window: int | float | UnsetType = UNSET


class Metrics(msgspec.Struct, gc=False, forbid_unknown_fields=True):
    resource: dict[str, Usage] | UnsetType | None = UNSET
    pods: dict[str, dict[str, Quantity]] | UnsetType = UNSET
    object: dict[str, Quantity | None] | UnsetType = UNSET
    external: dict[str, list[Quantity | None]] | UnsetType = UNSET
    errors: dict[str, str] | UnsetType = UNSET


class Entry(msgspec.Struct, gc=False, forbid_unknown_fields=True):
    """A recommendation (time, replicas) or a scale event (time, change)."""

    time: Time
    replicas: int | UnsetType | None = UNSET
    change: int | UnsetType | None = UNSET


class History(msgspec.Struct, gc=False, rename="camel", forbid_unknown_fields=True):
    recommendations: list[Entry] | UnsetType = UNSET
    scale_up_events: list[Entry] | UnsetType = UNSET
    scale_down_events: list[Entry] | UnsetType = UNSET
    last_burst: Time | UnsetType | None = UNSET
    last_active: Time | UnsetType | None = UNSET
    forecast_off: bool | UnsetType | None = UNSET


class Forecast(msgspec.Struct, gc=False, forbid_unknown_fields=True):
    """One of the edge's forecasts: ``metric`` indexes the policy's metrics."""

    metric: int
    total: Quantity
    at: Time
    error: float | UnsetType | None = UNSET


class Rollout(msgspec.Struct, gc=False, rename="camel", forbid_unknown_fields=True):
    workload: str = ""
    message: str = ""
    stable_pods: list[Pod] | UnsetType = UNSET


class Snapshot(msgspec.Struct, gc=False, rename="camel", forbid_unknown_fields=True):
    """The policy and settings stay raw JSON: they repeat across snapshots, so the fast
    path parses each distinct one once, with the full parser."""

    policy: msgspec.Raw
    current_replicas: int
    now: Time | UnsetType | None = UNSET
    status_replicas: int | UnsetType | None = UNSET
    pods: list[Pod] | UnsetType = UNSET
    metrics: Metrics | UnsetType | None = UNSET
    history: History | UnsetType | None = UNSET
    settings: msgspec.Raw | UnsetType = UNSET
    rollout: Rollout | UnsetType | None = UNSET
    failed_syncs: int | UnsetType = UNSET
    external_changes: list[Time] | UnsetType = UNSET
    forecasts: list[Forecast] | UnsetType = UNSET
    name: str | UnsetType | None = UNSET
    description: str | UnsetType | None = UNSET


SNAPSHOT = msgspec.json.Decoder(Snapshot)
ENCODER = msgspec.json.Encoder()
