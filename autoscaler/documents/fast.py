"""A fast path for JSON snapshot lists: typed decoding in C, then a lean conversion.

``autoscaler decide`` turns lists of thousands of snapshots into decisions, and building
them field by field from ``json.loads`` dicts (``snapshot.py``) cost twice the decision
itself. Here msgspec decodes the JSON straight into small structs, checking types as it
goes, and the conversion only converts.

The fast path never judges a document: anything it does not accept exactly as written
(a type it does not expect, a bad quantity, a duplicate pod, ...) makes
``FastDocuments.snapshots`` return None, and the caller parses the same input with
``snapshot_from_document``, which either accepts it or says precisely what is wrong.
So both paths accept the same documents and build equal snapshots
(tests/test_decide_fast_path.py checks that on every golden case and on generated ones).
"""

from __future__ import annotations

import msgspec

from autoscaler.core.model import (
    Container,
    History,
    MetricData,
    Pod,
    PodUsage,
    Policy,
    Recommendation,
    ScaleEvent,
    Settings,
    Snapshot,
)
from autoscaler.core.quantity import QuantityError
from autoscaler.documents import wire
from autoscaler.documents.read import MILLI_UNITS, DocumentError, time
from autoscaler.documents.snapshot import READY_STATUS, settings_from_document
from autoscaler.documents.spec import policy_from_spec


class _Refused(Exception):
    """Something the fast path does not take as written; the full parser will judge it."""


_NO_METRICS_DATA = MetricData()
_NO_HISTORY_DATA = History()
_DEFAULT_SETTINGS = Settings()


class FastDocuments:
    """Decodes snapshot lists; parses each distinct policy and settings once."""

    def __init__(self) -> None:
        self._policies: dict[bytes, Policy] = {}
        self._settings: dict[bytes, Settings] = {}

    def snapshots(self, data: bytes, *, now: float) -> tuple[list[Snapshot], bool] | None:
        """All snapshots of a JSON document and whether it was a list, or None if refused."""
        try:
            decoded = wire.DECODER.decode(data)
        except msgspec.MsgspecError:
            return None
        is_list = isinstance(decoded, list)
        items = decoded if isinstance(decoded, list) else [decoded]
        if not items:
            return None
        try:
            return [self._snapshot(item, now) for item in items], is_list
        except (_Refused, DocumentError, QuantityError):
            return None

    def _snapshot(self, raw: wire.Snapshot, default_now: float) -> Snapshot:
        now = default_now if raw.now is None else _time(raw.now)
        current = raw.current_replicas
        status = current if raw.status_replicas is None else raw.status_replicas
        if current < 0 or status < 0:
            raise _Refused
        return Snapshot(
            now,
            self._policy(raw.policy),
            current,
            status,
            self._pods(raw.pods),
            _NO_METRICS_DATA if raw.metrics is None else self._metrics(raw.metrics, now),
            _NO_HISTORY_DATA if raw.history is None else _history(raw.history),
            self._settings_of(raw.settings) if raw.settings else _DEFAULT_SETTINGS,
        )

    def _policy(self, raw: msgspec.Raw) -> Policy:
        key = bytes(raw)
        policy = self._policies.get(key)
        if policy is None:
            policy = policy_from_spec(msgspec.json.decode(key))
            self._policies[key] = policy
        return policy

    def _settings_of(self, raw: msgspec.Raw) -> Settings:
        key = bytes(raw)
        settings = self._settings.get(key)
        if settings is None:
            settings = settings_from_document(msgspec.json.decode(key), "settings")
            self._settings[key] = settings
        return settings

    def _pods(self, raws: list[wire.Pod]) -> tuple[Pod, ...]:
        pods = []
        names = set()
        milli = MILLI_UNITS
        for raw in raws:
            if not raw.name:
                raise _Refused
            names.add(raw.name)
            containers = [
                Container(c.name, {r: milli[q] for r, q in c.requests.items()})
                for c in raw.containers
            ]
            for init in raw.init_containers:
                if init.restart_policy == "Always":
                    if not init.name:
                        raise _Refused
                    requests = {r: milli[q] for r, q in init.requests.items()}
                    containers.append(Container(init.name, requests))
            if any(not c.name for c in containers):
                raise _Refused
            ready = raw.ready
            pods.append(
                Pod(
                    raw.name,
                    raw.phase,
                    None if ready is None else READY_STATUS[ready],
                    None if raw.ready_since is None else _time(raw.ready_since),
                    None if raw.start_time is None else _time(raw.start_time),
                    raw.deleting is True,
                    tuple(containers),
                )
            )
        if len(names) != len(pods):
            raise _Refused
        return tuple(pods)

    def _metrics(self, raw: wire.Metrics, now: float) -> MetricData:
        milli = MILLI_UNITS
        resource = None
        if raw.resource is not None:
            resource = {}
            for pod, usage in raw.resource.items():
                window = usage.window
                if window < 0 or (type(window) is float and window != window):
                    raise _Refused
                resource[pod] = PodUsage(
                    now if usage.timestamp is None else _time(usage.timestamp),
                    window if type(window) is int else float(window),
                    {
                        name: {r: milli[q] for r, q in values.items()}
                        for name, values in usage.containers.items()
                    },
                )
        return MetricData(
            resource=resource,
            pods={
                name: {pod: milli[q] for pod, q in values.items()}
                for name, values in raw.pods.items()
            },
            object={name: milli[q] for name, q in raw.object.items() if q is not None},
            external={
                name: tuple([milli[q] for q in values if q is not None])
                for name, values in raw.external.items()
            },
            errors=_messages(raw.errors),
        )


def _messages(errors: dict[str, str]) -> dict[str, str]:
    if "" in errors.values():
        raise _Refused
    return errors


def _time(value: wire.Time) -> float:
    """Seconds since the epoch; ints stay ints (the core compares and subtracts them)."""
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value - value == 0.0:  # finite
        return value
    return time(value, "")


def _history(raw: wire.History) -> History:
    recommendations = []
    for entry in raw.recommendations:
        replicas = entry.replicas
        if replicas is None or replicas < 0 or entry.change is not None:
            raise _Refused
        when = entry.time
        recommendations.append(Recommendation(when if type(when) is int else _time(when), replicas))
    return History(
        tuple(recommendations), _events(raw.scale_up_events), _events(raw.scale_down_events)
    )


def _events(raw: list[wire.Entry]) -> tuple[ScaleEvent, ...]:
    events = []
    for entry in raw:
        change = entry.change
        if change is None or change < 0 or entry.replicas is not None:
            raise _Refused
        events.append(ScaleEvent(_time(entry.time), change))
    return tuple(events)
