"""The simulator's admin API on loopback: see the workloads, change their load live.

``GET /workloads`` lists every managed workload with its replicas, pods, load and
latest traffic; ``PUT /workloads/{namespace}/{name}/load`` replaces a workload's load
with a body in the scenario file's ``load`` syntax (``{"type": "constant", "rps":
200}``, ``ramp``, ``step``...). A new load's time starts when it is set, so a ramp
set at runtime ramps from that moment. Errors are JSON ``{"error": "one line"}`` with
400 (bad body), 404 (no such workload) or 405.

A stdlib threaded server: two routes do not need a framework, and stopping it is one
``shutdown()`` call from the runner.
"""

from __future__ import annotations

import json
import math
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from autoscaler.sim.load import LoadShape
from autoscaler.sim.scenario import ScenarioError, parse_scenario
from autoscaler.sim.traffic import Traffic, WorkloadTraffic

MAX_BODY = 64 * 1024
_PREFIX = "request: workloads[0].load"


def parse_load(data: object) -> LoadShape:
    """A load shape from the scenario syntax, or ScenarioError with one line.

    Goes through :func:`parse_scenario` (the only public door to the load syntax) with
    a one-workload scenario around the body; trace paths resolve from the cwd.
    """
    wrapper = {"workloads": [{"kind": "Deployment", "name": "x", "load": data}]}
    try:
        scenario = parse_scenario(wrapper, source="request", base_dir=Path.cwd())
    except ScenarioError as exc:
        raise ScenarioError(str(exc).replace(_PREFIX, "load", 1)) from None
    return scenario.workloads[0].load


def describe(workload: WorkloadTraffic, *, now: float) -> dict[str, Any]:
    kind, namespace, name = workload.key
    last = workload.last
    return {
        "kind": kind,
        "namespace": namespace,
        "name": name,
        "replicas": workload.replicas,
        "pods": workload.pods,
        "readyPods": workload.ready,
        "load": repr(workload.load),
        "offeredRps": round(workload.rate(now), 3),
        "servedRps": None if last is None else round(last.served_rps, 3),
        "droppedRps": None if last is None else round(last.dropped_rps, 3),
        "latencyMs": None
        if last is None or not math.isfinite(last.latency_ms)
        else round(last.latency_ms, 3),
        "cpuMilliPerPod": None if last is None else round(last.cpu_milli, 3),
        "totals": {
            "offered": workload.offered,
            "served": workload.served,
            "dropped": workload.dropped,
        },
    }


def serve_admin(
    traffic: Traffic, *, host: str, port: int
) -> tuple[ThreadingHTTPServer, threading.Thread]:
    """Start the admin API on ``host:port`` (0: any free port) in a daemon thread."""

    class Handler(BaseHTTPRequestHandler):
        server_version = "podscale-sim"

        def log_message(self, format: str, *args: Any) -> None:  # quiet: no access log
            return

        def do_GET(self) -> None:
            if urlsplit(self.path).path.rstrip("/") != "/workloads":
                self._reply(404, {"error": f"no route {self.path}"})
                return
            now = time.time()
            self._reply(200, {"workloads": [describe(w, now=now) for w in traffic.workloads()]})

        def do_PUT(self) -> None:
            parts = [unquote(p) for p in urlsplit(self.path).path.strip("/").split("/")]
            if len(parts) != 4 or parts[0] != "workloads" or parts[3] != "load":
                self._reply(404, {"error": f"no route {self.path}"})
                return
            length = _content_length(self.headers.get("Content-Length"))
            if length is None:  # read(-1) would wait for the client to close
                self._reply(400, {"error": "Content-Length must be a whole number >= 0"})
                return
            if length > MAX_BODY:
                self._reply(400, {"error": f"body larger than {MAX_BODY} bytes"})
                return
            try:
                shape = parse_load(json.loads(self.rfile.read(length) or b"null"))
            except ValueError as exc:  # ScenarioError and JSONDecodeError alike
                self._reply(400, {"error": " ".join(str(exc).split())})
                return
            now = time.time()
            if not traffic.set_load(parts[1], parts[2], shape, now=now):
                self._reply(404, {"error": f"no managed workload {parts[1]}/{parts[2]}"})
                return
            found = [w for w in traffic.workloads() if w.key[1:] == (parts[1], parts[2])]
            self._reply(200, {"workloads": [describe(w, now=now) for w in found]})

        def _reply(self, status: int, body: dict[str, Any]) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

    server = ThreadingHTTPServer((host, port), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, name="sim-admin", daemon=True)
    thread.start()
    return server, thread


def _content_length(header: str | None) -> int | None:
    """The body's length in bytes (0 without the header); None when it is not one."""
    text = (header or "0").strip()
    return int(text) if text.isascii() and text.isdigit() else None
