"""The fault proxy, over real sockets on 127.0.0.1 against a tiny in-test upstream.

Covers: passthrough on a kept-alive connection; incremental streaming; each fault kind; seeded
probability; count and duration limits; the control API; the official Kubernetes client (plain
and TLS on both sides); the asyncio API; the command line. Every wait is bounded.
"""

from __future__ import annotations

import asyncio
import contextlib
import http.client
import json
import os
import random
import select
import signal
import socket
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fault_upstream import POD, POD_PATH, Upstream, event_line, make_certificate
from kubernetes import client as k8s

from autoscaler.faults import (
    Blackhole,
    Drop,
    Error,
    FaultProxy,
    FaultProxyThread,
    FaultRule,
    Latency,
    LostResponse,
    RuleError,
    RuleSet,
    WatchDisconnect,
    rule_from_json,
)
from autoscaler.faults.__main__ import main

TIMEOUT_S = 5.0
REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def upstream() -> Iterator[Upstream]:
    with Upstream() as up:
        yield up


@pytest.fixture
def proxy(upstream: Upstream) -> Iterator[FaultProxy]:
    with FaultProxyThread(FaultProxy(upstream=upstream.url, seed=7)) as started:
        yield started


def connect(proxy: FaultProxy) -> http.client.HTTPConnection:
    return http.client.HTTPConnection("127.0.0.1", proxy.port, timeout=TIMEOUT_S)


def get(proxy: FaultProxy, path: str = "/echo") -> tuple[int, bytes]:
    conn = connect(proxy)
    try:
        conn.request("GET", path)
        resp = conn.getresponse()
        return resp.status, resp.read()
    finally:
        conn.close()


def control(proxy: FaultProxy, method: str, path: str, doc: Any = None) -> tuple[int, Any]:
    data = None if doc is None else json.dumps(doc).encode()
    req = urllib.request.Request(f"{proxy.control_url}{path}", data=data, method=method)
    try:
        with urllib.request.urlopen(req, timeout=TIMEOUT_S) as resp:
            return resp.status, json.load(resp)
    except urllib.error.HTTPError as exc:
        with exc:
            return exc.code, json.load(exc)


def test_passes_get_post_and_patch_with_bodies_and_headers_on_one_connection(
    proxy: FaultProxy,
) -> None:
    conn = connect(proxy)
    seen = []
    for method, body in [("GET", None), ("POST", b'{"a": 1}'), ("PATCH", b'{"b": 2}')]:
        conn.request(method, "/echo?q=1", body=body, headers={"X-Test": method})
        resp = conn.getresponse()
        echo = json.loads(resp.read())
        assert (resp.status, resp.getheader("X-Upstream")) == (200, "fake")
        assert (echo["method"], echo["path"], echo["headers"]["x-test"]) == (
            method,
            "/echo?q=1",
            method,
        )
        assert echo["body"] == (body or b"").decode()
        seen.append(conn.sock)
    conn.close()
    assert seen[0] is not None and seen.count(seen[0]) == 3  # kept alive
    assert proxy.stats()["forwarded"] == 3


def test_streams_each_chunk_before_the_upstream_finishes(
    proxy: FaultProxy, upstream: Upstream
) -> None:
    conn = connect(proxy)
    conn.request("GET", "/stream?n=3&wait=1")
    resp = conn.getresponse()
    assert resp.readline() == event_line(0)
    assert not upstream.release.is_set()  # the upstream is still holding the rest back
    upstream.release.set()
    assert resp.read() == event_line(1) + event_line(2)
    conn.close()


@pytest.mark.parametrize(
    ("fault", "reason", "retry_after"),
    [
        pytest.param(Error(status=409), "Conflict", None, id="409"),
        pytest.param(Error(status=429, retry_after_s=3), "TooManyRequests", "3", id="429"),
        pytest.param(Error(status=503, message="down"), "ServiceUnavailable", None, id="503"),
    ],
)
def test_error_answers_with_a_kubernetes_status(
    proxy: FaultProxy, fault: Error, reason: str, retry_after: str | None
) -> None:
    proxy.add_rule(fault, method="PATCH", path=r"/pods/x$")
    assert get(proxy, POD_PATH)[0] == 200  # GET does not match
    conn = connect(proxy)
    conn.request("PATCH", POD_PATH, body=b"{}")
    resp = conn.getresponse()
    status = json.loads(resp.read())
    assert (resp.status, resp.getheader("Retry-After")) == (fault.status, retry_after)
    assert status["kind"] == "Status" and status["status"] == "Failure"
    assert (status["code"], status["reason"]) == (fault.status, reason)
    assert proxy.stats()["forwarded"] == 1  # only the GET went upstream
    conn.close()


