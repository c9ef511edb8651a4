"""Helpers for the adapter tests: an adapter served by uvicorn on loopback, PKI, Prometheus.

The adapter runs in a thread of the test process (one uvicorn server per use), with the
same protocol class as ``autoscaler adapter``, so TLS client certificates reach it.
One real Prometheus and exporter serve the whole module that asks for ``prom_env``;
tests keep apart through their own namespace label.
"""

from __future__ import annotations

import contextlib
import json
import ssl
import subprocess
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from prometheus_fixture import free_port

from autoscaler.adapter import tls
from autoscaler.adapter.app import create_app
from autoscaler.adapter.auth import AuthSettings, Reviewer
from autoscaler.adapter.cache import CacheSettings, LabelCapture, MetricCache
from autoscaler.adapter.serving import ServingLimits, make_server
from autoscaler.adapter.settings import AdapterSettings
from autoscaler.adapter.upstream import Upstream
from autoscaler.metrics.declarations import load_declarations
from autoscaler.metrics.prometheus import PrometheusSettings, PrometheusSource, QueryRunner

DECLARATIONS = """\
apiVersion: podscale.dev/v1alpha1
kind: MetricDeclarations
metadata: {name: test}
spec:
  metrics:
    - name: queue_depth
      type: External
      query: 'sum by (queue) (podscale_queue_depth{namespace="{namespace}", {selector}})'
      maxAge: 4
      cacheTTL: 0.5
    - name: "jobs:backlog"
      type: External
      query: 'sum(podscale_queue_depth{namespace="{namespace}", {selector}})'
      maxAge: 30
    - name: http_rps
      type: Pods
      query: 'sum by (namespace, pod) (rate(http_requests_total{namespace="{namespace}"}[1m]))'
"""


def write_declarations(directory: Path, text: str = DECLARATIONS) -> Path:
    path = directory / "metrics.yaml"
    path.write_text(text)
    return path


def external(path: Path) -> dict[str, Any]:
    loaded = load_declarations([str(path)])
    assert not loaded.errors, [e.format() for e in loaded.errors]
    return {n: d for n, d in loaded.metrics.items() if d.type == "External"}


def make_cache(
    url: str, *, runner: QueryRunner | None = None, timeout: float = 2.0, first_wait: float = 3.0
) -> MetricCache:
    prometheus = PrometheusSettings(url=url, timeout=timeout, connect_timeout=timeout)
    capture = LabelCapture(runner or PrometheusSource(settings=prometheus)._query)
    source = PrometheusSource(settings=prometheus, runner=capture)
    return MetricCache(
        source=source, capture=capture, settings=CacheSettings(default_ttl=1, first_wait=first_wait)
    )


@dataclass
class Served:
    url: str
    app: Any
    server: Any = None  # the uvicorn.Server; ``server.guard`` counts connections

    @property
    def port(self) -> int:
        return int(self.url.rsplit(":", 1)[1])


@contextlib.contextmanager
def serve(
    app: Any, *, context: ssl.SSLContext | None = None, limits: ServingLimits | None = None
) -> Iterator[Served]:
    """``app`` served as ``autoscaler adapter`` serves it (the connection guard in front),
    on a free loopback port, in a thread; stopped on exit."""
    port = free_port()
    server = make_server(
        app,
        host="127.0.0.1",
        port=port,
        context=context,
        limits=limits or ServingLimits(),
        log_level="error",
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "adapter did not start"
        time.sleep(0.02)
    try:
        yield Served(
            url=f"{'https' if context else 'http'}://127.0.0.1:{port}", app=app, server=server
        )
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def adapter_app(
    declarations: Path,
    url: str,
    *,
    auth: AuthSettings | None = None,
    reviewer: Reviewer | None = None,
    upstream: Upstream | None = None,
    runner: QueryRunner | None = None,
    namespaces: frozenset[str] = frozenset(),
    direct: bool = False,
) -> Any:
    return create_app(
        AdapterSettings(external=external(declarations), namespaces=namespaces, direct=direct),
        cache=make_cache(url, runner=runner),
        auth=auth or AuthSettings(insecure_dev=True),
        reviewer=reviewer,
        upstream=upstream,
    )


def get(
    url: str, *, headers: dict[str, str] | None = None, context: ssl.SSLContext | None = None
) -> tuple[int, str, Any]:
    """(status, content type, parsed JSON or text) of a GET; never raises for HTTP errors."""
    request = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=10, context=context) as answer:
            status, kind, body = answer.status, answer.headers["content-type"], answer.read()
    except urllib.error.HTTPError as exc:
        status, kind, body = exc.code, exc.headers["content-type"], exc.read()
    text = body.decode()
    return status, kind, (json.loads(text) if kind == "application/json" else text)


def wait_value(url: str, predicate: Any, *, timeout: float = 20) -> Any:
    """Poll ``url`` until ``predicate(status, body)`` holds; returns the last body."""
    deadline = time.monotonic() + timeout
    while True:
        status, _, body = get(url)
        if predicate(status, body):
            return body
        assert time.monotonic() < deadline, f"{url}: last answer {status} {body}"
        time.sleep(0.2)


def openssl(*args: str) -> None:
    subprocess.run(["openssl", *args], check=True, capture_output=True, timeout=30)


@dataclass(frozen=True)
class PKI:
    """A serving pair, a front-proxy CA with a client, and an unrelated CA with a client."""

    dir: Path

    def path(self, name: str) -> str:
        return str(self.dir / name)


def make_pki(directory: Path) -> PKI:
    """EC P-256 certificates made with openssl (as scripts/testbed does)."""
    serving = tls.self_signed(directory / "serving", ["localhost", "127.0.0.1"])
    for ca in ("front-proxy-ca", "other-ca"):
        openssl(
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-days",
            "2",
            "-subj",
            f"/CN={ca}",
            "-keyout",
            str(directory / f"{ca}.key"),
            "-out",
            str(directory / f"{ca}.crt"),
        )
    for client, ca in (
        ("front-proxy-client", "front-proxy-ca"),
        ("intruder", "front-proxy-ca"),
        ("front-proxy-client-other", "other-ca"),
    ):
        cn = "front-proxy-client" if client.endswith("other") else client
        openssl(
            "req",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-subj",
            f"/CN={cn}",
            "-keyout",
            str(directory / f"{client}.key"),
            "-out",
            str(directory / f"{client}.csr"),
        )
        openssl(
            "x509",
            "-req",
            "-in",
            str(directory / f"{client}.csr"),
            "-CA",
            str(directory / f"{ca}.crt"),
            "-CAkey",
            str(directory / f"{ca}.key"),
            "-CAcreateserial",
            "-days",
            "2",
            "-out",
            str(directory / f"{client}.crt"),
        )
    (directory / "tls.crt").write_text(Path(serving.cert).read_text())
    (directory / "tls.key").write_text(Path(serving.key).read_text())
    return PKI(directory)
