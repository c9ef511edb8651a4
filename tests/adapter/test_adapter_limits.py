"""Connection limits over real TLS sockets (issue 11): the cap, the deadlines, Status errors.

A client that connects and sends nothing, one that finishes the handshake and says
nothing, and one that sends its headers a byte at a time are each closed after the
configured deadline; beyond the cap the oldest connection still waiting for a request
makes room, or, when all have made requests, the new one is closed at once; uvicorn's
own answers to malformed or oversized requests are ``metav1.Status`` JSON. Bounds on
time are generous (the deadlines here are 1 s; a test fails only past 15 s): figures
are the benchmark's job (``loadtest/bench_adapter_flood.py``).
"""

from __future__ import annotations

import asyncio
import asyncio.sslproto
import contextlib
import gc
import http.client
import json
import socket
import ssl
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from adapter_support import Served, adapter_app, serve

from autoscaler.adapter import tls
from autoscaler.adapter.serving import ServingLimits

GENEROUS = 15.0  # seconds; every deadline under test is 1 s


@pytest.fixture(scope="module")
def serving_files(tmp_path_factory: pytest.TempPathFactory) -> tls.TLSFiles:
    return tls.self_signed(tmp_path_factory.mktemp("tls"), ["127.0.0.1"])


@contextlib.contextmanager
def guarded(declarations: Path, files: tls.TLSFiles, **limits: Any) -> Iterator[Served]:
    app = adapter_app(declarations, "http://127.0.0.1:1")  # --insecure-dev: no reviews
    with serve(app, context=tls.server_context(files), limits=ServingLimits(**limits)) as served:
        yield served


def client_context(files: tls.TLSFiles) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=files.cert)


def tcp(served: Served) -> socket.socket:
    return socket.create_connection(("127.0.0.1", served.port), timeout=GENEROUS)


def handshaken(served: Served, files: tls.TLSFiles) -> ssl.SSLSocket:
    return client_context(files).wrap_socket(tcp(served), server_hostname="127.0.0.1")


def closed_after(sock: socket.socket, *, dribble: bytes = b"") -> float:
    """Seconds until the server closes ``sock`` (sending ``dribble`` a byte at a time)."""
    started = time.monotonic()
    sock.settimeout(0.2)
    pending = list(dribble)
    while time.monotonic() - started < GENEROUS:
        try:
            if pending:
                sock.sendall(bytes([pending.pop(0)]))
            if sock.recv(4096) == b"":
                return time.monotonic() - started
        except (TimeoutError, ssl.SSLWantReadError):
            continue
        except (ConnectionError, ssl.SSLError):
            return time.monotonic() - started
    raise AssertionError(f"the server kept the connection open for {GENEROUS} s")


def healthz(served: Served, files: tls.TLSFiles) -> int:
    connection = http.client.HTTPSConnection(
        "127.0.0.1", served.port, context=client_context(files), timeout=GENEROUS
    )
    try:
        connection.request("GET", "/healthz")
        return connection.getresponse().status
    finally:
        connection.close()


def wait_open(served: Served, count: int) -> None:
    deadline = time.monotonic() + GENEROUS
    while served.server.guard.open != count:
        assert time.monotonic() < deadline, f"{served.server.guard.open} open, wanted {count}"
        time.sleep(0.02)


def test_a_client_that_sends_nothing_is_closed_after_the_handshake_timeout(
    declarations: Path, serving_files: tls.TLSFiles
) -> None:
    with guarded(declarations, serving_files, handshake_timeout=1) as served, tcp(served) as idle:
        assert 0.5 < closed_after(idle) < GENEROUS
        wait_open(served, 0)


def test_a_client_silent_after_the_handshake_is_closed_after_the_header_timeout(
    declarations: Path, serving_files: tls.TLSFiles
) -> None:
    with (
        guarded(declarations, serving_files, header_timeout=1) as served,
        handshaken(served, serving_files) as idle,
    ):
        assert 0.5 < closed_after(idle) < GENEROUS
        wait_open(served, 0)


def test_a_client_sending_headers_a_byte_at_a_time_is_closed_after_the_header_timeout(
    declarations: Path, serving_files: tls.TLSFiles
) -> None:
    request = b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: " + b"a" * 200
    with (
        guarded(declarations, serving_files, header_timeout=1) as served,
        handshaken(served, serving_files) as slow,
    ):
        assert 0.5 < closed_after(slow, dribble=request) < GENEROUS


def test_without_tls_the_cap_and_the_header_deadline_still_apply(declarations: Path) -> None:
    """--insecure-dev on a laptop: plain HTTP behind the same guard."""
    app = adapter_app(declarations, "http://127.0.0.1:1")
    limits = ServingLimits(max_connections=2, header_timeout=1, keep_alive_timeout=60)
    with serve(app, limits=limits) as served, tcp(served) as slow, tcp(served) as idle:
        wait_open(served, 2)
        slow.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
        assert closed_after(slow, dribble=b"X-Slow: " + b"a" * 100) < GENEROUS
        assert closed_after(idle) < GENEROUS
        wait_open(served, 0)


def test_the_header_deadline_restarts_after_each_response(
    declarations: Path, serving_files: tls.TLSFiles
) -> None:
    """A client cannot dribble its second request once a first one was answered."""
    with (
        guarded(declarations, serving_files, header_timeout=1, keep_alive_timeout=60) as served,
        handshaken(served, serving_files) as client,
    ):
        client.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        assert client.recv(4096).startswith(b"HTTP/1.1 200")
        assert closed_after(client, dribble=b"GET /healthz HTTP/1.1\r\nX: " + b"a" * 100) < GENEROUS