def test_latency_delays_the_answer(proxy: FaultProxy) -> None:
    proxy.add_rule(Latency(delay_s=0.3))
    started = time.monotonic()
    assert get(proxy)[0] == 200
    assert 0.3 <= time.monotonic() - started < 0.3 + 2


def test_drop_closes_the_connection_without_an_answer(proxy: FaultProxy) -> None:
    proxy.add_rule(Drop(), max_count=1)
    with pytest.raises((http.client.HTTPException, ConnectionError)):
        get(proxy)
    assert get(proxy)[0] == 200


def test_blackhole_never_answers_and_closes_after_its_timeout(proxy: FaultProxy) -> None:
    proxy.add_rule(Blackhole(timeout_s=0.4))
    started = time.monotonic()
    with pytest.raises((http.client.HTTPException, ConnectionError)):
        get(proxy)
    assert 0.4 <= time.monotonic() - started < 0.4 + 2


def test_watch_disconnect_abort_cuts_the_stream_after_exactly_n_bytes(proxy: FaultProxy) -> None:
    proxy.add_rule(WatchDisconnect(after_bytes=30), path="watch=true")
    conn = connect(proxy)
    conn.request("GET", "/stream?n=5&watch=true")
    resp = conn.getresponse()
    with pytest.raises(http.client.IncompleteRead) as cut:
        resp.read()
    assert cut.value.partial == (event_line(0) + event_line(1))[:30]
    conn.close()


def test_watch_disconnect_end_finishes_the_stream_cleanly_after_a_time(proxy: FaultProxy) -> None:
    proxy.add_rule(WatchDisconnect(after_s=0.25, mode="end"), path="/stream")
    conn = connect(proxy)
    conn.request("GET", "/stream?n=20&gap=0.05")
    lines = conn.getresponse().read().splitlines(keepends=True)
    assert 1 <= len(lines) < 20
    assert lines == [event_line(i) for i in range(len(lines))]  # whole events only
    conn.request("GET", "/echo")  # and the connection is still usable
    assert conn.getresponse().status == 200
    conn.close()


def pattern(upstream: Upstream) -> list[int]:
    with FaultProxyThread(FaultProxy(upstream=upstream.url, seed=7)) as proxy:
        proxy.add_rule(Error(status=503), probability=0.5)
        return [get(proxy)[0] for _ in range(12)]


def test_seeded_probability_gives_the_same_pattern_every_run(upstream: Upstream) -> None:
    first = pattern(upstream)
    assert first == pattern(upstream)
    draws = random.Random("7/1")  # seed "/" rule id: the documented per-rule generator
    assert first == [503 if draws.random() < 0.5 else 200 for _ in range(12)]
    assert set(first) == {200, 503}


def test_a_count_limited_rule_expires_and_keeps_its_stats(proxy: FaultProxy) -> None:
    rule_id = proxy.add_rule(Error(status=500), max_count=2)
    assert [get(proxy)[0] for _ in range(3)] == [500, 500, 200]
    assert proxy.rules.rules_json()[0]["live"] is False
    stats = proxy.stats()
    assert (stats["requests"], stats["forwarded"], stats["faulted"]) == (3, 1, 2)
    assert stats["rules"] == {str(rule_id): {"seen": 2, "faulted": 2, "forwarded": 0}}


def test_a_duration_limited_rule_expires() -> None:
    now = [100.0]
    rules = RuleSet(clock=lambda: now[0])
    rules.add(FaultRule(fault=Drop(), duration_s=5))
    assert rules.pick(method="GET", target="/") is not None
    now[0] = 105.0
    assert rules.pick(method="GET", target="/") is None


