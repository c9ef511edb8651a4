"""Each simulated node's kubelet resource-metrics endpoint, for a real metrics-server.

A kubelet serves ``GET /metrics/resource`` over HTTPS: cumulative CPU seconds and the
working set of the node, of each pod and of each container, in the Prometheus text
format with a timestamp on every sample. metrics-server scrapes it every
``--metric-resolution`` and turns two successive CPU counters into a rate, so the CPU
it reports is the simulated usage averaged over its own window, with its own latency,
exactly as in a cluster.

One HTTPS listener per node on loopback (the Node's ``status.daemonEndpoints.
kubeletEndpoint.Port`` says which; metrics-server runs with
``--kubelet-use-node-status-port``). Requests are not authenticated: a real kubelet
checks metrics-server's token, a loopback testbed has nothing to protect.

The counters integrate what :class:`~autoscaler.sim.traffic.Traffic` accounts per tick
(``PodCounters.cpu_seconds``); a node's counter adds up its pods' increments, so it
never shrinks when a pod goes. metrics-server drops a container whose CPU counter or
working set is 0, and a node whose counter or working set is 0, as it does with a
kubelet's.
"""

from __future__ import annotations

import ssl
import subprocess
import tempfile
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from autoscaler.sim.traffic import PodCounters, PodKey

PATH = "/metrics/resource"
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

