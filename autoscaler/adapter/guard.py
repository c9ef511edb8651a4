"""The connection guard: a cap on open connections and deadlines for slow clients.

Every accepted connection costs memory before any credential is checked: asyncio's
TLS layer allocates a 256 KiB read buffer per connection when it wraps the socket
(``SSLProtocol.max_size`` in CPython 3.11), OpenSSL adds its own state, and uvicorn
sets no handshake or header deadline. 2,000 silent connections took an unguarded
adapter from 72 MB to 687 MB (issue 11). The guard bounds both sides of that product:

- **a cap**: at most ``max_connections`` connections are open; beyond it the oldest
  connection still waiting for its first request is closed to make room, or, when
  none is waiting, the new one is closed as soon as it is accepted, before any TLS
  state exists for it (no allocation beyond the socket);
- **deadlines**: the TLS handshake must finish within ``handshake_timeout`` (from
  the accept; a client that connects and sends nothing is a slow handshake), and each
  request's line and headers within ``header_timeout`` (counted from the handshake,
  then from the end of each response). A client that goes quiet between requests is
  closed after uvicorn's keep-alive timeout, which the guard sets too.

How: uvicorn serves plain TCP and the guard is its protocol factory. An admitted
connection is upgraded with :meth:`asyncio.loop.start_tls` (public API, with its own
handshake timeout), so a refused one never reaches the TLS layer; then the HTTP
protocol takes the connection over. Nothing private of asyncio or uvicorn is patched:
the HTTP protocol is subclassed through its documented hooks (``connection_made``,
``connection_lost``, ``send_400_response``) and its ``app`` attribute, as
:func:`autoscaler.adapter.tls.protocol_class` already does.

Malformed or oversized request heads are answered by uvicorn itself before the
application sees them; :class:`GuardedHTTP` makes those answers ``metav1.Status``
JSON like every other error (400 ``BadRequest``; 413 ``RequestEntityTooLarge`` when the
request line and headers exceed ``max_head_bytes``).
"""

from __future__ import annotations

import asyncio
import logging
import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from autoscaler.adapter import schemas, tls

log = logging.getLogger("autoscaler.adapter")

REFUSAL_LOG_PERIOD = 10.0  # seconds between two "connections refused" warnings
LINGER_SECONDS = 2.0  # after a 400/413, unread request bytes are discarded this long


@dataclass(frozen=True, slots=True)
class Limits:
    """The guard's numbers (see :class:`autoscaler.adapter.serving.ServingLimits`)."""

    max_connections: int = 256
    handshake_timeout: float = 10.0
    header_timeout: float = 10.0
    max_head_bytes: int = 16 * 1024


@dataclass(slots=True)
class ConnectionGuard:
    """Counts open connections against the cap; one per server, used on its loop only.

    At the cap, a new connection takes the place of the oldest one that has not yet
    sent a complete request (in its handshake or headers: the kind a flood is made
    of), which is closed; when every open connection has made a request, the new one
    is closed instead. So a flood of idle connections cannot lock out the aggregator's
    new connections, and memory stays bounded by the cap either way.
    """

    limits: Limits
    context: ssl.SSLContext | None = None
    open: int = 0
    refused: int = 0
    evicted: int = 0
    waiting: dict[Slot, Callable[[], None]] = field(default_factory=dict, repr=False)
    upgrades: set[asyncio.Task[None]] = field(default_factory=set, repr=False)
    _last_warning: float = field(default=float("-inf"), repr=False)

    def admit(self, close: Callable[[], None]) -> Slot | None:
        """A slot for a new connection (``close`` ends it if evicted), or None: refused."""
        if self.open >= self.limits.max_connections:
            if not self.waiting:
                self.refused += 1
                self._warn()
                return None
            oldest, close_oldest = next(iter(self.waiting.items()))
            oldest.release()
            close_oldest()
            self.evicted += 1
            self._warn()
        slot = Slot(self)
        self.open += 1
        self.waiting[slot] = close
        return slot

    def _warn(self) -> None:
        now = time.monotonic()
        if now - self._last_warning >= REFUSAL_LOG_PERIOD:
            self._last_warning = now
            log.warning(
                "adapter: at the cap of %d connections (--max-connections): %d closed while "
                "waiting for a request, %d refused so far",
                self.limits.max_connections,
                self.evicted,
                self.refused,
            )


class Slot:
    """One admitted connection's place under the cap; released once, whoever sees the end."""

    __slots__ = ("_guard",)

    def __init__(self, guard: ConnectionGuard) -> None:
        self._guard: ConnectionGuard | None = guard

    def settle(self) -> None:
        """The connection sent a complete request: no longer a candidate for eviction."""
        if self._guard is not None:
            self._guard.waiting.pop(self, None)

    def release(self) -> None:
        if self._guard is not None:
            self._guard.waiting.pop(self, None)
            self._guard.open -= 1
            self._guard = None