@pytest.mark.parametrize(
    ("doc", "named"),
    [
        pytest.param({"kind": "explode"}, "kind", id="kind"),
        pytest.param({"kind": "error", "status": 200}, "status", id="status"),
        pytest.param({"kind": "error", "probability": 2}, "probability", id="probability"),
        pytest.param({"kind": "drop", "path": "("}, "path", id="regex"),
        pytest.param({"kind": "drop", "colour": 1}, "colour", id="unknown"),
        pytest.param({"kind": "watch_disconnect"}, "after_bytes", id="no-cut"),
        pytest.param({"kind": "latency", "delay_s": "x"}, "latency", id="type"),
    ],
)
def test_invalid_rules_are_refused_naming_the_field(doc: dict[str, Any], named: str) -> None:
    with pytest.raises(RuleError, match=named):
        rule_from_json(doc)


def test_control_api_adds_lists_counts_and_clears_rules(proxy: FaultProxy) -> None:
    assert control(proxy, "GET", "/healthz") == (200, {"ok": True})
    status, added = control(proxy, "POST", "/rules", {"kind": "error", "status": 409})
    assert status == 201 and added["rule"]["id"] == 1
    assert control(proxy, "POST", "/rules", {"kind": "nope"})[0] == 400
    rules = control(proxy, "GET", "/rules")[1]["rules"]
    assert [(r["id"], r["kind"], r["status"], r["live"]) for r in rules] == [
        (1, "error", 409, True)
    ]
    assert get(proxy)[0] == 409
    stats = control(proxy, "GET", "/stats")[1]
    assert (stats["requests"], stats["faulted"], stats["rules"]["1"]["faulted"]) == (1, 1, 1)
    assert control(proxy, "DELETE", "/rules/1") == (200, {"removed": 1})
    assert control(proxy, "DELETE", "/rules/1")[0] == 404
    control(proxy, "POST", "/rules", {"kind": "drop", "path": "^/never"})
    assert control(proxy, "DELETE", "/rules") == (200, {"removed": 1})
    assert control(proxy, "GET", "/nowhere")[0] == 404


def test_a_lost_response_reaches_the_upstream_but_never_the_client(
    proxy: FaultProxy, upstream: Upstream
) -> None:
    proxy.add_rule(LostResponse(), method="PATCH", max_count=1)
    conn = connect(proxy)
    conn.request("PATCH", POD_PATH, body=b'{"spec": {"replicas": 3}}')
    with pytest.raises((http.client.HTTPException, ConnectionError)):
        conn.getresponse()
    conn.close()
    assert upstream.received == [("PATCH", POD_PATH, b'{"spec": {"replicas": 3}}')]
    assert get(proxy, POD_PATH)[0] == 200  # the rule is spent: the next request is answered
    lost, read = proxy.exchanges()
    assert (lost.method, lost.fault, lost.upstream_status, lost.applied) == (
        "PATCH",
        "lost_response",
        200,
        True,
    )
    assert lost.body == '{"spec": {"replicas": 3}}'
    assert (read.method, read.fault, read.upstream_status) == ("GET", None, 200)


def test_the_loop_api_client_reports_a_lost_write_answer_as_unavailable_once(
    proxy: FaultProxy, upstream: Upstream
) -> None:
    from autoscaler.kube.api import Api
    from autoscaler.ports import Unavailable

    proxy.add_rule(LostResponse(), method="PATCH", max_count=1)
    with k8s.ApiClient(k8s.Configuration(host=proxy.url)) as api_client:
        api = Api(api_client)
        with pytest.raises(Unavailable, match="unreachable"):
            api.call("PATCH", POD_PATH, body={"a": 1}, content_type="application/merge-patch+json")
    # Sent once: a write is never retried by the HTTP library behind our back.
    assert [m for m, _, _ in upstream.received] == ["PATCH"]


def test_the_exchange_log_names_faults_and_upstream_answers(proxy: FaultProxy) -> None:
    proxy.add_rule(Error(status=500), method="GET", path="^/broken", max_count=1)
    assert get(proxy, "/broken")[0] == 500
    assert get(proxy, "/fine")[0] == 200
    assert rule_from_json({"kind": "lost_response", "method": "PATCH"}).fault == LostResponse()
    status, doc = control(proxy, "GET", "/exchanges")
    assert status == 200
    assert [(e["target"], e["fault"], e["upstream_status"]) for e in doc["exchanges"]] == [
        ("/broken", "error", None),
        ("/fine", None, 200),
    ]


