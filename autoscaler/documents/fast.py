"""A fast path for JSON snapshots: typed decoding in C, then a lean conversion.

``autoscaler decide`` turns lists of thousands of snapshots into decisions, and building
them field by field from ``json.loads`` dicts (``snapshot.py``) cost twice the decision
itself. Here msgspec decodes the JSON straight into small structs, checking types as it
goes, and the conversion only converts.

The fast path never judges a document: anything it does not accept exactly as written
(a type it does not expect, a bad quantity, a duplicate pod, an unknown field, a key
given twice, ...) makes it return None, and the caller parses the same input with
``snapshot_from_document``, which either accepts it or says precisely what is wrong.
So both paths accept the same documents and build equal snapshots
(tests/test_decide_fast_path.py checks that on every golden case and on generated ones).

msgspec keeps the last of two equal keys without a word. To see that no key was given
twice at C speed, each decoded snapshot is encoded again (the structs write exactly the
keys that were given, see ``wire.py``) and its colons counted: those of its keys and of
its strings. The input holds as many colons exactly when no key was dropped, provided
no string spells a colon as ``\\u003a`` (such input is left to the full parser).
"""

from __future__ import annotations

import math
import re
from typing import Any

import msgspec
from msgspec import UNSET, UnsetType

from autoscaler.core.model import (
    Container,
    History,
    MetricData,
    MetricForecast,
    Pod,
    PodUsage,
    Policy,
    Recommendation,
    Rollout,
    ScaleEvent,
    Settings,
    Snapshot,
)
from autoscaler.core.quantity import QuantityError
from autoscaler.documents import wire
from autoscaler.documents.read import MILLI_UNITS, DocumentError, time
from autoscaler.documents.snapshot import READY_STATUS, settings_from_document
from autoscaler.documents.spec import policy_from_spec
from autoscaler.textdata import MAX_DEPTH, deeper_than


class _Refused(Exception):
    """Something the fast path does not take as written; the full parser will judge it."""


_NO_METRICS_DATA = MetricData()
_NO_HISTORY_DATA = History()
_DEFAULT_SETTINGS = Settings()


