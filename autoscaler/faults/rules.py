"""Fault rules: what to break, for which requests, how often and for how long.

A rule pairs one *fault* (a small frozen value: `Error`, `Latency`, `Drop`, `WatchDisconnect`,
`Blackhole`, `LostResponse`) with a *match* (optional method, a regex searched in the request
target, path plus query, so ``watch=true`` can be matched) and *limits*: a probability, a maximum
number of firings and a lifetime. At most one fault applies to a request: the first live rule, in
insertion order, that matches and wins its probability draw.

Determinism: every rule draws from its own `random.Random` seeded with ``"{seed}/{rule id}"``, and
draws only when its probability is below 1, so one rule's pattern depends on the seed, its id and
the sequence of requests it matched, not on the other rules. A rule with ``max_count`` or
``duration_s`` expires; expired rules stay listed (``"live": false``) so their stats can be read.

The rule set also keeps a bounded log of the last exchanges (`Exchange`: method, target, the fault
applied, the upstream's status and a write's body), so a test can count what really reached the
upstream, e.g. the writes an API server applied even though their answers were lost.

The same module holds the rules' JSON face (`rule_from_json`, `rule_to_json`) and the control API
routing (`control_request`), which is a pure function of the rule set and the request, so the proxy
only has to carry bytes.
"""

from __future__ import annotations

import json
import random
import re
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field, fields
from typing import ClassVar, Literal

#: Status reasons the Kubernetes API server uses for each code (`metav1.StatusReason`).
K8S_REASONS: Mapping[int, str] = {
    400: "BadRequest", 401: "Unauthorized", 403: "Forbidden", 404: "NotFound",
    405: "MethodNotAllowed", 406: "NotAcceptable", 409: "Conflict", 410: "Expired",
    413: "RequestEntityTooLarge", 415: "UnsupportedMediaType", 422: "Invalid",
    429: "TooManyRequests", 500: "InternalError", 503: "ServiceUnavailable", 504: "Timeout",
}  # fmt: skip


class RuleError(ValueError):
    """A rule description is invalid; the message names the field and the value."""


def _check(ok: bool, message: str) -> None:
    if not ok:
        raise RuleError(message)


@dataclass(frozen=True, kw_only=True)
class Error:
    """Answer with ``status`` and a Kubernetes `Status` body instead of forwarding.

    ``body`` replaces the Status JSON (e.g. a Prometheus ``{"status": "error"}`` document);
    ``retry_after_s`` adds a ``Retry-After`` header, as the API server does on 429.
    """

    kind: ClassVar[str] = "error"
    status: int = 500
    message: str = ""
    reason: str = ""
    retry_after_s: int | None = None
    body: str | None = None

    def __post_init__(self) -> None:
        _check(400 <= self.status <= 599, f"status: {self.status!r} is not in 400..599")
        _check(
            self.retry_after_s is None or self.retry_after_s >= 0,
            f"retry_after_s: {self.retry_after_s!r} is negative",
        )


@dataclass(frozen=True, kw_only=True)
class Latency:
    """Wait ``delay_s`` seconds, then forward normally."""

    kind: ClassVar[str] = "latency"
    delay_s: float

    def __post_init__(self) -> None:
        _check(0 <= self.delay_s <= 3600, f"delay_s: {self.delay_s!r} is not in 0..3600")


@dataclass(frozen=True, kw_only=True)
class Drop:
    """Read the request, then close the connection without answering."""

    kind: ClassVar[str] = "drop"


@dataclass(frozen=True, kw_only=True)
class WatchDisconnect:
    """Forward, but cut the response body after ``after_bytes`` bytes or ``after_s`` seconds.

    ``mode="abort"`` closes the connection mid-stream (exactly ``after_bytes`` body bytes reach
    the client; a network cut). ``mode="end"`` finishes the current chunk and ends a chunked
    stream cleanly, as the API server does when a watch times out; on a response that is not
    chunked it behaves like ``abort``.
    """

    kind: ClassVar[str] = "watch_disconnect"
    after_bytes: int | None = None
    after_s: float | None = None
    mode: Literal["abort", "end"] = "abort"

    def __post_init__(self) -> None:
        _check(
            self.after_bytes is not None or self.after_s is not None,
            "watch_disconnect needs after_bytes or after_s",
        )
        _check(
            self.after_bytes is None or self.after_bytes >= 0,
            f"after_bytes: {self.after_bytes!r} is negative",
        )
        _check(self.after_s is None or self.after_s >= 0, f"after_s: {self.after_s!r} is negative")
        _check(self.mode in ("abort", "end"), f"mode: {self.mode!r} is not 'abort' or 'end'")