_FAMILIES = (
    ("container_cpu_usage_seconds_total", "counter",
     "[STABLE] Cumulative cpu time consumed by the container in core-seconds"),
    ("container_memory_working_set_bytes", "gauge",
     "[STABLE] Current working set of the container in bytes"),
    ("container_start_time_seconds", "gauge",
     "[STABLE] Start time of the container since unix epoch in seconds"),
    ("node_cpu_usage_seconds_total", "counter",
     "[STABLE] Cumulative cpu time consumed by the node in core-seconds"),
    ("node_memory_working_set_bytes", "gauge",
     "[STABLE] Current working set of the node in bytes"),
    ("pod_cpu_usage_seconds_total", "counter",
     "[STABLE] Cumulative cpu time consumed by the pod in core-seconds"),
    ("pod_memory_working_set_bytes", "gauge",
     "[STABLE] Current working set of the pod in bytes"),
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class Placement:
    """Where a Running pod is and when its container started (seconds since the epoch)."""

    node: str
    started: float


@dataclass(frozen=True, slots=True)
class PodSample:
    namespace: str
    name: str
    container: str
    cpu_seconds: float
    memory_bytes: float
    started: float
    at: float  # when the sample was taken (seconds since the epoch)


@dataclass(frozen=True, slots=True)
class NodeSample:
    cpu_seconds: float
    memory_bytes: float
    at: float
    pods: tuple[PodSample, ...]


def render(node: NodeSample) -> str:
    """The kubelet's ``/metrics/resource`` text for one node's latest samples."""
    lines: dict[str, list[str]] = {name: [] for name, _, _ in _FAMILIES}
    for pod in sorted(node.pods, key=lambda p: (p.namespace, p.name)):
        ms = _millis(pod.at)
        container = _labels(container=pod.container, namespace=pod.namespace, pod=pod.name)
        owner = _labels(namespace=pod.namespace, pod=pod.name)
        lines["container_cpu_usage_seconds_total"].append(f"{container} {pod.cpu_seconds!r} {ms}")
        lines["container_memory_working_set_bytes"].append(
            f"{container} {float(round(pod.memory_bytes))!r} {ms}"
        )
        lines["container_start_time_seconds"].append(f"{container} {pod.started!r} {ms}")
        lines["pod_cpu_usage_seconds_total"].append(f"{owner} {pod.cpu_seconds!r} {ms}")
        lines["pod_memory_working_set_bytes"].append(
            f"{owner} {float(round(pod.memory_bytes))!r} {ms}"
        )
    ms = _millis(node.at)
    lines["node_cpu_usage_seconds_total"].append(f" {node.cpu_seconds!r} {ms}")
    lines["node_memory_working_set_bytes"].append(f" {float(round(node.memory_bytes))!r} {ms}")
    out = []
    for name, kind, help_text in _FAMILIES:
        out.append(f"# HELP {name} {help_text}")
        out.append(f"# TYPE {name} {kind}")
        out.extend(f"{name}{sample}" for sample in lines[name])
    out.append("# HELP resource_scrape_error [STABLE] 1 if there was an error while getting "
               "container metrics, 0 otherwise")  # fmt: skip
    out.append("# TYPE resource_scrape_error gauge")
    out.append("resource_scrape_error 0")
    return "\n".join(out) + "\n"


def _millis(t: float) -> int:
    return round(t * 1000)


def _labels(**pairs: str) -> str:
    inner = ",".join(f'{k}="{_escape(v)}"' for k, v in pairs.items())
    return "{" + inner + "}"


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


class NodeCounters:
    """The simulated nodes' latest samples, built from the pods' counters each tick.

    Thread safety: the runner writes (:meth:`update`), the endpoints read
    (:meth:`sample`); one lock guards both.
    """

    def __init__(self, nodes: Iterable[str]) -> None:
        self._lock = threading.Lock()
        self._cpu = {name: 0.0 for name in nodes}
        self._seen: dict[PodKey, float] = {}  # each pod's counter as last added to its node
        self._samples: dict[str, NodeSample] = {}

    def update(
        self, pods: Mapping[PodKey, PodCounters], placed: Mapping[PodKey, Placement], now: float
    ) -> None:
        """Take the pods' latest counters; ``placed`` says which node each pod runs on."""
        with self._lock:
            on: dict[str, list[PodSample]] = {name: [] for name in self._cpu}
            memory = dict.fromkeys(self._cpu, 0.0)
            seen: dict[PodKey, float] = {}
            for key, pod in pods.items():
                where = placed.get(key)
                if where is None or where.node not in self._cpu or pod.sampled_at is None:
                    continue
                self._cpu[where.node] += max(0.0, pod.cpu_seconds - self._seen.get(key, 0.0))
                seen[key] = pod.cpu_seconds
                memory[where.node] += pod.memory_bytes
                on[where.node].append(
                    PodSample(
                        namespace=key[0],
                        name=key[1],
                        container=pod.container,
                        cpu_seconds=pod.cpu_seconds,
                        memory_bytes=pod.memory_bytes,
                        started=where.started,
                        at=pod.sampled_at,
                    )
                )
            self._seen = seen
            self._samples = {
                name: NodeSample(
                    cpu_seconds=self._cpu[name],
                    memory_bytes=memory[name],
                    at=now,
                    pods=tuple(on[name]),
                )
                for name in self._cpu
            }

    def sample(self, node: str) -> NodeSample:
        with self._lock:
            return self._samples.get(node) or NodeSample(
                cpu_seconds=self._cpu.get(node, 0.0), memory_bytes=0.0, at=0.0, pods=()
            )


class KubeletEndpoints:
    """One HTTPS ``/metrics/resource`` listener per node on ``host``; see the module."""

    def __init__(self, counters: NodeCounters, nodes: Iterable[str], *, host: str,
                 tls: ssl.SSLContext) -> None:  # fmt: skip
        self._servers: dict[str, tuple[ThreadingHTTPServer, threading.Thread]] = {}
        try:
            for node in nodes:
                server = ThreadingHTTPServer((host, 0), _handler(counters, node))
                server.daemon_threads = True
                server.socket = tls.wrap_socket(server.socket, server_side=True)
                thread = threading.Thread(
                    target=server.serve_forever, name=f"kubelet-{node}", daemon=True
                )
                thread.start()
                self._servers[node] = (server, thread)
        except BaseException:
            self.close()
            raise

    @property
    def ports(self) -> dict[str, int]:
        """Node name -> the port its endpoint listens on."""
        return {node: int(s.server_address[1]) for node, (s, _) in self._servers.items()}

    def close(self) -> None:
        for server, thread in self._servers.values():
            server.shutdown()
            server.server_close()
            thread.join(timeout=5)
        self._servers.clear()


def _handler(counters: NodeCounters, node: str) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        server_version = "podscale-sim-kubelet"

        def log_message(self, format: str, *args: Any) -> None:  # quiet: no access log
            return

        def do_GET(self) -> None:
            if self.path.split("?", 1)[0] != PATH:
                self._send(404, "text/plain", f"404 page not found: {self.path}\n")
                return
            self._send(200, CONTENT_TYPE, render(counters.sample(node)))

        def _send(self, status: int, content_type: str, text: str) -> None:
            data = text.encode()
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

    return Handler


class TlsError(RuntimeError):
    """No serving certificate for the kubelet endpoints; the message is one line."""


def server_tls(cert: str | None, key: str | None) -> ssl.SSLContext:
    """A server TLS context from ``cert``/``key`` files, or from a fresh self-signed
    EC certificate made with ``openssl`` (metrics-server runs with
    ``--kubelet-insecure-tls``, as on clusters whose kubelets sign their own)."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    if cert and key:
        try:
            context.load_cert_chain(cert, key)
        except (OSError, ssl.SSLError) as exc:
            raise TlsError(f"cannot load kubelet certificate {cert} / key {key}: {exc}") from None
        return context
    with tempfile.TemporaryDirectory(prefix="podscale-kubelet-tls-") as folder:
        crt, pem = Path(folder, "kubelet.crt"), Path(folder, "kubelet.key")
        command = [
            "openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
            "-nodes", "-keyout", str(pem), "-out", str(crt), "-days", "365",
            "-subj", "/CN=podscale-sim-kubelet", "-addext", "subjectAltName=IP:127.0.0.1",
        ]  # fmt: skip
        try:
            subprocess.run(command, check=True, capture_output=True, timeout=30)
        except (OSError, subprocess.SubprocessError) as exc:
            raise TlsError(
                f"cannot make a kubelet serving certificate with openssl ({exc}); "
                "pass --kubelet-cert and --kubelet-key"
            ) from None
        context.load_cert_chain(str(crt), str(pem))
    return context