def keep_alive(served: Served, files: tls.TLSFiles) -> http.client.HTTPSConnection:
    """A connection that has made one request (so it is never evicted)."""
    connection = http.client.HTTPSConnection(
        "127.0.0.1", served.port, context=client_context(files), timeout=GENEROUS
    )
    connection.request("GET", "/healthz")
    assert connection.getresponse().read() == b"ok"
    return connection


def test_at_the_cap_a_new_connection_replaces_the_oldest_one_waiting_for_a_request(
    declarations: Path, serving_files: tls.TLSFiles
) -> None:
    with guarded(declarations, serving_files, max_connections=3, header_timeout=60) as served:
        kept = keep_alive(served, serving_files)
        with tcp(served) as oldest, tcp(served):
            wait_open(served, 3)
            assert healthz(served, serving_files) == 200  # a new connection, at the cap
            assert closed_after(oldest) < GENEROUS
            assert served.server.guard.evicted == 1 and served.server.guard.refused == 0
            for _ in range(3):  # the connection that had made a request stays
                kept.request("GET", "/healthz")
                assert kept.getresponse().read() == b"ok"
        kept.close()


def tls_layers() -> int:
    """asyncio TLS protocols alive in this process (each holds a 256 KiB buffer)."""
    gc.collect()
    return sum(isinstance(o, asyncio.sslproto.SSLProtocol) for o in gc.get_objects())


def test_a_burst_beyond_the_cap_leaves_no_tls_state_behind_the_evicted(
    declarations: Path, serving_files: tls.TLSFiles
) -> None:
    """A connection evicted before its TLS upgrade began never gets a TLS layer (it would
    hold ~300 KB outside the cap's count until the handshake timeout)."""
    limits = {"max_connections": 5, "handshake_timeout": 60}
    with guarded(declarations, serving_files, **limits) as served:
        # Hold the server's loop while the burst connects, so it accepts all in one go.
        loop = served.server.servers[0].get_loop()
        loop.call_soon_threadsafe(time.sleep, 1.0)
        burst = [tcp(served) for _ in range(60)]
        try:
            wait_open(served, 5)
            time.sleep(0.5)
            assert tls_layers() <= 5
        finally:
            for sock in burst:
                sock.close()


def test_at_the_cap_of_connections_that_made_requests_a_new_one_is_refused_at_once(
    declarations: Path, serving_files: tls.TLSFiles
) -> None:
    limits = {"max_connections": 3, "header_timeout": 60, "keep_alive_timeout": 60}
    with guarded(declarations, serving_files, **limits) as served:
        kept = [keep_alive(served, serving_files) for _ in range(3)]
        wait_open(served, 3)
        with tcp(served) as refused:
            assert closed_after(refused) < GENEROUS
        assert served.server.guard.refused == 1
        for connection in kept:
            connection.request("GET", "/healthz")
            assert connection.getresponse().read() == b"ok"
            connection.close()
        wait_open(served, 0)
        assert healthz(served, serving_files) == 200  # slots come back


def test_requests_are_answered_during_a_small_flood_of_idle_connections(
    declarations: Path, serving_files: tls.TLSFiles
) -> None:
    with guarded(declarations, serving_files, max_connections=64, header_timeout=60) as served:
        bare = [tcp(served) for _ in range(30)]
        quiet = [handshaken(served, serving_files) for _ in range(10)]
        try:
            wait_open(served, 40)
            assert [healthz(served, serving_files) for _ in range(20)] == [200] * 20
        finally:
            for sock in bare + quiet:
                sock.close()


def test_an_oversized_request_head_is_a_413_status(
    declarations: Path, serving_files: tls.TLSFiles
) -> None:
    with guarded(declarations, serving_files) as served:
        connection = http.client.HTTPSConnection(
            "127.0.0.1", served.port, context=client_context(serving_files), timeout=GENEROUS
        )
        connection.request("GET", "/apis/external.metrics.k8s.io/v1beta1?x=" + "a" * 1_000_000)
        answer = connection.getresponse()
        assert (answer.status, answer.getheader("content-type")) == (413, "application/json")
        status = json.loads(answer.read())
        assert status["kind"] == "Status" and status["reason"] == "RequestEntityTooLarge"
        assert status["code"] == 413 and "16384 bytes" in status["message"]


@pytest.mark.parametrize(
    "request_bytes",
    [
        pytest.param(b"GARBAGE\r\n\r\n", id="not-http"),
        pytest.param(
            b"GET /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n", id="length"
        ),
        pytest.param(b"GET /healthz HTTP/1.1\r\nBad Header: x\r\n\r\n", id="header-name"),
    ],
)
def test_a_malformed_request_is_a_400_status(
    declarations: Path, serving_files: tls.TLSFiles, request_bytes: bytes
) -> None:
    with guarded(declarations, serving_files) as served, handshaken(served, serving_files) as sock:
        sock.sendall(request_bytes)
        answer = b""
        while chunk := sock.recv(4096):
            answer += chunk
        head, _, body = answer.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 400 ")
        assert b"content-type: application/json" in head.lower()
        status = json.loads(body)
        assert (status["kind"], status["reason"], status["code"]) == ("Status", "BadRequest", 400)
