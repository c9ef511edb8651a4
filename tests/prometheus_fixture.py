"""A real Prometheus and a tiny exporter on loopback, for tests.

:func:`running_prometheus` starts Debian's ``prometheus`` binary on a free port with a
temporary config (1 s scrape interval over the given targets) and data directory, and
stops it on exit; :meth:`PrometheusServer.stop` / :meth:`PrometheusServer.start` let a
test take it down and bring it back (same port, same data). When the binary is missing,
``scripts/ensure-prometheus`` installs it first, so ``make test`` works on a fresh
machine. :class:`Exporter` serves series whose values (and, to fake old data, sample
timestamps) a test sets, so Prometheus scrapes known data. For a known *past*,
``running_prometheus(..., backfill=TEXT)`` writes OpenMetrics text into the data
directory as TSDB blocks (``promtool tsdb create-blocks-from openmetrics``, from the same
Debian package) before Prometheus starts; ``flags`` adds command-line flags (e.g. a
short ``--query.lookback-delta``, so a missing sample is a gap rather than the previous
value).
"""

from __future__ import annotations

import contextlib
import json
import random
import shutil
import socket
import subprocess
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from prometheus_client import CollectorRegistry, start_http_server
from prometheus_client.core import Metric
from prometheus_client.registry import Collector

REPO = Path(__file__).resolve().parent.parent
ENSURE = REPO / "scripts" / "ensure-prometheus"
READY_TIMEOUT = 30.0
STOP_TIMEOUT = 10.0


def _ephemeral_floor() -> int:
    """The lowest port the kernel hands out to outgoing connections (Linux's default)."""
    try:
        return int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768


def free_port() -> int:
    """A free loopback port for a server started *later* (Prometheus, an adapter).

    Chosen at random below the kernel's ephemeral range: a port the kernel picked for
    ``bind(0)`` is one it may hand to the next outgoing connection before the server
    binds it (with several pytest workers and their clients, that happened), while a
    port below the range is only ever taken by another server choosing the same way.
    """
    top = _ephemeral_floor() - 1
    for _ in range(200):
        port = random.randint(min(10000, top - 1000), top)
        with socket.socket() as probe:
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise OSError("no free loopback port below the ephemeral range after 200 tries")


def prometheus_binary() -> str:
    """The prometheus binary's path, installing Debian's package when it is missing."""
    found = shutil.which("prometheus")
    if found:
        return found
    run = subprocess.run([str(ENSURE)], capture_output=True, text=True, timeout=600, check=False)
    found = shutil.which("prometheus")
    if run.returncode != 0 or not found:
        reason = run.stderr.strip().splitlines()[-1:] or ["prometheus still not on the PATH"]
        raise RuntimeError(f"cannot get a prometheus binary via {ENSURE}: {reason[0]}")
    return found