def test_an_unreachable_upstream_gives_502() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with FaultProxyThread(FaultProxy(upstream=f"http://127.0.0.1:{port}")) as proxy:
        status, body = get(proxy)
    assert status == 502 and json.loads(body)["kind"] == "Status"


@contextlib.contextmanager
def core_api(url: str, ca: Path | None = None) -> Iterator[k8s.CoreV1Api]:
    config = k8s.Configuration(host=url)
    config.ssl_ca_cert = str(ca) if ca else None
    with k8s.ApiClient(config) as api_client:
        yield k8s.CoreV1Api(api_client)


def pod_name(api: k8s.CoreV1Api) -> str | None:
    metadata = api.read_namespaced_pod("x", "default").metadata
    return metadata.name if metadata else None


def test_kubernetes_client_reads_a_pod_and_sees_an_injected_conflict(proxy: FaultProxy) -> None:
    patch = {"metadata": {"labels": {"a": "b"}}}
    with core_api(proxy.url) as api:
        assert pod_name(api) == "x"
        proxy.add_rule(Error(status=409), method="PATCH", max_count=1)
        with pytest.raises(k8s.ApiException) as conflict:
            api.patch_namespaced_pod("x", "default", patch)
        pod = api.patch_namespaced_pod("x", "default", patch)
    assert conflict.value.status == 409
    assert json.loads(conflict.value.body or "{}")["reason"] == "Conflict"
    assert pod.status is not None and pod.status.phase == POD["status"]["phase"]


def test_kubernetes_client_over_tls_to_a_tls_upstream(tmp_path: Path) -> None:
    pair = make_certificate(tmp_path)
    if pair is None:
        pytest.skip("openssl is not installed")
    cert, key = pair
    tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    tls.load_cert_chain(cert, key)
    with Upstream(tls=tls) as up:
        proxy = FaultProxy(
            upstream=up.url, upstream_ca=str(cert), tls_cert=str(cert), tls_key=str(key)
        )
        with FaultProxyThread(proxy) as started:
            assert started.url.startswith("https://")
            with core_api(started.url, ca=cert) as api:
                assert pod_name(api) == "x"


def test_the_asyncio_api_as_a_context_manager(upstream: Upstream) -> None:
    async def scenario() -> list[int]:
        async with FaultProxy(upstream=upstream.url, control_port=None) as proxy:
            assert proxy.control_url is None
            proxy.add_rule(Error(status=503), max_count=1)
            return [(await asyncio.to_thread(get, proxy))[0] for _ in range(2)]

    assert asyncio.run(asyncio.wait_for(scenario(), 10)) == [503, 200]


@pytest.mark.parametrize(
    "argv",
    [
        pytest.param(["--upstream", "ftp://x"], id="scheme"),
        pytest.param([], id="missing"),
        pytest.param(["--upstream", "http://x", "--listen", "nowhere"], id="listen"),
        pytest.param(["--upstream", "http://x", "--rule", '{"kind": "x"}'], id="rule"),
        pytest.param(["--upstream", "http://x", "--tls-cert", "/no/such"], id="tls-pair"),
        pytest.param(["--upstream", "https://x", "--upstream-ca", "/no/such"], id="ca-file"),
    ],
)
def test_cli_refuses_bad_arguments_in_one_line(
    argv: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1


def test_cli_prints_its_addresses_and_stops_on_sigterm(upstream: Upstream) -> None:
    rule = json.dumps({"kind": "error", "status": 429})
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    args = [sys.executable, "-m", "autoscaler.faults", "--upstream", upstream.url, "--rule", rule]
    with subprocess.Popen(args, stdout=subprocess.PIPE, text=True, env=env) as proc:
        try:
            assert proc.stdout is not None
            ready, _, _ = select.select([proc.stdout], [], [], 10)
            assert ready, "no address line within 10 s"
            line = json.loads(proc.stdout.readline())
            with urllib.request.urlopen(f"{line['control']}/healthz", timeout=TIMEOUT_S) as r:
                assert json.load(r) == {"ok": True}
            with pytest.raises(urllib.error.HTTPError) as refused:
                urllib.request.urlopen(f"{line['proxy']}/echo", timeout=TIMEOUT_S)
            assert refused.value.code == 429
            refused.value.close()
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(timeout=10) == 0
        finally:
            proc.kill()