def guarded_protocol(base: type[Any], guard: ConnectionGuard) -> type[asyncio.Protocol]:
    """A protocol class for uvicorn's ``http=``: admits, upgrades to TLS, then ``base``.

    ``base`` is uvicorn's HTTP protocol; uvicorn instantiates the returned class with
    its usual keyword arguments, which go on to ``base`` once the connection is
    admitted.
    """
    http = _guarded_http(tls.protocol_class(base), guard)

    class Admission(asyncio.Protocol):
        """One accepted connection until the HTTP protocol owns it."""

        def __init__(self, **uvicorn_arguments: Any) -> None:
            self._arguments = uvicorn_arguments
            self._early: list[bytes] = []
            self._slot: Slot | None = None

        def connection_made(self, transport: asyncio.BaseTransport) -> None:
            assert isinstance(transport, asyncio.Transport)
            self._slot = guard.admit(transport.abort)
            if self._slot is None:
                transport.abort()
                return
            inner = http(**self._arguments)
            inner.slot = self._slot
            if guard.context is None:
                transport.set_protocol(inner)
                inner.connection_made(transport)
                return
            transport.pause_reading()  # no byte of the ClientHello may reach us
            task = asyncio.get_running_loop().create_task(self._upgrade(transport, inner))
            guard.upgrades.add(task)
            task.add_done_callback(guard.upgrades.discard)

        async def _upgrade(self, transport: asyncio.Transport, inner: Any) -> None:
            assert guard.context is not None and self._slot is not None
            if transport.is_closing():  # evicted before its turn: no TLS state at all
                self._slot.release()
                return
            try:
                secure = await asyncio.get_running_loop().start_tls(
                    transport,
                    self,  # until the handshake is done and the HTTP protocol takes over
                    guard.context,
                    server_side=True,
                    ssl_handshake_timeout=guard.limits.handshake_timeout,
                )
            except BaseException as exc:  # timeout, reset, bad handshake, shutdown
                transport.abort()
                self._slot.release()
                if not isinstance(exc, Exception):
                    raise
                return
            if secure is None or secure.is_closing():
                self._slot.release()
                if secure is not None:
                    secure.abort()
                return
            secure.set_protocol(inner)
            inner.connection_made(secure)
            for data in self._early:  # the request may arrive with the handshake's end
                inner.data_received(data)
            self._early.clear()

        def data_received(self, data: bytes) -> None:
            self._early.append(data)

        def connection_lost(self, exc: Exception | None) -> None:
            # Refused, or lost after the handshake before the HTTP protocol took over.
            if self._slot is not None:
                self._slot.release()

    return Admission


def _guarded_http(base: type[Any], guard: ConnectionGuard) -> type[Any]:
    """``base`` with the header deadline, the release of its slot, and Status errors."""

    class GuardedHTTP(base):  # type: ignore[misc]
        slot: Slot  # set by Admission before connection_made
        _deadline: asyncio.TimerHandle | None = None
        _lingering = False  # answered a malformed request; reading only to discard

        def connection_made(self, transport: asyncio.Transport) -> None:
            super().connection_made(transport)
            inner: Any = getattr(self, "app")  # noqa: B009 (the base class is untyped here)

            async def app(scope: Any, receive: Any, send: Any) -> None:
                self._disarm()  # the request line and headers are complete
                self.slot.settle()
                try:
                    await inner(scope, receive, send)
                finally:
                    self._arm()

            self.app = app
            self._arm()

        def connection_lost(self, exc: Exception | None) -> None:
            self._disarm()
            self.slot.release()
            super().connection_lost(exc)

        def _arm(self) -> None:
            self._disarm()
            if not self.transport.is_closing():
                loop = asyncio.get_running_loop()
                self._deadline = loop.call_later(guard.limits.header_timeout, self._too_slow)

        def _disarm(self) -> None:
            if self._deadline is not None:
                self._deadline.cancel()
                self._deadline = None

        def _too_slow(self) -> None:
            self._deadline = None
            self.transport.abort()

        def send_400_response(self, msg: str) -> None:
            """uvicorn's answer to a request h11 cannot parse, as a ``metav1.Status``."""
            pending, _ = self.conn.trailing_data
            if len(pending) > guard.limits.max_head_bytes:
                code = 413
                message = (
                    f"the request line and headers are longer than "
                    f"{guard.limits.max_head_bytes} bytes"
                )
            else:
                code, message = 400, "the request is not valid HTTP/1.1"
            body = schemas.status(code, message)
            head = (
                f"HTTP/1.1 {code} {'Request Entity Too Large' if code == 413 else 'Bad Request'}"
                f"\r\ncontent-type: {schemas.JSON_TYPE}\r\ncontent-length: {len(body)}"
                "\r\nconnection: close\r\n\r\n"
            )
            self.transport.write(head.encode() + body)
            # Lingering close: closing now, with the rest of a large request unread,
            # makes the kernel reset the connection and the client may never read the
            # answer. Discard what still comes for a moment, then close.
            self._lingering = True
            self._disarm()
            asyncio.get_running_loop().call_later(LINGER_SECONDS, self.transport.close)

        def data_received(self, data: bytes) -> None:
            if not self._lingering:
                super().data_received(data)

    return GuardedHTTP