class Exporter:
    """A prometheus-client registry served on a loopback port; tests set its series.

    ``set("http_requests_total", {"namespace": "a", "pod": "p"}, 5)`` exposes one sample;
    ``timestamp=`` (seconds) exposes it with an explicit timestamp, which Prometheus
    keeps (honor_timestamps), so a test can serve data that is already old.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._series: dict[tuple[str, tuple[tuple[str, str], ...]], tuple[float, float | None]]
        self._series = {}
        registry = CollectorRegistry(auto_describe=False)
        registry.register(_Collect(self._collect))
        self.port = free_port()
        self._server, self._thread = start_http_server(
            self.port, addr="127.0.0.1", registry=registry
        )

    @property
    def target(self) -> str:
        return f"127.0.0.1:{self.port}"

    def set(
        self, name: str, labels: dict[str, str], value: float, *, timestamp: float | None = None
    ) -> None:
        with self._lock:
            self._series[(name, tuple(sorted(labels.items())))] = (value, timestamp)

    def remove(self, name: str, labels: dict[str, str]) -> None:
        with self._lock:
            self._series.pop((name, tuple(sorted(labels.items()))), None)

    def _collect(self) -> Iterable[Metric]:
        with self._lock:
            items = sorted(self._series.items())
        families: dict[str, Metric] = {}
        for (name, labels), (value, timestamp) in items:
            family = families.setdefault(name, Metric(name, f"test series {name}", "untyped"))
            family.add_sample(name, dict(labels), value, timestamp)
        return list(families.values())

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)


class _Collect(Collector):
    def __init__(self, collect: Callable[[], Iterable[Metric]]) -> None:
        self._collect = collect

    def collect(self) -> Iterable[Metric]:
        return self._collect()


def backfill_blocks(data_dir: Path, openmetrics: str) -> None:
    """Write ``openmetrics`` (samples with timestamps, ending in ``# EOF``) into the TSDB
    folder ``data_dir`` as blocks, with Debian's ``promtool``."""
    promtool = Path(prometheus_binary()).with_name("promtool")
    if not promtool.exists():
        promtool = Path(shutil.which("promtool") or "promtool")
    data_dir.mkdir(parents=True, exist_ok=True)
    source = data_dir.parent / "backfill.om"
    source.write_text(openmetrics)
    run = subprocess.run(
        [str(promtool), "tsdb", "create-blocks-from", "openmetrics", str(source), str(data_dir)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    if run.returncode != 0:
        reason = (run.stderr.strip() or run.stdout.strip()).splitlines()[-1:] or ["no output"]
        raise RuntimeError(f"promtool could not backfill {source}: {reason[0]}")


class PrometheusServer:
    """One Prometheus process; restartable on the same port and data directory."""

    def __init__(
        self,
        *,
        workdir: Path,
        targets: Iterable[str],
        scrape_interval: str,
        flags: Sequence[str] = (),
    ) -> None:
        self.binary = prometheus_binary()
        self.flags = tuple(flags)
        self.workdir = workdir
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.config = workdir / "prometheus.yml"
        quoted = ", ".join(f"'{t}'" for t in targets)
        self.config.write_text(
            f"global: {{scrape_interval: {scrape_interval}, scrape_timeout: {scrape_interval},"
            f" evaluation_interval: {scrape_interval}}}\n"
            "scrape_configs:\n"
            "  - {job_name: test, honor_labels: true,\n"
            f"     static_configs: [{{targets: [{quoted}]}}]}}\n"
        )
        self._process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        if self._process is not None:
            return
        log = open(self.workdir / "prometheus.log", "ab")  # noqa: SIM115 (owned by the process)
        self._process = subprocess.Popen(
            [
                self.binary,
                f"--config.file={self.config}",
                f"--storage.tsdb.path={self.workdir / 'data'}",
                f"--web.listen-address=127.0.0.1:{self.port}",
                "--log.level=warn",
                *self.flags,
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
        log.close()
        self._wait_ready()

    def _wait_ready(self) -> None:
        assert self._process is not None
        deadline = time.monotonic() + READY_TIMEOUT
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                self._process = None
                raise RuntimeError(f"prometheus exited at start: {self.log_tail()}")
            ready = self.url + "/-/ready"
            with contextlib.suppress(OSError), urllib.request.urlopen(ready, timeout=1) as answer:
                if answer.status == 200:
                    return
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"prometheus not ready within {READY_TIMEOUT:g} s: {self.log_tail()}")

    def stop(self) -> None:
        process, self._process = self._process, None
        if process is None:
            return
        process.terminate()
        try:
            process.wait(timeout=STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=STOP_TIMEOUT)

    def log_tail(self) -> str:
        path = self.workdir / "prometheus.log"
        lines = path.read_text(errors="replace").splitlines() if path.exists() else []
        return " | ".join(lines[-3:]) or "(no log)"

    def query(self, query: str) -> list[dict[str, Any]]:
        """An instant query straight over HTTP (test assertions, not the code under test)."""
        url = f"{self.url}/api/v1/query?" + urllib.parse.urlencode({"query": query})
        with urllib.request.urlopen(url, timeout=5) as answer:
            result: list[dict[str, Any]] = json.load(answer)["data"]["result"]
            return result

    def wait_for(
        self, query: str, *, count: int = 1, timeout: float = 15.0
    ) -> list[dict[str, Any]]:
        """Poll ``query`` until it returns at least ``count`` series (bounded)."""
        deadline = time.monotonic() + timeout
        while True:
            result = self.query(query)
            if len(result) >= count or time.monotonic() > deadline:
                if len(result) < count:
                    raise AssertionError(f"{query!r}: {len(result)} series after {timeout} s")
                return result
            time.sleep(0.2)


@dataclass(frozen=True)
class PromEnv:
    """A running exporter and the Prometheus scraping it (the tests' shared fixture)."""

    exporter: Exporter
    server: PrometheusServer


@contextlib.contextmanager
def running_prometheus(
    targets: Iterable[str],
    *,
    scrape_interval: str = "1s",
    backfill: str | None = None,
    flags: Sequence[str] = (),
) -> Iterator[PrometheusServer]:
    """A started Prometheus scraping ``targets``; stopped (and its files removed) on exit.

    ``backfill`` (OpenMetrics text) is written into the data directory first; ``flags``
    are added to Prometheus' command line.
    """
    with tempfile.TemporaryDirectory(prefix="podscale-prom-") as workdir:
        server = PrometheusServer(
            workdir=Path(workdir),
            targets=list(targets),
            scrape_interval=scrape_interval,
            flags=flags,
        )
        if backfill is not None:
            backfill_blocks(Path(workdir) / "data", backfill)
        try:
            server.start()
            yield server
        finally:
            server.stop()


@contextlib.contextmanager
def running_exporter() -> Iterator[Exporter]:
    exporter = Exporter()
    try:
        yield exporter
    finally:
        exporter.close()


@contextlib.contextmanager
def running_env() -> Iterator[PromEnv]:
    """An exporter and a Prometheus scraping it, once the first scrape has landed."""
    with running_exporter() as exporter, running_prometheus([exporter.target]) as server:
        exporter.set("podscale_fixture_up", {}, 1)
        server.wait_for("podscale_fixture_up", timeout=20)
        yield PromEnv(exporter=exporter, server=server)


__all__ = [
    "Exporter",
    "PromEnv",
    "PrometheusServer",
    "backfill_blocks",
    "free_port",
    "running_env",
    "running_exporter",
    "running_prometheus",
]