class FastDocuments:
    """Decodes snapshots; parses each distinct policy and settings once."""

    def __init__(self) -> None:
        self._policies: dict[bytes, Policy] = {}
        self._settings: dict[bytes, Settings] = {}

    def snapshots(self, data: bytes, *, now: float) -> tuple[list[Snapshot], bool] | None:
        """All snapshots of a JSON document and whether it was a list, or None if refused."""
        found = json_items(data)
        if found is None or not found[0] or has_escaped_colon(data):
            return None
        snapshots = []
        colons = 0
        for item in found[0]:
            one = self.snapshot(item, now=now)
            if one is None:
                return None
            snapshots.append(one[0])
            colons += one[1]
        return (snapshots, found[1]) if colons == data.count(b":") else None

    def snapshot(self, item: bytes | msgspec.Raw, *, now: float) -> tuple[Snapshot, int] | None:
        """The snapshot of one JSON value and the colons it holds once decoded, or None.

        The colons are those of its keys and strings: when the input had as many, no key
        was given twice (msgspec keeps the last one silently). The caller compares them,
        on input without escaped colons (``has_escaped_colon``).
        """
        try:
            raw = wire.SNAPSHOT.decode(item)
        except (msgspec.MsgspecError, RecursionError):
            return None
        try:
            return self._snapshot(raw, now), wire.ENCODER.encode(raw).count(b":")
        except (_Refused, DocumentError, QuantityError, msgspec.MsgspecError, RecursionError):
            return None

    def _snapshot(self, raw: wire.Snapshot, default_now: float) -> Snapshot:
        now = default_now if raw.now is None or raw.now is UNSET else _time(raw.now)
        current = raw.current_replicas
        status = raw.status_replicas
        if status is None or status is UNSET:
            status = current
        if current < 0 or status < 0:
            raise _Refused
        metrics, history, settings = raw.metrics, raw.history, raw.settings
        policy = self._policy(raw.policy)
        return Snapshot(
            now,
            policy,
            current,
            status,
            () if raw.pods is UNSET else self._pods(raw.pods),
            _NO_METRICS_DATA
            if metrics is None or metrics is UNSET
            else self._metrics(metrics, now),
            _NO_HISTORY_DATA if history is None or history is UNSET else _history(history),
            _DEFAULT_SETTINGS if settings is UNSET else self._settings_of(settings),
            self._rollout(raw.rollout),
            _failed_syncs(raw.failed_syncs),
            () if raw.external_changes is UNSET else tuple(map(_time, raw.external_changes)),
            () if raw.forecasts is UNSET else _forecasts(raw.forecasts, len(policy.metrics)),
        )

    def _rollout(self, raw: wire.Rollout | UnsetType | None) -> Rollout | None:
        if raw is None or raw is UNSET:
            return None
        stable = () if raw.stable_pods is UNSET else self._pods(raw.stable_pods)
        return Rollout(raw.workload, raw.message, stable)

    def _policy(self, raw: msgspec.Raw) -> Policy:
        key = bytes(raw)
        policy = self._policies.get(key)
        if policy is None:
            policy = policy_from_spec(_plain(key))
            self._policies[key] = policy
        return policy

    def _settings_of(self, raw: msgspec.Raw) -> Settings:
        key = bytes(raw)
        settings = self._settings.get(key)
        if settings is None:
            settings = settings_from_document(_plain(key), "settings")
            self._settings[key] = settings
        return settings

    def _pods(self, raws: list[wire.Pod]) -> tuple[Pod, ...]:
        pods = []
        names = set()
        milli = MILLI_UNITS
        unset = UNSET
        for raw in raws:
            if not raw.name:
                raise _Refused
            names.add(raw.name)
            containers = []
            if raw.containers is not unset:
                containers = [
                    Container(c.name, _requests(c.requests, milli)) for c in raw.containers
                ]
            if raw.init_containers is not unset:
                for init in raw.init_containers:
                    if init.restart_policy == "Always":
                        if init.name is unset or not init.name:
                            raise _Refused
                        containers.append(Container(init.name, _requests(init.requests, milli)))
            if any(not c.name for c in containers):
                raise _Refused
            ready, since, start = raw.ready, raw.ready_since, raw.start_time
            pods.append(
                Pod(
                    raw.name,
                    "Running" if raw.phase is unset else raw.phase,
                    None if ready is None or ready is unset else READY_STATUS[ready],
                    None if since is None or since is unset else _time(since),
                    None if start is None or start is unset else _time(start),
                    raw.deleting is True,
                    tuple(containers),
                )
            )
        if len(names) != len(pods):
            raise _Refused
        return tuple(pods)

    def _metrics(self, raw: wire.Metrics, now: float) -> MetricData:
        milli = MILLI_UNITS
        unset = UNSET
        resource = None
        if raw.resource is not None and raw.resource is not unset:
            resource = {}
            for pod, usage in raw.resource.items():
                window = 30 if usage.window is unset else usage.window
                if window < 0 or (type(window) is float and window != window):
                    raise _Refused
                stamp = usage.timestamp
                containers = {} if usage.containers is unset else usage.containers
                resource[pod] = PodUsage(
                    now if stamp is None or stamp is unset else _time(stamp),
                    window if type(window) is int else float(window),
                    {
                        name: {r: milli[q] for r, q in values.items()}
                        for name, values in containers.items()
                    },
                )
        pods = {} if raw.pods is unset else raw.pods
        objects = {} if raw.object is unset else raw.object
        external = {} if raw.external is unset else raw.external
        return MetricData(
            resource=resource,
            pods={
                name: {pod: milli[q] for pod, q in values.items()} for name, values in pods.items()
            },
            object={name: milli[q] for name, q in objects.items() if q is not None},
            external={
                name: tuple([milli[q] for q in values if q is not None])
                for name, values in external.items()
            },
            errors={} if raw.errors is unset else _messages(raw.errors),
        )


