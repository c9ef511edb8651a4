"""An HTTP/1.1 reverse proxy that injects faults, for the control loop's reliability tests.

It sits in front of the Kubernetes API server or Prometheus and forwards each request unless a
rule (`autoscaler.faults.rules`) picks a fault for it. Connection choices, made for simplicity:

* Client side: keep-alive is supported (the official client pools connections); a connection
  closes after a response only when the client asked for it, the response body is delimited by
  the upstream closing, or a fault cut it.
* Upstream side: one fresh connection per request, sent with ``Connection: close``; so a
  fault never leaves a half-read upstream connection behind.
* Request bodies are read whole (they are small JSON documents) and forwarded with a
  ``Content-Length``; ``Expect: 100-continue`` is not supported. Response bodies are streamed
  piece by piece (chunk by chunk for chunked watch streams), so the client sees each event as
  soon as the upstream sends it.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import ssl
import threading
from collections.abc import AsyncGenerator, AsyncIterator
from http import HTTPStatus
from types import TracebackType
from typing import Any, Literal, Self
from urllib.parse import urlsplit

from autoscaler.faults.rules import (
    K8S_REASONS,
    Blackhole,
    Drop,
    Error,
    Exchange,
    Fault,
    FaultRule,
    Latency,
    LostResponse,
    Picked,
    RuleSet,
    WatchDisconnect,
    control_request,
)

_HOP_BY_HOP = frozenset(
    {"connection", "keep-alive", "proxy-connection", "te", "trailer", "transfer-encoding"}
    | {"upgrade", "proxy-authenticate", "proxy-authorization"}
)
_NOT_FORWARDED = _HOP_BY_HOP | {"host", "content-length", "expect"}
_LIMIT = 1 << 20  # longest head line we accept, and the stream buffer size
_PIECE = 1 << 16
LOST_RESPONSE_READ_S = 30.0  # longest wait for an answer that is then lost (not a watch)
# How a body ends: a chunked stream, a Content-Length, or the sender closing.
_Framing = Literal["chunked", "close"] | int
_PEER_ERRORS = (OSError, TimeoutError, asyncio.IncompleteReadError, asyncio.LimitOverrunError)


class _BadMessage(Exception):
    """A peer sent something that is not HTTP/1.1; the connection is closed."""


class _Head:
    """A request or status line, split in (at most) three, and the header fields in order."""

    def __init__(self, start: list[str], headers: list[tuple[str, str]]) -> None:
        self.start = start
        self.headers = headers

    def get(self, name: str) -> str | None:
        return next((v for k, v in self.headers if k.lower() == name), None)

    def tokens(self, name: str) -> set[str]:
        values = (v for k, v in self.headers if k.lower() == name)
        return {t.strip().lower() for v in values for t in v.split(",")}


async def _read_head(reader: asyncio.StreamReader) -> _Head | None:
    """Read a message head; None when the peer closed cleanly before sending one."""
    try:
        raw = await reader.readuntil(b"\r\n\r\n")
    except asyncio.IncompleteReadError as exc:
        if not exc.partial.strip():
            return None
        raise _BadMessage("truncated message head") from exc
    except asyncio.LimitOverrunError as exc:
        raise _BadMessage("message head too large") from exc
    first, *lines = raw.decode("latin-1").split("\r\n")
    headers = []
    for line in filter(None, lines):
        name, sep, value = line.partition(":")
        if not sep:
            raise _BadMessage(f"bad header line {line!r}")
        headers.append((name.strip(), value.strip()))
    return _Head(first.split(" ", 2), headers)


def _framing(head: _Head, *, request: bool) -> _Framing:
    if "chunked" in head.tokens("transfer-encoding"):
        return "chunked"
    length = head.get("content-length")
    if length is None:
        return 0 if request else "close"
    if not length.isdigit():
        raise _BadMessage(f"bad Content-Length {length!r}")
    return int(length)


async def _chunk_size(reader: asyncio.StreamReader) -> int:
    line = await reader.readuntil(b"\r\n")
    try:
        return int(line.split(b";")[0].strip(), 16)
    except ValueError as exc:
        raise _BadMessage(f"bad chunk size line {line!r}") from exc


async def _pieces(reader: asyncio.StreamReader, framing: _Framing) -> AsyncGenerator[bytes, None]:
    """Yield the body as it arrives: one piece per chunk, or per read for other framings."""
    if framing == "chunked":
        while size := await _chunk_size(reader):
            yield await reader.readexactly(size)
            await reader.readexactly(2)
        while await reader.readuntil(b"\r\n") != b"\r\n":  # trailers: dropped
            pass
    elif framing == "close":
        while piece := await reader.read(_PIECE):
            yield piece
    else:
        remaining = framing
        while remaining:
            piece = await reader.read(min(_PIECE, remaining))
            if not piece:
                raise asyncio.IncompleteReadError(b"", remaining)
            remaining -= len(piece)
            yield piece


async def _read_body(reader: asyncio.StreamReader, framing: _Framing) -> bytes:
    return b"".join([piece async for piece in _pieces(reader, framing)])


def _head_bytes(start: str, headers: list[tuple[str, str]]) -> bytes:
    return "\r\n".join([start, *(f"{k}: {v}" for k, v in headers), "", ""]).encode("latin-1")


def _phrase(status: int) -> str:
    with contextlib.suppress(ValueError):
        return HTTPStatus(status).phrase
    return "Unknown"


def json_response(
    status: int, payload: bytes, *, close: bool, headers: list[tuple[str, str]] | None = None
) -> bytes:
    """A complete response with a JSON body (error faults, 502s and the control API)."""
    fields = [("Content-Type", "application/json"), ("Content-Length", str(len(payload)))]
    fields += headers or []
    if close:
        fields.append(("Connection", "close"))
    return _head_bytes(f"HTTP/1.1 {status} {_phrase(status)}", fields) + payload


def status_response(fault: Error, *, close: bool) -> bytes:
    """The answer to an `Error` fault: a Kubernetes `Status` unless the rule gives a body."""
    if fault.body is not None:
        payload = fault.body.encode()
    else:
        doc: dict[str, object] = {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": fault.message or f"injected fault: HTTP {fault.status}",
            "reason": fault.reason or K8S_REASONS.get(fault.status, ""),
            "code": fault.status,
        }
        if fault.retry_after_s is not None:
            doc["details"] = {"retryAfterSeconds": fault.retry_after_s}
        payload = json.dumps(doc).encode()
    extra = [] if fault.retry_after_s is None else [("Retry-After", str(fault.retry_after_s))]
    return json_response(fault.status, payload, close=close, headers=extra)


def _write_piece(writer: asyncio.StreamWriter, piece: bytes, *, chunked: bool) -> None:
    if piece and chunked:
        writer.write(b"%x\r\n%s\r\n" % (len(piece), piece))
    elif piece:
        writer.write(piece)


async def _relay(
    upstream: asyncio.StreamReader,
    writer: asyncio.StreamWriter,
    *,
    framing: _Framing,
    cut: WatchDisconnect | None,
) -> bool:
    """Copy the response body to the client, applying ``cut``; False: close the client."""
    chunked = framing == "chunked"
    limit = cut.after_bytes if cut else None
    deadline = None
    if cut is not None and cut.after_s is not None:
        deadline = asyncio.get_running_loop().time() + cut.after_s
    sent, cutting = 0, False
    try:
        async with (
            asyncio.timeout_at(deadline),
            contextlib.aclosing(_pieces(upstream, framing)) as pieces,
        ):
            async for piece in pieces:
                if limit is not None and sent + len(piece) >= limit:
                    cutting = True
                    if cut is not None and cut.mode == "abort":
                        piece = piece[: limit - sent]
                _write_piece(writer, piece, chunked=chunked)
                await writer.drain()
                if cutting:
                    break
                sent += len(piece)
    except TimeoutError:
        cutting = True
    if not cutting or (cut is not None and cut.mode == "end" and chunked):
        if chunked:
            writer.write(b"0\r\n\r\n")
        await writer.drain()
        return framing != "close"
    writer.close()  # a cut in the middle of the body: the client sees a broken stream
    return False


class FaultProxy:
    """The proxy and its control API; use ``async with`` or `start` and `stop`.

    Construction checks the arguments and loads TLS files (``ValueError``/``OSError``/
    ``ssl.SSLError``) but opens no socket, so it may happen outside the loop that runs it.
    """

    def __init__(
        self,
        *,
        upstream: str,
        host: str = "127.0.0.1",
        port: int = 0,
        control_host: str = "127.0.0.1",
        control_port: int | None = 0,
        upstream_ca: str | None = None,
        insecure_upstream: bool = False,
        tls_cert: str | None = None,
        tls_key: str | None = None,
        seed: int = 0,
        connect_timeout_s: float = 10.0,
    ) -> None:
        parts = urlsplit(upstream)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"upstream: {upstream!r} is not an http:// or https:// URL")
        self.upstream = upstream
        self._up_host = parts.hostname
        self._up_port = parts.port or (443 if parts.scheme == "https" else 80)
        self._up_netloc = parts.netloc
        self._up_prefix = parts.path.rstrip("/")
        if upstream_ca is not None and insecure_upstream:
            raise ValueError("upstream_ca and insecure_upstream exclude each other")
        if (tls_cert is None) != (tls_key is None):
            raise ValueError("tls_cert and tls_key go together")
        self._up_ssl: ssl.SSLContext | None = None
        self._serve_ssl: ssl.SSLContext | None = None
        try:
            if parts.scheme == "https":
                self._up_ssl = ssl.create_default_context(cafile=upstream_ca)
                if insecure_upstream:
                    self._up_ssl.check_hostname = False
                    self._up_ssl.verify_mode = ssl.CERT_NONE
            if tls_cert is not None:
                self._serve_ssl = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
                self._serve_ssl.load_cert_chain(tls_cert, tls_key)
        except OSError as exc:  # SSLError included: the files exist but do not parse
            files = ", ".join(f for f in (upstream_ca, tls_cert, tls_key) if f)
            raise ValueError(f"cannot load TLS files ({files}): {exc.strerror or exc}") from exc
        self._host, self._port = host, port
        self._control_host, self._control_port = control_host, control_port
        self._connect_timeout_s = connect_timeout_s
        self.rules = RuleSet(seed=seed)
        self.port = 0
        self.control_port: int | None = None
        self._servers: list[asyncio.Server] = []
        self._tasks: set[asyncio.Task[Any]] = set()
        self._stopping = False

    @property
    def url(self) -> str:
        """Where clients should connect (valid once started)."""
        return f"{'https' if self._serve_ssl else 'http'}://{self._host}:{self.port}"

    @property
    def control_url(self) -> str | None:
        if self.control_port is None:
            return None
        return f"http://{self._control_host}:{self.control_port}"

    def add_rule(
        self,
        fault: Fault,
        *,
        method: str | None = None,
        path: str | None = None,
        probability: float = 1.0,
        max_count: int | None = None,
        duration_s: float | None = None,
    ) -> int:
        """Add a rule (thread-safe); returns its id. See `FaultRule` for the fields."""
        rule = FaultRule(
            fault=fault,
            method=method,
            path=path,
            probability=probability,
            max_count=max_count,
            duration_s=duration_s,
        )
        return self.rules.add(rule)

    def remove_rule(self, rule_id: int) -> bool:
        return self.rules.remove(rule_id)

    def clear_rules(self) -> int:
        return self.rules.clear()

    def stats(self) -> dict[str, object]:
        """The same document as ``GET /stats``."""
        return self.rules.stats_json()

    def exchanges(self) -> list[Exchange]:
        """The last requests served, oldest first (``GET /exchanges``)."""
        return self.rules.exchanges()

    async def start(self) -> None:
        server = await asyncio.start_server(
            self._serve_client, self._host, self._port, ssl=self._serve_ssl, limit=_LIMIT
        )
        self._servers.append(server)
        self.port = server.sockets[0].getsockname()[1]
        if self._control_port is not None:
            control = await asyncio.start_server(
                self._serve_control, self._control_host, self._control_port, limit=_LIMIT
            )
            self._servers.append(control)
            self.control_port = control.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        """Stop listening and end every open connection (held blackholes and streams too)."""
        self._stopping = True
        for server in self._servers:
            server.close()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await asyncio.sleep(0)  # let the closed transports release their sockets
        for server in self._servers:
            await server.wait_closed()
        self._servers.clear()
        self._stopping = False

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.stop()

    def _track(self) -> asyncio.Task[Any]:
        """Remember the connection's task, so that `stop` can end it."""
        task = asyncio.current_task()
        assert task is not None  # connection callbacks always run in a task
        self._tasks.add(task)
        return task

    @contextlib.asynccontextmanager
    async def _connection(self, writer: asyncio.StreamWriter) -> AsyncIterator[None]:
        """One client connection's life: tracked for ``stop``, closed at the end. A peer
        that goes away or sends garbage just ends it."""
        task = self._track()
        try:
            yield
        except (_BadMessage, *_PEER_ERRORS):
            return
        except asyncio.CancelledError:
            if not self._stopping:
                raise
            # Ended by `stop`: finish normally, or asyncio 3.11 logs the cancellation.
        finally:
            self._tasks.discard(task)
            writer.close()

    async def _serve_client(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        async with self._connection(writer):
            while await self._exchange(reader, writer):
                pass

    async def _exchange(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> bool:
        """Serve one request; returns whether the client connection stays open."""
        head = await _read_head(reader)
        if head is None:
            return False
        if len(head.start) != 3:
            raise _BadMessage(f"bad request line {' '.join(head.start)!r}")
        method, target, version = head.start
        body = await _read_body(reader, _framing(head, request=True))
        close = version != "HTTP/1.1" or "close" in head.tokens("connection")
        picked = self.rules.pick(method=method, target=target)
        fault = picked.fault if picked else None
        if isinstance(fault, Error | Drop | Blackhole):
            self.rules.record(method=method, target=target, picked=picked, status=None, body=body)
        if isinstance(fault, Error):
            writer.write(status_response(fault, close=close))
            await writer.drain()
            return not close
        if isinstance(fault, Drop):
            return False
        if isinstance(fault, Blackhole):
            with contextlib.suppress(*_PEER_ERRORS):
                async with asyncio.timeout(fault.timeout_s):
                    while await reader.read(_PIECE):  # until the client gives up
                        pass
            return False
        if isinstance(fault, Latency):
            await asyncio.sleep(fault.delay_s)
        return await self._forward(head, body, writer, picked=picked, close=close)

    async def _forward(
        self,
        head: _Head,
        body: bytes,
        writer: asyncio.StreamWriter,
        *,
        picked: Picked | None,
        close: bool,
    ) -> bool:
        method, target, _ = head.start
        fault = picked.fault if picked else None
        cut = fault if isinstance(fault, WatchDisconnect) else None
        fields = [(k, v) for k, v in head.headers if k.lower() not in _NOT_FORWARDED]
        if body or method in ("POST", "PUT", "PATCH"):
            fields.append(("Content-Length", str(len(body))))
        request = _head_bytes(
            f"{method} {self._up_prefix}{target} HTTP/1.1",
            [("Host", self._up_netloc), *fields, ("Connection", "close")],
        )
        self.rules.note_forwarded(picked)
        try:
            up_reader, up_writer, resp = await self._ask_upstream(request + body)
        except (_BadMessage, *_PEER_ERRORS) as exc:
            self.rules.record(method=method, target=target, picked=picked, status=None, body=body)
            message = f"fault proxy: upstream {self.upstream} failed: {exc!r}"
            error = Error(status=502, reason="InternalError", message=message)
            writer.write(status_response(error, close=close))
            await writer.drain()
            return not close
        try:
            status = int(resp.start[1])
            self.rules.record(method=method, target=target, picked=picked, status=status, body=body)
            no_body = method == "HEAD" or status in (204, 304)
            framing: _Framing = 0 if no_body else _framing(resp, request=False)
            if isinstance(fault, LostResponse):
                # The upstream has done the work: take its answer, give the client none.
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(LOST_RESPONSE_READ_S):
                        await _read_body(up_reader, framing)
                return False
            keep = not close and framing != "close"
            out = [(k, v) for k, v in resp.headers if k.lower() not in _HOP_BY_HOP]
            if framing == "chunked":
                out = [(k, v) for k, v in out if k.lower() != "content-length"]
                out.append(("Transfer-Encoding", "chunked"))
            if not keep:
                out.append(("Connection", "close"))
            reason = resp.start[2] if len(resp.start) > 2 else _phrase(status)
            writer.write(_head_bytes(f"HTTP/1.1 {status} {reason}", out))
            return await _relay(up_reader, writer, framing=framing, cut=cut) and keep
        finally:
            up_writer.close()

    async def _ask_upstream(
        self, request: bytes
    ) -> tuple[asyncio.StreamReader, asyncio.StreamWriter, _Head]:
        """Open a connection, send the request, read the final response head."""
        reader, writer = await asyncio.wait_for(
            asyncio.open_connection(self._up_host, self._up_port, ssl=self._up_ssl, limit=_LIMIT),
            self._connect_timeout_s,
        )
        try:
            writer.write(request)
            await writer.drain()
            resp = await _read_head(reader)
            while resp is not None and resp.start[1:2] != ["101"] and resp.start[1][:1] == "1":
                resp = await _read_head(reader)  # skip interim 1xx answers
            if resp is None or len(resp.start) < 2 or not resp.start[1].isdigit():
                raise _BadMessage("upstream sent no valid status line")
            return reader, writer, resp
        except BaseException:
            writer.close()
            raise

    async def _serve_control(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        """One JSON request per connection (answered with ``Connection: close``)."""
        async with self._connection(writer):
            head = await _read_head(reader)
            if head is not None and len(head.start) == 3:
                body = await _read_body(reader, _framing(head, request=True))
                method, path, _ = head.start
                status, doc = control_request(self.rules, method=method, path=path, body=body)
                writer.write(json_response(status, json.dumps(doc).encode(), close=True))
                await writer.drain()


class FaultProxyThread:
    """Run a `FaultProxy` on its own event loop in a daemon thread, for synchronous tests.

    ``with FaultProxyThread(FaultProxy(upstream=url)) as proxy:`` yields the started proxy;
    its rule methods are thread-safe, so the test thread may add and clear rules freely.
    """

    def __init__(self, proxy: FaultProxy, *, timeout_s: float = 10.0) -> None:
        self.proxy = proxy
        self._timeout_s = timeout_s
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> FaultProxy:
        self._thread = threading.Thread(target=self._run, name="fault-proxy", daemon=True)
        self._thread.start()
        if not self._ready.wait(self._timeout_s):
            raise TimeoutError("the fault proxy did not start in time")
        if self._error is not None:
            raise self._error
        return self.proxy

    def stop(self) -> None:
        if self._loop is not None and self._thread is not None and self._thread.is_alive():
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(self._timeout_s)

    def _run(self) -> None:
        loop = self._loop = asyncio.new_event_loop()
        try:
            try:
                loop.run_until_complete(self.proxy.start())
            except BaseException as exc:  # handed to the starting thread
                self._error = exc
                return
            finally:
                self._ready.set()
            loop.run_forever()
            loop.run_until_complete(self.proxy.stop())
        finally:
            loop.close()

    def __enter__(self) -> FaultProxy:
        return self.start()

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
