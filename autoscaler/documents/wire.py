"""The snapshot document as msgspec structs, for the fast path (``fast.py``).

The structs only check types and shapes, in C, while decoding; what the values mean is
``fast.py``'s business. They live apart from it because msgspec reads these annotations
at run time, which a compiled module would not keep.
"""

from __future__ import annotations

from typing import Literal

import msgspec

Quantity = str | int | float
Time = str | int | float
Phase = Literal["Pending", "Running", "Succeeded", "Failed", "Unknown"]
Ready = bool | Literal["True", "False", "Unknown"] | None


class Container(msgspec.Struct, gc=False):
    name: str
    requests: dict[str, Quantity] = {}


class InitContainer(msgspec.Struct, gc=False, rename="camel"):
    name: str = ""
    requests: dict[str, Quantity] = {}
    restart_policy: str | None = None


class Pod(msgspec.Struct, gc=False, rename="camel"):
    name: str
    phase: Phase = "Running"
    ready: Ready = None
    ready_since: Time | None = None
    start_time: Time | None = None
    deleting: bool | None = None
    containers: list[Container] = []
    init_containers: list[InitContainer] = []


class Usage(msgspec.Struct, gc=False):
    containers: dict[str, dict[str, Quantity]] = {}
    timestamp: Time | None = None
    window: int | float = 30


class Metrics(msgspec.Struct, gc=False):
    resource: dict[str, Usage] | None = None
    pods: dict[str, dict[str, Quantity]] = {}
    object: dict[str, Quantity | None] = {}
    external: dict[str, list[Quantity | None]] = {}
    errors: dict[str, str] = {}


class Entry(msgspec.Struct, gc=False):
    """A recommendation (time, replicas) or a scale event (time, change)."""

    time: Time
    replicas: int | None = None
    change: int | None = None


class History(msgspec.Struct, gc=False, rename="camel"):
    recommendations: list[Entry] = []
    scale_up_events: list[Entry] = []
    scale_down_events: list[Entry] = []


NOT_GIVEN = msgspec.Raw()  # an absent raw field (empty; JSON null is b"null")


class Snapshot(msgspec.Struct, gc=False, rename="camel", forbid_unknown_fields=True):
    """The policy and settings stay raw JSON: they repeat across snapshots, so the fast
    path parses each distinct one once, with the full parser."""

    policy: msgspec.Raw
    current_replicas: int
    now: Time | None = None
    status_replicas: int | None = None
    pods: list[Pod] = []
    metrics: Metrics | None = None
    history: History | None = None
    settings: msgspec.Raw = NOT_GIVEN
    name: str | None = None
    description: str | None = None


DECODER = msgspec.json.Decoder(list[Snapshot] | Snapshot)