def _plain(raw: bytes) -> Any:
    """A policy or settings as plain data (parsed once per distinct one), refused when a
    key repeats or it nests deeper than the full parser allows a snapshot's part."""
    data = msgspec.json.decode(raw)
    if wire.ENCODER.encode(data).count(b":") != raw.count(b":"):
        raise _Refused  # msgspec kept the last of two equal keys
    brackets = raw.count(b"[") + raw.count(b"{")  # nests no deeper than it has brackets
    if brackets > MAX_DEPTH - 2 and deeper_than(data, MAX_DEPTH - 2):  # a list, a snapshot
        raise _Refused
    return data


def _requests(
    requests: dict[str, wire.Quantity] | UnsetType, milli: dict[str | int | float, int]
) -> dict[str, int]:
    return {} if requests is UNSET else {r: milli[q] for r, q in requests.items()}


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
    if raw.recommendations is not UNSET:
        for entry in raw.recommendations:
            replicas = entry.replicas
            if replicas is None or replicas is UNSET or replicas < 0:
                raise _Refused
            if entry.change is not UNSET:
                raise _Refused
            when = entry.time
            recommendations.append(
                Recommendation(when if type(when) is int else _time(when), replicas)
            )
    burst, active, off = raw.last_burst, raw.last_active, raw.forecast_off
    return History(
        tuple(recommendations),
        _events(raw.scale_up_events),
        _events(raw.scale_down_events),
        None if burst is None or burst is UNSET else _time(burst),
        None if active is None or active is UNSET else _time(active),
        off is True,
    )


def _forecasts(raws: list[wire.Forecast], metrics: int) -> tuple[MetricForecast, ...]:
    forecasts = []
    for raw in raws:
        total, error = MILLI_UNITS[raw.total], raw.error
        if not 0 <= raw.metric < metrics or total < 0:
            raise _Refused
        if error is UNSET or error is None:
            error = None
        elif not 0 <= error < math.inf:  # NaN fails both
            raise _Refused
        forecasts.append(MetricForecast(raw.metric, total, _time(raw.at), error))
    return tuple(forecasts)


def _events(raw: list[wire.Entry] | UnsetType) -> tuple[ScaleEvent, ...]:
    if raw is UNSET:
        return ()
    events = []
    for entry in raw:
        change = entry.change
        if change is None or change is UNSET or change < 0 or entry.replicas is not UNSET:
            raise _Refused
        events.append(ScaleEvent(_time(entry.time), change))
    return tuple(events)


_ESCAPED_COLON = re.compile(rb"\\u003[aA]")
_SPACE = re.compile(rb"[ \t\r\n]*")


def has_escaped_colon(data: bytes) -> bool:
    """Whether a string may hide a colon as ``\\u003a`` (then colons cannot be compared)."""
    return _ESCAPED_COLON.search(data) is not None


def json_items(data: bytes) -> tuple[list[msgspec.Raw], bool] | None:
    """The items of a JSON list, or a JSON object as one item, undecoded; and whether it
    was a list. None when ``data`` is not JSON (it may be YAML), is too deeply nested
    for msgspec, or is neither a list nor an object.

    The items are views of ``data``: they cost no copy, and each is decoded when its
    turn comes, so memory follows one snapshot rather than all of them.
    """
    start = _SPACE.match(data)
    first = data[start.end() : start.end() + 1] if start else b""
    try:
        if first == b"[":
            return msgspec.json.decode(data, type=list[msgspec.Raw]), True
        if first == b"{":
            return [msgspec.json.decode(data, type=msgspec.Raw)], False
    except (msgspec.MsgspecError, RecursionError):
        return None
    return None


def _failed_syncs(raw: int | UnsetType) -> int:
    if raw is UNSET:
        return 0
    if raw < 0:
        raise _Refused  # the full parser names it
    return raw
