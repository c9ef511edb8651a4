"""The simulator's only door to the Kubernetes API: calls in, plain JSON dicts out.

Everything goes through the official client with ``_preload_content=False``, so the
simulator reads the server's JSON as sent (no generated models, no datetime
conversions, and no deserialization pitfalls such as the ``pods/binding`` reply, a
``Status`` the client would try to read as a ``V1Binding``). A failed call never
raises: it becomes a :class:`Reply` with the status (0 when no response came) and,
unless the status is an expected one (a vanished object, a lost race), a one-line
warning. The simulator must outlive any API hiccup; the next tick retries.
"""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from typing import Any

from kubernetes import client
from urllib3.exceptions import HTTPError

# Kubernetes' patch flavours: built-in kinds understand strategic merge; custom
# resources only JSON merge patch (the client would otherwise pick JSON Patch).
MERGE = "application/merge-patch+json"
STRATEGIC = "application/strategic-merge-patch+json"
QUIET = frozenset({404, 409})
# The same warning at most once per this many seconds: a dead API server must not
# turn every tick into a screenful.
WARN_EVERY_S = 30.0

Json = dict[str, Any]


@dataclass(frozen=True, slots=True)
class Reply:
    """An API answer: ``status`` is the HTTP status, 0 when no answer came."""

    status: int
    body: Json = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300

    def items(self) -> list[Json] | None:
        """A list reply's items, or None when the list failed."""
        return list(self.body.get("items") or []) if self.ok else None


MAX_REMEMBERED = 10_000  # distinct warning messages kept to rate-limit them


class Warnings:
    """One-line warnings, each distinct message at most once per ``WARN_EVERY_S``."""

    def __init__(self, emit: Callable[[str], None]) -> None:
        self._emit = emit
        self._last: dict[str, float] = {}

    def __call__(self, message: str) -> None:
        now = time.monotonic()
        if now - self._last.get(message, -WARN_EVERY_S) >= WARN_EVERY_S:
            if len(self._last) >= MAX_REMEMBERED:
                # Messages name pods, and pods come and go: forget those that may repeat.
                self._last = {m: t for m, t in self._last.items() if now - t < WARN_EVERY_S}
            self._last[message] = now
            self._emit(f"sim: warning: {message}")


class Api:
    """The typed client groups the simulator uses, behind one failure policy."""

    def __init__(
        self,
        api_client: Any,
        *,
        warn: Callable[[str], None],
        timeout: float,
        stopping: Callable[[], bool] = lambda: False,
    ) -> None:
        self.core = client.CoreV1Api(api_client)
        self.apps = client.AppsV1Api(api_client)
        self.custom = client.CustomObjectsApi(api_client)
        self._warn = warn
        self._timeout = timeout
        # Once stopping, calls fail at once: shutdown waits for one call, not a tick's worth.
        self._stopping = stopping
        # Requests sent, by client method and HTTP status (0: no answer), for /metrics
        # (read from the metrics thread, hence the lock).
        self._sent: Counter[tuple[str, int]] = Counter()
        self._sent_lock = threading.Lock()

    def warn(self, message: str) -> None:
        """A one-line warning through the same rate limit as failed calls'."""
        self._warn(message)

    def requests_sent(self) -> dict[tuple[str, int], int]:
        """(client method name, HTTP status) -> requests sent so far; status 0: no answer."""
        with self._sent_lock:
            return dict(self._sent)

    def _count(self, method: Callable[..., Any], status: int) -> None:
        with self._sent_lock:
            self._sent[getattr(method, "__name__", "unknown"), status] += 1

    def call(
        self,
        what: str,
        method: Callable[..., Any],
        *args: Any,
        quiet: Collection[int] = QUIET,
        **kwargs: Any,
    ) -> Reply:
        """``method(*args, **kwargs)`` as a :class:`Reply`; ``what`` names it in warnings."""
        if self._stopping():
            return Reply(0)
        try:
            response = method(
                *args, _preload_content=False, _request_timeout=self._timeout, **kwargs
            )
            data = response.data
        except client.ApiException as exc:
            self._count(method, int(exc.status or 0))
            if exc.status not in quiet:
                self._warn(f"{what}: {exc.status} {_reason(exc)}")
            return Reply(int(exc.status or 0))
        except (HTTPError, OSError, ValueError) as exc:
            self._count(method, 0)
            self._warn(f"{what}: {type(exc).__name__}: {_one_line(str(exc))}")
            return Reply(0)
        self._count(method, int(response.status))
        try:
            body = json.loads(data) if data else {}
        except ValueError:
            body = {}
        return Reply(int(response.status), body if isinstance(body, dict) else {})


def _reason(exc: Any) -> str:
    """The server's own message when the body is a Status, else the HTTP reason."""
    try:
        status = json.loads(exc.body or b"{}")
        message = str(status.get("message") or exc.reason)
    except (ValueError, AttributeError):
        message = str(exc.reason)
    return _one_line(message)


def _one_line(text: str) -> str:
    return " ".join(text.split())[:300]
