"""A tiny upstream for the fault proxy tests (imported by name: no conftest).

`Upstream` runs `http.server` in a daemon thread on 127.0.0.1 and answers three kinds of path:
the Pod ``/api/v1/namespaces/default/pods/x`` (Kubernetes-like JSON), ``/stream`` (a chunked
watch-like stream of JSON lines) and anything else (an echo of the request as JSON). Every
request it handled is in ``received``, so a test can tell what reached it.
"""

from __future__ import annotations

import json
import shutil
import ssl
import subprocess
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import Any
from urllib.parse import parse_qs, urlsplit

POD_PATH = "/api/v1/namespaces/default/pods/x"
POD: dict[str, Any] = {
    "apiVersion": "v1",
    "kind": "Pod",
    "metadata": {"name": "x", "namespace": "default", "resourceVersion": "7"},
    "spec": {"containers": [{"name": "app", "image": "busybox"}]},
    "status": {"phase": "Running"},
}
WAIT_LIMIT_S = 5.0  # the stream never waits longer than this for the test to release it


def event_line(n: int) -> bytes:
    """The n-th line of a ``/stream`` answer (a watch event, as the API server writes them)."""
    return json.dumps({"type": "ADDED", "object": {"n": n}}).encode() + b"\n"


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    release: threading.Event
    received: list[tuple[str, str, bytes]]  # (method, path, body) of every request handled

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A cut stream breaks the handler's pipe: expected here, so stay quiet."""


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        self._route()

    do_POST = do_PATCH = do_PUT = do_DELETE = do_GET

    def _route(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.server.received.append((self.command, self.path, body))
        url = urlsplit(self.path)
        if url.path == POD_PATH:
            self._json(POD)
        elif url.path == "/stream":
            query = {k: v[0] for k, v in parse_qs(url.query).items()}
            n, gap_s = int(query.get("n", "3")), float(query.get("gap", "0"))
            self._stream(n=n, gap_s=gap_s, wait="wait" in query)
        else:
            headers = {k.lower(): v for k, v in self.headers.items()}
            echo = {"method": self.command, "path": self.path, "headers": headers}
            self._json({**echo, "body": body.decode()})

    def _json(self, doc: dict[str, Any]) -> None:
        payload = json.dumps(doc).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.send_header("X-Upstream", "fake")
        self.end_headers()
        self.wfile.write(payload)

    def _stream(self, *, n: int, gap_s: float, wait: bool) -> None:
        """With ``wait``, hold after the first event until the test sets ``release``."""
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        for i in range(n):
            line = event_line(i)
            self.wfile.write(b"%x\r\n%s\r\n" % (len(line), line))
            self.wfile.flush()
            if i == 0 and wait:
                self.server.release.wait(WAIT_LIMIT_S)
            time.sleep(gap_s)
        self.wfile.write(b"0\r\n\r\n")


class Upstream:
    """``with Upstream() as up:`` serves on ``up.url`` until the block ends."""

    def __init__(self, *, tls: ssl.SSLContext | None = None) -> None:
        self._server = _Server(("127.0.0.1", 0), _Handler)
        self._server.release = threading.Event()
        self._server.received = []
        self.received = self._server.received
        if tls is not None:
            self._server.socket = tls.wrap_socket(self._server.socket, server_side=True)
        self.release = self._server.release
        port = self._server.server_address[1]
        self.url = f"{'https' if tls else 'http'}://127.0.0.1:{port}"
        self._thread = threading.Thread(
            target=self._server.serve_forever, args=(0.05,), daemon=True
        )

    def __enter__(self) -> Upstream:
        self._thread.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.release.set()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(WAIT_LIMIT_S)


def make_certificate(directory: Path) -> tuple[Path, Path] | None:
    """A self-signed certificate for 127.0.0.1 (cert, key), or None without openssl."""
    openssl = shutil.which("openssl")
    if openssl is None:
        return None
    cert, key = directory / "cert.pem", directory / "key.pem"
    subprocess.run(
        [openssl, "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
         "-nodes", "-days", "1", "-subj", "/CN=127.0.0.1",
         "-addext", "subjectAltName=IP:127.0.0.1",
         "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True, timeout=30,
    )  # fmt: skip
    return cert, key