@dataclass(frozen=True, kw_only=True)
class Blackhole:
    """Read the request and never answer; close after ``timeout_s`` (None: when the peer or
    the proxy closes)."""

    kind: ClassVar[str] = "blackhole"
    timeout_s: float | None = None

    def __post_init__(self) -> None:
        _check(
            self.timeout_s is None or self.timeout_s > 0,
            f"timeout_s: {self.timeout_s!r} is not positive",
        )


@dataclass(frozen=True, kw_only=True)
class LostResponse:
    """Forward the request, read the upstream's whole answer, then close the client connection
    without sending any of it: the upstream applied the request (a write is done) and the client
    cannot tell, as when a network cut or a restarting load balancer loses the answer."""

    kind: ClassVar[str] = "lost_response"


Fault = Error | Latency | Drop | WatchDisconnect | Blackhole | LostResponse
FAULT_KINDS: Mapping[str, type[Fault]] = {
    c.kind: c for c in (Error, Latency, Drop, WatchDisconnect, Blackhole, LostResponse)
}


@dataclass(frozen=True, kw_only=True)
class FaultRule:
    """A fault, which requests it applies to, and when it stops applying."""

    fault: Fault
    method: str | None = None
    path: str | None = None
    probability: float = 1.0
    max_count: int | None = None
    duration_s: float | None = None

    def __post_init__(self) -> None:
        _check(0 <= self.probability <= 1, f"probability: {self.probability!r} is not in 0..1")
        _check(
            self.max_count is None or self.max_count >= 1,
            f"max_count: {self.max_count!r} is less than 1",
        )
        _check(
            self.duration_s is None or self.duration_s > 0,
            f"duration_s: {self.duration_s!r} is not positive",
        )
        if self.path is not None:
            try:
                re.compile(self.path)
            except re.error as exc:
                raise RuleError(f"path: {self.path!r} is not a regular expression: {exc}") from exc
        if self.method is not None:
            object.__setattr__(self, "method", self.method.upper())


_MATCH_FIELDS = ("method", "path", "probability", "max_count", "duration_s")


def rule_from_json(data: object) -> FaultRule:
    """Build a rule from its flat JSON form: ``{"kind": "error", "status": 409, "path": ...}``."""
    if not isinstance(data, dict):
        raise RuleError("a rule is a JSON object")
    kind = data.get("kind")
    _check(kind in FAULT_KINDS, f"kind: {kind!r} is not one of {sorted(FAULT_KINDS)}")
    cls = FAULT_KINDS[str(kind)]
    fault_keys = {f.name for f in fields(cls)}
    unknown = set(data) - fault_keys - set(_MATCH_FIELDS) - {"kind"}
    _check(not unknown, f"unknown field(s) for {kind}: {sorted(unknown)}")
    try:
        fault = cls(**{k: v for k, v in data.items() if k in fault_keys})
        return FaultRule(fault=fault, **{k: data[k] for k in _MATCH_FIELDS if k in data})
    except TypeError as exc:  # a wrong type met a comparison in validation
        raise RuleError(f"{kind}: {exc}") from exc


def rule_to_json(rule: FaultRule) -> dict[str, object]:
    """The flat JSON form read by `rule_from_json`."""
    out: dict[str, object] = {"kind": rule.fault.kind}
    out.update({f.name: getattr(rule.fault, f.name) for f in fields(rule.fault)})
    out.update({k: getattr(rule, k) for k in _MATCH_FIELDS})
    return out


@dataclass
class RuleStats:
    """Per rule: ``seen`` requests matched method and path while it was live, ``faulted`` got
    its fault, ``forwarded`` of those still went upstream (latency, watch_disconnect)."""

    seen: int = 0
    faulted: int = 0
    forwarded: int = 0


@dataclass(frozen=True)
class Exchange:
    """One request the proxy served: its ``fault`` (kind, or None) and ``upstream_status``, the
    status the upstream answered (None when the request never reached it or it did not answer).
    ``body`` is the start of the request body (writes are small JSON documents)."""

    method: str
    target: str
    fault: str | None
    upstream_status: int | None
    body: str = ""

    @property
    def applied(self) -> bool:
        """The upstream accepted it (2xx), whether or not the client saw the answer."""
        return self.upstream_status is not None and 200 <= self.upstream_status < 300


EXCHANGES_KEPT = 10_000
BODY_KEPT = 2048


@dataclass
class _Entry:
    id: int
    rule: FaultRule
    pattern: re.Pattern[str] | None
    added_at: float
    rng: random.Random
    stats: RuleStats = field(default_factory=RuleStats)

    def live(self, now: float) -> bool:
        rule = self.rule
        if rule.max_count is not None and self.stats.faulted >= rule.max_count:
            return False
        return rule.duration_s is None or now < self.added_at + rule.duration_s

    def matches(self, method: str, target: str) -> bool:
        if self.rule.method is not None and self.rule.method != method:
            return False
        return self.pattern is None or self.pattern.search(target) is not None


@dataclass(frozen=True)
class Picked:
    """The fault chosen for one request, and the rule it came from."""

    rule_id: int
    fault: Fault


class RuleSet:
    """The live rules and the counters. Thread-safe: tests add rules from another thread."""

    def __init__(self, *, seed: int = 0, clock: Callable[[], float] = time.monotonic) -> None:
        self._seed = seed
        self._clock = clock
        self._lock = threading.Lock()
        self._entries: dict[int, _Entry] = {}
        self._next_id = 1
        self.requests = 0
        self.forwarded = 0
        self.faulted = 0
        self._exchanges: deque[Exchange] = deque(maxlen=EXCHANGES_KEPT)

    def add(self, rule: FaultRule) -> int:
        """Store the rule; returns its id (ids are never reused within a rule set)."""
        with self._lock:
            rule_id, self._next_id = self._next_id, self._next_id + 1
            pattern = re.compile(rule.path) if rule.path is not None else None
            rng = random.Random(f"{self._seed}/{rule_id}")
            self._entries[rule_id] = _Entry(rule_id, rule, pattern, self._clock(), rng)
            return rule_id

    def remove(self, rule_id: int) -> bool:
        with self._lock:
            return self._entries.pop(rule_id, None) is not None

    def clear(self) -> int:
        with self._lock:
            count = len(self._entries)
            self._entries.clear()
            return count

    def pick(self, *, method: str, target: str) -> Picked | None:
        """Count the request and choose its fault, if any (see the module docstring)."""
        with self._lock:
            self.requests += 1
            now = self._clock()
            for entry in self._entries.values():
                if not entry.live(now) or not entry.matches(method, target):
                    continue
                entry.stats.seen += 1
                probability = entry.rule.probability
                if probability < 1 and entry.rng.random() >= probability:
                    continue
                entry.stats.faulted += 1
                self.faulted += 1
                return Picked(entry.id, entry.rule.fault)
            return None

    def note_forwarded(self, picked: Picked | None) -> None:
        """Count a request that went upstream (with or without a fault)."""
        with self._lock:
            self.forwarded += 1
            if picked is not None and picked.rule_id in self._entries:
                self._entries[picked.rule_id].stats.forwarded += 1

    def record(
        self, *, method: str, target: str, picked: Picked | None, status: int | None, body: bytes
    ) -> None:
        """Log one served request (the last `EXCHANGES_KEPT` are kept)."""
        kept = body[:BODY_KEPT].decode("utf-8", "replace")
        fault = picked.fault.kind if picked is not None else None
        with self._lock:
            self._exchanges.append(Exchange(method, target, fault, status, kept))

    def exchanges(self) -> list[Exchange]:
        with self._lock:
            return list(self._exchanges)

    def rules_json(self) -> list[dict[str, object]]:
        with self._lock:
            now = self._clock()
            return [
                {"id": e.id, "live": e.live(now), **rule_to_json(e.rule)}
                for e in self._entries.values()
            ]

    def stats_json(self) -> dict[str, object]:
        with self._lock:
            rules = {str(e.id): vars(e.stats).copy() for e in self._entries.values()}
            return {
                "requests": self.requests,
                "forwarded": self.forwarded,
                "faulted": self.faulted,
                "rules": rules,
            }


def control_request(
    rules: RuleSet, *, method: str, path: str, body: bytes
) -> tuple[int, dict[str, object]]:
    """Route one control API request; returns the status and the JSON document to send."""
    path = path.split("?", 1)[0].rstrip("/") or "/"
    single = re.fullmatch(r"/rules/(\d+)", path)
    if path == "/healthz" and method == "GET":
        return 200, {"ok": True}
    if path == "/stats" and method == "GET":
        return 200, rules.stats_json()
    if path == "/rules" and method == "GET":
        return 200, {"rules": rules.rules_json()}
    if path == "/exchanges" and method == "GET":
        return 200, {"exchanges": [asdict(e) for e in rules.exchanges()]}
    if path == "/rules" and method == "DELETE":
        return 200, {"removed": rules.clear()}
    if path == "/rules" and method == "POST":
        try:
            rule = rule_from_json(json.loads(body or b"null"))
        except (ValueError, UnicodeDecodeError) as exc:  # RuleError and JSONDecodeError
            return 400, {"error": str(exc)}
        rule_id = rules.add(rule)
        return 201, {"rule": {"id": rule_id, **rule_to_json(rule)}}
    if single and method == "DELETE":
        if rules.remove(int(single[1])):
            return 200, {"removed": 1}
        return 404, {"error": f"no rule {single[1]}"}
    if path in ("/healthz", "/stats", "/rules", "/exchanges") or single:
        return 405, {"error": f"{method} is not allowed on {path}"}
    return 404, {"error": f"no such endpoint: {path}"}
